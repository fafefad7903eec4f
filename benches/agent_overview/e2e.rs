//! End to end through `App::handle` against dynalite: every figure × range × with and without
//! `departmentId`, every plan on the same request, runs interleaved across plans so that noise
//! from the shared machine falls on all of them alike.

use std::collections::BTreeMap;
use std::time::Instant;

use agent_overview::domain::figure::Figure;
use chrono::TimeDelta;
use lambda_http::http::Method;
use lambda_http::{Body, Request};
use serde::Serialize;

use crate::capture;
use crate::load::{end_day, label, Tenant, USER_ID};
use crate::plans::{Plan, Server};

/// One measured request under one plan.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub conversations: u32,
    pub figure: &'static str,
    pub days: u32,
    pub department: bool,
    pub plan: &'static str,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub runs_ms: Vec<f64>,
    /// Conversations read (the handler's log line: FoldStats).
    pub items_read: u64,
    /// Query pages requested; every request also makes 2 identity reads.
    pub queries: u64,
    pub buckets: u64,
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

/// Handles `query` once under `server`: status 200 or the benchmark stops; the body and the
/// request's FoldStats.
async fn once(server: &Server, tenant: &Tenant, query: &str) -> (f64, String, [u64; 3]) {
    let started = Instant::now();
    let res = server.handle(request(query, tenant)).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let body = body_text(res.body());
    assert_eq!(res.status(), 200, "{query}: {body}");
    let stats = capture::take().expect("the handler logged its request line");
    let get = |k: &str| stats.get(k).copied().unwrap_or(0);
    (
        ms,
        body,
        [get("items_read"), get("dynamodb_requests"), get("buckets")],
    )
}

/// Nearest-rank percentile of unsorted samples.
pub fn percentile(samples: &[f64], q: f64) -> f64 {
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
        let mut reference: Option<String> = None;
        for (plan, server) in self.servers {
            let (_, body, s) = once(server, tenant, &query).await;
            match &reference {
                None => reference = Some(body),
                Some(r) => assert_eq!(
                    r,
                    &body,
                    "{} answers {query} differently from the first plan",
                    plan.name()
                ),
            }
            stats.insert(*plan, s);
        }
        let mut times: BTreeMap<Plan, Vec<f64>> = BTreeMap::new();
        for _ in 0..self.runs {
            for (plan, server) in self.servers {
                let (ms, _, _) = once(server, tenant, &query).await;
                times.entry(*plan).or_default().push(ms);
            }
        }
        self.servers
            .iter()
            .map(|(plan, _)| {
                let runs_ms = times.remove(plan).unwrap_or_default();
                let [items_read, queries, buckets] = stats[plan];
                Cell {
                    conversations: tenant.conversations,
                    figure: figure.name(),
                    days,
                    department,
                    plan: plan.name(),
                    p50_ms: percentile(&runs_ms, 0.5),
                    p95_ms: percentile(&runs_ms, 0.95),
                    runs_ms,
                    items_read,
                    queries,
                    buckets,
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
