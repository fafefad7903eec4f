//! Single-item reads and writes of the operators' tool: users, settings and sessions, each
//! under the condition that keeps an operator's mistake from clobbering someone else's data.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::items::{
    attr, directory_key, read_session, read_settings, read_user, session_item, settings_item, sk,
    string_list, user_item, Item, MalformedItem,
};
use super::{succeeded_unless, StoreOpError};
use crate::domain::identity::{Session, TenantSettings, User};

async fn get_directory_item(
    client: &Client,
    table: &str,
    tenant: &str,
    sort_key: String,
) -> Result<Option<Item>, StoreOpError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(directory_key(tenant, &sort_key)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| StoreOpError::call("GetItem", table, e))?;
    Ok(out.item)
}

pub async fn get_user(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    user_id: &str,
) -> Result<Option<User>, StoreOpError> {
    let key = format!("{tenant}/{}", sk::user(user_id));
    match get_directory_item(client, directory_table, tenant, sk::user(user_id)).await? {
        Some(item) => Ok(Some(read_user(&item, &key)?)),
        None => Ok(None),
    }
}

pub async fn get_settings(
    client: &Client,
    directory_table: &str,
    tenant: &str,
) -> Result<Option<TenantSettings>, StoreOpError> {
    let key = format!("{tenant}/{}", sk::SETTINGS);
    match get_directory_item(client, directory_table, tenant, sk::SETTINGS.to_string()).await? {
        Some(item) => Ok(Some(read_settings(&item, &key)?)),
        None => Ok(None),
    }
}

pub async fn put_user(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    user: &User,
) -> Result<(), StoreOpError> {
    client
        .put_item()
        .table_name(directory_table)
        .set_item(Some(user_item(tenant, user)))
        .send()
        .await
        .map_err(|e| StoreOpError::call("PutItem", directory_table, e))?;
    Ok(())
}

/// Puts the settings; with `only_if_absent`, existing settings win. Returns whether it wrote.
pub async fn put_settings(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    settings: &TenantSettings,
    only_if_absent: bool,
) -> Result<bool, StoreOpError> {
    let mut put = client
        .put_item()
        .table_name(directory_table)
        .set_item(Some(settings_item(tenant, settings)));
    if only_if_absent {
        put = put.condition_expression("attribute_not_exists(#sk)");
        put = put.expression_attribute_names("#sk", attr::SK);
    }
    // Without `only_if_absent` there is no condition, so a refusal can only mean "present".
    succeeded_unless(put.send().await, |e| {
        e.is_conditional_check_failed_exception()
    })
    .map_err(|e| StoreOpError::call("PutItem", directory_table, e))
}

/// Replaces a user's roles, leaving the rest of the item alone. `Ok(false)`: no such user.
pub async fn set_roles(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    user_id: &str,
    roles: &[String],
) -> Result<bool, StoreOpError> {
    let result = client
        .update_item()
        .table_name(directory_table)
        .set_key(Some(directory_key(tenant, &sk::user(user_id))))
        .update_expression("SET #roles = :roles")
        .condition_expression("attribute_exists(#sk)")
        .expression_attribute_names("#roles", attr::ROLES)
        .expression_attribute_names("#sk", attr::SK)
        .expression_attribute_values(":roles", string_list(roles))
        .send()
        .await;
    succeeded_unless(result, |e| e.is_conditional_check_failed_exception())
        .map_err(|e| StoreOpError::call("UpdateItem", directory_table, e))
}

/// Stores a session unless its token hash already belongs to a different user or tenant
/// (re-minting a fixed token for the same user refreshes it). `Ok(false)`: taken by another.
pub async fn put_session(
    client: &Client,
    sessions_table: &str,
    token_hash: &str,
    session: &Session,
    expires_at_s: i64,
) -> Result<bool, StoreOpError> {
    let result = client
        .put_item()
        .table_name(sessions_table)
        .set_item(Some(session_item(token_hash, session, expires_at_s)))
        .condition_expression(
            "attribute_not_exists(#hash) OR (#tenant = :tenant AND #user = :user)",
        )
        .expression_attribute_names("#hash", attr::TOKEN_HASH)
        .expression_attribute_names("#tenant", attr::TENANT)
        .expression_attribute_names("#user", attr::USER_ID)
        .expression_attribute_values(":tenant", AttributeValue::S(session.tenant.clone()))
        .expression_attribute_values(":user", AttributeValue::S(session.user_id.clone()))
        .send()
        .await;
    succeeded_unless(result, |e| e.is_conditional_check_failed_exception())
        .map_err(|e| StoreOpError::call("PutItem", sessions_table, e))
}

/// Deletes the session stored under `token_hash`; the session it was, if there was one.
pub async fn delete_session(
    client: &Client,
    sessions_table: &str,
    token_hash: &str,
) -> Result<Option<Session>, StoreOpError> {
    let out = client
        .delete_item()
        .table_name(sessions_table)
        .key(attr::TOKEN_HASH, AttributeValue::S(token_hash.to_string()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(|e| StoreOpError::call("DeleteItem", sessions_table, e))?;
    // Named "session", never by its hash: the hash is what a stolen token looks up.
    Ok(out
        .attributes
        .map(|item| read_session(&item, "session"))
        .transpose()?)
}

/// The token hashes of every session of one user. Sessions are keyed by token hash only, so
/// this scans the table: an operator's occasional clean-up, not a request path.
pub async fn session_hashes_of(
    client: &Client,
    sessions_table: &str,
    tenant: &str,
    user_id: &str,
) -> Result<Vec<String>, StoreOpError> {
    let items: Vec<Item> = client
        .scan()
        .table_name(sessions_table)
        .filter_expression("#tenant = :tenant AND #user = :user")
        .expression_attribute_names("#tenant", attr::TENANT)
        .expression_attribute_names("#user", attr::USER_ID)
        .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
        .expression_attribute_values(":user", AttributeValue::S(user_id.to_string()))
        .projection_expression("#hash")
        .expression_attribute_names("#hash", attr::TOKEN_HASH)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| StoreOpError::call("Scan", sessions_table, e))?;
    items
        .iter()
        .map(|item| match item.get(attr::TOKEN_HASH) {
            Some(AttributeValue::S(hash)) => Ok(hash.clone()),
            _ => Err(MalformedItem {
                key: "session".into(),
                problem: format!("{} is not a string", attr::TOKEN_HASH),
            }
            .into()),
        })
        .collect()
}
