//! What the rollup engine's ingest (`rollups::ingest`) asks of the conversations table
//! beyond the batch writer: which tenant, key and UTC day an item to write has, and one
//! conversation's delete.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;

use super::items::{attr, Item, MalformedItem, Reader};
use super::StoreError;
use crate::domain::range::utc_day_of;

/// The tenant, key and UTC day of a conversation item.
pub fn tenant_key_day(item: &Item) -> Result<(String, String, NaiveDate), MalformedItem> {
    let key = match item.get(attr::PK) {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => String::from("?"),
    };
    let r = Reader::new(item, &key);
    let tenant = r.str(attr::TENANT)?.to_string();
    let ts: i64 = r
        .opt_number(attr::TS)?
        .ok_or_else(|| r.malformed("ts is missing"))?;
    let day = utc_day_of(ts).ok_or_else(|| r.malformed(format!("ts {ts} is out of range")))?;
    Ok((tenant, key, day))
}

/// Deletes the conversation stored under `pk` in `table`.
pub async fn delete_conversation(client: &Client, table: &str, pk: &str) -> Result<(), StoreError> {
    client
        .delete_item()
        .table_name(table)
        .key(attr::PK, AttributeValue::S(pk.to_string()))
        .send()
        .await
        .map_err(|e| StoreError::call("DeleteItem", table, e))?;
    Ok(())
}
