//! The conversations table: one item per room, with the month keys of its two GSIs.

use super::{
    attr, conversation_pk, dept_month_key, f, month_key, month_of, n, s, Item, MalformedItem,
    Reader,
};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::conversation::Conversation;

pub fn conversation_item(tenant: &str, c: &Conversation) -> Result<Item, MalformedItem> {
    let key = conversation_pk(tenant, &c.room_id);
    let ym = month_of(c.ts_ms).ok_or_else(|| MalformedItem {
        key: key.clone(),
        problem: format!("ts {} is out of range", c.ts_ms),
    })?;
    for (name, v) in [
        (attr::CHAT_DURATION, c.chat_duration),
        (attr::FIRST_RESPONSE, c.first_response),
        (attr::AVG_RESPONSE, c.avg_response),
        (attr::FIRST_REACTION, c.first_reaction),
    ] {
        if matches!(v, Some(x) if !x.is_finite()) {
            return Err(MalformedItem {
                key,
                problem: format!("{name} is not a finite number"),
            });
        }
    }
    let mut item = Item::new();
    item.insert(attr::PK.into(), s(key));
    item.insert(attr::TENANT.into(), s(tenant));
    item.insert(attr::ROOM_ID.into(), s(c.room_id.clone()));
    item.insert(attr::TS.into(), n(c.ts_ms));
    item.insert(attr::MONTH.into(), s(month_key(tenant, ym)));
    if let Some(d) = &c.department_id {
        item.insert(attr::DEPARTMENT_ID.into(), s(d.clone()));
        item.insert(attr::DEPT_MONTH.into(), s(dept_month_key(tenant, ym, d)));
    }
    if let Some(open) = c.open {
        item.insert(attr::OPEN.into(), AttributeValue::Bool(open));
    }
    if let Some(a) = &c.agent {
        item.insert(attr::AGENT.into(), s(a.clone()));
    }
    if let Some(r) = &c.responder {
        item.insert(attr::RESPONDER.into(), s(r.clone()));
    }
    for (name, v) in [
        (attr::CHAT_DURATION, c.chat_duration),
        (attr::FIRST_RESPONSE, c.first_response),
        (attr::AVG_RESPONSE, c.avg_response),
        (attr::FIRST_REACTION, c.first_reaction),
    ] {
        if let Some(x) = v {
            item.insert(name.into(), f(x));
        }
    }
    item.insert(attr::AGENT_MESSAGES.into(), n(c.agent_messages));
    Ok(item)
}

/// A conversation as a GSI query returns it (keys and the projected figure attributes), its
/// room id taken from `pk`.
pub fn read_indexed_conversation(
    item: &Item,
    tenant: &str,
) -> Result<(String, Conversation), MalformedItem> {
    let key = match item.get(attr::PK) {
        Some(AttributeValue::S(pk)) => pk.as_str(),
        _ => "<item without pk>",
    };
    let r = Reader::new(item, key);
    let pk = r.str(attr::PK)?;
    let room_id = pk
        .strip_prefix(tenant)
        .and_then(|rest| rest.strip_prefix('#'))
        .ok_or_else(|| r.malformed(format!("pk is not {tenant}#{{roomId}}")))?;
    // `open` is not projected into the GSIs: no figure reads it.
    Ok((pk.to_string(), read_figure_fields(&r, room_id, None)?))
}

/// A whole conversation item (a stream image): its tenant, its `pk` and the conversation.
pub fn read_conversation_image(
    item: &Item,
) -> Result<(String, String, Conversation), MalformedItem> {
    let key = match item.get(attr::PK) {
        Some(AttributeValue::S(pk)) => pk.as_str(),
        _ => "<item without pk>",
    };
    let r = Reader::new(item, key);
    let pk = r.str(attr::PK)?.to_string();
    let tenant = r.str(attr::TENANT)?.to_string();
    if !pk.starts_with(&format!("{tenant}#")) {
        return Err(r.malformed(format!("pk is not {tenant}#{{roomId}}")));
    }
    Ok((tenant, pk, read_conversation(item, key)?))
}

pub fn read_conversation(item: &Item, key: &str) -> Result<Conversation, MalformedItem> {
    let r = Reader::new(item, key);
    read_figure_fields(&r, r.str(attr::ROOM_ID)?, r.opt_bool(attr::OPEN)?)
}

/// The attributes every reader of a conversation shares: its start, department, agents,
/// metrics and agent-message count.
fn read_figure_fields(
    r: &Reader<'_>,
    room_id: &str,
    open: Option<bool>,
) -> Result<Conversation, MalformedItem> {
    Ok(Conversation {
        room_id: room_id.to_string(),
        ts_ms: r.number(attr::TS)?,
        department_id: r.opt_str(attr::DEPARTMENT_ID)?.map(str::to_string),
        open,
        agent: r.opt_str(attr::AGENT)?.map(str::to_string),
        responder: r.opt_str(attr::RESPONDER)?.map(str::to_string),
        chat_duration: r.opt_metric(attr::CHAT_DURATION)?,
        first_response: r.opt_metric(attr::FIRST_RESPONSE)?,
        avg_response: r.opt_metric(attr::AVG_RESPONSE)?,
        first_reaction: r.opt_metric(attr::FIRST_REACTION)?,
        agent_messages: r.opt_number(attr::AGENT_MESSAGES)?.unwrap_or(0),
    })
}
