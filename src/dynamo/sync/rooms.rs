//! The sync's reads of the stored conversations (to tell added from changed, and to find what
//! a full listing removes), and the stamp it adds to each conversation it writes.

use crate::dynamo::query::each_page;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{attr as a, call, n, s, Key};
use crate::config::TableNames;
use crate::domain::conversation::Conversation;
use crate::dynamo::batch_get::{batch_get, consistent};
use crate::dynamo::items::{self, attr, conversation_pk, read_conversation, Item, Reader};
use crate::dynamo::StoreError;

/// What a room was when the sync last wrote it: when both match the listing, the room did not
/// change and its messages are not read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub updated_ms: i64,
    pub msgs: Option<i64>,
}

impl Stamp {
    /// Adds the stamp to a conversation item.
    pub fn stamp(&self, item: &mut Item) {
        item.insert(a::RC_UPDATED.into(), n(self.updated_ms));
        if let Some(m) = self.msgs {
            item.insert(a::RC_MSGS.into(), n(m));
        }
    }

    fn read(item: &Item) -> Option<Stamp> {
        let number = |name: &str| match item.get(name) {
            Some(AttributeValue::N(v)) => v.parse::<i64>().ok(),
            _ => None,
        };
        Some(Stamp {
            updated_ms: number(a::RC_UPDATED)?,
            msgs: number(a::RC_MSGS),
        })
    }
}

/// The stored conversations among `room_ids` (at most 100, no duplicates) with the stamp the
/// sync wrote them with (none when the import wrote them).
pub async fn stored_rooms(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    room_ids: &[String],
) -> Result<HashMap<String, (Conversation, Option<Stamp>)>, StoreError> {
    let keys = room_ids
        .iter()
        .map(|id| Item::from([(attr::PK.to_string(), s(&conversation_pk(tenant, id)))]))
        .collect();
    let mut out = HashMap::new();
    let table = &names.conversations;
    for item in batch_get(client, table, keys, consistent)
        .await
        .map_err(|e| e.on(table))?
    {
        let key = match item.get(attr::PK) {
            Some(AttributeValue::S(pk)) => pk.clone(),
            _ => "<conversation without pk>".into(),
        };
        let c = read_conversation(&item, &key)?;
        out.insert(c.room_id.clone(), (c, Stamp::read(&item)));
    }
    Ok(out)
}

/// The `(ts, room id)` of the tenant's stored rooms of `month` with `low <= ts <= high`,
/// through the `byMonth` index, every page.
pub async fn stored_keys_of_month(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    month: (i32, u32),
    (low, high): (i64, i64),
) -> Result<Vec<Key>, StoreError> {
    let table = &names.conversations;
    let request = client
        .query()
        .table_name(table)
        .index_name(&names.by_month_index)
        .key_condition_expression("#month = :month AND #ts BETWEEN :low AND :high")
        .projection_expression("#pk, #ts")
        .expression_attribute_names("#month", attr::MONTH)
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#ts", attr::TS)
        .expression_attribute_values(":month", s(&items::month_key(tenant, month)))
        .expression_attribute_values(":low", n(low))
        .expression_attribute_values(":high", n(high));
    let mut out = Vec::new();
    each_page(request, call("Query", table), |page| {
        for item in &page {
            let r = Reader::new(item, "conversation");
            let pk = r.str(attr::PK)?;
            let room_id = pk
                .strip_prefix(tenant)
                .and_then(|rest| rest.strip_prefix('#'))
                .ok_or_else(|| r.malformed(format!("pk is not {tenant}#{{roomId}}")))?;
            out.push(Key {
                at: r.number(attr::TS)?,
                id: room_id.to_string(),
            });
        }
        Ok(())
    })
    .await?;
    Ok(out)
}
