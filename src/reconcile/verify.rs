//! Verifying a tenant's rollups: each month of days is recomputed from the conversations (the
//! rebuild's own fold) and compared with the rollups table; with `repair`, every day that
//! differs is rebuilt and verified again.

use std::collections::{BTreeMap, BTreeSet};

use crate::dynamo::Client;
use chrono::{Days, NaiveDate};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::diff::{diff_day, scopes_of, Drift, StoredDay};
use super::stored::{day_states, stored_days};
use crate::config::RollupTables;
use crate::domain::clock::Clock;
use crate::domain::day_state::SETTLE_MS;
use crate::domain::range::month_spans;
use crate::domain::rollup::{DayRollup, Scope};
use crate::rollups::rebuild::Rebuilder;
use crate::rollups::state::get_state;
use crate::store::StoreError;

/// Days that differ: what differs, and the scopes compared.
type DriftedDays = BTreeMap<NaiveDate, (Vec<Drift>, BTreeSet<Scope>)>;

/// Months verified at once; bounds memory to four months of tallies, as the rebuild does.
const MONTHS_IN_FLIGHT: usize = 4;

/// A day whose stored rollups differ from its conversations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayReport {
    pub day: NaiveDate,
    /// What differed when the day was first verified.
    pub drifts: Vec<Drift>,
    /// Rebuilt, and found equal to its conversations afterwards.
    pub repaired: bool,
}

/// What a verification found (and repaired).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub days_checked: u64,
    pub conversations_read: u64,
    /// The days that differed, in order.
    pub drifted: Vec<DayReport>,
}

impl VerifyReport {
    pub fn add(&mut self, other: VerifyReport) {
        self.days_checked += other.days_checked;
        self.conversations_read += other.conversations_read;
        self.drifted.extend(other.drifted);
    }

    /// Days that still differ: found and not (or not successfully) repaired.
    pub fn unrepaired(&self) -> usize {
        self.drifted.iter().filter(|d| !d.repaired).count()
    }
}

/// Verifies (and repairs) rollups; shared by `verify-rollups` and the reconciliation function.
#[derive(Clone)]
pub struct Verifier {
    client: Client,
    tables: RollupTables,
    rebuilder: Rebuilder,
    clock: Clock,
}

impl Verifier {
    pub fn new(client: Client, tables: RollupTables, rebuilder: Rebuilder, clock: Clock) -> Self {
        Self {
            client,
            tables,
            rebuilder,
            clock,
        }
    }

    /// The UTC days `from..=to`, month by month; `progress` is called with the number of days
    /// of each month done.
    pub async fn verify_days(
        &self,
        tenant: &str,
        from: NaiveDate,
        to: NaiveDate,
        repair: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<VerifyReport, StoreError> {
        if from > to {
            return Err(StoreError::Days { from, to });
        }
        futures::stream::iter(month_spans(from, to))
            .map(|(first, last)| async move {
                let report = self.verify_span(tenant, first, last, repair).await?;
                progress(report.days_checked);
                Ok::<_, StoreError>(report)
            })
            .buffered(MONTHS_IN_FLIGHT)
            .try_fold(VerifyReport::default(), |mut total, part| async move {
                total.add(part);
                Ok(total)
            })
            .await
    }

    /// Every day of a tenant: 1970-01-01 to a year after `today`, widened to every day that
    /// has a department list (as `rebuild-rollups` without dates covers).
    pub async fn tenant_days(
        &self,
        tenant: &str,
        today: NaiveDate,
    ) -> Result<(NaiveDate, NaiveDate), StoreError> {
        let (Some(min), Some(max)) = (
            NaiveDate::from_ymd_opt(0, 1, 1),
            NaiveDate::from_ymd_opt(9999, 12, 31),
        ) else {
            unreachable!("both are valid dates")
        };
        // Every list: sort keys of four-digit years (the only ones a UTC day of a stored `ts`
        // can have within DynamoDB's number range, written as the rebuild writes them).
        let lists = day_states(&self.client, &self.tables.rollups, tenant, min, max).await?;
        let epoch = chrono::DateTime::UNIX_EPOCH.date_naive();
        let horizon = today.checked_add_days(Days::new(366)).unwrap_or(today);
        let first = lists.keys().next().map_or(epoch, |d| (*d).min(epoch));
        let last = lists
            .keys()
            .next_back()
            .map_or(horizon, |d| (*d).max(horizon));
        Ok((first, last))
    }

    /// One day (as the reconciliation function asks).
    pub async fn verify_day(
        &self,
        tenant: &str,
        day: NaiveDate,
        repair: bool,
    ) -> Result<VerifyReport, StoreError> {
        self.verify_span(tenant, day, day, repair).await
    }

    /// `first..=last` within one month.
    async fn verify_span(
        &self,
        tenant: &str,
        first: NaiveDate,
        last: NaiveDate,
        repair: bool,
    ) -> Result<VerifyReport, StoreError> {
        if repair {
            self.settle_overflowed(tenant, first, last).await?;
        }
        let (read, drifts) = self.compare_span(tenant, first, last).await?;
        let mut report = VerifyReport {
            days_checked: (last - first).num_days() as u64 + 1,
            conversations_read: read,
            drifted: Vec::new(),
        };
        for (day, (drifts, scopes)) in drifts {
            let repaired = repair && self.repair_day(tenant, day, &scopes).await?;
            report.drifted.push(DayReport {
                day,
                drifts,
                repaired,
            });
        }
        Ok(report)
    }

    /// The days of `first..=last` whose pending keys overflowed and whose last change is old
    /// enough to trust the index ([`SETTLE_MS`]) are rebuilt, without a mark, before
    /// they are compared: that rebuild is what makes such a day clean (finding 6), not drift.
    async fn settle_overflowed(
        &self,
        tenant: &str,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<(), StoreError> {
        let settled_before = (self.clock)() - SETTLE_MS;
        let states = day_states(&self.client, &self.tables.rollups, tenant, first, last).await?;
        for (day, state) in states {
            let settled = state.last_change_at.is_none_or(|at| at <= settled_before);
            if state.overflow && !state.is_clean() && settled {
                self.rebuilder.rebuild_day(tenant, day).await?;
            }
        }
        Ok(())
    }

    /// Rebuilds every scope of `day` either side knows (so a left-over item on a day without
    /// conversations becomes a tombstone) and verifies the day again: repaired when it now
    /// equals its conversations and is clean. A rebuild refused because a later one wrote first
    /// counts as done: the verification after it tells.
    async fn repair_day(
        &self,
        tenant: &str,
        day: NaiveDate,
        scopes: &BTreeSet<Scope>,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.rollups;
        let overflowed = get_state(&self.client, table, tenant, day)
            .await?
            .is_some_and(|s| s.overflow);
        // A mark first, so readers take the day raw while it is repaired; but never on an
        // overflowed day, whose rebuild trusts the index only a settle time after its last
        // change: a mark would restart that clock at every run (finding 6).
        if !overflowed {
            self.rebuilder.mark(tenant, day, &BTreeSet::new()).await?;
        }
        self.rebuilder.rebuild_day_with(tenant, day, scopes).await?;
        let (_, drifts) = self.compare_span(tenant, day, day).await?;
        let clean = get_state(&self.client, table, tenant, day)
            .await?
            .is_some_and(|s| s.is_clean());
        Ok(drifts.is_empty() && clean)
    }

    /// The conversations read, and the days of `first..=last` whose rollups differ, with the
    /// scopes compared.
    async fn compare_span(
        &self,
        tenant: &str,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<(u64, DriftedDays), StoreError> {
        let table = &self.tables.rollups;
        let (expected, read) = self.rebuilder.fold_span(tenant, first, last).await?;
        let states = day_states(&self.client, table, tenant, first, last).await?;
        let mut scopes: BTreeSet<Scope> = BTreeSet::from([Scope::All]);
        scopes.extend(
            expected
                .values()
                .flat_map(DayRollup::departments)
                .chain(
                    states
                        .values()
                        .flat_map(|s| s.departments.iter().chain(&s.written).cloned()),
                )
                .map(Scope::Department),
        );
        let settled_before = (self.clock)() - SETTLE_MS;
        let stored = stored_days(
            &self.client,
            table,
            tenant,
            &scopes,
            (first, last),
            &states,
            settled_before,
        )
        .await?;
        let days: BTreeSet<NaiveDate> = expected.keys().chain(stored.keys()).copied().collect();
        let empty_day = DayRollup::new();
        let nothing_stored = StoredDay::default();
        let mut drifted = BTreeMap::new();
        for day in days {
            let want = expected.get(&day).unwrap_or(&empty_day);
            let have = stored.get(&day).unwrap_or(&nothing_stored);
            let drifts = diff_day(day, want, have);
            if !drifts.is_empty() {
                drifted.insert(day, (drifts, scopes_of(want, have)));
            }
        }
        Ok((read, drifted))
    }
}
