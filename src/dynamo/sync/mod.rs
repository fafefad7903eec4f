//! The sync's own items and reads in DynamoDB (the sync's logic is in `src/sync/`).
//!
//! - A tenant's connection (Rocket.Chat URL, service-account user id, the ARN of the secret
//!   holding its token) lives in one shared directory partition, `pk = "#SYNC"`, `sk = tenant`,
//!   so the scheduled fan-out lists every connected tenant with one paged Query (a tenant id
//!   never starts with `#`) ([`connections`], [`lag`]).
//! - A tenant's sync state (checkpoint, an unfinished pass, the last full listing) is the
//!   tenant's own directory item `sk = "SYNC"` ([`state`]); the lease that lets one sync of a
//!   tenant run at a time lives on the same item ([`lease`]).
//! - The users phase keeps its own state item, `sk = "SYNC#USERS"`, and marks the users it
//!   writes with `managedBy = "sync"` ([`users`]).
//! - Reads of what is stored (to tell added from changed, and to find what `--full` removes)
//!   go page by page, so memory follows the page size, not the workspace ([`rooms`]).

use super::items::Item;
use super::StoreError;
use crate::config::TableNames;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

pub mod connections;
pub mod lag;
pub mod lease;
pub mod rooms;
pub mod state;
pub mod users;

pub use connections::{
    delete_connection, for_each_connection, get_connection, put_connection, Connection,
};
pub use rooms::{stored_keys_of_month, stored_rooms, Stamp};
pub use state::{delete_state, get_state, put_state, Cursor, Key, Listing, Pending, SyncState};
pub use users::{FullCursor, UsersState};

/// `pk` of the shared partition of every tenant's connection.
pub const CONNECTIONS_PK: &str = "#SYNC";
/// `sk` of a tenant's sync state item in its directory partition.
pub const STATE_SK: &str = "SYNC";
/// The users' own sync state: `sk` of the tenant's directory partition.
pub const USERS_STATE_SK: &str = "SYNC#USERS";
/// [`attr::MANAGED_BY`]'s one value: the user is the sync's to prune.
pub const MANAGED_BY_SYNC: &str = "sync";

/// Attribute names of the sync's items, and of what the sync adds to conversations and users.
pub mod attr {
    // A connection.
    pub const URL: &str = "url";
    pub const SERVICE_USER_ID: &str = "serviceUserId";
    pub const SECRET_ARN: &str = "secretArn";
    pub const CONNECTED_AT: &str = "connectedAt";

    // A tenant's sync state (the rooms') and the users' (which share the first two).
    pub const CHECKPOINT: &str = "checkpoint";
    pub const LAST_FULL: &str = "lastFullAt";
    pub const PENDING_UPPER: &str = "pendingUpper";
    pub const PENDING_REACHED: &str = "pendingReached";
    pub const LAST_COMPLETE: &str = "lastCompleteStartedAt";
    pub const PENDING_ID: &str = "pendingId";
    pub const PENDING_OFFSET: &str = "pendingOffset";
    pub const LISTING_STARTED: &str = "listingStartedAt";
    pub const LISTING_TS: &str = "listingTs";
    pub const LISTING_ID: &str = "listingId";
    pub const LISTING_OFFSET: &str = "listingOffset";
    /// Set on the state item by every save (a lease alone does not set it).
    pub const STATE_SAVED: &str = "stateVersion";
    pub const FULL_STARTED: &str = "fullStartedAt";
    pub const FULL_OFFSET: &str = "fullOffset";
    pub const FULL_AFTER: &str = "fullAfter";

    // The lease, on the sync state item.
    pub const LEASE_OWNER: &str = "leaseOwner";
    pub const LEASE_UNTIL: &str = "leaseUntil";

    /// On a conversation the sync wrote: the room's `_updatedAt` and `msgs` it was read at.
    pub const RC_UPDATED: &str = "rcUpdatedAt";
    pub const RC_MSGS: &str = "rcMsgs";

    /// On a user: who owns it ([`super::MANAGED_BY_SYNC`] or absent).
    pub const MANAGED_BY: &str = "managedBy";
}

fn call<'t, E>(operation: &'static str, table: &'t str) -> impl FnOnce(E) -> StoreError + 't
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::call(operation, table, e)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

// --- One directory item --------------------------------------------------------------------

/// The directory item at `key`, strongly consistent.
async fn get_directory_item(
    client: &Client,
    names: &TableNames,
    key: Item,
) -> Result<Option<Item>, StoreError> {
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
) -> Result<(), StoreError> {
    client
        .put_item()
        .table_name(&names.directory)
        .set_item(Some(item))
        .send()
        .await
        .map_err(call("PutItem", &names.directory))?;
    Ok(())
}

async fn delete_item(client: &Client, table: &str, key: Item) -> Result<(), StoreError> {
    client
        .delete_item()
        .table_name(table)
        .set_key(Some(key))
        .send()
        .await
        .map_err(call("DeleteItem", table))?;
    Ok(())
}
