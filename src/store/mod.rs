//! Storage: traits returning domain types, a DynamoDB adapter and an in-memory one.

use std::future::Future;

use crate::domain::aggregate::Aggregator;
use crate::domain::figure::Figure;
use crate::domain::host::HostMapping;
use crate::domain::identity::{CallerContext, Session, TenantSignIn};
use crate::domain::range::UtcRange;

pub mod change;
pub mod day_state;
pub mod dynamo;
pub mod ingest;
pub mod memory;
pub mod plan;
pub mod rebuild;
pub mod rollups;

pub use crate::dynamo::{classify, succeeded_unless, CallFailed, StoreError, StoreOpError};

/// Sessions, users, settings and permissions.
pub trait IdentityStore {
    /// The session stored under `base64(sha256(token))`, if any.
    fn session(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// The caller's user, the tenant's settings and its permission override, in one read.
    fn caller(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<CallerContext, StoreError>> + Send;

    /// The directory's entries for a host: the exact one, and the wildcard that covers it
    /// (`*.rest` of `label.rest`), in one read. A store without sign-in maps no host.
    fn host_mapping(
        &self,
        _exact: &str,
        _wildcard: Option<&str>,
    ) -> impl Future<Output = Result<HostMapping, StoreError>> + Send {
        async { Ok(HostMapping::default()) }
    }

    /// The tenant's sign-in connection, settings and permission override, in one read.
    fn tenant_sign_in(
        &self,
        _tenant: &str,
    ) -> impl Future<Output = Result<TenantSignIn, StoreError>> + Send {
        async { Ok(TenantSignIn::default()) }
    }
}

/// What a figure is computed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub tenant: String,
    pub figure: Figure,
    pub range: UtcRange,
    /// `None`: every department (and conversations without one). The HTTP layer has already
    /// turned Rocket.Chat's "no filter" spellings (`""`, `"undefined"`) into `None`.
    pub department_id: Option<String>,
}

/// Work a fold did, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldStats {
    /// Raw conversation items read.
    pub items_read: u64,
    /// DynamoDB requests (query pages), raw and rollup.
    pub requests: u64,
    /// Raw month-bucket query chains.
    pub buckets: u64,
    /// Rollup items read (one per figure, scope and UTC day, tombstones included).
    pub rollup_items_read: u64,
    /// Whole UTC days answered from rollups.
    pub rollup_days: u64,
}

impl FoldStats {
    pub fn add(&mut self, other: &FoldStats) {
        self.items_read += other.items_read;
        self.requests += other.requests;
        self.buckets += other.buckets;
        self.rollup_items_read += other.rollup_items_read;
        self.rollup_days += other.rollup_days;
    }
}

/// A store that can open its connection before the first request needs it.
pub trait WarmUp {
    /// One cheap read; its failure is only worth a warning.
    fn warm_up(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What the rollups function asks of the store: mark a day's written conversations, then
/// rebuild the day (see [`rebuild`]).
pub trait RollupMaintenance {
    fn mark_day(
        &self,
        tenant: &str,
        day: chrono::NaiveDate,
        pks: &std::collections::BTreeSet<String>,
    ) -> impl Future<Output = Result<(), StoreOpError>> + Send;

    fn rebuild_day(
        &self,
        tenant: &str,
        day: chrono::NaiveDate,
    ) -> impl Future<Output = Result<rebuild::DayRebuild, StoreOpError>> + Send;
}

/// Conversations of a tenant, folded into a figure's tallies as they are read.
pub trait ConversationStore {
    fn fold(
        &self,
        query: &RangeQuery,
    ) -> impl Future<Output = Result<(Aggregator, FoldStats), StoreError>> + Send;
}
