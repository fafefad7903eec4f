//! The per-day rollup state: what makes the rollup plan provably cover a day (see
//! `docs/data-model.md`, "Rollup state").
//!
//! Item `pk = {tenant}#ALL`, `sk = DAY#YYYY-MM-DD` in the rollups table:
//! - `changed`: bumped by every mark, i.e. after every write of a conversation of that day;
//! - `built`: the `changed` the last complete rebuild covered (the day is clean iff equal);
//! - `pending`: the conversations written since the GSI was last seen to show them as the
//!   table does; a rebuild reads these from the table itself (consistently);
//! - `overflow`: more than [`PENDING_CAP`] were pending, so they are no longer listed;
//! - `departments`: the departments with rollups that day;
//! - `attention` + `lastChangeAt`: the sparse `byAttention` index of the reconciliation.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;

use super::items::{self, attr, day_state_sk, rollup_pk, Item, Reader};
use super::rollups::span_query;
use super::{classify, StoreError, StoreOpError};
use crate::domain::rollup::Scope;

/// Conversation keys a state item lists as pending before it only says "overflow" (a DynamoDB
/// item holds 400 KB; a thousand keys of up to ~150 bytes stay well inside).
pub const PENDING_CAP: usize = 1000;

/// Shards of the `byAttention` index's partitions, so a busy import's marks do not all write
/// one index partition.
pub const ATTENTION_SHARDS: u32 = 8;

/// An overflowed day (its pending keys unknown) is trusted to the index only this long after
/// its last change: DynamoDB's GSI propagation is normally well under a second.
pub const OVERFLOW_SETTLE_MS: i64 = 60_000;

/// A day's state as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayState {
    pub day: Option<NaiveDate>,
    pub changed: u64,
    pub built: Option<u64>,
    pub pending: BTreeSet<String>,
    pub overflow: bool,
    pub departments: Vec<String>,
    pub last_change_at: Option<i64>,
}

impl DayState {
    /// Its rollups are complete for every write marked so far.
    pub fn is_clean(&self) -> bool {
        self.built == Some(self.changed)
    }

    /// A department the day's rollups list (an unlisted one had nothing that day).
    pub fn lists(&self, department: &str) -> bool {
        self.departments.iter().any(|d| d == department)
    }
}

/// `DIRTY#n` or `CLEAN#n`: the index partition of a (tenant, day).
pub fn attention(tenant: &str, day: NaiveDate, dirty: bool) -> String {
    // FNV-1a: stable across releases (the std hasher is not).
    let shard = format!("{tenant}/{day}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
        % u64::from(ATTENTION_SHARDS);
    let kind = if dirty { "DIRTY" } else { "CLEAN" };
    format!("{kind}#{shard}")
}

pub fn state_key(tenant: &str, day: NaiveDate) -> Item {
    Item::from([
        (
            attr::PK.to_string(),
            AttributeValue::S(rollup_pk(tenant, &Scope::All)),
        ),
        (attr::SK.to_string(), AttributeValue::S(day_state_sk(day))),
    ])
}

pub fn read_state(item: &Item) -> Result<DayState, items::MalformedItem> {
    let key = items::rollup_key(item);
    let r = Reader::new(item, &key);
    let pending = match item.get(attr::PENDING) {
        Some(AttributeValue::Ss(keys)) => keys.iter().cloned().collect(),
        None => BTreeSet::new(),
        Some(_) => return Err(r.malformed("pending is not a string set")),
    };
    Ok(DayState {
        day: items::day_of_sk(r.str(attr::SK)?),
        changed: r.opt_number(attr::CHANGED)?.unwrap_or(0),
        built: r.opt_number(attr::BUILT)?,
        pending,
        overflow: r.opt_bool(attr::OVERFLOW)?.unwrap_or(false),
        departments: r.string_list(attr::DEPARTMENTS)?,
        last_change_at: r.opt_number(attr::LAST_CHANGE_AT)?,
    })
}

/// Records that conversations `pks` of `tenant` changed on `day` (called after the write):
/// bumps `changed`, adds the keys to `pending` (or sets `overflow` when it is full) and puts
/// the day in the reconciliation's index as dirty.
pub async fn mark(
    client: &Client,
    table: &str,
    tenant: &str,
    day: NaiveDate,
    pks: &BTreeSet<String>,
    now_ms: i64,
) -> Result<(), StoreOpError> {
    let update = |listed: bool| {
        let mut u = client
            .update_item()
            .table_name(table)
            .set_key(Some(state_key(tenant, day)))
            .expression_attribute_names("#changed", attr::CHANGED)
            .expression_attribute_names("#tenant", attr::TENANT)
            .expression_attribute_names("#attention", attr::ATTENTION)
            .expression_attribute_names("#at", attr::LAST_CHANGE_AT)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.into()))
            .expression_attribute_values(
                ":attention",
                AttributeValue::S(attention(tenant, day, true)),
            )
            .expression_attribute_values(":at", AttributeValue::N(now_ms.to_string()));
        let set = "SET #tenant = :tenant, #attention = :attention, #at = :at";
        if pks.is_empty() {
            // A bump alone: the day is dirty until rebuilt (an operator's repair).
            u = u.update_expression(format!("{set} ADD #changed :one"));
        } else if listed {
            u = u
                .update_expression(format!("{set} ADD #changed :one, #pending :pks"))
                .condition_expression("attribute_not_exists(#pending) OR size(#pending) < :cap")
                .expression_attribute_names("#pending", attr::PENDING)
                .expression_attribute_values(
                    ":pks",
                    AttributeValue::Ss(pks.iter().cloned().collect()),
                )
                .expression_attribute_values(
                    ":cap",
                    AttributeValue::N((PENDING_CAP - pks.len().min(PENDING_CAP)).to_string()),
                );
        } else {
            u = u
                .update_expression(format!("{set}, #overflow = :true ADD #changed :one"))
                .expression_attribute_names("#overflow", attr::OVERFLOW)
                .expression_attribute_values(":true", AttributeValue::Bool(true));
        }
        u
    };
    let listed = super::succeeded_unless(update(pks.len() <= PENDING_CAP).send().await, |e| {
        e.is_conditional_check_failed_exception()
    })
    .map_err(|e| StoreOpError::call("UpdateItem", table, e))?;
    if !listed {
        update(false)
            .send()
            .await
            .map_err(|e| StoreOpError::call("UpdateItem", table, e))?;
    }
    Ok(())
}

/// One day's state, strongly consistent (a rebuild must see every mark made before it).
pub async fn get_state(
    client: &Client,
    table: &str,
    tenant: &str,
    day: NaiveDate,
) -> Result<Option<DayState>, StoreOpError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(state_key(tenant, day)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| StoreOpError::call("GetItem", table, e))?;
    Ok(out.item().map(read_state).transpose()?)
}

/// The states of `first..=last` (one Query; strongly consistent, so a day is trusted only as of
/// its latest mark). Returns the states and the pages read.
pub async fn query_states(
    client: &Client,
    table: &str,
    tenant: &str,
    (first, last): (NaiveDate, NaiveDate),
    page_limit: Option<i32>,
) -> Result<(Vec<DayState>, u64), StoreError> {
    let sort_keys = (day_state_sk(first), day_state_sk(last));
    let mut pages = span_query(client, table, rollup_pk(tenant, &Scope::All), sort_keys)
        .expression_attribute_names("#changed", attr::CHANGED)
        .expression_attribute_names("#built", attr::BUILT)
        .expression_attribute_names("#departments", attr::DEPARTMENTS)
        .projection_expression("#pk, #sk, #changed, #built, #departments")
        .consistent_read(true)
        .set_limit(page_limit)
        .into_paginator()
        .send();
    let (mut states, mut requests) = (Vec::new(), 0);
    while let Some(page) = pages.next().await {
        let page = page.map_err(classify)?;
        requests += 1;
        for item in page.items() {
            states.push(read_state(item)?);
        }
    }
    Ok((states, requests))
}

/// Every (tenant, day) the reconciliation should look at: all dirty days, and the clean days
/// changed at or after `since_ms`. Reads the `byAttention` index (keys only), never a Scan.
pub async fn days_needing_attention(
    client: &Client,
    table: &str,
    index: &str,
    since_ms: i64,
) -> Result<Vec<(String, NaiveDate)>, StoreOpError> {
    let mut days = BTreeSet::new();
    for shard in 0..ATTENTION_SHARDS {
        for (kind, since) in [("DIRTY", i64::MIN), ("CLEAN", since_ms)] {
            let mut pages = client
                .query()
                .table_name(table)
                .index_name(index)
                .key_condition_expression("#a = :a AND #at >= :since")
                .expression_attribute_names("#a", attr::ATTENTION)
                .expression_attribute_names("#at", attr::LAST_CHANGE_AT)
                .expression_attribute_values(":a", AttributeValue::S(format!("{kind}#{shard}")))
                .expression_attribute_values(":since", AttributeValue::N(since.to_string()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| StoreOpError::call("Query", index, e))?;
                for item in page.items() {
                    let key = items::rollup_key(item);
                    let r = Reader::new(item, &key);
                    let pk = r.str(attr::PK)?;
                    let tenant = pk
                        .strip_suffix("#ALL")
                        .ok_or_else(|| r.malformed("pk is not {tenant}#ALL"))?;
                    let day = items::day_of_sk(r.str(attr::SK)?)
                        .ok_or_else(|| r.malformed("sk is not DAY#YYYY-MM-DD"))?;
                    days.insert((tenant.to_string(), day));
                }
            }
        }
    }
    Ok(days.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_is_sharded_stably_and_says_dirty_or_clean() {
        let day = NaiveDate::from_ymd_opt(2024, 5, 10).unwrap();
        let dirty = attention("acme", day, true);
        let clean = attention("acme", day, false);
        assert!(dirty.starts_with("DIRTY#") && clean.starts_with("CLEAN#"));
        assert_eq!(dirty[6..], clean[6..]);
        assert_eq!(dirty, attention("acme", day, true));
        let shards: BTreeSet<String> = (0..200)
            .map(|i| attention(&format!("t{i}"), day, true))
            .collect();
        assert_eq!(shards.len(), ATTENTION_SHARDS as usize);
    }

    #[test]
    fn a_day_is_clean_only_when_built_from_its_last_change() {
        let mut s = DayState {
            changed: 3,
            built: Some(2),
            ..DayState::default()
        };
        assert!(!s.is_clean());
        s.built = Some(3);
        assert!(s.is_clean());
        assert!(!DayState {
            changed: 0,
            built: None,
            ..DayState::default()
        }
        .is_clean());
    }
}
