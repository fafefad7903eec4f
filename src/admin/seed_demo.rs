//! `seed-demo`: what `./scripts/run-local.sh` and the test command's smoke step serve. The
//! tables from the template, a demo tenant of generated conversations, a `livechat-manager`
//! and a session with a known token. Its report is plain `KEY=value` lines, so a script can
//! keep them as a credentials file and source it.

use std::fmt;

use crate::dynamo::Client;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::config::TableNames;
use crate::domain::clock::advancing_from;
use crate::domain::identity::{TenantId, User};

use super::demo::{write_demo, DemoError, DemoParams};
use super::directory::{add_user, DirectoryError};
use super::session::{mint_session, SessionError};
use super::tables::{create_tables_from_template, TablesError};
use super::Report;
use crate::dynamo::writer::WriterOptions;

/// The demo's fixed shape: small enough to seed in seconds, large enough to show every figure.
pub const DEMO_DAYS: u32 = 90;
const DEMO_CONVERSATIONS: u32 = 2000;
const DEMO_AGENTS: u32 = 8;
const DEMO_DEPARTMENTS: u32 = 3;
const DEMO_SEED: u64 = 42;
pub const DEMO_TENANT: &str = "demo";
pub const DEMO_USER_ID: &str = "demo-manager";
/// Known on purpose: the README's `curl` line and `events/*.json` carry it. Local data only.
pub const DEMO_TOKEN: &str = "demo-token-0000000000000000000000000000000";

/// Whom to seed; the defaults are the README's demo.
#[derive(Debug, Clone)]
pub struct SeedDemo {
    pub tenant: TenantId,
    pub user_id: String,
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("creating the tables failed")]
    Tables(#[source] TablesError),
    #[error("generating the demo conversations failed")]
    Demo(#[source] DemoError),
    #[error("adding the demo manager failed")]
    User(#[source] DirectoryError),
    #[error("minting the demo session failed")]
    Session(#[source] SessionError),
}

/// What was seeded, as `KEY=value` lines (no secret of anyone's: the demo token is public).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSeeded {
    pub tenant: TenantId,
    pub user_id: String,
    pub token: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl fmt::Display for DemoSeeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "DEMO_TENANT={}", self.tenant.as_str())?;
        writeln!(f, "DEMO_USER_ID={}", self.user_id)?;
        writeln!(f, "DEMO_TOKEN={}", self.token)?;
        writeln!(f, "DEMO_FROM={}", self.from)?;
        writeln!(f, "DEMO_TO={}", self.to)
    }
}

impl Report for DemoSeeded {
    fn note(&self) -> Option<String> {
        Some(format!(
            "demo tenant '{}' seeded: {DEMO_CONVERSATIONS} conversations, {} .. {}",
            self.tenant.as_str(),
            self.from,
            self.to
        ))
    }
}

/// Creates the template's tables (existing ones are left alone) and seeds the tenant with the
/// demo conversations of the `DEMO_DAYS` days up to `now`, a manager and its session.
/// Re-running it refreshes the same data and session.
pub async fn seed_demo(
    client: &Client,
    names: &TableNames,
    template_yaml: &str,
    who: &SeedDemo,
    now: DateTime<Utc>,
) -> Result<DemoSeeded, SeedError> {
    create_tables_from_template(client, template_yaml, names)
        .await
        .map_err(SeedError::Tables)?;
    let to = now.date_naive();
    let params = DemoParams {
        conversations: DEMO_CONVERSATIONS,
        days: DEMO_DAYS,
        agents: DEMO_AGENTS,
        departments: DEMO_DEPARTMENTS,
        seed: DEMO_SEED,
        end: to,
    };
    write_demo(
        client,
        names,
        &who.tenant,
        &params,
        WriterOptions::default(),
        advancing_from(now.timestamp_millis()),
    )
    .await
    .map_err(SeedError::Demo)?;
    let manager = User {
        id: who.user_id.clone(),
        username: "manager".to_string(),
        roles: vec!["livechat-manager".to_string()],
        utc_offset: None,
        generation: None,
    };
    add_user(client, names, &who.tenant, &manager)
        .await
        .map_err(SeedError::User)?;
    let minted = mint_session(
        client,
        names,
        &who.tenant,
        &who.user_id,
        Some(who.token.clone()),
        now,
    )
    .await
    .map_err(SeedError::Session)?;
    Ok(DemoSeeded {
        tenant: who.tenant.clone(),
        user_id: who.user_id.clone(),
        token: minted.token,
        from: to - TimeDelta::days(i64::from(DEMO_DAYS)),
        to,
    })
}
