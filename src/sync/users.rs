//! The users phase of a sync cycle, and who owns which user.
//!
//! - **Incremental.** Users changed since the users' checkpoint (less the overlap) are read
//!   newest change first (`sort={"_updatedAt":-1}`): an idle workspace costs one request.
//! - **Full, resumable.** Daily (or with `--full`, or before any checkpoint exists) every user
//!   is listed by `_id`; the listing saves its cursor when the job's time runs out and the next
//!   job carries on. Each page is compared with the stored users of the same id range: a
//!   stored user the sync manages that the page does not list is removed, once `users.info`
//!   confirms Rocket.Chat no longer has it (a listing shifted by a deletion never removes a
//!   live user).
//! - **Ownership.** Users the sync writes carry `managedBy = "sync"`; only those are pruned.
//!   Users an operator added (`add-user`, `import`) stay unless Rocket.Chat lists them
//!   deactivated.
//! - **Sessions.** Writes keep a user's `generation` (an UpdateItem with `if_not_exists`), so
//!   sessions survive a sync; a user deactivated in Rocket.Chat, or removed, loses its item at
//!   once and then its sessions; a user created again gets a new generation, so no old session
//!   works again.
//! - **Deadline.** Checked before every page and every `users.info`: a phase cut short says so
//!   (the cycle is not complete) and keeps its progress.

use std::collections::HashSet;

use crate::dynamo::Client;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::client::{RestClient, RestError};
use super::error::SyncError;
use super::source::{self, rest_doc, SourceError};
use super::state::OVERLAP_MS;
use crate::config::TableNames;
use crate::domain::identity::User;
use crate::dynamo::identity_writes::{delete_user, end_sessions, put_owned_user, UserOwner};
pub use crate::dynamo::sync::users::{get_users_state, FullCursor, UsersState};
use crate::dynamo::sync::users::{managed_users_between, put_users_state, stored_users};
use crate::rocketchat::limits;
use crate::rocketchat::user::read_user;
use crate::rocketchat::DocError;

/// A full users listing at least this often.
pub const FULL_USERS_EVERY_MS: i64 = 24 * 3600 * 1000;
/// More users than this in one listing is a server that pages without end (full pages and no
/// `total`): the phase stops with an error instead of looping.
pub const MAX_LISTED_USERS: u64 = 2_000_000;

/// One run of the users phase.
pub struct UsersPhase<'a> {
    pub client: &'a Client,
    pub names: &'a TableNames,
    pub tenant: &'a str,
    pub rc: &'a RestClient,
    /// Roles holding `view-livechat-manager`: their users' `utcOffset` is read.
    pub manager_roles: &'a [String],
    pub deadline: Option<Instant>,
    /// Start a full listing now (unless one finished within the last minute).
    pub full: bool,
    pub now_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsersOutcome {
    pub written: u64,
    pub removed: u64,
    pub sessions_ended: u64,
    /// Users skipped as invalid (a limit refuses them, or their document cannot be read).
    pub invalid: u64,
    /// False when the time budget cut the phase short (the next job resumes).
    pub complete: bool,
}

/// How the incremental listing ended.
enum Incremental {
    /// The time budget cut it short (the next job lists again from the checkpoint).
    CutShort,
    /// Down to the checkpoint's overlap; the newest `_updatedAt` seen, if any.
    Done { newest: Option<i64> },
}

impl UsersPhase<'_> {
    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    pub async fn run(&self) -> Result<UsersOutcome, SyncError> {
        let mut state = get_users_state(self.client, self.names, self.tenant).await?;
        let mut out = UsersOutcome {
            complete: true,
            ..UsersOutcome::default()
        };
        if let Some(checkpoint) = state.checkpoint_ms {
            match self.incremental(checkpoint, &mut out).await? {
                // Capped at the cycle's start: a user stamped in the future never hides later changes.
                Incremental::Done { newest } => {
                    let top = newest.map_or(checkpoint, |t| t.min(self.now_ms));
                    state.checkpoint_ms = Some(checkpoint.max(top));
                }
                Incremental::CutShort => out.complete = false,
            }
        }
        let due = state.full.is_some()
            || state.checkpoint_ms.is_none()
            || state
                .last_full_ms
                .is_none_or(|t| self.now_ms.saturating_sub(t) >= FULL_USERS_EVERY_MS)
            || (self.full
                && state
                    .last_full_ms
                    .is_none_or(|t| self.now_ms.saturating_sub(t) >= 60_000));
        if out.complete && due {
            let cursor = state.full.take().unwrap_or(FullCursor {
                started_ms: self.now_ms,
                offset: 0,
                after: None,
            });
            match self.full_listing(cursor, &mut out).await? {
                Ok(started_ms) => {
                    state.last_full_ms = Some(started_ms);
                    // Every user changed before the listing started is stored.
                    state.checkpoint_ms = Some(state.checkpoint_ms.unwrap_or(started_ms));
                }
                Err(cursor) => {
                    state.full = Some(cursor);
                    out.complete = false;
                }
            }
        }
        put_users_state(self.client, self.names, self.tenant, &state).await?;
        if out.removed > 0 {
            // Counts only: user ids stay out of logs.
            tracing::info!(
                tenant = self.tenant,
                users_removed = out.removed,
                sessions_ended = out.sessions_ended,
                "users removed as Rocket.Chat deactivated or deleted them; their sessions ended"
            );
        }
        Ok(out)
    }

    /// Newest change first, down to the checkpoint's overlap.
    async fn incremental(
        &self,
        checkpoint: i64,
        out: &mut UsersOutcome,
    ) -> Result<Incremental, SyncError> {
        let threshold = checkpoint.saturating_sub(OVERLAP_MS);
        let mut top: Option<i64> = None;
        let mut offset = 0u64;
        loop {
            if self.out_of_time() {
                return Ok(Incremental::CutShort);
            }
            self.within_bounds(offset)?;
            let Some(page) =
                cut_short(users_page(self.rc, offset, json!({"_updatedAt": -1})).await)?
            else {
                return Ok(Incremental::CutShort);
            };
            offset += page.docs.len() as u64;
            let mut listed = Vec::new();
            let mut below = false;
            for doc in page.docs {
                let user = listed_user(self.rc, doc)?;
                match user.updated_ms {
                    Some(u) if u < threshold => {
                        below = true;
                        break;
                    }
                    Some(u) => top = Some(top.map_or(u, |t| t.max(u))),
                    None => {}
                }
                listed.push(user);
            }
            if cut_short(self.write_listed(listed, Some(threshold), out).await)? != Some(true) {
                return Ok(Incremental::CutShort);
            }
            if below || !page.more {
                return Ok(Incremental::Done { newest: top });
            }
        }
    }

    /// Every user by `_id` from `cursor`: `Ok(started)` when done, `Err(cursor)` when cut short.
    async fn full_listing(
        &self,
        mut cursor: FullCursor,
        out: &mut UsersOutcome,
    ) -> Result<Result<i64, FullCursor>, SyncError> {
        loop {
            if self.out_of_time() {
                return Ok(Err(cursor));
            }
            self.within_bounds(cursor.offset)?;
            let Some(page) =
                cut_short(users_page(self.rc, cursor.offset, json!({"_id": 1})).await)?
            else {
                return Ok(Err(cursor));
            };
            let mut listed = Vec::new();
            for doc in page.docs {
                listed.push(listed_user(self.rc, doc)?);
            }
            let ids: HashSet<String> = listed.iter().map(|u| u.id.clone()).collect();
            let last = listed.iter().map(|u| u.id.clone()).max();
            let count = listed.len() as u64;
            if cut_short(self.write_listed(listed, None, out).await)? != Some(true) {
                return Ok(Err(cursor));
            }
            // The stored users this page's id range covers (all the rest after the last page).
            // Rocket.Chat's ids are ASCII, sorted as bytes like DynamoDB's keys; a server that
            // sorts otherwise only narrows a range (never inverts one, which Query refuses).
            let last = match (last, &cursor.after) {
                (Some(l), Some(a)) if l < *a => Some(a.clone()),
                (l, _) => l,
            };
            let upper = if page.more { last.clone() } else { None };
            let stored = if upper.is_some() && upper == cursor.after {
                Vec::new()
            } else {
                managed_users_between(
                    self.client,
                    self.names,
                    self.tenant,
                    cursor.after.as_deref(),
                    upper.as_deref(),
                )
                .await?
            };
            for id in stored.into_iter().filter(|id| !ids.contains(id)) {
                if self.out_of_time() {
                    return Ok(Err(cursor));
                }
                match cut_short(self.gone_from_rocketchat(&id).await)? {
                    Some(true) => self.remove(&id, true, out).await?,
                    Some(false) => {}
                    None => return Ok(Err(cursor)),
                }
            }
            cursor.offset += count;
            if last.is_some() {
                cursor.after = last;
            }
            if !page.more {
                return Ok(Ok(cursor.started_ms));
            }
        }
    }

    /// Writes new or changed users and removes deactivated ones. `threshold`: users changed
    /// at or after it count as changed (their `utcOffset` is read again). False when the
    /// deadline passed before all were handled.
    async fn write_listed(
        &self,
        listed: Vec<Listed>,
        threshold: Option<i64>,
        out: &mut UsersOutcome,
    ) -> Result<bool, SyncError> {
        let ids: Vec<String> = listed.iter().map(|u| u.id.clone()).collect();
        let stored = stored_users(self.client, self.names, self.tenant, &ids).await?;
        for entry in listed {
            if let Some(reason) = &entry.invalid {
                // The reason names the field, never the user: user ids stay out of logs.
                tracing::warn!(tenant = self.tenant, reason = %reason, "a user document was refused; skipped");
                out.invalid += 1;
                continue;
            }
            let before = stored.get(&entry.id);
            if !entry.active {
                if before.is_some() {
                    self.remove(&entry.id, false, out).await?;
                }
                continue;
            }
            let Some(mut user) = entry.user else {
                continue;
            };
            let manager = user.roles.iter().any(|r| self.manager_roles.contains(r));
            let changed_since = match (threshold, entry.updated_ms) {
                (Some(t), Some(u)) => u >= t,
                _ => true,
            };
            user.utc_offset = match before {
                Some((b, _)) if !manager || !changed_since => b.utc_offset,
                _ if manager => {
                    if self.out_of_time() {
                        return Ok(false);
                    }
                    let info = source::user_info(self.rc, &user.id).await?;
                    info.get("utcOffset").and_then(Value::as_f64)
                }
                _ => None,
            };
            let same = before.is_some_and(|(b, managed)| {
                *managed
                    && User {
                        generation: None,
                        ..b.clone()
                    } == user
            });
            if !same {
                put_owned_user(
                    self.client,
                    &self.names.directory,
                    self.tenant,
                    &user,
                    UserOwner::Sync,
                )
                .await?;
                out.written += 1;
            }
        }
        Ok(true)
    }

    /// Removes a user (only a sync-managed one when `only_managed`), then ends its sessions.
    async fn remove(
        &self,
        id: &str,
        only_managed: bool,
        out: &mut UsersOutcome,
    ) -> Result<(), SyncError> {
        let (client, table) = (self.client, &self.names.directory);
        let removed = if only_managed {
            crate::dynamo::identity_writes::delete_synced_user(client, table, self.tenant, id)
                .await?
        } else {
            delete_user(client, table, self.tenant, id).await?
        };
        if removed {
            out.removed += 1;
            let ended = end_sessions(client, self.names, self.tenant, id).await?;
            out.sessions_ended += ended as u64;
        }
        Ok(())
    }

    fn within_bounds(&self, offset: u64) -> Result<(), SyncError> {
        if offset < MAX_LISTED_USERS {
            return Ok(());
        }
        Err(SourceError::Malformed {
            host: self.rc.host().to_string(),
            what: "users.list".into(),
            source: DocError::Invalid {
                field: "users".into(),
                problem: format!("still full pages after {MAX_LISTED_USERS} users"),
            },
        }
        .into())
    }

    /// Whether `users.info` says Rocket.Chat has no such user (any other failure is an error).
    async fn gone_from_rocketchat(&self, id: &str) -> Result<bool, SyncError> {
        match source::user_info(self.rc, id).await {
            Ok(_) => Ok(false),
            Err(SourceError::Rest(RestError::Status { status, error, .. }))
                if matches!(status, 400 | 404)
                    && error.to_ascii_lowercase().contains("not found") =>
            {
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// `Ok(None)` for a wait (a 429, a back-off) that would have crossed the deadline: it ends the
/// phase as the deadline itself does, keeping what was done, rather than failing the cycle.
fn cut_short<T, E: Into<SyncError>>(result: Result<T, E>) -> Result<Option<T>, SyncError> {
    match result.map_err(Into::into) {
        Ok(v) => Ok(Some(v)),
        Err(SyncError::Source(SourceError::Rest(RestError::OutOfTime { .. }))) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A user as `users.list` shows it.
struct Listed {
    id: String,
    active: bool,
    updated_ms: Option<i64>,
    /// `None`: a document the directory does not keep (no username), or an invalid one.
    user: Option<User>,
    /// Why the document is refused (it cannot be read, or a limit refuses it): skipped, counted.
    invalid: Option<String>,
}

fn listed_user(rc: &RestClient, doc: Value) -> Result<Listed, SyncError> {
    let malformed = |what: &str, source: DocError| -> SyncError {
        SourceError::Malformed {
            host: rc.host().to_string(),
            what: what.into(),
            source,
        }
        .into()
    };
    let active = doc.get("active").and_then(Value::as_bool).unwrap_or(true);
    if doc.get("roles").is_none() {
        return Err(malformed(
            "users.list (roles need view-full-other-user-info)",
            DocError::Missing("roles".into()),
        ));
    }
    let id = doc
        .get("_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| malformed("a user of users.list", DocError::Missing("_id".into())))?;
    let read = rest_doc(doc).and_then(|d| {
        let updated = d.date_ms("_updatedAt").ok();
        read_user(&d).map(|u| (u, updated))
    });
    let (user, updated_ms, invalid) = match read {
        Ok((user_doc, updated)) => match user_doc.user {
            Some(user) => match limits::check_user(&user) {
                Ok(()) => (Some(user), updated, None),
                Err(e) => (None, updated, Some(e.to_string())),
            },
            None => (None, updated, None),
        },
        Err(e) => (None, None, Some(e.to_string())),
    };
    Ok(Listed {
        id,
        active,
        updated_ms,
        user,
        invalid,
    })
}

async fn users_page(
    rc: &RestClient,
    offset: u64,
    sort: Value,
) -> Result<source::Page, SourceError> {
    source::users_page(rc, offset as usize, sort).await
}
