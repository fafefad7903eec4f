//! The request path's test doubles: the in-memory tenant of the behaviour spec, the app over
//! each store, requests with credentials, and the exact error bodies.

use std::sync::Arc;

use agent_overview::config::{QueryPlan, ReadSettings};
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::identity::{hash_token, Session, User};
use agent_overview::http::App;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::memory::MemoryStore;
use agent_overview::store::{ConversationStore, IdentityStore};
use aws_sdk_dynamodb::Client;
use lambda_http::http::{HeaderName, HeaderValue, Method, Request};
use lambda_http::Body;
use serde_json::{json, Value};

use crate::support::harness;

pub const NOW_MS: i64 = 1_764_000_000_000; // 2025-11-24
pub const PATH: &str = "/api/v1/livechat/analytics/agent-overview";

// Exact bytes, keys in Rocket.Chat's order.
pub const UNAUTHORIZED: &str =
    r#"{"status":"error","message":"You must be logged in to do this."}"#;
pub const FORBIDDEN: &str = r#"{"success":false,"error":"User does not have the permissions required for this action [error-unauthorized]"}"#;
pub const NOT_FOUND: &str =
    r#"{"success":false,"error":"Not found [error-not-found]","errorType":"error-not-found"}"#;
pub const METHOD_NOT_ALLOWED: &str = r#"{"success":false,"error":"Method not allowed; the endpoint answers GET [error-method-not-allowed]","errorType":"error-method-not-allowed"}"#;

pub fn invalid(msg: &str) -> Value {
    json!({"success": false, "error": format!("{msg} [invalid-params]"), "errorType": "invalid-params"})
}

/// A tenant with a manager, an admin, a plain agent, an auditor, and the spec's worked example.
pub fn store() -> MemoryStore {
    let s = MemoryStore::new();
    let users = [
        (
            "u-manager",
            "manager",
            vec!["user", "livechat-manager"],
            "tok-manager",
            0,
        ),
        ("u-admin", "root", vec!["admin"], "tok-admin", 0),
        (
            "u-agent",
            "agent",
            vec!["user", "livechat-agent"],
            "tok-agent",
            0,
        ),
        ("u-auditor", "auditor", vec!["auditor"], "tok-auditor", 0),
        // Issued 91 days before NOW: past the default 90-day login expiration.
        (
            "u-stale",
            "stale",
            vec!["livechat-manager"],
            "tok-stale",
            91,
        ),
    ];
    for (id, name, roles, token, age_days) in users {
        s.put_user(
            "acme",
            User {
                id: id.into(),
                username: name.into(),
                roles: roles.into_iter().map(String::from).collect(),
                utc_offset: None,
                generation: None,
            },
        );
        s.put_session(
            &hash_token(token),
            Session {
                tenant: "acme".into(),
                user_id: id.into(),
                issued_at_ms: NOW_MS - age_days * 86_400_000,
                generation: None,
            },
        );
    }
    for c in worked_example() {
        s.put_conversation("acme", c);
    }
    s
}

/// rocketchat-behaviour.md section 4: R1..R5 on 2024-03-01/02 (UTC).
pub fn worked_example() -> Vec<Conversation> {
    let day = 1_709_251_200_000_i64; // 2024-03-01T00:00:00Z
    let h = 3_600_000;
    let room = |id: &str, ts: i64, served: Option<&str>, resp: Option<&str>| Conversation {
        department_id: Some("D1".into()),
        open: Some(false),
        agent: served.map(String::from),
        responder: resp.map(String::from),
        ..Conversation::new(id, ts)
    };
    let mut r1 = room("R1", day + 10 * h, Some("kim"), Some("kim"));
    (
        r1.chat_duration,
        r1.first_response,
        r1.avg_response,
        r1.first_reaction,
        r1.agent_messages,
    ) = (Some(100.0), Some(30.0), Some(40.0), Some(5.0), 3);
    let mut r2 = room("R2", day + 11 * h, Some("jane"), Some("jane"));
    (
        r2.chat_duration,
        r2.first_response,
        r2.avg_response,
        r2.first_reaction,
        r2.agent_messages,
    ) = (Some(7300.0), Some(10.0), Some(20.0), Some(0.0), 0);
    let mut r3 = room("R3", day + 12 * h, Some("kim"), Some("jane"));
    (
        r3.chat_duration,
        r3.first_response,
        r3.avg_response,
        r3.agent_messages,
    ) = (Some(0.0), Some(50.0), Some(60.0), 2);
    let mut r4 = room("R4", day + 13 * h, None, None);
    r4.department_id = None;
    let mut r5 = room("R5", day + 24 * h, Some("kim"), Some("kim"));
    r5.chat_duration = Some(999.0);
    vec![r1, r2, r3, r4, r5]
}

pub fn memory_app(store: MemoryStore) -> App<MemoryStore> {
    App {
        store,
        reads: ReadSettings {
            max_range_days: 3660,
            ..ReadSettings::default()
        },
        clock: Arc::new(|| NOW_MS),
        sign_in: None,
    }
}

pub fn request(query: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(format!("https://example.test{PATH}?{query}"))
        .body(Body::Empty)
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    req
}

pub fn as_user(token: &str, user_id: &str) -> Vec<(String, String)> {
    vec![
        ("X-Auth-Token".into(), token.into()),
        ("X-User-Id".into(), user_id.into()),
    ]
}

/// Status and body text of one request.
pub async fn call<S: IdentityStore + ConversationStore + Sync>(
    app: &App<S>,
    query: &str,
    headers: &[(String, String)],
) -> (u16, String) {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let res = app.handle(request(query, &h)).await;
    assert_eq!(
        res.headers()["content-type"],
        "application/json",
        "every answer is JSON"
    );
    assert_uncacheable(&res);
    let body = match res.body() {
        Body::Text(t) => t.clone(),
        other => panic!("unexpected body {other:?}"),
    };
    (res.status().as_u16(), body)
}

/// The URL does not name the tenant: a shared cache keyed on it would mix tenants' answers.
pub fn assert_uncacheable(res: &lambda_http::Response<Body>) {
    let values: Vec<_> = res.headers().get_all("cache-control").iter().collect();
    assert_eq!(
        values,
        ["no-store"],
        "every answer is Cache-Control: no-store"
    );
}

pub fn manager() -> Vec<(String, String)> {
    as_user("tok-manager", "u-manager")
}

pub fn event(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn demo_store() -> agent_overview::store::memory::MemoryStore {
    let s = store();
    s.put_user(
        "acme",
        User {
            id: "demo-manager".into(),
            username: "manager".into(),
            roles: vec!["livechat-manager".into()],
            utc_offset: None,
            generation: None,
        },
    );
    s.put_session(
        &hash_token("demo-token-0000000000000000000000000000000"),
        Session {
            tenant: "acme".into(),
            user_id: "demo-manager".into(),
            issued_at_ms: NOW_MS,
            generation: None,
        },
    );
    s
}

pub fn dynamo_app(client: Client, reads: ReadSettings) -> App<DynamoStore> {
    App {
        store: DynamoStore::new(client, harness::table_names(), reads.clone()),
        reads,
        clock: Arc::new(|| NOW_MS),
        sign_in: None,
    }
}

pub async fn get(app: &App<DynamoStore>, query: &str, token: &str) -> (u16, String) {
    let res = app
        .handle(request(
            query,
            &[("x-auth-token", token), ("x-user-id", "u-manager")],
        ))
        .await;
    let body = match res.body() {
        Body::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    (res.status().as_u16(), body)
}

/// These tests put conversations (or fake Query pages) straight into the conversations table,
/// with no rollups rebuilt: they exercise the raw plan.
pub fn raw_plan() -> ReadSettings {
    ReadSettings {
        query_plan: QueryPlan::Raw,
        ..ReadSettings::default()
    }
}
