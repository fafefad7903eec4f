//! Importing a Rocket.Chat export (one `mongoexport` file per collection) into a tenant.
//!
//! Two phases, so that an import is all or nothing from the operator's view:
//! - [`validate`] reads every file completely — every line, types, cross-references, metric
//!   ranges, key sizes, and whether a login token is already another user's session — and
//!   writes nothing. Memory holds ids (users, token hashes, livechat rooms with their message
//!   counts), never a file: lines are streamed, and one longer than
//!   [`MAX_LINE_BYTES`](crate::admin::lines::MAX_LINE_BYTES) is an error.
//! - [`write`] then writes in the order that never grants access the export does not:
//!   revocations first, then settings, permissions, users, conversations and rollups, and the
//!   new sessions last. Every step is idempotent, so if DynamoDB fails part-way the command
//!   says so and running it again completes the import.

mod summary;
mod validate;
mod write;

use std::path::Path;

use crate::dynamo::Client;
use chrono::{DateTime, Utc};

pub use summary::{CollectionSummary, ImportSummary};

use super::lines::{ExportFile, Lines, LinesError};
use crate::config::TableNames;
use crate::domain::clock::{advancing_from, Clock};
use crate::domain::identity::TenantId;
use crate::dynamo::capacity;
use crate::dynamo::writer::{WriteError, WriterOptions};
use crate::errors::error_chain;
use crate::rocketchat::setting::SettingsError;
use crate::rocketchat::DocError;
use crate::store::StoreError;

pub const ROOMS: &str = "rocketchat_room";
pub const MESSAGES: &str = "rocketchat_message";
pub const USERS: &str = "users";
pub const PERMISSIONS: &str = "rocketchat_permissions";
pub const SETTINGS: &str = "rocketchat_settings";

/// Malformed lines quoted in the summary per collection; the rest are only counted.
const MAX_QUOTED: usize = 20;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Skip and count malformed lines instead of stopping at the first one.
    pub skip_malformed: bool,
    /// The export is complete: remove the tenant's users and sessions that it does not have.
    pub prune: bool,
    /// Draw a progress bar per file on stderr.
    pub show_progress: bool,
    pub writer: WriterOptions,
    /// The import's clock: tokens expired by then are not imported, and a token issued after
    /// it counts as issued then.
    pub now: DateTime<Utc>,
}

impl ImportOptions {
    /// The defaults (stop at the first malformed line, no pruning, no progress bar) at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            skip_malformed: false,
            prune: false,
            show_progress: false,
            writer: WriterOptions::default(),
            now,
        }
    }
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
    #[error(
        "{file} line {line}: user {user_id} has a login token that user {other_user} \
         (line {other_line}) also has; a token belongs to one user"
    )]
    TokenShared {
        file: String,
        line: u64,
        user_id: String,
        other_user: String,
        other_line: u64,
    },
    #[error(
        "{file} line {line}: a login token of user {user_id} is already the session of user \
         {owner_user} of tenant {owner_tenant}; a session never changes tenant or user"
    )]
    SessionTaken {
        file: String,
        line: u64,
        user_id: String,
        owner_tenant: String,
        owner_user: String,
    },
    #[error(
        "a login token of user {user_id} of tenant {tenant} became another user's session \
         while importing"
    )]
    SessionRaced { tenant: String, user_id: String },
    #[error("{file} line {line} changed while it was being imported")]
    Changed { file: String, line: u64 },
    #[error("reading the tenant's current data failed")]
    Read(#[source] StoreError),
    #[error("writing {what} failed")]
    Write {
        what: &'static str,
        #[source]
        source: WriteError,
    },
    #[error("writing {what} failed")]
    Store {
        what: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("rebuilding the rollups of the imported days failed")]
    Rollups(#[source] StoreError),
    #[error(
        "the export is valid, but writing it stopped part-way; run the same import again to \
         complete it"
    )]
    Incomplete(#[source] Box<ImportError>),
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

/// Imports the export in `dir` into `tenant`: validates all of it, then writes it. Any
/// validation error leaves every table as it was.
pub async fn import_export(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    dir: &Path,
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let files = ExportFiles::find(dir)?;
    let clock = advancing_from(options.now.timestamp_millis());
    let context = Context {
        tenant,
        options,
        clock,
    };
    let (summary, consumed) = capacity::measure(async {
        let plan = validate::validate(client, names, &context, &files).await?;
        write::write(client, names, &context, &files, plan)
            .await
            .map_err(|e| ImportError::Incomplete(Box::new(e)))
    })
    .await;
    Ok(ImportSummary {
        consumed,
        ..summary?
    })
}

/// What both phases read: the tenant and the operator's options.
struct Context<'a> {
    tenant: &'a TenantId,
    options: &'a ImportOptions,
    /// From `options.now` on: the days' leases of the writes and the rollups' rebuild.
    clock: Clock,
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
