//! The sync's first cycle of a workspace (issue 21, write path): the shaped conversations of
//! the scale profile's last days, as a Rocket.Chat export, served by the integration tests'
//! stand-in of Rocket.Chat's REST API (tests/it/rc_standin.rs, in this process); one full cycle
//! of a fresh tenant as the first scheduled one runs it (a full listing, no deadline, rollups
//! left to the stream), through the metered client. Reported: REST requests, DynamoDB calls
//! and capacity, wall time, and this process's RSS growth while it ran.
//!
//! The stand-in answers a room's messages by scanning every message of the workspace, so its
//! own CPU (same process) grows with rooms × messages: the wall time is an upper bound of the
//! sync's, and the workspace is kept to a size where that scan stays small.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_overview::admin::demo::DemoParams;
use agent_overview::config::TableNames;
use agent_overview::domain::identity::TenantId;
use agent_overview::sync::client::{AuthToken, RestClient, RetryPolicy};
use agent_overview::sync::cycle::{sync_tenant, SyncOptions};
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use crate::rc_standin::{StandIn, Workspace, TOKEN, USER_ID};
use crate::{capacity, shape};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncFirst {
    pub rooms: u32,
    pub days: u32,
    pub messages: u64,
    pub rest_requests: u64,
    pub rooms_added: u64,
    pub messages_read: u64,
    pub complete: bool,
    pub seconds: f64,
    pub dynamodb_calls: u64,
    pub read_units: f64,
    /// As dynalite reports them: base tables only (GSI writes come from item sizes).
    pub write_units: f64,
    pub rss_before_kb: u64,
    pub rss_peak_kb: u64,
    /// The next cycle, incremental, with nothing changed: a quiet tenant's fixed cost per
    /// scheduled cycle.
    #[serde(default)]
    pub quiet: Option<QuietCycle>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuietCycle {
    pub rest_requests: u64,
    pub dynamodb_calls: u64,
    pub read_units: f64,
    pub write_units: f64,
    pub seconds: f64,
    pub client_cpu_ms: f64,
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

pub async fn run(
    client: &Client,
    names: &TableNames,
    params: &DemoParams,
    work_dir: &std::path::Path,
) -> SyncFirst {
    let dir = work_dir.join("sync-export");
    crate::scale::write_export(&dir, shape::shaped_conversations(params));
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/small-export");
    for f in ["rocketchat_settings.json", "rocketchat_permissions.json"] {
        std::fs::copy(format!("{fixtures}/{f}"), dir.join(f)).expect("fixture settings");
    }
    let workspace = Workspace::from_export(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let messages = workspace.messages.len() as u64;
    let standin = StandIn::start(workspace).await;

    let tenant: TenantId = "bench-sync-first".parse().expect("a tenant id");
    let rc = RestClient::new(
        &standin.url,
        USER_ID,
        AuthToken::new(TOKEN).expect("a token"),
        RetryPolicy::default(),
        agent_overview::domain::clock::system_clock(),
    )
    .expect("a REST client");
    let options = SyncOptions {
        full: true,
        rebuild_rollups: false,
        ..SyncOptions::default()
    };
    let before = capacity::now();
    let rss_before = rss_kb();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let started = Instant::now();
    let summary = sync_tenant(
        client,
        names,
        &tenant,
        &rc,
        &options,
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .expect("the sync's first cycle");
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let used = capacity::now() - before;

    let before = capacity::now();
    let cpu_before = crate::e2e::cpu_ns(None).unwrap_or(0);
    let started = Instant::now();
    let quiet = sync_tenant(
        client,
        names,
        &tenant,
        &rc,
        &SyncOptions::default(),
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .expect("the sync's second cycle");
    let quiet_secs = started.elapsed().as_secs_f64();
    let cpu = crate::e2e::cpu_ns(None)
        .unwrap_or(0)
        .saturating_sub(cpu_before);
    let quiet_used = capacity::now() - before;
    let quiet = QuietCycle {
        // The client's counts run on across cycles.
        rest_requests: quiet.requests.saturating_sub(summary.requests),
        dynamodb_calls: quiet_used.calls,
        read_units: quiet_used.read,
        write_units: quiet_used.write,
        seconds: quiet_secs,
        client_cpu_ms: cpu as f64 / 1e6,
    };
    SyncFirst {
        rooms: params.conversations,
        days: params.days,
        messages,
        rest_requests: summary.requests,
        rooms_added: summary.rooms_added,
        messages_read: summary.messages_read,
        complete: summary.complete,
        seconds,
        dynamodb_calls: used.calls,
        read_units: used.read,
        write_units: used.write,
        rss_before_kb: rss_before,
        rss_peak_kb: peak.load(Ordering::Relaxed),
        quiet: Some(quiet),
    }
}
