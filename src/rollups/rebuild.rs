//! Recomputing a day's rollups from its conversations, never incrementing them, under the
//! per-day state of [`super::state`] (the protocol and its reasoning are in
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
//!
//! The protocol is here; its DynamoDB calls are the boundary's ([`crate::dynamo::day_states`],
//! [`crate::dynamo::conversation_reads`], [`crate::dynamo::rebuild_writes`]).

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};

use super::state::{self, get_state};
use crate::config::{RollupTables, TableNames};
use crate::domain::aggregate::Aggregator;
use crate::domain::clock::Clock;
use crate::domain::conversation::Conversation;
use crate::domain::day_state::DayState;
use crate::domain::figure::Figure;
use crate::domain::range::UtcRange;
use crate::domain::rollup::{DayRollup, Scope};
use crate::dynamo::items::{rollup_item, Item};
use crate::dynamo::rebuild_writes::{self, DayBuilt};
use crate::dynamo::{Client, StoreError};

mod operator;
mod plan;
mod reads;

pub use operator::StoredDay;

/// Puts in flight at once within one rebuild.
const WRITES_IN_FLIGHT: usize = 16;

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

    /// A rebuilder of `names`' rollup tables on `clock` (the state's `lastChangeAt` and
    /// overflow settling use it): the tools' and the sync's.
    pub fn with_clock(client: &Client, names: &TableNames, clock: Clock) -> Self {
        Self::new(client.clone(), names.rollup_tables(), clock)
    }

    /// Marks `pks` of `tenant` as written on `day` (after the write), see [`state::mark`].
    pub async fn mark(
        &self,
        tenant: &str,
        day: NaiveDate,
        pks: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        state::mark(
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
    ) -> Result<DayRebuild, StoreError> {
        self.rebuild_day_with(tenant, day, &BTreeSet::new()).await
    }

    /// [`Self::rebuild_day`], also writing `extra` scopes (tombstones where they have nothing):
    /// the repair of a left-over item of a department the day does not list.
    pub async fn rebuild_day_with(
        &self,
        tenant: &str,
        day: NaiveDate,
        extra: &BTreeSet<Scope>,
    ) -> Result<DayRebuild, StoreError> {
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
        // Step 5: `built` = v, the departments, the confirmed keys out of `pending`, only
        // while `changed` is still v (`false`: a write was marked meanwhile).
        let built = DayBuilt {
            existed,
            version,
            departments: &present,
            confirmed: &read.confirmed,
            needs_attention: settle.needs_attention,
            clear_overflow: settle.clear_overflow,
            expired_leases: &settle.expired_leases,
        };
        let clean =
            rebuild_writes::record_built(&self.client, table, tenant, day, &built, now).await?;
        if !clean {
            summary.days_left_dirty = 1;
        }
        Ok(DayRebuild {
            summary,
            version,
            clean,
        })
    }

    /// The day's conversations: the GSI's answer with the pending ones as the table has them.
    async fn read_day(
        &self,
        tenant: &str,
        day: NaiveDate,
        state: &DayState,
    ) -> Result<DayRead, StoreError> {
        let range = UtcRange::utc_day(day);
        let mut rooms: HashMap<String, Conversation> = HashMap::new();
        let mut read = self
            .read_raw(tenant, range, |pk, c| {
                rooms.insert(pk, c);
                Ok(())
            })
            .await?;
        let prefix = format!("{tenant}#");
        let keys = state.pending.iter().filter(|pk| pk.starts_with(&prefix));
        let mut in_table: HashMap<String, Conversation> = HashMap::new();
        for (pk, c) in self.by_key(&self.tables.conversations, keys).await? {
            read += 1;
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
    ) -> Result<RebuildSummary, StoreError> {
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

    async fn put_unless_newer(&self, item: Item, version: u64) -> Result<bool, StoreError> {
        rebuild_writes::put_unless_newer(&self.client, &self.tables.rollups, item, version).await
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
    ) -> Result<(), StoreError> {
        let new: Vec<String> = present.difference(&state.written).cloned().collect();
        if new.is_empty() {
            return Ok(());
        }
        rebuild_writes::record_written(&self.client, &self.tables.rollups, tenant, day, new).await
    }
}

/// The day's rollups of every scope.
fn compute<'a>(
    tenant: &str,
    day: NaiveDate,
    rooms: impl Iterator<Item = &'a Conversation>,
) -> Result<DayRollup, StoreError> {
    let mut rollup = DayRollup::new();
    for c in rooms {
        rollup.add(c).map_err(|source| StoreError::Sum {
            tenant: tenant.to_string(),
            day,
            source,
        })?;
    }
    Ok(rollup)
}

impl super::RollupMaintenance for Rebuilder {
    async fn mark_day(
        &self,
        tenant: &str,
        day: NaiveDate,
        pks: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        self.mark(tenant, day, pks).await
    }

    async fn rebuild_day(&self, tenant: &str, day: NaiveDate) -> Result<DayRebuild, StoreError> {
        Rebuilder::rebuild_day(self, tenant, day).await
    }
}
