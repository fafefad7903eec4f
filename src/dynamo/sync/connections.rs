//! A tenant's connection: one item of the shared partition `pk = "#SYNC"`, `sk = tenant`.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{attr as a, call, get_directory_item, n, put_directory_item, s, CONNECTIONS_PK};
use crate::config::TableNames;
use crate::dynamo::items::{attr, directory_key, Item, MalformedItem, Reader};
use crate::dynamo::StoreError;

/// A connected tenant: where its Rocket.Chat is, as whom the sync reads it, and the Secrets
/// Manager secret holding that account's personal access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub tenant: String,
    pub url: String,
    pub user_id: String,
    pub secret_arn: String,
}

pub async fn put_connection(
    client: &Client,
    names: &TableNames,
    c: &Connection,
    now_ms: i64,
) -> Result<(), StoreError> {
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
) -> Result<bool, StoreError> {
    let out = client
        .delete_item()
        .table_name(&names.directory)
        .set_key(Some(directory_key(CONNECTIONS_PK, tenant)))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(call("DeleteItem", &names.directory))?;
    super::state::delete_state(client, names, tenant).await?;
    Ok(out.attributes.is_some())
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
) -> Result<Option<Connection>, StoreError> {
    let item = get_directory_item(client, names, directory_key(CONNECTIONS_PK, tenant)).await?;
    Ok(item.as_ref().map(read_connection).transpose()?)
}

/// Every connected tenant, a page at a time. A malformed item is logged (by its key) and
/// skipped, never the end of the listing: returns `(connections, malformed items)`.
pub async fn for_each_connection(
    client: &Client,
    names: &TableNames,
    mut each: impl AsyncFnMut(Connection) -> Result<(), StoreError>,
) -> Result<(u64, u64), StoreError> {
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
