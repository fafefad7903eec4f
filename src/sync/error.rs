//! What ends a sync cycle, and how the scheduled path tells a cut-short or busy cycle from a
//! failed one.

use super::client::RestError;
use super::lease::LeaseError;
use super::source::SourceError;
use crate::dynamo::writer::WriteError;
use crate::dynamo::StoreError;
use crate::rocketchat::DocError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the sync state or stored items could not be read or written")]
    Store(#[from] StoreError),
    #[error("room {room}: malformed document")]
    Room {
        room: String,
        #[source]
        source: DocError,
    },
    #[error("writing {what} failed")]
    Write {
        what: &'static str,
        #[source]
        source: WriteError,
    },
    #[error("rebuilding the rollups of the synced days failed")]
    Rollups(#[source] StoreError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

impl SyncError {
    /// The token is wrong or revoked, or the account lacks a permission.
    pub fn is_auth(&self) -> bool {
        matches!(self, SyncError::Source(SourceError::Rest(e)) if e.is_auth())
    }

    /// The deadline came (or a wait would have crossed it): the cycle is cut short, not failed.
    pub fn is_out_of_time(&self) -> bool {
        matches!(
            self,
            SyncError::Source(SourceError::Rest(RestError::OutOfTime { .. }))
        )
    }

    /// Another sync of the tenant holds the lease.
    pub fn is_busy(&self) -> bool {
        matches!(self, SyncError::Lease(LeaseError::Busy { .. }))
    }
}
