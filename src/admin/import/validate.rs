//! The first phase: reads every file completely and writes nothing. What it keeps is
//! proportional to ids (users, token hashes, livechat rooms), never to a file.

use std::collections::HashMap;

use crate::dynamo::Client;

use super::summary::CollectionSummary;
use super::{Context, ExportFiles, ImportError, MESSAGES, PERMISSIONS, ROOMS, SETTINGS, USERS};
use crate::admin::lines::ExportFile;
use crate::config::TableNames;
use crate::domain::identity::TenantSettings;
use crate::dynamo::identity_writes::{get_settings, session_owners};
use crate::rocketchat::message::{read_message, Kind};
use crate::rocketchat::permission::{read_permission, Permission};
use crate::rocketchat::room::{read_room, Room};
use crate::rocketchat::setting::{read_setting, Setting, SettingsDraft};
use crate::rocketchat::user::{read_user, UserDoc};
use crate::rocketchat::{Doc, DocError};

// The limits live in `rocketchat::limits`: the sync refuses alike.
use crate::rocketchat::limits::{check_conversation, id_size, roles_size, DayDepartments};

/// A login token that becomes a session.
pub(super) struct PlannedToken {
    pub user_id: String,
    /// `when`, or the import's clock when `when` is later.
    pub issued_at_ms: i64,
    pub line: u64,
}

/// Everything the write phase needs besides the files themselves.
pub(super) struct Plan {
    pub settings: TenantSettings,
    /// Every user id of the export, with its line.
    pub users: HashMap<String, u64>,
    /// Token hash → its session.
    pub tokens: HashMap<String, PlannedToken>,
    /// Livechat room id → agent messages.
    pub counts: HashMap<String, u32>,
    /// Lines skipped as malformed (with `--skip-malformed`), per file, so the write phase
    /// tells them from a file that changed.
    pub skipped_lines: HashMap<&'static str, Vec<u64>>,
    pub summaries: Summaries,
}

pub(super) struct Summaries {
    pub settings: CollectionSummary,
    pub permissions: CollectionSummary,
    pub users: CollectionSummary,
    pub rooms: CollectionSummary,
    pub messages: CollectionSummary,
}

pub(super) async fn validate(
    client: &Client,
    names: &TableNames,
    context: &Context<'_>,
    files: &ExportFiles,
) -> Result<Plan, ImportError> {
    let mut skipped_lines = HashMap::new();
    let (settings, settings_summary) = match &files.settings {
        Some(file) => settings(context, file)?,
        None => {
            // Sessions' TTL must follow the tenant's login expiration even without the file.
            let current = get_settings(client, &names.directory, context.tenant.as_str())
                .await
                .map_err(ImportError::Read)?
                .unwrap_or_default();
            (current, CollectionSummary::new(SETTINGS, None))
        }
    };
    let permissions = match &files.permissions {
        Some(file) => {
            let (summary, skipped) = permissions(context, file)?;
            skipped_lines.insert(PERMISSIONS, skipped);
            summary
        }
        None => CollectionSummary::new(PERMISSIONS, None),
    };
    let (users, tokens, users_summary, skipped) = users(context, &files.users, &settings)?;
    skipped_lines.insert(USERS, skipped);
    check_session_owners(client, names, context, &files.users, &tokens).await?;
    let (mut counts, rooms, skipped) = livechat_rooms(context, &files.rooms)?;
    skipped_lines.insert(ROOMS, skipped);
    let messages = agent_messages(context, &files.messages, &mut counts)?;
    Ok(Plan {
        settings,
        users,
        tokens,
        counts,
        skipped_lines,
        summaries: Summaries {
            settings: settings_summary,
            permissions,
            users: users_summary,
            rooms,
            messages,
        },
    })
}

fn settings(
    context: &Context<'_>,
    file: &ExportFile,
) -> Result<(TenantSettings, CollectionSummary), ImportError> {
    let mut summary = CollectionSummary::new(SETTINGS, Some(file));
    let mut draft = SettingsDraft::default();
    let mut lines = context.lines(file, &file.name)?;
    while let Some((line, bytes)) = lines.next_line()? {
        summary.lines += 1;
        match Doc::parse(bytes).and_then(|d| read_setting(&d)) {
            Ok(Setting::Other) => summary.skip("other settings"),
            Ok(setting) => draft.apply(setting),
            Err(e) => context.malformed(&mut summary, file, line, e)?,
        }
    }
    lines.finish();
    let settings = draft.build().map_err(|source| ImportError::Settings {
        file: file.name.clone(),
        source,
    })?;
    Ok((settings, summary))
}

/// A permission line as both phases read it, with the limits its item must meet.
pub(super) fn check_permission(bytes: &[u8]) -> Result<Permission, DocError> {
    let p = read_permission(&Doc::parse(bytes)?)?;
    id_size("_id", &p.id)?;
    roles_size(&p.roles)?;
    Ok(p)
}

fn permissions(
    context: &Context<'_>,
    file: &ExportFile,
) -> Result<(CollectionSummary, Vec<u64>), ImportError> {
    let mut summary = CollectionSummary::new(PERMISSIONS, Some(file));
    let mut skipped = Vec::new();
    let mut lines = context.lines(file, &file.name)?;
    while let Some((line, bytes)) = lines.next_line()? {
        summary.lines += 1;
        if let Err(e) = check_permission(bytes) {
            context.malformed(&mut summary, file, line, e)?;
            skipped.push(line);
        }
    }
    lines.finish();
    Ok((summary, skipped))
}

/// A user line as both phases read it, with the limits its items must meet.
pub(super) fn check_user(bytes: &[u8]) -> Result<UserDoc, DocError> {
    let doc = read_user(&Doc::parse(bytes)?)?;
    if let Some(user) = &doc.user {
        id_size("_id", &user.id)?;
        id_size("username", &user.username)?;
        roles_size(&user.roles)?;
    }
    Ok(doc)
}

type Users = (
    HashMap<String, u64>,
    HashMap<String, PlannedToken>,
    CollectionSummary,
    Vec<u64>,
);

fn users(
    context: &Context<'_>,
    file: &ExportFile,
    settings: &TenantSettings,
) -> Result<Users, ImportError> {
    let now_ms = context.options.now.timestamp_millis();
    let lifetime_ms = i64::from(settings.login_expiration_days) * 86_400_000;
    let mut summary = CollectionSummary::new(USERS, Some(file));
    let mut users: HashMap<String, u64> = HashMap::new();
    let mut tokens: HashMap<String, PlannedToken> = HashMap::new();
    let mut skipped = Vec::new();
    let mut lines = context.lines(file, &file.name)?;
    while let Some((line, bytes)) = lines.next_line()? {
        summary.lines += 1;
        let checked = check_user(bytes).and_then(|doc| match &doc.user {
            Some(u) if users.contains_key(&u.id) => Err(DocError::Invalid {
                field: "_id".into(),
                problem: format!("user {} repeats line {}", u.id, users[&u.id]),
            }),
            _ => Ok(doc),
        });
        let doc = match checked {
            Ok(doc) => doc,
            Err(e) => {
                context.malformed(&mut summary, file, line, e)?;
                skipped.push(line);
                continue;
            }
        };
        let Some(user) = doc.user else {
            summary.skip("users without a username");
            continue;
        };
        for _ in 0..doc.personal_access_tokens {
            summary.skip("personal access tokens");
        }
        for token in &doc.tokens {
            // Deviation from Rocket.Chat: a token dated after the import counts as issued at
            // the import, so a wrong clock cannot make a session that never expires.
            let issued_at_ms = token.issued_at_ms.min(now_ms);
            if !doc.active {
                summary.skip("login tokens of inactive users");
            } else if issued_at_ms.saturating_add(lifetime_ms) <= now_ms {
                summary.skip("expired login tokens");
            } else if let Some(other) = tokens.get(&token.hashed_token) {
                if other.user_id != user.id {
                    return Err(ImportError::TokenShared {
                        file: file.name.clone(),
                        line,
                        user_id: user.id.clone(),
                        other_user: other.user_id.clone(),
                        other_line: other.line,
                    });
                }
            } else {
                tokens.insert(
                    token.hashed_token.clone(),
                    PlannedToken {
                        user_id: user.id.clone(),
                        issued_at_ms,
                        line,
                    },
                );
            }
        }
        users.insert(user.id, line);
    }
    lines.finish();
    Ok((users, tokens, summary, skipped))
}

/// A token that is already a session of another tenant or user stops the import here, before
/// any write (the sessions' conditional puts catch one that appears meanwhile).
async fn check_session_owners(
    client: &Client,
    names: &TableNames,
    context: &Context<'_>,
    file: &ExportFile,
    tokens: &HashMap<String, PlannedToken>,
) -> Result<(), ImportError> {
    let hashes: Vec<String> = tokens.keys().cloned().collect();
    let owners = session_owners(client, &names.sessions, &hashes)
        .await
        .map_err(ImportError::Read)?;
    let mut conflicts: Vec<_> = owners
        .into_iter()
        .filter_map(|(hash, tenant, user)| {
            let planned = &tokens[&hash];
            (tenant != context.tenant.as_str() || user != planned.user_id)
                .then_some((planned, tenant, user))
        })
        .collect();
    conflicts.sort_by_key(|(planned, ..)| planned.line);
    match conflicts.into_iter().next() {
        None => Ok(()),
        Some((planned, owner_tenant, owner_user)) => Err(ImportError::SessionTaken {
            file: file.name.clone(),
            line: planned.line,
            user_id: planned.user_id.clone(),
            owner_tenant,
            owner_user,
        }),
    }
}

/// A room line as both phases read it, with every check its items and rollups make.
pub(super) fn check_room(context: &Context<'_>, bytes: &[u8]) -> Result<Room, DocError> {
    let room = read_room(&Doc::parse(bytes)?)?;
    if let Room::Livechat(c) = &room {
        check_conversation(context.tenant.as_str(), c)?;
    }
    Ok(room)
}

/// Livechat room id → agent messages counted so far.
type Counts = HashMap<String, u32>;

/// Rooms pass: validates every room and collects the livechat ids.
fn livechat_rooms(
    context: &Context<'_>,
    file: &ExportFile,
) -> Result<(Counts, CollectionSummary, Vec<u64>), ImportError> {
    let mut summary = CollectionSummary::new(ROOMS, Some(file));
    let mut counts = HashMap::new();
    let mut skipped = Vec::new();
    // The export's departments per day, bounded as the sync bounds them.
    let mut departments = DayDepartments::default();
    let mut lines = context.lines(file, &format!("{} (1/2)", file.name))?;
    while let Some((line, bytes)) = lines.next_line()? {
        summary.lines += 1;
        let checked = check_room(context, bytes).and_then(|room| match room {
            Room::Livechat(c) if counts.contains_key(&c.room_id) => Err(DocError::Invalid {
                field: "_id".into(),
                problem: format!("{} repeats an earlier room", c.room_id),
            }),
            Room::Livechat(c) => departments.admit(&c).map(|_| Room::Livechat(c)),
            other => Ok(other),
        });
        match checked {
            Ok(Room::Livechat(c)) => {
                counts.insert(c.room_id, 0);
            }
            Ok(Room::Other(Some(t))) => summary.skip(format!("rooms of type {t}")),
            Ok(Room::Other(None)) => summary.skip("rooms without a type"),
            Err(e) => {
                context.malformed(&mut summary, file, line, e)?;
                skipped.push(line);
            }
        }
    }
    lines.finish();
    Ok((counts, summary, skipped))
}

/// Messages pass: counts each livechat room's agent messages.
fn agent_messages(
    context: &Context<'_>,
    file: &ExportFile,
    counts: &mut HashMap<String, u32>,
) -> Result<CollectionSummary, ImportError> {
    let mut summary = CollectionSummary::new(MESSAGES, Some(file));
    let mut agent_messages = 0u64;
    let mut lines = context.lines(file, &file.name)?;
    while let Some((line, bytes)) = lines.next_line()? {
        summary.lines += 1;
        let message = match read_message(bytes) {
            Ok(m) => m,
            Err(e) => {
                context.malformed(&mut summary, file, line, e)?;
                continue;
            }
        };
        let Some(count) = counts.get_mut(message.room_id.as_str()) else {
            summary.skip("not in a livechat room");
            continue;
        };
        match message.kind {
            Kind::Agent => {
                *count = count.saturating_add(1);
                agent_messages += 1;
            }
            Kind::System => summary.skip("system messages"),
            Kind::Visitor => summary.skip("visitor messages"),
        }
    }
    lines.finish();
    summary.counted.insert("agent messages", agent_messages);
    Ok(summary)
}
