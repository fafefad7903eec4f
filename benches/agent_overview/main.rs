//! Issue 5's benchmark, side by side in one run against one dynalite:
//! 1. end to end through `App::handle` for every figure × range × with/without `departmentId`,
//!    per plan (p50, p95, items read, queries);
//! 2. the baseline plan on the same requests (see `plans.rs`), and the ratio;
//! 3. handler-side CPU with no I/O (items/s on one core), and where the time goes;
//! 4. peak RSS of one request per range, each in a fresh process;
//! 5. the release binary's size and its cold start against a local Runtime API.
//!
//! `scripts/bench.sh` runs it (it starts dynalite and builds the release binary) and it writes
//! `bench/README.md`, `bench/results.json` and `bench/latency-vs-range.svg`. CI compiles it
//! (clippy --all-targets) and never runs it.

mod capacity;
mod capture;
mod chart;
mod cold;
mod cpu;
mod e2e;
mod http1;
mod load;
mod memory;
mod plans;
mod profiles;
// The integration tests' stand-in of Rocket.Chat's REST API, for the sync's first cycle.
#[allow(dead_code)]
#[path = "../../tests/it/support/rc_standin.rs"]
mod rc_standin;
mod report;
mod scale;
mod scale_report;
mod shape;
mod sync_first;

use std::path::PathBuf;
use std::time::Instant;

use agent_overview::config::TableNames;
use agent_overview::domain::figure::Figure;
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::plans::{Plan, Server};

#[derive(Parser)]
#[command(about = "agent-overview benchmark (run it with scripts/bench.sh)")]
struct Args {
    /// Timed runs per request and plan, after one warm-up (p95 of a few runs is their maximum).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Tenants to load, by number of conversations (spread over 365 days).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000, 100_000])]
    sizes: Vec<u32>,
    /// Ranges measured for every size, figure and department filter.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 30, 365])]
    ranges: Vec<u32>,
    /// Further ranges for the chart only (largest size, no departmentId).
    #[arg(long, value_delimiter = ',', default_values_t = [90, 730])]
    chart_ranges: Vec<u32>,
    /// Where README.md, results.json and latency-vs-range.svg are written.
    #[arg(long, default_value = "bench")]
    out: PathBuf,
    /// The release build of the function (host target): its size and cold start.
    #[arg(long)]
    lambda_binary: Option<PathBuf>,
    /// The arm64 build (`cargo lambda build --release --arm64`): its size.
    #[arg(long)]
    arm64_binary: Option<PathBuf>,
    /// Why there is no arm64 build, when there is none.
    #[arg(long)]
    arm64_note: Option<String>,
    /// Cold starts measured.
    #[arg(long, default_value_t = 5)]
    cold_starts: usize,
    /// Conversations in the generated pages of the CPU measurement.
    #[arg(long, default_value_t = 200_000)]
    cpu_items: u32,
    /// Measure nothing: render the report and chart again from a results.json of an earlier run.
    #[arg(long)]
    report_from: Option<PathBuf>,
    /// Profile mode: compare only these release builds of the function, NAME=PATH[=WHAT]
    /// (repeatable; the first is the base of the ratios) on size, INIT and CPU per request,
    /// over a tenant of the largest --sizes; `--runs` rounds. Writes profiles.md/.json.
    #[arg(long = "profile", value_parser = profiles::Candidate::parse)]
    profiles: Vec<profiles::Candidate>,
    /// Scale profile (issue 21): the --base-size tenant over 365 days re-measured, then a
    /// tenant of --scale-size conversations over --scale-days days loaded through the import,
    /// its rollups rebuilt, requests of --scale-ranges days. Writes scale-results.json, scale.md
    /// and README.md's scale section.
    #[arg(long)]
    scale: bool,
    #[arg(long, default_value_t = 1_000_000)]
    scale_size: u32,
    #[arg(long, default_value_t = 3650)]
    scale_days: u32,
    #[arg(long, default_value_t = 40)]
    scale_agents: u32,
    #[arg(long, default_value_t = 6)]
    scale_departments: u32,
    /// The default profile's tenant re-measured beside the scale tenant (0: none).
    #[arg(long, default_value_t = 100_000)]
    base_size: u32,
    #[arg(long, value_delimiter = ',', default_values_t = [1, 30, 365, 3650])]
    scale_ranges: Vec<u32>,
    /// The raw plan is measured for ranges up to this many days.
    #[arg(long, default_value_t = 365)]
    raw_max_days: u32,
    /// How the scale tenant is loaded: `import` (agent-overview-admin import of a generated
    /// export, a child process) or `direct` (BatchWriter).
    #[arg(long, default_value = "import")]
    scale_loader: String,
    /// Where the generated export is written (deleted after the import).
    #[arg(long, default_value = "target/bench-scale")]
    work_dir: PathBuf,
    /// The sync's first cycle against the Rocket.Chat stand-in: rooms (0: skipped), over the
    /// last --sync-days days.
    #[arg(long, default_value_t = 5_000)]
    sync_rooms: u32,
    #[arg(long, default_value_t = 30)]
    sync_days: u32,
    /// Measure nothing: render scale.md and README.md's scale section again from a
    /// scale-results.json of an earlier --scale run.
    #[arg(long)]
    scale_report_from: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    #[command(subcommand)]
    probe: Option<Probe>,
}

#[derive(Subcommand)]
enum Probe {
    /// Internal: one request in this fresh process, then its peak RSS (see memory.rs).
    #[command(hide = true)]
    MemoryProbe {
        #[arg(long)]
        plan: String,
        #[arg(long)]
        days: u32,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        figure: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub date: String,
    pub commit: String,
    pub rustc: String,
    pub dynalite: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Load {
    pub conversations: u32,
    pub seconds: f64,
    pub items_per_sec: f64,
    pub rollups_seconds: f64,
    pub rollup_items: u64,
    pub department: String,
    pub department_share: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColdReport {
    pub host_bytes: Option<u64>,
    pub arm64_bytes: Option<u64>,
    pub arm64_note: Option<String>,
    pub query: String,
    pub starts: Vec<cold::ColdStart>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub machine: Machine,
    pub runs: usize,
    pub sizes: Vec<u32>,
    pub ranges: Vec<u32>,
    pub chart_ranges: Vec<u32>,
    pub plans: Vec<String>,
    pub data: serde_json::Value,
    pub load: Vec<Load>,
    pub cells: Vec<e2e::Cell>,
    pub memory: Vec<memory::Probe>,
    pub cpu: cpu::Cpu,
    pub cold: Option<ColdReport>,
    pub total_seconds: f64,
}

/// The benchmark's client, metered (capacity.rs): every call asks for its consumed capacity.
pub async fn sdk_client() -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    // The product's capacity meter (dynamo::capacity: per request, in the handler's summary)
    // and the benchmark's own (capacity.rs: every call, its count, outside any request too).
    let config = agent_overview::dynamo::capacity::with_meter(
        aws_sdk_dynamodb::config::Builder::from(&config),
    )
    .interceptor(capacity::Meter)
    .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let dirty = !command_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let mut commit = command_line("git", &["rev-parse", "--short", "HEAD"]);
    if dirty {
        commit.push_str(" (with uncommitted changes)");
    }
    let dynalite = std::fs::read_to_string("infra/node_modules/dynalite/package.json")
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(String::from))
        .unwrap_or_else(|| "unknown".into());
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        commit,
        rustc: command_line("rustc", &["--version"]),
        dynalite,
    }
}

fn main() {
    let args = Args::parse();
    capture::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match args.probe {
        Some(Probe::MemoryProbe {
            plan,
            days,
            tenant,
            token,
            figure,
        }) => {
            let plan = Plan::parse(&plan).expect("a plan name");
            let figure = Figure::parse(&figure).expect("a figure name");
            let tenant = load::Tenant {
                id: tenant,
                conversations: 0,
                token,
                department: String::new(),
                department_share: 0.0,
                load_secs: 0.0,
                rollups_secs: 0.0,
                rollup_items: 0,
            };
            runtime.block_on(memory::probe_child(plan, days, tenant, figure));
        }
        None if !args.profiles.is_empty() => {
            let size = *args.sizes.iter().max().expect("a size");
            runtime.block_on(profiles::compare(
                &args.profiles,
                size,
                args.runs,
                &args.out,
            ));
        }
        None if args.scale_report_from.is_some() => {
            let path = args.scale_report_from.as_deref().expect("checked");
            let text = std::fs::read_to_string(path).expect("reading the scale results");
            let results: scale::ScaleResults =
                serde_json::from_str(&text).expect("a scale-results.json");
            scale_report::write(&args.out, &results).expect("writing the scale report");
            eprintln!("wrote {}", args.out.display());
        }
        None if args.scale => {
            let scale = scale::ScaleArgs {
                size: args.scale_size,
                days: args.scale_days,
                agents: args.scale_agents,
                departments: args.scale_departments,
                base_size: args.base_size,
                ranges: args.scale_ranges.clone(),
                raw_max_days: args.raw_max_days,
                runs: args.runs,
                loader: args.scale_loader.clone(),
                work_dir: args.work_dir.clone(),
                out: args.out.clone(),
                sync_rooms: args.sync_rooms,
                sync_days: args.sync_days,
            };
            runtime.block_on(async {
                let client = sdk_client().await;
                let tables = TableNames::from_env().expect("table names (source scripts/env.sh)");
                scale::run(&client, &tables, &scale, machine()).await;
            });
        }
        None if args.report_from.is_some() => {
            let path = args.report_from.as_deref().expect("checked");
            let text = std::fs::read_to_string(path).expect("reading the results");
            let results: Results = serde_json::from_str(&text).expect("a results.json");
            report::write(&args.out, &results).expect("writing the report");
            eprintln!("wrote {}", args.out.display());
        }
        None => {
            let results = runtime.block_on(bench(&args));
            report::write(&args.out, &results).expect("writing the report");
            eprintln!("wrote {}", args.out.display());
        }
    }
}

async fn bench(args: &Args) -> Results {
    let started = Instant::now();
    let machine = machine();
    let client = sdk_client().await;
    let tables = TableNames::from_env().expect("table names (source scripts/env.sh)");

    eprintln!("== tables and data");
    load::create_tables(&client, &tables).await;
    let mut tenants = Vec::new();
    let mut loads = Vec::new();
    for &size in &args.sizes {
        let tenant = load::load_tenant(&client, &tables, size).await;
        eprintln!(
            "  {:>5}: loaded in {:.1} s ({:.0} items/s), rollups rebuilt in {:.1} s",
            load::label(size),
            tenant.load_secs,
            f64::from(size) / tenant.load_secs,
            tenant.rollups_secs
        );
        loads.push(Load {
            conversations: size,
            seconds: tenant.load_secs,
            items_per_sec: f64::from(size) / tenant.load_secs,
            rollups_seconds: tenant.rollups_secs,
            rollup_items: tenant.rollup_items,
            department: tenant.department.clone(),
            department_share: tenant.department_share,
        });
        tenants.push(tenant);
    }

    let plans = vec![Plan::Baseline, Plan::Raw, Plan::Rollups];
    let servers: Vec<(Plan, Server)> = plans
        .iter()
        .map(|&p| (p, Server::new(p, &client, &tables)))
        .collect();
    let grid = e2e::Grid {
        servers: &servers,
        runs: args.runs,
    };
    eprintln!("== 1, 2: end to end, every plan");
    let mut cells = grid.run(&tenants, &args.ranges, &[false, true]).await;
    let largest = tenants
        .iter()
        .max_by_key(|t| t.conversations)
        .expect("at least one size");
    eprintln!("== chart ranges");
    cells.extend(
        grid.run(std::slice::from_ref(largest), &args.chart_ranges, &[false])
            .await,
    );

    eprintln!("== 4: peak RSS per request");
    let mut memory = Vec::new();
    let mut memory_ranges: Vec<u32> = args
        .ranges
        .iter()
        .chain(&args.chart_ranges)
        .copied()
        .collect();
    memory_ranges.sort_unstable();
    memory_ranges.dedup();
    for &plan in &plans {
        for &days in &memory_ranges {
            let p = memory::probe(plan, days, largest, Figure::AvgChatDuration);
            eprintln!(
                "  {:<8} {days:>3} days: peak {} kB (before the request {} kB)",
                plan.name(),
                p.after_kb,
                p.before_kb
            );
            memory.push(p);
        }
    }

    let cold = args.lambda_binary.as_ref().map(|binary| {
        eprintln!("== 5: cold start");
        let query = e2e::query_string(Figure::TotalConversations, 30, None);
        let event = cold::event(largest, &query);
        let starts: Vec<_> = (0..args.cold_starts)
            .map(|_| {
                let c = cold::cold_start(binary, &event);
                eprintln!(
                    "  ready {:.0} ms, first invocation {:.0} ms, warm {:.0} ms, connection in INIT: {}",
                    c.ready_ms, c.first_invocation_ms, c.warm_invocation_ms, c.connection_opened_in_init
                );
                c
            })
            .collect();
        ColdReport {
            host_bytes: cold::file_size(binary),
            arm64_bytes: args.arm64_binary.as_deref().and_then(cold::file_size),
            arm64_note: args.arm64_note.clone(),
            query,
            starts,
        }
    });

    eprintln!("== 3: handler-side CPU, no I/O ({} items)", args.cpu_items);
    let cpu = cpu::run(args.cpu_items);

    Results {
        machine,
        runs: args.runs,
        sizes: args.sizes.clone(),
        ranges: args.ranges.clone(),
        chart_ranges: args.chart_ranges.clone(),
        plans: plans.iter().map(|p| p.name().to_string()).collect(),
        data: serde_json::json!({
            "days": load::DATA_DAYS,
            "last_day": load::end_day().to_string(),
            "agents": load::AGENTS,
            "departments": load::DEPARTMENTS,
            "writers_in_flight": load::WRITERS_IN_FLIGHT,
        }),
        load: loads,
        cells,
        memory,
        cpu,
        cold,
        total_seconds: started.elapsed().as_secs_f64(),
    }
}
