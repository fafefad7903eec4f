//! `agent-overview-admin`: argument parsing and wiring only; the work is in
//! `agent_overview::admin`. The DynamoDB endpoint comes from the SDK's standard environment
//! (`AWS_ENDPOINT_URL_DYNAMODB`), table names from the function's own config
//! (`SESSIONS_TABLE`, `DIRECTORY_TABLE`, `CONVERSATIONS_TABLE`). Results go to stdout,
//! everything else to stderr.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use agent_overview::admin::connect::{connect, connect_for_sign_in, disconnect, TOKEN_VARIABLE};
use agent_overview::admin::demo::{write_demo, DemoParams};
use agent_overview::admin::directory::{
    add_user, delete_user, grant_role, revoke_role, set_settings, SettingsChange,
};
use agent_overview::admin::domains::{add_domain, list_domains, remove_domain};
use agent_overview::admin::import::{import_export, ImportOptions};
use agent_overview::admin::rollups::rebuild_rollups;
use agent_overview::admin::seed_demo::{
    seed_demo, SeedDemo, DEMO_TENANT, DEMO_TOKEN, DEMO_USER_ID,
};
use agent_overview::admin::session::{mint_session, revoke_session, revoke_sessions};
use agent_overview::admin::tables::create_tables;
use agent_overview::admin::verify_rollups::verify_rollups;
use agent_overview::admin::Report;
use agent_overview::config::{SyncConfig, TableNames};
use agent_overview::domain::identity::{TenantId, User};
use agent_overview::errors::error_chain;
use agent_overview::rocketchat::setting::Mode;
use agent_overview::store::dynamo::sdk_config;
use agent_overview::store::writer::WriterOptions;
use agent_overview::sync::client::{AuthToken, RestClient, RetryPolicy};
use agent_overview::sync::cycle::{sync_tenant, Progress, SyncOptions, SyncSummary};
use chrono::{NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

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
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
struct RoleChange {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    tenant: TenantId,
    /// The user's id (Rocket.Chat's users._id)
    #[arg(long)]
    user_id: String,
    /// Role name, e.g. livechat-manager
    #[arg(long)]
    role: String,
}

/// `generate-demo`'s arguments.
#[derive(Args)]
struct GenerateDemo {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    tenant: TenantId,
    /// Number of conversations
    #[arg(long, default_value_t = 2000)]
    conversations: u32,
    /// Conversations start within this many days, ending with --end
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..))]
    days: u32,
    /// Number of agents (usernames kim, jane, omar, ...)
    #[arg(long, default_value_t = 8)]
    agents: u32,
    /// Number of department ids (some conversations have none)
    #[arg(long, default_value_t = 3)]
    departments: u32,
    /// Random seed: the same seed gives the same conversations
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Last day (UTC), YYYY-MM-DD; default today
    #[arg(long)]
    end: Option<NaiveDate>,
}

impl GenerateDemo {
    fn params(&self) -> DemoParams {
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
struct SeedDemoArgs {
    /// SAM template holding the four tables
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long, default_value = DEMO_TENANT)]
    tenant: TenantId,
    /// The manager's user id
    #[arg(long, default_value = DEMO_USER_ID)]
    user_id: String,
    /// The session's token (public: local demo data only)
    #[arg(long, default_value = DEMO_TOKEN)]
    token: String,
}

/// A tenant and, optionally, the UTC days of its rollups: `rebuild-rollups`, `verify-rollups`.
#[derive(Args)]
struct TenantDays {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    tenant: TenantId,
    /// First UTC day, YYYY-MM-DD (with --to); without both, every day of the tenant
    #[arg(long, requires = "to")]
    from: Option<NaiveDate>,
    /// Last UTC day, YYYY-MM-DD (with --from)
    #[arg(long, requires = "from")]
    to: Option<NaiveDate>,
}

impl TenantDays {
    fn days(&self) -> Option<(NaiveDate, NaiveDate)> {
        self.from.zip(self.to)
    }
}

/// `verify-rollups`' arguments.
#[derive(Args)]
struct VerifyRollups {
    #[command(flatten)]
    scope: TenantDays,
    /// Rebuild every day that differs and verify it again (exit status 0 when all are repaired)
    #[arg(long)]
    repair: bool,
    /// Print a JSON summary on stdout instead of the report
    #[arg(long)]
    json: bool,
}

/// `add-user`'s arguments.
#[derive(Args)]
struct AddUser {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    tenant: TenantId,
    /// The user's id (Rocket.Chat's users._id)
    #[arg(long)]
    user_id: String,
    /// Username, as agents appear in the figures
    #[arg(long)]
    username: String,
    /// A role; repeat for several (e.g. --role admin --role livechat-manager)
    #[arg(long = "role")]
    roles: Vec<String>,
    /// Hours from UTC, as Rocket.Chat's client reports it (e.g. -3 or 5.5)
    #[arg(long, allow_negative_numbers = true)]
    utc_offset: Option<f64>,
}

impl AddUser {
    fn user(&self) -> User {
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
struct SyncArgs {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    tenant: TenantId,
    /// The workspace's address, e.g. https://chat.example.com
    #[arg(long)]
    url: String,
    /// The service account's user id (X-User-Id)
    #[arg(long)]
    user_id: String,
    /// Also list every room and user, and remove those Rocket.Chat no longer has (sync only)
    #[arg(long)]
    full: bool,
}

/// `set-settings`'s arguments.
#[derive(Args)]
struct SetSettings {
    /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
    #[arg(long)]
    tenant: TenantId,
    /// Zone the figures' dates are read in (Default_Timezone_For_Reporting)
    #[arg(long, value_enum)]
    reporting_timezone: Option<ZoneMode>,
    /// IANA zone for the custom mode, e.g. America/New_York
    #[arg(long)]
    custom_timezone: Option<String>,
    /// Days a login token stays valid (Rocket.Chat's Accounts_LoginExpiration)
    #[arg(long)]
    login_expiration_days: Option<u32>,
}

impl SetSettings {
    fn change(&self) -> SettingsChange {
        SettingsChange {
            reporting_timezone: self.reporting_timezone.map(Mode::from),
            custom_timezone: self.custom_timezone.clone(),
            login_expiration_days: self.login_expiration_days,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ZoneMode {
    /// The server's zone (UTC)
    Server,
    /// An IANA zone, given with --custom-timezone
    Custom,
    /// Each caller's utcOffset, when a whole number of hours
    User,
}

impl From<ZoneMode> for Mode {
    fn from(m: ZoneMode) -> Self {
        match m {
            ZoneMode::Server => Mode::Server,
            ZoneMode::Custom => Mode::Custom,
            ZoneMode::User => Mode::User,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Runs one command and shows its report: the result on stdout, a note on stderr.
async fn run(command: Command) -> Result<(), AnyError> {
    let names = TableNames::from_env()?;
    let client = agent_overview::store::dynamo::client(&sdk_config().await);
    let client = &client;
    let names = &names;
    match command {
        Command::CreateTables { template } => show(create_tables(client, &template, names).await?),
        Command::Import {
            tenant,
            dir,
            skip_malformed,
            prune,
        } => {
            let options = ImportOptions {
                skip_malformed,
                prune,
                show_progress: std::io::stderr().is_terminal(),
                ..ImportOptions::default()
            };
            show(import_export(client, names, &tenant, &dir, &options).await?)
        }
        Command::GenerateDemo(demo) => {
            let params = demo.params();
            show(
                write_demo(
                    client,
                    names,
                    &demo.tenant,
                    &params,
                    WriterOptions::default(),
                )
                .await?,
            )
        }
        Command::SeedDemo(a) => {
            let yaml = std::fs::read_to_string(&a.template)
                .map_err(|e| format!("cannot read {}: {e}", a.template.display()))?;
            let who = SeedDemo {
                tenant: a.tenant,
                user_id: a.user_id,
                token: a.token,
            };
            show(seed_demo(client, names, &yaml, &who, Utc::now()).await?)
        }
        Command::RebuildRollups(t) => {
            let today = Utc::now().date_naive();
            show(rebuild_rollups(client, names, &t.tenant, t.days(), today).await?)
        }
        Command::VerifyRollups(v) => {
            let today = Utc::now().date_naive();
            let progress = !v.json && std::io::stderr().is_terminal();
            let (tenant, days) = (&v.scope.tenant, v.scope.days());
            let report =
                verify_rollups(client, names, tenant, days, today, v.repair, progress).await?;
            let outcome = report.outcome();
            if v.json {
                println!("{}", report.to_json());
            } else {
                show(report)?;
            }
            Ok(outcome?)
        }
        Command::AddUser(u) => show(add_user(client, names, &u.tenant, &u.user()).await?),
        Command::SetSettings(s) => show(set_settings(client, names, &s.tenant, &s.change()).await?),
        Command::MintSession {
            tenant,
            user_id,
            token,
        } => show(mint_session(client, names, &tenant, &user_id, token, Utc::now()).await?),
        Command::RevokeSession => show(revoke_session(client, names, &token_from_stdin()?).await?),
        Command::RevokeSessions { tenant, user_id } => {
            show(revoke_sessions(client, names, &tenant, &user_id).await?)
        }
        Command::Sync(a) => {
            // Read here, never a flag: it stays out of shell history, process lists and --help.
            let token = std::env::var(TOKEN_VARIABLE)
                .ok()
                .and_then(AuthToken::new)
                .ok_or_else(|| {
                    format!(
                        "{TOKEN_VARIABLE} is not set (the service account's personal access token)"
                    )
                })?;
            let rc = RestClient::new(&a.url, &a.user_id, token, RetryPolicy::default())?;
            let options = SyncOptions {
                full: a.full,
                rebuild_rollups: true,
                progress: std::io::stderr().is_terminal().then(progress_bar),
                ..SyncOptions::default()
            };
            let now = Utc::now().timestamp_millis();
            let summary = sync_tenant(client, names, &a.tenant, &rc, &options, now)
                .await
                .map_err(|e| rc.redact(&error_chain(&e)))?;
            show(summary)
        }
        Command::Connect {
            tenant,
            url,
            user_id,
            secret_arn,
        } => {
            let at = Utc::now();
            match (user_id, secret_arn) {
                (Some(user_id), Some(secret_arn)) => {
                    let sync = SyncConfig::from_env()?;
                    show(
                        connect(
                            client,
                            names,
                            &tenant,
                            &url,
                            &user_id,
                            &secret_arn,
                            &sync.secret_prefix,
                            at,
                        )
                        .await?,
                    )
                }
                _ => show(connect_for_sign_in(client, names, &tenant, &url, at).await?),
            }
        }
        Command::AddDomain { tenant, domain } => {
            show(add_domain(client, names, tenant.as_ref(), &domain, Utc::now()).await?)
        }
        Command::RemoveDomain { domain } => show(remove_domain(client, names, &domain).await?),
        Command::ListDomains { tenant } => {
            show(list_domains(client, names, tenant.as_ref()).await?)
        }
        Command::Disconnect { tenant } => show(disconnect(client, names, &tenant).await?),
        Command::DeleteUser { tenant, user_id } => {
            show(delete_user(client, names, &tenant, &user_id).await?)
        }
        Command::GrantRole(c) => {
            show(grant_role(client, names, &c.tenant, &c.user_id, &c.role).await?)
        }
        Command::RevokeRole(c) => {
            show(revoke_role(client, names, &c.tenant, &c.user_id, &c.role).await?)
        }
    }
}

/// A spinner on stderr with the sync's running counts.
fn progress_bar() -> Progress {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    std::sync::Arc::new(move |s: &SyncSummary| {
        bar.set_message(format!(
            "rooms {} added, {} changed, {} unchanged; {} messages; {} requests",
            s.rooms_added, s.rooms_changed, s.rooms_unchanged, s.messages_read, s.requests
        ));
    })
}

fn show(report: impl Report) -> Result<(), AnyError> {
    if let Some(note) = report.note() {
        eprintln!("{note}");
    }
    print!("{report}");
    Ok(())
}

/// A token read from stdin, so it stays out of shell history and process lists.
fn token_from_stdin() -> Result<String, AnyError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the token from stdin: {e}"))?;
    match line.trim() {
        "" => Err("no token on stdin".into()),
        token => Ok(token.to_string()),
    }
}
