//! Reading back what the rollups table holds for a span of days: every figure item of the
//! requested scopes and the days' department lists, with strongly consistent reads (the table,
//! not an index), so a rebuild that just finished is seen.

use std::collections::{BTreeMap, BTreeSet};

use crate::dynamo::Client;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};

use super::diff::{StoredDay, Tallies};
use crate::domain::aggregate::Aggregator;
use crate::domain::day_state::DayState;
use crate::domain::figure::Figure;
use crate::domain::rollup::Scope;
use crate::dynamo::items::{
    day_state_sk, fold_rollup_item, rollup_key, rollup_pk, rollup_sk, Item, MalformedItem,
};
use crate::dynamo::query::items_between;
use crate::rollups::state::read_state;
use crate::store::StoreError;

/// Figure queries in flight at once.
const QUERIES_IN_FLIGHT: usize = 8;

/// The state items of `first..=last`, by day (strongly consistent).
pub async fn day_states(
    client: &Client,
    table: &str,
    tenant: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<BTreeMap<NaiveDate, DayState>, StoreError> {
    let items = items_between(
        client,
        table,
        rollup_pk(tenant, &Scope::All),
        (day_state_sk(first), day_state_sk(last)),
    )
    .await?;
    let mut states = BTreeMap::new();
    for item in &items {
        let state = read_state(item)?;
        let day = state.day.ok_or_else(|| MalformedItem {
            key: rollup_key(item),
            problem: "sk is not DAY#YYYY-MM-DD".into(),
        })?;
        states.insert(day, state);
    }
    Ok(states)
}

/// Every figure item of `scopes` on `first..=last`, with the days' states (a state unbuilt
/// since a change before `settled_before_ms` is reported), by day. Days without any item are
/// absent.
pub async fn stored_days(
    client: &Client,
    table: &str,
    tenant: &str,
    scopes: &BTreeSet<Scope>,
    (first, last): (NaiveDate, NaiveDate),
    states: &BTreeMap<NaiveDate, DayState>,
    settled_before_ms: i64,
) -> Result<BTreeMap<NaiveDate, StoredDay>, StoreError> {
    let mut days: BTreeMap<NaiveDate, StoredDay> = states
        .iter()
        .map(|(day, state)| {
            // A change younger than the settle time is the stream's to rebuild, not drift.
            let settled = state.last_change_at.is_none_or(|at| at < settled_before_ms);
            let stored = StoredDay {
                departments: Some(state.departments.clone()),
                unbuilt: (!state.is_clean() && settled).then_some((state.changed, state.built)),
                dirty: !state.is_clean(),
                ..StoredDay::default()
            };
            (*day, stored)
        })
        .collect();
    let reads = scopes
        .iter()
        .flat_map(|scope| Figure::ALL.map(|figure| (scope.clone(), figure)));
    let results: Vec<(Scope, Figure, Vec<Item>)> = futures::stream::iter(reads)
        .map(|(scope, figure)| async move {
            let items = items_between(
                client,
                table,
                rollup_pk(tenant, &scope),
                (rollup_sk(figure, first), rollup_sk(figure, last)),
            )
            .await?;
            Ok::<_, StoreError>((scope, figure, items))
        })
        .buffer_unordered(QUERIES_IN_FLIGHT)
        .try_collect()
        .await?;
    for (scope, figure, items) in results {
        for item in &items {
            let (day, tallies) = read_figure_item(figure, item)?;
            days.entry(day)
                .or_default()
                .figures
                .insert((scope.clone(), figure), tallies);
        }
    }
    Ok(days)
}

/// A figure item's day (from its sort key) and its tallies by agent.
fn read_figure_item(figure: Figure, item: &Item) -> Result<(NaiveDate, Tallies), MalformedItem> {
    let key = rollup_key(item);
    let day = key
        .rsplit_once('#')
        .and_then(|(_, day)| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
        .ok_or_else(|| MalformedItem {
            key: key.clone(),
            problem: format!("sk is not {}#YYYY-MM-DD", figure.name()),
        })?;
    let mut agg = Aggregator::new(figure);
    fold_rollup_item(&mut agg, item)?;
    let tallies = agg
        .tallies()
        .map(|(agent, tally)| (agent.to_string(), *tally))
        .collect();
    Ok((day, tallies))
}
