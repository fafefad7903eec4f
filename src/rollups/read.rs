//! Reading rollups with their coverage: the whole UTC days of a plan's rollup unit (one
//! calendar month at most). The day states of the request's whole rollup span are read once,
//! by one Query that the first unit starts ([`SharedDayStates`]), in parallel with every unit's
//! query of the figure's rollup items; a day is answered from its rollup only when its state
//! proves the item complete (see [`covers`]). Every other day is returned as uncovered, for the
//! caller to read raw: a missing or stale rollup is never read as zero.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use tokio::sync::OnceCell;

use super::state::query_states;
use crate::domain::aggregate::Aggregator;
use crate::domain::day_state::{covers, DayState, ItemSeen};
use crate::domain::query::{FoldStats, RangeQuery};
use crate::domain::rollup::Scope;
use crate::dynamo::items::{self, fold_rollup_item};
use crate::dynamo::tally_reads::tallies_by_day;
use crate::dynamo::{Client, ReadError};

/// What the rollups of a span answer, and the runs of days they do not cover.
#[derive(Debug)]
pub struct RollupRead {
    pub agg: Aggregator,
    pub stats: FoldStats,
    /// Runs of consecutive days, oldest first, that must be read raw.
    pub uncovered: Vec<(NaiveDate, NaiveDate)>,
}

/// The day states of a request's rollup span, `first..=last` (any length: a year's states
/// are about 40 KB, one page), read by one strongly consistent Query the first time a unit
/// asks; the other units wait for that read instead of making their own.
pub struct SharedDayStates<'a> {
    client: &'a Client,
    table: &'a str,
    tenant: &'a str,
    span: (NaiveDate, NaiveDate),
    page_limit: Option<i32>,
    read: OnceCell<(BTreeMap<NaiveDate, DayState>, u64)>,
}

impl<'a> SharedDayStates<'a> {
    pub fn new(
        client: &'a Client,
        table: &'a str,
        tenant: &'a str,
        span: (NaiveDate, NaiveDate),
        page_limit: Option<i32>,
    ) -> Self {
        Self {
            client,
            table,
            tenant,
            span,
            page_limit,
            read: OnceCell::new(),
        }
    }

    async fn get(&self) -> Result<&BTreeMap<NaiveDate, DayState>, ReadError> {
        let (states, _) = self
            .read
            .get_or_try_init(|| async {
                let (states, requests) = query_states(
                    self.client,
                    self.table,
                    self.tenant,
                    self.span,
                    self.page_limit,
                )
                .await?;
                let by_day = states
                    .into_iter()
                    .filter_map(|s| Some((s.day?, s)))
                    .collect();
                Ok::<_, ReadError>((by_day, requests))
            })
            .await?;
        Ok(states)
    }

    /// The pages the state read took (0 if no unit asked).
    pub fn requests(&self) -> u64 {
        self.read.get().map_or(0, |(_, requests)| *requests)
    }
}

/// Folds the covered days of `first..=last` (one calendar month, inside the span of `states`)
/// for the query's figure and scope.
pub async fn fold_days(
    client: &Client,
    table: &str,
    query: &RangeQuery,
    states: &SharedDayStates<'_>,
    (first, last): (NaiveDate, NaiveDate),
    page_limit: Option<i32>,
) -> Result<RollupRead, ReadError> {
    let scope = Scope::of_request(query.department_id.as_deref());
    let (states, (rollups, rollup_requests)) = futures::try_join!(
        states.get(),
        tallies_by_day(
            client,
            table,
            (&query.tenant, query.figure, &scope),
            (first, last),
            page_limit
        ),
    )?;
    let mut agg = Aggregator::new(query.figure);
    let mut stats = FoldStats {
        requests: rollup_requests,
        rollup_items_read: rollups.len() as u64,
        ..FoldStats::default()
    };
    let mut uncovered: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for day in first.iter_days().take_while(|d| *d <= last) {
        let item = rollups.get(&day);
        let seen = item
            .map(|item| {
                Ok::<_, items::MalformedItem>(ItemSeen {
                    version: items::rollup_version(item)?,
                    tombstone: items::rollup_is_tombstone(item)?,
                })
            })
            .transpose()?;
        if covers(states.get(&day), &scope, seen) {
            stats.rollup_days += 1;
            if let Some(item) = item {
                fold_rollup_item(&mut agg, item)?;
            }
            continue;
        }
        match uncovered.last_mut() {
            Some((_, end)) if end.succ_opt() == Some(day) => *end = day,
            _ => uncovered.push((day, day)),
        }
    }
    Ok(RollupRead {
        agg,
        stats,
        uncovered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(changed: u64, built: Option<u64>, departments: &[&str]) -> DayState {
        DayState {
            changed,
            built,
            departments: departments.iter().map(|d| d.to_string()).collect(),
            ..DayState::default()
        }
    }

    fn item(version: Option<u64>) -> Option<ItemSeen> {
        Some(ItemSeen {
            version,
            tombstone: false,
        })
    }

    fn tombstone(version: u64) -> Option<ItemSeen> {
        Some(ItemSeen {
            version: Some(version),
            tombstone: true,
        })
    }

    #[test]
    fn only_a_clean_state_and_an_item_of_its_version_cover_a_day() {
        let all = Scope::All;
        assert!(!covers(None, &all, item(Some(1))), "no state: never zero");
        assert!(
            !covers(Some(&state(2, Some(1), &[])), &all, item(Some(1))),
            "dirty"
        );
        assert!(covers(Some(&state(2, Some(2), &[])), &all, item(Some(2))));
        assert!(covers(Some(&state(2, Some(2), &[])), &all, tombstone(2)));
        assert!(
            !covers(Some(&state(2, Some(2), &[])), &all, item(Some(3))),
            "newer item"
        );
        assert!(
            !covers(Some(&state(2, Some(2), &[])), &all, None),
            "item missing"
        );
        assert!(
            !covers(Some(&state(0, Some(0), &[])), &all, item(None)),
            "unversioned"
        );
    }

    #[test]
    fn an_unlisted_department_of_a_clean_day_counts_zero_only_without_tallies() {
        let d1 = Scope::Department("D1".into());
        let clean = state(4, Some(4), &["D2"]);
        assert!(covers(Some(&clean), &d1, None));
        assert!(covers(Some(&clean), &d1, tombstone(3)), "an old tombstone");
        assert!(covers(Some(&clean), &d1, tombstone(4)));
        assert!(
            !covers(Some(&clean), &d1, tombstone(5)),
            "built after the state"
        );
        // Finding 7: tallies left by a rebuild that lost its last step to a concurrent mark
        // (or shown by a lagging replica) are never folded as if they were a tombstone.
        assert!(!covers(Some(&clean), &d1, item(Some(3))), "stale tallies");
        assert!(!covers(Some(&clean), &d1, item(Some(4))), "stale tallies");
        let listed = state(4, Some(4), &["D1"]);
        assert!(!covers(Some(&listed), &d1, None), "listed but missing");
        assert!(covers(Some(&listed), &d1, item(Some(4))));
    }
}
