//! The second phase: writes a validated export in the order that never grants access the
//! export does not — revocations first, new sessions last — with idempotent steps, so a
//! re-run after a failure completes the import.

use std::collections::HashMap;

use crate::dynamo::Client;
use futures::{StreamExt, TryStreamExt};

use super::summary::{CollectionSummary, ImportSummary};
use super::validate::{check_permission, check_room, check_user, Plan};
use super::{Context, ExportFiles, ImportError, PERMISSIONS, ROOMS, USERS};
use crate::admin::lines::ExportFile;
use crate::config::TableNames;
use crate::domain::identity::Session;
use crate::dynamo::identity_writes::{
    delete_session_of, delete_user, put_session, put_user_keeping_generation, sessions_of,
    user_ids_of,
};
use crate::dynamo::items::{attr, conversation_item, permission_item, settings_item};
use crate::dynamo::writer::{BatchWriter, Flush};
use crate::rocketchat::room::Room;
use crate::rollups::ingest::{ConversationWriter, DaySpan};
use crate::store::StoreError;

/// Concurrent single-item calls (session puts, revocations, users): each carries a condition
/// (or keeps a generation) that `BatchWriteItem` cannot express, so they are sent as
/// concurrent batches of single calls instead.
const IN_FLIGHT: usize = 16;
/// Users read from the export before their writes are sent (bounds memory).
const USERS_PER_BATCH: usize = 256;

pub(super) async fn write(
    client: &Client,
    names: &TableNames,
    context: &Context<'_>,
    files: &ExportFiles,
    mut plan: Plan,
) -> Result<ImportSummary, ImportError> {
    let tenant = context.tenant.as_str();
    let store = |what| move |source: StoreError| ImportError::Store { what, source };

    // 1. Revocations: sessions the export no longer grants (a logout, an expired or inactive
    //    user's token; with --prune, users it no longer has), and pruned users.
    let revoke: Vec<_> = sessions_of(client, names, tenant, None)
        .await
        .map_err(store("revocations"))?
        .into_iter()
        .filter(|key| {
            let wanted = plan
                .tokens
                .get(&key.token_hash)
                .is_some_and(|t| t.user_id == key.user_id);
            let governed = context.options.prune || plan.users.contains_key(&key.user_id);
            !wanted && governed
        })
        .collect();
    let revoked = futures::stream::iter(&revoke)
        .map(|key| {
            delete_session_of(
                client,
                &names.sessions,
                &key.token_hash,
                tenant,
                &key.user_id,
            )
        })
        .buffer_unordered(IN_FLIGHT)
        .try_fold(0u64, |n, deleted| async move { Ok(n + u64::from(deleted)) })
        .await
        .map_err(store("revocations"))?;
    plan.summaries.users.wrote_n("revoked sessions", revoked);
    if context.options.prune {
        let pruned: Vec<String> = user_ids_of(client, &names.directory, tenant)
            .await
            .map_err(store("pruned users"))?
            .into_iter()
            .filter(|user_id| !plan.users.contains_key(user_id))
            .collect();
        let deleted = futures::stream::iter(&pruned)
            .map(|user_id| delete_user(client, &names.directory, tenant, user_id))
            .buffer_unordered(IN_FLIGHT)
            .try_fold(0u64, |n, deleted| async move { Ok(n + u64::from(deleted)) })
            .await
            .map_err(store("pruned users"))?;
        plan.summaries.users.wrote_n("pruned users", deleted);
    }

    // 2. Settings, permissions, users.
    let mut directory = BatchWriter::new(
        client.clone(),
        &names.directory,
        &[attr::PK, attr::SK],
        context.options.writer,
    );
    if files.settings.is_some() {
        put(
            &mut directory,
            settings_item(tenant, &plan.settings),
            "settings",
        )
        .await?;
        plan.summaries.settings.wrote("settings");
    }
    if let Some(file) = &files.permissions {
        let skipped = &plan.skipped_lines[PERMISSIONS];
        let mut lines = context.lines(file, &file.name)?;
        while let Some((line, bytes)) = lines.next_line()? {
            match check_permission(bytes) {
                Ok(p) => {
                    put(
                        &mut directory,
                        permission_item(tenant, &p.id, &p.roles),
                        "permissions",
                    )
                    .await?;
                    plan.summaries.permissions.wrote("permissions");
                }
                Err(_) if skipped.binary_search(&line).is_ok() => {}
                Err(_) => return Err(changed(file, line)),
            }
        }
        lines.finish();
    }
    finish(directory, "settings and permissions").await?;
    let generations = users(client, names, context, &files.users, &plan).await?;
    plan.summaries
        .users
        .wrote_n("users", generations.len() as u64);

    // 3. Conversations, then the rollups of their days.
    let days = conversations(client, names, context, &files.rooms, &mut plan).await?;
    let rollups = days
        .rebuild(client, names, tenant, context.clock.clone())
        .await
        .map_err(ImportError::Rollups)?;

    // 4. Sessions last: each a conditional put that never takes another tenant's or user's.
    let expiration_s = i64::from(plan.settings.login_expiration_days) * 86_400;
    let written = futures::stream::iter(plan.tokens.iter())
        .map(|(hash, token)| {
            let session = Session {
                tenant: tenant.to_string(),
                user_id: token.user_id.clone(),
                issued_at_ms: token.issued_at_ms,
                generation: generations.get(&token.user_id).cloned(),
            };
            let expires_at_s = token.issued_at_ms.div_euclid(1000) + expiration_s;
            async move {
                let stored = put_session(client, &names.sessions, hash, &session, expires_at_s)
                    .await
                    .map_err(store("sessions"))?;
                match stored {
                    true => Ok(()),
                    false => Err(ImportError::SessionRaced {
                        tenant: session.tenant,
                        user_id: session.user_id,
                    }),
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_fold(0u64, |n, ()| async move { Ok(n + 1) })
        .await?;
    plan.summaries.users.wrote_n("sessions", written);

    let s = plan.summaries;
    Ok(ImportSummary {
        tenant: context.tenant.clone(),
        settings: plan.settings,
        collections: vec![s.settings, s.permissions, s.users, s.rooms, s.messages],
        rollups,
        consumed: Default::default(),
    })
}

/// Writes every active or inactive user of the export, keeping each one's generation (a new
/// user gets a new one). Returns user id → generation, for the sessions.
async fn users(
    client: &Client,
    names: &TableNames,
    context: &Context<'_>,
    file: &ExportFile,
    plan: &Plan,
) -> Result<HashMap<String, String>, ImportError> {
    let skipped = &plan.skipped_lines[USERS];
    let mut generations = HashMap::new();
    let mut batch: Vec<crate::domain::identity::User> = Vec::with_capacity(USERS_PER_BATCH);
    let mut lines = context.lines(file, &file.name)?;
    while let Some((line, bytes)) = lines.next_line()? {
        let doc = match check_user(bytes) {
            Ok(doc) => doc,
            Err(_) if skipped.binary_search(&line).is_ok() => continue,
            Err(_) => return Err(changed(file, line)),
        };
        let Some(user) = doc.user else { continue };
        let queued = batch.iter().any(|u| u.id == user.id);
        if generations.contains_key(&user.id) || queued || skipped.binary_search(&line).is_ok() {
            continue;
        }
        batch.push(user);
        if batch.len() >= USERS_PER_BATCH {
            write_users(client, names, context, &mut batch, &mut generations).await?;
        }
    }
    lines.finish();
    write_users(client, names, context, &mut batch, &mut generations).await?;
    Ok(generations)
}

/// Writes a batch of users, [`IN_FLIGHT`] at a time, each keeping its generation.
async fn write_users(
    client: &Client,
    names: &TableNames,
    context: &Context<'_>,
    batch: &mut Vec<crate::domain::identity::User>,
    generations: &mut HashMap<String, String>,
) -> Result<(), ImportError> {
    let tenant = context.tenant.as_str();
    let written: Vec<(String, String)> = futures::stream::iter(batch.drain(..))
        .map(|user| async move {
            put_user_keeping_generation(client, &names.directory, tenant, &user)
                .await
                .map(|generation| (user.id, generation))
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await
        .map_err(|source| ImportError::Store {
            what: "users",
            source,
        })?;
    generations.extend(written);
    Ok(())
}

/// Rooms pass 2: one conversation per livechat room, with its message count, each batch's
/// days kept dirty while it is written. Returns the UTC days they fall on.
async fn conversations(
    client: &Client,
    names: &TableNames,
    context: &Context<'_>,
    file: &ExportFile,
    plan: &mut Plan,
) -> Result<DaySpan, ImportError> {
    let tenant = context.tenant.as_str();
    let skipped = &plan.skipped_lines[ROOMS];
    let summary: &mut CollectionSummary = &mut plan.summaries.rooms;
    let mut writer =
        ConversationWriter::new(client, names, context.options.writer, context.clock.clone());
    let mut days = DaySpan::default();
    let mut lines = context.lines(file, &format!("{} (2/2)", file.name))?;
    while let Some((line, bytes)) = lines.next_line()? {
        if skipped.binary_search(&line).is_ok() {
            continue;
        }
        let mut conversation = match check_room(context, bytes) {
            Ok(Room::Livechat(c)) => c,
            Ok(Room::Other(_)) => continue,
            Err(_) => return Err(changed(file, line)),
        };
        conversation.agent_messages = *plan
            .counts
            .get(&conversation.room_id)
            .ok_or_else(|| changed(file, line))?;
        let item = conversation_item(tenant, &conversation).map_err(|_| changed(file, line))?;
        days.include(conversation.ts_ms);
        writer
            .put(item)
            .await
            .map_err(|source| ImportError::Write {
                what: "conversations",
                source,
            })?;
        summary.wrote("conversations");
    }
    lines.finish();
    finish(writer, "conversations").await?;
    Ok(days)
}

fn changed(file: &ExportFile, line: u64) -> ImportError {
    ImportError::Changed {
        file: file.name.clone(),
        line,
    }
}

async fn put(
    writer: &mut BatchWriter,
    item: crate::dynamo::items::Item,
    what: &'static str,
) -> Result<(), ImportError> {
    writer
        .put(item)
        .await
        .map_err(|source| ImportError::Write { what, source })
}

async fn finish(writer: impl Flush, what: &'static str) -> Result<u64, ImportError> {
    writer
        .finish()
        .await
        .map_err(|source| ImportError::Write { what, source })
}
