//! `agent-overview-admin`: argument parsing and wiring only; the work is in
//! `agent_overview::admin`. The DynamoDB endpoint comes from the SDK's standard environment
//! (`AWS_ENDPOINT_URL_DYNAMODB`), table names from the function's own config
//! (`SESSIONS_TABLE`, `DIRECTORY_TABLE`, `CONVERSATIONS_TABLE`). Results go to stdout,
//! everything else to stderr.

use std::io::IsTerminal;
use std::process::ExitCode;

use agent_overview::admin::connect::{connect, connect_for_sign_in, disconnect, TOKEN_VARIABLE};
use agent_overview::admin::demo::write_demo;
use agent_overview::admin::directory::{
    add_user, delete_user, grant_role, revoke_role, set_settings,
};
use agent_overview::admin::domains::{add_domain, list_domains, remove_domain};
use agent_overview::admin::import::{import_export, ImportOptions};
use agent_overview::admin::rebuild_rollups::rebuild_rollups;
use agent_overview::admin::seed_demo::{seed_demo, SeedDemo};
use agent_overview::admin::session::{mint_session, revoke_session, revoke_sessions};
use agent_overview::admin::tables::create_tables;
use agent_overview::admin::verify_rollups::verify_rollups;
use agent_overview::admin::Report;
use agent_overview::config::{SyncConfig, TableNames};
use agent_overview::domain::clock::system_clock;
use agent_overview::dynamo::writer::WriterOptions;
use agent_overview::dynamo::{client as dynamo_client, sdk_config};
use agent_overview::errors::error_chain;
use agent_overview::sync::client::{AuthToken, RestClient, RetryPolicy};
use agent_overview::sync::cycle::{sync_tenant, Progress, SyncOptions, SyncSummary};
use chrono::Utc;
use clap::Parser;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

#[path = "admin/args.rs"]
mod args;

use args::*;

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
    let client = dynamo_client(&sdk_config().await);
    let clock = system_clock();
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
                ..ImportOptions::at(Utc::now())
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
                    clock,
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
            show(rebuild_rollups(client, names, &t.tenant, t.days(), today, clock).await?)
        }
        Command::VerifyRollups(v) => {
            let progress = !v.json && std::io::stderr().is_terminal();
            let (tenant, days) = (&v.scope.tenant, v.scope.days());
            let report =
                verify_rollups(client, names, tenant, days, v.repair, progress, clock).await?;
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
            let rc = RestClient::new(&a.url, &a.user_id, token, RetryPolicy::default(), clock)?;
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
