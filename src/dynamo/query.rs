//! The Query shapes: one partition between two sort keys (the rollup reads, the day states, the
//! reconciliation), and the one paginated Query every read of several items goes through.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::items::{attr, Item};
use super::StoreError;

/// A Query of one partition between two sort keys (`#pk`, `#sk` named).
pub fn query_between(
    client: &Client,
    table: &str,
    pk: String,
    (first, last): (String, String),
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
    client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk AND #sk BETWEEN :first AND :last")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#sk", attr::SK)
        .expression_attribute_values(":pk", AttributeValue::S(pk))
        .expression_attribute_values(":first", AttributeValue::S(first))
        .expression_attribute_values(":last", AttributeValue::S(last))
}

/// Runs `request` page by page: each page's items go to `each` as the page arrives (owned, so
/// a caller keeping items moves them rather than copying), and a long read never holds more
/// than one page. `fail` names a failed page (the request path classifies
/// it; the other paths name the call and its table). Returns the pages read.
pub async fn each_page<E>(
    request: QueryFluentBuilder,
    fail: impl FnOnce(SdkError<QueryError, HttpResponse>) -> E,
    mut each: impl FnMut(Vec<Item>) -> Result<(), E>,
) -> Result<u64, E> {
    let mut pages = request.into_paginator().send();
    let mut read = 0;
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) => return Err(fail(e)),
        };
        read += 1;
        each(page.items.unwrap_or_default())?;
    }
    Ok(read)
}

/// Every item `request` finds, all pages (for reads whose answer is the whole list).
pub async fn all_items<E>(
    request: QueryFluentBuilder,
    fail: impl FnOnce(SdkError<QueryError, HttpResponse>) -> E,
) -> Result<Vec<Item>, E> {
    let mut items = Vec::new();
    each_page(request, fail, |page| {
        items.extend(page);
        Ok(())
    })
    .await?;
    Ok(items)
}

/// Every item of partition `pk` with `first <= sk <= last`, all pages, read consistently.
pub async fn items_between(
    client: &Client,
    table: &str,
    pk: String,
    span: (String, String),
) -> Result<Vec<Item>, StoreError> {
    let request = query_between(client, table, pk, span).consistent_read(true);
    all_items(request, |e| StoreError::call("Query", table, e)).await
}
