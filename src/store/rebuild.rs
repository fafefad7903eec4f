//! Recomputing a day's rollups from its conversations, never incrementing them, under the
//! per-day state of [`super::day_state`] (the protocol and its reasoning are in
//! `docs/data-model.md`, "Rollup state"):
//!
//! 1. read the day's state, strongly consistent: `changed` = v, `pending` = P;
//! 2. read the day's conversations from the `byMonth` GSI, and P's from the table itself
//!    (consistent BatchGetItem), laid over the GSI's answer: a write the index has not shown
//!    yet is counted as the table has it;
//! 3. compute every scope (`All`, the departments present, tombstones for those that left);
//! 4. put each item tagged `version` = v unless a newer version is stored;
//! 5. set `built` = v and drop from P the keys the GSI showed as the table has them, only if
//!    `changed` is still v (a mark in between leaves the day dirty for the next rebuild).
//!
//! A duplicated or retried rebuild writes the same items; an empty scope is written as an item
//! without agents (a tombstone) rather than deleted, so an older rebuild cannot write stale
//! tallies back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use chrono::{Days, NaiveDate};
use futures::{StreamExt, TryStreamExt};

use super::day_state::{self, attention, get_state, DayState};
use super::items::{
    self, attr, fold_rollup_item, read_conversation_image, read_indexed_conversation, rollup_item,
    rollup_pk, rollup_sk, Item, MalformedItem,
};
use super::plan::month_spans;
use super::{succeeded_unless, StoreOpError};
use crate::config::{RollupTables, TableNames};
use crate::domain::aggregate::Aggregator;
use crate::domain::clock::{system_clock, Clock};
use crate::domain::conversation::Conversation;
use crate::domain::figure::Figure;
use crate::domain::range::{utc_day_of, UtcRange};
use crate::domain::rollup::{DayRollup, Scope};

mod plan;

use plan::Settle;

/// Puts in flight at once within one rebuild.
const WRITES_IN_FLIGHT: usize = 16;
/// Days an operator's rebuild works on at once.
const DAYS_IN_FLIGHT: usize = 8;
/// Keys per BatchGetItem (DynamoDB's limit) and attempts for its unprocessed keys.
const BATCH_GET_KEYS: usize = 100;
const BATCH_GET_ATTEMPTS: u32 = 6;

/// The earliest day a whole-tenant rebuild looks at, unless rollups exist before it.
fn first_day() -> NaiveDate {
    chrono::DateTime::UNIX_EPOCH.date_naive()
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildSummary {
    /// UTC days whose rollups were written.
    pub days: u64,
    /// Conversations read (GSI and pending).
    pub conversations_read: u64,
    /// Rollup items put (tombstones included).
    pub items_written: u64,
    /// Puts refused because a newer version was already stored.
    pub items_superseded: u64,
    /// Days left dirty: a write came in meanwhile, or an overflowed day has not settled.
    pub days_left_dirty: u64,
}

impl RebuildSummary {
    pub fn add(&mut self, other: &RebuildSummary) {
        self.days += other.days;
        self.conversations_read += other.conversations_read;
        self.items_written += other.items_written;
        self.items_superseded += other.items_superseded;
        self.days_left_dirty += other.days_left_dirty;
    }
}

/// One day's rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRebuild {
    pub summary: RebuildSummary,
    /// The `changed` it was built from.
    pub version: u64,
    /// The day is clean after it (`built` = `changed`): its rollups answer requests.
    pub clean: bool,
}

/// What is stored for a day: its state and every rollup item of its listed scopes.
#[derive(Debug, Clone, Default)]
pub struct StoredDay {
    pub state: Option<DayState>,
    /// `(scope, figure)` → tallies and the item's version.
    pub rollups: BTreeMap<(Scope, Figure), (Aggregator, Option<u64>)>,
}

/// A day's conversations as a rebuild sees them.
struct DayRead {
    rooms: HashMap<String, Conversation>,
    /// Pending keys the GSI shows as the table has them.
    confirmed: BTreeSet<String>,
    read: u64,
}

/// Rebuilds rollups; shared by the stream function, the operators' tool and the
/// reconciliation.
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

    /// A rebuilder on the wall clock (the state's `lastChangeAt` and overflow settling use it):
    /// the tools' and the sync's.
    pub fn on_wall_clock(client: &Client, names: &TableNames) -> Self {
        Self::new(client.clone(), names.rollup_tables(), system_clock())
    }

    /// Marks `pks` of `tenant` as written on `day` (after the write), see [`day_state::mark`].
    pub async fn mark(
        &self,
        tenant: &str,
        day: NaiveDate,
        pks: &BTreeSet<String>,
    ) -> Result<(), StoreOpError> {
        day_state::mark(
            &self.client,
            &self.tables.rollups,
            tenant,
            day,
            pks,
            (self.clock)(),
        )
        .await
    }

    /// Rebuilds one UTC day of a tenant (the protocol in the module's doc).
    pub async fn rebuild_day(
        &self,
        tenant: &str,
        day: NaiveDate,
    ) -> Result<DayRebuild, StoreOpError> {
        self.rebuild_day_with(tenant, day, &BTreeSet::new()).await
    }

    /// [`Self::rebuild_day`], also writing `extra` scopes (tombstones where they have nothing):
    /// the repair of a left-over item of a department the day does not list.
    pub async fn rebuild_day_with(
        &self,
        tenant: &str,
        day: NaiveDate,
        extra: &BTreeSet<Scope>,
    ) -> Result<DayRebuild, StoreOpError> {
        let now = (self.clock)();
        let table = &self.tables.rollups;
        let stored = get_state(&self.client, table, tenant, day).await?;
        let existed = stored.is_some();
        let state = stored.unwrap_or_default();
        let version = state.changed;
        let read = self.read_day(tenant, day, &state).await?;
        let rollup = compute(tenant, day, read.rooms.values())?;
        let present: BTreeSet<String> = rollup.departments().into_iter().collect();
        let plan = plan::plan_day(&state, &present, &read.confirmed, extra, now);
        self.record_written(tenant, day, &present, &state).await?;
        let mut summary = self
            .write_rollups(tenant, day, &rollup, &plan.scopes, version)
            .await?;
        summary.conversations_read = read.read;
        summary.days = 1;
        let Some(settle) = plan.settle else {
            summary.days_left_dirty = 1;
            return Ok(DayRebuild {
                summary,
                version,
                clean: false,
            });
        };
        let outcome = Built {
            existed,
            version,
            departments: &present,
            confirmed: &read.confirmed,
            settle,
        };
        let clean = self.record_built(tenant, day, &outcome, now).await?;
        if !clean {
            summary.days_left_dirty = 1;
        }
        Ok(DayRebuild {
            summary,
            version,
            clean,
        })
    }

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

    /// The day's conversations: the GSI's answer with the pending ones as the table has them.
    async fn read_day(
        &self,
        tenant: &str,
        day: NaiveDate,
        state: &DayState,
    ) -> Result<DayRead, StoreOpError> {
        let range = UtcRange::utc_day(day);
        let mut rooms: HashMap<String, Conversation> = HashMap::new();
        let mut read = self
            .read_raw(tenant, range, |pk, c| {
                rooms.insert(pk, c);
                Ok(())
            })
            .await?;
        let prefix = format!("{tenant}#");
        let keys: Vec<Item> = state
            .pending
            .iter()
            .filter(|pk| pk.starts_with(&prefix))
            .map(|pk| Item::from([(attr::PK.to_string(), AttributeValue::S(pk.clone()))]))
            .collect();
        let mut in_table: HashMap<String, Conversation> = HashMap::new();
        for item in self.batch_get(&self.tables.conversations, keys).await? {
            read += 1;
            let (_, pk, c) = read_conversation_image(&item)?;
            in_table.insert(pk, c);
        }
        let pending = state.pending.iter().filter(|pk| pk.starts_with(&prefix));
        let confirmed = plan::overlay_pending(&mut rooms, pending, &in_table, range);
        Ok(DayRead {
            rooms,
            confirmed,
            read,
        })
    }

    /// Puts the seven figures of each scope (a tombstone where the scope has no agent).
    async fn write_rollups(
        &self,
        tenant: &str,
        day: NaiveDate,
        rollup: &DayRollup,
        scopes: &BTreeSet<Scope>,
        version: u64,
    ) -> Result<RebuildSummary, StoreOpError> {
        let mut puts = Vec::with_capacity(scopes.len() * Figure::ALL.len());
        for scope in scopes {
            for figure in Figure::ALL {
                let item = match rollup.scope(scope) {
                    Some(tallies) => {
                        rollup_item(tenant, scope, day, tallies.figure(figure), version)
                    }
                    None => rollup_item(tenant, scope, day, &Aggregator::new(figure), version),
                };
                puts.push(item);
            }
        }
        futures::stream::iter(puts)
            .map(|item| self.put_unless_newer(item, version))
            .buffer_unordered(WRITES_IN_FLIGHT)
            .try_fold(RebuildSummary::default(), |mut s, written| async move {
                if written {
                    s.items_written += 1;
                } else {
                    s.items_superseded += 1;
                }
                Ok(s)
            })
            .await
    }

    async fn put_unless_newer(&self, item: Item, version: u64) -> Result<bool, StoreOpError> {
        let table = &self.tables.rollups;
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#pk) OR attribute_not_exists(#version) OR #version <= :v",
            )
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#version", attr::VERSION)
            .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            .send()
            .await;
        succeeded_unless(result, |e| e.is_conditional_check_failed_exception())
            .map_err(|e| StoreOpError::call("PutItem", table, e))
    }

    /// Before the puts: adds the departments about to get items to the day's
    /// `departmentsWritten`, so a later rebuild tombstones them even if this one never records
    /// its result (finding 7). Unconditional: it changes nothing a reader trusts.
    async fn record_written(
        &self,
        tenant: &str,
        day: NaiveDate,
        present: &BTreeSet<String>,
        state: &DayState,
    ) -> Result<(), StoreOpError> {
        let new: Vec<String> = present.difference(&state.written).cloned().collect();
        if new.is_empty() {
            return Ok(());
        }
        let table = &self.tables.rollups;
        self.client
            .update_item()
            .table_name(table)
            .set_key(Some(day_state::state_key(tenant, day)))
            .update_expression("SET #tenant = :tenant ADD #written :new")
            .expression_attribute_names("#tenant", attr::TENANT)
            .expression_attribute_names("#written", attr::WRITTEN)
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
            .expression_attribute_values(":new", AttributeValue::Ss(new))
            .send()
            .await
            .map_err(|e| StoreOpError::call("UpdateItem", table, e))?;
        Ok(())
    }

    /// Step 5: `built` = v, the departments, the confirmed keys out of `pending`, only while
    /// `changed` is still v. `Ok(false)`: a write was marked meanwhile.
    async fn record_built(
        &self,
        tenant: &str,
        day: NaiveDate,
        b: &Built<'_>,
        now: i64,
    ) -> Result<bool, StoreOpError> {
        let table = &self.tables.rollups;
        let departments: Vec<String> = b.departments.iter().cloned().collect();
        let mut set = vec![
            "#built = :v",
            "#departments = :departments",
            "#tenant = :tenant",
            "#attention = :attention",
            "#at = if_not_exists(#at, :now)",
        ];
        let mut u = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(day_state::state_key(tenant, day)))
            .expression_attribute_names("#changed", attr::CHANGED)
            .expression_attribute_names("#built", attr::BUILT)
            .expression_attribute_names("#departments", attr::DEPARTMENTS)
            .expression_attribute_names("#tenant", attr::TENANT)
            .expression_attribute_names("#attention", attr::ATTENTION)
            .expression_attribute_names("#at", attr::LAST_CHANGE_AT)
            .expression_attribute_values(":v", AttributeValue::N(b.version.to_string()))
            .expression_attribute_values(":departments", items::string_list(&departments))
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
            .expression_attribute_values(
                ":attention",
                AttributeValue::S(attention(tenant, day, b.settle.needs_attention)),
            )
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
        if b.existed {
            u = u.condition_expression("#changed = :v");
        } else {
            set.push("#changed = :v");
            u = u.condition_expression("attribute_not_exists(#changed)");
        }
        let mut expression = format!("SET {}", set.join(", "));
        if b.settle.clear_overflow {
            expression.push_str(" REMOVE #overflow");
            u = u.expression_attribute_names("#overflow", attr::OVERFLOW);
        }
        let mut deletes = Vec::new();
        if !b.confirmed.is_empty() {
            deletes.push("#pending :confirmed");
            u = u
                .expression_attribute_names("#pending", attr::PENDING)
                .expression_attribute_values(
                    ":confirmed",
                    AttributeValue::Ss(b.confirmed.iter().cloned().collect()),
                );
        }
        if !b.settle.expired_leases.is_empty() {
            deletes.push("#writers :expired");
            u = u
                .expression_attribute_names("#writers", attr::WRITERS)
                .expression_attribute_values(
                    ":expired",
                    AttributeValue::Ss(b.settle.expired_leases.clone()),
                );
        }
        if !deletes.is_empty() {
            expression.push_str(&format!(" DELETE {}", deletes.join(", ")));
        }
        let result = u.update_expression(expression).send().await;
        succeeded_unless(result, |e| e.is_conditional_check_failed_exception())
            .map_err(|e| StoreOpError::call("UpdateItem", table, e))
    }

    /// Items by key, strongly consistent, unprocessed keys asked for again with back-off.
    async fn batch_get(&self, table: &str, keys: Vec<Item>) -> Result<Vec<Item>, StoreOpError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(BATCH_GET_KEYS) {
            let mut wanted = KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreOpError::call("BatchGetItem", table, e))?;
            let mut attempt = 0;
            loop {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(table, wanted)
                    .send()
                    .await
                    .map_err(|e| StoreOpError::call("BatchGetItem", table, e))?;
                if let Some(items) = out.responses().and_then(|r| r.get(table)) {
                    found.extend(items.iter().cloned());
                }
                match out.unprocessed_keys().and_then(|u| u.get(table)) {
                    Some(rest) if !rest.keys().is_empty() && attempt < BATCH_GET_ATTEMPTS => {
                        wanted = rest.clone();
                        attempt += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                    }
                    Some(rest) if !rest.keys().is_empty() => {
                        return Err(StoreOpError::call(
                            "BatchGetItem",
                            table,
                            std::io::Error::other("keys still unprocessed after retries"),
                        ))
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
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
}

/// What step 5 records.
struct Built<'a> {
    existed: bool,
    version: u64,
    departments: &'a BTreeSet<String>,
    confirmed: &'a BTreeSet<String>,
    settle: Settle,
}

/// The day's rollups of every scope.
fn compute<'a>(
    tenant: &str,
    day: NaiveDate,
    rooms: impl Iterator<Item = &'a Conversation>,
) -> Result<DayRollup, StoreOpError> {
    let mut rollup = DayRollup::new();
    for c in rooms {
        rollup.add(c).map_err(|source| StoreOpError::Sum {
            tenant: tenant.to_string(),
            day,
            source,
        })?;
    }
    Ok(rollup)
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

impl super::RollupMaintenance for Rebuilder {
    async fn mark_day(
        &self,
        tenant: &str,
        day: NaiveDate,
        pks: &BTreeSet<String>,
    ) -> Result<(), StoreOpError> {
        self.mark(tenant, day, pks).await
    }

    async fn rebuild_day(&self, tenant: &str, day: NaiveDate) -> Result<DayRebuild, StoreOpError> {
        Rebuilder::rebuild_day(self, tenant, day).await
    }
}
