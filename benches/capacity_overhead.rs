//! Does asking for consumed capacity slow the request path? Side by side in one run against one
//! dynalite: the same requests through `App::handle`, alternating between a store whose client
//! has the capacity interceptor (`dynamo::client`, as deployed) and one whose client has
//! none (`Client::new`: nothing asked for, nothing counted). Prints the medians and their ratio;
//! the figures are kept in `bench/capacity-overhead.md`. Not a test: nothing is asserted on time.
//!
//!   source scripts/lib.sh && start_dynalite && source scripts/env.sh
//!   cargo bench --bench capacity_overhead -- [ROUNDS] [CONVERSATIONS]

use std::sync::Arc;
use std::time::Instant;

use agent_overview::admin::demo::{demo_conversations, DemoParams};
use agent_overview::admin::rebuild_rollups::rebuild_rollups;
use agent_overview::admin::session::mint_session;
use agent_overview::admin::tables::create_tables_from_template;
use agent_overview::config::{QueryPlan, ReadSettings, TableNames};
use agent_overview::domain::identity::{TenantId, User};
use agent_overview::dynamo::client;
use agent_overview::dynamo::identity_writes::put_user;
use agent_overview::dynamo::items::{attr, conversation_item};
use agent_overview::dynamo::writer::{BatchWriter, WriterOptions};
use agent_overview::http::App;
use agent_overview::store::dynamo::DynamoStore;
use chrono::NaiveDate;
use lambda_http::http::Method;
use lambda_http::{Body, Request};

const TEMPLATE: &str = include_str!("../template.yaml");
const USER_ID: &str = "overhead-manager";

fn request(query: &str, token: &str) -> Request {
    lambda_http::http::Request::builder()
        .method(Method::GET)
        .uri(format!(
            "https://bench.test/api/v1/livechat/analytics/agent-overview?{query}"
        ))
        .header("x-auth-token", token)
        .header("x-user-id", USER_ID)
        .body(Body::Empty)
        .expect("a valid request")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// CPU time of this process (every thread: the runtime's workers and the SDK's connections),
/// in nanoseconds, from the kernel's per-thread schedstat. dynalite runs in another process, so
/// this is the function's own CPU, apart from the local DynamoDB's.
fn own_cpu_ns() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
                .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// One request's wall time and the process's CPU time during it, in milliseconds.
async fn time(app: &App<DynamoStore>, query: &str, token: &str) -> (f64, f64) {
    let req = request(query, token);
    let (started, cpu) = (Instant::now(), own_cpu_ns());
    let res = app.handle(req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let cpu_ms = own_cpu_ns().saturating_sub(cpu) as f64 / 1e6;
    assert_eq!(res.status(), 200);
    (ms, cpu_ms)
}

fn app(client: aws_sdk_dynamodb::Client, names: &TableNames, plan: QueryPlan) -> App<DynamoStore> {
    let reads = ReadSettings {
        query_plan: plan,
        ..ReadSettings::default()
    };
    App {
        store: DynamoStore::new(client, names.clone(), reads.clone()),
        reads,
        clock: Arc::new(|| chrono::Utc::now().timestamp_millis()),
        sign_in: None,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let conversations: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let names = TableNames::from_env().expect("table names (source scripts/env.sh)");
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let metered = client(&sdk);
    let plain = aws_sdk_dynamodb::Client::new(&sdk);
    let _ = create_tables_from_template(&metered, TEMPLATE, &names).await;

    let id = format!("overhead-{conversations}");
    let tenant: TenantId = id.parse().expect("a tenant id");
    let end = NaiveDate::from_ymd_opt(2025, 6, 30).expect("a date");
    let params = DemoParams {
        conversations,
        days: 365,
        agents: 20,
        departments: 4,
        seed: 7,
        end,
    };
    let options = WriterOptions {
        max_in_flight: 16,
        ..WriterOptions::default()
    };
    let mut out = BatchWriter::new(metered.clone(), &names.conversations, &[attr::PK], options);
    for c in demo_conversations(&params) {
        out.put(conversation_item(&id, &c).expect("a conversation"))
            .await
            .expect("writing");
    }
    out.finish().await.expect("writing");
    let first = end - chrono::TimeDelta::days(364);
    rebuild_rollups(
        &metered,
        &names,
        &tenant,
        Some((first, end)),
        end,
        agent_overview::domain::clock::system_clock(),
    )
    .await
    .expect("rollups");
    let user = User {
        id: USER_ID.into(),
        username: "overhead".into(),
        roles: vec!["livechat-manager".into()],
        utc_offset: None,
        generation: None,
    };
    put_user(&metered, &names.directory, &id, &user)
        .await
        .expect("the manager");
    let token = format!("overhead-token-{id}");
    mint_session(
        &metered,
        &names,
        &tenant,
        USER_ID,
        Some(token.clone()),
        chrono::Utc::now(),
    )
    .await
    .expect("a session");

    let cases = [
        (
            QueryPlan::Raw,
            "raw, 1 day",
            "name=Total_conversations&from=2025-06-30&to=2025-06-30",
        ),
        (
            QueryPlan::Rollups,
            "rollups, 30 days",
            "name=Avg_first_response_time&from=2025-06-01&to=2025-06-30",
        ),
        (
            QueryPlan::Rollups,
            "rollups, 365 days",
            "name=Total_conversations&from=2024-07-01&to=2025-06-30",
        ),
    ];
    println!("{conversations} conversations over 365 days, {rounds} alternating rounds per case");
    println!("| request | wall without (ms) | wall with (ms) | with / without | paired ratios | own CPU without (ms) | own CPU with (ms) | with / without |");
    println!("|---|---|---|---|---|---|---|---|");
    for (plan, label, query) in cases {
        let with = app(metered.clone(), &names, plan);
        let without = app(plain.clone(), &names, plan);
        // Warm both clients' connections.
        for _ in 0..5 {
            time(&with, query, &token).await;
            time(&without, query, &token).await;
        }
        let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut cpu_a, mut cpu_b) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which goes first, so neither always follows the other.
            let (x, y) = if round % 2 == 0 {
                let x = time(&without, query, &token).await;
                (x, time(&with, query, &token).await)
            } else {
                let y = time(&with, query, &token).await;
                (time(&without, query, &token).await, y)
            };
            a.push(x.0);
            b.push(y.0);
            cpu_a.push(x.1);
            cpu_b.push(y.1);
            ratios.push(y.0 / x.0);
        }
        let (ma, mb) = (median(&mut a), median(&mut b));
        let (ca, cb) = (median(&mut cpu_a), median(&mut cpu_b));
        println!(
            "| {label} | {ma:.2} | {mb:.2} | {:.3} | {:.3} | {ca:.3} | {cb:.3} | {:.3} |",
            mb / ma,
            median(&mut ratios),
            cb / ca
        );
    }
}
