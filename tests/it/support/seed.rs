//! Data written straight into dynalite: conversations (fixed or random), their rollups, and a
//! tenant with a manager and its settings.

use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::identity::{hash_token, Session, TenantSettings, User};
use agent_overview::dynamo::items;
use agent_overview::rollups::ingest::DaySpan;
use aws_sdk_dynamodb::Client;

use crate::support::api::NOW_MS;
use crate::support::harness;

pub const MANAGER_TOKEN: &str = "tok-manager";

pub async fn put_conversations(client: &Client, tenant: &str, rooms: &[Conversation]) {
    let table = harness::table_names().conversations;
    let puts = rooms.iter().map(|c| {
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(items::conversation_item(tenant, c).unwrap()))
            .send()
    });
    for r in futures::future::join_all(puts).await {
        r.unwrap();
    }
}

/// Rebuilds the rollups of the days `rooms` fall on, as the stream or the admin tool would.
pub async fn rebuild_rollups(client: &Client, tenant: &str, rooms: &[Conversation]) {
    let mut span = DaySpan::default();
    rooms.iter().for_each(|c| span.include(c.ts_ms));
    span.rebuild(
        client,
        &harness::table_names(),
        tenant,
        agent_overview::domain::clock::system_clock(),
    )
    .await
    .expect("rollups rebuilt");
}

/// A tenant with a manager (token `tok-manager` hashed per tenant) and the given settings.
pub async fn seed_tenant(
    client: &Client,
    tenant: &str,
    settings: TenantSettings,
    utc_offset: Option<f64>,
) -> String {
    let tables = harness::table_names();
    let user = User {
        id: "u-manager".into(),
        username: "manager".into(),
        roles: vec!["livechat-manager".into()],
        utc_offset,
        generation: None,
    };
    let token = format!("{MANAGER_TOKEN}-{tenant}");
    let session = Session {
        tenant: tenant.into(),
        user_id: "u-manager".into(),
        issued_at_ms: NOW_MS,
        generation: None,
    };
    for (table, item) in [
        (&tables.directory, items::user_item(tenant, &user)),
        (&tables.directory, items::settings_item(tenant, &settings)),
        (
            &tables.sessions,
            items::session_item(&hash_token(&token), &session, NOW_MS / 1000 + 86_400),
        ),
    ] {
        client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    token
}

pub fn random_rooms(seed: u64, n: usize, start_ms: i64, span_ms: i64) -> Vec<Conversation> {
    // A small LCG: deterministic rooms without pulling randomness into the test's outcome.
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    let agents = ["kim", "jane", "baek", "o'neil"];
    (0..n)
        .map(|i| {
            let mut metric = |scale: u64| match next(6) {
                0 => None,
                1 => Some(0.0),
                _ => Some(next(scale * 1000) as f64 / 1000.0),
            };
            let (chat, ft, avg, reaction) = (metric(7200), metric(600), metric(900), metric(300));
            Conversation {
                room_id: format!("r{i}"),
                ts_ms: start_ms + next(span_ms as u64) as i64,
                department_id: match next(4) {
                    0 => None,
                    d => Some(format!("D{d}")),
                },
                open: Some(next(2) == 0),
                agent: (next(8) != 0).then(|| agents[next(4) as usize].to_string()),
                responder: (next(6) != 0).then(|| agents[next(4) as usize].to_string()),
                chat_duration: chat,
                first_response: ft,
                avg_response: avg,
                first_reaction: reaction,
                agent_messages: next(12) as u32,
            }
        })
        .collect()
}
