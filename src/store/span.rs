//! One Query shape shared by the rollup reads, the day states and the reconciliation: a
//! partition between two sort keys.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::items::attr;

/// A Query of one partition between two sort keys (`#pk`, `#sk` named).
pub fn span_query(
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
