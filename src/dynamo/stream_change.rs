//! Decoding a record of the conversations table's stream (`NEW_AND_OLD_IMAGES`) into the
//! conversation it changed, before and after.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{attr, read_conversation_image, Item, MalformedItem};
use crate::domain::conversation::Conversation;

/// One record's conversation before and after.
pub struct Change {
    pub tenant: String,
    pub pk: String,
    pub old: Option<Conversation>,
    pub new: Option<Conversation>,
}

pub fn read_change(record: &EventRecord) -> Result<Change, MalformedItem> {
    let keys: Item = HashMap::from(record.change.keys.clone());
    let key = match keys.get(attr::PK) {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => format!("<stream record {}>", record.event_id),
    };
    let image = |image: &serde_dynamo::Item| {
        if image.inner().is_empty() {
            return Ok(None);
        }
        let item: Item = HashMap::from(image.clone());
        read_conversation_image(&item).map(Some)
    };
    let old = image(&record.change.old_image)?;
    let new = image(&record.change.new_image)?;
    let (tenant, pk) = match (&old, &new) {
        (Some((t, pk, _)), None) | (_, Some((t, pk, _))) => (t.clone(), pk.clone()),
        (None, None) => {
            return Err(MalformedItem {
                key,
                problem: "the stream record has no image (the stream must be NEW_AND_OLD_IMAGES)"
                    .into(),
            })
        }
    };
    if let (Some((old_tenant, old_pk, _)), Some(_)) = (&old, &new) {
        if *old_tenant != tenant || *old_pk != pk {
            return Err(MalformedItem {
                key,
                problem: "the old and new images name different conversations".into(),
            });
        }
    }
    Ok(Change {
        tenant,
        pk,
        old: old.map(|(_, _, c)| c),
        new: new.map(|(_, _, c)| c),
    })
}
