//! The DynamoDB adapter. Reaches DynamoDB only through the SDK client it is given (the
//! endpoint comes from the SDK's standard configuration, e.g. `AWS_ENDPOINT_URL_DYNAMODB`).

use crate::dynamo::batch_get::{batch_get, eventual};

use crate::dynamo::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Datelike;
use futures::{StreamExt, TryStreamExt};

use super::plan::{self, Unit};
use super::{
    classify, ConversationStore, FoldStats, IdentityStore, RangeQuery, StoreError, WarmUp,
};
use crate::config::{Limits, TableNames};
use crate::domain::aggregate::Aggregator;
use crate::domain::figure::{AgentField, Figure, MetricField};
use crate::domain::host::HostMapping;
use crate::domain::identity::{
    CallerContext, Session, TenantSettings, TenantSignIn, VIEW_LIVECHAT_MANAGER,
};
use crate::domain::range::UtcRange;
use crate::dynamo::items::{self, attr, sk, Item, Reader};
use crate::rollups::read::{self as rollups, SpanStates};

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    limits: Limits,
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames, limits: Limits) -> Self {
        Self {
            client,
            tables,
            limits,
        }
    }

    async fn fold_bucket(
        &self,
        query: &RangeQuery,
        department: Option<&str>,
        month: (i32, u32),
    ) -> Result<(Aggregator, FoldStats), StoreError> {
        let (index, pk_name, pk_value) = match department {
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
        let agent_attr = agent_attribute(query.figure);
        let metric_attr = metric_attribute(query.figure);
        let mut projection = "#pk, #ts, #agent".to_string();
        let mut request = self
            .client
            .query()
            .table_name(&self.tables.conversations)
            .index_name(index)
            .key_condition_expression("#bucket = :bucket AND #ts BETWEEN :start AND :end")
            .expression_attribute_names("#bucket", pk_name)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#ts", attr::TS)
            .expression_attribute_names("#agent", agent_attr)
            .expression_attribute_values(":bucket", AttributeValue::S(pk_value))
            .expression_attribute_values(
                ":start",
                AttributeValue::N(query.range.start_ms.to_string()),
            )
            .expression_attribute_values(":end", AttributeValue::N(query.range.end_ms.to_string()))
            .set_limit(self.limits.query_page_limit);
        if let Some(metric) = metric_attr {
            projection.push_str(", #metric");
            request = request.expression_attribute_names("#metric", metric);
        }
        let mut pages = request
            .projection_expression(projection)
            .into_paginator()
            .send();

        let mut agg = Aggregator::new(query.figure);
        let mut stats = FoldStats {
            buckets: 1,
            ..FoldStats::default()
        };
        while let Some(page) = pages.next().await {
            let page = page.map_err(classify)?;
            stats.requests += 1;
            stats.items_read += page.items().len() as u64;
            fold_page(&mut agg, page.items())?;
        }
        Ok((agg, stats))
    }

    /// One read of the request's plan (see [`plan::plan`]).
    async fn fold_unit(
        &self,
        query: &RangeQuery,
        states: &SpanStates<'_>,
        unit: Unit,
    ) -> Result<(Aggregator, FoldStats), StoreError> {
        match unit {
            Unit::Raw { range, month } => {
                let narrowed = RangeQuery {
                    range,
                    ..query.clone()
                };
                self.fold_bucket(&narrowed, query.department_id.as_deref(), month)
                    .await
            }
            Unit::Rollups { first, last } => {
                let read = rollups::fold_days(
                    &self.client,
                    &self.tables.rollups,
                    query,
                    states,
                    (first, last),
                    self.limits.query_page_limit,
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
                        .map_err(|e| StoreError::Internal(Box::new(e)))?;
                    stats.add(&part_stats);
                }
                Ok((agg, stats))
            }
        }
    }
}

/// Folds one query page's items into `agg`, reading the attributes its figure needs. The
/// query loop above calls it per page; the benchmark calls it on generated pages to measure
/// the decode and aggregate path without I/O.
pub fn fold_page(agg: &mut Aggregator, items: &[Item]) -> Result<(), StoreError> {
    let figure = agg.figure();
    let (agent_attr, metric_attr) = (agent_attribute(figure), metric_attribute(figure));
    items
        .iter()
        .try_for_each(|item| fold_item(agg, item, agent_attr, metric_attr))
}

/// The attribute holding the username a figure counts a conversation under.
pub fn agent_attribute(figure: Figure) -> &'static str {
    match figure.agent_field() {
        AgentField::ServedBy => attr::AGENT,
        AgentField::ResponseBy => attr::RESPONDER,
    }
}

/// The attribute holding the metric a figure reads, if any.
pub fn metric_attribute(figure: Figure) -> Option<&'static str> {
    match figure.metric_field() {
        MetricField::None => None,
        MetricField::ChatDuration => Some(attr::CHAT_DURATION),
        MetricField::FirstResponse => Some(attr::FIRST_RESPONSE),
        MetricField::AvgResponse => Some(attr::AVG_RESPONSE),
        MetricField::FirstReaction => Some(attr::FIRST_REACTION),
        MetricField::AgentMessages => Some(attr::AGENT_MESSAGES),
    }
}

/// Decodes the three attributes a figure needs and folds them; a malformed item stops the
/// request with its key rather than being skipped (a skipped item is a wrong figure).
fn fold_item(
    agg: &mut Aggregator,
    item: &Item,
    agent_attr: &str,
    metric_attr: Option<&str>,
) -> Result<(), StoreError> {
    let key = match item.get(attr::PK) {
        Some(AttributeValue::S(pk)) => pk.as_str(),
        _ => "<item without pk>",
    };
    let r = Reader::new(item, key);
    let ts: i64 = r.number(attr::TS)?;
    let agent = r.opt_str(agent_attr)?;
    let metric = match metric_attr {
        Some(name) => r.opt_metric(name)?,
        None => None,
    };
    agg.add(ts, agent, metric)
        .map_err(|e| r.malformed(format!("metric sum out of range: {e}")).into())
}

impl WarmUp for DynamoStore {
    /// Opens (or keeps open) the connection to DynamoDB: used at INIT and by the scheduled
    /// warm-up, so a real request does not pay the TLS handshake.
    async fn warm_up(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.tables.sessions)
            .key(attr::TOKEN_HASH, AttributeValue::S("warm-up".into()))
            .projection_expression("#k")
            .expression_attribute_names("#k", attr::TOKEN_HASH)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

impl IdentityStore for DynamoStore {
    async fn session(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.sessions)
            .key(attr::TOKEN_HASH, AttributeValue::S(token_hash.to_string()))
            .send()
            .await
            .map_err(classify)?;
        // The key in errors is the table, never the token hash.
        out.item()
            .map(|item| items::read_session(item, "session"))
            .transpose()
            .map_err(StoreError::from)
    }

    async fn caller(&self, tenant: &str, user_id: &str) -> Result<CallerContext, StoreError> {
        let user_sk = sk::user(user_id);
        let permission_sk = sk::permission(VIEW_LIVECHAT_MANAGER);
        let keys = vec![
            items::directory_key(tenant, &user_sk),
            items::directory_key(tenant, sk::SETTINGS),
            items::directory_key(tenant, &permission_sk),
        ];
        let found = batch_get(&self.client, &self.tables.directory, keys, eventual).await?;
        let logged = items::user_key_for_logs(tenant, user_id);
        read_caller(tenant, &found, (&user_sk, &logged), &permission_sk)
    }

    async fn host_mapping(
        &self,
        exact: &str,
        wildcard: Option<&str>,
    ) -> Result<HostMapping, StoreError> {
        super::signin::host_mapping(&self.client, &self.tables.directory, exact, wildcard).await
    }

    async fn tenant_sign_in(&self, tenant: &str) -> Result<TenantSignIn, StoreError> {
        super::signin::tenant_sign_in(&self.client, &self.tables.directory, tenant).await
    }
}

/// `user_key_for_logs` names the user's item in errors without its user id (see
/// [`items::user_key_for_logs`]).
fn read_caller(
    tenant: &str,
    found: &[Item],
    (user_sk, user_key_for_logs): (&str, &str),
    permission_sk: &str,
) -> Result<CallerContext, StoreError> {
    let mut ctx = CallerContext {
        user: None,
        settings: TenantSettings::default(),
        view_livechat_manager_roles: None,
    };
    for item in found {
        let sort = match item.get(attr::SK) {
            Some(AttributeValue::S(s)) => s.as_str(),
            _ => continue,
        };
        if sort == user_sk {
            ctx.user = Some(items::read_user(item, user_key_for_logs)?);
            continue;
        }
        let key = format!("{tenant}/{sort}");
        if sort == sk::SETTINGS {
            ctx.settings = items::read_settings(item, &key)?;
        } else if sort == permission_sk {
            ctx.view_livechat_manager_roles =
                Some(Reader::new(item, &key).string_list(attr::ROLES)?);
        }
    }
    Ok(ctx)
}

impl ConversationStore for DynamoStore {
    async fn fold(&self, query: &RangeQuery) -> Result<(Aggregator, FoldStats), StoreError> {
        let units = plan::plan(query.range, self.limits.query_plan);
        let states = SpanStates::new(
            &self.client,
            &self.tables.rollups,
            &query.tenant,
            plan::rollup_span(&units).unwrap_or_default(),
            self.limits.query_page_limit,
        );
        let work = futures::stream::iter(units)
            .map(|unit| self.fold_unit(query, &states, unit))
            .buffer_unordered(self.limits.query_concurrency)
            .try_fold(
                (Aggregator::new(query.figure), FoldStats::default()),
                |(mut agg, mut stats), (part, part_stats)| async move {
                    agg.merge(part)
                        .map_err(|e| StoreError::Internal(Box::new(e)))?;
                    stats.add(&part_stats);
                    Ok((agg, stats))
                },
            );
        let (agg, mut stats) = tokio::time::timeout(self.limits.query_budget, work)
            .await
            .map_err(|_| StoreError::BudgetExceeded(self.limits.query_budget))??;
        stats.requests += states.requests();
        Ok((agg, stats))
    }
}
