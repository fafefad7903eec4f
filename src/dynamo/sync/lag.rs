//! The fan-out's reads for each tenant's freshness: when each connected tenant was connected,
//! and when its last complete cycle started (template.yaml allows the fan-out no other
//! attributes, so both reads project only the keys and the one attribute).

use crate::dynamo::query::each_page;
use aws_sdk_dynamodb::types::builders::KeysAndAttributesBuilder;
use aws_sdk_dynamodb::Client;

use super::{attr as a, call, s, CONNECTIONS_PK, STATE_SK};
use crate::config::TableNames;
use crate::dynamo::batch_get::batch_get;
use crate::dynamo::items::{attr, directory_key, Item, Reader};
use crate::dynamo::StoreError;

/// Every connected tenant and when it was connected (`None` when unreadable; a malformed
/// connection is the fan-out's to report, the rest are measured).
pub async fn connected_tenants(
    client: &Client,
    names: &TableNames,
) -> Result<Vec<(String, Option<i64>)>, StoreError> {
    let table = &names.directory;
    let request = client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk")
        .projection_expression("#pk, #sk, #at")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#sk", attr::SK)
        .expression_attribute_names("#at", a::CONNECTED_AT)
        .expression_attribute_values(":pk", s(CONNECTIONS_PK));
    let mut connected: Vec<(String, Option<i64>)> = Vec::new();
    each_page(request, call("Query", table), |page| {
        for item in &page {
            let r = Reader::new(item, "#SYNC connection");
            if let Ok(tenant) = r.str(attr::SK) {
                connected.push((
                    tenant.to_string(),
                    r.opt_number(a::CONNECTED_AT).ok().flatten(),
                ));
            }
        }
        Ok(())
    })
    .await?;
    Ok(connected)
}

/// `(tenant, lastCompleteStartedAt)` of the sync state items of `tenants` (those that have one).
pub async fn last_complete(
    client: &Client,
    names: &TableNames,
    tenants: impl Iterator<Item = &str>,
) -> Result<Vec<(String, Option<i64>)>, StoreError> {
    let table = &names.directory;
    let keys: Vec<Item> = tenants.map(|t| directory_key(t, STATE_SK)).collect();
    let projected = |keys: KeysAndAttributesBuilder| {
        keys.projection_expression("#pk, #sk, #done")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#sk", attr::SK)
            .expression_attribute_names("#done", a::LAST_COMPLETE)
    };
    let items = batch_get(client, table, keys, projected)
        .await
        .map_err(|e| e.on(table))?;
    let mut found = Vec::new();
    for item in &items {
        let r = Reader::new(item, "sync state");
        if let Ok(tenant) = r.str(attr::PK) {
            found.push((
                tenant.to_string(),
                r.opt_number(a::LAST_COMPLETE).ok().flatten(),
            ));
        }
    }
    Ok(found)
}
