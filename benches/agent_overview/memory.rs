//! Peak memory of one request: each probe is a fresh child process (this benchmark re-run as
//! `memory-probe`) that builds the function's client and App, reads `VmHWM` (peak resident set)
//! from /proc/self/status, answers one request, and reads it again.

use std::process::Command;

use agent_overview::config::TableNames;
use agent_overview::domain::figure::Figure;
use serde::{Deserialize, Serialize};

use crate::e2e::{query_string, request};
use crate::load::Tenant;
use crate::plans::{Plan, Server};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    pub plan: String,
    pub days: u32,
    /// Peak RSS once the client and App exist, before the request (kB).
    pub before_kb: u64,
    /// Peak RSS after the request (kB).
    pub after_kb: u64,
    pub items_read: u64,
    pub rollup_items_read: u64,
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a VmHWM line")
}

/// The child's side: one request, then its probe as one JSON line on stdout.
pub async fn probe_child(plan: Plan, days: u32, tenant: Tenant, figure: Figure) {
    let client = crate::sdk_client().await;
    let tables = TableNames::from_env().expect("table names");
    let server = Server::new(plan, &client, &tables);
    let before_kb = status_kb("VmHWM:");
    let query = query_string(figure, days, None);
    let res = server.handle(request(&query, &tenant)).await;
    assert_eq!(res.status(), 200);
    let after_kb = status_kb("VmHWM:");
    let stats = crate::capture::take().unwrap_or_default();
    let get = |k: &str| stats.get(k).copied().unwrap_or(0);
    let probe = Probe {
        plan: plan.name().into(),
        days,
        before_kb,
        after_kb,
        items_read: get("items_read"),
        rollup_items_read: get("rollup_items_read"),
    };
    println!("{}", serde_json::to_string(&probe).expect("json"));
}

/// The parent's side: one child per plan and range.
pub fn probe(plan: Plan, days: u32, tenant: &Tenant, figure: Figure) -> Probe {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let out = Command::new(exe)
        .args([
            "memory-probe",
            "--plan",
            plan.name(),
            "--days",
            &days.to_string(),
            "--tenant",
            &tenant.id,
            "--token",
            &tenant.token,
            "--figure",
            figure.name(),
        ])
        .output()
        .expect("running the memory probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "memory probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().expect("the probe's line");
    serde_json::from_str(line).expect("the probe's JSON")
}
