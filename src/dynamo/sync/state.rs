//! A tenant's sync state: the checkpoint, an unfinished pass and an unfinished full listing,
//! in the tenant's directory item `sk = "SYNC"` (the rules that move them are
//! `src/sync/state.rs`'s; the walk that fills a cursor is `src/sync/walk.rs`).

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{attr as a, call, delete_item, get_directory_item, n, s, STATE_SK, USERS_STATE_SK};
use crate::config::TableNames;
use crate::dynamo::items::{directory_key, MalformedItem, Reader};
use crate::dynamo::StoreError;

/// An item's place in a walk's order: its date (ms; a missing date sorts as MongoDB's null,
/// lowest) and `_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub at: i64,
    pub id: String,
}

/// Where a walk stopped: the last item handled and the position just after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: Key,
    pub offset: u64,
}

/// An unfinished pass newest first: it resumes after `cursor`; when it finishes, the
/// checkpoint becomes `upper` (`min(top, start)` of the job that began it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub upper: i64,
    pub cursor: Cursor,
}

/// An unfinished full listing (oldest `ts` first): it resumes after `cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// When the job that began it started (ms).
    pub started_ms: i64,
    pub cursor: Cursor,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// `min(newest _updatedAt, start)` of the last finished pass (ms).
    pub checkpoint_ms: Option<i64>,
    /// An unfinished pass over rooms newest first.
    pub pending: Option<Pending>,
    /// When the last finished cycle started (ms): everything changed before it is stored.
    pub last_complete_started_ms: Option<i64>,
    /// When the last full listing (removals included) finished (ms).
    pub last_full_ms: Option<i64>,
    /// An unfinished full listing.
    pub listing: Option<Listing>,
}

pub async fn get_state(
    client: &Client,
    names: &TableNames,
    tenant: &str,
) -> Result<SyncState, StoreError> {
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
) -> Result<(), StoreError> {
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
        (a::STATE_SAVED, Some(n(2))),
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

/// Removes the tenant's sync state (the rooms' and the users'): the next cycle starts over.
pub async fn delete_state(
    client: &Client,
    names: &TableNames,
    tenant: &str,
) -> Result<(), StoreError> {
    delete_item(client, &names.directory, directory_key(tenant, STATE_SK)).await?;
    let users = directory_key(tenant, USERS_STATE_SK);
    delete_item(client, &names.directory, users).await
}
