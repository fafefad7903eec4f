//! One sync of a tenant at a time: a lease in the tenant's sync state item, taken and renewed
//! with conditional writes. A manual `agent-overview-admin sync` and a scheduled job (or two
//! manual runs) of the same tenant cannot interleave: the second refuses with a clear error
//! naming when the lease ends. A holder that dies leaves a lease that simply expires.

use crate::config::TableNames;
use crate::dynamo::sync::lease::{release_lease, write_lease, LeaseWrite};
use crate::dynamo::{Client, StoreError};

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
    Store(#[from] StoreError),
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
        let written =
            write_lease(client, names, &self.tenant, &self.owner, now_ms, until_ms).await?;
        match written {
            LeaseWrite::Written => Ok(()),
            LeaseWrite::Refused { until_ms } => Err(LeaseError::Busy {
                tenant: self.tenant.clone(),
                until: until_ms
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map_or("an unknown time".to_string(), |t| t.to_rfc3339()),
            }),
        }
    }

    /// Gives the lease up (only if it is still this holder's). A state item that holds nothing
    /// but the lease (a first cycle that failed before saving anything) is removed whole.
    pub async fn release(&self, client: &Client, names: &TableNames) -> Result<(), StoreError> {
        release_lease(client, names, &self.tenant, &self.owner).await
    }
}
