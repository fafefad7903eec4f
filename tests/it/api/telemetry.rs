//! What the function writes to its log, captured through the production subscriber
//! (`telemetry::subscriber`): one JSON line and one EMF metrics line per request, and never a
//! token, a token hash or an `X-User-Id` value, at any level.

use agent_overview::config::ReadSettings;
use agent_overview::domain::identity::{hash_token, Session, User};
use agent_overview::dynamo::items;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::memory::MemoryStore;
use serde_json::Value;

use crate::support::api::{as_user, call, memory_app, store, NOW_MS};
use crate::support::logs::{capture, Captured};

const TOKEN: &str = "tok-Zr81-very-secret-0123456789";
const USER_ID: &str = "uid-Q7zK4m";
const OTHER_TOKEN: &str = "tok-Hh22-wrong-9876543210";
const OTHER_USER_ID: &str = "uid-X5pL8n";
const OK_QUERY: &str = "name=Total_conversations&from=2024-03-01&to=2024-03-01";

/// The contract store plus a manager whose token and id are easy to search for.
fn secret_store() -> MemoryStore {
    let s = store();
    s.put_user(
        "acme",
        User {
            id: USER_ID.into(),
            username: "ops".into(),
            roles: vec!["livechat-manager".into()],
            utc_offset: None,
            generation: None,
        },
    );
    s.put_session(
        &hash_token(TOKEN),
        Session {
            tenant: "acme".into(),
            user_id: USER_ID.into(),
            issued_at_ms: NOW_MS,
            generation: None,
        },
    );
    s
}

#[tokio::test]
async fn no_token_token_hash_or_user_id_is_logged_at_any_level() {
    for level in ["trace", "debug", "info"] {
        let (log, _guard) = capture(level);
        let a = memory_app(secret_store());
        let answers = [
            call(&a, OK_QUERY, &as_user(TOKEN, USER_ID)).await.0,
            call(&a, OK_QUERY, &as_user(OTHER_TOKEN, USER_ID)).await.0,
            call(&a, OK_QUERY, &as_user(TOKEN, OTHER_USER_ID)).await.0,
            call(&a, "from=x", &as_user(TOKEN, USER_ID)).await.0,
            call(&a, OK_QUERY, &as_user("tok-agent", "u-agent")).await.0,
        ];
        assert_eq!(answers, [200, 401, 401, 400, 403]);
        log.assert_absent(&[
            TOKEN,
            &hash_token(TOKEN),
            USER_ID,
            OTHER_TOKEN,
            &hash_token(OTHER_TOKEN),
            OTHER_USER_ID,
            "tok-agent",
            "u-agent",
        ]);
        assert_eq!(log.request_logs().len(), 5, "{level}: one log line each");
        assert_eq!(log.metrics().len(), 5, "{level}: one EMF line each");
    }
}

#[test]
fn the_runtimes_raw_event_is_not_logged_even_at_trace() {
    // Even when RUST_LOG names the runtime itself.
    let (log, _guard) = capture("trace,lambda_runtime=trace");
    // lambda_runtime 1.x logs each raw invocation event, headers included, at TRACE.
    tracing::trace!(
        target: "lambda_runtime::layers::api_response",
        body = "{\"headers\":{\"x-auth-token\":\"tok-raw-event\"}}",
        "raw JSON event received from Lambda"
    );
    tracing::trace!(target: "agent_overview::probe", "trace is on");
    log.assert_absent(&["tok-raw-event"]);
    assert!(log.text().contains("trace is on"));
}

#[tokio::test]
async fn each_request_is_one_log_line_and_one_emf_document() {
    let (log, _guard) = capture("info");
    let a = memory_app(secret_store());
    call(&a, OK_QUERY, &as_user(TOKEN, USER_ID)).await;
    call(&a, OK_QUERY, &as_user(OTHER_TOKEN, USER_ID)).await;

    let logs = log.request_logs();
    assert_eq!(logs[0]["fields"]["status"], 200);
    assert_eq!(logs[0]["fields"]["tenant"], "acme");
    assert_eq!(logs[0]["fields"]["figure"], "Total_conversations");
    assert_eq!(logs[0]["fields"]["range_days"], 1);
    assert_eq!(logs[0]["fields"]["items_read"], 4);
    assert_eq!(logs[0]["fields"]["identity_reads"], 2);

    let metrics = log.metrics();
    let ok = &metrics[0];
    let directive = &ok["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "AgentOverview");
    assert_eq!(
        ok["_aws"]["Timestamp"], NOW_MS,
        "stamped by the injected clock"
    );
    assert_eq!(ok["Stage"], "test");
    assert_eq!(ok["StatusClass"], "2xx");
    assert_eq!(ok["Figure"], "Total_conversations");
    assert_eq!(ok["ItemsRead"], 4.0);
    // Session and directory reads; the in-memory store makes no query requests.
    assert_eq!(ok["DynamoDbRequests"], 2.0);
    assert_eq!(ok["Requests"], 1.0);
    assert!(ok["Latency"].is_number());
    assert_eq!(ok["tenant"], "acme", "the tenant is a property");
    let dimensions = directive["Dimensions"].to_string();
    assert!(!dimensions.contains("tenant"), "{dimensions}");

    let refused = &metrics[1];
    assert_eq!(refused["StatusClass"], "4xx");
    assert_eq!(refused["Figure"], "none");
    assert_eq!(refused["DynamoDbRequests"], 1.0, "only the session lookup");
    assert_eq!(refused["tenant"], Value::Null);
}

#[tokio::test]
async fn metrics_are_written_whatever_the_log_level() {
    let (log, _guard) = capture("error");
    let a = memory_app(secret_store());
    call(&a, OK_QUERY, &as_user(TOKEN, USER_ID)).await;
    assert_eq!(log.request_logs().len(), 0, "info lines are filtered");
    assert_eq!(log.metrics().len(), 1);
}

#[tokio::test]
async fn the_rollup_hit_ratio_is_published_for_reads_through_dynamodb() {
    use agent_overview::config::{QueryPlan, ReadSettings};
    use agent_overview::domain::identity::TenantSettings;

    let (client, _) = crate::support::harness::ready().await;
    let tenant = crate::support::harness::unique_tenant("hit");
    let rooms = crate::support::api::worked_example();
    crate::support::seed::put_conversations(&client, &tenant, &rooms).await;
    crate::support::seed::rebuild_rollups(&client, &tenant, &rooms).await;
    let token =
        crate::support::seed::seed_tenant(&client, &tenant, TenantSettings::default(), None).await;
    let (log, _guard) = capture("info");
    for plan in [QueryPlan::Rollups, QueryPlan::Raw] {
        let app = crate::support::api::dynamo_app(
            client.clone(),
            ReadSettings {
                query_plan: plan,
                ..ReadSettings::default()
            },
        );
        // Two whole UTC days: both from rollups, none raw.
        let (status, _) = crate::support::api::get(
            &app,
            "name=Total_conversations&from=2024-03-01&to=2024-03-02",
            &token,
        )
        .await;
        assert_eq!(status, 200);
    }
    let metrics = log.metrics();
    assert_eq!(metrics[0]["RollupHitRatio"], 100.0, "rollup plan");
    assert_eq!(metrics[1]["RollupHitRatio"], 0.0, "raw plan");
    assert_eq!(log.request_logs()[0]["fields"]["rollup_days"], 2);
}

/// A manager with an easily searched token and user id in a fresh tenant of the dynalite
/// tables, and an app reading them through the real SDK client (hyper, smithy, sigv4: the
/// crates that log whole requests at TRACE).
async fn dynamo_manager(token: &str, user_id: &str) -> agent_overview::http::App<DynamoStore> {
    let (client, tables) = crate::support::harness::ready().await;
    let tenant = crate::support::harness::unique_tenant("logs");
    let rooms = crate::support::api::worked_example();
    crate::support::seed::put_conversations(&client, &tenant, &rooms).await;
    let user = User {
        id: user_id.into(),
        username: "ops".into(),
        roles: vec!["livechat-manager".into()],
        utc_offset: None,
        generation: None,
    };
    let session = Session {
        tenant: tenant.clone(),
        user_id: user_id.into(),
        issued_at_ms: NOW_MS,
        generation: None,
    };
    for (table, item) in [
        (&tables.directory, items::user_item(&tenant, &user)),
        (
            &tables.sessions,
            items::session_item(&hash_token(token), &session, NOW_MS / 1000 + 86_400),
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
    crate::support::api::dynamo_app(client, ReadSettings::default())
}

/// One full request through DynamoDB, as the deployed function answers it.
async fn full_request(app: &agent_overview::http::App<DynamoStore>, token: &str, user_id: &str) {
    let (status, _) = call(app, OK_QUERY, &as_user(token, user_id)).await;
    assert_eq!(status, 200);
}

fn levels(log: &Captured) -> Vec<String> {
    log.lines()
        .iter()
        .filter_map(|l| l["level"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn at_info_a_full_request_writes_no_debug_line() {
    let (token, user_id) = ("tok-Vol1-0123456789abcdef", "uid-Vol1");
    let app = dynamo_manager(token, user_id).await;
    let (log, _guard) = capture("info");
    full_request(&app, token, user_id).await;
    let levels = levels(&log);
    assert!(
        levels
            .iter()
            .all(|l| l == "INFO" || l == "WARN" || l == "ERROR"),
        "only INFO and above at RUST_LOG=info, got {levels:?}:\n{}",
        log.text()
    );
    assert_eq!(log.request_logs().len(), 1);
    assert_eq!(log.metrics().len(), 1);
}

#[tokio::test]
async fn at_trace_the_dependencies_stop_at_debug_and_log_no_secret() {
    let (token, user_id) = ("tok-Vol2-fedcba9876543210", "uid-Vol2");
    let app = dynamo_manager(token, user_id).await;
    // Even when RUST_LOG names the dependencies themselves.
    let (log, _guard) = capture("trace,aws_smithy_runtime=trace,hyper=trace");
    full_request(&app, token, user_id).await;
    log.assert_absent(&[token, &hash_token(token), user_id]);
    assert!(
        levels(&log).iter().any(|l| l == "DEBUG"),
        "the dependencies did log (at DEBUG, their cap), so the absence above means something"
    );
}
