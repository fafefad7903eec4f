//! The data: tables from `template.yaml`, and one tenant per size with demo conversations over
//! 365 days (written concurrently with the BatchWriter, timed), their rollups (rebuilt as
//! `generate-demo` rebuilds them, timed), a livechat-manager and a session.

use std::collections::HashMap;
use std::time::Instant;

use agent_overview::admin::demo::{demo_conversations, DemoParams};
use agent_overview::admin::rebuild_rollups::{rebuild_rollups, RollupsRebuilt};
use agent_overview::admin::session::mint_session;
use agent_overview::admin::tables::create_tables_from_template;
use agent_overview::config::TableNames;
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::identity::{TenantId, User};
use agent_overview::dynamo::identity_writes::put_user;
use agent_overview::dynamo::items::{attr, conversation_item};
use agent_overview::dynamo::writer::{BatchWriter, WriterOptions};
use aws_sdk_dynamodb::Client;
use chrono::{NaiveDate, TimeDelta};

const TEMPLATE: &str = include_str!("../../template.yaml");

/// The last day of the data (fixed, so every run reads the same conversations).
pub fn end_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 30).expect("a real date")
}

pub const DATA_DAYS: u32 = 365;
pub const AGENTS: u32 = 20;
pub const DEPARTMENTS: u32 = 4;
/// BatchWriteItem calls in flight while loading.
pub const WRITERS_IN_FLIGHT: usize = 16;
pub const USER_ID: &str = "bench-manager";

pub struct Tenant {
    pub id: String,
    pub conversations: u32,
    pub token: String,
    /// The busiest department: the `departmentId` of the filtered requests.
    pub department: String,
    pub department_share: f64,
    pub load_secs: f64,
    pub rollups_secs: f64,
    pub rollup_items: u64,
}

pub fn label(conversations: u32) -> String {
    if conversations >= 1000 && conversations.is_multiple_of(1000) {
        format!("{}k", conversations / 1000)
    } else {
        conversations.to_string()
    }
}

pub fn demo_params(conversations: u32) -> DemoParams {
    DemoParams {
        conversations,
        days: DATA_DAYS,
        agents: AGENTS,
        departments: DEPARTMENTS,
        seed: 42 + u64::from(conversations),
        end: end_day(),
    }
}

pub async fn create_tables(client: &Client, names: &TableNames) {
    create_tables_from_template(client, TEMPLATE, names)
        .await
        .expect("creating the tables from template.yaml");
}

pub async fn load_tenant(client: &Client, names: &TableNames, conversations: u32) -> Tenant {
    let id = format!("bench-{}", label(conversations));
    let tenant: TenantId = id.parse().expect("a valid tenant id");
    let params = demo_params(conversations);
    let started = Instant::now();
    let writer = WriterOptions {
        max_in_flight: WRITERS_IN_FLIGHT,
        ..WriterOptions::default()
    };
    let mut out = BatchWriter::new(client.clone(), &names.conversations, &[attr::PK], writer);
    for c in demo_conversations(&params) {
        let item = conversation_item(&id, &c).expect("a storable conversation");
        out.put(item).await.expect("writing the demo conversations");
    }
    let written = out.finish().await.expect("writing the demo conversations");
    let load_secs = started.elapsed().as_secs_f64();
    assert_eq!(written, u64::from(conversations));

    let first_day = end_day() - TimeDelta::days(i64::from(DATA_DAYS) - 1);
    let (rebuilt, rollups_secs) = rebuild_days(client, names, &tenant, first_day).await;

    let (department, in_department) = busiest_department(demo_conversations(&params));
    let token = add_manager(client, names, &tenant).await;
    Tenant {
        id,
        conversations,
        token,
        department,
        department_share: f64::from(in_department) / f64::from(conversations),
        load_secs,
        rollups_secs,
        rollup_items: rebuilt.summary.items_written,
    }
}

/// The department with the most conversations, and how many it has.
pub fn busiest_department(conversations: impl Iterator<Item = Conversation>) -> (String, u32) {
    let mut by_department: HashMap<String, u32> = HashMap::new();
    for c in conversations {
        if let Some(d) = c.department_id {
            *by_department.entry(d).or_default() += 1;
        }
    }
    by_department
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .expect("demo data has departments")
}

/// A livechat-manager and a session for it; returns the session's token.
/// Rebuilds the rollups of `first..=end_day()` as `rebuild-rollups` does, timed (seconds).
pub async fn rebuild_days(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    first: NaiveDate,
) -> (RollupsRebuilt, f64) {
    let started = Instant::now();
    let rebuilt = rebuild_rollups(
        client,
        names,
        tenant,
        Some((first, end_day())),
        end_day(),
        agent_overview::domain::clock::system_clock(),
    )
    .await
    .expect("rebuilding the rollups");
    (rebuilt, started.elapsed().as_secs_f64())
}

pub async fn add_manager(client: &Client, names: &TableNames, tenant: &TenantId) -> String {
    let id = tenant.as_str();
    let user = User {
        id: USER_ID.into(),
        username: "bench".into(),
        roles: vec!["livechat-manager".into()],
        utc_offset: None,
        generation: None,
    };
    put_user(client, &names.directory, id, &user)
        .await
        .expect("adding the manager");
    let token = format!("bench-token-{id}");
    mint_session(
        client,
        names,
        tenant,
        USER_ID,
        Some(token.clone()),
        chrono::Utc::now(),
    )
    .await
    .expect("minting the manager's session");
    token
}
