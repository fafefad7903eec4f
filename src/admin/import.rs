//! Importing a Rocket.Chat export (one `mongoexport` file per collection) into a tenant.
//!
//! Order matters: settings first (sessions expire by the tenant's login expiration), then
//! permissions and users; then rooms in three streaming passes so memory holds only the ids
//! of livechat rooms with their message counts, never a file: (1) rooms → livechat ids,
//! (2) messages → agent-message count per livechat room, (3) rooms again → conversations.
//! Every write is a put of a key derived from the export, so re-running an import rewrites
//! the same items.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use aws_sdk_dynamodb::Client;

use super::lines::{ExportFile, Lines, LinesError};
use super::rocketchat::message::{read_message, Kind};
use super::rocketchat::permission::read_permission;
use super::rocketchat::room::{read_room, Room};
use super::rocketchat::setting::{read_setting, Setting, SettingsDraft, SettingsError};
use super::rocketchat::user::read_user;
use super::rocketchat::{Doc, DocError};
use super::rollups::DaySpan;
use crate::config::TableNames;
use crate::domain::identity::{TenantId, TenantSettings};
use crate::errors::error_chain;
use crate::store::admin::get_settings;
use crate::store::items::{
    attr, conversation_item, permission_item, session_item, settings_item, user_item,
};
use crate::store::rebuild::RebuildSummary;
use crate::store::writer::{BatchWriter, WriteError, WriterOptions};
use crate::store::StoreOpError;

pub const ROOMS: &str = "rocketchat_room";
pub const MESSAGES: &str = "rocketchat_message";
pub const USERS: &str = "users";
pub const PERMISSIONS: &str = "rocketchat_permissions";
pub const SETTINGS: &str = "rocketchat_settings";

/// Malformed lines quoted in the summary per collection; the rest are only counted.
const MAX_QUOTED: usize = 20;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Skip and count malformed lines instead of stopping at the first one.
    pub skip_malformed: bool,
    /// Draw a progress bar per file on stderr.
    pub show_progress: bool,
    pub writer: WriterOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{dir} has no {file}, which an import needs")]
    MissingFile { dir: String, file: String },
    #[error(transparent)]
    Lines(#[from] LinesError),
    #[error("{file} line {line}: malformed document (use --skip-malformed to skip such lines)")]
    Malformed {
        file: String,
        line: u64,
        #[source]
        source: DocError,
    },
    #[error("{file}: the reporting settings cannot be used")]
    Settings {
        file: String,
        #[source]
        source: SettingsError,
    },
    #[error("{file} line {line} changed while it was being imported")]
    Changed { file: String, line: u64 },
    #[error("reading the tenant's current settings failed")]
    ReadSettings(#[source] StoreOpError),
    #[error("writing {what} failed")]
    Write {
        what: &'static str,
        #[source]
        source: WriteError,
    },
    #[error("rebuilding the rollups of the imported days failed")]
    Rollups(#[source] StoreOpError),
}

/// What happened to one collection's file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionSummary {
    pub collection: &'static str,
    /// `None` when the export has no file for the collection.
    pub file: Option<String>,
    /// Non-blank lines read (a file read twice is counted once).
    pub lines: u64,
    /// Items written, by kind.
    pub written: BTreeMap<&'static str, u64>,
    /// Facts that are not items (agent messages counted).
    pub counted: BTreeMap<&'static str, u64>,
    /// Lines or parts not imported, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// The first malformed lines, `file line N: problem`.
    pub malformed: Vec<String>,
}

impl CollectionSummary {
    fn new(collection: &'static str, file: Option<&ExportFile>) -> Self {
        Self {
            collection,
            file: file.map(|f| f.name.clone()),
            ..Self::default()
        }
    }

    fn skip(&mut self, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_default() += 1;
    }

    fn wrote(&mut self, kind: &'static str) {
        *self.written.entry(kind).or_default() += 1;
    }

    pub fn written(&self, kind: &str) -> u64 {
        self.written.get(kind).copied().unwrap_or(0)
    }

    pub fn skipped(&self, reason: &str) -> u64 {
        self.skipped.get(reason).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub tenant: TenantId,
    pub settings: TenantSettings,
    pub collections: Vec<CollectionSummary>,
    /// The rollups of the days the conversations fall on, rebuilt after writing them.
    pub rollups: RebuildSummary,
}

impl ImportSummary {
    pub fn collection(&self, collection: &str) -> Option<&CollectionSummary> {
        self.collections.iter().find(|c| c.collection == collection)
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "import into tenant {}:", self.tenant)?;
        for c in &self.collections {
            let Some(file) = &c.file else {
                writeln!(f, "  {}.json: not in the export", c.collection)?;
                continue;
            };
            write!(f, "  {file}: {} lines read", c.lines)?;
            if !c.written.is_empty() {
                write!(f, "; written: {}", join_counts(&c.written))?;
            }
            if !c.counted.is_empty() {
                write!(f, "; counted: {}", join_counts(&c.counted))?;
            }
            let skipped: u64 = c.skipped.values().sum();
            if skipped == 0 {
                writeln!(f, "; skipped: 0")?;
            } else {
                writeln!(f, "; skipped: {skipped} ({})", join_counts(&c.skipped))?;
            }
            for m in &c.malformed {
                writeln!(f, "    {m}")?;
            }
            let unquoted = c
                .skipped("malformed")
                .saturating_sub(c.malformed.len() as u64);
            if unquoted > 0 {
                writeln!(f, "    … and {unquoted} more malformed lines")?;
            }
        }
        writeln!(
            f,
            "  rollups: {} days rebuilt, {} items written",
            self.rollups.days, self.rollups.items_written
        )
    }
}

impl super::Report for ImportSummary {}

fn join_counts<K: fmt::Display>(counts: &BTreeMap<K, u64>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The export's files: rooms, messages and users are required.
struct ExportFiles {
    rooms: ExportFile,
    messages: ExportFile,
    users: ExportFile,
    settings: Option<ExportFile>,
    permissions: Option<ExportFile>,
}

impl ExportFiles {
    fn find(dir: &Path) -> Result<Self, ImportError> {
        let required = |collection: &str| -> Result<ExportFile, ImportError> {
            ExportFile::find(dir, collection)?.ok_or_else(|| ImportError::MissingFile {
                dir: dir.display().to_string(),
                file: format!("{collection}.json"),
            })
        };
        Ok(Self {
            rooms: required(ROOMS)?,
            messages: required(MESSAGES)?,
            users: required(USERS)?,
            settings: ExportFile::find(dir, SETTINGS)?,
            permissions: ExportFile::find(dir, PERMISSIONS)?,
        })
    }
}

/// Imports the export in `dir` into `tenant`: first who may read (settings, permissions,
/// users and their sessions), then what they read (conversations, and their days' rollups).
/// Stops at the first malformed line unless `options.skip_malformed`; items already written
/// then stay, and a corrected re-run overwrites them.
pub async fn import_export(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    dir: &Path,
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let files = ExportFiles::find(dir)?;
    let context = Context {
        tenant: tenant.as_str(),
        options,
    };
    let identity = import_identity(client, names, &context, &files).await?;
    let (rooms, messages, rollups) = import_conversations(client, names, &context, &files).await?;
    Ok(ImportSummary {
        tenant: tenant.clone(),
        settings: identity.settings,
        collections: vec![
            identity.settings_summary,
            identity.permissions,
            identity.users,
            rooms,
            messages,
        ],
        rollups,
    })
}

/// What the identity phase imported.
struct Identity {
    settings: TenantSettings,
    settings_summary: CollectionSummary,
    permissions: CollectionSummary,
    users: CollectionSummary,
}

/// Settings first (sessions expire by the tenant's login expiration), then permissions and
/// users with their sessions.
async fn import_identity(
    client: &Client,
    names: &TableNames,
    context: &Context<'_>,
    files: &ExportFiles,
) -> Result<Identity, ImportError> {
    let mut writer = IdentityWriter {
        context,
        directory: BatchWriter::new(
            client.clone(),
            &names.directory,
            &[attr::PK, attr::SK],
            context.options.writer,
        ),
        sessions: BatchWriter::new(
            client.clone(),
            &names.sessions,
            &[attr::TOKEN_HASH],
            context.options.writer,
        ),
    };
    let (settings, settings_summary) = match &files.settings {
        Some(file) => writer.settings(file).await?,
        None => {
            // Sessions' TTL must follow the tenant's login expiration even without the file.
            let current = get_settings(client, &names.directory, context.tenant)
                .await
                .map_err(ImportError::ReadSettings)?
                .unwrap_or_default();
            (current, CollectionSummary::new(SETTINGS, None))
        }
    };
    let permissions = match &files.permissions {
        Some(file) => writer.permissions(file).await?,
        None => CollectionSummary::new(PERMISSIONS, None),
    };
    let users = writer.users(&files.users, &settings).await?;
    finish(writer.directory, "users, settings and permissions").await?;
    finish(writer.sessions, "sessions").await?;
    Ok(Identity {
        settings,
        settings_summary,
        permissions,
        users,
    })
}

/// The rooms in three streaming passes, so memory holds only the ids of livechat rooms with
/// their message counts, never a file: (1) rooms → livechat ids, (2) messages → agent-message
/// count per livechat room, (3) rooms again → conversations. Then the rollups of their days.
async fn import_conversations(
    client: &Client,
    names: &TableNames,
    context: &Context<'_>,
    files: &ExportFiles,
) -> Result<(CollectionSummary, CollectionSummary, RebuildSummary), ImportError> {
    let passes = RoomPasses { context };
    let (mut counts, mut rooms, malformed_lines) = passes.livechat_ids(&files.rooms)?;
    let messages = passes.agent_messages(&files.messages, &mut counts)?;
    let mut conversations = BatchWriter::new(
        client.clone(),
        &names.conversations,
        &[attr::PK],
        context.options.writer,
    );
    let span = passes
        .write_conversations(
            &files.rooms,
            &counts,
            &malformed_lines,
            &mut conversations,
            &mut rooms,
        )
        .await?;
    finish(conversations, "conversations").await?;
    // After every conversation is written, so the rebuild reads them all.
    let rollups = span
        .rebuild(client, names, context.tenant)
        .await
        .map_err(ImportError::Rollups)?;
    Ok((rooms, messages, rollups))
}

async fn finish(writer: BatchWriter, what: &'static str) -> Result<u64, ImportError> {
    writer
        .finish()
        .await
        .map_err(|source| ImportError::Write { what, source })
}

/// What every phase of one import reads: the tenant and the operator's options.
struct Context<'a> {
    tenant: &'a str,
    options: &'a ImportOptions,
}

impl Context<'_> {
    /// Records a malformed line, or ends the import with it.
    fn malformed(
        &self,
        summary: &mut CollectionSummary,
        file: &ExportFile,
        line: u64,
        error: DocError,
    ) -> Result<(), ImportError> {
        if !self.options.skip_malformed {
            return Err(ImportError::Malformed {
                file: file.name.clone(),
                line,
                source: error,
            });
        }
        summary.skip("malformed");
        if summary.malformed.len() < MAX_QUOTED {
            summary.malformed.push(format!(
                "{} line {line}: {}",
                file.name,
                error_chain(&error)
            ));
        }
        Ok(())
    }

    fn lines(&self, file: &ExportFile, label: &str) -> Result<Lines, ImportError> {
        Ok(Lines::open(file, label, self.options.show_progress)?)
    }
}

/// The identity phase: settings, permissions and users into the directory, sessions into
/// the sessions table.
struct IdentityWriter<'a> {
    context: &'a Context<'a>,
    directory: BatchWriter,
    sessions: BatchWriter,
}

impl IdentityWriter<'_> {
    async fn put_directory(&mut self, item: crate::store::items::Item) -> Result<(), ImportError> {
        self.directory
            .put(item)
            .await
            .map_err(|source| ImportError::Write {
                what: "users, settings and permissions",
                source,
            })
    }

    async fn settings(
        &mut self,
        file: &ExportFile,
    ) -> Result<(TenantSettings, CollectionSummary), ImportError> {
        let mut summary = CollectionSummary::new(SETTINGS, Some(file));
        let mut draft = SettingsDraft::default();
        let mut lines = self.context.lines(file, &file.name)?;
        while let Some((line, bytes)) = lines.next_line()? {
            summary.lines += 1;
            match Doc::parse(bytes).and_then(|d| read_setting(&d)) {
                Ok(Setting::Other) => summary.skip("other settings"),
                Ok(setting) => draft.apply(setting),
                Err(e) => self.context.malformed(&mut summary, file, line, e)?,
            }
        }
        lines.finish();
        let settings = draft.build().map_err(|source| ImportError::Settings {
            file: file.name.clone(),
            source,
        })?;
        self.put_directory(settings_item(self.context.tenant, &settings))
            .await?;
        summary.wrote("settings");
        Ok((settings, summary))
    }

    async fn permissions(&mut self, file: &ExportFile) -> Result<CollectionSummary, ImportError> {
        let mut summary = CollectionSummary::new(PERMISSIONS, Some(file));
        let mut lines = self.context.lines(file, &file.name)?;
        while let Some((line, bytes)) = lines.next_line()? {
            summary.lines += 1;
            match Doc::parse(bytes).and_then(|d| read_permission(&d)) {
                Ok(p) => {
                    self.put_directory(permission_item(self.context.tenant, &p.id, &p.roles))
                        .await?;
                    summary.wrote("permissions");
                }
                Err(e) => self.context.malformed(&mut summary, file, line, e)?,
            }
        }
        lines.finish();
        Ok(summary)
    }

    async fn users(
        &mut self,
        file: &ExportFile,
        settings: &TenantSettings,
    ) -> Result<CollectionSummary, ImportError> {
        let tenant = self.context.tenant;
        let mut summary = CollectionSummary::new(USERS, Some(file));
        let mut lines = self.context.lines(file, &file.name)?;
        while let Some((line, bytes)) = lines.next_line()? {
            summary.lines += 1;
            let doc = match Doc::parse(bytes).and_then(|d| read_user(&d)) {
                Ok(doc) => doc,
                Err(e) => {
                    self.context.malformed(&mut summary, file, line, e)?;
                    continue;
                }
            };
            let Some(user) = doc.user else {
                summary.skip("users without a username");
                continue;
            };
            self.put_directory(user_item(tenant, &user)).await?;
            summary.wrote("users");
            for token in &doc.tokens {
                let (session, expires_at_s) =
                    token.session(tenant, &user.id, settings.login_expiration_days);
                self.sessions
                    .put(session_item(&token.hashed_token, &session, expires_at_s))
                    .await
                    .map_err(|source| ImportError::Write {
                        what: "sessions",
                        source,
                    })?;
                summary.wrote("sessions");
            }
            for _ in 0..doc.personal_access_tokens {
                summary.skip("personal access tokens");
            }
        }
        lines.finish();
        Ok(summary)
    }
}

/// Livechat room id → agent messages counted so far.
type Counts = HashMap<String, u32>;

/// The conversation phase's three passes over the rooms and messages.
struct RoomPasses<'a> {
    context: &'a Context<'a>,
}

impl RoomPasses<'_> {
    /// Pass 1: validates every room and collects the livechat ids. Returns the line numbers
    /// of skipped malformed lines, so pass 3 can tell them from a file that changed.
    fn livechat_ids(
        &self,
        file: &ExportFile,
    ) -> Result<(Counts, CollectionSummary, Vec<u64>), ImportError> {
        let mut summary = CollectionSummary::new(ROOMS, Some(file));
        let mut counts = Counts::new();
        let mut malformed_lines = Vec::new();
        let mut lines = self.context.lines(file, &format!("{} (1/2)", file.name))?;
        while let Some((line, bytes)) = lines.next_line()? {
            summary.lines += 1;
            let checked = self.livechat_room(bytes).and_then(|room| match room {
                Room::Livechat(c) if counts.contains_key(&c.room_id) => Err(DocError::Invalid {
                    field: "_id".into(),
                    problem: format!("{} repeats an earlier room", c.room_id),
                }),
                other => Ok(other),
            });
            match checked {
                Ok(Room::Livechat(c)) => {
                    counts.insert(c.room_id, 0);
                }
                Ok(Room::Other(Some(t))) => summary.skip(format!("rooms of type {t}")),
                Ok(Room::Other(None)) => summary.skip("rooms without a type"),
                Err(e) => {
                    self.context.malformed(&mut summary, file, line, e)?;
                    malformed_lines.push(line);
                }
            }
        }
        lines.finish();
        Ok((counts, summary, malformed_lines))
    }

    /// A room as pass 1 and pass 3 read it, including the checks the item writer makes.
    fn livechat_room(&self, bytes: &[u8]) -> Result<Room, DocError> {
        let room = read_room(&Doc::parse(bytes)?)?;
        if let Room::Livechat(c) = &room {
            conversation_item(self.context.tenant, c).map_err(|e| DocError::Invalid {
                field: "ts".into(),
                problem: e.problem,
            })?;
        }
        Ok(room)
    }

    /// Pass 2: counts each livechat room's agent messages.
    fn agent_messages(
        &self,
        file: &ExportFile,
        counts: &mut Counts,
    ) -> Result<CollectionSummary, ImportError> {
        let mut summary = CollectionSummary::new(MESSAGES, Some(file));
        let mut agent_messages = 0u64;
        let mut lines = self.context.lines(file, &file.name)?;
        while let Some((line, bytes)) = lines.next_line()? {
            summary.lines += 1;
            let message = match read_message(bytes) {
                Ok(m) => m,
                Err(e) => {
                    self.context.malformed(&mut summary, file, line, e)?;
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

    /// Pass 3: writes one conversation per livechat room, with its message count. Returns
    /// the UTC days the conversations fall on.
    async fn write_conversations(
        &self,
        file: &ExportFile,
        counts: &Counts,
        malformed_lines: &[u64],
        writer: &mut BatchWriter,
        summary: &mut CollectionSummary,
    ) -> Result<DaySpan, ImportError> {
        let mut span = DaySpan::default();
        let changed = |line| ImportError::Changed {
            file: file.name.clone(),
            line,
        };
        let mut lines = self.context.lines(file, &format!("{} (2/2)", file.name))?;
        while let Some((line, bytes)) = lines.next_line()? {
            if malformed_lines.binary_search(&line).is_ok() {
                continue;
            }
            let mut conversation = match self.livechat_room(bytes) {
                Ok(Room::Livechat(c)) => c,
                Ok(Room::Other(_)) => continue,
                Err(_) => return Err(changed(line)),
            };
            conversation.agent_messages = *counts
                .get(&conversation.room_id)
                .ok_or_else(|| changed(line))?;
            let item =
                conversation_item(self.context.tenant, &conversation).map_err(|_| changed(line))?;
            span.include(conversation.ts_ms);
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
        Ok(span)
    }
}
