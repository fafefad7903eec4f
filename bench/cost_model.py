#!/usr/bin/env python3
"""The cost model (issue 21): bench/cost.md and bench/cost-vs-range.svg from the scale run's
measurements (bench/scale-results.json), at prices given as parameters, so a reader can re-price
it: `python3 bench/cost_model.py --rru 0.25 --wru 1.25` (see --help). Standard library only.

What is measured (scale-results.json) and what is assumed (the parameters below, printed in
cost.md) are kept apart: capacity units, item sizes, DynamoDB calls and CPU per request are
measured; prices, the round-trip latency, writes per conversation and the sync's fixed per-cycle
calls are assumptions.
"""

import argparse
import json
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

PRICES_DATE = "2024-11 (DynamoDB on-demand price cut of 2024-11-01); Lambda as listed 2024"


def args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=os.path.join(HERE, "scale-results.json"))
    p.add_argument("--out", default=HERE)
    # Prices, us-east-1 list prices as known on PRICES_DATE: check them before relying on them.
    p.add_argument("--rru", type=float, default=0.125, help="$ per million read request units (on-demand)")
    p.add_argument("--wru", type=float, default=0.625, help="$ per million write request units (on-demand)")
    p.add_argument("--storage", type=float, default=0.25, help="$ per GB-month (Standard table class)")
    p.add_argument("--gbs", type=float, default=0.0000133334, help="Lambda arm64 $ per GB-second")
    p.add_argument("--lambda-requests", type=float, default=0.20, help="Lambda $ per million requests")
    p.add_argument("--apigw", type=float, default=1.00, help="API Gateway HTTP API $ per million requests (shown apart)")
    # Assumptions.
    p.add_argument("--memory-mb", type=int, default=512, help="the functions' MemorySize (template.yaml Globals)")
    p.add_argument("--rtt-ms", type=float, default=5.0, help="one DynamoDB round trip from Lambda")
    p.add_argument("--init-ms", type=float, default=0.0, help="billed INIT per request (cold starts amortised)")
    p.add_argument("--writes-per-conversation", type=float, default=2.0,
                   help="times the sync writes a conversation (opened, then closed with its metrics)")
    p.add_argument("--sync-cycle-reads", type=float, default=6.0,
                   help="RRU per quiet sync cycle when the run has no measurement of one")
    p.add_argument("--sync-cycle-writes", type=float, default=6.0,
                   help="WRU per quiet sync cycle when the run has no measurement of one")
    p.add_argument("--sync-cycle-ms", type=float, default=150.0, help="Lambda duration of one quiet sync cycle (assumed)")
    p.add_argument("--rc-page-ms", type=float, default=300.0,
                   help="Rocket.Chat's answer to one page of 100 rooms (the sync's daily full listing; assumed)")
    p.add_argument("--sync-every-min", type=float, default=1.0, help="SyncSchedule (template.yaml: rate(1 minute))")
    p.add_argument("--reconcile-every-min", type=float, default=5.0, help="reconciliation schedule (rate(5 minutes))")
    p.add_argument("--stream-batches-per-day", type=float, default=None,
                   help="stream batches that touch today (default: one per sync cycle that wrote, at most one per cycle)")
    p.add_argument("--history-years", type=float, default=1.0, help="history kept, for storage and the sync's daily full listing")
    return p.parse_args()


def median(v):
    v = [x for x in v if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(v) if v else float("nan")


def cells(r, size, days, dept, plan):
    return [c for c in r["cells"] if c["conversations"] == size and c["days"] == days
            and c["department"] == dept and c["plan"] == plan]


def per_request(r, a, size, days, dept, plan):
    """Cost of one API request (median over the seven figures), in $ and its parts."""
    cs = cells(r, size, days, dept, plan)
    if not cs:
        return None
    rcu = median([c.get("read_units") for c in cs])
    calls = median([c.get("dynamodb_calls") for c in cs])
    pages = median([c["queries"] for c in cs])
    cpu = median([c["client_cpu_ms"] for c in cs])
    # Duration: the function's CPU plus every DynamoDB call as one round trip in sequence (an
    # upper bound: the plan overlaps bucket chains), billed per ms.
    duration_ms = math.ceil(cpu + calls * a.rtt_ms + a.init_ms)
    gb_s = a.memory_mb / 1024 * duration_ms / 1000
    d_ddb = rcu * a.rru / 1e6
    d_lambda = gb_s * a.gbs + a.lambda_requests / 1e6
    return {
        "rcu": rcu, "calls": calls, "pages": pages, "cpu_ms": cpu, "duration_ms": duration_ms,
        "ddb": d_ddb, "lambda": d_lambda, "total": d_ddb + d_lambda,
        "items": median([c["items_read"] + c["rollup_items_read"] for c in cs]),
    }


def wru(size_bytes):
    return math.ceil(size_bytes / 1024)


def rru_strong(size_bytes):
    return math.ceil(size_bytes / 4096)


def tenant_month(r, a, per_day):
    """$ per month of a tenant with `per_day` conversations a day, by component."""
    s = r["item_sizes"]
    big = next(l for l in r["loads"] if l["conversations"] == r["size"])
    sync = r.get("sync_first") or {}
    quiet = sync.get("quiet") or {}
    days = 30.0
    conv_month = per_day * days
    writes = conv_month * a.writes_per_conversation
    cycles_day = 24 * 60 / a.sync_every_min
    # Conversation writes: the two GSI entries from item sizes (dynalite counts base tables
    # only); the base-table side (the conversation, the day leases around its batch, the sync
    # state) is the sync's measured WCU per room of its first cycle.
    gsi_wru = wru(s["by_month_bytes"]) + s["with_department_share"] * wru(s["by_department_month_bytes"])
    base_wru = sync["write_units"] / sync["rooms"] if sync else wru(s["conversation_bytes"]) + 0.3
    w_conv = writes * (base_wru + gsi_wru)
    # Stream rebuilds: one per stream batch touching today (at most one per sync cycle that
    # wrote); each reads the day so far (on average half a day's conversations, at the measured
    # RCU per conversation read) and writes the day's rollup items (measured WCU per day of the
    # metered rebuild, which counts only the puts that succeeded: at least items × size).
    busy_cycles_day = min(cycles_day, per_day * a.writes_per_conversation)
    batches_day = a.stream_batches_per_day if a.stream_batches_per_day is not None else busy_cycles_day
    m = big["metered_rebuild"]
    rcu_per_conv_read = m["read_units"] / max(1, m["conversations_read"])
    rollup_items_day = m["items_written"] / max(1, m["days"])
    wcu_rebuild = max(m["write_units"] / max(1, m["days"]), rollup_items_day * wru(s["rollup_bytes"])) + 2
    r_stream = batches_day * days * (per_day / 2 * rcu_per_conv_read + 2)
    w_stream = batches_day * days * wcu_rebuild
    # Reconciliation: every run verifies the days changed in the last 48 h (today and
    # yesterday): reads their conversations (1.5 days on average) and their rollups.
    runs = days * 24 * 60 / a.reconcile_every_min
    r_reconcile = runs * (per_day * 1.5 * rcu_per_conv_read
                          + 2 * rollup_items_day * s["rollup_bytes"] / 4096 * 0.5 + 2)
    # The sync: a quiet cycle's measured capacity every cycle; per room written, the first
    # cycle's measured RCU per room; the daily full listing reads every stored room's key from
    # the byMonth index (Query, eventually consistent: entry sizes summed per page, per 4 KB,
    # halved) and pages through every room of Rocket.Chat (100 a request).
    stored_rooms = per_day * 365 * a.history_years
    cycle_rru = quiet.get("read_units", a.sync_cycle_reads)
    cycle_wru = quiet.get("write_units", a.sync_cycle_writes)
    room_rru = sync["read_units"] / sync["rooms"] if sync else 2.0
    r_sync_cycles = days * cycles_day * cycle_rru
    r_sync_rooms = writes * room_rru
    r_sync_full = days * stored_rooms * s["by_month_bytes"] / 4096 * 0.5
    w_sync = days * cycles_day * cycle_wru
    # Storage: items + 100 B of index overhead per index entry, rollups, at the history kept.
    gb = stored_rooms * (s["conversation_bytes"] + 100 + s["by_month_bytes"] + 100
                         + s["with_department_share"] * (s["by_department_month_bytes"] + 100)) / 1e9
    gb += 365 * a.history_years * rollup_items_day * (s["rollup_bytes"] + 100) / 1e9
    # Lambda: the sync's cycles, the stream's batches, the reconciliation's runs (assumed
    # durations: a quiet cycle's, 200 ms per rebuild batch, 300 ms per reconciliation run).
    cycle_ms = a.sync_cycle_ms
    listing_ms = days * stored_rooms / 100 * a.rc_page_ms
    gbs = a.memory_mb / 1024 / 1000 * (days * cycles_day * cycle_ms + batches_day * days * 200 + runs * 300
                                       + listing_ms)
    invocations = days * cycles_day + batches_day * days + runs
    rows = [
        ("conversation writes (table, 2 GSIs, day leases)", w_conv * a.wru / 1e6),
        ("stream: rollup rebuilds, reads", r_stream * a.rru / 1e6),
        ("stream: rollup rebuilds, writes", w_stream * a.wru / 1e6),
        ("reconciliation reads", r_reconcile * a.rru / 1e6),
        ("sync: per-cycle reads (quiet cycle)", r_sync_cycles * a.rru / 1e6),
        ("sync: reads per room written", r_sync_rooms * a.rru / 1e6),
        ("sync: daily full listing reads", r_sync_full * a.rru / 1e6),
        ("sync: per-cycle writes (quiet cycle)", w_sync * a.wru / 1e6),
        ("storage", gb * a.storage),
        ("Lambda (sync cycles and daily listing, stream, reconciliation)",
         gbs * a.gbs + invocations * a.lambda_requests / 1e6),
    ]
    return rows, {"gb": gb, "batches_day": batches_day}


def svg_chart(path, series, title):
    """A log-log line chart of $ per million requests against range length, no dependencies."""
    w, h, ml, mr, mt, mb = 900, 540, 80, 30, 50, 60
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts if y > 0]
    if not xs or not ys:
        return
    x0, x1 = math.log10(0.8), math.log10(max(xs) * 1.25)
    y0, y1 = math.floor(math.log10(min(ys) / 1.5)), math.ceil(math.log10(max(ys) * 1.5))
    px = lambda x: ml + (math.log10(x) - x0) / (x1 - x0) * (w - ml - mr)
    py = lambda y: h - mb - (math.log10(y) - y0) / (y1 - y0) * (h - mt - mb)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="28" font-size="18" text-anchor="middle">{title}</text>']
    for e in range(int(y0), int(y1) + 1):
        y = py(10 ** e)
        out.append(f'<line x1="{ml}" x2="{w - mr}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{ml - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end">${10 ** e:g}</text>')
    for d in sorted(set(xs)):
        x = px(d)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt}" y2="{h - mb}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{h - mb + 18}" font-size="12" text-anchor="middle">{d}</text>')
    out.append(f'<text x="{w / 2}" y="{h - 14}" font-size="13" text-anchor="middle">range (days, log scale)</text>')
    out.append(f'<text x="18" y="{h / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 18 {h / 2})">'
               '$ per million requests (DynamoDB + Lambda, log scale)</text>')
    colours = ["#d62728", "#1f77b4", "#ff7f0e", "#2ca02c"]
    for i, (name, pts) in enumerate(series):
        c = colours[i % len(colours)]
        pts = [(x, y) for x, y in pts if y > 0]
        path_d = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(pts))
        out.append(f'<path d="{path_d}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{c}"/>')
            out.append(f'<text x="{px(x) + 6:.1f}" y="{py(y) - 6:.1f}" font-size="11" fill="{c}">${y:.2f}</text>')
        out.append(f'<line x1="{ml + 20}" x2="{ml + 40}" y1="{mt + 14 + 18 * i}" y2="{mt + 14 + 18 * i}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{ml + 46}" y="{mt + 18 + 18 * i}" font-size="12">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    a = args()
    with open(a.results) as f:
        r = json.load(f)
    size = r["size"]
    label = f"{size // 1000}k" if size < 1_000_000 else f"{size / 1e6:g}M"
    md = []
    w = md.append
    w("# Cost model\n")
    w(f"Generated by `python3 bench/cost_model.py` from `scale-results.json` (the scale run of "
      f"{r['machine']['date']}, commit `{r['machine']['commit']}`: a tenant of {size:,} conversations "
      f"over {r['days']} days). Re-price it with the options (`--help`), e.g. "
      f"`python3 bench/cost_model.py --rru 0.25 --wru 1.25 --rtt-ms 8`.\n")
    w("## Prices and assumptions\n")
    w(f"Prices: us-east-1 list prices as known on {PRICES_DATE}; **check them** before relying on "
      "them (they change, and other regions differ).\n")
    w("| parameter | value |\n|---|---:|")
    for k, v, unit in [
        ("DynamoDB on-demand read request unit", a.rru, "$ per million"),
        ("DynamoDB on-demand write request unit", a.wru, "$ per million"),
        ("DynamoDB storage (Standard)", a.storage, "$ per GB-month"),
        ("Lambda arm64 duration", a.gbs, "$ per GB-second"),
        ("Lambda requests", a.lambda_requests, "$ per million"),
        ("API Gateway HTTP API requests (shown apart)", a.apigw, "$ per million"),
        ("function memory (template.yaml)", a.memory_mb, "MB"),
        ("DynamoDB round trip from Lambda (assumed)", a.rtt_ms, "ms"),
        ("writes per conversation by the sync (assumed)", a.writes_per_conversation, ""),
        ("sync schedule / reconciliation schedule", f"every {a.sync_every_min:g} / {a.reconcile_every_min:g} min", ""),
        ("history kept (storage, the sync's daily full listing)", a.history_years, "years"),
    ]:
        w(f"| {k} | {v} {unit} |")
    w("")
    w("**Lambda duration is not dynalite's wall time**: it is the function's measured CPU per request "
      "(this process's CPU in the benchmark: SDK, decode, fold, format) plus one round trip of "
      f"{a.rtt_ms:g} ms per DynamoDB call made (identity reads included) as if every call were "
      "sequential — an upper bound, since the rollups and raw plans overlap their bucket chains — "
      "rounded up to the ms. RCU are measured: dynalite's `ConsumedCapacity` for every call, which "
      "follows DynamoDB's rule for reads (item sizes summed per page, rounded up to 4 KB, halved "
      "for eventually consistent reads).\n")

    w("## $ per million API requests, by range\n")
    w(f"The {label}/{r['days'] // 365}-year tenant, medians over the seven figures. "
      "DynamoDB = RCU × the RRU price; Lambda = duration × memory × the GB-s price + the request price. "
      f"API Gateway adds ${a.apigw:.2f} per million requests to every row.\n")
    w("| range | plan | departmentId | RCU / request | DynamoDB calls | function CPU | billed duration | DynamoDB $/M | Lambda $/M | total $/M | + API Gateway |")
    w("|---:|---|:---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    chart = {}
    for days in r["ranges"]:
        for plan in ["rollups", "raw"]:
            for dept in [False, True]:
                c = per_request(r, a, size, days, dept, plan)
                if c is None:
                    continue
                if not dept:
                    chart.setdefault(plan, []).append((days, c["total"] * 1e6))
                w(f"| {days} d | {plan} | {'yes' if dept else '–'} | {c['rcu']:.1f} | {c['calls']:.0f} | "
                  f"{c['cpu_ms']:.1f} ms | {c['duration_ms']} ms | ${c['ddb'] * 1e6:.2f} | ${c['lambda'] * 1e6:.2f} | "
                  f"**${c['total'] * 1e6:.2f}** | ${c['total'] * 1e6 + a.apigw:.2f} |")
    w("")
    raw_missing = [d for d in r["ranges"] if not cells(r, size, d, False, "raw")]
    measured_raw = [d for d in r["ranges"] if cells(r, size, d, False, "raw")]
    counts = dict(r.get("range_conversations", []))
    if raw_missing and measured_raw and counts:
        # Raw reads every conversation of the range: RCU and CPU per conversation read from the
        # longest measured raw range, times the conversations of the longer ranges.
        base = measured_raw[-1]
        c = per_request(r, a, size, base, False, "raw")
        items = c["items"] or 1
        w(f"Raw was not measured beyond {r['raw_max_days']} days (a request there takes seconds on "
          f"dynalite). Estimated from the {base}-day raw request's RCU and CPU per conversation read "
          f"({c['rcu'] / items:.4f} RCU, {c['cpu_ms'] / items * 1000:.1f} µs) and the conversations "
          "in the range (pages of 1 MB, i.e. about one DynamoDB call per 4,000 index entries):\n")
        w("| range | conversations | RCU / request (est.) | billed duration (est.) | total $/M (est.) |")
        w("|---:|---:|---:|---:|---:|")
        for d in raw_missing:
            n = counts.get(d) or counts.get(str(d))
            if not n:
                continue
            rcu = c["rcu"] / items * n
            calls = c["calls"] + n / 4000
            ms = math.ceil(c["cpu_ms"] / items * n + calls * a.rtt_ms)
            total = rcu * a.rru / 1e6 + a.memory_mb / 1024 * ms / 1000 * a.gbs + a.lambda_requests / 1e6
            chart.setdefault("raw, estimated", [(base, c["total"] * 1e6)]).append((d, total * 1e6))
            w(f"| {d} d | {n:,} | {rcu:,.0f} | {ms:,} ms | ${total * 1e6:,.2f} |")
        w("")
    w("![cost per request against range length](cost-vs-range.svg)\n")

    w("## $ per tenant-month\n")
    w("A tenant with N conversations a day, synced every minute, with a year of history. Capacity "
      "per unit of work comes from the run (item sizes, the rebuild's RCU per conversation read and "
      "WCU per day); how often the work happens comes from the schedules and the assumptions above. "
      "API requests are not included (multiply the table above by the tenant's requests).\n")
    sizes = [100, 1000, 10000]
    results = {n: tenant_month(r, a, n) for n in sizes}
    w("| component | " + " | ".join(f"{n:,}/day" for n in sizes) + " |")
    w("|---|" + "---:|" * len(sizes))
    names = [name for name, _ in results[sizes[0]][0]]
    for i, name in enumerate(names):
        w(f"| {name} | " + " | ".join(f"${results[n][0][i][1]:.2f}" for n in sizes) + " |")
    totals = {n: sum(v for _, v in results[n][0]) for n in sizes}
    w("| **total** | " + " | ".join(f"**${totals[n]:.2f}**" for n in sizes) + " |")
    w("| storage held (GB) | " + " | ".join(f"{results[n][1]['gb']:.2f}" for n in sizes) + " |")
    w("")
    w("### What dominates, and the cheapest lever\n")
    for n in sizes:
        rows = sorted(results[n][0], key=lambda x: -x[1])
        top = ", ".join(f"{name} ${v:.2f} ({v / totals[n] * 100:.0f} %)" for name, v in rows[:3])
        w(f"- **{n:,}/day**: {top}.")
    w("")
    w("Levers, per component:\n")
    w("- *Sync's fixed cost per cycle* (quiet tenants): the schedule. `SyncSchedule` at 5 minutes "
      "divides the per-cycle reads, writes and invocations by 5; the answers lag by up to 5 minutes.")
    w("- *Sync's daily full listing* (old, large tenants): once a day it pages through every room "
      "Rocket.Chat has (100 a request) and every stored room's key (byMonth) — it grows with "
      "history, not with traffic, and its Lambda time (waiting for Rocket.Chat) outweighs its "
      "reads. Listing weekly instead of daily divides it by 7.")
    w("- *Stream rebuilds, writes* (the largest item from 100 to 1,000 a day): every stream batch "
      "that touches today rewrites all of today's rollup items (about 48 a day here, ~1 KB each, so "
      "2 WRU apiece with 40 agents), though one conversation changes only its 7 figures in 2 "
      "scopes. Cheapest levers: rebuild today at most once every few minutes (a larger "
      "`MaximumBatchingWindowInSeconds`, now 1 s, or a minimum interval per day), and put only "
      "the items whose tallies changed; smaller rollup items (shorter attribute names in the "
      "per-agent maps) halve the WRU per item.")
    w("- *Stream rebuilds, reads* and the *reconciliation*: each reads the whole day from byMonth, "
      "so a busy day's reads grow with the square of its volume (rebuilds × conversations); the "
      "same batching lever bounds them.")
    w("- *Conversation writes*: 1 WRU per KB per table and index; rooms are written twice (opened, "
      "closed). Writing only closed rooms halves it; the byDepartmentMonth index is already sparse.")
    w("- *API requests*: cost is linear in the days of the range (RCU per day: rollup item size × "
      "(1 + departments' share)); a 3,650-day request reads every daily rollup item and day state. "
      "Monthly rollup items for whole months would cut a 3,650-day request's reads about 30×; "
      "smaller rollup items cut every range. Below 30 days, Lambda's and API Gateway's per-request "
      "prices dominate, and raw costs 5–7× rollups at 30 days, far more beyond.")
    w("")
    with open(os.path.join(a.out, "cost.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    series = [(f"{plan} (no departmentId)", pts) for plan, pts in chart.items()]
    svg_chart(os.path.join(a.out, "cost-vs-range.svg"), series,
              f"$ per million API requests, {label} conversations over {r['days']} days")
    print(f"wrote {os.path.join(a.out, 'cost.md')} and cost-vs-range.svg", file=sys.stderr)


if __name__ == "__main__":
    main()
