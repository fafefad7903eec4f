//! Recomputing rollups from raw conversations, never incrementing them: a rebuild reads a UTC
//! day's conversations from the `byMonth` GSI, folds them per scope and figure, and puts every
//! item of the scopes it was asked for. A duplicated or retried rebuild writes the same items; a
//! transferred conversation leaves its old department's rollup when that scope is rebuilt; a
//! minimum that went up is simply recomputed.
//!
//! Each item carries `asOf`, the time its rebuild began reading, and is put only if the stored
//! item is not newer (`attribute_not_exists(pk) OR asOf <= :asOf`). Two rebuilds of one day
//! running at once (two stream shards, or the stream and the operators' tool) therefore leave
//! the later read's answer, whatever order their writes land in. For the same reason an empty
//! scope is written as an item without agents (a tombstone) rather than deleted: a delete
//! would let an older rebuild write its stale tallies back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{Days, NaiveDate};
use futures::{StreamExt, TryStreamExt};

use super::items::{
    self, attr, departments_item, departments_sk, read_departments_item, read_indexed_conversation,
    rollup_item, rollup_pk, Item, MalformedItem, DEPARTMENTS_SK_PREFIX,
};
use super::plan::month_spans;
use super::{succeeded_unless, StoreOpError};
use crate::config::RollupTables;
use crate::domain::aggregate::Aggregator;
use crate::domain::clock::Clock;
use crate::domain::conversation::Conversation;
use crate::domain::figure::Figure;
use crate::domain::range::{utc_day_of, UtcRange};
use crate::domain::rollup::{DayRollup, Scope};

/// The latest image of each conversation a stream batch changed, by `pk`; `None` once removed.
pub type Overlay = HashMap<String, Option<Conversation>>;

/// Puts in flight at once within one rebuild.
const WRITES_IN_FLIGHT: usize = 16;
/// Month buckets an operator's rebuild reads (and writes) at once; bounds its memory.
const MONTHS_IN_FLIGHT: usize = 4;
/// The earliest day a whole-tenant rebuild looks at, unless rollups exist before it.
fn first_day() -> NaiveDate {
    chrono::DateTime::UNIX_EPOCH.date_naive()
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildSummary {
    /// UTC days whose rollups were written.
    pub days: u64,
    /// Conversations read from the GSI.
    pub conversations_read: u64,
    /// Rollup items put (tombstones and department lists included).
    pub items_written: u64,
    /// Puts refused because a rebuild that read later had already written the item.
    pub items_superseded: u64,
}

impl RebuildSummary {
    pub fn add(&mut self, other: &RebuildSummary) {
        self.days += other.days;
        self.conversations_read += other.conversations_read;
        self.items_written += other.items_written;
        self.items_superseded += other.items_superseded;
    }
}

/// Rebuilds rollups; shared by the stream function and the operators' tool.
#[derive(Clone)]
pub struct Rebuilder {
    client: Client,
    tables: RollupTables,
    clock: Clock,
}

impl Rebuilder {
    pub fn new(client: Client, tables: RollupTables, clock: Clock) -> Self {
        Self {
            client,
            tables,
            clock,
        }
    }

    /// The operators' rebuild: every UTC day of `from..=to`, every scope that has
    /// conversations or had rollups on that day.
    pub async fn rebuild_days(
        &self,
        tenant: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<RebuildSummary, StoreOpError> {
        if from > to {
            return Err(StoreOpError::Days { from, to });
        }
        let as_of = (self.clock)();
        let listed = self.department_lists(tenant, Some((from, to))).await?;
        futures::stream::iter(month_spans(from, to))
            .map(|(first, last)| self.rebuild_span(tenant, first, last, &listed, as_of))
            .buffer_unordered(MONTHS_IN_FLIGHT)
            .try_fold(RebuildSummary::default(), |mut total, part| async move {
                total.add(&part);
                Ok(total)
            })
            .await
    }

    /// Every day of a tenant: each month from 1970-01 to a year after `today` is queried
    /// (an empty month costs one query), widened to every day that already has rollups.
    pub async fn rebuild_tenant(
        &self,
        tenant: &str,
        today: NaiveDate,
    ) -> Result<RebuildSummary, StoreOpError> {
        let listed = self.department_lists(tenant, None).await?;
        let first = listed
            .keys()
            .next()
            .copied()
            .map_or(first_day(), |d| d.min(first_day()));
        let horizon = today.checked_add_days(Days::new(366)).unwrap_or(today);
        let last = listed
            .keys()
            .next_back()
            .copied()
            .map_or(horizon, |d| d.max(horizon));
        self.rebuild_days(tenant, first, last).await
    }

    /// One month's days (`first..=last` lie in one month bucket).
    async fn rebuild_span(
        &self,
        tenant: &str,
        first: NaiveDate,
        last: NaiveDate,
        listed: &BTreeMap<NaiveDate, Vec<String>>,
        as_of: i64,
    ) -> Result<RebuildSummary, StoreOpError> {
        let (mut days, read) = self.fold_span(tenant, first, last).await?;
        for day in listed.range(first..=last).map(|(d, _)| *d) {
            days.entry(day).or_default();
        }
        let mut summary = RebuildSummary {
            conversations_read: read,
            ..RebuildSummary::default()
        };
        for (day, rollup) in &days {
            let was = listed.get(day).map(Vec::as_slice).unwrap_or_default();
            let present = rollup.departments();
            let scopes: BTreeSet<Scope> = std::iter::once(Scope::All)
                .chain(
                    present
                        .iter()
                        .chain(was)
                        .map(|d| Scope::Department(d.clone())),
                )
                .collect();
            let departments: BTreeSet<String> = present.into_iter().collect();
            let part = self
                .write_day(tenant, *day, rollup, &scopes, &departments, as_of)
                .await?;
            summary.add(&part);
        }
        Ok(summary)
    }

    /// The rollups of a month's days (`first..=last` lie in one month bucket) as their
    /// conversations give them, by day (days without conversations are absent), and how many
    /// conversations were read.
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

    /// Puts the seven figures of each scope (a tombstone where the scope has no agent) and the
    /// day's department list.
    async fn write_day(
        &self,
        tenant: &str,
        day: NaiveDate,
        rollup: &DayRollup,
        scopes: &BTreeSet<Scope>,
        departments: &BTreeSet<String>,
        as_of: i64,
    ) -> Result<RebuildSummary, StoreOpError> {
        let mut puts = Vec::with_capacity(scopes.len() * Figure::ALL.len() + 1);
        for scope in scopes {
            for figure in Figure::ALL {
                let item = match rollup.scope(scope) {
                    Some(tallies) => rollup_item(tenant, scope, day, tallies.figure(figure), as_of),
                    None => rollup_item(tenant, scope, day, &Aggregator::new(figure), as_of),
                };
                puts.push(item);
            }
        }
        let departments: Vec<String> = departments.iter().cloned().collect();
        puts.push(departments_item(tenant, day, &departments, as_of));
        let mut summary = futures::stream::iter(puts)
            .map(|item| self.put_if_not_newer(item, as_of))
            .buffer_unordered(WRITES_IN_FLIGHT)
            .try_fold(RebuildSummary::default(), |mut s, written| async move {
                if written {
                    s.items_written += 1;
                } else {
                    s.items_superseded += 1;
                }
                Ok(s)
            })
            .await?;
        summary.days = 1;
        Ok(summary)
    }

    async fn put_if_not_newer(&self, item: Item, as_of: i64) -> Result<bool, StoreOpError> {
        let table = &self.tables.rollups;
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #asOf <= :asOf")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#asOf", attr::AS_OF)
            .expression_attribute_values(":asOf", AttributeValue::N(as_of.to_string()))
            .send()
            .await;
        succeeded_unless(result, |e| e.is_conditional_check_failed_exception())
            .map_err(|e| StoreOpError::call("PutItem", table, e))
    }

    /// The conversations of `range` (within one month bucket), as the `byMonth` GSI has them;
    /// returns how many were read.
    async fn read_raw(
        &self,
        tenant: &str,
        range: UtcRange,
        mut each: impl FnMut(String, Conversation) -> Result<(), StoreOpError>,
    ) -> Result<u64, StoreOpError> {
        let Some(month) = items::month_of(range.start_ms) else {
            return Ok(0);
        };
        let table = &self.tables.conversations;
        let mut pages = self
            .client
            .query()
            .table_name(table)
            .index_name(&self.tables.by_month_index)
            .key_condition_expression("#month = :month AND #ts BETWEEN :start AND :end")
            .projection_expression(
                "#pk, #ts, #dept, #agent, #responder, #chat, #ft, #avg, #reaction, #msgs",
            )
            .expression_attribute_names("#month", attr::MONTH)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#ts", attr::TS)
            .expression_attribute_names("#dept", attr::DEPARTMENT_ID)
            .expression_attribute_names("#agent", attr::AGENT)
            .expression_attribute_names("#responder", attr::RESPONDER)
            .expression_attribute_names("#chat", attr::CHAT_DURATION)
            .expression_attribute_names("#ft", attr::FIRST_RESPONSE)
            .expression_attribute_names("#avg", attr::AVG_RESPONSE)
            .expression_attribute_names("#reaction", attr::FIRST_REACTION)
            .expression_attribute_names("#msgs", attr::AGENT_MESSAGES)
            .expression_attribute_values(
                ":month",
                AttributeValue::S(items::month_key(tenant, month)),
            )
            .expression_attribute_values(":start", AttributeValue::N(range.start_ms.to_string()))
            .expression_attribute_values(":end", AttributeValue::N(range.end_ms.to_string()))
            .into_paginator()
            .send();
        let mut read = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StoreOpError::call("Query", table, e))?;
            for item in page.items() {
                read += 1;
                let (pk, c) = read_indexed_conversation(item, tenant)?;
                each(pk, c)?;
            }
        }
        Ok(read)
    }

    /// The departments listed for one day (strongly consistent: the list a concurrent rebuild
    /// just wrote counts).
    async fn department_list(
        &self,
        tenant: &str,
        day: NaiveDate,
    ) -> Result<Vec<String>, StoreOpError> {
        let table = &self.tables.rollups;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(attr::PK, AttributeValue::S(rollup_pk(tenant, &Scope::All)))
            .key(attr::SK, AttributeValue::S(departments_sk(day)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreOpError::call("GetItem", table, e))?;
        match out.item() {
            Some(item) => Ok(read_departments_item(item)?.1),
            None => Ok(Vec::new()),
        }
    }

    /// The department lists of a tenant's days, within `days` or all of them.
    async fn department_lists(
        &self,
        tenant: &str,
        days: Option<(NaiveDate, NaiveDate)>,
    ) -> Result<BTreeMap<NaiveDate, Vec<String>>, StoreOpError> {
        let table = &self.tables.rollups;
        let request = self
            .client
            .query()
            .table_name(table)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#sk", attr::SK)
            .expression_attribute_values(":pk", AttributeValue::S(rollup_pk(tenant, &Scope::All)))
            .consistent_read(true);
        let request = match days {
            Some((from, to)) => request
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_values(":from", AttributeValue::S(departments_sk(from)))
                .expression_attribute_values(":to", AttributeValue::S(departments_sk(to))),
            None => request
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_values(
                    ":prefix",
                    AttributeValue::S(DEPARTMENTS_SK_PREFIX.to_string()),
                ),
        };
        let mut pages = request.into_paginator().send();
        let mut lists = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StoreOpError::call("Query", table, e))?;
            for item in page.items() {
                let (day, departments) = read_departments_item(item)?;
                lists.insert(day, departments);
            }
        }
        Ok(lists)
    }
}

impl super::RollupMaintenance for Rebuilder {
    /// The stream's rebuild: one UTC day of a tenant, the scopes a batch touched (`All`
    /// always), with the batch's own images laid over what the GSI returns, since a GSI read
    /// right after a write may not show it yet.
    async fn rebuild_day(
        &self,
        tenant: &str,
        day: NaiveDate,
        scopes: &BTreeSet<Scope>,
        overlay: &Overlay,
    ) -> Result<RebuildSummary, StoreOpError> {
        let as_of = (self.clock)();
        let range = UtcRange::utc_day(day);
        let listed = self.department_list(tenant, day).await?;
        let mut rooms: HashMap<String, Conversation> = HashMap::new();
        let read = self
            .read_raw(tenant, range, |pk, c| {
                rooms.insert(pk, c);
                Ok(())
            })
            .await?;
        let prefix = format!("{tenant}#");
        for (pk, latest) in overlay.iter().filter(|(pk, _)| pk.starts_with(&prefix)) {
            rooms.remove(pk);
            if let Some(c) = latest.as_ref().filter(|c| range.contains(c.ts_ms)) {
                rooms.insert(pk.clone(), c.clone());
            }
        }
        let mut rollup = DayRollup::new();
        for c in rooms.values() {
            rollup.add(c).map_err(|source| StoreOpError::Sum {
                tenant: tenant.to_string(),
                day,
                source,
            })?;
        }
        let mut written: BTreeSet<Scope> = scopes.clone();
        written.insert(Scope::All);
        // Departments listed before and not rebuilt now may still hold rollups: they stay listed
        // so the operators' rebuild can find them.
        let mut departments: BTreeSet<String> = rollup.departments().into_iter().collect();
        departments.extend(
            listed
                .into_iter()
                .filter(|d| !written.contains(&Scope::Department(d.clone()))),
        );
        let mut summary = self
            .write_day(tenant, day, &rollup, &written, &departments, as_of)
            .await?;
        summary.conversations_read = read;
        Ok(summary)
    }
}
