//! The scale profile (`scripts/bench.sh --scale`, issue 21): the default profile's 100k/1-year
//! tenant re-measured, then a tenant of 1,000,000 conversations over 3,650 days with a daily
//! shape (shape.rs) loaded through the product's own import (`agent-overview-admin import` of a
//! generated Rocket.Chat export, a child process whose RSS is sampled), its rollups rebuilt over
//! the 3,650 days (timed), and requests of 1/30/365/3,650 days, every figure, with and without
//! `departmentId`, on rollups (raw only up to `--raw-max-days`). Consumed capacity per request
//! comes from the metered client (capacity.rs). Writes `scale-results.json` and `scale.md`, and
//! the scale section of README.md (between markers, kept by the default profile's report).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_overview::admin::demo::DemoParams;
use agent_overview::config::TableNames;
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::identity::TenantId;
use agent_overview::dynamo::items::conversation_item;
use agent_overview::dynamo::writer::{BatchWriter, WriterOptions};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::e2e::{Cell, Grid};
use crate::load::{self, end_day, label, Tenant};
use crate::plans::{Plan, Server};
use crate::{capacity, shape, Machine};

#[derive(Debug, Clone)]
pub struct ScaleArgs {
    pub size: u32,
    pub days: u32,
    pub agents: u32,
    pub departments: u32,
    /// The default profile's tenant, re-measured in the same run (0: none).
    pub base_size: u32,
    pub ranges: Vec<u32>,
    pub raw_max_days: u32,
    pub runs: usize,
    /// `import` (the product's import, a child process) or `direct` (BatchWriter).
    pub loader: String,
    pub work_dir: PathBuf,
    pub out: PathBuf,
    /// The sync's first cycle: rooms of the last `sync_days` days (0 rooms: skipped).
    pub sync_rooms: u32,
    pub sync_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RssSample {
    pub secs: f64,
    pub rss_kb: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantLoad {
    pub tenant: String,
    pub conversations: u32,
    pub days: u32,
    pub loader: String,
    /// Generating the export files (import loader only).
    pub export_secs: f64,
    pub export_bytes: u64,
    /// The whole load: the import's validation, writes and its own rebuild of the span, or the
    /// direct BatchWriter's writes.
    pub load_secs: f64,
    pub items_per_sec: f64,
    pub peak_rss_kb: Option<u64>,
    pub rss: Vec<RssSample>,
    pub import_report: Option<String>,
    pub import_phases: Option<ImportPhases>,
    /// The rollups of every day of the data rebuilt: the import's last phase, or
    /// `rebuild_rollups` after the direct loader.
    pub rebuild_secs: f64,
    pub rebuild_days: u32,
    pub rebuild_items_written: u64,
    /// The last days rebuilt again through the metered client.
    pub metered_rebuild: Option<MeteredRebuild>,
    pub department: String,
    pub department_share: f64,
}

/// Days rebuilt again, metered, after the load.
const METERED_DAYS: i64 = 30;

/// A rebuild through the metered client: what it read and wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeteredRebuild {
    pub days: u64,
    pub secs: f64,
    pub conversations_read: u64,
    pub items_written: u64,
    pub read_units: f64,
    /// Base tables only, as dynalite counts them.
    pub write_units: f64,
    pub calls: u64,
}

/// Item sizes (DynamoDB's rule, dynamo::capacity::dynamo_item_size), for the cost model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemSizes {
    pub conversations_sampled: u32,
    pub conversation_bytes: f64,
    /// The byMonth index entry: its keys, the table's key and the projected attributes.
    pub by_month_bytes: f64,
    /// Share of conversations with a department (so in byDepartmentMonth), and their entry size.
    pub with_department_share: f64,
    pub by_department_month_bytes: f64,
    pub rollup_items_sampled: u32,
    pub rollup_bytes: f64,
    pub rollup_items_per_day: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleResults {
    pub machine: Machine,
    pub runs: usize,
    pub size: u32,
    pub days: u32,
    pub agents: u32,
    pub departments: u32,
    pub base_size: u32,
    pub ranges: Vec<u32>,
    pub raw_max_days: u32,
    pub loads: Vec<TenantLoad>,
    pub item_sizes: ItemSizes,
    pub cells: Vec<Cell>,
    /// dynalite's RSS after loading every tenant, and its peak (VmHWM) at the end.
    pub dynalite_rss_after_load_kb: Option<u64>,
    pub dynalite_peak_rss_kb: Option<u64>,
    pub sync_first: Option<crate::sync_first::SyncFirst>,
    /// The scale tenant's conversations in the last N days, for each range (the raw plan's
    /// items, where it was not measured).
    #[serde(default)]
    pub range_conversations: Vec<(u32, u64)>,
    pub total_seconds: f64,
}

fn dynalite_status_kb(field: &str) -> Option<u64> {
    let pid: u32 = std::env::var("BENCH_DYNALITE_PID").ok()?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn params(args: &ScaleArgs) -> DemoParams {
    DemoParams {
        conversations: args.size,
        days: args.days,
        agents: args.agents,
        departments: args.departments,
        seed: 4242,
        end: end_day(),
    }
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// A Rocket.Chat export (mongoexport JSON lines) of the conversations: livechat rooms with their
/// metrics, one message line per agent message, no users (the bench adds its manager itself).
pub fn write_export(dir: &Path, conversations: impl Iterator<Item = Conversation>) -> u64 {
    std::fs::create_dir_all(dir).expect("the export directory");
    let open = |name: &str| {
        BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(dir.join(name)).expect("an export file"),
        )
    };
    let mut rooms = open("rocketchat_room.json");
    let mut messages = open("rocketchat_message.json");
    open("users.json").flush().expect("users.json");
    for c in conversations {
        let mut room = serde_json::json!({
            "_id": c.room_id,
            "t": "l",
            "ts": {"$date": {"$numberLong": c.ts_ms.to_string()}},
        });
        if let Some(open) = c.open {
            room["open"] = open.into();
        }
        if let Some(d) = &c.department_id {
            room["departmentId"] = d.as_str().into();
        }
        if let Some(a) = &c.agent {
            room["servedBy"] = serde_json::json!({"_id": a, "username": a});
        }
        if let Some(r) = &c.responder {
            room["responseBy"] = serde_json::json!({"_id": r, "username": r});
        }
        let mut metrics = serde_json::Map::new();
        if let Some(v) = c.chat_duration {
            metrics.insert("chatDuration".into(), v.into());
        }
        let mut response = serde_json::Map::new();
        if let Some(v) = c.first_response {
            response.insert("ft".into(), v.into());
        }
        if let Some(v) = c.avg_response {
            response.insert("avg".into(), v.into());
        }
        if !response.is_empty() {
            metrics.insert("response".into(), response.into());
        }
        if let Some(v) = c.first_reaction {
            metrics.insert("reaction".into(), serde_json::json!({"ft": v}));
        }
        if !metrics.is_empty() {
            room["metrics"] = metrics.into();
        }
        serde_json::to_writer(&mut rooms, &room).expect("writing a room");
        rooms.write_all(b"\n").expect("writing a room");
        let agent = c.agent.as_deref().unwrap_or("bot");
        for i in 0..c.agent_messages {
            writeln!(
                messages,
                r#"{{"_id":"{}-{i}","rid":"{}","msg":"ok","ts":{{"$date":{{"$numberLong":"{}"}}}},"u":{{"_id":"{agent}","username":"{agent}"}}}}"#,
                c.room_id,
                c.room_id,
                c.ts_ms + i64::from(i) * 30_000
            )
            .expect("a message");
        }
    }
    rooms.flush().expect("rocketchat_room.json");
    messages.flush().expect("rocketchat_message.json");
    ["rocketchat_room.json", "rocketchat_message.json"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum()
}

/// When the import's phases began, seen from outside: its first conversation appearing in the
/// table (writing began) and the first day's rollup (its rebuild began).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportPhases {
    pub validate_secs: f64,
    pub write_secs: f64,
    pub rebuild_secs: f64,
    pub rebuild_days: u64,
    pub rebuild_items_written: u64,
}

async fn exists(client: &Client, table: &str, key: [(&str, String); 2]) -> bool {
    let mut get = client.get_item().table_name(table);
    for (k, v) in key {
        if !v.is_empty() {
            get = get.key(k, AttributeValue::S(v));
        }
    }
    get.send().await.is_ok_and(|o| o.item.is_some())
}

/// Runs `agent-overview-admin import` on `dir`, sampling its RSS every 250 ms and watching for
/// the start of its write and rebuild phases.
async fn run_import(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    dir: &Path,
    first: &Conversation,
) -> (f64, Vec<RssSample>, String, ImportPhases) {
    use agent_overview::domain::figure::Figure;
    use agent_overview::dynamo::items::{attr, conversation_pk, rollup_sk};
    let admin = env!("CARGO_BIN_EXE_agent-overview-admin");
    let first_key = [
        (attr::PK, conversation_pk(tenant, &first.room_id)),
        ("", String::new()),
    ];
    let day = chrono::DateTime::from_timestamp_millis(first.ts_ms)
        .expect("a date")
        .date_naive();
    let rollup_key = [
        (attr::PK, format!("{tenant}#ALL")),
        (attr::SK, rollup_sk(Figure::TotalConversations, day)),
    ];
    let started = Instant::now();
    let mut child = Command::new(admin)
        .args(["import", "--tenant", tenant, "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting agent-overview-admin import");
    let pid = child.id();
    let mut samples = Vec::new();
    let (mut writing, mut rebuilding) = (None, None);
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the import") {
            let out = child.wait_with_output().expect("the import's output");
            assert!(
                status.success(),
                "the import failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let secs = started.elapsed().as_secs_f64();
            let report = String::from_utf8_lossy(&out.stdout).to_string();
            let w = writing.unwrap_or(f64::NAN);
            let r = rebuilding.unwrap_or(f64::NAN);
            let numbers = report
                .lines()
                .find(|l| l.contains("days rebuilt"))
                .map(|l| {
                    l.split(|c: char| !c.is_ascii_digit())
                        .filter_map(|n| n.parse::<u64>().ok())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let phases = ImportPhases {
                validate_secs: w,
                write_secs: r - w,
                rebuild_secs: secs - r,
                rebuild_days: numbers.first().copied().unwrap_or(0),
                rebuild_items_written: numbers.get(1).copied().unwrap_or(0),
            };
            return (secs, samples, report, phases);
        }
        if let Some(kb) = rss_kb(pid) {
            samples.push(RssSample {
                secs: started.elapsed().as_secs_f64(),
                rss_kb: kb,
            });
        }
        if writing.is_none() && exists(client, &names.conversations, first_key.clone()).await {
            writing = Some(started.elapsed().as_secs_f64());
        }
        if writing.is_some()
            && rebuilding.is_none()
            && exists(client, &names.rollups, rollup_key.clone()).await
        {
            rebuilding = Some(started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Loads the scale tenant, rebuilds its rollups (timed), adds its manager.
async fn load_big(client: &Client, names: &TableNames, args: &ScaleArgs) -> (Tenant, TenantLoad) {
    let id = format!("bench-scale-{}", label(args.size));
    let tenant: TenantId = id.parse().expect("a valid tenant id");
    let p = params(args);
    let mut export_secs = 0.0;
    let mut export_bytes = 0;
    let mut phases = None;
    let (load_secs, rss, import_report) = if args.loader == "import" {
        let dir = args.work_dir.join(format!("export-{}", label(args.size)));
        let started = Instant::now();
        export_bytes = write_export(&dir, shape::shaped_conversations(&p));
        export_secs = started.elapsed().as_secs_f64();
        eprintln!(
            "  export of {} written in {export_secs:.1} s ({:.0} MB)",
            label(args.size),
            export_bytes as f64 / 1e6
        );
        let first = shape::shaped_conversations(&p)
            .next()
            .expect("a conversation");
        let (secs, rss, report, ph) = run_import(client, names, &id, &dir, &first).await;
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!(
            "  import phases: validation {:.1} s, writes {:.1} s, rollups of {} days {:.1} s",
            ph.validate_secs, ph.write_secs, ph.rebuild_days, ph.rebuild_secs
        );
        phases = Some(ph);
        (secs, rss, Some(report))
    } else {
        let started = Instant::now();
        let writer = WriterOptions {
            max_in_flight: load::WRITERS_IN_FLIGHT,
            ..WriterOptions::default()
        };
        let mut out = BatchWriter::new(
            client.clone(),
            &names.conversations,
            &[agent_overview::dynamo::items::attr::PK],
            writer,
        );
        for c in shape::shaped_conversations(&p) {
            let item = conversation_item(&id, &c).expect("a storable conversation");
            out.put(item).await.expect("writing the conversations");
        }
        out.finish().await.expect("writing the conversations");
        (started.elapsed().as_secs_f64(), Vec::new(), None)
    };
    eprintln!(
        "  {} loaded ({}) in {load_secs:.1} s ({:.0} items/s)",
        label(args.size),
        args.loader,
        f64::from(args.size) / load_secs
    );

    // The rebuild of every day: timed here for the direct loader; the import rebuilt them
    // itself (its last phase). Then, metered, the last `METERED_DAYS` days again: the capacity
    // a day's rebuild consumes at the tenant's current volume (the cost model's input).
    let first_day = end_day() - TimeDelta::days(i64::from(args.days) - 1);
    let (rebuild_secs, rebuild_days, rebuild_items) = match &phases {
        Some(ph) => (ph.rebuild_secs, ph.rebuild_days, ph.rebuild_items_written),
        None => {
            let (rebuilt, secs) = load::rebuild_days(client, names, &tenant, first_day).await;
            (secs, rebuilt.summary.days, rebuilt.summary.items_written)
        }
    };
    eprintln!("  rollups of {rebuild_days} days rebuilt in {rebuild_secs:.1} s");
    let metered_first = end_day() - TimeDelta::days(METERED_DAYS - 1);
    let before = capacity::now();
    let (metered, metered_secs) = load::rebuild_days(client, names, &tenant, metered_first).await;
    let used = capacity::now() - before;
    let (department, in_department) = load::busiest_department(shape::shaped_conversations(&p));
    let token = load::add_manager(client, names, &tenant).await;
    let peak_rss_kb = rss.iter().map(|s| s.rss_kb).max();
    let load = TenantLoad {
        tenant: id.clone(),
        conversations: args.size,
        days: args.days,
        loader: args.loader.clone(),
        export_secs,
        export_bytes,
        load_secs,
        items_per_sec: f64::from(args.size) / load_secs,
        peak_rss_kb,
        rss,
        import_report,
        import_phases: phases,
        rebuild_secs,
        rebuild_days: rebuild_days as u32,
        rebuild_items_written: rebuild_items,
        metered_rebuild: Some(MeteredRebuild {
            days: metered.summary.days,
            secs: metered_secs,
            conversations_read: metered.summary.conversations_read,
            items_written: metered.summary.items_written,
            read_units: used.read,
            write_units: used.write,
            calls: used.calls,
        }),
        department: department.clone(),
        department_share: f64::from(in_department) / f64::from(args.size),
    };
    let tenant = Tenant {
        id,
        conversations: args.size,
        token,
        department,
        department_share: load.department_share,
        load_secs,
        rollups_secs: rebuild_secs,
        rollup_items: rebuild_items,
    };
    (tenant, load)
}

fn base_load(t: &Tenant) -> TenantLoad {
    TenantLoad {
        tenant: t.id.clone(),
        conversations: t.conversations,
        days: load::DATA_DAYS,
        loader: "direct".into(),
        export_secs: 0.0,
        export_bytes: 0,
        load_secs: t.load_secs,
        items_per_sec: f64::from(t.conversations) / t.load_secs,
        peak_rss_kb: None,
        rss: Vec::new(),
        import_report: None,
        import_phases: None,
        rebuild_secs: t.rollups_secs,
        rebuild_days: load::DATA_DAYS,
        rebuild_items_written: t.rollup_items,
        metered_rebuild: None,
        department: t.department.clone(),
        department_share: t.department_share,
    }
}

/// Item sizes of the tenant's conversations (first 20,000 generated) and of its rollups.
async fn item_sizes(
    client: &Client,
    names: &TableNames,
    args: &ScaleArgs,
    tenant: &str,
) -> ItemSizes {
    use agent_overview::dynamo::items::attr;
    let projected = [
        "agent",
        "responder",
        "chatDuration",
        "firstResponse",
        "avgResponse",
        "firstReaction",
        "agentMessages",
        "departmentId",
    ];
    let (mut n, mut base, mut month, mut dept, mut with_dept) = (0u32, 0f64, 0f64, 0f64, 0u32);
    for c in shape::shaped_conversations(&params(args)).take(20_000) {
        let item = conversation_item(tenant, &c).expect("a storable conversation");
        n += 1;
        base += agent_overview::dynamo::capacity::dynamo_item_size(&item) as f64;
        let entry = |key: &str| {
            let keep = |k: &String| {
                k == key || k == attr::PK || k == attr::TS || projected.contains(&k.as_str())
            };
            let projected: std::collections::HashMap<String, AttributeValue> = item
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            agent_overview::dynamo::capacity::dynamo_item_size(&projected) as f64
        };
        month += entry(attr::MONTH);
        if item.contains_key(attr::DEPT_MONTH) {
            with_dept += 1;
            dept += entry(attr::DEPT_MONTH);
        }
    }
    // Rollups: every item of the tenant's ALL partition over the last 30 days.
    let mut rollup_bytes = 0f64;
    let mut rollups = 0u32;
    let mut pages = client
        .query()
        .table_name(&names.rollups)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("{tenant}#ALL")))
        .scan_index_forward(false)
        .limit(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("reading rollups");
        for item in page.items() {
            rollups += 1;
            rollup_bytes += agent_overview::dynamo::capacity::dynamo_item_size(item) as f64;
        }
        if rollups >= 2000 {
            break;
        }
    }
    ItemSizes {
        conversations_sampled: n,
        conversation_bytes: base / f64::from(n),
        by_month_bytes: month / f64::from(n),
        with_department_share: f64::from(with_dept) / f64::from(n),
        by_department_month_bytes: dept / f64::from(with_dept.max(1)),
        rollup_items_sampled: rollups,
        rollup_bytes: rollup_bytes / f64::from(rollups.max(1)),
        rollup_items_per_day: 0.0,
    }
}

pub async fn run(client: &Client, names: &TableNames, args: &ScaleArgs, machine: Machine) {
    let started = Instant::now();
    eprintln!("== scale: tables and data");
    load::create_tables(client, names).await;
    let mut tenants = Vec::new();
    let mut loads = Vec::new();
    if args.base_size > 0 {
        let t = load::load_tenant(client, names, args.base_size).await;
        eprintln!(
            "  {}/1y: loaded in {:.1} s ({:.0} items/s), rollups rebuilt in {:.1} s",
            label(t.conversations),
            t.load_secs,
            f64::from(t.conversations) / t.load_secs,
            t.rollups_secs
        );
        loads.push(base_load(&t));
        tenants.push((t, load::DATA_DAYS));
    }
    let (big, big_load) = load_big(client, names, args).await;
    let mut sizes = item_sizes(client, names, args, &big.id).await;
    sizes.rollup_items_per_day = big_load.rebuild_items_written as f64 / f64::from(args.days);
    loads.push(big_load);
    tenants.push((big, args.days));

    let dynalite_rss_after_load_kb = dynalite_status_kb("VmRSS:");
    eprintln!("== scale: requests");
    let servers: Vec<(Plan, Server)> = [Plan::Raw, Plan::Rollups]
        .iter()
        .map(|&p| (p, Server::new(p, client, names)))
        .collect();
    let mut cells = Vec::new();
    for (tenant, data_days) in &tenants {
        for &days in args.ranges.iter().filter(|&&d| d <= *data_days) {
            let with_raw = days <= args.raw_max_days;
            let grid = Grid {
                servers: if with_raw { &servers } else { &servers[1..] },
                runs: args.runs,
            };
            cells.extend(
                grid.run(std::slice::from_ref(tenant), &[days], &[false, true])
                    .await,
            );
        }
    }
    let sync_first = if args.sync_rooms > 0 {
        eprintln!(
            "== scale: the sync's first cycle, {} rooms",
            args.sync_rooms
        );
        let p = DemoParams {
            conversations: args.sync_rooms,
            days: args.sync_days,
            seed: 777,
            ..params(args)
        };
        let s = crate::sync_first::run(client, names, &p, &args.work_dir).await;
        eprintln!(
            "  {} REST requests, {} DynamoDB calls, {:.1} s",
            s.rest_requests, s.dynamodb_calls, s.seconds
        );
        Some(s)
    } else {
        None
    };
    let results = ScaleResults {
        machine,
        runs: args.runs,
        size: args.size,
        days: args.days,
        agents: args.agents,
        departments: args.departments,
        base_size: args.base_size,
        ranges: args.ranges.clone(),
        raw_max_days: args.raw_max_days,
        loads,
        item_sizes: sizes,
        cells,
        dynalite_rss_after_load_kb,
        dynalite_peak_rss_kb: dynalite_status_kb("VmHWM:"),
        sync_first,
        range_conversations: {
            let counts = shape::daily_counts(args.size, args.days, end_day());
            args.ranges
                .iter()
                .map(|&d| {
                    let last = counts.iter().rev().take(d as usize);
                    (d, last.map(|&c| u64::from(c)).sum())
                })
                .collect()
        },
        total_seconds: started.elapsed().as_secs_f64(),
    };
    crate::scale_report::write(&args.out, &results).expect("writing the scale report");
    eprintln!(
        "wrote {}/scale-results.json and scale.md",
        args.out.display()
    );
}
