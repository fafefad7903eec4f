//! One sync cycle of a tenant: settings and the manager permission, users ([`super::users`]:
//! changes since its own checkpoint, a resumable full listing daily), then rooms changed
//! since the checkpoint (newest first, `rooms`), then — with `full` — a listing of every room
//! oldest first that adds or re-reads rooms whose stored copy differs and removes rooms
//! Rocket.Chat no longer has (`listing`). Writes go through the store's writer; the state
//! (checkpoint, or where an unfinished walk stopped) moves only after they succeeded, page by
//! page. One cycle of a tenant runs at a time (a lease). Memory holds a page at a time.

mod listing;
mod rooms;

use std::collections::BTreeSet;

use crate::dynamo::Client;
use chrono::NaiveDate;
use serde_json::Value;
use tokio::time::Instant;

use super::client::{CallStats, RestClient, RestError};
pub use super::error::SyncError;
use super::lease::{Lease, LEASE_MS};
use super::source::{self, rest_doc, SourceError};
use super::state::SyncState;
pub use super::summary::SyncSummary;
use crate::config::TableNames;
use crate::domain::clock::{advancing_from, Clock};
use crate::domain::conversation::Conversation;
use crate::domain::identity::{TenantId, DEFAULT_VIEW_LIVECHAT_MANAGER_ROLES};
use crate::domain::range::utc_day_of;
use crate::dynamo::capacity;
use crate::dynamo::items::{
    attr, conversation_item, conversation_pk, permission_item, settings_item,
};
use crate::dynamo::sync::{get_state, put_state, Stamp};
use crate::dynamo::writer::{BatchWriter, Flush, WriterOptions};
use crate::rocketchat::limits::{check_conversation, DayDepartments};
use crate::rocketchat::room::{read_room, Room};
use crate::rocketchat::DocError;
use crate::rollups::ingest::ConversationWriter;
use crate::rollups::rebuild::Rebuilder;

/// Told the running counts after each room written (the CLI draws them on a progress bar).
pub type Progress = std::sync::Arc<dyn Fn(&SyncSummary) + Send + Sync>;

#[derive(Clone, Default)]
pub struct SyncOptions {
    /// Also list every room and user by id: add what was never seen, remove what is gone.
    pub full: bool,
    /// Rebuild the rollups of the days written (the CLI; in AWS the table's stream does it).
    pub rebuild_rollups: bool,
    pub progress: Option<Progress>,
    /// No new room is started past this instant; what is written is kept and resumed.
    pub deadline: Option<Instant>,
    pub writer: WriterOptions,
}

/// Runs one cycle of `tenant` from the Rocket.Chat behind `rc`. `now_ms` is the cycle's start.
/// Refuses (`is_busy`) while another cycle of the tenant holds the lease.
pub async fn sync_tenant(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    rc: &RestClient,
    options: &SyncOptions,
    now_ms: i64,
) -> Result<SyncSummary, SyncError> {
    // Everything the cycle consumed, the lease's own reads and writes included.
    let (result, consumed) = capacity::measure(async {
        let lease = Lease::take(
            client,
            names,
            tenant.as_str(),
            now_ms,
            lease_until(options, now_ms),
        )
        .await?;
        let result = run_cycle(client, names, tenant, rc, options, now_ms, &lease).await;
        if let Err(e) = lease.release(client, names).await {
            tracing::warn!(tenant = tenant.as_str(), error = %crate::errors::error_chain(&e), "releasing the sync lease failed; it expires by itself");
        }
        result
    })
    .await;
    Ok(SyncSummary {
        consumed,
        ..result?
    })
}

/// The lease lasts past the deadline (the job's end), or [`LEASE_MS`] past each save.
fn lease_until(options: &SyncOptions, now_ms: i64) -> i64 {
    let left = options
        .deadline
        .map(|d| d.saturating_duration_since(Instant::now()).as_millis() as i64);
    now_ms + left.map_or(LEASE_MS, |l| l + 60_000)
}

async fn run_cycle(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    rc: &RestClient,
    options: &SyncOptions,
    now_ms: i64,
    lease: &Lease,
) -> Result<SyncSummary, SyncError> {
    let tenant = tenant.as_str();
    let state = get_state(client, names, tenant).await?;
    let clock = advancing_from(now_ms);
    let mut run = Cycle {
        client,
        names,
        tenant,
        rc,
        options,
        now_ms,
        clock: clock.clone(),
        lease,
        departments: DayDepartments::default(),
        state,
        summary: SyncSummary {
            tenant: tenant.to_string(),
            host: rc.host().to_string(),
            full: options.full,
            ..SyncSummary::default()
        },
        days: BTreeSet::new(),
        directory: BatchWriter::new(
            client.clone(),
            &names.directory,
            &[attr::PK, attr::SK],
            options.writer,
        ),
        conversations: ConversationWriter::new(client, names, options.writer, clock.clone()),
    };
    tracing::info!(
        tenant,
        host = rc.host(),
        full = options.full,
        "sync started"
    );

    let manager_roles = run.directory_items().await?;
    // Settings and the permission are stored before the long phases start.
    let settled = std::mem::replace(
        &mut run.directory,
        BatchWriter::new(
            client.clone(),
            &names.directory,
            &[attr::PK, attr::SK],
            options.writer,
        ),
    );
    finish(settled, "settings and permissions").await?;
    let users = super::users::UsersPhase {
        client,
        names,
        tenant,
        rc,
        manager_roles: &manager_roles,
        deadline: options.deadline,
        full: options.full,
        now_ms,
    }
    .run()
    .await?;
    run.summary.users_written = users.written;
    run.summary.users_removed = users.removed;
    run.summary.users_invalid = users.invalid;
    let complete = run.rooms_by_update().await?;
    let mut listed = false;
    if complete && options.full {
        listed = run.listing().await?;
    }

    let Cycle {
        directory,
        conversations,
        days,
        mut summary,
        state,
        ..
    } = run;
    finish(directory, "settings and permissions").await?;
    finish(conversations, "conversations").await?;
    if options.rebuild_rollups {
        summary.rollup_days = rebuild_days(client, names, tenant, &days, clock).await?;
    }
    // Only now, with every write done, does the state move.
    put_state(client, names, tenant, &state).await?;
    summary.complete = complete && users.complete && (listed || !options.full);
    summary.state = state;
    summary.requests = CallStats::get(&rc.stats.requests);
    summary.retries = CallStats::get(&rc.stats.retries);
    summary.rate_limited = CallStats::get(&rc.stats.rate_limited);
    summary.rate_limited_wait_ms = CallStats::get(&rc.stats.rate_limited_wait_ms);
    tracing::info!(
        tenant,
        host = rc.host(),
        complete = summary.complete,
        rooms_added = summary.rooms_added,
        rooms_changed = summary.rooms_changed,
        rooms_removed = summary.rooms_removed,
        rooms_invalid = summary.rooms_invalid,
        requests = summary.requests,
        rate_limited = summary.rate_limited,
        "sync finished"
    );
    Ok(summary)
}

async fn finish(writer: impl Flush, what: &'static str) -> Result<u64, SyncError> {
    writer
        .finish()
        .await
        .map_err(|source| SyncError::Write { what, source })
}

/// Rebuilds each run of consecutive days once.
async fn rebuild_days(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    days: &BTreeSet<NaiveDate>,
    clock: Clock,
) -> Result<u64, SyncError> {
    let rebuilder = Rebuilder::with_clock(client, names, clock);
    let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &day in days {
        match runs.last_mut() {
            Some((_, last)) if last.succ_opt() == Some(day) => *last = day,
            _ => runs.push((day, day)),
        }
    }
    for (first, last) in runs {
        rebuilder
            .rebuild_days(tenant, first, last)
            .await
            .map_err(SyncError::Rollups)?;
    }
    Ok(days.len() as u64)
}

struct Cycle<'a> {
    client: &'a Client,
    names: &'a TableNames,
    tenant: &'a str,
    rc: &'a RestClient,
    options: &'a SyncOptions,
    /// When the cycle started (ms).
    now_ms: i64,
    /// From `now_ms` on: the leases' renewals and the day leases of the writes.
    clock: Clock,
    lease: &'a Lease,
    /// The departments of each day written to, bounded per day.
    departments: DayDepartments,
    state: SyncState,
    summary: SyncSummary,
    /// UTC days whose conversations were written or removed (each marked before its first).
    days: BTreeSet<NaiveDate>,
    directory: BatchWriter,
    /// Keeps each batch's days dirty while it is written (the rollups' ingest protocol).
    conversations: ConversationWriter,
}

impl Cycle<'_> {
    fn out_of_time(&self) -> bool {
        self.options.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn show(&mut self) {
        if let Some(progress) = &self.options.progress {
            self.summary.requests = CallStats::get(&self.rc.stats.requests);
            progress(&self.summary);
        }
    }

    async fn put_directory(&mut self, item: crate::dynamo::items::Item) -> Result<(), SyncError> {
        self.directory
            .put(item)
            .await
            .map_err(|source| SyncError::Write {
                what: "settings and permissions",
                source,
            })
    }

    /// Settings and the roles holding `view-livechat-manager` (Rocket.Chat's defaults when the
    /// workspace does not list the permission).
    async fn directory_items(&mut self) -> Result<Vec<String>, SyncError> {
        let settings = source::settings(self.rc).await?;
        self.put_directory(settings_item(self.tenant, &settings))
            .await?;
        let roles = source::manager_roles(self.rc).await?;
        if let Some(roles) = &roles {
            self.put_directory(permission_item(
                self.tenant,
                crate::domain::identity::VIEW_LIVECHAT_MANAGER,
                roles,
            ))
            .await?;
        }
        Ok(roles.unwrap_or_else(|| {
            DEFAULT_VIEW_LIVECHAT_MANAGER_ROLES
                .iter()
                .map(|r| r.to_string())
                .collect()
        }))
    }

    /// Reads a listed room that changed (or was never stored), counts its messages and writes
    /// it with its `stamp`. A room a limit refuses is skipped and reported, never stored; a
    /// room that vanished since it was listed is removed.
    async fn sync_room(
        &mut self,
        id: &str,
        doc: Value,
        before: Option<&Conversation>,
        stamp: Stamp,
    ) -> Result<(), SyncError> {
        let room = rest_doc(doc).and_then(|d| read_room(&d)).and_then(|room| {
            if let Room::Livechat(c) = &room {
                check_conversation(self.tenant, c)?;
            }
            Ok(room)
        });
        let room = match room {
            Ok(room) => room,
            Err(e) => {
                self.invalid_room(id, &e);
                return Ok(());
            }
        };
        let Room::Livechat(mut conversation) = room else {
            return Ok(());
        };
        if let Err(e) = self.admit_department(&conversation).await? {
            self.invalid_room(id, &e);
            return Ok(());
        }
        let (agent, read) =
            match super::messages::agent_messages(self.rc, id, self.options.deadline).await {
                Ok(counts) => counts,
                Err(e) if vanished(&e) => return self.remove_vanished(id, before).await,
                Err(e) => return Err(e.into()),
            };
        conversation.agent_messages = agent;
        self.summary.messages_read += read;
        let mut item =
            conversation_item(self.tenant, &conversation).map_err(|e| SyncError::Room {
                room: id.to_string(),
                source: DocError::Invalid {
                    field: "ts".into(),
                    problem: e.problem,
                },
            })?;
        stamp.stamp(&mut item);
        match before {
            Some(b) if *b == conversation => {
                // Only the stamp is new: written so that the room is not read again.
                self.summary.rooms_unchanged += 1;
                return self.put_conversation(item).await;
            }
            Some(b) => {
                self.summary.rooms_changed += 1;
                self.conversations
                    .leaving(&conversation_pk(self.tenant, id), b.ts_ms);
                self.before_write(b.ts_ms).await?;
            }
            None => self.summary.rooms_added += 1,
        }
        self.before_write(conversation.ts_ms).await?;
        self.put_conversation(item).await?;
        self.show();
        Ok(())
    }

    async fn put_conversation(
        &mut self,
        item: crate::dynamo::items::Item,
    ) -> Result<(), SyncError> {
        self.conversations
            .put(item)
            .await
            .map_err(|source| SyncError::Write {
                what: "conversations",
                source,
            })
    }

    /// Whether the room's day can take its department (the day's stored departments, read
    /// once per day and cycle, plus those this cycle wrote).
    async fn admit_department(
        &mut self,
        c: &Conversation,
    ) -> Result<Result<(), DocError>, SyncError> {
        if c.department_id.is_none() {
            return Ok(Ok(()));
        }
        let day = DayDepartments::day_of(c.ts_ms);
        if !self.departments.knows(day) {
            let held = match utc_day_of(c.ts_ms) {
                Some(date) => crate::rollups::state::get_state(
                    self.client,
                    &self.names.rollups,
                    self.tenant,
                    date,
                )
                .await?
                .map(|s| s.departments)
                .unwrap_or_default(),
                None => Vec::new(),
            };
            self.departments.seed(day, held);
        }
        Ok(self.departments.admit(c))
    }

    /// A room no limit admits: counted, logged with its id, never stored.
    fn invalid_room(&mut self, id: &str, e: &DocError) {
        self.summary.rooms_invalid += 1;
        tracing::warn!(
            tenant = self.tenant,
            room = id,
            problem = %crate::errors::error_chain(e),
            "room skipped: it does not meet the stored limits"
        );
    }

    /// A room Rocket.Chat listed but no longer has (its messages answer 404 or invalid-room).
    async fn remove_vanished(
        &mut self,
        id: &str,
        before: Option<&Conversation>,
    ) -> Result<(), SyncError> {
        tracing::info!(
            tenant = self.tenant,
            room = id,
            "room vanished while syncing; removed"
        );
        if let Some(b) = before {
            self.before_write(b.ts_ms).await?;
            self.delete_conversation(id, b.ts_ms).await?;
            self.summary.rooms_removed += 1;
        }
        Ok(())
    }

    /// Call before writing or removing a conversation started at `ts_ms`: notes its day for
    /// `rebuild_rollups`. (The writer keeps each batch's days dirty while it writes them.)
    async fn before_write(&mut self, ts_ms: i64) -> Result<(), SyncError> {
        if let Some(day) = utc_day_of(ts_ms) {
            self.days.insert(day);
        }
        Ok(())
    }

    /// Removes a stored conversation through the writer, which keeps its day dirty meanwhile.
    async fn delete_conversation(&mut self, id: &str, ts_ms: i64) -> Result<(), SyncError> {
        self.conversations
            .delete(self.tenant, id, ts_ms)
            .await
            .map_err(|source| SyncError::Write {
                what: "conversations",
                source,
            })
    }
}

/// A room's messages answer as for a room that does not exist (deleted since it was listed).
/// A 403 is not taken as one: a permission the account lost must not remove every room.
fn vanished(e: &SourceError) -> bool {
    match e {
        SourceError::Rest(RestError::Status { status, error, .. }) => {
            *status == 404 || (*status == 400 && error.contains("invalid-room"))
        }
        _ => false,
    }
}
