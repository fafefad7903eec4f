//! One sync cycle of a tenant: settings and the manager permission, users, then rooms changed
//! since the checkpoint (newest first, each changed room's messages counted), then — with
//! `full` — a listing by id that adds rooms never seen and removes rooms and users Rocket.Chat
//! no longer has. Writes go through the store's writer; the checkpoint moves only after they
//! succeeded. Memory holds a page of documents at a time (and, for `full`, the ids listed).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;
use serde_json::Value;
use tokio::time::Instant;

use super::client::{CallStats, RestClient};
use super::source::{self, rest_doc, SourceError};
use super::state::{Decision, SyncState};
use super::store;
use crate::config::TableNames;
use crate::domain::conversation::Conversation;
use crate::domain::identity::{TenantId, User, DEFAULT_VIEW_LIVECHAT_MANAGER_ROLES};
use crate::domain::range::utc_day_of;
use crate::rocketchat::room::{read_room, Room};
use crate::rocketchat::user::read_user;
use crate::rocketchat::DocError;
use crate::store::ingest::ConversationWriter;
use crate::store::items::{
    attr, conversation_item, conversation_pk, permission_item, settings_item, user_item,
};
use crate::store::rebuild::Rebuilder;
use crate::store::writer::{BatchWriter, Flush, WriteError, WriterOptions};
use crate::store::StoreOpError;

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

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the sync state or stored items could not be read or written")]
    Store(#[from] StoreOpError),
    #[error("room {room}: malformed document")]
    Room {
        room: String,
        #[source]
        source: DocError,
    },
    #[error("writing {what} failed")]
    Write {
        what: &'static str,
        #[source]
        source: WriteError,
    },
    #[error("rebuilding the rollups of the synced days failed")]
    Rollups(#[source] StoreOpError),
}

impl SyncError {
    /// The token is wrong or revoked, or the account lacks a permission.
    pub fn is_auth(&self) -> bool {
        matches!(self, SyncError::Source(SourceError::Rest(e)) if e.is_auth())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub tenant: String,
    pub host: String,
    pub full: bool,
    pub rooms_added: u64,
    pub rooms_changed: u64,
    /// Re-read (overlap, resumed pass) and found as stored.
    pub rooms_unchanged: u64,
    pub rooms_removed: u64,
    pub users_written: u64,
    pub users_removed: u64,
    pub messages_read: u64,
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub rate_limited_wait_ms: u64,
    /// False when the time budget cut the cycle short (the next cycle resumes).
    pub complete: bool,
    pub state: SyncState,
    pub rollup_days: u64,
}

impl fmt::Display for SyncSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sync of tenant {} from {}{}: {}",
            self.tenant,
            self.host,
            if self.full { " (full)" } else { "" },
            if self.complete {
                "complete"
            } else {
                "cut short by the time budget; the next sync resumes"
            }
        )?;
        writeln!(
            f,
            "  rooms: {} added, {} changed, {} removed, {} unchanged",
            self.rooms_added, self.rooms_changed, self.rooms_removed, self.rooms_unchanged
        )?;
        writeln!(
            f,
            "  users: {} written, {} removed",
            self.users_written, self.users_removed
        )?;
        writeln!(
            f,
            "  messages read: {}; requests: {} ({} retried); 429s waited: {} ({} ms)",
            self.messages_read,
            self.requests,
            self.retries,
            self.rate_limited,
            self.rate_limited_wait_ms
        )?;
        let checkpoint = self
            .state
            .checkpoint_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or("none".to_string(), |t| t.to_rfc3339());
        writeln!(f, "  checkpoint: {checkpoint}")?;
        if self.rollup_days > 0 {
            writeln!(f, "  rollups: {} days rebuilt", self.rollup_days)?;
        }
        Ok(())
    }
}

/// Runs one cycle of `tenant` from the Rocket.Chat behind `rc`. `now_ms` is the cycle's start.
pub async fn sync_tenant(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    rc: &RestClient,
    options: &SyncOptions,
    now_ms: i64,
) -> Result<SyncSummary, SyncError> {
    let tenant = tenant.as_str();
    let state = store::get_state(client, names, tenant).await?;
    let mut run = Cycle {
        client,
        names,
        tenant,
        rc,
        options,
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
        conversations: ConversationWriter::new(client, names, options.writer),
    };
    tracing::info!(
        tenant,
        host = rc.host(),
        full = options.full,
        "sync started"
    );

    let manager_roles = run.directory_items().await?;
    run.users(&manager_roles).await?;
    let pass = run.rooms_by_update().await?;
    let complete = pass.complete;
    let mut reconciled = false;
    if complete && options.full {
        // What the pass wrote must be readable before the listing asks what is stored.
        let written = std::mem::replace(
            &mut run.conversations,
            ConversationWriter::new(client, names, options.writer),
        );
        finish(written, "conversations").await?;
        reconciled = run.reconcile(now_ms).await?;
    }

    let Cycle {
        directory,
        conversations,
        days,
        mut summary,
        state,
        ..
    } = run;
    finish(directory, "users, settings and permissions").await?;
    finish(conversations, "conversations").await?;
    if options.rebuild_rollups {
        summary.rollup_days = rebuild_days(client, names, tenant, &days).await?;
    }
    // Only now, with every write done, does the checkpoint move.
    let mut next = if complete {
        state.finished(pass.top, now_ms)
    } else {
        match (pass.top, pass.reached) {
            (Some(top), Some(reached)) => state.cut_short(top, reached),
            _ => state,
        }
    };
    if reconciled {
        next.last_full_ms = Some(now_ms);
    }
    store::put_state(client, names, tenant, &next).await?;
    summary.complete = complete && (reconciled || !options.full);
    summary.state = next;
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
) -> Result<u64, SyncError> {
    let rebuilder = Rebuilder::on_wall_clock(client, names);
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

/// How far a pass over rooms got.
struct Pass {
    complete: bool,
    /// Newest `_updatedAt` seen.
    top: Option<i64>,
    /// `_updatedAt` of the last room handled.
    reached: Option<i64>,
}

/// What [`Cycle::sync_rooms`] got through.
struct Handled {
    /// `_updatedAt` of the last room handled.
    reached: Option<i64>,
    out_of_time: bool,
}

struct Cycle<'a> {
    client: &'a Client,
    names: &'a TableNames,
    tenant: &'a str,
    rc: &'a RestClient,
    options: &'a SyncOptions,
    state: SyncState,
    summary: SyncSummary,
    /// UTC days whose conversations were written or removed.
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

    async fn put_directory(&mut self, item: crate::store::items::Item) -> Result<(), SyncError> {
        self.directory
            .put(item)
            .await
            .map_err(|source| SyncError::Write {
                what: "users, settings and permissions",
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

    /// Every user, a page at a time: written when new or changed, removed when deactivated
    /// (Rocket.Chat drops a deactivated user's login tokens). `utcOffset` comes from
    /// `users.info`, asked only for users who hold the manager permission and changed.
    async fn users(&mut self, manager_roles: &[String]) -> Result<(), SyncError> {
        let threshold = self
            .state
            .checkpoint_ms
            .map(|c| c.saturating_sub(super::state::OVERLAP_MS));
        let mut seen: HashSet<String> = HashSet::new();
        let mut offset = 0;
        loop {
            let page = source::users_page(self.rc, offset).await?;
            offset += page.docs.len();
            let mut listed: Vec<(User, bool, Option<i64>)> = Vec::new();
            for doc in page.docs {
                let active = doc.get("active").and_then(Value::as_bool).unwrap_or(true);
                if doc.get("roles").is_none() {
                    return Err(SourceError::Malformed {
                        host: self.rc.host().to_string(),
                        what: "users.list (roles need view-full-other-user-info)".into(),
                        source: DocError::Missing("roles".into()),
                    }
                    .into());
                }
                let parsed = rest_doc(doc).and_then(|d| {
                    let updated = d.date_ms("_updatedAt").ok();
                    read_user(&d).map(|u| (u, updated))
                });
                let (user_doc, updated) = parsed.map_err(|e| SourceError::Malformed {
                    host: self.rc.host().to_string(),
                    what: "a user of users.list".into(),
                    source: e,
                })?;
                if let Some(user) = user_doc.user {
                    listed.push((user, active, updated));
                }
            }
            let ids: Vec<String> = listed.iter().map(|(u, _, _)| u.id.clone()).collect();
            let stored = store::stored_users(self.client, self.names, self.tenant, &ids).await?;
            for (mut user, active, updated) in listed {
                if self.options.full {
                    seen.insert(user.id.clone());
                }
                let before = stored.get(&user.id);
                if !active {
                    if before.is_some() {
                        store::delete_user(self.client, self.names, self.tenant, &user.id).await?;
                        self.summary.users_removed += 1;
                    }
                    continue;
                }
                let manager = user.roles.iter().any(|r| manager_roles.contains(r));
                let changed_since = match (threshold, updated) {
                    (Some(t), Some(u)) => u >= t,
                    _ => true,
                };
                user.utc_offset = match before {
                    Some(b) if !manager || !changed_since => b.utc_offset,
                    _ if manager => {
                        let info = source::user_info(self.rc, &user.id).await?;
                        info.get("utcOffset").and_then(Value::as_f64)
                    }
                    _ => None,
                };
                if before != Some(&user) {
                    self.put_directory(user_item(self.tenant, &user)).await?;
                    self.summary.users_written += 1;
                }
            }
            if !page.more {
                break;
            }
        }
        if self.options.full {
            let mut gone = Vec::new();
            store::for_each_stored_user(self.client, self.names, self.tenant, async |id| {
                if !seen.contains(&id) {
                    gone.push(id);
                }
                Ok(())
            })
            .await?;
            for id in gone {
                store::delete_user(self.client, self.names, self.tenant, &id).await?;
                self.summary.users_removed += 1;
            }
        }
        Ok(())
    }

    /// Rooms newest change first, down to the checkpoint's overlap.
    async fn rooms_by_update(&mut self) -> Result<Pass, SyncError> {
        let mut pass = Pass {
            complete: false,
            top: None,
            reached: None,
        };
        let mut offset = 0;
        loop {
            let page = source::rooms_page(self.rc, offset, false).await?;
            offset += page.docs.len();
            let mut to_sync = Vec::new();
            let mut stop = false;
            for doc in page.docs {
                let (id, updated) = room_id_and_update(self.rc, doc.clone())?;
                pass.top = Some(pass.top.map_or(updated, |t| t.max(updated)));
                match self.state.decide(updated) {
                    Decision::Stop => {
                        stop = true;
                        break;
                    }
                    Decision::Skip => {
                        self.summary.rooms_unchanged += 1;
                        to_sync.push((id, updated, None));
                    }
                    Decision::Sync => to_sync.push((id, updated, Some(doc))),
                }
            }
            let handled = self.sync_rooms(to_sync).await?;
            pass.reached = handled.reached.or(pass.reached);
            if handled.out_of_time {
                return Ok(pass);
            }
            if stop || !page.more {
                pass.complete = true;
                return Ok(pass);
            }
        }
    }

    /// Reads the messages of the rooms that need it (`Some` document) and writes those that
    /// changed, in order, until the time budget runs out.
    async fn sync_rooms(
        &mut self,
        rooms: Vec<(String, i64, Option<Value>)>,
    ) -> Result<Handled, SyncError> {
        let ids: Vec<String> = rooms
            .iter()
            .filter(|(_, _, doc)| doc.is_some())
            .map(|(id, _, _)| id.clone())
            .collect();
        let stored = if ids.is_empty() {
            HashMap::new()
        } else {
            store::stored_conversations(self.client, self.names, self.tenant, &ids).await?
        };
        let mut handled = Handled {
            reached: None,
            out_of_time: false,
        };
        for (id, updated, doc) in rooms {
            if let Some(doc) = doc {
                if self.out_of_time() {
                    handled.out_of_time = true;
                    return Ok(handled);
                }
                self.sync_room(&id, doc, stored.get(&id)).await?;
            }
            handled.reached = Some(updated);
        }
        Ok(handled)
    }

    async fn sync_room(
        &mut self,
        id: &str,
        doc: Value,
        before: Option<&Conversation>,
    ) -> Result<(), SyncError> {
        let room = rest_doc(doc)
            .and_then(|d| read_room(&d))
            .map_err(|source| SyncError::Room {
                room: id.to_string(),
                source,
            })?;
        let Room::Livechat(mut conversation) = room else {
            return Ok(());
        };
        let (agent, read) = source::agent_messages(self.rc, id).await?;
        conversation.agent_messages = agent;
        self.summary.messages_read += read;
        let item = conversation_item(self.tenant, &conversation).map_err(|e| SyncError::Room {
            room: id.to_string(),
            source: DocError::Invalid {
                field: "ts".into(),
                problem: e.problem,
            },
        })?;
        match before {
            Some(b) if *b == conversation => {
                self.summary.rooms_unchanged += 1;
                return Ok(());
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
        self.conversations
            .put(item)
            .await
            .map_err(|source| SyncError::Write {
                what: "conversations",
                source,
            })?;
        self.show();
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

    /// Every room by id: rooms not stored yet are synced, stored rooms not listed are removed.
    /// Returns false when the time budget cut it short (nothing is removed then).
    async fn reconcile(&mut self, now_ms: i64) -> Result<bool, SyncError> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut offset = 0;
        loop {
            let page = source::rooms_page(self.rc, offset, true).await?;
            offset += page.docs.len();
            let mut ids = Vec::new();
            let mut docs = Vec::new();
            for doc in page.docs {
                let (id, updated) = room_id_and_update(self.rc, doc.clone())?;
                seen.insert(id.clone());
                ids.push(id.clone());
                docs.push((id, updated, doc));
            }
            let stored =
                store::stored_conversations(self.client, self.names, self.tenant, &ids).await?;
            let missing = docs
                .into_iter()
                .filter(|(id, _, _)| !stored.contains_key(id))
                .map(|(id, updated, doc)| (id, updated, Some(doc)))
                .collect();
            if self.sync_rooms(missing).await?.out_of_time {
                return Ok(false);
            }
            if !page.more {
                break;
            }
        }
        let mut gone = Vec::new();
        store::for_each_stored_room(
            self.client,
            self.names,
            self.tenant,
            now_ms,
            async |id, ts| {
                if !seen.contains(&id) {
                    gone.push((id, ts));
                }
                Ok(())
            },
        )
        .await?;
        for (id, ts) in gone {
            self.before_write(ts).await?;
            self.conversations
                .delete(self.tenant, &id, ts)
                .await
                .map_err(|source| SyncError::Write {
                    what: "conversations",
                    source,
                })?;
            self.summary.rooms_removed += 1;
        }
        Ok(true)
    }
}

/// A listed room's `_id` and `_updatedAt` (ms).
fn room_id_and_update(rc: &RestClient, doc: Value) -> Result<(String, i64), SyncError> {
    let id = doc
        .get("_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| SourceError::Malformed {
            host: rc.host().to_string(),
            what: "a room of livechat/rooms".into(),
            source: DocError::Missing("_id".into()),
        })?;
    let updated = rest_doc(doc)
        .and_then(|d| d.date_ms("_updatedAt"))
        .map_err(|source| SyncError::Room {
            room: id.clone(),
            source,
        })?;
    Ok((id, updated))
}
