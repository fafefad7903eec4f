//! The rollups table: per-day figure tallies and the days' state items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;

use super::{attr, n, s, Item, MalformedItem, Reader};
use crate::domain::aggregate::{Aggregator, Tally};
use crate::domain::exact_sum::ExactSum;
use crate::domain::figure::Figure;
use crate::domain::rollup::Scope;

// --- Rollups table -------------------------------------------------------------------------
//
// One item per (tenant, scope, figure, UTC day): partition `pk` = `{tenant}#ALL` or
// `{tenant}#D#{departmentId}`, sort `sk` = `{figure name}#{YYYY-MM-DD}`, so a request reads only
// its figure's items (DynamoDB charges a Query for whole items, whatever the projection). Each
// carries `version`, the day's `changed` counter it was built from. The `ALL` partition also
// holds `DAY#{YYYY-MM-DD}`: the day's state (see `rollups::state`).

/// Sort-key prefix of the per-day state items.
pub const DAY_SK_PREFIX: &str = "DAY#";

pub fn rollup_pk(tenant: &str, scope: &Scope) -> String {
    match scope {
        Scope::All => format!("{tenant}#ALL"),
        Scope::Department(d) => format!("{tenant}#D#{d}"),
    }
}

pub fn rollup_sk(figure: Figure, day: NaiveDate) -> String {
    format!("{}#{}", figure.name(), day.format("%Y-%m-%d"))
}

pub fn day_state_sk(day: NaiveDate) -> String {
    format!("{DAY_SK_PREFIX}{}", day.format("%Y-%m-%d"))
}

/// The sort key of the item holding a day's department list: its state item.
pub fn departments_sk(day: NaiveDate) -> String {
    day_state_sk(day)
}

/// A day's department list, from its state item: its day and departments.
pub fn read_departments_item(item: &Item) -> Result<(NaiveDate, Vec<String>), MalformedItem> {
    let key = rollup_key(item);
    let r = Reader::new(item, &key);
    let day = day_of_sk(r.str(attr::SK)?).ok_or_else(|| r.malformed("sk is not DAY#YYYY-MM-DD"))?;
    Ok((day, r.string_list(attr::DEPARTMENTS)?))
}

/// The day of a `DAY#YYYY-MM-DD` or `{figure}#YYYY-MM-DD` sort key.
pub fn day_of_sk(sk: &str) -> Option<NaiveDate> {
    let (_, day) = sk.rsplit_once('#')?;
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// One agent's tally as stored: `[count, exact sum (decimal), min (shortest round-trip text)
/// or null, messages, first counted ts]`.
type StoredTally = (u64, String, Option<String>, u64, i64);

/// A figure's rollup for one scope and day, built from the day's `changed` = `version`. An
/// empty aggregator gives an item with no agents: a tombstone that keeps an older, concurrent
/// rebuild from writing stale tallies back.
pub fn rollup_item(
    tenant: &str,
    scope: &Scope,
    day: NaiveDate,
    agg: &Aggregator,
    version: u64,
) -> Item {
    // serde_json's map is sorted, so the same tallies always make the same bytes.
    let tallies: serde_json::Map<String, serde_json::Value> = agg
        .tallies()
        .map(|(agent, t)| {
            let min = t.min().map(|m| format!("{m:?}"));
            let stored = serde_json::json!([
                t.count,
                t.sum.to_decimal_string(),
                min,
                t.messages,
                t.first_ts_ms
            ]);
            (agent.to_string(), stored)
        })
        .collect();
    let json = serde_json::Value::Object(tallies).to_string();
    Item::from([
        (attr::PK.into(), s(rollup_pk(tenant, scope))),
        (attr::SK.into(), s(rollup_sk(agg.figure(), day))),
        (attr::TENANT.into(), s(tenant)),
        (attr::VERSION.into(), n(version)),
        (attr::TALLIES.into(), s(json)),
    ])
}

/// The `version` of a rollup item; `None` for an item written before versions existed.
pub fn rollup_version(item: &Item) -> Result<Option<u64>, MalformedItem> {
    let key = rollup_key(item);
    Reader::new(item, &key).opt_number(attr::VERSION)
}

/// Whether a figure item is a tombstone (no agent: its scope had nothing that day). Anything
/// but the exact empty object our rebuild writes counts as tallies.
pub fn rollup_is_tombstone(item: &Item) -> Result<bool, MalformedItem> {
    let key = rollup_key(item);
    Ok(Reader::new(item, &key).str(attr::TALLIES)?.trim() == "{}")
}

/// `pk/sk` of a rollups-table item, for errors.
pub fn rollup_key(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "?",
    };
    format!("{}/{}", part(attr::PK), part(attr::SK))
}

/// Merges a rollup item's tallies into `agg` (the item's figure must be `agg`'s).
pub fn fold_rollup_item(agg: &mut Aggregator, item: &Item) -> Result<(), MalformedItem> {
    let key = rollup_key(item);
    let r = Reader::new(item, &key);
    let json = r.str(attr::TALLIES)?;
    let tallies: HashMap<String, StoredTally> = serde_json::from_str(json)
        .map_err(|e| r.malformed(format!("tallies are not valid: {e}")))?;
    for (agent, (count, sum, min, messages, first_ts_ms)) in tallies {
        let sum = ExactSum::from_decimal_string(&sum)
            .map_err(|e| r.malformed(format!("tallies of {agent:?}: {e}")))?;
        let min_bits = match min {
            None => None,
            Some(text) => match text.parse::<f64>() {
                Ok(m) if m.is_finite() => Some(m.to_bits()),
                _ => {
                    return Err(r.malformed(format!(
                        "tallies of {agent:?}: minimum {text:?} is not a finite number"
                    )))
                }
            },
        };
        let tally = Tally {
            count,
            sum,
            min_bits,
            messages,
            first_ts_ms,
        };
        agg.merge_tally(&agent, &tally)
            .map_err(|e| r.malformed(format!("tallies of {agent:?}: {e}")))?;
    }
    Ok(())
}
