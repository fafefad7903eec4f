//! Writing conversations so the rollup plan never answers from rollups that miss a write in
//! flight; shared by the sync, `import` and `generate-demo` (finding 8 of the 2026-12 review).
//!
//! Before each batch is written, every (tenant, UTC day) it touches is marked with a writer's
//! *lease* ([`state::LeaseChange::Take`]): the mark makes the day dirty, and no rebuild
//! records a day built while a live lease is on it, so the stream's rebuild of this writer's
//! earlier batches cannot make the day clean while this batch is on its way. A keyless mark
//! alone would not do: a rebuild that reads the state after that mark and the index before the
//! write lands would make the day clean without it. After the write, the lease is released by
//! a mark that lists the batch's keys, so the next rebuild reads them from the table however
//! late the index shows them. A writer that crashes leaves its lease to expire
//! ([`crate::domain::day_state::LEASE_MS`]); its days are read raw until then and rebuilt after.
//!
//! A local stack has no stream, so `import` and `generate-demo` rebuild the span of days they
//! wrote themselves ([`DaySpan`]; in AWS the stream does it too, and a second rebuild writes the
//! same items). The sync rebuilds the runs of days it wrote.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::NaiveDate;

use super::rebuild::{RebuildSummary, Rebuilder};
use super::state::{self, new_lease, LeaseChange};
use crate::config::TableNames;
use crate::domain::clock::Clock;
use crate::domain::range::utc_day_of;
use crate::dynamo::conversation_writes::{delete_conversation, tenant_key_day};
use crate::dynamo::items::{attr, conversation_pk, Item, MalformedItem};
use crate::dynamo::writer::{BatchSink, BatchWriter, Flush, WriteError, WriterOptions};
use crate::dynamo::{Client, StoreError};

/// The (tenant, day) → conversation keys a write touches.
type Touched = BTreeMap<(String, NaiveDate), BTreeSet<String>>;

/// A [`BatchSink`] for the conversations table that leases the days of each batch around its
/// write (the module's protocol).
#[derive(Clone)]
pub struct LeasedSink {
    client: Client,
    rollups: String,
    clock: Clock,
    /// Days a conversation is leaving (its start moved), leased with its batch too.
    leaving: Arc<Mutex<HashMap<String, BTreeSet<NaiveDate>>>>,
    /// Every (tenant, day) written.
    written: Arc<Mutex<BTreeSet<(String, NaiveDate)>>>,
}

impl LeasedSink {
    pub fn new(client: Client, rollups_table: &str, clock: Clock) -> Self {
        Self {
            client,
            rollups: rollups_table.to_string(),
            clock,
            leaving: Arc::default(),
            written: Arc::default(),
        }
    }

    fn touched(&self, items: &[Item]) -> Result<Touched, MalformedItem> {
        let leaving = self.leaving.lock().unwrap_or_else(PoisonError::into_inner);
        let mut touched = Touched::new();
        for item in items {
            let (tenant, pk, day) = tenant_key_day(item)?;
            let also = leaving.get(&pk).into_iter().flatten();
            for d in std::iter::once(&day).chain(also) {
                touched
                    .entry((tenant.clone(), *d))
                    .or_default()
                    .insert(pk.clone());
            }
        }
        Ok(touched)
    }

    /// Marks every touched day, taking or releasing `lease` (a release lists the keys).
    async fn mark_all(&self, touched: &Touched, lease: LeaseChange<'_>) -> Result<(), StoreError> {
        let now = (self.clock)();
        let none = BTreeSet::new();
        let marks = touched.iter().map(|((tenant, day), pks)| {
            let pks = match lease {
                LeaseChange::Take(_) => &none,
                LeaseChange::Release(_) => pks,
            };
            state::mark_with_lease(
                &self.client,
                &self.rollups,
                tenant,
                *day,
                pks,
                Some(lease),
                now,
            )
        });
        futures::future::try_join_all(marks).await.map(|_| ())
    }

    /// Runs `write` under a lease on every day of `touched`.
    async fn leased<T>(
        &self,
        touched: Touched,
        write: impl std::future::Future<Output = Result<T, WriteError>>,
    ) -> Result<T, WriteError> {
        let lease = new_lease((self.clock)());
        if let Err(e) = self.mark_all(&touched, LeaseChange::Take(&lease)).await {
            // Best effort: a lease not released expires on its own.
            let _ = self.mark_all(&touched, LeaseChange::Release(&lease)).await;
            return Err(WriteError::MarkDays(e));
        }
        let result = write.await;
        // Released even when the write failed: whatever landed is listed for the rebuild.
        let released = self.mark_all(&touched, LeaseChange::Release(&lease)).await;
        let out = result?;
        released.map_err(WriteError::MarkDays)?;
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(touched.into_keys());
        Ok(out)
    }
}

impl BatchSink for LeasedSink {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<Item>, WriteError> {
        let touched = self
            .touched(&items)
            .map_err(|e| WriteError::MarkDays(e.into()))?;
        self.leased(touched, self.client.write_batch(table, items))
            .await
    }
}

/// Conversations written in batches under the days' leases ([`LeasedSink`]), and removed the
/// same way.
pub struct ConversationWriter {
    writer: BatchWriter<LeasedSink>,
    table: String,
}

impl ConversationWriter {
    /// `clock` stamps the days' leases.
    pub fn new(client: &Client, names: &TableNames, options: WriterOptions, clock: Clock) -> Self {
        let sink = LeasedSink::new(client.clone(), &names.rollups, clock);
        Self {
            writer: BatchWriter::new(sink, &names.conversations, &[attr::PK], options),
            table: names.conversations.clone(),
        }
    }

    pub async fn put(&mut self, item: Item) -> Result<(), WriteError> {
        self.writer.put(item).await
    }

    /// The conversation `pk` moves away from the UTC day of `old_ts_ms` with its next write:
    /// that day is leased with its batch too.
    pub fn leaving(&self, pk: &str, old_ts_ms: i64) {
        if let Some(day) = utc_day_of(old_ts_ms) {
            self.writer
                .sink()
                .leaving
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(pk.to_string())
                .or_default()
                .insert(day);
        }
    }

    /// Deletes conversation `room_id` of `tenant`, started at `ts_ms`, under its day's lease.
    pub async fn delete(&self, tenant: &str, room_id: &str, ts_ms: i64) -> Result<(), WriteError> {
        let pk = conversation_pk(tenant, room_id);
        let Some(day) = utc_day_of(ts_ms) else {
            return Err(WriteError::MarkDays(
                MalformedItem {
                    key: pk,
                    problem: format!("ts {ts_ms} is out of range"),
                }
                .into(),
            ));
        };
        let sink = self.writer.sink();
        let touched = Touched::from([((tenant.to_string(), day), BTreeSet::from([pk.clone()]))]);
        let delete = async {
            delete_conversation(&sink.client, &self.table, &pk)
                .await
                .map_err(WriteError::Delete)
        };
        sink.leased(touched, delete).await.map(|_| ())
    }

    /// Every (tenant, UTC day) written so far.
    pub fn days(&self) -> BTreeSet<(String, NaiveDate)> {
        self.writer
            .sink()
            .written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writes what is buffered and waits for every batch; returns how many items were written.
    pub async fn finish(self) -> Result<u64, WriteError> {
        self.writer.finish().await
    }
}

impl Flush for ConversationWriter {
    fn finish(self) -> impl std::future::Future<Output = Result<u64, WriteError>> + Send {
        ConversationWriter::finish(self)
    }
}

/// The first and last UTC day of the conversations a tool wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaySpan(Option<(NaiveDate, NaiveDate)>);

impl DaySpan {
    pub fn include(&mut self, ts_ms: i64) {
        let Some(day) = utc_day_of(ts_ms) else {
            return;
        };
        self.0 = Some(match self.0 {
            None => (day, day),
            Some((first, last)) => (first.min(day), last.max(day)),
        });
    }

    /// Rebuilds the span's days (nothing when no conversation was written) on `clock`.
    pub async fn rebuild(
        &self,
        client: &Client,
        names: &TableNames,
        tenant: &str,
        clock: Clock,
    ) -> Result<RebuildSummary, StoreError> {
        match self.0 {
            None => Ok(RebuildSummary::default()),
            Some((from, to)) => {
                Rebuilder::with_clock(client, names, clock)
                    .rebuild_days(tenant, from, to)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_grows_to_the_first_and_last_day() {
        let mut span = DaySpan::default();
        assert_eq!(span, DaySpan(None));
        span.include(1_709_251_200_000 + 5); // 2024-03-01
        span.include(1_709_251_200_000 - 5); // 2024-02-29
        span.include(1_709_251_200_000 + 86_400_000 * 3); // 2024-03-04
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(span, DaySpan(Some((day("2024-02-29"), day("2024-03-04")))));
    }
}
