//! Issue 20's property: the rollup protocol under concurrency. Writers (the shared
//! `ConversationWriter` the sync and import use: leases around each batch), department
//! transfers and deletes, the stream function's batches, keyless marks, operators' rebuilds and
//! reconciliation passes run as concurrent actors; the byMonth index shows some writes late.
//! Every DynamoDB call of every actor waits at a gate ([`crate::support::gated`]), and a seeded
//! scheduler decides which call goes next, so the actors interleave at every point where
//! another's write can come between two of theirs. After every write (the only points where an
//! answer can change), every day and scope is asked under both plans: the rollup plan must
//! answer exactly what the raw plan answers, or, for a day whose writes the index still lags
//! behind, exactly what the table holds (what the raw plan will answer once the index catches
//! up; the raw plan cannot yet). After quiescence every day must be answered from its rollups.
//! (Extends issue 9's sequential histories in `coverage.rs`.)

use std::collections::{BTreeMap, BTreeSet};

use agent_overview::config::{QueryPlan, ReadSettings, TableNames};
use agent_overview::domain::clock::system_clock;
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::range::UtcRange;
use agent_overview::dynamo::items::{
    attr, conversation_item, conversation_pk, read_conversation_image,
};
use agent_overview::dynamo::writer::WriterOptions;
use agent_overview::functions::stream::handle_batch;
use agent_overview::reconcile::verify::Verifier;
use agent_overview::rollups::ingest::ConversationWriter;
use agent_overview::rollups::rebuild::Rebuilder;
use agent_overview::rollups::state::days_needing_attention;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::memory::MemoryStore;
use agent_overview::store::{ConversationStore, RangeQuery};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::support::choices::Choices;
use crate::support::gated::Gate;
use crate::support::harness;
use crate::support::rollups::{record, stream_event};

const MAY_10: i64 = 1_715_299_200_000; // 2024-05-10T00:00Z
const DAY_MS: i64 = 86_400_000;
const DAYS: i64 = 2;
const ROOMS: [&str; 4] = ["R0", "R1", "R2", "R3"];
const DEPARTMENTS: [&str; 2] = ["D1", "D2"];
/// Actors alive at once, at most.
const ACTORS: usize = 4;
/// Scheduling decisions per history before it drains.
const STEPS: usize = 140;

fn day(offset: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(MAY_10 + offset * DAY_MS)
        .unwrap()
        .date_naive()
}

/// A day, the first three times in four (so actors meet on it more often).
fn some_day(c: &mut Choices) -> i64 {
    if c.next(4) == 0 {
        c.next(DAYS as u64) as i64
    } else {
        0
    }
}

fn random_room(c: &mut Choices, id: &str) -> Conversation {
    let mut room = Conversation::new(
        id,
        MAY_10 + some_day(c) * DAY_MS + c.next(80_000_000) as i64,
    );
    room.department_id = Some(DEPARTMENTS[c.next(2) as usize].into());
    room.agent = Some(["ann", "bob"][c.next(2) as usize].into());
    room.chat_duration = Some(5.0 + c.next(100) as f64);
    room
}

/// One actor's work.
enum Work {
    /// Writes rooms (a department transfer, a new day, a new agent...) and removes others,
    /// through the shared writer; `lag`: the index shows these writes late.
    Write {
        puts: Vec<(Conversation, Option<Conversation>)>,
        deletes: Vec<Conversation>,
        lag: bool,
    },
    /// The stream function's batch of these records.
    Stream(Vec<Value>),
    /// A keyless mark (another shard, an operator's repair).
    Mark(NaiveDate),
    /// An operator's rebuild (or a stream retry).
    Rebuild(NaiveDate),
    /// A reconciliation pass over a day, with repair.
    Reconcile(NaiveDate),
}

struct Actor {
    handle: JoinHandle<()>,
    /// Stream records of its writes, deliverable once it has finished.
    records: Vec<Value>,
    rooms: Vec<String>,
}

struct History<'a> {
    tenant: String,
    names: &'a TableNames,
    gate: Gate,
    /// Ungated: the checks and the index's catch-up.
    client: Client,
    choices: Choices,
    /// The rooms as the test last wrote them (the old images of the next records).
    last: BTreeMap<String, Option<Conversation>>,
    undelivered: Vec<Value>,
    seq: u64,
    next_actor: usize,
    actors: Vec<Actor>,
    /// Scheduling priority by actor (PCT: the highest goes on until a change point demotes it,
    /// so one actor's long sequences, a whole rebuild, also land between two of another's calls).
    priorities: BTreeMap<usize, i64>,
    lowest: i64,
    checks: u64,
}

impl<'a> History<'a> {
    fn spawn(&mut self, work: Work) {
        self.next_actor += 1;
        let priority = self.choices.next(1_000) as i64;
        self.priorities.insert(self.next_actor, priority);
        let client = self.gate.client(self.next_actor);
        let (names, tenant) = (self.names.clone(), self.tenant.clone());
        let mut records = Vec::new();
        let mut rooms = Vec::new();
        if let Work::Write { puts, deletes, .. } = &work {
            for (new, old) in puts {
                self.seq += 1;
                records.push(record(self.seq, &tenant, old.as_ref(), Some(new)));
                rooms.push(new.room_id.clone());
                self.last.insert(new.room_id.clone(), Some(new.clone()));
            }
            for old in deletes {
                self.seq += 1;
                records.push(record(self.seq, &tenant, Some(old), None));
                rooms.push(old.room_id.clone());
                self.last.insert(old.room_id.clone(), None);
            }
        }
        // Local tasks: the actors share the test's thread (and need not be Send).
        let handle = tokio::task::spawn_local(async move {
            let rebuilder = Rebuilder::new(client.clone(), names.rollup_tables(), system_clock());
            match work {
                Work::Write { puts, deletes, lag } => {
                    let options = WriterOptions {
                        max_in_flight: 1,
                        ..WriterOptions::default()
                    };
                    let mut writer = ConversationWriter::new(
                        &client,
                        &names,
                        options,
                        agent_overview::domain::clock::system_clock(),
                    );
                    for (new, old) in puts {
                        let mut item = conversation_item(&tenant, &new).unwrap();
                        if lag {
                            item.remove(attr::MONTH);
                            item.remove(attr::DEPT_MONTH);
                        }
                        if let Some(old) = old {
                            writer.leaving(&conversation_pk(&tenant, &old.room_id), old.ts_ms);
                        }
                        writer.put(item).await.unwrap();
                    }
                    for old in deletes {
                        writer
                            .delete(&tenant, &old.room_id, old.ts_ms)
                            .await
                            .unwrap();
                    }
                    writer.finish().await.unwrap();
                }
                Work::Stream(records) => {
                    let applied = handle_batch(&rebuilder, stream_event(&records))
                        .await
                        .unwrap();
                    assert_eq!(applied.failed_days, 0);
                }
                Work::Mark(day) => rebuilder
                    .mark(&tenant, day, &BTreeSet::new())
                    .await
                    .unwrap(),
                Work::Rebuild(day) => {
                    rebuilder.rebuild_day(&tenant, day).await.unwrap();
                }
                Work::Reconcile(day) => {
                    let verifier = Verifier::new(
                        client.clone(),
                        names.rollup_tables(),
                        rebuilder,
                        system_clock(),
                    );
                    verifier.verify_day(&tenant, day, true).await.unwrap();
                }
            }
        });
        self.actors.push(Actor {
            handle,
            records,
            rooms,
        });
    }

    /// Collects the actors that finished (their panics fail the test); their records become
    /// deliverable.
    async fn reap(&mut self) {
        let mut i = 0;
        while i < self.actors.len() {
            if self.actors[i].handle.is_finished() {
                let actor = self.actors.remove(i);
                actor.handle.await.expect("an actor failed");
                self.undelivered.extend(actor.records);
            } else {
                i += 1;
            }
        }
    }

    fn busy(&self) -> BTreeSet<String> {
        self.actors
            .iter()
            .flat_map(|a| a.rooms.iter().cloned())
            .collect()
    }

    fn new_work(&mut self) -> Work {
        let busy = self.busy();
        let c = &mut self.choices;
        match c.next(9) {
            0..=2 => {
                let free: Vec<&str> = ROOMS
                    .iter()
                    .copied()
                    .filter(|r| !busy.contains(*r))
                    .collect();
                let mut puts = Vec::new();
                let mut deletes = Vec::new();
                for room in free {
                    if c.next(2) == 0 {
                        continue;
                    }
                    let old = self.last.get(room).cloned().flatten();
                    match (&old, c.next(5)) {
                        (Some(old), 0) => deletes.push(old.clone()),
                        _ => {
                            let mut new = random_room(c, room);
                            if let (Some(old), 1 | 2) = (&old, c.next(4)) {
                                // A transfer: same room and day, another department or agent.
                                new.ts_ms = old.ts_ms;
                            }
                            puts.push((new, old));
                        }
                    }
                }
                Work::Write {
                    puts,
                    deletes,
                    lag: c.next(2) == 0,
                }
            }
            3 | 4 if !self.undelivered.is_empty() => {
                let n = 1 + c.next(self.undelivered.len() as u64) as usize;
                let records: Vec<Value> = self.undelivered.drain(..n).collect();
                Work::Stream(records)
            }
            5 => Work::Mark(day(some_day(c))),
            6 | 7 => Work::Rebuild(day(some_day(c))),
            _ => Work::Reconcile(day(some_day(c))),
        }
    }

    /// One scheduling decision: start an actor, let a held call go, or let the index catch up.
    /// Returns whether a write went through (answers can have changed).
    async fn step(&mut self, may_start: bool) -> bool {
        self.gate.settle().await;
        self.reap().await;
        let waiting = self.gate.waiting();
        if std::env::var("INTERLEAVING_DEBUG").is_ok() {
            eprintln!("actors {} waiting {waiting:?}", self.actors.len());
        }
        let start = may_start
            && self.actors.len() < ACTORS
            && (waiting.is_empty() || self.choices.next(6) == 0);
        if start {
            let work = self.new_work();
            self.spawn(work);
            return false;
        }
        if waiting.is_empty() || self.choices.next(12) == 0 {
            return self.catch_up_index().await;
        }
        let priority = |actor: &usize| self.priorities.get(actor).copied().unwrap_or(0);
        let pick = (0..waiting.len())
            .max_by_key(|i| (priority(&waiting[*i].0), std::cmp::Reverse(*i)))
            .unwrap_or(0);
        // A change point: the actor that goes now is preempted after this call. Mostly after
        // the protocol's steps (a mark, a lease, a recorded build, a conversation written),
        // seldom inside a run of reads or rollup puts, so a whole rebuild can also fit between
        // two steps of a writer.
        let step = matches!(
            waiting[pick].1.as_str(),
            "UpdateItem" | "BatchWriteItem" | "DeleteItem"
        );
        if self.choices.next(if step { 3 } else { 40 }) == 0 {
            self.lowest -= 1;
            self.priorities.insert(waiting[pick].0, self.lowest);
        }
        let write = matches!(
            waiting[pick].1.as_str(),
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem"
        );
        self.gate.release(pick);
        write
    }

    /// The index shows every write (the test re-puts each lagging item with its index keys, as
    /// the table holds it: no figure changes). Returns whether it changed anything.
    async fn catch_up_index(&mut self) -> bool {
        let mut changed = false;
        for item in self.table_items().await {
            if item.contains_key(attr::MONTH) {
                continue;
            }
            let (_, _, c) = read_conversation_image(&item).unwrap();
            harness::index_now(&self.client, &self.tenant, &c).await;
            changed = true;
        }
        changed
    }

    /// The tenant's conversations as the table holds them (strongly consistent).
    async fn table_items(&self) -> Vec<agent_overview::dynamo::items::Item> {
        let keys = ROOMS
            .iter()
            .map(|r| {
                [(
                    attr::PK.to_string(),
                    AttributeValue::S(conversation_pk(&self.tenant, r)),
                )]
                .into_iter()
                .collect()
            })
            .collect();
        let wanted = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .unwrap();
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.names.conversations, wanted)
            .send()
            .await
            .unwrap();
        assert!(out.unprocessed_keys().is_none_or(|u| u.is_empty()));
        out.responses()
            .and_then(|r| r.get(&self.names.conversations))
            .cloned()
            .unwrap_or_default()
    }

    /// Every day and scope under both plans (see the module's doc).
    async fn check(&mut self, label: &str, settled: bool) {
        self.checks += 1;
        let items = self.table_items().await;
        let memory = MemoryStore::new();
        let mut lagging_days = BTreeSet::new();
        for item in &items {
            let (_, _, c) = read_conversation_image(item).unwrap();
            if !item.contains_key(attr::MONTH) {
                lagging_days.insert(c.ts_ms.div_euclid(DAY_MS));
            }
            memory.put_conversation(&self.tenant, c);
        }
        let store = |plan| {
            DynamoStore::new(
                self.client.clone(),
                self.names.clone(),
                ReadSettings {
                    query_plan: plan,
                    ..ReadSettings::default()
                },
            )
        };
        let (raw, rollups) = (store(QueryPlan::Raw), store(QueryPlan::Rollups));
        for offset in 0..DAYS {
            let range = UtcRange::utc_day(day(offset));
            let lagging = lagging_days.contains(&(range.start_ms.div_euclid(DAY_MS)));
            for scope in [None, Some("D1"), Some("D2")] {
                let q = RangeQuery {
                    tenant: self.tenant.clone(),
                    figure: Figure::AvgChatDuration,
                    range,
                    department_id: scope.map(str::to_string),
                };
                let (by_rollups, stats) = rollups.fold(&q).await.unwrap();
                let by_rollups = by_rollups.into_rows();
                let (by_raw, _) = raw.fold(&q).await.unwrap();
                let (truth, _) = memory.fold(&q).await.unwrap();
                let (by_raw, truth) = (by_raw.into_rows(), truth.into_rows());
                let at = format!("{label}, day {offset}, {scope:?}, lagging {lagging}");
                if !lagging {
                    assert_eq!(by_raw, truth, "the raw plan: {at}");
                }
                if stats.rollup_days == 1 {
                    assert_eq!(by_rollups, truth, "answered from rollups: {at}");
                } else {
                    assert_eq!(by_rollups, by_raw, "read raw: {at}");
                    assert!(!settled, "not answered from rollups after quiescence: {at}");
                }
            }
        }
    }
}

/// One seeded history: concurrent actors for [`STEPS`] decisions, then drained; then the
/// stream delivers the rest, the index catches up and the reconciliation passes over what
/// the byAttention index names: every day is then clean and answered from its rollups.
async fn history(seed: u64) {
    let (client, names) = harness::ready().await;
    let mut h = History {
        tenant: harness::unique_tenant(&format!("interleave-{seed}")),
        names: &names,
        gate: Gate::scheduled(),
        client,
        choices: Choices(seed),
        last: BTreeMap::new(),
        undelivered: Vec::new(),
        seq: 0,
        next_actor: 0,
        actors: Vec::new(),
        priorities: BTreeMap::new(),
        lowest: 0,
        checks: 0,
    };
    for step in 0..STEPS {
        if h.step(true).await {
            h.gate.settle().await;
            h.check(&format!("seed {seed} step {step}"), false).await;
        }
    }
    // Drain: no new actor; every held call goes, in the seed's order.
    let mut step = STEPS;
    loop {
        h.gate.settle().await;
        h.reap().await;
        if h.actors.is_empty() {
            break;
        }
        step += 1;
        if h.step(false).await {
            h.gate.settle().await;
            h.check(&format!("seed {seed} drain {step}"), false).await;
        }
    }
    // Quiescence: the index catches up, the stream delivers the rest, and one reconciliation
    // pass over what needs attention, each run to its end.
    h.catch_up_index().await;
    let rest = std::mem::take(&mut h.undelivered);
    if !rest.is_empty() {
        h.spawn(Work::Stream(rest));
    }
    let attention = days_needing_attention(&h.client, &names.rollups, "byAttention", 0)
        .await
        .unwrap();
    for (tenant, d) in attention {
        if tenant == h.tenant {
            h.spawn(Work::Reconcile(d));
        }
    }
    loop {
        h.gate.settle().await;
        h.reap().await;
        if h.actors.is_empty() {
            break;
        }
        if h.step(false).await {
            h.gate.settle().await;
            h.check(&format!("seed {seed} quiescence"), false).await;
        }
    }
    // Every day was written by now (a state exists), so each is answered from its rollups.
    for offset in 0..DAYS {
        let rebuilt = Rebuilder::with_clock(
            &h.client,
            &names,
            agent_overview::domain::clock::system_clock(),
        )
        .rebuild_day(&h.tenant, day(offset))
        .await
        .unwrap();
        assert!(
            rebuilt.clean,
            "seed {seed}: day {offset} clean after quiescence"
        );
    }
    h.check(&format!("seed {seed} settled"), true).await;
    eprintln!("interleaving seed {seed}: {} checks", h.checks);
}

/// Issue 20's property over a few seeds (each history is 80-170 checked steps, about 10 s;
/// `INTERLEAVING_SEEDS=1,2,...` runs others).
#[tokio::test]
async fn concurrent_writers_transfers_rebuilds_and_reconciliation_never_answer_wrong() {
    let seeds: Vec<u64> = match std::env::var("INTERLEAVING_SEEDS") {
        Ok(list) => list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
        // Seed 3 found a stale department item read as a tombstone (finding 7), seed 4 a
        // rebuild that made a day clean under a live lease (finding 8), each with its fix removed.
        Err(_) => vec![1, 3, 4],
    };
    for seed in seeds {
        tokio::task::LocalSet::new().run_until(history(seed)).await;
    }
}
