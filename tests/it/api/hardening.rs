//! Hostile and odd requests: each gets a documented answer, quickly, without reads it does not
//! need, and without echoing what was sent. (DynamoDB throttling: `throttling.rs`; malformed
//! stored items: `dynamo.rs`.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_overview::config::ReadSettings;
use agent_overview::domain::aggregate::Aggregator;
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::identity::{
    CallerContext, ReportingZoneSetting, Session, TenantSettings, User,
};
use agent_overview::functions::api::http_request;
use agent_overview::http::App;
use agent_overview::store::memory::MemoryStore;
use agent_overview::store::{ConversationStore, FoldStats, IdentityStore, RangeQuery, ReadError};
use aws_sdk_dynamodb::Client;
use lambda_http::http::HeaderValue;
use lambda_http::Body;
use serde_json::{json, Value};

use crate::support::api::{
    as_user, call, invalid, memory_app, request, store, NOW_MS, UNAUTHORIZED,
};
use crate::support::api::{demo_store, event};
use crate::support::api::{dynamo_app, get};
use crate::support::api::{manager, raw_plan};
use crate::support::harness;
use crate::support::seed::{put_conversations, seed_tenant};

const OK: &str = "name=Total_messages&from=2024-03-01&to=2024-03-01";
const EMPTY_TOTAL_MESSAGES: &str =
    r#"{"head":[{"name":"Agent"},{"name":"Total_messages"}],"data":[],"success":true}"#;

/// A store that counts the reads it is asked for.
struct Counting {
    inner: MemoryStore,
    identity_reads: AtomicUsize,
    folds: AtomicUsize,
}

impl Counting {
    fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            identity_reads: AtomicUsize::new(0),
            folds: AtomicUsize::new(0),
        }
    }
}

impl IdentityStore for Counting {
    async fn session(&self, token_hash: &str) -> Result<Option<Session>, ReadError> {
        self.identity_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.session(token_hash).await
    }

    async fn caller(&self, tenant: &str, user_id: &str) -> Result<CallerContext, ReadError> {
        self.identity_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.caller(tenant, user_id).await
    }
}

impl ConversationStore for Counting {
    async fn fold(&self, query: &RangeQuery) -> Result<(Aggregator, FoldStats), ReadError> {
        self.folds.fetch_add(1, Ordering::SeqCst);
        self.inner.fold(query).await
    }
}

fn counting_app(max_range_days: u32) -> App<Counting> {
    App {
        store: Counting::new(store()),
        reads: ReadSettings {
            max_range_days,
            ..ReadSettings::default()
        },
        clock: Arc::new(|| NOW_MS),
        sign_in: None,
    }
}

/// The demo credentials of the `events/` fixtures (see `events::demo_store`).
const DEMO: (&str, &str) = ("demo-token-0000000000000000000000000000000", "demo-manager");

/// An HTTP API (payload 2.0) event for `query` as the client sent it, with these credentials.
fn v2_event(query: &str, (token, user): (&str, &str)) -> Value {
    let mut e = event("http-api-agent-overview.json");
    e["rawQueryString"] = json!(query);
    e["queryStringParameters"] = Value::Null;
    e["headers"]["x-auth-token"] = json!(token);
    e["headers"]["x-user-id"] = json!(user);
    e
}

/// Status and body of an API Gateway event, through the Lambda entry point's conversion.
async fn answer_event<S: IdentityStore + ConversationStore + Sync>(
    a: &App<S>,
    e: Value,
) -> (u16, String) {
    let (_, req) = http_request(e).expect("an API Gateway event");
    let res = a.handle(req).await;
    match res.body() {
        Body::Text(t) => (res.status().as_u16(), t.clone()),
        other => panic!("{other:?}"),
    }
}

fn demo_counting_app() -> App<Counting> {
    App {
        store: Counting::new(demo_store()),
        reads: ReadSettings::default(),
        clock: Arc::new(|| NOW_MS),
        sign_in: None,
    }
}

#[tokio::test]
async fn oversized_query_strings_are_short_400s_without_a_read() {
    // Past what http::Uri holds (64 KB): the query travels beside the request.
    let huge = 100_000;
    let names = "Total_conversations, Avg_chat_duration, Total_messages, Avg_first_response_time, Best_first_response_time, Avg_response_time, Avg_reaction_time";
    let cases = [
        (
            format!("{OK}&departmentId={}", "d".repeat(huge)),
            "departmentId must NOT have more than 256 characters".to_string(),
        ),
        (
            // Invalid UTF-8 once decoded: each %FF becomes one replacement character.
            format!("{OK}&departmentId={}", "%FF".repeat(huge / 3)),
            "departmentId must NOT have more than 256 characters".to_string(),
        ),
        (
            format!("name={}&from=2024-03-01&to=2024-03-01", "N".repeat(huge)),
            format!("name must be one of {names}"),
        ),
        (
            format!(
                "name=Total_messages&from={}&to=2024-03-01",
                "9".repeat(huge)
            ),
            "from must start with a date as YYYY-MM-DD".to_string(),
        ),
        (
            format!("{OK}{}", "&k=v".repeat(huge / 4)),
            "must NOT have additional properties".to_string(),
        ),
        (
            format!("{OK}{}", "&name=Total_messages".repeat(huge / 20)),
            "must be string".to_string(),
        ),
    ];
    for (query, message) in cases {
        assert!(query.len() >= huge);
        let a = demo_counting_app();
        let started = Instant::now();
        let (status, body) = answer_event(&a, v2_event(&query, DEMO)).await;
        assert!(started.elapsed() < Duration::from_secs(5), "{message}");
        assert_eq!(status, 400, "{message}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            invalid(&message)
        );
        assert!(body.len() < 400, "the body never echoes the input");
        assert_eq!(a.store.folds.load(Ordering::SeqCst), 0);
    }
    // A date followed by anything is the date (Rocket.Chat ignores what follows it).
    let q = format!(
        "name=Total_messages&from=2024-03-01{}&to=2024-03-01",
        "x".repeat(huge)
    );
    assert_eq!(
        answer_event(&demo_counting_app(), v2_event(&q, DEMO))
            .await
            .0,
        200
    );

    // REST API (payload 1.0): the same through multiValueQueryStringParameters.
    let mut v1 = event("rest-api-agent-overview.json");
    v1["multiValueQueryStringParameters"]["departmentId"] = json!(["d".repeat(huge)]);
    let (status, body) = answer_event(&demo_counting_app(), v1).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (
            400,
            invalid("departmentId must NOT have more than 256 characters")
        )
    );
}

#[tokio::test]
async fn raw_characters_a_uri_refuses_are_read_not_fatal() {
    // A client can send these unencoded; lambda_http would panic building the URI.
    for (query, credentials, status) in [
        ("name=<script>&from=2024-03-01&to=2024-03-01", ("", ""), 401),
        ("name=<script>&from=2024-03-01&to=2024-03-01", DEMO, 400),
        (
            "name=Total_messages&from=2024-03-01&to=2024-03-31&departmentId=D\u{e9}p t",
            DEMO,
            200,
        ),
        (
            "name=Total_messages&from=2024-03-01 &to=2024-03-31|^`{}",
            DEMO,
            200,
        ),
        (
            "name=Total_messages&from=2024-03-01&to=2024-03-31&\u{1}=\u{7f}",
            DEMO,
            400,
        ),
    ] {
        let (got, body) = answer_event(&demo_counting_app(), v2_event(query, credentials)).await;
        assert_eq!(got, status, "{query}: {body}");
    }
}

#[tokio::test]
async fn an_oversized_query_with_bad_credentials_is_401_before_any_parsing() {
    let q = format!("{OK}{}", "&k=v".repeat(25_000));
    let a = demo_counting_app();
    let answer = answer_event(&a, v2_event(&q, ("nope", "demo-manager"))).await;
    assert_eq!(answer, (401, UNAUTHORIZED.to_string()));
    assert_eq!(a.store.identity_reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn repeated_parameters_are_400_whatever_their_values() {
    for q in [
        format!("{OK}&name=Total_messages"),
        format!("{OK}&from=2024-03-01"),
        format!("{OK}&to=2024-03-01"),
        format!("{OK}&departmentId=D1&departmentId=D1"),
        format!("{OK}&from[0]=2024-03-01"),
        format!("{OK}&departmentId[$ne]=x"),
        format!("{OK}{}", "&to=2024-03-01".repeat(1000)),
    ] {
        let (status, body) = call(&memory_app(store()), &q, &manager()).await;
        assert_eq!(
            (status, serde_json::from_str::<Value>(&body).unwrap()),
            (400, invalid("must be string")),
            "{}",
            &q[..q.len().min(120)]
        );
    }
}

#[tokio::test]
async fn repeated_parameters_are_seen_through_both_api_gateway_payloads() {
    // HTTP API (payload 2.0) joins repeated keys with commas in queryStringParameters; the raw
    // query string keeps them apart, and it is what the handler reads.
    let mut v2 = event("http-api-agent-overview.json");
    v2["rawQueryString"] =
        json!("name=Total_conversations&name=Total_messages&from=2024-03-01&to=2024-03-31");
    v2["queryStringParameters"]["name"] = json!("Total_conversations,Total_messages");
    // REST API (payload 1.0) lists every value in multiValueQueryStringParameters.
    let mut v1 = event("rest-api-agent-overview.json");
    v1["queryStringParameters"]["name"] = json!("Total_messages");
    v1["multiValueQueryStringParameters"]["name"] =
        json!(["Total_conversations", "Total_messages"]);
    for (shape, e) in [("payload 2.0", v2), ("payload 1.0", v1)] {
        let (_, req) = http_request(e).expect("an API Gateway event");
        let res = memory_app(demo_store()).handle(req).await;
        let body = match res.body() {
            Body::Text(t) => serde_json::from_str::<Value>(t).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (res.status().as_u16(), body),
            (400, invalid("must be string")),
            "{shape}"
        );
    }
}

#[tokio::test]
async fn odd_credential_headers_are_401_without_a_lookup() {
    let bad: [(&str, HeaderValue, &str, HeaderValue); 5] = [
        (
            "x-auth-token",
            HeaderValue::from_static("tok-manager"),
            "x-user-id",
            HeaderValue::from_bytes(b"u-\xffmanager").unwrap(),
        ),
        (
            "x-auth-token",
            HeaderValue::from_bytes(b"tok-\xe9").unwrap(),
            "x-user-id",
            HeaderValue::from_static("u-manager"),
        ),
        (
            "x-auth-token",
            HeaderValue::from_str(&"t".repeat(64 * 1024)).unwrap(),
            "x-user-id",
            HeaderValue::from_static("u-manager"),
        ),
        (
            "x-auth-token",
            HeaderValue::from_static("tok-manager"),
            "x-user-id",
            HeaderValue::from_str(&"u".repeat(257)).unwrap(),
        ),
        (
            "x-auth-token",
            HeaderValue::from_static("tok-manager"),
            "x-user-id",
            HeaderValue::from_static(""),
        ),
    ];
    for (token_header, token, user_header, user) in bad {
        let a = counting_app(3660);
        let mut req = request(OK, &[]);
        req.headers_mut().insert(token_header, token);
        req.headers_mut().insert(user_header, user);
        let res = a.handle(req).await;
        assert_eq!(res.status().as_u16(), 401);
        assert_eq!(res.body(), &Body::Text(UNAUTHORIZED.into()));
        assert_eq!(a.store.identity_reads.load(Ordering::SeqCst), 0);
    }
    // At the limit the token is looked up (and unknown).
    let a = counting_app(3660);
    let answer = call(&a, OK, &as_user(&"t".repeat(256), "u-manager")).await;
    assert_eq!(answer.0, 401);
    assert_eq!(a.store.identity_reads.load(Ordering::SeqCst), 1);
}

/// acme's store plus a tenant `globex` whose conversations are all in department G1.
fn two_tenants() -> MemoryStore {
    let s = store();
    for mut c in crate::support::api::worked_example() {
        c.department_id = Some("G1".into());
        s.put_conversation("globex", c);
    }
    s
}

#[tokio::test]
async fn a_department_of_another_tenant_is_an_empty_200_like_a_missing_one() {
    let a = memory_app(two_tenants());
    let theirs = call(&a, &format!("{OK}&departmentId=G1"), &manager()).await;
    let nobodys = call(&a, &format!("{OK}&departmentId=NOPE"), &manager()).await;
    assert_eq!(theirs, (200, EMPTY_TOTAL_MESSAGES.to_string()));
    assert_eq!(theirs, nobodys, "existence does not show");
}

#[tokio::test]
async fn dates_at_the_ends_of_the_calendar() {
    let zones = [
        ReportingZoneSetting::Server,
        ReportingZoneSetting::Custom("Pacific/Kiritimati".into()), // UTC+14
        ReportingZoneSetting::Custom("Etc/GMT+12".into()),         // UTC-12
        ReportingZoneSetting::User,
    ];
    for zone in zones {
        for offset in [None, Some(14.0), Some(-12.0)] {
            let s = store();
            s.put_settings(
                "acme",
                TenantSettings {
                    reporting_timezone: zone.clone(),
                    login_expiration_days: 90,
                },
            );
            s.put_user(
                "acme",
                User {
                    id: "u-manager".into(),
                    username: "manager".into(),
                    roles: vec!["livechat-manager".into()],
                    utc_offset: offset,
                    generation: None,
                },
            );
            let a = memory_app(s);
            for (from, to, status) in [
                ("1000-01-01", "1000-01-01", 200),
                ("1000-01-01", "1000-12-31", 200),
                ("9999-12-31", "9999-12-31", 200),
                ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z", 200),
                ("9990-01-01", "9999-12-31", 200),
                ("1000-01-01", "9999-12-31", 400),
                ("0999-12-31", "1000-01-01", 400),
                ("9999-12-31", "10000-01-01", 400),
                ("+2024-03-01", "2024-03-01", 400),
                ("-2024-03-01", "2024-03-01", 400),
            ] {
                let q = format!("name=Total_messages&from={from}&to={to}");
                let (got, body) = call(&a, &q, &manager()).await;
                assert_eq!(got, status, "{zone:?} {offset:?} {q}: {body}");
                if status == 200 {
                    assert_eq!(body, EMPTY_TOTAL_MESSAGES);
                }
            }
        }
    }
}

#[tokio::test]
async fn from_after_to_is_about_dates_not_times() {
    let a = memory_app(store());
    let same_day = "name=Total_messages&from=2024-03-01T23:00:00Z&to=2024-03-01T01:00:00Z";
    assert_eq!(call(&a, same_day, &manager()).await.0, 200);
    let (status, body) = call(
        &a,
        "name=Total_messages&from=2024-03-02&to=2024-03-01T23:59:59Z",
        &manager(),
    )
    .await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (400, invalid("from must not be after to"))
    );
}

#[tokio::test]
async fn ranges_at_and_past_the_maximum() {
    let a = counting_app(31);
    for (from, to, status) in [
        ("2024-01-01", "2024-01-31", 200),
        ("2024-02-01", "2024-03-02", 200), // leap year: 29 + 2 days
        ("2023-02-01", "2023-03-03", 200),
        ("2024-01-01", "2024-02-01", 400),
        ("2023-02-01", "2023-03-04", 400),
    ] {
        let q = format!("name=Total_messages&from={from}&to={to}");
        let (got, body) = call(&a, &q, &manager()).await;
        assert_eq!(got, status, "{q}");
        if status == 400 {
            assert_eq!(
                serde_json::from_str::<Value>(&body).unwrap(),
                invalid("the range from..to must not be longer than 31 days")
            );
        }
    }
    assert_eq!(
        a.store.folds.load(Ordering::SeqCst),
        3,
        "refused ranges read nothing"
    );

    // The default maximum, 3660 days: exactly it is accepted.
    let a = memory_app(store());
    let last = chrono::NaiveDate::from_ymd_opt(2014, 1, 1).unwrap() + chrono::Duration::days(3659);
    let q = format!("name=Total_messages&from=2014-01-01&to={last}");
    assert_eq!(call(&a, &q, &manager()).await.0, 200);
    let q = format!(
        "name=Total_messages&from=2014-01-01&to={}",
        last + chrono::Duration::days(1)
    );
    assert_eq!(call(&a, &q, &manager()).await.0, 400);
}

// --- The same edges through DynamoDB (dynalite): keys, month buckets and GSIs. ---

async fn seeded(
    prefix: &str,
    settings: TenantSettings,
    offset: Option<f64>,
) -> (Client, String, String) {
    let client = harness::ready().await.0;
    let tenant = harness::unique_tenant(prefix);
    let token = seed_tenant(&client, &tenant, settings, offset).await;
    (client, tenant, token)
}

#[tokio::test]
async fn dynamodb_a_department_of_another_tenant_is_an_empty_200() {
    let (client, acme, acme_token) = seeded("dept-acme", TenantSettings::default(), None).await;
    let globex = harness::unique_tenant("dept-globex");
    let rooms: Vec<Conversation> = crate::support::api::worked_example()
        .into_iter()
        .map(|mut c| {
            c.department_id = Some("G1".into());
            c
        })
        .collect();
    put_conversations(&client, &globex, &rooms).await;
    put_conversations(&client, &acme, &crate::support::api::worked_example()).await;
    let a = dynamo_app(client, raw_plan());
    let theirs = get(&a, &format!("{OK}&departmentId=G1"), &acme_token).await;
    let nobodys = get(&a, &format!("{OK}&departmentId=NOPE"), &acme_token).await;
    assert_eq!(theirs, (200, EMPTY_TOTAL_MESSAGES.to_string()));
    assert_eq!(theirs, nobodys);
}

#[tokio::test]
async fn dynamodb_dates_at_the_ends_of_the_calendar() {
    for (settings, offset) in [
        (TenantSettings::default(), None),
        (
            TenantSettings {
                reporting_timezone: ReportingZoneSetting::User,
                login_expiration_days: 90,
            },
            Some(14.0),
        ),
        (
            TenantSettings {
                reporting_timezone: ReportingZoneSetting::User,
                login_expiration_days: 90,
            },
            Some(-12.0),
        ),
    ] {
        let (client, tenant, token) = seeded("edges", settings, offset).await;
        // One conversation at local noon of each edge day: in UTC that is in year 999 (+14)
        // or 10000 (-12), month buckets past the four-digit years.
        let first = chrono::NaiveDate::from_ymd_opt(1000, 1, 1).unwrap();
        let last = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
        let shift_ms = offset.map_or(0, |h: f64| h as i64 * 3_600_000);
        let local_noon = |d: chrono::NaiveDate| {
            d.and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis()
                - shift_ms
        };
        let mut early = Conversation::new("EARLY", local_noon(first));
        early.agent = Some("kim".into());
        let mut late = Conversation::new("LATE", local_noon(last));
        late.agent = Some("jane".into());
        put_conversations(&client, &tenant, &[early, late]).await;
        let a = dynamo_app(client, raw_plan());
        let first_day = get(
            &a,
            "name=Total_messages&from=1000-01-01&to=1000-01-01",
            &token,
        )
        .await;
        assert_eq!(
            first_day,
            (200, r#"{"head":[{"name":"Agent"},{"name":"Total_messages"}],"data":[{"name":"kim","value":"1"}],"success":true}"#.to_string()),
            "{offset:?}"
        );
        let last_day = get(
            &a,
            "name=Total_messages&from=9999-12-31&to=9999-12-31",
            &token,
        )
        .await;
        assert_eq!(
            last_day,
            (200, r#"{"head":[{"name":"Agent"},{"name":"Total_messages"}],"data":[{"name":"jane","value":"1"}],"success":true}"#.to_string()),
            "{offset:?}"
        );
        let ten_years = get(
            &a,
            "name=Total_messages&from=9990-01-02&to=9999-12-31",
            &token,
        )
        .await;
        assert_eq!(
            ten_years.0, 200,
            "{offset:?}: 120 month buckets up to year 9999"
        );
    }
}
