//! The per-day rollup state item and its calls: marks, reads and the `byAttention` index (what
//! the state means and how the rollup engine uses it: `rollups::state` and
//! `docs/data-model.md`, "Rollup state").
//!
//! Item `pk = {tenant}#ALL`, `sk = DAY#YYYY-MM-DD` in the rollups table:
//! - `changed`: bumped by every mark, i.e. after every write of a conversation of that day;
//! - `built`: the `changed` the last complete rebuild covered (the day is clean iff equal);
//! - `pending`: the conversations written since the GSI was last seen to show them as the
//!   table does; a rebuild reads these from the table itself (consistently);
//! - `overflow`: more than [`PENDING_CAP`] were pending, so they are no longer listed;
//! - `departments`: the departments with rollups that day;
//! - `departmentsWritten`: every department a rebuild ever put items for that day (recorded
//!   before the puts), so later rebuilds tombstone them and verify compares them;
//! - `writers`: leases of writers with a write in flight (`{until ms}#{id}`): no rebuild makes
//!   the day clean while one is live;
//! - `attention` + `lastChangeAt`: the sparse `byAttention` index of the reconciliation.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;

use super::items::{self, attr, day_state_sk, rollup_pk, Item, Reader};
use super::query::{each_page, query_between};
use super::{classify, succeeded_unless, ReadError, StoreError};
use crate::domain::day_state::lease_until;
use crate::domain::day_state::DayState;
use crate::domain::rollup::Scope;

/// Conversation keys a state item lists as pending before it only says "overflow" (a DynamoDB
/// item holds 400 KB; a thousand keys of up to ~150 bytes stay well inside).
pub const PENDING_CAP: usize = 1000;

/// Shards of the `byAttention` index's partitions, so a busy import's marks do not all write
/// one index partition.
pub const ATTENTION_SHARDS: u32 = 8;

/// What a mark does to the day's writer leases.
#[derive(Debug, Clone, Copy)]
pub enum LeaseChange<'a> {
    /// A writer is about to write the day: no rebuild may make it clean until released.
    Take(&'a str),
    /// The writer's write is done (the mark lists what it wrote).
    Release(&'a str),
}

/// `DIRTY#n` or `CLEAN#n`: the index partition of a (tenant, day).
pub fn attention(tenant: &str, day: NaiveDate, dirty: bool) -> String {
    // FNV-1a: stable across releases (the std hasher is not).
    let shard = format!("{tenant}/{day}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
        % u64::from(ATTENTION_SHARDS);
    let kind = if dirty { "DIRTY" } else { "CLEAN" };
    format!("{kind}#{shard}")
}

pub fn state_key(tenant: &str, day: NaiveDate) -> Item {
    Item::from([
        (
            attr::PK.to_string(),
            AttributeValue::S(rollup_pk(tenant, &Scope::All)),
        ),
        (attr::SK.to_string(), AttributeValue::S(day_state_sk(day))),
    ])
}

pub fn read_state(item: &Item) -> Result<DayState, items::MalformedItem> {
    let key = items::rollup_key(item);
    let r = Reader::new(item, &key);
    let pending = match item.get(attr::PENDING) {
        Some(AttributeValue::Ss(keys)) => keys.iter().cloned().collect(),
        None => BTreeSet::new(),
        Some(_) => return Err(r.malformed("pending is not a string set")),
    };
    Ok(DayState {
        day: items::day_of_sk(r.str(attr::SK)?),
        changed: r.opt_number(attr::CHANGED)?.unwrap_or(0),
        built: r.opt_number(attr::BUILT)?,
        pending,
        overflow: r.opt_bool(attr::OVERFLOW)?.unwrap_or(false),
        departments: r.string_list(attr::DEPARTMENTS)?,
        written: string_set(item, attr::WRITTEN).map_err(|p| r.malformed(p))?,
        writers: leases(item).map_err(|p| r.malformed(p))?,
        last_change_at: r.opt_number(attr::LAST_CHANGE_AT)?,
    })
}

fn leases(item: &Item) -> Result<BTreeSet<String>, String> {
    let leases = string_set(item, attr::WRITERS)?;
    match leases.iter().find(|l| lease_until(l).is_none()) {
        Some(bad) => Err(format!(
            "writers holds {bad:?}, not a lease {{until ms}}#{{id}}"
        )),
        None => Ok(leases),
    }
}

fn string_set(item: &Item, name: &str) -> Result<BTreeSet<String>, String> {
    match item.get(name) {
        Some(AttributeValue::Ss(values)) => Ok(values.iter().cloned().collect()),
        None => Ok(BTreeSet::new()),
        Some(_) => Err(format!("{name} is not a string set")),
    }
}

/// Records that conversations `pks` of `tenant` changed on `day` (called after the write):
/// bumps `changed`, adds the keys to `pending` (or sets `overflow` when it is full) and puts
/// the day in the reconciliation's index as dirty.
pub async fn mark(
    client: &Client,
    table: &str,
    tenant: &str,
    day: NaiveDate,
    pks: &BTreeSet<String>,
    now_ms: i64,
) -> Result<(), StoreError> {
    mark_with_lease(client, table, tenant, day, pks, None, now_ms).await
}

/// [`mark`], also taking or releasing a writer's lease in the same update (so taking one
/// bumps `changed`: a rebuild that read the state before it cannot record the day built).
pub async fn mark_with_lease(
    client: &Client,
    table: &str,
    tenant: &str,
    day: NaiveDate,
    pks: &BTreeSet<String>,
    lease: Option<LeaseChange<'_>>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let with_lease =
        |u: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
         add: &str| {
            let (add, delete) = match lease {
                None => (add.to_string(), String::new()),
                Some(LeaseChange::Take(_)) => (format!("{add}, #writers :lease"), String::new()),
                Some(LeaseChange::Release(_)) => {
                    (add.to_string(), " DELETE #writers :lease".into())
                }
            };
            let u = match lease {
                Some(LeaseChange::Take(id) | LeaseChange::Release(id)) => u
                    .expression_attribute_names("#writers", attr::WRITERS)
                    .expression_attribute_values(
                        ":lease",
                        AttributeValue::Ss(vec![id.to_string()]),
                    ),
                None => u,
            };
            (u, format!("{add}{delete}"))
        };
    let update = |listed: bool| {
        let mut u = client
            .update_item()
            .table_name(table)
            .set_key(Some(state_key(tenant, day)))
            .expression_attribute_names("#changed", attr::CHANGED)
            .expression_attribute_names("#tenant", attr::TENANT)
            .expression_attribute_names("#attention", attr::ATTENTION)
            .expression_attribute_names("#at", attr::LAST_CHANGE_AT)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.into()))
            .expression_attribute_values(
                ":attention",
                AttributeValue::S(attention(tenant, day, true)),
            )
            .expression_attribute_values(":at", AttributeValue::N(now_ms.to_string()));
        let set = "SET #tenant = :tenant, #attention = :attention, #at = :at";
        if pks.is_empty() {
            // A bump alone: the day is dirty until rebuilt (an operator's repair).
            let (v, tail) = with_lease(u, "ADD #changed :one");
            u = v.update_expression(format!("{set} {tail}"));
        } else if listed {
            let (v, tail) = with_lease(u, "ADD #changed :one, #pending :pks");
            u = v
                .update_expression(format!("{set} {tail}"))
                .condition_expression("attribute_not_exists(#pending) OR size(#pending) < :cap")
                .expression_attribute_names("#pending", attr::PENDING)
                .expression_attribute_values(
                    ":pks",
                    AttributeValue::Ss(pks.iter().cloned().collect()),
                )
                .expression_attribute_values(
                    ":cap",
                    AttributeValue::N((PENDING_CAP - pks.len().min(PENDING_CAP)).to_string()),
                );
        } else {
            let (v, tail) = with_lease(u, "ADD #changed :one");
            u = v
                .update_expression(format!("{set}, #overflow = :true {tail}"))
                .expression_attribute_names("#overflow", attr::OVERFLOW)
                .expression_attribute_values(":true", AttributeValue::Bool(true));
        }
        u
    };
    let listed = succeeded_unless(update(pks.len() <= PENDING_CAP).send().await, |e| {
        e.is_conditional_check_failed_exception()
    })
    .map_err(|e| StoreError::call("UpdateItem", table, e))?;
    if !listed {
        update(false)
            .send()
            .await
            .map_err(|e| StoreError::call("UpdateItem", table, e))?;
    }
    Ok(())
}

/// One day's state, strongly consistent (a rebuild must see every mark made before it).
pub async fn get_state(
    client: &Client,
    table: &str,
    tenant: &str,
    day: NaiveDate,
) -> Result<Option<DayState>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(state_key(tenant, day)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| StoreError::call("GetItem", table, e))?;
    Ok(out.item().map(read_state).transpose()?)
}

/// The states of `first..=last` (one Query; strongly consistent, so a day is trusted only as of
/// its latest mark). Returns the states and the pages read.
pub async fn query_states(
    client: &Client,
    table: &str,
    tenant: &str,
    (first, last): (NaiveDate, NaiveDate),
    page_limit: Option<i32>,
) -> Result<(Vec<DayState>, u64), ReadError> {
    let sort_keys = (day_state_sk(first), day_state_sk(last));
    let request = query_between(client, table, rollup_pk(tenant, &Scope::All), sort_keys)
        .expression_attribute_names("#changed", attr::CHANGED)
        .expression_attribute_names("#built", attr::BUILT)
        .expression_attribute_names("#departments", attr::DEPARTMENTS)
        .projection_expression("#pk, #sk, #changed, #built, #departments")
        .consistent_read(true)
        .set_limit(page_limit);
    let mut states = Vec::new();
    let requests = each_page(request, classify, |page| {
        for item in &page {
            states.push(read_state(item)?);
        }
        Ok(())
    })
    .await?;
    Ok((states, requests))
}

/// Every (tenant, day) the reconciliation should look at: all dirty days, and the clean days
/// changed at or after `since_ms`. Reads the `byAttention` index (keys only), never a Scan.
pub async fn days_needing_attention(
    client: &Client,
    table: &str,
    index: &str,
    since_ms: i64,
) -> Result<Vec<(String, NaiveDate)>, StoreError> {
    let mut days = BTreeSet::new();
    for shard in 0..ATTENTION_SHARDS {
        for (kind, since) in [("DIRTY", i64::MIN), ("CLEAN", since_ms)] {
            let request = client
                .query()
                .table_name(table)
                .index_name(index)
                .key_condition_expression("#a = :a AND #at >= :since")
                .expression_attribute_names("#a", attr::ATTENTION)
                .expression_attribute_names("#at", attr::LAST_CHANGE_AT)
                .expression_attribute_values(":a", AttributeValue::S(format!("{kind}#{shard}")))
                .expression_attribute_values(":since", AttributeValue::N(since.to_string()));
            each_page(
                request,
                |e| StoreError::call("Query", index, e),
                |page| {
                    for item in &page {
                        let key = items::rollup_key(item);
                        let r = Reader::new(item, &key);
                        let pk = r.str(attr::PK)?;
                        let tenant = pk
                            .strip_suffix("#ALL")
                            .ok_or_else(|| r.malformed("pk is not {tenant}#ALL"))?;
                        let day = items::day_of_sk(r.str(attr::SK)?)
                            .ok_or_else(|| r.malformed("sk is not DAY#YYYY-MM-DD"))?;
                        days.insert((tenant.to_string(), day));
                    }
                    Ok(())
                },
            )
            .await?;
        }
    }
    Ok(days.into_iter().collect())
}

/// The days of a tenant that have a state item.
pub async fn state_days(
    client: &Client,
    table: &str,
    tenant: &str,
) -> Result<BTreeSet<NaiveDate>, StoreError> {
    let request = client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#sk", attr::SK)
        .expression_attribute_values(":pk", AttributeValue::S(rollup_pk(tenant, &Scope::All)))
        .expression_attribute_values(
            ":prefix",
            AttributeValue::S(items::DAY_SK_PREFIX.to_string()),
        )
        .projection_expression("#sk");
    let mut days = BTreeSet::new();
    each_page(
        request,
        |e| StoreError::call("Query", table, e),
        |page| {
            for item in &page {
                if let Some(AttributeValue::S(sk)) = item.get(attr::SK) {
                    days.extend(items::day_of_sk(sk));
                }
            }
            Ok(())
        },
    )
    .await?;
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_is_sharded_stably_and_says_dirty_or_clean() {
        let day = NaiveDate::from_ymd_opt(2024, 5, 10).unwrap();
        let dirty = attention("acme", day, true);
        let clean = attention("acme", day, false);
        assert!(dirty.starts_with("DIRTY#") && clean.starts_with("CLEAN#"));
        assert_eq!(dirty[6..], clean[6..]);
        assert_eq!(dirty, attention("acme", day, true));
        let shards: BTreeSet<String> = (0..200)
            .map(|i| attention(&format!("t{i}"), day, true))
            .collect();
        assert_eq!(shards.len(), ATTENTION_SHARDS as usize);
    }

    #[test]
    fn a_malformed_lease_is_refused() {
        let mut item = state_key("acme", NaiveDate::from_ymd_opt(2024, 5, 10).unwrap());
        let live = format!("{}#{:016x}", 1_000, 7u64);
        item.insert(attr::WRITERS.into(), AttributeValue::Ss(vec![live.clone()]));
        assert_eq!(read_state(&item).unwrap().writers, BTreeSet::from([live]));
        item.insert(
            attr::WRITERS.into(),
            AttributeValue::Ss(vec!["not-a-lease".into()]),
        );
        let err = read_state(&item).unwrap_err();
        assert!(err.problem.contains("not-a-lease"), "{err:?}");
    }
}
