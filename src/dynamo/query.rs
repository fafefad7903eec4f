//! The Query shapes: one partition between two sort keys (the rollup reads, the day states, the
//! reconciliation, the sync's room listing), as a request builder or as every item of all pages.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::items::{attr, Item};
use super::StoreOpError;

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

/// Every item of partition `pk` with `first <= sk <= last`, all pages, read consistently.
pub async fn items_between(
    client: &Client,
    table: &str,
    pk: String,
    span: (String, String),
) -> Result<Vec<Item>, StoreOpError> {
    let mut pages = query_between(client, table, pk, span)
        .consistent_read(true)
        .into_paginator()
        .send();
    let mut items = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| StoreOpError::call("Query", table, e))?;
        items.extend(page.items().iter().cloned());
    }
    Ok(items)
}
