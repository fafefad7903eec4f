//! Reading rollup items (a figure's tallies of a scope and UTC day): a span's items of one
//! figure and scope by day (the request path's coverage-checked read,
//! `rollups::read`), and every item of a day's scopes by key (what `verify-rollups`
//! compares).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;

use super::batch_get::{batch_get, consistent};
use super::items::{self, attr, fold_rollup_item, rollup_pk, rollup_sk, Item, MalformedItem};
use super::query::{each_page, query_between};
use super::{classify, ReadError, StoreError};
use crate::domain::aggregate::Aggregator;
use crate::domain::figure::Figure;
use crate::domain::rollup::Scope;

/// The `figure`'s rollup items of `first..=last` for `tenant`'s `scope`, by day; and the pages
/// read. Eventually consistent (half the read units): a stale replica shows only an older item,
/// which has another version than the state's `built` or, for an unlisted department, is a
/// tombstone or read raw (see [`crate::domain::day_state::covers`]).
pub async fn tallies_by_day(
    client: &Client,
    table: &str,
    (tenant, figure, scope): (&str, Figure, &Scope),
    (first, last): (NaiveDate, NaiveDate),
    page_limit: Option<i32>,
) -> Result<(BTreeMap<NaiveDate, Item>, u64), ReadError> {
    let sort_keys = (rollup_sk(figure, first), rollup_sk(figure, last));
    let request = query_between(client, table, rollup_pk(tenant, scope), sort_keys)
        .expression_attribute_names("#tallies", attr::TALLIES)
        .expression_attribute_names("#version", attr::VERSION)
        .projection_expression("#pk, #sk, #tallies, #version")
        .set_limit(page_limit);
    let mut by_day = BTreeMap::new();
    let requests = each_page(request, classify, |page| {
        for item in page {
            let day = match item.get(attr::SK) {
                Some(AttributeValue::S(sk)) => items::day_of_sk(sk),
                _ => None,
            };
            let day = day.ok_or_else(|| items::MalformedItem {
                key: items::rollup_key(&item),
                problem: "sk is not {figure}#YYYY-MM-DD".into(),
            })?;
            by_day.insert(day, item);
        }
        Ok(())
    })
    .await?;
    Ok((by_day, requests))
}

/// Every stored rollup item of `tenant`'s `scopes` on `day` (strongly consistent):
/// `(scope, figure)` → tallies and the item's version.
pub async fn stored_tallies(
    client: &Client,
    table: &str,
    tenant: &str,
    day: NaiveDate,
    scopes: impl Iterator<Item = Scope>,
) -> Result<BTreeMap<(Scope, Figure), (Aggregator, Option<u64>)>, StoreError> {
    let keys: Vec<Item> = scopes
        .flat_map(|scope| {
            Figure::ALL.into_iter().map(move |figure| {
                Item::from([
                    (
                        attr::PK.to_string(),
                        AttributeValue::S(rollup_pk(tenant, &scope)),
                    ),
                    (
                        attr::SK.to_string(),
                        AttributeValue::S(rollup_sk(figure, day)),
                    ),
                ])
            })
        })
        .collect();
    let found = batch_get(client, table, keys, consistent)
        .await
        .map_err(|e| e.on(table))?;
    let mut rollups = BTreeMap::new();
    for item in found {
        let scope = scope_of_pk(tenant, &item)?;
        let figure = figure_of_sk(&item)?;
        let mut agg = Aggregator::new(figure);
        fold_rollup_item(&mut agg, &item)?;
        rollups.insert((scope, figure), (agg, items::rollup_version(&item)?));
    }
    Ok(rollups)
}

fn scope_of_pk(tenant: &str, item: &Item) -> Result<Scope, MalformedItem> {
    let key = items::rollup_key(item);
    let r = items::Reader::new(item, &key);
    let pk = r.str(attr::PK)?;
    match pk.strip_prefix(tenant) {
        Some("#ALL") => Ok(Scope::All),
        Some(rest) => rest
            .strip_prefix("#D#")
            .map(|d| Scope::Department(d.to_string()))
            .ok_or_else(|| r.malformed("pk is not a rollup scope")),
        None => Err(r.malformed("pk is not of the tenant")),
    }
}

fn figure_of_sk(item: &Item) -> Result<Figure, MalformedItem> {
    let key = items::rollup_key(item);
    let r = items::Reader::new(item, &key);
    let sk = r.str(attr::SK)?;
    Figure::ALL
        .into_iter()
        .find(|f| {
            sk.strip_prefix(f.name())
                .is_some_and(|rest| rest.starts_with('#'))
        })
        .ok_or_else(|| r.malformed("sk names no figure"))
}
