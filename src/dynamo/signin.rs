//! Sign-in's items in the directory table (see `docs/data-model.md`, "Sign-in"):
//!
//! - a host: `pk = "#DOMAIN"`, `sk = host` (lower-case, no port, no trailing dot), `tenant`;
//!   a wildcard `sk = "*.suffix"` has no `tenant` (its first label names the tenant). One
//!   partition, so `list-domains` is one paged Query (a tenant id never starts with `#`);
//! - a tenant's sign-in connection: `pk = tenant`, `sk = "SIGNIN"`, `url`, `connectedAt`.
//!
//! The request path reads them (`host_mapping`, `tenant_sign_in`); only the admin tool writes.

use crate::dynamo::batch_get::eventual;
use crate::dynamo::query::each_page;

use crate::dynamo::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use crate::domain::host::{DomainEntry, HostMapping};
use crate::domain::identity::{TenantSignIn, VIEW_LIVECHAT_MANAGER};
use crate::dynamo::items::{self, attr, directory_key, sk, Item, Reader};
use crate::dynamo::{ReadError, StoreError};

pub const DOMAINS_PK: &str = "#DOMAIN";
pub const SIGNIN_SK: &str = "SIGNIN";
pub const URL: &str = "url";
pub const CONNECTED_AT: &str = "connectedAt";

/// Directory items by key, eventually consistent (a sign-in mapping may lag a write by a second).
async fn batch_get(client: &Client, table: &str, keys: Vec<Item>) -> Result<Vec<Item>, ReadError> {
    Ok(crate::dynamo::batch_get::batch_get(client, table, keys, eventual).await?)
}

fn sort_key(item: &Item) -> Option<&str> {
    match item.get(attr::SK) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// The exact entry of `exact` and whether the wildcard entry `wildcard` exists: one read.
pub async fn host_mapping(
    client: &Client,
    table: &str,
    exact: &str,
    wildcard: Option<&str>,
) -> Result<HostMapping, ReadError> {
    let mut keys = vec![directory_key(DOMAINS_PK, exact)];
    if let Some(w) = wildcard {
        keys.push(directory_key(DOMAINS_PK, w));
    }
    let mut mapping = HostMapping::default();
    for item in batch_get(client, table, keys).await? {
        match sort_key(&item) {
            Some(s) if s == exact => {
                let r = Reader::new(&item, "#DOMAIN entry");
                mapping.exact = Some(r.str(attr::TENANT)?.to_string());
            }
            Some(s) if Some(s) == wildcard => mapping.wildcard = true,
            _ => {}
        }
    }
    Ok(mapping)
}

/// The tenant's sign-in connection, settings and `view-livechat-manager` override: one read.
pub async fn tenant_sign_in(
    client: &Client,
    table: &str,
    tenant: &str,
) -> Result<TenantSignIn, ReadError> {
    let permission_sk = sk::permission(VIEW_LIVECHAT_MANAGER);
    let keys = vec![
        directory_key(tenant, SIGNIN_SK),
        directory_key(tenant, sk::SETTINGS),
        directory_key(tenant, &permission_sk),
    ];
    let mut out = TenantSignIn::default();
    for item in batch_get(client, table, keys).await? {
        let Some(sort) = sort_key(&item) else {
            continue;
        };
        let key = format!("{tenant}/{sort}");
        if sort == SIGNIN_SK {
            out.url = Some(Reader::new(&item, &key).str(URL)?.to_string());
        } else if sort == sk::SETTINGS {
            out.settings = items::read_settings(&item, &key)?;
        } else if sort == permission_sk {
            out.view_livechat_manager_roles =
                Some(Reader::new(&item, &key).string_list(attr::ROLES)?);
        }
    }
    Ok(out)
}

// --- The admin tool's writes -------------------------------------------------------------------

fn call<'t, E>(operation: &'static str, table: &'t str) -> impl FnOnce(E) -> StoreError + 't
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::call(operation, table, e)
}

/// A host (or wildcard) and the tenant it names (`None`: a wildcard, the first label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainItem {
    pub domain: String,
    pub tenant: Option<String>,
}

/// Puts `entry` for `tenant` unless another tenant holds it: `Ok(None)` when written (or
/// already this tenant's), `Ok(Some(holder))` when refused. A wildcard holds for nobody.
pub async fn put_domain(
    client: &Client,
    table: &str,
    entry: &DomainEntry,
    tenant: Option<&str>,
    now_ms: i64,
) -> Result<Option<DomainItem>, StoreError> {
    let mut item = directory_key(DOMAINS_PK, entry.key());
    if let Some(t) = tenant {
        item.insert(attr::TENANT.into(), AttributeValue::S(t.to_string()));
    }
    item.insert(CONNECTED_AT.into(), AttributeValue::N(now_ms.to_string()));
    let mut put = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .expression_attribute_names("#pk", attr::PK);
    put = match tenant {
        Some(t) => put
            .condition_expression("attribute_not_exists(#pk) OR #tenant = :tenant")
            .expression_attribute_names("#tenant", attr::TENANT)
            .expression_attribute_values(":tenant", AttributeValue::S(t.to_string())),
        None => put
            .condition_expression("attribute_not_exists(#pk) OR attribute_not_exists(#tenant)")
            .expression_attribute_names("#tenant", attr::TENANT),
    };
    match put.send().await {
        Ok(_) => Ok(None),
        Err(e) => {
            let holder = e.as_service_error().and_then(|s| match s {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                    Some(c.item().map(read_domain).unwrap_or(Ok(DomainItem {
                        domain: entry.key().to_string(),
                        tenant: None,
                    })))
                }
                _ => None,
            });
            match holder {
                Some(h) => Ok(Some(h?)),
                None => Err(call("PutItem", table)(e)),
            }
        }
    }
}

fn read_domain(item: &Item) -> Result<DomainItem, items::MalformedItem> {
    let r = Reader::new(item, "#DOMAIN entry");
    Ok(DomainItem {
        domain: r.str(attr::SK)?.to_string(),
        tenant: r.opt_str(attr::TENANT)?.map(str::to_string),
    })
}

/// The entry stored under `key`, strongly consistent.
pub async fn get_domain(
    client: &Client,
    table: &str,
    key: &str,
) -> Result<Option<DomainItem>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(directory_key(DOMAINS_PK, key)))
        .consistent_read(true)
        .send()
        .await
        .map_err(call("GetItem", table))?;
    Ok(out.item.as_ref().map(read_domain).transpose()?)
}

/// Deletes the entry; returns what it was.
pub async fn delete_domain(
    client: &Client,
    table: &str,
    key: &str,
) -> Result<Option<DomainItem>, StoreError> {
    let out = client
        .delete_item()
        .table_name(table)
        .set_key(Some(directory_key(DOMAINS_PK, key)))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(call("DeleteItem", table))?;
    Ok(out.attributes.as_ref().map(read_domain).transpose()?)
}

/// Every entry, a page at a time, in key order.
pub async fn list_domains(client: &Client, table: &str) -> Result<Vec<DomainItem>, StoreError> {
    let request = client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_values(":pk", AttributeValue::S(DOMAINS_PK.into()))
        .consistent_read(true);
    let mut all = Vec::new();
    each_page(request, call("Query", table), |page| {
        for item in &page {
            all.push(read_domain(item)?);
        }
        Ok(())
    })
    .await?;
    Ok(all)
}

/// Stores (or replaces) the tenant's sign-in connection.
pub async fn put_sign_in(
    client: &Client,
    table: &str,
    tenant: &str,
    url: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut item = directory_key(tenant, SIGNIN_SK);
    item.insert(URL.into(), AttributeValue::S(url.to_string()));
    item.insert(CONNECTED_AT.into(), AttributeValue::N(now_ms.to_string()));
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(call("PutItem", table))?;
    Ok(())
}

/// Removes the tenant's sign-in connection; `false` when there was none.
pub async fn delete_sign_in(
    client: &Client,
    table: &str,
    tenant: &str,
) -> Result<bool, StoreError> {
    let out = client
        .delete_item()
        .table_name(table)
        .set_key(Some(directory_key(tenant, SIGNIN_SK)))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(call("DeleteItem", table))?;
    Ok(out.attributes.is_some())
}
