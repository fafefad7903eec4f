//! `agent-overview-admin`: argument parsing and wiring only; the work is in
//! `agent_overview::admin`. The DynamoDB endpoint comes from the SDK's standard environment
//! (`AWS_ENDPOINT_URL_DYNAMODB`), table names from the function's own config
//! (`SESSIONS_TABLE`, `DIRECTORY_TABLE`, `CONVERSATIONS_TABLE`). Results go to stdout,
//! everything else to stderr.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use agent_overview::admin::demo::{write_demo, DemoParams};
use agent_overview::admin::directory::{
    add_user, grant_role, revoke_role, set_settings, SettingsChange,
};
use agent_overview::admin::error_chain;
use agent_overview::admin::import::{import_export, ImportOptions};
use agent_overview::admin::rocketchat::setting::Mode;
use agent_overview::admin::rollups::rebuild_rollups;
use agent_overview::admin::session::{mint_session, revoke_session, revoke_sessions};
use agent_overview::admin::tables::create_tables_from_template;
use agent_overview::config::TableNames;
use agent_overview::domain::identity::{is_valid_tenant_id, ReportingTimezone, User};
use agent_overview::store::writer::WriterOptions;
use agent_overview::sync::client::{url_host, AuthToken, RestClient, RetryPolicy};
use agent_overview::sync::connect::{connect, disconnect, TOKEN_VARIABLE};
use agent_overview::sync::cycle::{sync_tenant, SyncOptions};
use aws_config::BehaviorVersion;
use chrono::{NaiveDate, SecondsFormat, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(
    name = "agent-overview-admin",
    version,
    about = "Operate the agent-overview tables: create them, import Rocket.Chat exports, \
             generate demo data, rebuild rollups, manage users, settings and sessions, \
             sync tenants from Rocket.Chat",
    after_help = "Environment: SESSIONS_TABLE, DIRECTORY_TABLE, CONVERSATIONS_TABLE, ROLLUPS_TABLE \
                  (table names), \
                  AWS_ENDPOINT_URL_DYNAMODB (e.g. http://127.0.0.1:8000 for a local DynamoDB), \
                  AWS_REGION and credentials as for any AWS SDK; \
                  ROCKETCHAT_AUTH_TOKEN (sync: the service account's personal access token)."
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
        #[arg(long, value_parser = tenant_id)]
        tenant: String,
        /// Directory holding rocketchat_room.json, rocketchat_message.json, users.json and
        /// optionally rocketchat_permissions.json and rocketchat_settings.json
        #[arg(long)]
        dir: PathBuf,
        /// Skip and count malformed lines instead of stopping at the first
        #[arg(long)]
        skip_malformed: bool,
    },
    /// Generate deterministic demo conversations for a tenant
    GenerateDemo {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long, value_parser = tenant_id)]
        tenant: String,
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
    },
    /// Recompute a tenant's daily rollups from its conversations
    RebuildRollups {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long, value_parser = tenant_id)]
        tenant: String,
        /// First UTC day, YYYY-MM-DD (with --to); without both, every day of the tenant
        #[arg(long, requires = "to")]
        from: Option<NaiveDate>,
        /// Last UTC day, YYYY-MM-DD (with --from)
        #[arg(long, requires = "from")]
        to: Option<NaiveDate>,
    },
    /// Put a user (replacing one with the same id)
    AddUser {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long, value_parser = tenant_id)]
        tenant: String,
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
    },
    /// Change the tenant's reporting time zone or login expiration
    SetSettings {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long, value_parser = tenant_id)]
        tenant: String,
        /// Zone the figures' dates are read in (Default_Timezone_For_Reporting)
        #[arg(long, value_enum)]
        reporting_timezone: Option<ZoneMode>,
        /// IANA zone for the custom mode, e.g. America/New_York
        #[arg(long)]
        custom_timezone: Option<String>,
        /// Days a login token stays valid (Rocket.Chat's Accounts_LoginExpiration)
        #[arg(long)]
        login_expiration_days: Option<u32>,
    },
    /// Create a login session for an existing user; prints the token (only) on stdout
    MintSession {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long, value_parser = tenant_id)]
        tenant: String,
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
    /// End every session of a user (scans the sessions table)
    RevokeSessions {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long, value_parser = tenant_id)]
        tenant: String,
        /// The user's id (Rocket.Chat's users._id)
        #[arg(long)]
        user_id: String,
    },
    /// One sync cycle of a tenant from its running Rocket.Chat, through Rocket.Chat's REST API.
    /// The service account's personal access token is read from ROCKETCHAT_AUTH_TOKEN
    Sync {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long, value_parser = tenant_id)]
        tenant: String,
        /// The workspace's address, e.g. https://chat.example.com
        #[arg(long)]
        url: String,
        /// The service account's user id (X-User-Id)
        #[arg(long)]
        user_id: String,
        /// Also list every room and user, and remove those Rocket.Chat no longer has
        #[arg(long)]
        full: bool,
    },
    /// Connect a tenant to its Rocket.Chat for the scheduled sync
    Connect {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long, value_parser = tenant_id)]
        tenant: String,
        /// The workspace's address, e.g. https://chat.example.com
        #[arg(long)]
        url: String,
        /// The service account's user id (X-User-Id)
        #[arg(long)]
        user_id: String,
        /// ARN of the Secrets Manager secret holding the account's personal access token
        #[arg(long)]
        secret_arn: String,
    },
    /// Stop the scheduled sync of a tenant (its data stays)
    Disconnect {
        /// Tenant id (1 to 64 of A-Z a-z 0-9 _ -)
        #[arg(long, value_parser = tenant_id)]
        tenant: String,
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
    #[arg(long, value_parser = tenant_id)]
    tenant: String,
    /// The user's id (Rocket.Chat's users._id)
    #[arg(long)]
    user_id: String,
    /// Role name, e.g. livechat-manager
    #[arg(long)]
    role: String,
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

fn tenant_id(s: &str) -> Result<String, String> {
    if is_valid_tenant_id(s) {
        Ok(s.to_string())
    } else {
        Err("a tenant id is 1 to 64 of A-Z a-z 0-9 _ -".into())
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

async fn run(command: Command) -> Result<(), AnyError> {
    let names = TableNames::from_env()?;
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    match command {
        Command::CreateTables { template } => {
            let yaml = std::fs::read_to_string(&template)
                .map_err(|e| format!("cannot read {}: {e}", template.display()))?;
            for line in create_tables_from_template(&client, &yaml, &names).await? {
                println!("{line}");
            }
        }
        Command::Import {
            tenant,
            dir,
            skip_malformed,
        } => {
            let options = ImportOptions {
                skip_malformed,
                show_progress: std::io::stderr().is_terminal(),
                writer: WriterOptions::default(),
            };
            let summary = import_export(&client, &names, &tenant, &dir, &options).await?;
            print!("{summary}");
        }
        Command::GenerateDemo {
            tenant,
            conversations,
            days,
            agents,
            departments,
            seed,
            end,
        } => {
            let params = DemoParams {
                conversations,
                days,
                agents,
                departments,
                seed,
                end: end.unwrap_or_else(|| Utc::now().date_naive()),
            };
            let summary =
                write_demo(&client, &names, &tenant, &params, WriterOptions::default()).await?;
            println!(
                "tenant {tenant}: {} demo conversations written{}; rollups of {} days rebuilt",
                summary.conversations,
                if summary.wrote_settings {
                    "; default settings (server zone) written"
                } else {
                    ""
                },
                summary.rollups.days
            );
        }
        Command::RebuildRollups { tenant, from, to } => {
            let days = from.zip(to);
            let today = Utc::now().date_naive();
            let s = rebuild_rollups(&client, &names, &tenant, days, today).await?;
            println!(
                "tenant {tenant}: rollups of {} days rebuilt ({} conversations read, {} items \
                 written, {} superseded by a later rebuild)",
                s.days, s.conversations_read, s.items_written, s.items_superseded
            );
        }
        Command::AddUser {
            tenant,
            user_id,
            username,
            roles,
            utc_offset,
        } => {
            let user = User {
                id: user_id,
                username,
                roles,
                utc_offset,
            };
            add_user(&client, &names, &tenant, &user).await?;
            println!(
                "tenant {tenant}: user {} ({}) stored",
                user.id, user.username
            );
        }
        Command::SetSettings {
            tenant,
            reporting_timezone,
            custom_timezone,
            login_expiration_days,
        } => {
            let change = SettingsChange {
                reporting_timezone: reporting_timezone.map(Mode::from),
                custom_timezone,
                login_expiration_days,
            };
            let s = set_settings(&client, &names, &tenant, &change).await?;
            let zone = match &s.reporting_timezone {
                ReportingTimezone::Server => "server".to_string(),
                ReportingTimezone::User => "user".to_string(),
                ReportingTimezone::Custom(z) => format!("custom ({z})"),
            };
            println!(
                "tenant {tenant}: reporting time zone {zone}, login expiration {} days",
                s.login_expiration_days
            );
        }
        Command::MintSession {
            tenant,
            user_id,
            token,
        } => {
            let minted =
                mint_session(&client, &names, &tenant, &user_id, token, Utc::now()).await?;
            eprintln!(
                "session for user {user_id} of tenant {tenant}, valid until {}",
                minted.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
            println!("{}", minted.token);
        }
        Command::RevokeSession => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the token from stdin: {e}"))?;
            let token = line.trim();
            if token.is_empty() {
                return Err("no token on stdin".into());
            }
            match revoke_session(&client, &names, token).await? {
                Some(s) => println!(
                    "revoked the session of user {} of tenant {}",
                    s.user_id, s.tenant
                ),
                None => println!("no session has that token"),
            }
        }
        Command::RevokeSessions { tenant, user_id } => {
            let n = revoke_sessions(&client, &names, &tenant, &user_id).await?;
            println!("tenant {tenant}: {n} session(s) of user {user_id} revoked");
        }
        Command::Sync {
            tenant,
            url,
            user_id,
            full,
        } => {
            // Read here, never a flag: it stays out of shell history, process lists and --help.
            let token = std::env::var(TOKEN_VARIABLE)
                .ok()
                .and_then(AuthToken::new)
                .ok_or_else(|| {
                    format!(
                        "{TOKEN_VARIABLE} is not set (the service account's personal access token)"
                    )
                })?;
            let rc = RestClient::new(&url, &user_id, token, RetryPolicy::default())?;
            let options = SyncOptions {
                full,
                rebuild_rollups: true,
                show_progress: std::io::stderr().is_terminal(),
                ..SyncOptions::default()
            };
            let now = Utc::now().timestamp_millis();
            let summary = sync_tenant(&client, &names, &tenant, &rc, &options, now).await?;
            print!("{summary}");
        }
        Command::Connect {
            tenant,
            url,
            user_id,
            secret_arn,
        } => {
            let connection = connect(
                &client,
                &names,
                &tenant,
                &url,
                &user_id,
                &secret_arn,
                Utc::now(),
            )
            .await?;
            println!(
                "tenant {tenant}: connected to {} as {} (token in {})",
                url_host(&connection.url),
                connection.user_id,
                connection.secret_arn
            );
        }
        Command::Disconnect { tenant } => {
            if disconnect(&client, &names, &tenant).await? {
                println!("tenant {tenant}: disconnected; its data stays");
            } else {
                println!("tenant {tenant}: was not connected");
            }
        }
        Command::GrantRole(c) => {
            let roles = grant_role(&client, &names, &c.tenant, &c.user_id, &c.role).await?;
            print_roles(&c, &roles);
        }
        Command::RevokeRole(c) => {
            let roles = revoke_role(&client, &names, &c.tenant, &c.user_id, &c.role).await?;
            print_roles(&c, &roles);
        }
    }
    Ok(())
}

fn print_roles(change: &RoleChange, roles: &[String]) {
    println!(
        "tenant {}: user {} has roles [{}]",
        change.tenant,
        change.user_id,
        roles.join(", ")
    );
}
