//! The sync's own items and reads in DynamoDB.
//!
//! - A tenant's connection (Rocket.Chat URL, service-account user id, the ARN of the secret
//!   holding its token) lives in one shared directory partition, `pk = "#SYNC"`, `sk = tenant`,
//!   so the scheduled fan-out lists every connected tenant with one paged Query (a tenant id
//!   never starts with `#`).
//! - A tenant's sync state (checkpoint, an unfinished pass, the last full listing) is the
//!   tenant's own directory item `sk = "SYNC"`.
//! - Reads of what is stored (to tell added from changed, and to find what `--full` removes)
//!   go page by page, so memory follows the page size, not the workspace.

use crate::dynamo::batch_get::{batch_get, consistent};
use std::collections::HashMap;

use crate::dynamo::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::state::{Connection, Listing, Pending, SyncState};
use super::walk::{Cursor, Key};
use crate::config::TableNames;
use crate::domain::conversation::Conversation;
use crate::dynamo::items::{
    self, attr, conversation_pk, directory_key, read_conversation, Item, MalformedItem, Reader,
};
use crate::store::plan::months_between;
use crate::store::StoreOpError;

pub const CONNECTIONS_PK: &str = "#SYNC";
pub const STATE_SK: &str = "SYNC";
/// The users' own sync state: `sk` of the tenant's directory partition.
pub const USERS_STATE_SK: &str = "SYNC#USERS";
/// Set on the state item by every save (a lease alone does not set it).
pub const STATE_SAVED: &str = "stateVersion";

mod a {
    pub const URL: &str = "url";
    pub const SERVICE_USER_ID: &str = "serviceUserId";
    pub const SECRET_ARN: &str = "secretArn";
    pub const CONNECTED_AT: &str = "connectedAt";
    pub const CHECKPOINT: &str = "checkpoint";
    pub const PENDING_UPPER: &str = "pendingUpper";
    pub const PENDING_REACHED: &str = "pendingReached";
    pub const LAST_COMPLETE: &str = "lastCompleteStartedAt";
    pub const LAST_FULL: &str = "lastFullAt";
    pub const PENDING_ID: &str = "pendingId";
    pub const PENDING_OFFSET: &str = "pendingOffset";
    pub const LISTING_STARTED: &str = "listingStartedAt";
    pub const LISTING_TS: &str = "listingTs";
    pub const LISTING_ID: &str = "listingId";
    pub const LISTING_OFFSET: &str = "listingOffset";
    /// On a conversation the sync wrote: the room's `_updatedAt` and `msgs` it was read at.
    pub const RC_UPDATED: &str = "rcUpdatedAt";
    pub const RC_MSGS: &str = "rcMsgs";
}

/// What a room was when the sync last wrote it: when both match the listing, the room did not
/// change and its messages are not read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub updated_ms: i64,
    pub msgs: Option<i64>,
}

impl Stamp {
    /// The stamp of a listed room document.
    pub fn of(doc: &serde_json::Value, updated_ms: i64) -> Stamp {
        Stamp {
            updated_ms,
            msgs: doc.get("msgs").and_then(serde_json::Value::as_i64),
        }
    }

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

fn call<'t, E>(operation: &'static str, table: &'t str) -> impl FnOnce(E) -> StoreOpError + 't
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreOpError::call(operation, table, e)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

// --- Connections -----------------------------------------------------------------------------

pub async fn put_connection(
    client: &Client,
    names: &TableNames,
    c: &Connection,
    now_ms: i64,
) -> Result<(), StoreOpError> {
    let mut item = directory_key(CONNECTIONS_PK, &c.tenant);
    item.insert(a::URL.into(), s(&c.url));
    item.insert(a::SERVICE_USER_ID.into(), s(&c.user_id));
    item.insert(a::SECRET_ARN.into(), s(&c.secret_arn));
    item.insert(a::CONNECTED_AT.into(), n(now_ms));
    put_directory_item(client, names, item).await
}

/// Removes the connection and the sync state; `false` when the tenant was not connected.
pub async fn delete_connection(
    client: &Client,
    names: &TableNames,
    tenant: &str,
) -> Result<bool, StoreOpError> {
    let out = client
        .delete_item()
        .table_name(&names.directory)
        .set_key(Some(directory_key(CONNECTIONS_PK, tenant)))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(call("DeleteItem", &names.directory))?;
    delete_state(client, names, tenant).await?;
    Ok(out.attributes.is_some())
}

/// Removes the tenant's sync state (the rooms' and the users'): the next cycle starts over.
pub async fn delete_state(
    client: &Client,
    names: &TableNames,
    tenant: &str,
) -> Result<(), StoreOpError> {
    delete_item(client, &names.directory, directory_key(tenant, STATE_SK)).await?;
    let users = directory_key(tenant, USERS_STATE_SK);
    delete_item(client, &names.directory, users).await
}

fn read_connection(item: &Item) -> Result<Connection, MalformedItem> {
    let r = Reader::new(item, "#SYNC connection");
    Ok(Connection {
        tenant: r.str(attr::SK)?.to_string(),
        url: r.str(a::URL)?.to_string(),
        user_id: r.str(a::SERVICE_USER_ID)?.to_string(),
        secret_arn: r.str(a::SECRET_ARN)?.to_string(),
    })
}

pub async fn get_connection(
    client: &Client,
    names: &TableNames,
    tenant: &str,
) -> Result<Option<Connection>, StoreOpError> {
    let item = get_directory_item(client, names, directory_key(CONNECTIONS_PK, tenant)).await?;
    Ok(item.as_ref().map(read_connection).transpose()?)
}

/// Every connected tenant, a page at a time. A malformed item is logged (by its key) and
/// skipped, never the end of the listing: returns `(connections, malformed items)`.
pub async fn for_each_connection(
    client: &Client,
    names: &TableNames,
    mut each: impl AsyncFnMut(Connection) -> Result<(), StoreOpError>,
) -> Result<(u64, u64), StoreOpError> {
    let mut pages = client
        .query()
        .table_name(&names.directory)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_values(":pk", s(CONNECTIONS_PK))
        .into_paginator()
        .send();
    let (mut count, mut malformed) = (0, 0);
    while let Some(page) = pages.next().await {
        let page = page.map_err(call("Query", &names.directory))?;
        for item in page.items() {
            match read_connection(item) {
                Ok(c) => {
                    each(c).await?;
                    count += 1;
                }
                Err(e) => {
                    malformed += 1;
                    let key = match item.get(attr::SK) {
                        Some(AttributeValue::S(sk)) => sk.as_str(),
                        _ => "?",
                    };
                    tracing::error!(connection = key, error = %e, "malformed connection item skipped");
                }
            }
        }
    }
    Ok((count, malformed))
}

// --- Sync state ------------------------------------------------------------------------------

pub async fn get_state(
    client: &Client,
    names: &TableNames,
    tenant: &str,
) -> Result<SyncState, StoreOpError> {
    let item = get_directory_item(client, names, directory_key(tenant, STATE_SK)).await?;
    let Some(item) = item else {
        return Ok(SyncState::default());
    };
    let key = format!("{tenant}/{STATE_SK}");
    let r = Reader::new(&item, &key);
    let cursor = |at: &str, id: &str, offset: &str| -> Result<Option<Cursor>, MalformedItem> {
        Ok(
            match (
                r.opt_number::<i64>(at)?,
                r.opt_str(id)?,
                r.opt_number::<u64>(offset)?,
            ) {
                (Some(at), Some(id), Some(offset)) => Some(Cursor {
                    key: Key {
                        at,
                        id: id.to_string(),
                    },
                    offset,
                }),
                _ => None,
            },
        )
    };
    // A pending pass saved without its cursor (an older version) starts over.
    let pending = match (
        r.opt_number::<i64>(a::PENDING_UPPER)?,
        cursor(a::PENDING_REACHED, a::PENDING_ID, a::PENDING_OFFSET)?,
    ) {
        (Some(upper), Some(cursor)) => Some(Pending { upper, cursor }),
        _ => None,
    };
    let listing = match (
        r.opt_number::<i64>(a::LISTING_STARTED)?,
        cursor(a::LISTING_TS, a::LISTING_ID, a::LISTING_OFFSET)?,
    ) {
        (Some(started_ms), Some(cursor)) => Some(Listing { started_ms, cursor }),
        _ => None,
    };
    Ok(SyncState {
        checkpoint_ms: r.opt_number(a::CHECKPOINT)?,
        pending,
        last_complete_started_ms: r.opt_number(a::LAST_COMPLETE)?,
        last_full_ms: r.opt_number(a::LAST_FULL)?,
        listing,
    })
}

/// Writes the state's attributes (and removes those it no longer has), leaving the lease's.
pub async fn put_state(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    state: &SyncState,
) -> Result<(), StoreOpError> {
    let pending = state.pending.as_ref();
    let listing = state.listing.as_ref();
    let fields: [(&str, Option<AttributeValue>); 12] = [
        (a::CHECKPOINT, state.checkpoint_ms.map(n)),
        (a::PENDING_UPPER, pending.map(|p| n(p.upper))),
        (a::PENDING_REACHED, pending.map(|p| n(p.cursor.key.at))),
        (a::PENDING_ID, pending.map(|p| s(&p.cursor.key.id))),
        (
            a::PENDING_OFFSET,
            pending.map(|p| n(p.cursor.offset as i64)),
        ),
        (a::LAST_COMPLETE, state.last_complete_started_ms.map(n)),
        (a::LAST_FULL, state.last_full_ms.map(n)),
        (a::LISTING_STARTED, listing.map(|l| n(l.started_ms))),
        (a::LISTING_TS, listing.map(|l| n(l.cursor.key.at))),
        (a::LISTING_ID, listing.map(|l| s(&l.cursor.key.id))),
        (
            a::LISTING_OFFSET,
            listing.map(|l| n(l.cursor.offset as i64)),
        ),
        (STATE_SAVED, Some(n(2))),
    ];
    let mut set = Vec::new();
    let mut remove = Vec::new();
    let mut update = client
        .update_item()
        .table_name(&names.directory)
        .set_key(Some(directory_key(tenant, STATE_SK)));
    for (i, (name, value)) in fields.into_iter().enumerate() {
        update = update.expression_attribute_names(format!("#a{i}"), name);
        match value {
            Some(v) => {
                set.push(format!("#a{i} = :v{i}"));
                update = update.expression_attribute_values(format!(":v{i}"), v);
            }
            None => remove.push(format!("#a{i}")),
        }
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    update
        .update_expression(expression)
        .send()
        .await
        .map_err(call("UpdateItem", &names.directory))?;
    Ok(())
}

// --- One directory item --------------------------------------------------------------------

/// The directory item at `key`, strongly consistent.
async fn get_directory_item(
    client: &Client,
    names: &TableNames,
    key: Item,
) -> Result<Option<Item>, StoreOpError> {
    let out = client
        .get_item()
        .table_name(&names.directory)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(call("GetItem", &names.directory))?;
    Ok(out.item)
}

async fn put_directory_item(
    client: &Client,
    names: &TableNames,
    item: Item,
) -> Result<(), StoreOpError> {
    client
        .put_item()
        .table_name(&names.directory)
        .set_item(Some(item))
        .send()
        .await
        .map_err(call("PutItem", &names.directory))?;
    Ok(())
}

// --- What is stored ---------------------------------------------------------------------------

/// The stored conversations among `room_ids` (at most 100, no duplicates) with the stamp the
/// sync wrote them with (none when the import wrote them).
pub async fn stored_rooms(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    room_ids: &[String],
) -> Result<HashMap<String, (Conversation, Option<Stamp>)>, StoreOpError> {
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

/// The stored rooms whose `(ts, room id)` lies after `from` (from [`EARLIEST_STORED_MS`] when
/// `None`) and at or before `to` (to a year past `now_ms` when `None`), through the `byMonth`
/// index; `None` when `deadline` came first.
pub async fn stored_rooms_between(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    (from, to): (Option<&Key>, Option<&Key>),
    now_ms: i64,
    deadline: Option<tokio::time::Instant>,
) -> Result<Option<Vec<Key>>, StoreOpError> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let order = super::walk::Order::TsAsc;
    let low = from.map_or(EARLIEST_STORED_MS, |k| k.at.max(EARLIEST_STORED_MS));
    let high = to.map_or(now_ms.saturating_add(366 * 86_400_000), |k| k.at);
    let months = months_between(low, high);
    let mut out = Vec::new();
    // Month buckets a few at a time: a listing's first span reaches back to 1970.
    for chunk in months.chunks(MONTHS_AT_ONCE * 4) {
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return Ok(None);
        }
        let found: Vec<Vec<Key>> = stream::iter(chunk.iter().copied())
            .map(|month| stored_keys_of_month(client, names, tenant, month, (low, high)))
            .buffer_unordered(MONTHS_AT_ONCE)
            .try_collect()
            .await?;
        out.extend(found.into_iter().flatten().filter(|key| {
            from.is_none_or(|f| order.cmp(key, f).is_gt())
                && to.is_none_or(|t| order.cmp(key, t).is_le())
        }));
    }
    Ok(Some(out))
}

/// Where [`stored_rooms_between`] starts without a lower key: 2010-01-01, years before the
/// first Rocket.Chat (a room dated earlier is never listed for removal). It keeps a listing's
/// first span to about 200 month buckets instead of 700.
pub const EARLIEST_STORED_MS: i64 = 1_262_304_000_000;

/// Month buckets queried at once by [`stored_rooms_between`].
const MONTHS_AT_ONCE: usize = 16;

async fn stored_keys_of_month(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    month: (i32, u32),
    (low, high): (i64, i64),
) -> Result<Vec<Key>, StoreOpError> {
    let table = &names.conversations;
    let mut pages = client
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
        .expression_attribute_values(":high", n(high))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(call("Query", table))?;
        for item in page.items() {
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
    }
    Ok(out)
}

pub async fn delete_item(client: &Client, table: &str, key: Item) -> Result<(), StoreOpError> {
    client
        .delete_item()
        .table_name(table)
        .set_key(Some(key))
        .send()
        .await
        .map_err(call("DeleteItem", table))?;
    Ok(())
}
