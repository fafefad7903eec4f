//! `bench/README.md` (tables), `bench/results.json` (everything measured) and the chart.

use std::fmt::Write as _;
use std::path::Path;

use crate::chart;
use crate::e2e::{percentile, Cell};
use crate::load::label;
use crate::Results;

const CHART: &str = "latency-vs-range.svg";

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        percentile(v, 0.5)
    }
}

/// The cells of one request (every figure) under one plan.
fn cells<'a>(
    r: &'a Results,
    size: u32,
    days: u32,
    dept: bool,
    plan: &str,
) -> impl Iterator<Item = &'a Cell> + 'a {
    let plan = plan.to_string();
    r.cells.iter().filter(move |c| {
        c.conversations == size && c.days == days && c.department == dept && c.plan == plan
    })
}

fn find<'a>(
    r: &'a Results,
    size: u32,
    figure: &str,
    days: u32,
    dept: bool,
    plan: &str,
) -> Option<&'a Cell> {
    cells(r, size, days, dept, plan).find(|c| c.figure == figure)
}

/// Per figure: `slow` p50 / `fast` p50.
fn ratios(r: &Results, size: u32, days: u32, dept: bool, slow: &str, fast: &str) -> Vec<f64> {
    cells(r, size, days, dept, fast)
        .filter_map(|f| {
            let s = find(r, size, &f.figure, days, dept, slow)?;
            Some(s.p50_ms / f.p50_ms)
        })
        .collect()
}

/// Per figure: baseline p50 / raw p50.
fn speedups(r: &Results, size: u32, days: u32, dept: bool) -> Vec<f64> {
    ratios(r, size, days, dept, "baseline", "raw")
}

/// Items a request read: raw conversations plus rollup items.
fn items(c: &Cell) -> u64 {
    c.items_read + c.rollup_items_read
}

/// Per figure: rollups' items / raw's items.
fn item_fractions(r: &Results, size: u32, days: u32, dept: bool) -> Vec<f64> {
    cells(r, size, days, dept, "rollups")
        .filter_map(|ro| {
            let raw = find(r, size, &ro.figure, days, dept, "raw")?;
            Some(items(ro) as f64 / raw.items_read.max(1) as f64)
        })
        .collect()
}

fn has(r: &Results, plan: &str) -> bool {
    r.plans.iter().any(|p| p == plan)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::min)
}

fn p50s(r: &Results, size: u32, days: u32, dept: bool, plan: &str) -> Vec<f64> {
    cells(r, size, days, dept, plan).map(|c| c.p50_ms).collect()
}

fn largest(r: &Results) -> u32 {
    r.sizes.iter().copied().max().unwrap_or(0)
}

fn all_ranges(r: &Results) -> Vec<u32> {
    let mut v: Vec<u32> = r.ranges.iter().chain(&r.chart_ranges).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

pub fn write(out: &Path, r: &Results) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(r)? + "\n",
    )?;
    let big = largest(r);
    let series: Vec<chart::Series> = r
        .plans
        .iter()
        .map(|plan| chart::Series {
            plan: plan.clone(),
            points: all_ranges(r)
                .into_iter()
                .map(|d| (d, median(&p50s(r, big, d, false, plan))))
                .filter(|p| p.1.is_finite())
                .collect(),
        })
        .collect();
    chart::draw(
        &out.join(CHART),
        &format!(
            "agent-overview against dynalite: {} conversations, median of the 7 figures",
            label(big)
        ),
        &series,
    )?;
    // The scale profile's section (scale_report.rs) stays as that run wrote it.
    let readme = out.join("README.md");
    let kept = std::fs::read_to_string(&readme)
        .ok()
        .and_then(|t| crate::scale_report::existing_section(&t));
    let mut text = markdown(r);
    if let Some(section) = kept {
        text = crate::scale_report::splice(
            &text,
            section
                .trim_start_matches(crate::scale_report::BEGIN)
                .trim_start_matches('\n')
                .trim_end()
                .trim_end_matches(crate::scale_report::END),
        );
    }
    std::fs::write(readme, text)?;
    Ok(())
}

fn markdown(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let big = largest(r);
    let _ = writeln!(s, "# Benchmark\n");
    let _ = writeln!(
        s,
        "Latest run: **{}**, commit `{}`, `nproc` = {}, {}, {}, dynalite {} (in memory). \
         The whole run took {:.0} s.\n",
        m.date, m.commit, m.nproc, m.cpu, m.rustc, m.dynalite, r.total_seconds
    );
    let _ = writeln!(
        s,
        "Reproduce with one command: `./scripts/bench.sh` (it installs what it needs, starts its \
         own dynalite on a free port, builds the release binary, runs `cargo bench --bench \
         agent_overview` and rewrites this file, `results.json` and `{CHART}`). \
         `RUNS=20 ./scripts/bench.sh` gives tighter percentiles; `./scripts/bench.sh --help` lists \
         the options.\n"
    );
    let _ = writeln!(
        s,
        "**Caveat.** The machine has {} cores and was shared with other builds during the run: \
         single timings are noisy. Read medians and the ratios between plans (their runs are \
         interleaved, so noise falls on every plan alike), not single numbers. p95 is the \
         nearest-rank percentile of {} runs per cell (after one warm-up), i.e. about their \
         maximum. DynamoDB here is dynalite, a single-threaded Node.js process on the same \
         machine: it is far slower per item than DynamoDB and it cannot serve concurrent \
         queries in parallel, so latencies are not AWS latencies.\n",
        m.nproc, r.runs
    );
    let _ = writeln!(
        s,
        "Data: per tenant, `generate-demo`'s conversations over {} days ending {}, {} agents, {} \
         departments; `departmentId` filters on the busiest department. Plans: **baseline** = \
         one sequential query chain over the month buckets, no ProjectionExpression (every \
         attribute the index projects), no concurrency; **raw** = the function's DynamoStore \
         with `QUERY_PLAN=raw` (projection of the figure's attributes, \
         bucket chains concurrently, `QUERY_CONCURRENCY` 16); **rollups** = the same store with \
         `QUERY_PLAN=rollups`, the default (daily rollup items for the whole UTC days of the \
         range, raw conversations for partial edge days). All answer through the same \
         `App::handle` (same identity reads, same Aggregator, same formatting) and every \
         request's answers are checked byte-identical across plans.\n",
        r.data["days"],
        r.data["last_day"].as_str().unwrap_or("?"),
        r.data["agents"],
        r.data["departments"]
    );
    let _ = writeln!(s, "![latency against range length]({CHART})\n");

    headline(&mut s, r, big);
    targets(&mut s, r, big);
    summary(&mut s, r);
    load(&mut s, r);
    cpu(&mut s, r);
    memory(&mut s, r, big);
    cold(&mut s, r);
    full(&mut s, r);
    s
}

fn headline(s: &mut String, r: &Results, big: u32) {
    let _ = writeln!(
        s,
        "## Headline: {} conversations, no `departmentId`\n\nMedians over the seven figures \
         of each figure's p50 (p95: median of the figures' p95).\n",
        label(big)
    );
    let rollups = has(r, "rollups");
    let _ = write!(
        s,
        "| range | baseline p50 | raw p50 (p95) | raw vs baseline |"
    );
    if rollups {
        let _ = write!(s, " rollups p50 (p95) | rollups vs raw |");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|{}",
        if rollups { "---:|---:|" } else { "" }
    );
    for days in all_ranges(r) {
        let p95 = |plan: &str| {
            let v: Vec<f64> = cells(r, big, days, false, plan).map(|c| c.p95_ms).collect();
            median(&v)
        };
        if cells(r, big, days, false, "raw").next().is_none() {
            continue;
        }
        let _ = write!(
            s,
            "| {days} d | {:.0} ms | {:.0} ms ({:.0}) | {:.1}× |",
            median(&p50s(r, big, days, false, "baseline")),
            median(&p50s(r, big, days, false, "raw")),
            p95("raw"),
            median(&speedups(r, big, days, false)),
        );
        if rollups {
            let _ = write!(
                s,
                " {:.0} ms ({:.0}) | {:.1}× |",
                median(&p50s(r, big, days, false, "rollups")),
                p95("rollups"),
                median(&ratios(r, big, days, false, "raw", "rollups")),
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\nThe work behind it: DynamoDB items and query pages per request, and CPU time per \
         request (time on a core, not waiting for one) of the function's side (this process: \
         SDK, decode, fold, format) + dynalite's (DynamoDB's side), from \
         /proc/PID/task/*/schedstat; medians over the runs and figures.\n"
    );
    let _ = write!(s, "| range | raw: items, pages | baseline CPU | raw CPU |");
    if rollups {
        let _ = write!(
            s,
            " rollups: raw items + rollup items, pages | rollups / raw items | rollups CPU |"
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|{}",
        if rollups { "---:|---:|---:|" } else { "" }
    );
    for days in all_ranges(r) {
        let Some(raw) = cells(r, big, days, false, "raw").next() else {
            continue;
        };
        let _ = write!(
            s,
            "| {days} d | {}, {} | {} | {} |",
            raw.items_read,
            raw.queries,
            cpu_split(r, big, days, false, "baseline"),
            cpu_split(r, big, days, false, "raw"),
        );
        if rollups {
            if let Some(ro) = cells(r, big, days, false, "rollups").next() {
                let _ = write!(
                    s,
                    " {} + {}, {} | 1/{:.0} | {} |",
                    ro.items_read,
                    ro.rollup_items_read,
                    ro.queries,
                    1.0 / median(&item_fractions(r, big, days, false)),
                    cpu_split(r, big, days, false, "rollups"),
                );
            }
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s);
}

/// "function ms + dynalite ms" of one request under one plan, medians over the figures.
fn cpu_split(r: &Results, size: u32, days: u32, dept: bool, plan: &str) -> String {
    let client: Vec<f64> = cells(r, size, days, dept, plan)
        .map(|c| c.client_cpu_ms)
        .collect();
    let dynalite: Vec<f64> = cells(r, size, days, dept, plan)
        .filter_map(|c| c.dynalite_cpu_ms)
        .collect();
    if dynalite.is_empty() {
        format!("{:.0} ms + ?", median(&client))
    } else {
        format!("{:.0} + {:.0} ms", median(&client), median(&dynalite))
    }
}

fn targets(s: &mut String, r: &Results, big: u32) {
    let _ = writeln!(s, "## Targets\n");
    let _ = writeln!(s, "| target | measured | met |");
    let _ = writeln!(s, "|---|---|---|");
    let yes = |ok: bool| if ok { "yes" } else { "**no**" };
    for days in [30, 365] {
        let mut v = speedups(r, big, days, false);
        v.extend(speedups(r, big, days, true));
        if v.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "| raw ≥ 3× faster than baseline, {days} d, {} | median {:.1}×, lowest {:.1}× (7 figures × with/without department) | {} |",
            label(big),
            median(&v),
            min(&v),
            yes(min(&v) >= 3.0)
        );
    }
    if has(r, "rollups") {
        let mut f = item_fractions(r, big, 365, false);
        f.extend(item_fractions(r, big, 365, true));
        if !f.is_empty() {
            let _ = writeln!(
                s,
                "| rollups read ≤ 1/20 of raw's items, 365 d, {} | at most 1/{:.0} (7 figures × with/without department) | {} |",
                label(big),
                1.0 / max(&f),
                yes(max(&f) <= 0.05)
            );
        }
        let mut p50 = p50s(r, big, 365, false, "rollups");
        p50.extend(p50s(r, big, 365, true, "rollups"));
        let p95: Vec<f64> = cells(r, big, 365, false, "rollups")
            .chain(cells(r, big, 365, true, "rollups"))
            .map(|c| c.p95_ms)
            .collect();
        if !p50.is_empty() {
            let _ = writeln!(
                s,
                "| rollups answer a 365 d request in < 1 s, {} | p50 at most {:.0} ms, p95 at most {:.0} ms | {} |",
                label(big),
                max(&p50),
                max(&p95),
                yes(max(&p95) < 1000.0)
            );
        }
    }
    let slowest = r
        .cpu
        .figures
        .iter()
        .map(|f| f.items_per_sec)
        .fold(f64::MAX, f64::min);
    let _ = writeln!(
        s,
        "| handler CPU ≥ 1 M items/s/core (decode + aggregate + format, no I/O) | slowest figure {:.2} M items/s | {} |",
        slowest / 1e6,
        yes(slowest >= 1e6)
    );
    for plan in ["raw", "rollups"] {
        let probes: Vec<&crate::memory::Probe> =
            r.memory.iter().filter(|p| p.plan == plan).collect();
        if probes.is_empty() {
            continue;
        }
        let grow =
            |p: &crate::memory::Probe| p.after_kb.saturating_sub(p.before_kb) as f64 / 1024.0;
        let growth: Vec<String> = probes.iter().map(|p| format!("{:.1}", grow(p))).collect();
        let days: Vec<String> = probes.iter().map(|p| p.days.to_string()).collect();
        // Flat: past the first full page (30 days) the longest range adds at most 2 MB.
        // Bounded: it adds less than the 30-day request took, however many more items it reads
        // (what is held is the pages in flight, up to QUERY_CONCURRENCY of them).
        let month = probes
            .iter()
            .find(|p| p.days >= 30)
            .map_or(f64::NAN, |p| grow(p));
        let longest = probes.last().map_or(f64::NAN, |p| grow(p));
        let verdict = if longest <= month + 2.0 {
            "yes"
        } else if longest <= 2.0 * month {
            "bounded, not flat: it grows with the pages in flight, not with the items"
        } else {
            "**no**"
        };
        let _ = writeln!(
            s,
            "| peak RSS flat as the range grows ({plan}, {}, one request) | +{} MB over INIT at {} days | {} |",
            label(big),
            growth.join(" / +"),
            days.join(" / "),
            verdict
        );
    }
    if let Some(c) = &r.cold {
        for (what, bytes) in [("host (x86_64)", c.host_bytes), ("arm64", c.arm64_bytes)] {
            match bytes {
                Some(b) => {
                    let _ = writeln!(
                        s,
                        "| release binary ≤ 8 MB, {what} | {} | {} |",
                        mb(b),
                        yes(b <= 8_000_000)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "| release binary ≤ 8 MB, {what} | not built: {} | – |",
                        c.arm64_note.as_deref().unwrap_or("no binary given")
                    );
                }
            }
        }
        let in_init = c.starts.iter().all(|c| c.connection_opened_in_init);
        let _ = writeln!(
            s,
            "| DynamoDB connection opened during INIT | {} of {} cold starts logged it before ready | {} |",
            c.starts.iter().filter(|c| c.connection_opened_in_init).count(),
            c.starts.len(),
            yes(in_init && !c.starts.is_empty())
        );
    }
    let _ = writeln!(s);
    bound(s, r, big, 365);
}

/// Why raw's speed-up over the baseline is capped here: both plans make dynalite (one
/// single-threaded process) read the same items, and no plan answers before dynalite has.
fn bound(s: &mut String, r: &Results, big: u32, days: u32) {
    let dynalite = |plan: &str| {
        let v: Vec<f64> = cells(r, big, days, false, plan)
            .filter_map(|c| c.dynalite_cpu_ms)
            .collect();
        median(&v)
    };
    let function = |plan: &str| {
        let v: Vec<f64> = cells(r, big, days, false, plan)
            .map(|c| c.client_cpu_ms)
            .collect();
        median(&v)
    };
    let baseline = median(&p50s(r, big, days, false, "baseline"));
    let raw_dynalite = dynalite("raw");
    if !(baseline.is_finite() && raw_dynalite.is_finite()) {
        return;
    }
    let _ = writeln!(
        s,
        "**Reading the raw-vs-baseline ratio.** At {} and {days} days both plans make dynalite read \
         the same items; that costs dynalite {:.0} ms (baseline) and {:.0} ms (raw) of CPU per \
         request, on one thread. No plan that reads those items can answer here in less than \
         dynalite's {:.0} ms, so against dynalite raw can be at most {:.1}× faster than the \
         baseline's {:.0} ms, whatever it does. What raw changes is visible on its own side: the \
         function's CPU per request falls from {:.0} ms to {:.0} ms ({:.1}×, the projection), \
         and its bucket chains overlap each other and the decoding. Against DynamoDB, whose \
         partitions serve the month buckets' chains in parallel, the concurrent plan is expected \
         to gain far more on long ranges; that cannot be measured on this machine.\n",
        label(big),
        dynalite("baseline"),
        raw_dynalite,
        raw_dynalite,
        baseline / raw_dynalite,
        baseline,
        function("baseline"),
        function("raw"),
        function("baseline") / function("raw"),
    );
}

fn summary(s: &mut String, r: &Results) {
    let _ = writeln!(
        s,
        "## 1, 2. End to end through `App::handle`, every size\n\nPer row: medians over the seven \
         figures. Items: raw conversations read by the raw plan (the baseline reads the same \
         items, in as many pages); for rollups, raw edge items + rollup items. Every request \
         also makes 2 identity reads (GetItem, BatchGetItem). The full per-figure table is at \
         the end.\n"
    );
    let rollups = has(r, "rollups");
    let _ = write!(
        s,
        "| conversations | range | departmentId | items (raw plan) | baseline p50 | raw p50 | raw p95 | raw vs baseline (lowest figure) |"
    );
    if rollups {
        let _ = write!(s, " rollups items | rollups p50 | rollups p95 |");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "|---:|---:|:---:|---:|---:|---:|---:|---:|{}",
        if rollups { "---:|---:|---:|" } else { "" }
    );
    for &size in &r.sizes {
        for &days in &r.ranges {
            for dept in [false, true] {
                let raw: Vec<&Cell> = cells(r, size, days, dept, "raw").collect();
                let Some(first) = raw.first() else { continue };
                let sp = speedups(r, size, days, dept);
                let p95: Vec<f64> = raw.iter().map(|c| c.p95_ms).collect();
                let _ = write!(
                    s,
                    "| {} | {days} d | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1}× ({:.1}×) |",
                    label(size),
                    if dept { "yes" } else { "–" },
                    first.items_read,
                    median(&p50s(r, size, days, dept, "baseline")),
                    median(&p50s(r, size, days, dept, "raw")),
                    median(&p95),
                    median(&sp),
                    min(&sp),
                );
                if rollups {
                    let ro: Vec<&Cell> = cells(r, size, days, dept, "rollups").collect();
                    let ro95: Vec<f64> = ro.iter().map(|c| c.p95_ms).collect();
                    let _ = write!(
                        s,
                        " {} | {:.1} ms | {:.1} ms |",
                        ro.first().map_or(0, |c| items(c)),
                        median(&p50s(r, size, days, dept, "rollups")),
                        median(&ro95),
                    );
                }
                let _ = writeln!(s);
            }
        }
    }
    let _ = writeln!(s);
}

fn load(s: &mut String, r: &Results) {
    let _ = writeln!(
        s,
        "## Loading\n\nThe demo generator's conversations written through the BatchWriter ({} \
         BatchWriteItem calls of 25 in flight) into dynalite, then the rollups of the 365 days \
         rebuilt from them (`rebuild_rollups`, as `generate-demo` and `import` do).\n",
        r.data["writers_in_flight"]
    );
    let _ = writeln!(
        s,
        "| conversations | load time | items/s | rollup rebuild | rollup items written | busiest department's share |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|");
    for l in &r.load {
        let _ = writeln!(
            s,
            "| {} | {:.1} s | {:.0} | {:.1} s | {} | {:.0}% |",
            label(l.conversations),
            l.seconds,
            l.items_per_sec,
            l.rollups_seconds,
            l.rollup_items,
            l.department_share * 100.0
        );
    }
    let _ = writeln!(s);
}

fn cpu(s: &mut String, r: &Results) {
    let c = &r.cpu;
    let n = c.figures.first().map_or(0, |f| f.items);
    let _ = writeln!(
        s,
        "## 3. Handler-side CPU, no I/O (one core)\n\n{n} generated conversations as query pages \
         of 8,000 items shaped as the GSI returns them to the function (`pk`, `ts`, the agent \
         attribute, the metric), folded by the function's `fold_page`, then formatted into the \
         body. Median of 7 passes.\n"
    );
    let _ = writeln!(s, "| figure | items/s | ns/item |");
    let _ = writeln!(s, "|---|---:|---:|");
    for f in &c.figures {
        let _ = writeln!(
            s,
            "| {} | {:.2} M | {:.0} |",
            f.figure,
            f.items_per_sec / 1e6,
            f.ns_per_item
        );
    }
    let b = &c.breakdown;
    let _ = writeln!(
        s,
        "\nWhere the time goes ({}; ns per item): attribute lookups alone (4 `HashMap` gets, \
         SipHash over the names) {:.0}; lookups and number parsing {:.0}; the Aggregator fed \
         pre-decoded values {:.0}; the whole `fold_page` + format {:.0}.\n",
        b.figure, b.lookups_ns, b.lookups_and_parse_ns, b.aggregate_only_ns, b.fold_page_ns
    );
    let d = &c.sdk;
    let _ = writeln!(
        s,
        "The step before the pages exist: the SDK turning a Query response into them. One canned \
         page ({} items, {:.0} kB of DynamoDB JSON) served by a local stand-in, `query().send()` \
         + `fold_page` on one thread: **{:.2} M items/s** ({:.0} ns/item) — this, not the fold, \
         is the handler's CPU cost per item.\n",
        d.items_per_page,
        d.page_bytes as f64 / 1024.0,
        d.items_per_sec / 1e6,
        d.ns_per_item
    );
}

fn memory(s: &mut String, r: &Results, big: u32) {
    let _ = writeln!(
        s,
        "## 4. Memory\n\nPeak RSS (`VmHWM`) of a fresh process that builds the client and App \
         and answers one `Avg_chat_duration` request at {}, per range and plan.\n",
        label(big)
    );
    let _ = writeln!(
        s,
        "| plan | range | items read (raw + rollup) | peak RSS before the request | peak RSS after | growth |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for p in &r.memory {
        let _ = writeln!(
            s,
            "| {} | {} d | {} + {} | {:.1} MB | {:.1} MB | +{:.1} MB |",
            p.plan,
            p.days,
            p.items_read,
            p.rollup_items_read,
            p.before_kb as f64 / 1024.0,
            p.after_kb as f64 / 1024.0,
            p.after_kb.saturating_sub(p.before_kb) as f64 / 1024.0
        );
    }
    let _ = writeln!(s);
}

fn cold(s: &mut String, r: &Results) {
    let Some(c) = &r.cold else {
        let _ = writeln!(
            s,
            "## 5. Cold start\n\nNot measured (no release binary given).\n"
        );
        return;
    };
    let _ = writeln!(s, "## 5. Cold start\n");
    let size = |b: Option<u64>| b.map_or_else(|| "–".to_string(), mb);
    let _ = writeln!(
        s,
        "Release binary `agent-overview` (stripped): host x86_64 {}, arm64 {}{}.\n",
        size(c.host_bytes),
        size(c.arm64_bytes),
        c.arm64_note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "The host binary started as Lambda starts it (`AWS_LAMBDA_RUNTIME_API` at a local \
         stand-in of the Runtime API), {} times. Ready = process start to its first `GET \
         /runtime/invocation/next` (INIT done: config, SDK client, the warm-up GetItem against \
         dynalite). Then the HTTP API event `{}` twice.\n",
        c.starts.len(),
        c.query
    );
    let pick = |f: fn(&crate::cold::ColdStart) -> f64| {
        let v: Vec<f64> = c.starts.iter().map(f).collect();
        (median(&v), v.iter().copied().fold(f64::MIN, f64::max))
    };
    let _ = writeln!(s, "| | median | max |");
    let _ = writeln!(s, "|---|---:|---:|");
    for (what, f) in [
        (
            "start → ready (INIT)",
            (|c: &crate::cold::ColdStart| c.ready_ms) as fn(&_) -> f64,
        ),
        ("first invocation", |c| c.first_invocation_ms),
        ("second (warm) invocation", |c| c.warm_invocation_ms),
    ] {
        let (med, max) = pick(f);
        let _ = writeln!(s, "| {what} | {med:.0} ms | {max:.0} ms |");
    }
    let _ = writeln!(
        s,
        "\nConnection opened during INIT (the function's log line before ready): {} of {}.\n",
        c.starts
            .iter()
            .filter(|c| c.connection_opened_in_init)
            .count(),
        c.starts.len()
    );
}

fn full(s: &mut String, r: &Results) {
    let _ = writeln!(
        s,
        "## All cells\n\n<details><summary>Every size × range × departmentId × figure</summary>\n"
    );
    let _ = writeln!(
        s,
        "| conversations | range | dept | figure | raw items, pages | baseline p50 / p95 | raw p50 / p95 | raw vs baseline | rollups items, pages | rollups p50 / p95 |"
    );
    let _ = writeln!(s, "|---:|---:|:---:|---|---:|---:|---:|---:|---:|---:|");
    let fmt = |c: Option<&Cell>| {
        c.map_or("–".to_string(), |c| {
            format!("{:.1} / {:.1} ms", c.p50_ms, c.p95_ms)
        })
    };
    for raw in r.cells.iter().filter(|c| c.plan == "raw") {
        let other = |plan| {
            find(
                r,
                raw.conversations,
                &raw.figure,
                raw.days,
                raw.department,
                plan,
            )
        };
        let base = other("baseline");
        let ro = other("rollups");
        let _ = writeln!(
            s,
            "| {} | {} d | {} | {} | {}, {} | {} | {} | {:.1}× | {} | {} |",
            label(raw.conversations),
            raw.days,
            if raw.department { "yes" } else { "–" },
            raw.figure,
            raw.items_read,
            raw.queries,
            fmt(base),
            fmt(Some(raw)),
            base.map_or(f64::NAN, |b| b.p50_ms / raw.p50_ms),
            ro.map_or("–".to_string(), |c| format!(
                "{} + {}, {}",
                c.items_read, c.rollup_items_read, c.queries
            )),
            fmt(ro),
        );
    }
    let _ = writeln!(s, "\n</details>");
}
