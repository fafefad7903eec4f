//! The drivers over the rebuild protocol ([`super`]): the operators' runs of days and whole
//! tenants, and what `verify-rollups` compares (what a day's rollups should be, and what is
//! stored for it).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Days, NaiveDate};
use futures::{StreamExt, TryStreamExt};

use super::{compute, RebuildSummary, Rebuilder};
use crate::domain::aggregate::Aggregator;
use crate::domain::day_state::DayState;
use crate::domain::figure::Figure;
use crate::domain::range::{utc_day_of, UtcRange};
use crate::domain::rollup::{DayRollup, Scope};
use crate::dynamo::items::{
    self, attr, fold_rollup_item, rollup_pk, rollup_sk, Item, MalformedItem,
};
use crate::store::day_state::get_state;
use crate::store::plan::month_spans;
use crate::store::StoreOpError;

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

impl Rebuilder {
    /// The operators' rebuild: every UTC day of `from..=to` (a day without conversations gets
    /// a state too, so the rollup plan covers it).
    pub async fn rebuild_days(
        &self,
        tenant: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<RebuildSummary, StoreOpError> {
        if from > to {
            return Err(StoreOpError::Days { from, to });
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
    ) -> Result<RebuildSummary, StoreOpError> {
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
    ) -> Result<DayRollup, StoreOpError> {
        let state = get_state(&self.client, &self.tables.rollups, tenant, day)
            .await?
            .unwrap_or_default();
        let read = self.read_day(tenant, day, &state).await?;
        compute(tenant, day, read.rooms.values())
    }
    /// What is stored for a day: its state, and the items of `All` and of every department it
    /// lists or ever wrote (strongly consistent).
    pub async fn stored_day(
        &self,
        tenant: &str,
        day: NaiveDate,
    ) -> Result<StoredDay, StoreOpError> {
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
        let mut rollups = BTreeMap::new();
        for item in self.batch_get(table, keys).await? {
            let scope = scope_of_pk(tenant, &item)?;
            let figure = figure_of_sk(&item)?;
            let mut agg = Aggregator::new(figure);
            fold_rollup_item(&mut agg, &item)?;
            rollups.insert((scope, figure), (agg, items::rollup_version(&item)?));
        }
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
    ) -> Result<(BTreeMap<NaiveDate, DayRollup>, u64), StoreOpError> {
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
                    .map_err(|source| StoreOpError::Sum {
                        tenant: tenant.to_string(),
                        day,
                        source,
                    })
            })
            .await?;
        Ok((days, read))
    }
    /// The days of a tenant that have a state item.
    async fn state_days(&self, tenant: &str) -> Result<BTreeSet<NaiveDate>, StoreOpError> {
        let table = &self.tables.rollups;
        let mut pages = self
            .client
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
            .projection_expression("#sk")
            .into_paginator()
            .send();
        let mut days = BTreeSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StoreOpError::call("Query", table, e))?;
            for item in page.items() {
                if let Some(AttributeValue::S(sk)) = item.get(attr::SK) {
                    days.extend(items::day_of_sk(sk));
                }
            }
        }
        Ok(days)
    }
}
