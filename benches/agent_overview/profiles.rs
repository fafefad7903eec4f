//! Profile mode (`--profile NAME=PATH=WHAT`, run by `scripts/bench-profiles.sh`): release
//! builds of the function compared side by side on what a profile can change — the binary's
//! size, INIT (wall and CPU) and the function's own CPU per request — against one dynalite and
//! one tenant of the largest size. Rounds interleave the builds, so the machine's noise falls
//! on all of them alike. Writes `profiles.md` and `profiles.json` into `--out`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use agent_overview::config::TableNames;
use agent_overview::domain::figure::Figure;
use serde::{Deserialize, Serialize};

use crate::cold::{self, run_function};
use crate::e2e::{percentile, query_string};
use crate::load::{self, label};

/// Invocations per process on the request paths; the first (cold connection pool) is dropped.
const INVOCATIONS: u32 = 4;

#[derive(Clone)]
pub struct Candidate {
    pub name: String,
    pub path: PathBuf,
    pub what: String,
}

impl Candidate {
    /// `NAME=PATH=WHAT` (WHAT may be left out).
    pub fn parse(arg: &str) -> Result<Self, String> {
        let mut parts = arg.splitn(3, '=');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(name), Some(path), what) if !name.is_empty() && !path.is_empty() => Ok(Self {
                name: name.into(),
                path: path.into(),
                what: what.unwrap_or_default().into(),
            }),
            _ => Err(format!("expected NAME=PATH[=WHAT], got {arg:?}")),
        }
    }
}

/// One build's figures: medians over the rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub name: String,
    pub what: String,
    pub bytes: Option<u64>,
    pub ready_ms: f64,
    pub init_cpu_ms: f64,
    /// The raw plan over a year (every item decoded and folded by the function).
    pub raw_cpu_ms: f64,
    pub raw_ms: f64,
    /// The default plan over a year (rollups: few items, mostly the request's fixed cost).
    pub rollups_cpu_ms: f64,
    pub rollups_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub machine: crate::Machine,
    pub conversations: u32,
    pub rounds: usize,
    pub raw_query: String,
    pub rollups_query: String,
    pub cold_query: String,
    pub builds: Vec<Measured>,
}

#[derive(Default)]
struct Samples {
    ready: Vec<f64>,
    init_cpu: Vec<f64>,
    raw_cpu: Vec<f64>,
    raw: Vec<f64>,
    rollups_cpu: Vec<f64>,
    rollups: Vec<f64>,
}

pub async fn compare(candidates: &[Candidate], size: u32, rounds: usize, out: &Path) {
    let client = crate::sdk_client().await;
    let tables = TableNames::from_env().expect("table names (source scripts/env.sh)");
    load::create_tables(&client, &tables).await;
    let tenant = load::load_tenant(&client, &tables, size).await;
    eprintln!("== profiles: {} conversations loaded", label(size));

    let cold_query = query_string(Figure::TotalConversations, 30, None);
    let year = query_string(Figure::AvgChatDuration, 365, None);
    let (cold_event, year_event) = (
        cold::event(&tenant, &cold_query),
        cold::event(&tenant, &year),
    );
    let mut samples: Vec<Samples> = candidates.iter().map(|_| Samples::default()).collect();
    for round in 0..rounds {
        for (c, s) in candidates.iter().zip(&mut samples) {
            let start = cold::cold_start(&c.path, &cold_event);
            s.ready.push(start.ready_ms);
            s.init_cpu.push(start.init_cpu_ms);
            let raw = run_function(&c.path, &year_event, &[("QUERY_PLAN", "raw")], INVOCATIONS);
            for &(ms, cpu) in &raw.invocations[1..] {
                s.raw.push(ms);
                s.raw_cpu.push(cpu);
            }
            let rollups = run_function(&c.path, &year_event, &[], INVOCATIONS);
            for &(ms, cpu) in &rollups.invocations[1..] {
                s.rollups.push(ms);
                s.rollups_cpu.push(cpu);
            }
            eprintln!(
                "  round {}: {}: INIT {:.0} ms ({:.1} ms CPU), raw year {:.0} ms CPU",
                round + 1,
                c.name,
                start.ready_ms,
                start.init_cpu_ms,
                percentile(&s.raw_cpu, 0.5)
            );
        }
    }
    let builds = candidates
        .iter()
        .zip(&samples)
        .map(|(c, s)| Measured {
            name: c.name.clone(),
            what: c.what.clone(),
            bytes: cold::file_size(&c.path),
            ready_ms: percentile(&s.ready, 0.5),
            init_cpu_ms: percentile(&s.init_cpu, 0.5),
            raw_cpu_ms: percentile(&s.raw_cpu, 0.5),
            raw_ms: percentile(&s.raw, 0.5),
            rollups_cpu_ms: percentile(&s.rollups_cpu, 0.5),
            rollups_ms: percentile(&s.rollups, 0.5),
        })
        .collect();
    let comparison = Comparison {
        machine: crate::machine(),
        conversations: size,
        rounds,
        raw_query: year.clone(),
        rollups_query: year,
        cold_query,
        builds,
    };
    std::fs::create_dir_all(out).expect("the output dir");
    let json = serde_json::to_string_pretty(&comparison).expect("json");
    std::fs::write(out.join("profiles.json"), json).expect("writing profiles.json");
    std::fs::write(out.join("profiles.md"), report(&comparison)).expect("writing profiles.md");
    eprintln!("wrote {}/profiles.md", out.display());
}

fn report(c: &Comparison) -> String {
    let m = &c.machine;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Release profiles: size, INIT and CPU (issue 11)\n\n\
         Run {} at commit `{}`, `nproc` = {}, {}, {}, dynalite {}. Reproduce: \
         `./scripts/bench-profiles.sh` (candidates and their builds are listed there).\n\n\
         Each build, as deployed (`--no-default-features`, host x86_64, stripped), was started as \
         Lambda starts it against a local Runtime API, {} rounds interleaving the builds; medians. \
         **INIT**: process start to its first `next` (config, SDK client, the warm-up GetItem), \
         and the CPU time it spent. **CPU per request**: the function process's CPU time (every \
         thread, from /proc/PID/task/*/schedstat) per invocation of the same HTTP API event, the \
         first of {} invocations per process left out; dynalite's CPU is not in it. Raw: \
         `QUERY_PLAN=raw`, `{}` at {} conversations (every item of a year decoded by the SDK and \
         folded). Rollups: the default plan, the same request (365 rollup items). Ratios to the \
         first row; the machine is shared, so read ratios, not single numbers.\n",
        m.date,
        m.commit,
        m.nproc,
        m.cpu,
        m.rustc,
        m.dynalite,
        c.rounds,
        INVOCATIONS,
        c.raw_query,
        label(c.conversations),
    );
    let _ = writeln!(
        s,
        "| build | what | size | INIT | INIT CPU | raw CPU / request | raw latency | rollups CPU / request | rollups latency |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let Some(base) = c.builds.first() else {
        return s;
    };
    let ratio = |v: f64, b: f64| format!("{:.2}×", v / b);
    for b in &c.builds {
        let size = match (b.bytes, base.bytes) {
            (Some(x), Some(y)) => {
                format!("{:.1} MB ({})", x as f64 / 1e6, ratio(x as f64, y as f64))
            }
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} ms ({}) | {:.1} ms ({}) | {:.0} ms ({}) | {:.0} ms | {:.1} ms ({}) | {:.1} ms |",
            b.name,
            b.what,
            size,
            b.ready_ms,
            ratio(b.ready_ms, base.ready_ms),
            b.init_cpu_ms,
            ratio(b.init_cpu_ms, base.init_cpu_ms),
            b.raw_cpu_ms,
            ratio(b.raw_cpu_ms, base.raw_cpu_ms),
            b.raw_ms,
            b.rollups_cpu_ms,
            ratio(b.rollups_cpu_ms, base.rollups_cpu_ms),
            b.rollups_ms,
        );
    }
    s
}
