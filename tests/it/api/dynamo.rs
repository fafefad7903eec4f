//! The handler and the DynamoDB adapter against dynalite: tenancy, warm-up, day edges in every
//! reporting-zone mode, DST, many buckets with many pages, and a property test against the
//! in-memory computation. Tests of the raw path's own mechanics pin `QueryPlan::Raw`; the
//! others run under both plans, with the rollups rebuilt after the conversations are written.

use agent_overview::config::{QueryPlan, ReadSettings};
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::identity::{
    hash_token, ReportingZoneSetting, Session, TenantSettings, User,
};
use agent_overview::domain::range::{ReportDate, ReportingZone, UtcRange};
use agent_overview::dynamo::items;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::memory::MemoryStore;
use agent_overview::store::{ConversationStore, RangeQuery, WarmUp};
use proptest::prelude::*;

use crate::support::api::{dynamo_app, get};
use crate::support::api::{worked_example, NOW_MS};
use crate::support::harness;
use crate::support::seed::{put_conversations, random_rooms, rebuild_rollups, seed_tenant};

const PLANS: [QueryPlan; 2] = [QueryPlan::Raw, QueryPlan::Rollups];

fn plan(query_plan: QueryPlan) -> ReadSettings {
    ReadSettings {
        query_plan,
        ..ReadSettings::default()
    }
}

fn names(body: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn tenants_sharing_agents_and_departments_never_see_each_other() {
    let client = harness::ready().await.0;
    let (acme, globex) = (
        harness::unique_tenant("acme"),
        harness::unique_tenant("globex"),
    );
    put_conversations(&client, &acme, &worked_example()).await;
    let other: Vec<_> = worked_example()
        .into_iter()
        .map(|mut c| {
            c.agent_messages = 100;
            c
        })
        .collect();
    put_conversations(&client, &globex, &other).await;
    rebuild_rollups(&client, &acme, &worked_example()).await;
    rebuild_rollups(&client, &globex, &other).await;
    let acme_token = seed_tenant(&client, &acme, TenantSettings::default(), None).await;
    let globex_token = seed_tenant(&client, &globex, TenantSettings::default(), None).await;
    for (query_plan, dept) in PLANS
        .into_iter()
        .flat_map(|p| ["", "&departmentId=D1"].map(|d| (p, d)))
    {
        let app = dynamo_app(client.clone(), plan(query_plan));
        let q = format!("name=Total_messages&from=2024-03-01&to=2024-03-01{dept}");
        assert_eq!(
            get(&app, &q, &acme_token).await,
            (200, r#"{"head":[{"name":"Agent"},{"name":"Total_messages"}],"data":[{"name":"kim","value":"5"},{"name":"jane","value":"1"}],"success":true}"#.into())
        );
        assert_eq!(
            get(&app, &q, &globex_token).await,
            (200, r#"{"head":[{"name":"Agent"},{"name":"Total_messages"}],"data":[{"name":"kim","value":"200"},{"name":"jane","value":"100"}],"success":true}"#.into()),
            "{query_plan:?}"
        );
    }
    let app = dynamo_app(client, ReadSettings::default());
    // A token is bound to its tenant: acme's token with globex's user id is someone else.
    assert_eq!(
        get(
            &app,
            "name=Total_messages&from=2024-03-01&to=2024-03-01",
            "tok-manager-nobody"
        )
        .await
        .0,
        401
    );
}

#[tokio::test]
async fn warm_up_event_reads_dynamodb_and_is_not_http() {
    let client = harness::ready().await.0;
    let app = dynamo_app(client, ReadSettings::default());
    let event: serde_json::Value =
        serde_json::from_str(include_str!("../../../events/warmup.json")).unwrap();
    let out = agent_overview::functions::api::handle_event(
        &app,
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(out, serde_json::json!({"warmedUp": true}));
    app.store
        .warm_up()
        .await
        .expect("warm-up read against the sessions table");
}

/// Rooms one ms before, at, and one ms after each edge of the local day `day` in `zone`,
/// each served by an agent named after its place.
fn edge_rooms(day: &str, zone: &ReportingZone) -> Vec<Conversation> {
    let d = ReportDate::parse(day).unwrap();
    let r = UtcRange::from_days(d, d, zone);
    [
        ("before-start", r.start_ms - 1),
        ("at-start", r.start_ms),
        ("at-end", r.end_ms),
        ("after-end", r.end_ms + 1),
    ]
    .into_iter()
    .map(|(name, ts)| Conversation {
        agent: Some(name.into()),
        agent_messages: 1,
        ..Conversation::new(format!("{name}-{ts}"), ts)
    })
    .collect()
}

#[tokio::test]
async fn day_edges_are_cut_to_the_millisecond_in_every_zone_mode() {
    let client = harness::ready().await.0;
    let cases: Vec<(TenantSettings, Option<f64>, &str, &str)> = vec![
        (TenantSettings::default(), None, "2024-03-01", "UTC"),
        (custom("America/Sao_Paulo"), None, "2024-03-01", "-03:00"),
        (custom("Asia/Kolkata"), None, "2024-10-08", "+05:30"),
        (
            custom("America/New_York"),
            None,
            "2024-03-10",
            "DST start, 23 h",
        ),
        (
            custom("America/New_York"),
            None,
            "2024-11-03",
            "DST end, 25 h",
        ),
        (
            custom("Australia/Adelaide"),
            None,
            "2024-04-07",
            "DST end, +10:30 -> +09:30",
        ),
        (user_mode(), Some(-3.0), "2024-10-25", "user -3"),
        (user_mode(), Some(12.0), "2024-10-25", "user +12"),
        (
            user_mode(),
            Some(5.5),
            "2024-10-25",
            "user +5.5 falls back to UTC",
        ),
    ];
    for (settings, offset, day, label) in cases {
        let tenant = harness::unique_tenant("edges");
        let zone = ReportingZone::resolve(&settings.reporting_timezone, offset).unwrap();
        let rooms = edge_rooms(day, &zone);
        put_conversations(&client, &tenant, &rooms).await;
        rebuild_rollups(&client, &tenant, &rooms).await;
        let token = seed_tenant(&client, &tenant, settings, offset).await;
        for query_plan in PLANS {
            let app = dynamo_app(client.clone(), plan(query_plan));
            let (status, body) = get(
                &app,
                &format!("name=Total_conversations&from={day}&to={day}T23:59:59Z"),
                &token,
            )
            .await;
            assert_eq!(status, 200, "{label} {query_plan:?}");
            assert_eq!(
                names(&body),
                ["at-start", "at-end"],
                "{label} {query_plan:?}: {body}"
            );
        }
    }
}

fn custom(zone: &str) -> TenantSettings {
    TenantSettings {
        reporting_timezone: ReportingZoneSetting::Custom(zone.into()),
        login_expiration_days: 90,
    }
}

fn user_mode() -> TenantSettings {
    TenantSettings {
        reporting_timezone: ReportingZoneSetting::User,
        login_expiration_days: 90,
    }
}

#[tokio::test]
async fn a_multi_year_range_reads_every_bucket_and_every_page() {
    let client = harness::ready().await.0;
    let tenant = harness::unique_tenant("pages");
    let start = 1_672_531_200_000; // 2023-01-01
    let rooms = random_rooms(7, 300, start, 3 * 365 * 86_400_000);
    put_conversations(&client, &tenant, &rooms).await;
    let memory = MemoryStore::new();
    for c in &rooms {
        memory.put_conversation(&tenant, c.clone());
    }
    let reads = ReadSettings {
        query_page_limit: Some(3),
        query_concurrency: 8,
        query_plan: QueryPlan::Raw,
        ..ReadSettings::default()
    };
    let store = DynamoStore::new(client, harness::table_names(), reads);
    let zone = ReportingZone::Named("America/Sao_Paulo".parse().unwrap());
    let range = UtcRange::from_days(
        ReportDate::parse("2022-12-31").unwrap(),
        ReportDate::parse("2026-01-01").unwrap(),
        &zone,
    );
    for figure in Figure::ALL {
        for dept in [None, Some("D2".to_string())] {
            let q = RangeQuery {
                tenant: tenant.clone(),
                figure,
                range,
                department_id: dept.clone(),
            };
            let (dynamo, stats) = store.fold(&q).await.unwrap();
            let (reference, ref_stats) = memory.fold(&q).await.unwrap();
            assert_eq!(
                dynamo.into_rows(),
                reference.into_rows(),
                "{figure:?} {dept:?}"
            );
            assert_eq!(stats.items_read, ref_stats.items_read);
            assert!(stats.buckets >= 37, "one query chain per month: {stats:?}");
            assert!(
                stats.requests > stats.buckets,
                "pages were followed: {stats:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_range_past_the_time_budget_fails_whole() {
    let client = harness::ready().await.0;
    let tenant = harness::unique_tenant("budget");
    put_conversations(
        &client,
        &tenant,
        &random_rooms(3, 40, 1_704_067_200_000, 86_400_000 * 300),
    )
    .await;
    let reads = ReadSettings {
        query_budget: std::time::Duration::from_millis(0),
        query_page_limit: Some(1),
        ..ReadSettings::default()
    };
    let token = seed_tenant(&client, &tenant, TenantSettings::default(), None).await;
    let app = dynamo_app(client, reads);
    assert_eq!(
        get(&app, "name=Total_messages&from=2024-01-01&to=2024-12-31", &token).await,
        (503, r#"{"success":false,"error":"The range took too long to read; ask for a shorter range [error-timeout]","errorType":"error-timeout"}"#.into())
    );
}

#[tokio::test]
async fn a_malformed_stored_item_fails_the_request_instead_of_skipping_it() {
    let (log, _guard) = crate::support::logs::capture("info");
    let client = harness::ready().await.0;
    let tenant = harness::unique_tenant("malformed");
    put_conversations(&client, &tenant, &worked_example()).await;
    let mut bad = items::conversation_item(&tenant, &worked_example()[0]).unwrap();
    bad.insert(
        items::attr::PK.into(),
        aws_sdk_dynamodb::types::AttributeValue::S(format!("{tenant}#BAD")),
    );
    bad.insert(
        items::attr::AGENT.into(),
        aws_sdk_dynamodb::types::AttributeValue::N("7".into()),
    );
    client
        .put_item()
        .table_name(harness::table_names().conversations)
        .set_item(Some(bad))
        .send()
        .await
        .unwrap();
    let token = seed_tenant(&client, &tenant, TenantSettings::default(), None).await;
    let app = dynamo_app(client, plan(QueryPlan::Raw));
    assert_eq!(
        get(
            &app,
            "name=Total_conversations&from=2024-03-01&to=2024-03-01",
            &token
        )
        .await,
        (500, INTERNAL.into())
    );
    // The log names the item, so an operator can find and fix it.
    let cause = failure_cause(&log);
    assert!(
        cause.contains(&format!(
            "malformed item {tenant}#BAD: agent is not a string"
        )),
        "{cause}"
    );
}

const INTERNAL: &str =
    r#"{"success":false,"error":"Internal error [error-internal]","errorType":"error-internal"}"#;

/// The `cause` of the one "request failed" line in a captured log.
fn failure_cause(log: &crate::support::logs::Captured) -> String {
    let failures: Vec<_> = log
        .lines()
        .into_iter()
        .filter(|l| l["fields"]["message"] == "request failed")
        .collect();
    assert_eq!(failures.len(), 1, "{}", log.text());
    failures[0]["fields"]["cause"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_malformed_user_item_is_named_in_the_log_without_its_user_id() {
    let (log, _guard) = crate::support::logs::capture("trace");
    let client = harness::ready().await.0;
    let tenant = harness::unique_tenant("baduser");
    let token = seed_tenant(&client, &tenant, TenantSettings::default(), None).await;
    let mut user = items::user_item(
        &tenant,
        &User {
            id: "u-manager".into(),
            username: "manager".into(),
            roles: vec![],
            utc_offset: None,
            generation: None,
        },
    );
    user.insert(
        items::attr::ROLES.into(),
        aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
    );
    client
        .put_item()
        .table_name(harness::table_names().directory)
        .set_item(Some(user))
        .send()
        .await
        .unwrap();
    let app = dynamo_app(client, ReadSettings::default());
    assert_eq!(
        get(
            &app,
            "name=Total_messages&from=2024-03-01&to=2024-03-01",
            &token
        )
        .await,
        (500, INTERNAL.into())
    );
    let cause = failure_cause(&log);
    assert_eq!(
        cause,
        format!(
            "malformed item {}: roles is not a list",
            items::user_key_for_logs(&tenant, "u-manager")
        )
    );
    log.assert_absent(&["u-manager", &token, &hash_token(&token)]);
}

#[tokio::test]
async fn a_malformed_session_item_is_named_without_its_token_hash() {
    let (log, _guard) = crate::support::logs::capture("info");
    let client = harness::ready().await.0;
    let token = format!("tok-bad-session-{}", harness::unique_tenant("s"));
    let mut session = items::session_item(
        &hash_token(&token),
        &Session {
            tenant: "acme".into(),
            user_id: "u-manager".into(),
            issued_at_ms: NOW_MS,
            generation: None,
        },
        NOW_MS / 1000 + 86_400,
    );
    session.remove(items::attr::ISSUED_AT);
    client
        .put_item()
        .table_name(harness::table_names().sessions)
        .set_item(Some(session))
        .send()
        .await
        .unwrap();
    let app = dynamo_app(client, ReadSettings::default());
    assert_eq!(
        get(
            &app,
            "name=Total_messages&from=2024-03-01&to=2024-03-01",
            &token
        )
        .await,
        (500, INTERNAL.into())
    );
    assert_eq!(
        failure_cause(&log),
        "malformed item session: issuedAt is missing"
    );
    log.assert_absent(&[&token, &hash_token(&token), "u-manager"]);
}

#[tokio::test]
async fn a_malformed_rollup_item_fails_the_request_too() {
    let client = harness::ready().await.0;
    let tenant = harness::unique_tenant("badrollup");
    put_conversations(&client, &tenant, &worked_example()).await;
    rebuild_rollups(&client, &tenant, &worked_example()).await;
    let token = seed_tenant(&client, &tenant, TenantSettings::default(), None).await;
    let app = dynamo_app(client.clone(), plan(QueryPlan::Rollups));
    let query = "name=Total_conversations&from=2024-03-01&to=2024-03-01";
    assert_eq!(get(&app, query, &token).await.0, 200);
    client
        .update_item()
        .table_name(harness::table_names().rollups)
        .key(items::attr::PK, harness::s(&format!("{tenant}#ALL")))
        .key(
            items::attr::SK,
            harness::s("Total_conversations#2024-03-01"),
        )
        .update_expression("SET tallies = :bad")
        .expression_attribute_values(":bad", harness::s(r#"{"kim":[1]}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(
        get(&app, query, &token).await,
        (500, r#"{"success":false,"error":"Internal error [error-internal]","errorType":"error-internal"}"#.into())
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// The DynamoDB path (GSIs, month buckets, pages, concurrency) answers exactly what a plain
    /// in-memory pass over the same conversations answers.
    #[test]
    fn dynamodb_path_equals_in_memory_computation(
        seed in any::<u64>(),
        n in 0usize..60,
        from_day in 0i64..60,
        len in 0i64..90,
        dept in prop::option::of(0u8..4),
        zone_pick in 0usize..4,
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let client = harness::ready().await.0;
            let tenant = harness::unique_tenant("prop");
            let start = 1_704_067_200_000; // 2024-01-01
            let rooms = random_rooms(seed, n, start, 120 * 86_400_000);
            put_conversations(&client, &tenant, &rooms).await;
            let memory = MemoryStore::new();
            for c in &rooms {
                memory.put_conversation(&tenant, c.clone());
            }
            let zone = [
                ReportingZone::Utc,
                ReportingZone::Named("Asia/Kolkata".parse().unwrap()),
                ReportingZone::Named("Australia/Adelaide".parse().unwrap()),
                ReportingZone::Fixed(chrono::FixedOffset::west_opt(3 * 3600).unwrap()),
            ][zone_pick];
            let from = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(from_day);
            let range = UtcRange::from_days(ReportDate(from), ReportDate(from + chrono::Duration::days(len)), &zone);
            let store = DynamoStore::new(client, harness::table_names(), ReadSettings { query_page_limit: Some(4), query_plan: QueryPlan::Raw, ..ReadSettings::default() });
            for figure in Figure::ALL {
                let q = RangeQuery {
                    tenant: tenant.clone(),
                    figure,
                    range,
                    department_id: dept.map(|d| if d == 0 { String::new() } else { format!("D{d}") }),
                };
                let (dynamo, _) = store.fold(&q).await.unwrap();
                let (reference, _) = memory.fold(&q).await.unwrap();
                prop_assert_eq!(dynamo.into_rows(), reference.into_rows(), "{:?}", figure);
            }
            Ok(())
        })?;
    }
}
