//! The writes of a day's rebuild (the protocol is `rollups::rebuild`'s): a rollup item
//! put unless a newer version is stored, the departments about to get items recorded before the
//! puts, and the day recorded as built only while its `changed` is still the version read.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;

use super::day_states::{attention, state_key};
use super::items::{self, attr, Item};
use super::{succeeded_unless, StoreError};

/// Puts a rollup item tagged `version` unless the stored one has a newer version.
/// `Ok(false)`: a newer one was stored (the put was refused).
pub async fn put_unless_newer(
    client: &Client,
    table: &str,
    item: Item,
    version: u64,
) -> Result<bool, StoreError> {
    let result = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(
            "attribute_not_exists(#pk) OR attribute_not_exists(#version) OR #version <= :v",
        )
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#version", attr::VERSION)
        .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
        .send()
        .await;
    succeeded_unless(result, |e| e.is_conditional_check_failed_exception())
        .map_err(|e| StoreError::call("PutItem", table, e))
}

/// Adds `new` (not empty) to the day's `departmentsWritten`. Unconditional.
pub async fn record_written(
    client: &Client,
    table: &str,
    tenant: &str,
    day: NaiveDate,
    new: Vec<String>,
) -> Result<(), StoreError> {
    client
        .update_item()
        .table_name(table)
        .set_key(Some(state_key(tenant, day)))
        .update_expression("SET #tenant = :tenant ADD #written :new")
        .expression_attribute_names("#tenant", attr::TENANT)
        .expression_attribute_names("#written", attr::WRITTEN)
        .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
        .expression_attribute_values(":new", AttributeValue::Ss(new))
        .send()
        .await
        .map_err(|e| StoreError::call("UpdateItem", table, e))?;
    Ok(())
}

/// What a rebuild records of a day as built (its step 5).
pub struct DayBuilt<'a> {
    /// The state item existed when the rebuild read it.
    pub existed: bool,
    /// The `changed` the rebuild read (`built` becomes it).
    pub version: u64,
    pub departments: &'a BTreeSet<String>,
    /// Pending keys taken out of `pending`.
    pub confirmed: &'a BTreeSet<String>,
    /// The day stays in the reconciliation's index as dirty.
    pub needs_attention: bool,
    pub clear_overflow: bool,
    /// Expired writer leases taken out of `writers`.
    pub expired_leases: &'a [String],
}

/// `built` = v, the departments, the confirmed keys out of `pending`, only while `changed` is
/// still v. `Ok(false)`: a write was marked meanwhile.
pub async fn record_built(
    client: &Client,
    table: &str,
    tenant: &str,
    day: NaiveDate,
    b: &DayBuilt<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let departments: Vec<String> = b.departments.iter().cloned().collect();
    let mut set = vec![
        "#built = :v",
        "#departments = :departments",
        "#tenant = :tenant",
        "#attention = :attention",
        "#at = if_not_exists(#at, :now)",
    ];
    let mut u = client
        .update_item()
        .table_name(table)
        .set_key(Some(state_key(tenant, day)))
        .expression_attribute_names("#changed", attr::CHANGED)
        .expression_attribute_names("#built", attr::BUILT)
        .expression_attribute_names("#departments", attr::DEPARTMENTS)
        .expression_attribute_names("#tenant", attr::TENANT)
        .expression_attribute_names("#attention", attr::ATTENTION)
        .expression_attribute_names("#at", attr::LAST_CHANGE_AT)
        .expression_attribute_values(":v", AttributeValue::N(b.version.to_string()))
        .expression_attribute_values(":departments", items::string_list(&departments))
        .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
        .expression_attribute_values(
            ":attention",
            AttributeValue::S(attention(tenant, day, b.needs_attention)),
        )
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
    if b.existed {
        u = u.condition_expression("#changed = :v");
    } else {
        set.push("#changed = :v");
        u = u.condition_expression("attribute_not_exists(#changed)");
    }
    let mut expression = format!("SET {}", set.join(", "));
    if b.clear_overflow {
        expression.push_str(" REMOVE #overflow");
        u = u.expression_attribute_names("#overflow", attr::OVERFLOW);
    }
    let mut deletes = Vec::new();
    if !b.confirmed.is_empty() {
        deletes.push("#pending :confirmed");
        u = u
            .expression_attribute_names("#pending", attr::PENDING)
            .expression_attribute_values(
                ":confirmed",
                AttributeValue::Ss(b.confirmed.iter().cloned().collect()),
            );
    }
    if !b.expired_leases.is_empty() {
        deletes.push("#writers :expired");
        u = u
            .expression_attribute_names("#writers", attr::WRITERS)
            .expression_attribute_values(":expired", AttributeValue::Ss(b.expired_leases.to_vec()));
    }
    if !deletes.is_empty() {
        expression.push_str(&format!(" DELETE {}", deletes.join(", ")));
    }
    let result = u.update_expression(expression).send().await;
    succeeded_unless(result, |e| e.is_conditional_check_failed_exception())
        .map_err(|e| StoreError::call("UpdateItem", table, e))
}
