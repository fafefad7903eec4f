//! The lease on a tenant's sync state item (`leaseOwner`, `leaseUntil`), taken, renewed and
//! released with conditional writes (what the lease means is `src/sync/lease.rs`'s).

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::Client;

use super::{attr as a, call, get_directory_item, n, s, STATE_SK};
use crate::config::TableNames;
use crate::dynamo::items::directory_key;
use crate::dynamo::{succeeded_unless, StoreError};

/// What a lease write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseWrite {
    /// The lease is `owner`'s until the given time.
    Written,
    /// Another holder's lease is still valid; it ends at `until_ms` (`None` when unreadable).
    Refused { until_ms: Option<i64> },
}

/// Sets the tenant's lease to `owner` until `until_ms`, unless another holder's lease is still
/// valid at `now_ms`.
pub async fn write_lease(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    owner: &str,
    now_ms: i64,
    until_ms: i64,
) -> Result<LeaseWrite, StoreError> {
    let out = client
        .update_item()
        .table_name(&names.directory)
        .set_key(Some(directory_key(tenant, STATE_SK)))
        .update_expression("SET #owner = :me, #until = :until")
        .condition_expression("attribute_not_exists(#until) OR #until < :now OR #owner = :me")
        .expression_attribute_names("#owner", a::LEASE_OWNER)
        .expression_attribute_names("#until", a::LEASE_UNTIL)
        .expression_attribute_values(":me", s(owner))
        .expression_attribute_values(":until", n(until_ms))
        .expression_attribute_values(":now", n(now_ms))
        .send()
        .await;
    let written = succeeded_unless(out, |e| {
        matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
    })
    .map_err(call("UpdateItem", &names.directory))?;
    if written {
        return Ok(LeaseWrite::Written);
    }
    Ok(LeaseWrite::Refused {
        until_ms: holder_until(client, names, tenant).await?,
    })
}

/// When the tenant's current lease ends.
async fn holder_until(
    client: &Client,
    names: &TableNames,
    tenant: &str,
) -> Result<Option<i64>, StoreError> {
    let item = get_directory_item(client, names, directory_key(tenant, STATE_SK)).await?;
    Ok(item
        .and_then(|i| i.get(a::LEASE_UNTIL).cloned())
        .and_then(|v| v.as_n().ok().and_then(|v| v.parse().ok())))
}

/// Gives the lease up (only if it is still `owner`'s). A state item that holds nothing but the
/// lease (a first cycle that failed before saving anything) is removed whole.
pub async fn release_lease(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    owner: &str,
) -> Result<(), StoreError> {
    let deleted = client
        .delete_item()
        .table_name(&names.directory)
        .set_key(Some(directory_key(tenant, STATE_SK)))
        .condition_expression("#owner = :me AND attribute_not_exists(#saved)")
        .expression_attribute_names("#owner", a::LEASE_OWNER)
        .expression_attribute_names("#saved", a::STATE_SAVED)
        .expression_attribute_values(":me", s(owner))
        .send()
        .await;
    let deleted = succeeded_unless(deleted, |e| {
        matches!(e, DeleteItemError::ConditionalCheckFailedException(_))
    })
    .map_err(call("DeleteItem", &names.directory))?;
    if deleted {
        return Ok(());
    }
    let out = client
        .update_item()
        .table_name(&names.directory)
        .set_key(Some(directory_key(tenant, STATE_SK)))
        .update_expression("REMOVE #owner, #until")
        .condition_expression("#owner = :me")
        .expression_attribute_names("#owner", a::LEASE_OWNER)
        .expression_attribute_names("#until", a::LEASE_UNTIL)
        .expression_attribute_values(":me", s(owner))
        .send()
        .await;
    // Not this holder's any more: nothing to give up.
    succeeded_unless(out, |e| {
        matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
    })
    .map_err(call("UpdateItem", &names.directory))?;
    Ok(())
}
