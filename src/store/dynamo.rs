//! The store's DynamoDB adapter: the request's read plan (raw month buckets, rollup days and
//! the raw edges they leave) run against DynamoDB through the boundary's reads
//! ([`crate::dynamo::raw_fold`], [`crate::dynamo::identity_reads`], the coverage read).

use chrono::Datelike;
use futures::{StreamExt, TryStreamExt};

use super::plan::{self, PlannedRead};
use super::{ConversationStore, FoldStats, IdentityStore, RangeQuery, ReadError, WarmUp};
use crate::config::{ReadSettings, TableNames};
use crate::domain::aggregate::Aggregator;
use crate::domain::host::HostMapping;
use crate::domain::identity::{CallerContext, Session, TenantSignIn};
use crate::domain::range::UtcRange;
use crate::dynamo::raw_fold::{self, Bucket, BucketTables};
use crate::dynamo::{identity_reads, signin, Client};
use crate::rollups::read::{self as rollups, SharedDayStates};

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    reads: ReadSettings,
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames, reads: ReadSettings) -> Self {
        Self {
            client,
            tables,
            reads,
        }
    }

    async fn fold_bucket(
        &self,
        query: &RangeQuery,
        department: Option<&str>,
        month: (i32, u32),
    ) -> Result<(Aggregator, FoldStats), ReadError> {
        let tables = BucketTables {
            conversations: &self.tables.conversations,
            by_month_index: &self.tables.by_month_index,
            by_department_month_index: &self.tables.by_department_month_index,
        };
        let bucket = Bucket {
            tenant: &query.tenant,
            department,
            month,
            range: query.range,
        };
        let read = raw_fold::fold_bucket(
            &self.client,
            tables,
            bucket,
            query.figure,
            self.reads.query_page_limit,
        )
        .await?;
        let stats = FoldStats {
            buckets: 1,
            requests: read.pages,
            items_read: read.items,
            ..FoldStats::default()
        };
        Ok((read.agg, stats))
    }

    /// One read of the request's plan (see [`plan::reads_for`]).
    async fn fold_read(
        &self,
        query: &RangeQuery,
        states: &SharedDayStates<'_>,
        read: PlannedRead,
    ) -> Result<(Aggregator, FoldStats), ReadError> {
        match read {
            PlannedRead::Raw { range, month } => {
                let narrowed = RangeQuery {
                    range,
                    ..query.clone()
                };
                self.fold_bucket(&narrowed, query.department_id.as_deref(), month)
                    .await
            }
            PlannedRead::Rollups { first, last } => {
                let read = rollups::fold_days(
                    &self.client,
                    &self.tables.rollups,
                    query,
                    states,
                    (first, last),
                    self.reads.query_page_limit,
                )
                .await?;
                let (mut agg, mut stats) = (read.agg, read.stats);
                // Days the rollups do not cover are read raw, one query per run of days.
                let raw = read.uncovered.into_iter().map(|(from, to)| {
                    let narrowed = RangeQuery {
                        range: UtcRange {
                            start_ms: UtcRange::utc_day(from).start_ms,
                            end_ms: UtcRange::utc_day(to).end_ms,
                        },
                        ..query.clone()
                    };
                    let month = (from.year(), from.month());
                    async move {
                        self.fold_bucket(&narrowed, query.department_id.as_deref(), month)
                            .await
                    }
                });
                for (part, part_stats) in futures::future::try_join_all(raw).await? {
                    agg.merge(part)
                        .map_err(|e| ReadError::Internal(Box::new(e)))?;
                    stats.add(&part_stats);
                }
                Ok((agg, stats))
            }
        }
    }
}

impl WarmUp for DynamoStore {
    /// Opens (or keeps open) the connection to DynamoDB: used at INIT and by the scheduled
    /// warm-up, so a real request does not pay the TLS handshake.
    async fn warm_up(&self) -> Result<(), ReadError> {
        identity_reads::warm_up(&self.client, &self.tables.sessions).await
    }
}

impl IdentityStore for DynamoStore {
    async fn session(&self, token_hash: &str) -> Result<Option<Session>, ReadError> {
        identity_reads::session(&self.client, &self.tables.sessions, token_hash).await
    }

    async fn caller(&self, tenant: &str, user_id: &str) -> Result<CallerContext, ReadError> {
        identity_reads::caller(&self.client, &self.tables.directory, tenant, user_id).await
    }

    async fn host_mapping(
        &self,
        exact: &str,
        wildcard: Option<&str>,
    ) -> Result<HostMapping, ReadError> {
        signin::host_mapping(&self.client, &self.tables.directory, exact, wildcard).await
    }

    async fn tenant_sign_in(&self, tenant: &str) -> Result<TenantSignIn, ReadError> {
        signin::tenant_sign_in(&self.client, &self.tables.directory, tenant).await
    }
}

impl ConversationStore for DynamoStore {
    async fn fold(&self, query: &RangeQuery) -> Result<(Aggregator, FoldStats), ReadError> {
        let reads = plan::reads_for(query.range, self.reads.query_plan);
        let states = SharedDayStates::new(
            &self.client,
            &self.tables.rollups,
            &query.tenant,
            plan::rollup_span(&reads).unwrap_or_default(),
            self.reads.query_page_limit,
        );
        let work = futures::stream::iter(reads)
            .map(|read| self.fold_read(query, &states, read))
            .buffer_unordered(self.reads.query_concurrency)
            .try_fold(
                (Aggregator::new(query.figure), FoldStats::default()),
                |(mut agg, mut stats), (part, part_stats)| async move {
                    agg.merge(part)
                        .map_err(|e| ReadError::Internal(Box::new(e)))?;
                    stats.add(&part_stats);
                    Ok((agg, stats))
                },
            );
        let (agg, mut stats) = tokio::time::timeout(self.reads.query_budget, work)
            .await
            .map_err(|_| ReadError::BudgetExceeded(self.reads.query_budget))??;
        stats.requests += states.requests();
        Ok((agg, stats))
    }
}
