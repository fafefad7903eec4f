//! The second phase: writes a validated export in the order that never grants access the
//! export does not — revocations first, new sessions last — with idempotent steps, so a
//! re-run after a failure completes the import.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};

use super::summary::{CollectionSummary, ImportSummary};
use super::validate::{check_permission, check_room, check_user, Plan};
use super::{Context, ExportFiles, ImportError, PERMISSIONS, ROOMS, USERS};
use crate::admin::lines::ExportFile;
use crate::admin::rollups::WrittenDays;
use crate::config::TableNames;
use crate::domain::identity::Session;
use crate::rocketchat::room::Room;
use crate::store::admin::{
    delete_session_of, delete_user, put_session, put_user_keeping_generation, sessions_of,
    user_ids_of,
};
use crate::store::items::{
    attr, conversation_item, conversation_pk, permission_item, settings_item,
};
use crate::store::writer::BatchWriter;
use crate::store::StoreOpError;

/// Concurrent single-item calls (session puts).
const IN_FLIGHT: usize = 8;

pub(super) async fn write(
    client: &Client,
    names: &TableNames,
    context: &Context<'_>,
    files: &ExportFiles,
    mut plan: Plan,
) -> Result<ImportSummary, ImportError> {
    let tenant = context.tenant.as_str();
    let store = |what| move |source: StoreOpError| ImportError::Store { what, source };

    // 1. Revocations: sessions the export no longer grants (a logout, an expired or inactive
    //    user's token; with --prune, users it no longer has), and pruned users.
    let mut revoked = 0u64;
    for key in sessions_of(client, &names.sessions, tenant, None)
        .await
        .map_err(store("revocations"))?
    {
        let wanted = plan
            .tokens
            .get(&key.token_hash)
            .is_some_and(|t| t.user_id == key.user_id);
        let governed = context.options.prune || plan.users.contains_key(&key.user_id);
        if !wanted
            && governed
            && delete_session_of(
                client,
                &names.sessions,
                &key.token_hash,
                tenant,
                &key.user_id,
            )
            .await
            .map_err(store("revocations"))?
        {
            revoked += 1;
        }
    }
    plan.summaries.users.wrote_n("revoked sessions", revoked);
    if context.options.prune {
        for user_id in user_ids_of(client, &names.directory, tenant)
            .await
            .map_err(store("pruned users"))?
        {
            if !plan.users.contains_key(&user_id)
                && delete_user(client, &names.directory, tenant, &user_id)
                    .await
                    .map_err(store("pruned users"))?
            {
                plan.summaries.users.wrote("pruned users");
            }
        }
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
    let rollups = days.rebuild().await.map_err(ImportError::Rollups)?;

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
    let mut lines = context.lines(file, &file.name)?;
    while let Some((line, bytes)) = lines.next_line()? {
        let doc = match check_user(bytes) {
            Ok(doc) => doc,
            Err(_) if skipped.binary_search(&line).is_ok() => continue,
            Err(_) => return Err(changed(file, line)),
        };
        let Some(user) = doc.user else { continue };
        if generations.contains_key(&user.id) || skipped.binary_search(&line).is_ok() {
            continue;
        }
        let generation =
            put_user_keeping_generation(client, &names.directory, context.tenant.as_str(), &user)
                .await
                .map_err(|source| ImportError::Store {
                    what: "users",
                    source,
                })?;
        generations.insert(user.id, generation);
    }
    lines.finish();
    Ok(generations)
}

/// Rooms pass 2: one conversation per livechat room, with its message count. Returns the UTC
/// days they fall on.
async fn conversations(
    client: &Client,
    names: &TableNames,
    context: &Context<'_>,
    file: &ExportFile,
    plan: &mut Plan,
) -> Result<WrittenDays, ImportError> {
    let tenant = context.tenant.as_str();
    let skipped = &plan.skipped_lines[ROOMS];
    let summary: &mut CollectionSummary = &mut plan.summaries.rooms;
    let mut writer = BatchWriter::new(
        client.clone(),
        &names.conversations,
        &[attr::PK],
        context.options.writer,
    );
    let mut days = WrittenDays::new(client, names, tenant);
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
        days.before_write(
            conversation.ts_ms,
            conversation_pk(tenant, &conversation.room_id),
        )
        .await
        .map_err(ImportError::Rollups)?;
        put(&mut writer, item, "conversations").await?;
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
    item: crate::store::items::Item,
    what: &'static str,
) -> Result<(), ImportError> {
    writer
        .put(item)
        .await
        .map_err(|source| ImportError::Write { what, source })
}

async fn finish(writer: BatchWriter, what: &'static str) -> Result<u64, ImportError> {
    writer
        .finish()
        .await
        .map_err(|source| ImportError::Write { what, source })
}
