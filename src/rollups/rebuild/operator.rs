//! The drivers over the rebuild protocol ([`super`]): the operators' runs of days and whole
//! tenants, and what `verify-rollups` compares (what a day's rollups should be, and what is
//! stored for it).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use futures::{StreamExt, TryStreamExt};

use super::{compute, RebuildSummary, Rebuilder};
use crate::domain::aggregate::Aggregator;
use crate::domain::day_state::DayState;
use crate::domain::figure::Figure;
use crate::domain::range::{month_spans, utc_day_of, UtcRange};
use crate::domain::rollup::{DayRollup, Scope};
use crate::dynamo::day_states::{get_state, state_days};
use crate::dynamo::items::MalformedItem;
use crate::dynamo::tally_reads::stored_tallies;
use crate::dynamo::StoreError;

/// Days an operator's rebuild works on at once.
const DAYS_IN_FLIGHT: usize = 8;

/// The earliest day a whole-tenant rebuild looks at, unless rollups exist before it.
fn first_day() -> NaiveDate {
    chrono::DateTime::UNIX_EPOCH.date_naive()
}

/// What is stored for a day: its state and every rollup item of its listed scopes.
#[derive(Debug, Clone, Default)]
pub struct StoredDay {
    pub state: Option<DayState>,
    /// `(scope, figure)` → tallies and the item's version.
    pub rollups: BTreeMap<(Scope, Figure), (Aggregator, Option<u64>)>,
}

impl Rebuilder {
    /// The operators' rebuild: every UTC day of `from..=to` (a day without conversations gets
    /// a state too, so the rollup plan covers it).
    pub async fn rebuild_days(
        &self,
        tenant: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<RebuildSummary, StoreError> {
        if from > to {
            return Err(StoreError::Days { from, to });
        }
        let days = from.iter_days().take_while(|d| *d <= to);
        futures::stream::iter(days)
            .map(|day| self.rebuild_day(tenant, day))
            .buffer_unordered(DAYS_IN_FLIGHT)
            .try_fold(RebuildSummary::default(), |mut total, part| async move {
                total.add(&part.summary);
                Ok(total)
            })
            .await
    }
    /// Every day of a tenant: from its first to its last day with conversations or a state
    /// (each month from 1970-01 to a year after `today` is queried; an empty month costs one
    /// query).
    pub async fn rebuild_tenant(
        &self,
        tenant: &str,
        today: NaiveDate,
    ) -> Result<RebuildSummary, StoreError> {
        let horizon = today.checked_add_days(Days::new(366)).unwrap_or(today);
        let mut known: BTreeSet<NaiveDate> = self.state_days(tenant).await?;
        for (first, last) in month_spans(first_day(), horizon) {
            let range = UtcRange {
                start_ms: UtcRange::utc_day(first).start_ms,
                end_ms: UtcRange::utc_day(last).end_ms,
            };
            self.read_raw(tenant, range, |pk, c| {
                let day = utc_day_of(c.ts_ms).ok_or_else(|| MalformedItem {
                    key: pk,
                    problem: format!("ts {} is out of range", c.ts_ms),
                })?;
                known.insert(day);
                Ok(())
            })
            .await?;
        }
        match (known.first(), known.last()) {
            (Some(from), Some(to)) => self.rebuild_days(tenant, *from, *to).await,
            _ => Ok(RebuildSummary::default()),
        }
    }
    /// The rollups a day's conversations give now (GSI, and the pending ones from the table),
    /// without writing anything: what `verify-rollups` compares the stored ones with.
    pub async fn expected_day(
        &self,
        tenant: &str,
        day: NaiveDate,
    ) -> Result<DayRollup, StoreError> {
        let state = get_state(&self.client, &self.tables.rollups, tenant, day)
            .await?
            .unwrap_or_default();
        let read = self.read_day(tenant, day, &state).await?;
        compute(tenant, day, read.rooms.values())
    }
    /// What is stored for a day: its state, and the items of `All` and of every department it
    /// lists or ever wrote (strongly consistent).
    pub async fn stored_day(&self, tenant: &str, day: NaiveDate) -> Result<StoredDay, StoreError> {
        let table = &self.tables.rollups;
        let state = get_state(&self.client, table, tenant, day).await?;
        let departments: BTreeSet<&String> = state
            .iter()
            .flat_map(|s| s.departments.iter().chain(&s.written))
            .collect();
        let scopes = std::iter::once(Scope::All).chain(
            departments
                .into_iter()
                .map(|d| Scope::Department(d.clone())),
        );
        let rollups = stored_tallies(&self.client, table, tenant, day, scopes).await?;
        Ok(StoredDay { state, rollups })
    }
    /// The rollups of a month's days (`first..=last` lie in one month bucket) as the GSI gives
    /// them, by day (days without conversations are absent), and how many conversations were
    /// read. (`verify-rollups` reads a month at once; [`Self::expected_day`] also reads a day's
    /// pending conversations from the table.)
    pub async fn fold_span(
        &self,
        tenant: &str,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<(BTreeMap<NaiveDate, DayRollup>, u64), StoreError> {
        let range = UtcRange {
            start_ms: UtcRange::utc_day(first).start_ms,
            end_ms: UtcRange::utc_day(last).end_ms,
        };
        let mut days: BTreeMap<NaiveDate, DayRollup> = BTreeMap::new();
        let read = self
            .read_raw(tenant, range, |pk, c| {
                let day = utc_day_of(c.ts_ms).ok_or_else(|| MalformedItem {
                    key: pk.clone(),
                    problem: format!("ts {} is out of range", c.ts_ms),
                })?;
                days.entry(day)
                    .or_default()
                    .add(&c)
                    .map_err(|source| StoreError::Sum {
                        tenant: tenant.to_string(),
                        day,
                        source,
                    })
            })
            .await?;
        Ok((days, read))
    }
    /// The days of a tenant that have a state item.
    async fn state_days(&self, tenant: &str) -> Result<BTreeSet<NaiveDate>, StoreError> {
        state_days(&self.client, &self.tables.rollups, tenant).await
    }
}
