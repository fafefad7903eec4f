//! One sync of a tenant at a time: a lease in the tenant's sync state item, taken and renewed
//! with conditional writes. A manual `agent-overview-admin sync` and a scheduled job (or two
//! manual runs) of the same tenant cannot interleave: the second refuses with a clear error
//! naming when the lease ends. A holder that dies leaves a lease that simply expires.

use crate::dynamo::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::store::STATE_SK;
use crate::config::TableNames;
use crate::dynamo::items::directory_key;
use crate::store::StoreOpError;

const OWNER: &str = "leaseOwner";
const UNTIL: &str = "leaseUntil";

/// How long a lease lasts past each renewal when the holder has no deadline (the CLI).
pub const LEASE_MS: i64 = 10 * 60 * 1000;

/// A held lease; release it when the cycle ends.
pub struct Lease {
    tenant: String,
    owner: String,
}

/// Why a lease could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "another sync of tenant {tenant} is running (its lease ends at {until}); \
         this one did nothing"
    )]
    Busy { tenant: String, until: String },
    #[error(transparent)]
    Store(#[from] StoreOpError),
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl Lease {
    /// Takes the tenant's lease until `until_ms`, unless another holder's lease is still valid.
    pub async fn take(
        client: &Client,
        names: &TableNames,
        tenant: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Lease, LeaseError> {
        let lease = Lease {
            tenant: tenant.to_string(),
            owner: format!("{now_ms:x}-{:016x}", rand::random::<u64>()),
        };
        lease.write(client, names, now_ms, until_ms).await?;
        Ok(lease)
    }

    /// Extends the lease to `until_ms`; fails `Busy` when another holder took it meanwhile.
    pub async fn renew(
        &self,
        client: &Client,
        names: &TableNames,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<(), LeaseError> {
        self.write(client, names, now_ms, until_ms).await
    }

    async fn write(
        &self,
        client: &Client,
        names: &TableNames,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<(), LeaseError> {
        let out = client
            .update_item()
            .table_name(&names.directory)
            .set_key(Some(directory_key(&self.tenant, STATE_SK)))
            .update_expression("SET #owner = :me, #until = :until")
            .condition_expression("attribute_not_exists(#until) OR #until < :now OR #owner = :me")
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#until", UNTIL)
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) => {
                let service = e.as_service_error();
                if matches!(
                    service,
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) {
                    let until = self.holder_until(client, names).await?;
                    return Err(LeaseError::Busy {
                        tenant: self.tenant.clone(),
                        until: until
                            .and_then(chrono::DateTime::from_timestamp_millis)
                            .map_or("an unknown time".to_string(), |t| t.to_rfc3339()),
                    });
                }
                Err(StoreOpError::call("UpdateItem", &names.directory, e).into())
            }
        }
    }

    async fn holder_until(
        &self,
        client: &Client,
        names: &TableNames,
    ) -> Result<Option<i64>, StoreOpError> {
        let out = client
            .get_item()
            .table_name(&names.directory)
            .set_key(Some(directory_key(&self.tenant, STATE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreOpError::call("GetItem", &names.directory, e))?;
        Ok(out
            .item
            .and_then(|i| i.get(UNTIL).cloned())
            .and_then(|v| v.as_n().ok().and_then(|v| v.parse().ok())))
    }

    /// Gives the lease up (only if it is still this holder's). A state item that holds nothing
    /// but the lease (a first cycle that failed before saving anything) is removed whole.
    pub async fn release(&self, client: &Client, names: &TableNames) -> Result<(), StoreOpError> {
        let deleted = client
            .delete_item()
            .table_name(&names.directory)
            .set_key(Some(directory_key(&self.tenant, STATE_SK)))
            .condition_expression("#owner = :me AND attribute_not_exists(#saved)")
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#saved", super::store::STATE_SAVED)
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .send()
            .await;
        match deleted {
            Ok(_) => return Ok(()),
            Err(e)
                if !matches!(
                    e.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                return Err(StoreOpError::call("DeleteItem", &names.directory, e))
            }
            Err(_) => {}
        }
        let out = client
            .update_item()
            .table_name(&names.directory)
            .set_key(Some(directory_key(&self.tenant, STATE_SK)))
            .update_expression("REMOVE #owner, #until")
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#until", UNTIL)
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(StoreOpError::call("UpdateItem", &names.directory, e)),
        }
    }
}
