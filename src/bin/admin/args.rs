//! `agent-overview-admin`'s arguments: the commands and their options, as clap parses them.

use std::path::PathBuf;

use agent_overview::admin::demo::DemoParams;
use agent_overview::admin::directory::SettingsChange;
use agent_overview::admin::seed_demo::{DEMO_TENANT, DEMO_TOKEN, DEMO_USER_ID};
use agent_overview::domain::identity::ReportingZoneKind;
use agent_overview::domain::identity::{TenantId, User};
use chrono::{NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "agent-overview-admin",
    version,
    about = "Operate the agent-overview tables: create them, import Rocket.Chat exports, \
             generate demo data, rebuild and verify rollups, manage users, settings and sessions, \
             sync tenants from their Rocket.Chat",
    after_help = "Environment: SESSIONS_TABLE, DIRECTORY_TABLE, CONVERSATIONS_TABLE, ROLLUPS_TABLE \
                  (table names), \
                  AWS_ENDPOINT_URL_DYNAMODB (e.g. http://127.0.0.1:8000 for a local DynamoDB), \
                  AWS_REGION and credentials as for any AWS SDK; \
                  ROCKETCHAT_AUTH_TOKEN (sync: the service account's personal access token); \
                  SYNC_SECRET_PREFIX (connect: the tokens' secrets are named PREFIX+TENANT, \
                  default agent-overview/rocketchat/)."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create the four tables from the SAM template (existing tables are left alone)
    CreateTables {
        /// SAM template holding SessionsTable, DirectoryTable, ConversationsTable and RollupsTable
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
    },
    /// Import a Rocket.Chat export (one mongoexport file per collection) into a tenant
    Import {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long)]
        tenant: TenantId,
        /// Directory holding rocketchat_room.json, rocketchat_message.json, users.json and
        /// optionally rocketchat_permissions.json and rocketchat_settings.json
        #[arg(long)]
        dir: PathBuf,
        /// Skip and count malformed lines instead of stopping at the first
        #[arg(long)]
        skip_malformed: bool,
        /// The export is complete: remove the tenant's users (and their sessions) that it no
        /// longer has. Without it, users missing from the export are left alone.
        #[arg(long)]
        prune: bool,
    },
    /// Generate deterministic demo conversations for a tenant
    GenerateDemo(GenerateDemo),
    /// Create the tables and seed the local demo (run-local.sh): 90 days of demo conversations,
    /// a livechat-manager and a session with a known token; prints DEMO_* KEY=value lines
    SeedDemo(SeedDemoArgs),
    /// Recompute a tenant's daily rollups from its conversations
    RebuildRollups(TenantDays),
    /// Recompute a tenant's daily rollups from its conversations and report each day, scope
    /// and figure whose stored rollups differ (exit status 1); --repair rebuilds those days
    VerifyRollups(VerifyRollups),
    /// Put a user (replacing one with the same id)
    AddUser(AddUser),
    /// Change the tenant's reporting time zone or login expiration
    SetSettings(SetSettings),
    /// Create a login session for an existing user; prints the token (only) on stdout
    MintSession {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long)]
        tenant: TenantId,
        /// The user's id (Rocket.Chat's users._id)
        #[arg(long)]
        user_id: String,
        /// Use this token instead of a random one
        #[arg(long)]
        token: Option<String>,
    },
    /// End the session of one token, read from stdin (so it stays out of shell history and
    /// process lists); prints whose session it was
    RevokeSession,
    /// Delete a user and end all of its sessions at once
    DeleteUser {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long)]
        tenant: TenantId,
        /// The user's id (Rocket.Chat's users._id)
        #[arg(long)]
        user_id: String,
    },
    /// End every session of a user (found through the sessions table's byTenantUser index)
    RevokeSessions {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long)]
        tenant: TenantId,
        /// The user's id (Rocket.Chat's users._id)
        #[arg(long)]
        user_id: String,
    },
    /// One sync cycle of a tenant from its running Rocket.Chat, through Rocket.Chat's REST API;
    /// the service account's personal access token is read from ROCKETCHAT_AUTH_TOKEN
    Sync(SyncArgs),
    /// Connect a tenant to its Rocket.Chat: for sign-in with its users' own logins, and, with
    /// --user-id and --secret-arn, for the scheduled sync too
    Connect {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long)]
        tenant: TenantId,
        /// The workspace's address, e.g. https://chat.example.com (https; http only to loopback)
        #[arg(long)]
        url: String,
        /// The sync's service account user id (X-User-Id); without it, sign-in only
        #[arg(long, requires = "secret_arn")]
        user_id: Option<String>,
        /// ARN of the Secrets Manager secret holding the service account's personal access token
        #[arg(long, requires = "user_id")]
        secret_arn: Option<String>,
    },
    /// End sign-in and the scheduled sync of a tenant (its data stays)
    Disconnect {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long)]
        tenant: TenantId,
    },
    /// Map a host name (a custom domain of the API) to a tenant for sign-in with Rocket.Chat;
    /// '*.suffix' (without --tenant) maps every host under it to the tenant named by its first
    /// label
    AddDomain {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -); not with a wildcard
        #[arg(long)]
        tenant: Option<TenantId>,
        /// Host name, e.g. acme.analytics.example.com, or a wildcard *.analytics.example.com
        #[arg(long)]
        domain: String,
    },
    /// Remove a host name (or wildcard) from sign-in
    RemoveDomain {
        /// Host name or wildcard, as added
        #[arg(long)]
        domain: String,
    },
    /// List the host names (host, tab, tenant; * for a wildcard)
    ListDomains {
        /// Only the entries naming this tenant (its hosts and the wildcards)
        #[arg(long)]
        tenant: Option<TenantId>,
    },
    /// Give a user a role
    GrantRole(RoleChange),
    /// Take a role from a user
    RevokeRole(RoleChange),
}

/// Which role of which user `grant-role` and `revoke-role` change.
#[derive(Args)]
pub(crate) struct RoleChange {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    pub(crate) tenant: TenantId,
    /// The user's id (Rocket.Chat's users._id)
    #[arg(long)]
    pub(crate) user_id: String,
    /// Role name, e.g. livechat-manager
    #[arg(long)]
    pub(crate) role: String,
}

/// `generate-demo`'s arguments.
#[derive(Args)]
pub(crate) struct GenerateDemo {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    pub(crate) tenant: TenantId,
    /// Number of conversations
    #[arg(long, default_value_t = 2000)]
    pub(crate) conversations: u32,
    /// Conversations start within this many days, ending with --end
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) days: u32,
    /// Number of agents (usernames kim, jane, omar, ...)
    #[arg(long, default_value_t = 8)]
    pub(crate) agents: u32,
    /// Number of department ids (some conversations have none)
    #[arg(long, default_value_t = 3)]
    pub(crate) departments: u32,
    /// Random seed: the same seed gives the same conversations
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Last day (UTC), YYYY-MM-DD; default today
    #[arg(long)]
    pub(crate) end: Option<NaiveDate>,
}

impl GenerateDemo {
    pub(crate) fn params(&self) -> DemoParams {
        DemoParams {
            conversations: self.conversations,
            days: self.days,
            agents: self.agents,
            departments: self.departments,
            seed: self.seed,
            end: self.end.unwrap_or_else(|| Utc::now().date_naive()),
        }
    }
}

/// `seed-demo`'s arguments: the README's demo unless told otherwise.
#[derive(Args)]
pub(crate) struct SeedDemoArgs {
    /// SAM template holding the four tables
    #[arg(long, default_value = "template.yaml")]
    pub(crate) template: PathBuf,
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long, default_value = DEMO_TENANT)]
    pub(crate) tenant: TenantId,
    /// The manager's user id
    #[arg(long, default_value = DEMO_USER_ID)]
    pub(crate) user_id: String,
    /// The session's token (public: local demo data only)
    #[arg(long, default_value = DEMO_TOKEN)]
    pub(crate) token: String,
}

/// A tenant and, optionally, the UTC days of its rollups: `rebuild-rollups`, `verify-rollups`.
#[derive(Args)]
pub(crate) struct TenantDays {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    pub(crate) tenant: TenantId,
    /// First UTC day, YYYY-MM-DD (with --to); without both, every day of the tenant
    #[arg(long, requires = "to")]
    pub(crate) from: Option<NaiveDate>,
    /// Last UTC day, YYYY-MM-DD (with --from)
    #[arg(long, requires = "from")]
    pub(crate) to: Option<NaiveDate>,
}

impl TenantDays {
    pub(crate) fn days(&self) -> Option<(NaiveDate, NaiveDate)> {
        self.from.zip(self.to)
    }
}

/// `verify-rollups`' arguments.
#[derive(Args)]
pub(crate) struct VerifyRollups {
    #[command(flatten)]
    pub(crate) scope: TenantDays,
    /// Rebuild every day that differs and verify it again (exit status 0 when all are repaired)
    #[arg(long)]
    pub(crate) repair: bool,
    /// Print a JSON summary on stdout instead of the report
    #[arg(long)]
    pub(crate) json: bool,
}

/// `add-user`'s arguments.
#[derive(Args)]
pub(crate) struct AddUser {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    pub(crate) tenant: TenantId,
    /// The user's id (Rocket.Chat's users._id)
    #[arg(long)]
    pub(crate) user_id: String,
    /// Username, as agents appear in the figures
    #[arg(long)]
    pub(crate) username: String,
    /// A role; repeat for several (e.g. --role admin --role livechat-manager)
    #[arg(long = "role")]
    pub(crate) roles: Vec<String>,
    /// Hours from UTC, as Rocket.Chat's client reports it (e.g. -3 or 5.5)
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) utc_offset: Option<f64>,
}

impl AddUser {
    pub(crate) fn user(&self) -> User {
        User {
            id: self.user_id.clone(),
            username: self.username.clone(),
            roles: self.roles.clone(),
            utc_offset: self.utc_offset,
            generation: None,
        }
    }
}

/// Which Rocket.Chat `sync` reads, as whom.
#[derive(Args)]
pub(crate) struct SyncArgs {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    pub(crate) tenant: TenantId,
    /// The workspace's address, e.g. https://chat.example.com
    #[arg(long)]
    pub(crate) url: String,
    /// The service account's user id (X-User-Id)
    #[arg(long)]
    pub(crate) user_id: String,
    /// Also list every room and user, and remove those Rocket.Chat no longer has (sync only)
    #[arg(long)]
    pub(crate) full: bool,
}

/// `set-settings`'s arguments.
#[derive(Args)]
pub(crate) struct SetSettings {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    pub(crate) tenant: TenantId,
    /// Zone the figures' dates are read in (Default_Timezone_For_Reporting)
    #[arg(long, value_enum)]
    pub(crate) reporting_timezone: Option<ReportingZoneKindArg>,
    /// IANA zone for the custom mode, e.g. America/New_York
    #[arg(long)]
    pub(crate) custom_timezone: Option<String>,
    /// Days a login token stays valid (Rocket.Chat's Accounts_LoginExpiration)
    #[arg(long)]
    pub(crate) login_expiration_days: Option<u32>,
}

impl SetSettings {
    pub(crate) fn change(&self) -> SettingsChange {
        SettingsChange {
            reporting_timezone: self.reporting_timezone.map(ReportingZoneKind::from),
            custom_timezone: self.custom_timezone.clone(),
            login_expiration_days: self.login_expiration_days,
        }
    }
}

/// `ReportingZoneKind` as clap parses it (a derive on the library's type would put clap in
/// the Lambda builds).
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ReportingZoneKindArg {
    /// The server's zone (UTC)
    Server,
    /// An IANA zone, given with --custom-timezone
    Custom,
    /// Each caller's utcOffset, when a whole number of hours
    User,
}

impl From<ReportingZoneKindArg> for ReportingZoneKind {
    fn from(kind: ReportingZoneKindArg) -> Self {
        match kind {
            ReportingZoneKindArg::Server => ReportingZoneKind::Server,
            ReportingZoneKindArg::Custom => ReportingZoneKind::Custom,
            ReportingZoneKindArg::User => ReportingZoneKind::User,
        }
    }
}
