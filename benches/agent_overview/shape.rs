//! The scale profile's tenant: `generate-demo`'s conversations (the same field distributions),
//! placed on days with a realistic shape instead of uniformly: weekdays busier than weekends,
//! growth over the years, a dip over the year's end. Deterministic: the same parameters give the
//! same conversations, in day order (as an export sorted by `ts` would give them).

use agent_overview::admin::demo::{demo_conversations, DemoParams};
use agent_overview::domain::conversation::Conversation;
use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};

const DAY_MS: i64 = 86_400_000;

/// The weight of one day: weekday × growth (×4 over 10 years, ~15 %/year) × season.
pub fn day_weight(day: NaiveDate, first: NaiveDate) -> f64 {
    let weekday = match day.weekday() {
        Weekday::Sat => 0.40,
        Weekday::Sun => 0.30,
        Weekday::Mon => 1.10,
        _ => 1.0,
    };
    let years = (day - first).num_days() as f64 / 365.25;
    let growth = 4f64.powf(years / 10.0);
    let season = if (day.month() == 12 && day.day() >= 22) || (day.month() == 1 && day.day() <= 2) {
        0.5
    } else {
        1.0
    };
    weekday * growth * season
}

/// How many of `total` conversations fall on each of the `days` days ending with `end`
/// (largest remainders, so they add up to `total` exactly).
pub fn daily_counts(total: u32, days: u32, end: NaiveDate) -> Vec<u32> {
    let first = end - TimeDelta::days(i64::from(days) - 1);
    let weights: Vec<f64> = (0..days)
        .map(|d| day_weight(first + TimeDelta::days(i64::from(d)), first))
        .collect();
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * f64::from(total)).collect();
    let mut counts: Vec<u32> = exact.iter().map(|e| e.floor() as u32).collect();
    let short = total - counts.iter().sum::<u32>();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    for &i in order.iter().take(short as usize) {
        counts[i] += 1;
    }
    counts
}

/// The demo's conversations of `params`, each moved to its shaped day (keeping its time of
/// day), in day order.
pub fn shaped_conversations(params: &DemoParams) -> impl Iterator<Item = Conversation> {
    let first = params.end - TimeDelta::days(i64::from(params.days) - 1);
    let first_ms = first
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis();
    let counts = daily_counts(params.conversations, params.days, params.end);
    let days = counts
        .into_iter()
        .enumerate()
        .flat_map(|(d, n)| std::iter::repeat_n(d as i64, n as usize));
    demo_conversations(params).zip(days).map(move |(mut c, d)| {
        c.ts_ms = first_ms + d * DAY_MS + c.ts_ms.rem_euclid(DAY_MS);
        c
    })
}
