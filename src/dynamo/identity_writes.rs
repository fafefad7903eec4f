//! Identity reads and writes outside the request path: users, settings and sessions, for the
//! operators' tool, the import and the sync, each under the condition that keeps a mistake from
//! clobbering someone else's data.

use crate::dynamo::batch_get::{batch_get, consistent};
use crate::dynamo::query::all_items;
use crate::dynamo::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::config::TableNames;
use crate::domain::identity::{Session, TenantSettings, User};
use crate::dynamo::items::{
    attr, directory_key, read_session, read_settings, read_user, session_item, settings_item, sk,
    string_list, user_item, Item, Reader,
};
use crate::dynamo::{succeeded_unless, StoreError};

async fn get_directory_item(
    client: &Client,
    table: &str,
    tenant: &str,
    sort_key: String,
) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(directory_key(tenant, &sort_key)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| StoreError::call("GetItem", table, e))?;
    Ok(out.item)
}

pub async fn get_user(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    user_id: &str,
) -> Result<Option<User>, StoreError> {
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
) -> Result<Option<TenantSettings>, StoreError> {
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
) -> Result<(), StoreError> {
    client
        .put_item()
        .table_name(directory_table)
        .set_item(Some(user_item(tenant, user)))
        .send()
        .await
        .map_err(|e| StoreError::call("PutItem", directory_table, e))?;
    Ok(())
}

/// Puts the settings; with `only_if_absent`, existing settings win. Returns whether it wrote.
pub async fn put_settings(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    settings: &TenantSettings,
    only_if_absent: bool,
) -> Result<bool, StoreError> {
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
    .map_err(|e| StoreError::call("PutItem", directory_table, e))
}

/// Replaces a user's roles, leaving the rest of the item alone. `Ok(false)`: no such user.
pub async fn set_roles(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    user_id: &str,
    roles: &[String],
) -> Result<bool, StoreError> {
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
        .map_err(|e| StoreError::call("UpdateItem", directory_table, e))
}

/// Stores a session unless its token hash already belongs to a different user or tenant
/// (re-minting a fixed token for the same user refreshes it). `Ok(false)`: taken by another.
pub async fn put_session(
    client: &Client,
    sessions_table: &str,
    token_hash: &str,
    session: &Session,
    expires_at_s: i64,
) -> Result<bool, StoreError> {
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
        .map_err(|e| StoreError::call("PutItem", sessions_table, e))
}

/// Deletes the session stored under `token_hash`; the session it was, if there was one.
pub async fn delete_session(
    client: &Client,
    sessions_table: &str,
    token_hash: &str,
) -> Result<Option<Session>, StoreError> {
    let out = client
        .delete_item()
        .table_name(sessions_table)
        .key(attr::TOKEN_HASH, AttributeValue::S(token_hash.to_string()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(|e| StoreError::call("DeleteItem", sessions_table, e))?;
    // Named "session", never by its hash: the hash is what a stolen token looks up.
    Ok(out
        .attributes
        .map(|item| read_session(&item, "session"))
        .transpose()?)
}

/// A session as the index names it: its key and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    pub token_hash: String,
    pub user_id: String,
}

/// The sessions of a tenant, or of one of its users, through the sessions table's index by
/// (tenant, user id) (`TableNames::sessions_by_user_index`, keys only): a query, never a scan. The index is eventually consistent; a session written a moment ago
/// may be missing (the import and the tools write sessions last, after revoking).
pub async fn sessions_of(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    user_id: Option<&str>,
) -> Result<Vec<SessionKey>, StoreError> {
    let sessions_table = &names.sessions;
    let mut query = client
        .query()
        .table_name(sessions_table)
        .index_name(&names.sessions_by_user_index)
        .expression_attribute_names("#tenant", attr::TENANT)
        .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()));
    query = match user_id {
        Some(user) => query
            .key_condition_expression("#tenant = :tenant AND #user = :user")
            .expression_attribute_names("#user", attr::USER_ID)
            .expression_attribute_values(":user", AttributeValue::S(user.to_string())),
        None => query.key_condition_expression("#tenant = :tenant"),
    };
    let items = all_items(query, |e| StoreError::call("Query", sessions_table, e)).await?;
    items
        .iter()
        .map(|item| {
            let r = Reader::new(item, "session");
            Ok(SessionKey {
                token_hash: r.str(attr::TOKEN_HASH)?.to_string(),
                user_id: r.str(attr::USER_ID)?.to_string(),
            })
        })
        .collect()
}

/// Deletes a session only while it is still this tenant's user's. `Ok(false)`: it was not.
pub async fn delete_session_of(
    client: &Client,
    sessions_table: &str,
    token_hash: &str,
    tenant: &str,
    user_id: &str,
) -> Result<bool, StoreError> {
    let result = client
        .delete_item()
        .table_name(sessions_table)
        .key(attr::TOKEN_HASH, AttributeValue::S(token_hash.to_string()))
        .condition_expression("#tenant = :tenant AND #user = :user")
        .expression_attribute_names("#tenant", attr::TENANT)
        .expression_attribute_names("#user", attr::USER_ID)
        .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
        .expression_attribute_values(":user", AttributeValue::S(user_id.to_string()))
        .send()
        .await;
    succeeded_unless(result, |e| e.is_conditional_check_failed_exception())
        .map_err(|e| StoreError::call("DeleteItem", sessions_table, e))
}

/// Whose sessions these token hashes already are: `(hash, tenant, user id)` of each that
/// exists. Consistent reads, 100 keys a call.
pub async fn session_owners(
    client: &Client,
    sessions_table: &str,
    hashes: &[String],
) -> Result<Vec<(String, String, String)>, StoreError> {
    let keys = hashes
        .iter()
        .map(|h| Item::from([(attr::TOKEN_HASH.to_string(), AttributeValue::S(h.clone()))]))
        .collect();
    let items = batch_get(client, sessions_table, keys, consistent)
        .await
        .map_err(|e| e.on(sessions_table))?;
    let mut owners = Vec::new();
    for item in &items {
        let r = Reader::new(item, "session");
        owners.push((
            r.str(attr::TOKEN_HASH)?.to_string(),
            r.str(attr::TENANT)?.to_string(),
            r.str(attr::USER_ID)?.to_string(),
        ));
    }
    Ok(owners)
}

/// The attribute that marks a user item as the sync's (written from Rocket.Chat's listing, so
/// the sync's full listing may remove it); an operator's `add-user` or `import` clears it.
use super::sync::attr::MANAGED_BY;
use super::sync::MANAGED_BY_SYNC;

/// Who writes a user item: it decides whether the sync may later remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOwner {
    /// An operator (`add-user`, `import`): the sync never prunes it.
    Operator,
    /// The sync, from Rocket.Chat's users listing.
    Sync,
}

/// Puts a user as an operator's, keeping its generation when the item exists and giving it a
/// new one when it does not (so a user deleted and created again never matches its old
/// sessions). Returns the generation the user has now.
pub async fn put_user_keeping_generation(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    user: &User,
) -> Result<String, StoreError> {
    put_owned_user(client, directory_table, tenant, user, UserOwner::Operator).await
}

/// [`put_user_keeping_generation`], marking (`Sync`) or unmarking (`Operator`) the item as the
/// sync's.
pub async fn put_owned_user(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    user: &User,
    owner: UserOwner,
) -> Result<String, StoreError> {
    let mut update = client
        .update_item()
        .table_name(directory_table)
        .set_key(Some(directory_key(tenant, &sk::user(&user.id))))
        .expression_attribute_names("#id", attr::USER_ID)
        .expression_attribute_names("#name", attr::USERNAME)
        .expression_attribute_names("#roles", attr::ROLES)
        .expression_attribute_names("#offset", attr::UTC_OFFSET)
        .expression_attribute_names("#gen", attr::GENERATION)
        .expression_attribute_names("#managed", MANAGED_BY)
        .expression_attribute_values(":id", AttributeValue::S(user.id.clone()))
        .expression_attribute_values(":name", AttributeValue::S(user.username.clone()))
        .expression_attribute_values(":roles", string_list(&user.roles))
        .expression_attribute_values(":gen", AttributeValue::S(new_generation()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
    let mut set = "SET #id = :id, #name = :name, #roles = :roles, #gen = if_not_exists(#gen, :gen)"
        .to_string();
    let mut remove = Vec::new();
    match user_item(tenant, user).remove(attr::UTC_OFFSET) {
        Some(offset) => {
            set.push_str(", #offset = :offset");
            update = update.expression_attribute_values(":offset", offset);
        }
        None => remove.push("#offset"),
    }
    match owner {
        UserOwner::Sync => {
            set.push_str(", #managed = :managed");
            update = update.expression_attribute_values(
                ":managed",
                AttributeValue::S(MANAGED_BY_SYNC.to_string()),
            );
        }
        UserOwner::Operator => remove.push("#managed"),
    }
    update = if remove.is_empty() {
        update.update_expression(set)
    } else {
        update.update_expression(format!("{set} REMOVE {}", remove.join(", ")))
    };
    let out = update
        .send()
        .await
        .map_err(|e| StoreError::call("UpdateItem", directory_table, e))?;
    let key = format!("{tenant}/USER#…");
    let item = out.attributes.unwrap_or_default();
    Ok(Reader::new(&item, &key).str(attr::GENERATION)?.to_string())
}

/// A fresh user generation: 128 random bits, hex.
fn new_generation() -> String {
    use rand::Rng;
    format!("{:032x}", rand::rng().random::<u128>())
}

/// Deletes a user's item. `Ok(false)`: there was none.
pub async fn delete_user(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    user_id: &str,
) -> Result<bool, StoreError> {
    let out = client
        .delete_item()
        .table_name(directory_table)
        .set_key(Some(directory_key(tenant, &sk::user(user_id))))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(|e| StoreError::call("DeleteItem", directory_table, e))?;
    Ok(out.attributes.is_some())
}

/// Deletes a user's item only while the sync manages it (an operator's `add-user` since then
/// keeps it). `Ok(false)`: not there, or not the sync's.
pub async fn delete_synced_user(
    client: &Client,
    directory_table: &str,
    tenant: &str,
    user_id: &str,
) -> Result<bool, StoreError> {
    let result = client
        .delete_item()
        .table_name(directory_table)
        .set_key(Some(directory_key(tenant, &sk::user(user_id))))
        .condition_expression("#managed = :managed")
        .expression_attribute_names("#managed", MANAGED_BY)
        .expression_attribute_values(":managed", AttributeValue::S(MANAGED_BY_SYNC.to_string()))
        .send()
        .await;
    succeeded_unless(result, |e| e.is_conditional_check_failed_exception())
        .map_err(|e| StoreError::call("DeleteItem", directory_table, e))
}

/// Deletes every session of one user, found through [`sessions_of`] (no scan);
/// returns how many it deleted. Delete the user item first: from then on no session of the
/// user admits anyone, even one the index does not show yet.
pub async fn end_sessions(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    user_id: &str,
) -> Result<usize, StoreError> {
    let sessions_table = &names.sessions;
    let mut count = 0;
    for key in sessions_of(client, names, tenant, Some(user_id)).await? {
        if delete_session_of(client, sessions_table, &key.token_hash, tenant, user_id).await? {
            count += 1;
        }
    }
    Ok(count)
}

/// The ids of every user of a tenant (one query of its directory partition).
pub async fn user_ids_of(
    client: &Client,
    directory_table: &str,
    tenant: &str,
) -> Result<Vec<String>, StoreError> {
    let request = client
        .query()
        .table_name(directory_table)
        .key_condition_expression("#pk = :pk AND begins_with(#sk, :user)")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#sk", attr::SK)
        .expression_attribute_values(":pk", AttributeValue::S(tenant.to_string()))
        .expression_attribute_values(":user", AttributeValue::S(sk::user("")))
        .projection_expression("#sk")
        .consistent_read(true);
    let items = all_items(request, |e| StoreError::call("Query", directory_table, e)).await?;
    items
        .iter()
        .map(|item| {
            let sort = Reader::new(item, tenant).str(attr::SK)?;
            Ok(sort.strip_prefix("USER#").unwrap_or(sort).to_string())
        })
        .collect()
}
