//! The query plans compared. Each is a whole `App` answering through the same `App::handle`
//! (same authentication reads, same Aggregator, same formatting); only the conversations store
//! differs.
//!
//! - **baseline**: the simplest correct plan. One sequential query chain over the month
//!   buckets, no `ProjectionExpression` (every attribute the index projects), no concurrency.
//! - **raw**: the function's `DynamoStore` with `QUERY_PLAN=raw` (projection of the figure's
//!   attributes only, bucket chains read concurrently).
//! - **rollups**: the function's `DynamoStore` with `QUERY_PLAN=rollups`, the default (daily
//!   rollups for the whole UTC days, raw conversations for the partial days at the edges).

use agent_overview::config::{QueryPlan, ReadSettings, TableNames};
use agent_overview::domain::aggregate::Aggregator;
use agent_overview::domain::clock::system_clock;
use agent_overview::domain::identity::{CallerContext, Session};
use agent_overview::dynamo::items::{self, attr};
use agent_overview::dynamo::raw_fold::fold_page;
use agent_overview::http::App;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::plan::months_between;
use agent_overview::store::{ConversationStore, FoldStats, IdentityStore, RangeQuery, ReadError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use lambda_http::{Body, Request, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Plan {
    Baseline,
    Raw,
    Rollups,
}

impl Plan {
    pub fn name(self) -> &'static str {
        match self {
            Plan::Baseline => "baseline",
            Plan::Raw => "raw",
            Plan::Rollups => "rollups",
        }
    }

    pub fn parse(name: &str) -> Option<Plan> {
        [Plan::Baseline, Plan::Raw, Plan::Rollups]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

/// One plan's application.
pub enum Server {
    Dynamo(App<DynamoStore>),
    Baseline(App<BaselineStore>),
}

impl Server {
    pub fn new(plan: Plan, client: &Client, tables: &TableNames) -> Self {
        let reads = ReadSettings {
            query_plan: match plan {
                Plan::Rollups => QueryPlan::Rollups,
                Plan::Baseline | Plan::Raw => QueryPlan::Raw,
            },
            ..ReadSettings::default()
        };
        let store = DynamoStore::new(client.clone(), tables.clone(), reads.clone());
        match plan {
            Plan::Raw | Plan::Rollups => Server::Dynamo(App {
                store,
                reads,
                clock: system_clock(),
                sign_in: None,
            }),
            Plan::Baseline => Server::Baseline(App {
                store: BaselineStore {
                    identity: store,
                    client: client.clone(),
                    tables: tables.clone(),
                },
                reads,
                clock: system_clock(),
                sign_in: None,
            }),
        }
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        match self {
            Server::Dynamo(app) => app.handle(req).await,
            Server::Baseline(app) => app.handle(req).await,
        }
    }
}

/// The baseline's store: identity reads as the function does them, conversations read by one
/// sequential chain of full-item queries.
pub struct BaselineStore {
    identity: DynamoStore,
    client: Client,
    tables: TableNames,
}

impl IdentityStore for BaselineStore {
    async fn session(&self, token_hash: &str) -> Result<Option<Session>, ReadError> {
        self.identity.session(token_hash).await
    }

    async fn caller(&self, tenant: &str, user_id: &str) -> Result<CallerContext, ReadError> {
        self.identity.caller(tenant, user_id).await
    }
}

impl ConversationStore for BaselineStore {
    async fn fold(&self, query: &RangeQuery) -> Result<(Aggregator, FoldStats), ReadError> {
        let mut agg = Aggregator::new(query.figure);
        let mut stats = FoldStats::default();
        for month in months_between(query.range.start_ms, query.range.end_ms) {
            let (index, bucket_attr, bucket) = match &query.department_id {
                Some(d) => (
                    &self.tables.by_department_month_index,
                    attr::DEPT_MONTH,
                    items::dept_month_key(&query.tenant, month, d),
                ),
                None => (
                    &self.tables.by_month_index,
                    attr::MONTH,
                    items::month_key(&query.tenant, month),
                ),
            };
            let mut pages = self
                .client
                .query()
                .table_name(&self.tables.conversations)
                .index_name(index)
                .key_condition_expression("#bucket = :bucket AND #ts BETWEEN :start AND :end")
                .expression_attribute_names("#bucket", bucket_attr)
                .expression_attribute_names("#ts", attr::TS)
                .expression_attribute_values(":bucket", AttributeValue::S(bucket))
                .expression_attribute_values(
                    ":start",
                    AttributeValue::N(query.range.start_ms.to_string()),
                )
                .expression_attribute_values(
                    ":end",
                    AttributeValue::N(query.range.end_ms.to_string()),
                )
                .into_paginator()
                .send();
            stats.buckets += 1;
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| ReadError::Internal(Box::new(e)))?;
                stats.requests += 1;
                stats.items_read += page.items().len() as u64;
                fold_page(&mut agg, page.items())?;
            }
        }
        Ok((agg, stats))
    }
}
