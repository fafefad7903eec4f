//! The rollup engine's conversation reads: a month bucket's conversations from the `byMonth`
//! GSI, and conversations by key from the table itself (strongly consistent, through the one
//! bounded [`super::batch_get`]).

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::batch_get::{batch_get, consistent};
use super::items::{self, attr, read_conversation_image, read_indexed_conversation, Item};
use super::query::each_page;
use super::StoreError;
use crate::domain::conversation::Conversation;
use crate::domain::range::UtcRange;

/// The conversations of `range` (within one month bucket) of `tenant`, as the `byMonth` GSI
/// (`index` of `table`) has them, each given to `each`; returns how many were read.
pub async fn conversations_by_month(
    client: &Client,
    table: &str,
    index: &str,
    tenant: &str,
    range: UtcRange,
    mut each: impl FnMut(String, Conversation) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let Some(month) = items::month_of(range.start_ms) else {
        return Ok(0);
    };
    let request = client
        .query()
        .table_name(table)
        .index_name(index)
        .key_condition_expression("#month = :month AND #ts BETWEEN :start AND :end")
        .projection_expression(
            "#pk, #ts, #dept, #agent, #responder, #chat, #ft, #avg, #reaction, #msgs",
        )
        .expression_attribute_names("#month", attr::MONTH)
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#ts", attr::TS)
        .expression_attribute_names("#dept", attr::DEPARTMENT_ID)
        .expression_attribute_names("#agent", attr::AGENT)
        .expression_attribute_names("#responder", attr::RESPONDER)
        .expression_attribute_names("#chat", attr::CHAT_DURATION)
        .expression_attribute_names("#ft", attr::FIRST_RESPONSE)
        .expression_attribute_names("#avg", attr::AVG_RESPONSE)
        .expression_attribute_names("#reaction", attr::FIRST_REACTION)
        .expression_attribute_names("#msgs", attr::AGENT_MESSAGES)
        .expression_attribute_values(":month", AttributeValue::S(items::month_key(tenant, month)))
        .expression_attribute_values(":start", AttributeValue::N(range.start_ms.to_string()))
        .expression_attribute_values(":end", AttributeValue::N(range.end_ms.to_string()));
    let mut read = 0;
    each_page(
        request,
        |e| StoreError::call("Query", table, e),
        |page| {
            for item in &page {
                read += 1;
                let (pk, c) = read_indexed_conversation(item, tenant)?;
                each(pk, c)?;
            }
            Ok(())
        },
    )
    .await?;
    Ok(read)
}

/// The conversations stored under `pks` in `table`, strongly consistent (unprocessed keys
/// asked for again with back-off), as `(pk, conversation)`; a key without an item is absent.
pub async fn conversations_by_key<'a>(
    client: &Client,
    table: &str,
    pks: impl IntoIterator<Item = &'a String>,
) -> Result<Vec<(String, Conversation)>, StoreError> {
    let keys: Vec<Item> = pks
        .into_iter()
        .map(|pk| Item::from([(attr::PK.to_string(), AttributeValue::S(pk.clone()))]))
        .collect();
    let found = batch_get(client, table, keys, consistent)
        .await
        .map_err(|e| e.on(table))?;
    let mut conversations = Vec::with_capacity(found.len());
    for item in found {
        let (_, pk, c) = read_conversation_image(&item)?;
        conversations.push((pk, c));
    }
    Ok(conversations)
}
