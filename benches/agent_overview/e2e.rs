//! End to end through `App::handle` against dynalite: every figure × range × with and without
//! `departmentId`, every plan on the same request, runs interleaved across plans so that noise
//! from the shared machine falls on all of them alike.

use std::collections::BTreeMap;
use std::time::Instant;

use agent_overview::domain::figure::Figure;
use chrono::TimeDelta;
use lambda_http::http::Method;
use lambda_http::{Body, Request};
use serde::{Deserialize, Serialize};

use crate::load::{end_day, label, Tenant, USER_ID};
use crate::plans::{Plan, Server};
use crate::{capacity, capture};

/// One measured request under one plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub conversations: u32,
    pub figure: String,
    pub days: u32,
    pub department: bool,
    pub plan: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub runs_ms: Vec<f64>,
    /// Conversations read (the handler's log line: FoldStats).
    pub items_read: u64,
    /// Query pages requested (conversations and rollups); every request also makes 2
    /// identity reads.
    pub queries: u64,
    pub buckets: u64,
    /// Rollup items read (rollups plan), and the whole UTC days they answered.
    pub rollup_items_read: u64,
    pub rollup_days: u64,
    /// CPU time per request (median of the timed runs) of this process (the function's side:
    /// SDK, decode, fold, format) and of dynalite (DynamoDB's side): what the wall-clock time
    /// is made of, and a measure that waiting for a shared core does not inflate.
    pub client_cpu_ms: f64,
    pub dynalite_cpu_ms: Option<f64>,
    /// Read and write capacity units the request consumed: the handler's own measurement
    /// (its summary's `consumed_read_capacity`, dynamo::capacity), identity reads included.
    /// Absent in older runs.
    #[serde(default)]
    pub read_units: Option<f64>,
    /// The same request's read units as the benchmark's own meter (capacity.rs) counted them:
    /// a cross-check of the handler's.
    #[serde(default)]
    pub meter_read_units: Option<f64>,
    #[serde(default)]
    pub write_units: Option<f64>,
    /// DynamoDB calls the request made (identity reads included).
    #[serde(default)]
    pub dynamodb_calls: Option<u64>,
}

/// CPU time consumed so far by every thread of a process (`None`: this one), from
/// /proc/PID/task/*/schedstat (nanoseconds on CPU).
pub fn cpu_ns(pid: Option<u32>) -> Option<u64> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}/task"),
        None => "/proc/self/task".to_string(),
    };
    let mut total = 0;
    for task in std::fs::read_dir(dir).ok()?.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// dynalite's process id, when `scripts/bench.sh` passes it.
fn dynalite_pid() -> Option<u32> {
    std::env::var("BENCH_DYNALITE_PID").ok()?.parse().ok()
}

pub fn query_string(figure: Figure, days: u32, department: Option<&str>) -> String {
    let to = end_day();
    let from = to - TimeDelta::days(i64::from(days) - 1);
    let mut q = format!("name={}&from={from}&to={to}", figure.name());
    if let Some(d) = department {
        q.push_str("&departmentId=");
        q.push_str(d);
    }
    q
}

pub fn request(query: &str, tenant: &Tenant) -> Request {
    lambda_http::http::Request::builder()
        .method(Method::GET)
        .uri(format!(
            "https://bench.test/api/v1/livechat/analytics/agent-overview?{query}"
        ))
        .header("x-auth-token", &tenant.token)
        .header("x-user-id", USER_ID)
        .body(Body::Empty)
        .expect("a valid request")
}

fn body_text(body: &Body) -> String {
    match body {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

struct Run {
    ms: f64,
    client_cpu_ms: f64,
    dynalite_cpu_ms: Option<f64>,
    body: String,
    /// items_read, dynamodb_requests, buckets, rollup_items_read, rollup_days.
    stats: [u64; 5],
    units: capacity::Units,
    /// The handler's consumed read and write units (its request summary).
    handler_units: (Option<f64>, Option<f64>),
}

/// Handles `query` once under `server`: status 200 or the benchmark stops.
async fn once(server: &Server, tenant: &Tenant, query: &str) -> Run {
    let dynalite = dynalite_pid();
    let (client_before, dynalite_before) = (cpu_ns(None), dynalite.and_then(|p| cpu_ns(Some(p))));
    let units_before = capacity::now();
    let started = Instant::now();
    let res = server.handle(request(query, tenant)).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let units = capacity::now() - units_before;
    let (client_after, dynalite_after) = (cpu_ns(None), dynalite.and_then(|p| cpu_ns(Some(p))));
    let delta_ms = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?) as f64 / 1e6);
    let body = body_text(res.body());
    assert_eq!(res.status(), 200, "{query}: {body}");
    let stats = capture::take().expect("the handler logged its request line");
    let fractions = capture::take_f64().unwrap_or_default();
    let handler_units = (
        fractions.get("consumed_read_capacity").copied(),
        fractions.get("consumed_write_capacity").copied(),
    );
    let get = |k: &str| stats.get(k).copied().unwrap_or(0);
    Run {
        ms,
        client_cpu_ms: delta_ms(client_before, client_after).unwrap_or(f64::NAN),
        dynalite_cpu_ms: delta_ms(dynalite_before, dynalite_after),
        body,
        stats: [
            get("items_read"),
            get("dynamodb_requests"),
            get("buckets"),
            get("rollup_items_read"),
            get("rollup_days"),
        ],
        units,
        handler_units,
    }
}

/// Nearest-rank percentile of unsorted samples.
pub fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

pub struct Grid<'a> {
    pub servers: &'a [(Plan, Server)],
    pub runs: usize,
}

impl Grid<'_> {
    /// Every plan on one request: one warm-up each (whose answers must be byte-identical),
    /// then `runs` rounds of every plan in turn.
    pub async fn measure(
        &self,
        tenant: &Tenant,
        figure: Figure,
        days: u32,
        department: bool,
    ) -> Vec<Cell> {
        let dept = department.then_some(tenant.department.as_str());
        let query = query_string(figure, days, dept);
        let mut stats = BTreeMap::new();
        let mut units = BTreeMap::new();
        let mut reference: Option<String> = None;
        for (plan, server) in self.servers {
            let run = once(server, tenant, &query).await;
            match &reference {
                None => reference = Some(run.body),
                Some(r) => assert_eq!(
                    r,
                    &run.body,
                    "{} answers {query} differently from the first plan",
                    plan.name()
                ),
            }
            stats.insert(*plan, run.stats);
            units.insert(*plan, (run.units, run.handler_units));
        }
        let mut runs: BTreeMap<Plan, Vec<Run>> = BTreeMap::new();
        for _ in 0..self.runs {
            for (plan, server) in self.servers {
                let run = once(server, tenant, &query).await;
                runs.entry(*plan).or_default().push(run);
            }
        }
        self.servers
            .iter()
            .map(|(plan, _)| {
                let plan_runs = runs.remove(plan).unwrap_or_default();
                let runs_ms: Vec<f64> = plan_runs.iter().map(|r| r.ms).collect();
                let client: Vec<f64> = plan_runs.iter().map(|r| r.client_cpu_ms).collect();
                let dynalite: Option<Vec<f64>> =
                    plan_runs.iter().map(|r| r.dynalite_cpu_ms).collect();
                let [items_read, queries, buckets, rollup_items_read, rollup_days] = stats[plan];
                let (u, (handler_read, handler_write)) = units[plan];
                Cell {
                    conversations: tenant.conversations,
                    figure: figure.name().to_string(),
                    days,
                    department,
                    plan: plan.name().to_string(),
                    p50_ms: percentile(&runs_ms, 0.5),
                    p95_ms: percentile(&runs_ms, 0.95),
                    runs_ms,
                    items_read,
                    queries,
                    buckets,
                    rollup_items_read,
                    rollup_days,
                    client_cpu_ms: percentile(&client, 0.5),
                    dynalite_cpu_ms: dynalite.map(|d| percentile(&d, 0.5)),
                    read_units: handler_read.or(Some(u.read)),
                    meter_read_units: Some(u.read),
                    write_units: handler_write.or(Some(u.write)),
                    dynamodb_calls: Some(u.calls),
                }
            })
            .collect()
    }

    pub async fn run(&self, tenants: &[Tenant], ranges: &[u32], departments: &[bool]) -> Vec<Cell> {
        let mut cells = Vec::new();
        for tenant in tenants {
            for &days in ranges {
                for &department in departments {
                    let started = Instant::now();
                    for figure in Figure::ALL {
                        cells.extend(self.measure(tenant, figure, days, department).await);
                    }
                    eprintln!(
                        "  {:>5} conversations, {days:>3} days{}: {:.1} s",
                        label(tenant.conversations),
                        if department { ", departmentId" } else { "" },
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
        cells
    }
}
