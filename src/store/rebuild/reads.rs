//! The rebuild's raw reads: a month bucket's conversations from the `byMonth` GSI, and items by
//! key (strongly consistent, through the one bounded [`crate::dynamo::batch_get`]).

use aws_sdk_dynamodb::types::AttributeValue;

use super::Rebuilder;
use crate::domain::conversation::Conversation;
use crate::domain::range::UtcRange;
use crate::dynamo::batch_get::{batch_get, consistent};
use crate::dynamo::items::{self, attr, read_indexed_conversation, Item};
use crate::store::StoreOpError;

impl Rebuilder {
    /// Items by key, strongly consistent, unprocessed keys asked for again with back-off.
    pub(super) async fn batch_get(
        &self,
        table: &str,
        keys: Vec<Item>,
    ) -> Result<Vec<Item>, StoreOpError> {
        batch_get(&self.client, table, keys, consistent)
            .await
            .map_err(|e| e.on(table))
    }

    /// The conversations of `range` (within one month bucket), as the `byMonth` GSI has them;
    /// returns how many were read.
    pub(super) async fn read_raw(
        &self,
        tenant: &str,
        range: UtcRange,
        mut each: impl FnMut(String, Conversation) -> Result<(), StoreOpError>,
    ) -> Result<u64, StoreOpError> {
        let Some(month) = items::month_of(range.start_ms) else {
            return Ok(0);
        };
        let table = &self.tables.conversations;
        let mut pages = self
            .client
            .query()
            .table_name(table)
            .index_name(&self.tables.by_month_index)
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
            .expression_attribute_values(
                ":month",
                AttributeValue::S(items::month_key(tenant, month)),
            )
            .expression_attribute_values(":start", AttributeValue::N(range.start_ms.to_string()))
            .expression_attribute_values(":end", AttributeValue::N(range.end_ms.to_string()))
            .into_paginator()
            .send();
        let mut read = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StoreOpError::call("Query", table, e))?;
            for item in page.items() {
                read += 1;
                let (pk, c) = read_indexed_conversation(item, tenant)?;
                each(pk, c)?;
            }
        }
        Ok(read)
    }
}
