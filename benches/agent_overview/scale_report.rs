//! The scale profile's report: `scale-results.json` (everything measured, the cost model's
//! input), `scale.md` (the tables) and the scale section of `README.md`, between
//! [`BEGIN`] and [`END`], which the default profile's report keeps when it rewrites the file.

use std::fmt::Write as _;
use std::path::Path;

use crate::e2e::Cell;
use crate::load::label;
use crate::scale::ScaleResults;

pub const BEGIN: &str = "<!-- scale:begin (scripts/bench.sh --scale writes this section) -->";
pub const END: &str = "<!-- scale:end -->";

fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn cells<'a>(r: &'a ScaleResults, size: u32, days: u32, dept: bool, plan: &str) -> Vec<&'a Cell> {
    r.cells
        .iter()
        .filter(|c| c.conversations == size && c.days == days && c.department == dept)
        .filter(|c| c.plan == plan)
        .collect()
}

fn med(cs: &[&Cell], f: impl Fn(&Cell) -> f64) -> f64 {
    median(&cs.iter().map(|c| f(c)).collect::<Vec<_>>())
}

fn items(c: &Cell) -> f64 {
    (c.items_read + c.rollup_items_read) as f64
}

fn rcu(c: &Cell) -> f64 {
    c.read_units.unwrap_or(f64::NAN)
}

fn profile(r: &ScaleResults, size: u32) -> String {
    let days = r
        .loads
        .iter()
        .find(|l| l.conversations == size)
        .map_or(0, |l| l.days);
    format!("{}/{}", label(size), years(days))
}

fn years(days: u32) -> String {
    if days.is_multiple_of(365) {
        format!("{} y", days / 365)
    } else {
        format!("{days} d")
    }
}

pub fn write(out: &Path, r: &ScaleResults) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("scale-results.json"),
        serde_json::to_string_pretty(r)? + "\n",
    )?;
    let md = markdown(r);
    std::fs::write(out.join("scale.md"), format!("# Scale run\n\n{md}"))?;
    let readme = out.join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap_or_default();
    std::fs::write(&readme, splice(&text, &section(r)))?;
    Ok(())
}

/// `text` with its scale section replaced by `section` (or `section` appended).
pub fn splice(text: &str, section: &str) -> String {
    let block = format!("{BEGIN}\n{section}{END}\n");
    match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!(
                "{}{block}{}",
                &text[..b],
                &text[e + END.len()..].trim_start_matches('\n')
            )
        }
        _ => format!("{}\n{block}", text.trim_end()),
    }
}

/// The scale section of an existing README (to keep it), markers included.
pub fn existing_section(text: &str) -> Option<String> {
    let b = text.find(BEGIN)?;
    let e = text.find(END)?;
    (b < e).then(|| format!("{}\n", &text[b..e + END.len()]))
}

fn section(r: &ScaleResults) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Scale: {} over {} days\n", profile(r, r.size), r.days);
    let _ = writeln!(
        s,
        "From `./scripts/bench.sh --scale --runs {} --scale-size {} --raw-max-days {}{}` ({}, \
         commit `{}`, {} cores, {}; the run took {:.0} s, with other engineers' builds sharing \
         the cores). The tables: [scale.md](scale.md); the cost model built on them: \
         [cost.md](cost.md).\n",
        r.runs,
        r.size,
        r.raw_max_days,
        r.sync_first
            .as_ref()
            .map_or(String::new(), |f| format!(" --sync-rooms {}", f.rooms)),
        r.machine.date,
        r.machine.commit,
        r.machine.nproc,
        r.machine.cpu,
        r.total_seconds
    );
    let _ = writeln!(s, "{}", headline(r));
    s
}

fn headline(r: &ScaleResults) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Rollups plan, medians over the seven figures (p95: median of the figures' p95); items = \
         raw edge conversations + rollup items; pages = DynamoDB query pages (every request also \
         makes 2 identity reads, included in RCU); RCU = read capacity units consumed (dynalite's \
         `ConsumedCapacity`, DynamoDB's rule); CPU = this process's CPU per request (the \
         function's side: SDK, decode, fold, format).\n"
    );
    let _ = writeln!(
        s,
        "| data | range | departmentId | p50 | p95 | items | pages | RCU | function CPU |"
    );
    let _ = writeln!(s, "|---|---:|:---:|---:|---:|---:|---:|---:|---:|");
    for l in &r.loads {
        for &days in r.ranges.iter().filter(|&&d| d <= l.days) {
            for dept in [false, true] {
                let cs = cells(r, l.conversations, days, dept, "rollups");
                if cs.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "| {} | {days} d | {} | {:.1} ms | {:.1} ms | {:.0} | {:.0} | {:.1} | {:.1} ms |",
                    profile(r, l.conversations),
                    if dept { "yes" } else { "–" },
                    med(&cs, |c| c.p50_ms),
                    med(&cs, |c| c.p95_ms),
                    med(&cs, items),
                    med(&cs, |c| c.queries as f64),
                    med(&cs, rcu),
                    med(&cs, |c| c.client_cpu_ms),
                );
            }
        }
    }
    let _ = writeln!(s);
    targets(&mut s, r);
    s
}

fn targets(s: &mut String, r: &ScaleResults) {
    let longest = *r.ranges.iter().max().unwrap_or(&3650);
    let year = 365;
    let _ = writeln!(s, "| target | measured | met |\n|---|---|---|");
    for dept in [false, true] {
        let cs = cells(r, r.size, longest, dept, "rollups");
        if cs.is_empty() {
            continue;
        }
        let p50s: Vec<f64> = cs.iter().map(|c| c.p50_ms).collect();
        let worst = max(&p50s);
        let _ = writeln!(
            s,
            "| {longest}-day request on rollups ≤ 100 ms p50 on dynalite, {}{} | median of the figures {:.1} ms, slowest figure {:.1} ms | {} |",
            profile(r, r.size),
            if dept { ", departmentId" } else { "" },
            median(&p50s),
            worst,
            if worst <= 100.0 { "yes" } else { "**no**" }
        );
        let long = med(&cs, rcu);
        let short = med(&cells(r, r.size, year, dept, "rollups"), rcu);
        let ratio = long / (short * f64::from(longest / year));
        let _ = writeln!(
            s,
            "| its RCU within 2× of the {year}-day request's × {}{} | {long:.1} against {short:.1} × {} = {:.1} ({ratio:.2}×) | {} |",
            longest / year,
            if dept { ", departmentId" } else { "" },
            longest / year,
            short * f64::from(longest / year),
            if ratio <= 2.0 { "yes" } else { "**no**" }
        );
    }
    let _ = writeln!(s);
}

fn markdown(r: &ScaleResults) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(
        s,
        "Run: **{}**, commit `{}`, `nproc` = {}, {}, {}, dynalite {} (in memory). The whole run \
         took {:.0} s. Reproduce: `./scripts/bench.sh --scale` (`--help` lists the options). \
         The machine's 2 cores were shared with other engineers' builds during the run: read \
         medians and CPU times rather than single wall times.\n",
        m.date, m.commit, m.nproc, m.cpu, m.rustc, m.dynalite, r.total_seconds
    );
    let _ = writeln!(
        s,
        "Data: the {} tenant is `generate-demo`'s conversations (same field distributions), \
         {} agents, {} departments, placed on {} days ending {} with a daily shape: Monday 1.1, \
         Tuesday–Friday 1.0, Saturday 0.4, Sunday 0.3, growth ×4 over the 10 years, half \
         volume from 22 December to 2 January (benches/agent_overview/shape.rs). The {} tenant \
         is the default profile's (365 days, uniform), re-measured in the same run. \
         `departmentId` filters on the busiest department. Raw is measured for ranges up to {} \
         days only (beyond, one request reads ~all conversations: minutes per cell on dynalite).\n",
        profile(r, r.size),
        r.agents,
        r.departments,
        r.days,
        crate::load::end_day(),
        profile(r, r.base_size),
        r.raw_max_days
    );
    let _ = writeln!(s, "## Loading and rollup rebuild\n");
    let _ = writeln!(
        s,
        "| data | loader | load time (validation + writes + rollups) | conversations/s | loader peak RSS | rollup rebuild | days | rollup items written |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
    for l in &r.loads {
        let phases = l.import_phases.as_ref().map_or(String::new(), |p| {
            format!(
                " ({:.0} + {:.0} + {:.0} s; writes {:.0} conversations/s)",
                p.validate_secs,
                p.write_secs,
                p.rebuild_secs,
                f64::from(l.conversations) / p.write_secs
            )
        });
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} s{phases} | {:.0} | {} | {:.1} s | {} | {} |",
            profile(r, l.conversations),
            l.loader,
            l.load_secs,
            l.items_per_sec,
            l.peak_rss_kb
                .map_or("–".into(), |kb| format!("{:.0} MB", kb as f64 / 1024.0)),
            l.rebuild_secs,
            l.rebuild_days,
            l.rebuild_items_written,
        );
    }
    let _ = writeln!(s);
    for l in &r.loads {
        if let Some(m) = &l.metered_rebuild {
            let _ = writeln!(
                s,
                "Metered rebuild of the last {} days of {} (through the benchmark's client, after \
                 the load): {:.1} s, {} conversations read, {} rollup items written, {} DynamoDB \
                 calls, {:.0} RCU and {:.0} WCU (base table, as dynalite counts them) — {:.1} RCU \
                 and {:.1} WCU per day, {:.4} RCU per conversation read.\n",
                m.days,
                profile(r, l.conversations),
                m.secs,
                m.conversations_read,
                m.items_written,
                m.calls,
                m.read_units,
                m.write_units,
                m.read_units / m.days.max(1) as f64,
                m.write_units / m.days.max(1) as f64,
                m.read_units / m.conversations_read.max(1) as f64
            );
        }
    }
    let _ = writeln!(s);
    for l in r.loads.iter().filter(|l| !l.rss.is_empty()) {
        let points: Vec<String> = l
            .rss
            .iter()
            .step_by((l.rss.len() / 12).max(1))
            .map(|p| format!("{:.0} s: {:.0} MB", p.secs, p.rss_kb as f64 / 1024.0))
            .collect();
        let _ = writeln!(
            s,
            "The import's RSS over its run ({}; export files {:.0} MB written in {:.1} s \
             beforehand): {}.\n",
            profile(r, l.conversations),
            l.export_bytes as f64 / 1e6,
            l.export_secs,
            points.join(", ")
        );
        if let Some(report) = &l.import_report {
            let _ = writeln!(s, "```\n{}\n```\n", report.trim());
        }
    }
    let kb = |v: Option<u64>| {
        v.map_or("–".into(), |kb| {
            format!("{:.1} GB", kb as f64 / 1048576.0)
        })
    };
    let _ = writeln!(
        s,
        "dynalite (one Node.js process, in memory) held every tenant: RSS {} after loading, \
         peak {}.\n",
        kb(r.dynalite_rss_after_load_kb),
        kb(r.dynalite_peak_rss_kb)
    );
    let sz = &r.item_sizes;
    let _ = writeln!(
        s,
        "Item sizes (DynamoDB's rule; {} conversations, {} rollup items sampled): conversation \
         {:.0} B; its byMonth entry {:.0} B; byDepartmentMonth entry {:.0} B ({:.0} % of \
         conversations have a department); rollup item {:.0} B, {:.1} rollup items per day.\n",
        sz.conversations_sampled,
        sz.rollup_items_sampled,
        sz.conversation_bytes,
        sz.by_month_bytes,
        sz.by_department_month_bytes,
        sz.with_department_share * 100.0,
        sz.rollup_bytes,
        sz.rollup_items_per_day
    );
    if let Some(f) = &r.sync_first {
        let _ = writeln!(
            s,
            "**The sync's first cycle** (a fresh tenant, a full listing as the first scheduled \
             cycle runs it, no deadline, rollups left to the stream) against the integration \
             tests' stand-in of Rocket.Chat's REST API, in this process: {} livechat rooms of \
             the last {} days with {} messages. {} REST requests ({:.2} per room), {} rooms added, \
             {} messages read; {} DynamoDB calls, {:.0} RCU and {:.0} WCU (base tables, as dynalite \
             reports them) = {:.2} RCU and {:.2} WCU per room; {:.1} s wall ({:.0} rooms/s; the \
             stand-in's own work, which scans every message per room, is included); RSS {:.0} → \
             {:.0} MB peak (the stand-in's workspace is loaded before). Complete: {}.\n",
            f.rooms,
            f.days,
            f.messages,
            f.rest_requests,
            f.rest_requests as f64 / f64::from(f.rooms.max(1)),
            f.rooms_added,
            f.messages_read,
            f.dynamodb_calls,
            f.read_units,
            f.write_units,
            f.read_units / f64::from(f.rooms.max(1)),
            f.write_units / f64::from(f.rooms.max(1)),
            f.seconds,
            f64::from(f.rooms) / f.seconds,
            f.rss_before_kb as f64 / 1024.0,
            f.rss_peak_kb as f64 / 1024.0,
            f.complete
        );
        if let Some(q) = &f.quiet {
            let _ = writeln!(
                s,
                "The next cycle, incremental, nothing changed (a quiet tenant's cost per scheduled \
                 cycle): {} REST requests, {} DynamoDB calls, {:.1} RCU, {:.1} WCU, {:.0} ms wall, \
                 {:.0} ms CPU of this process (the stand-in's included).\n",
                q.rest_requests,
                q.dynamodb_calls,
                q.read_units,
                q.write_units,
                q.seconds * 1000.0,
                q.client_cpu_ms
            );
        }
    }
    let _ = writeln!(s, "## Requests\n");
    let _ = writeln!(s, "{}", headline(r));
    growth(&mut s, r);
    raw(&mut s, r);
    all(&mut s, r);
    s
}

fn growth(s: &mut String, r: &ScaleResults) {
    if r.base_size == 0 {
        return;
    }
    let _ = writeln!(
        s,
        "## Growth from {} to {} (rollups, no departmentId)\n",
        profile(r, r.base_size),
        profile(r, r.size)
    );
    let _ = writeln!(
        s,
        "Each figure: {} → {} (×).\n\n| range | p50 | items | pages | RCU | function CPU |\n|---:|---|---|---|---|---|",
        profile(r, r.base_size),
        profile(r, r.size)
    );
    let row = |a: f64, b: f64, unit: &str| format!("{a:.1} → {b:.1}{unit} (×{:.2})", b / a);
    for &days in &r.ranges {
        let a = cells(r, r.base_size, days, false, "rollups");
        let b = cells(r, r.size, days, false, "rollups");
        if a.is_empty() || b.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "| {days} d | {} | {} | {} | {} | {} |",
            row(med(&a, |c| c.p50_ms), med(&b, |c| c.p50_ms), " ms"),
            row(med(&a, items), med(&b, items), ""),
            row(
                med(&a, |c| c.queries as f64),
                med(&b, |c| c.queries as f64),
                ""
            ),
            row(med(&a, rcu), med(&b, rcu), ""),
            row(
                med(&a, |c| c.client_cpu_ms),
                med(&b, |c| c.client_cpu_ms),
                " ms"
            ),
        );
    }
    let _ = writeln!(s);
}

fn raw(s: &mut String, r: &ScaleResults) {
    let _ = writeln!(
        s,
        "## Raw plan, where measured\n\n| data | range | departmentId | p50 | p95 | items | pages | RCU | function CPU | dynalite CPU |\n|---|---:|:---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for l in &r.loads {
        for &days in &r.ranges {
            for dept in [false, true] {
                let cs = cells(r, l.conversations, days, dept, "raw");
                if cs.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "| {} | {days} d | {} | {:.0} ms | {:.0} ms | {:.0} | {:.0} | {:.1} | {:.0} ms | {:.0} ms |",
                    profile(r, l.conversations),
                    if dept { "yes" } else { "–" },
                    med(&cs, |c| c.p50_ms),
                    med(&cs, |c| c.p95_ms),
                    med(&cs, items),
                    med(&cs, |c| c.queries as f64),
                    med(&cs, rcu),
                    med(&cs, |c| c.client_cpu_ms),
                    med(&cs, |c| c.dynalite_cpu_ms.unwrap_or(f64::NAN)),
                );
            }
        }
    }
    let _ = writeln!(s);
}

fn all(s: &mut String, r: &ScaleResults) {
    let _ = writeln!(
        s,
        "<details><summary>Every cell</summary>\n\n| data | range | dept | figure | plan | p50 / p95 | items (raw + rollup), pages | RCU | calls | function CPU | dynalite CPU |\n|---|---:|:---:|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for c in &r.cells {
        let _ = writeln!(
            s,
            "| {} | {} d | {} | {} | {} | {:.1} / {:.1} ms | {} + {}, {} | {:.1} | {} | {:.1} ms | {:.1} ms |",
            profile(r, c.conversations),
            c.days,
            if c.department { "yes" } else { "–" },
            c.figure,
            c.plan,
            c.p50_ms,
            c.p95_ms,
            c.items_read,
            c.rollup_items_read,
            c.queries,
            rcu(c),
            c.dynamodb_calls.unwrap_or(0),
            c.client_cpu_ms,
            c.dynalite_cpu_ms.unwrap_or(f64::NAN),
        );
    }
    let _ = writeln!(s, "\n</details>");
}
