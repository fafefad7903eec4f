//! The request path's identity reads: the warm-up, a session by its token hash, and a caller's
//! user, settings and permission override in one BatchGetItem.

use aws_sdk_dynamodb::types::AttributeValue;

use super::batch_get::{batch_get, eventual};
use super::items::{self, attr, sk, Item, Reader};
use super::{classify, Client, ReadError};
use crate::domain::identity::{CallerContext, Session, TenantSettings, VIEW_LIVECHAT_MANAGER};

/// Opens (or keeps open) the connection to DynamoDB with one cheap read of `sessions`.
pub async fn warm_up(client: &Client, sessions: &str) -> Result<(), ReadError> {
    client
        .get_item()
        .table_name(sessions)
        .key(attr::TOKEN_HASH, AttributeValue::S("warm-up".into()))
        .projection_expression("#k")
        .expression_attribute_names("#k", attr::TOKEN_HASH)
        .send()
        .await
        .map_err(classify)?;
    Ok(())
}

/// The session stored under `token_hash`, if any.
pub async fn session(
    client: &Client,
    sessions: &str,
    token_hash: &str,
) -> Result<Option<Session>, ReadError> {
    let out = client
        .get_item()
        .table_name(sessions)
        .key(attr::TOKEN_HASH, AttributeValue::S(token_hash.to_string()))
        .send()
        .await
        .map_err(classify)?;
    // The key in errors is the table, never the token hash.
    out.item()
        .map(|item| items::read_session(item, "session"))
        .transpose()
        .map_err(ReadError::from)
}

/// The caller's user, the tenant's settings and its permission override, in one read.
pub async fn caller(
    client: &Client,
    directory: &str,
    tenant: &str,
    user_id: &str,
) -> Result<CallerContext, ReadError> {
    let user_sk = sk::user(user_id);
    let permission_sk = sk::permission(VIEW_LIVECHAT_MANAGER);
    let keys = vec![
        items::directory_key(tenant, &user_sk),
        items::directory_key(tenant, sk::SETTINGS),
        items::directory_key(tenant, &permission_sk),
    ];
    let found = batch_get(client, directory, keys, eventual).await?;
    let logged = items::user_key_for_logs(tenant, user_id);
    read_caller(tenant, &found, (&user_sk, &logged), &permission_sk)
}

/// `user_key_for_logs` names the user's item in errors without its user id (see
/// [`items::user_key_for_logs`]).
fn read_caller(
    tenant: &str,
    found: &[Item],
    (user_sk, user_key_for_logs): (&str, &str),
    permission_sk: &str,
) -> Result<CallerContext, ReadError> {
    let mut ctx = CallerContext {
        user: None,
        settings: TenantSettings::default(),
        view_livechat_manager_roles: None,
    };
    for item in found {
        let sort = match item.get(attr::SK) {
            Some(AttributeValue::S(s)) => s.as_str(),
            _ => continue,
        };
        if sort == user_sk {
            ctx.user = Some(items::read_user(item, user_key_for_logs)?);
            continue;
        }
        let key = format!("{tenant}/{sort}");
        if sort == sk::SETTINGS {
            ctx.settings = items::read_settings(item, &key)?;
        } else if sort == permission_sk {
            ctx.view_livechat_manager_roles =
                Some(Reader::new(item, &key).string_list(attr::ROLES)?);
        }
    }
    Ok(ctx)
}
