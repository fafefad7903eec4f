//! The rollup engine: the per-day state that proves a day's rollups complete ([`state`]), the
//! coverage-checked read of the request path ([`read`]), the rebuild protocol ([`rebuild`]) and
//! the mark-before-write ingest of the tools and the sync ([`ingest`]). Its DynamoDB calls are
//! the boundary's ([`crate::dynamo`]); the rules it decides with are the domain's
//! ([`crate::domain::day_state`], [`crate::domain::rollup`]). It imports nothing of the request
//! path above it (`store`, `http`, `functions`) or of the sync, the reconciliation and the admin
//! tool, which use it (`scripts/rs_edges.py` checks it).

use std::collections::BTreeSet;
use std::future::Future;

use chrono::NaiveDate;

use crate::dynamo::StoreError;

pub mod ingest;
pub mod read;
pub mod rebuild;
pub mod state;

/// What the stream function asks of the rollup engine: mark a day's written conversations,
/// then rebuild the day (see [`rebuild`]).
pub trait RollupMaintenance {
    fn mark_day(
        &self,
        tenant: &str,
        day: NaiveDate,
        pks: &BTreeSet<String>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn rebuild_day(
        &self,
        tenant: &str,
        day: NaiveDate,
    ) -> impl Future<Output = Result<rebuild::DayRebuild, StoreError>> + Send;
}
