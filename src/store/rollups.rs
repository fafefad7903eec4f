//! Reading rollups: the whole UTC days of a plan's rollup unit, one item per day for the
//! request's figure and scope (see [`super::plan`]).

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;

use super::items::{attr, fold_rollup_item, rollup_pk, rollup_sk};
use super::{classify, FoldStats, RangeQuery, StoreError};
use crate::domain::aggregate::Aggregator;
use crate::domain::rollup::Scope;

/// Folds the rollups of `first..=last` for the query's figure and scope. A day without an item
/// had nothing to count.
pub async fn fold_days(
    client: &Client,
    table: &str,
    query: &RangeQuery,
    first: NaiveDate,
    last: NaiveDate,
    page_limit: Option<i32>,
) -> Result<(Aggregator, FoldStats), StoreError> {
    let scope = Scope::of_request(query.department_id.as_deref());
    let mut pages = client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk AND #sk BETWEEN :first AND :last")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#sk", attr::SK)
        .expression_attribute_names("#tallies", attr::TALLIES)
        .expression_attribute_values(":pk", AttributeValue::S(rollup_pk(&query.tenant, &scope)))
        .expression_attribute_values(":first", AttributeValue::S(rollup_sk(query.figure, first)))
        .expression_attribute_values(":last", AttributeValue::S(rollup_sk(query.figure, last)))
        .projection_expression("#pk, #sk, #tallies")
        .set_limit(page_limit)
        .into_paginator()
        .send();
    let mut agg = Aggregator::new(query.figure);
    let mut stats = FoldStats {
        rollup_days: (last - first).num_days() as u64 + 1,
        ..FoldStats::default()
    };
    while let Some(page) = pages.next().await {
        let page = page.map_err(classify)?;
        stats.requests += 1;
        for item in page.items() {
            stats.rollup_items_read += 1;
            fold_rollup_item(&mut agg, item)?;
        }
    }
    Ok((agg, stats))
}
