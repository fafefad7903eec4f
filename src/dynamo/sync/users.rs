//! What the users phase keeps in the directory table: its state item (the incremental
//! listing's checkpoint, the full listing's cursor) and its reads of the stored users it compares
//! a page with.

use crate::dynamo::query::each_page;
use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{
    attr as a, call, get_directory_item, n, put_directory_item, MANAGED_BY_SYNC, USERS_STATE_SK,
};
use crate::config::TableNames;
use crate::domain::identity::User;
use crate::dynamo::batch_get::{batch_get, consistent};
use crate::dynamo::items::{attr, directory_key, read_user, sk, Item, Reader};
use crate::dynamo::StoreError;

/// A full listing under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullCursor {
    pub started_ms: i64,
    /// Users listed so far (the next page's offset).
    pub offset: u64,
    /// The last `_id` listed: stored users above it are not compared yet.
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsersState {
    /// Newest `_updatedAt` (ms) every change up to which is stored.
    pub checkpoint_ms: Option<i64>,
    /// When the last full listing that finished had started (ms).
    pub last_full_ms: Option<i64>,
    pub full: Option<FullCursor>,
}

/// The stored users among `ids` (at most 100): the user and whether the sync manages it.
pub async fn stored_users(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    ids: &[String],
) -> Result<HashMap<String, (User, bool)>, StoreError> {
    let keys = ids
        .iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|id| directory_key(tenant, &sk::user(id)))
        .collect::<Vec<_>>();
    let mut out = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let table = &names.directory;
    for item in batch_get(client, table, keys, consistent)
        .await
        .map_err(|e| e.on(table))?
    {
        let user = read_user(&item, &format!("{tenant}/USER"))?;
        let managed =
            matches!(item.get(a::MANAGED_BY), Some(AttributeValue::S(v)) if v == MANAGED_BY_SYNC);
        out.insert(user.id.clone(), (user, managed));
    }
    Ok(out)
}

/// Ids of the sync-managed users stored with `after < id <= upper` (`None`: unbounded).
pub async fn managed_users_between(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    after: Option<&str>,
    upper: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let table = &names.directory;
    let low = sk::user(after.unwrap_or(""));
    // "USER$" sorts right after every "USER#…" key.
    let high = upper.map_or("USER$".to_string(), sk::user);
    let request = client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
        .projection_expression("#sk, #managed")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#sk", attr::SK)
        .expression_attribute_names("#managed", a::MANAGED_BY)
        .expression_attribute_values(":pk", AttributeValue::S(tenant.to_string()))
        .expression_attribute_values(":low", AttributeValue::S(low.clone()))
        .expression_attribute_values(":high", AttributeValue::S(high))
        .consistent_read(true);
    let mut ids = Vec::new();
    each_page(request, call("Query", table), |page| {
        for item in &page {
            let r = Reader::new(item, "user");
            let key = r.str(attr::SK)?;
            let managed = r.opt_str(a::MANAGED_BY)? == Some(MANAGED_BY_SYNC);
            if key == low || !managed {
                continue;
            }
            if let Some(id) = key.strip_prefix("USER#") {
                ids.push(id.to_string());
            }
        }
        Ok(())
    })
    .await?;
    Ok(ids)
}

pub async fn get_users_state(
    client: &Client,
    names: &TableNames,
    tenant: &str,
) -> Result<UsersState, StoreError> {
    let item = get_directory_item(client, names, directory_key(tenant, USERS_STATE_SK)).await?;
    let Some(item) = item else {
        return Ok(UsersState::default());
    };
    let key = format!("{tenant}/{USERS_STATE_SK}");
    let r = Reader::new(&item, &key);
    let full = match r.opt_number::<i64>(a::FULL_STARTED)? {
        Some(started_ms) => Some(FullCursor {
            started_ms,
            offset: r.opt_number(a::FULL_OFFSET)?.unwrap_or(0),
            after: r.opt_str(a::FULL_AFTER)?.map(str::to_string),
        }),
        None => None,
    };
    Ok(UsersState {
        checkpoint_ms: r.opt_number(a::CHECKPOINT)?,
        last_full_ms: r.opt_number(a::LAST_FULL)?,
        full,
    })
}

pub async fn put_users_state(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    state: &UsersState,
) -> Result<(), StoreError> {
    let mut item: Item = directory_key(tenant, USERS_STATE_SK);
    if let Some(c) = state.checkpoint_ms {
        item.insert(a::CHECKPOINT.into(), n(c));
    }
    if let Some(t) = state.last_full_ms {
        item.insert(a::LAST_FULL.into(), n(t));
    }
    if let Some(cursor) = &state.full {
        item.insert(a::FULL_STARTED.into(), n(cursor.started_ms));
        item.insert(a::FULL_OFFSET.into(), n(cursor.offset as i64));
        if let Some(after) = &cursor.after {
            item.insert(a::FULL_AFTER.into(), AttributeValue::S(after.clone()));
        }
    }
    put_directory_item(client, names, item).await
}
