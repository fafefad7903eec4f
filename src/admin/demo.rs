//! Demo conversations: deterministic for a seed, shaped like a real help desk. Durations and
//! response times are log-normal (most chats short, a long tail), agents' workloads are
//! skewed, and some rooms are open, unserved, unanswered, without a department, or have a
//! metric that is missing or 0 — the cases the figures treat specially.

use std::f64::consts::TAU;

use crate::dynamo::Client;
use chrono::{NaiveDate, TimeDelta};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::TableNames;
use crate::domain::clock::Clock;
use crate::domain::conversation::Conversation;
use crate::domain::identity::{TenantId, TenantSettings};
use crate::dynamo::identity_writes::put_settings;
use crate::dynamo::items::{conversation_item, MalformedItem};
use crate::dynamo::writer::{WriteError, WriterOptions};
use crate::rollups::ingest::ConversationWriter;
use crate::rollups::rebuild::RebuildSummary;
use crate::store::StoreError;

use crate::rollups::ingest::DaySpan;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoParams {
    pub conversations: u32,
    /// Conversations start within this many days, ending with `end` (UTC days).
    pub days: u32,
    pub agents: u32,
    pub departments: u32,
    pub seed: u64,
    /// The last day, inclusive.
    pub end: NaiveDate,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("--days must be at least 1")]
    NoDays,
    #[error("--days {days} before {end} reaches outside the supported dates")]
    OutOfRange { days: u32, end: NaiveDate },
    #[error("a generated conversation cannot be stored")]
    Item(#[source] MalformedItem),
    #[error("writing conversations failed")]
    Write(#[source] WriteError),
    #[error("writing the default settings failed")]
    Settings(#[source] StoreError),
    #[error("rebuilding the rollups of the demo days failed")]
    Rollups(#[source] StoreError),
}

impl DemoParams {
    pub fn validate(&self) -> Result<(), DemoError> {
        if self.days == 0 {
            return Err(DemoError::NoDays);
        }
        self.first_day_start_ms()
            .map(|_| ())
            .ok_or(DemoError::OutOfRange {
                days: self.days,
                end: self.end,
            })
    }

    /// 00:00 UTC of the first of the `days` days.
    fn first_day_start_ms(&self) -> Option<i64> {
        let first = self
            .end
            .checked_sub_signed(TimeDelta::days(i64::from(self.days) - 1))?;
        first
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
    }
}

/// Usernames for demo agents, in order of decreasing workload.
const NAMES: [&str; 16] = [
    "kim", "jane", "omar", "baek", "li_wei", "zoe", "ana", "raj", "sofia", "mateo", "yuki",
    "amara", "lars", "noor", "diego", "ines",
];

/// Meteor's id alphabet (`Random.id()`), so demo ids look like Rocket.Chat's.
const ID_CHARS: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";

fn agent_name(i: u32) -> String {
    let base = NAMES[i as usize % NAMES.len()];
    match i as usize / NAMES.len() {
        0 => base.to_string(),
        round => format!("{base}.{}", round + 1),
    }
}

fn meteor_id(rng: &mut StdRng) -> String {
    (0..17)
        .map(|_| char::from(ID_CHARS[rng.random_range(0..ID_CHARS.len())]))
        .collect()
}

/// The demo's conversations, computed without I/O; the same parameters always give the same
/// sequence. Invalid parameters (see [`DemoParams::validate`]) give an empty sequence.
pub fn demo_conversations(params: &DemoParams) -> impl Iterator<Item = Conversation> {
    let mut rng = StdRng::seed_from_u64(params.seed);
    let start_ms = params.first_day_start_ms().filter(|_| params.days > 0);
    let count = if start_ms.is_some() {
        params.conversations
    } else {
        0
    };
    let departments: Vec<String> = (0..params.departments)
        .map(|_| meteor_id(&mut rng))
        .collect();
    let agents: Vec<String> = (0..params.agents).map(agent_name).collect();
    // Zipf-like workload: agent k gets a share proportional to 1 / (k + 1)^0.8.
    let mut cumulative = Vec::with_capacity(agents.len());
    let mut total = 0.0;
    for k in 0..agents.len() {
        total += 1.0 / ((k + 1) as f64).powf(0.8);
        cumulative.push(total);
    }
    let generator = Generator {
        rng,
        start_ms: start_ms.unwrap_or(0),
        days: params.days,
        agents,
        cumulative,
        departments,
    };
    generator.take(count as usize)
}

struct Generator {
    rng: StdRng,
    start_ms: i64,
    days: u32,
    agents: Vec<String>,
    cumulative: Vec<f64>,
    departments: Vec<String>,
}

const DAY_MS: i64 = 86_400_000;

impl Generator {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// Standard normal by Box–Muller.
    fn normal(&mut self) -> f64 {
        let u1: f64 = 1.0 - self.rng.random::<f64>(); // (0, 1]: ln is finite
        let u2: f64 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
    }

    fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Seconds with millisecond precision, as Rocket.Chat derives them from two dates.
    fn seconds(&mut self, median: f64, sigma: f64) -> f64 {
        (self.log_normal(median, sigma) * 1000.0).round() / 1000.0
    }

    /// A metric that is sometimes missing or 0, as in real exports.
    fn metric(&mut self, median: f64, sigma: f64, missing: f64, zero: f64) -> Option<f64> {
        if self.chance(missing) {
            None
        } else if self.chance(zero) {
            Some(0.0)
        } else {
            Some(self.seconds(median, sigma))
        }
    }

    fn pick_agent(&mut self) -> Option<String> {
        let total = *self.cumulative.last()?;
        let x = self.rng.random::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        self.agents.get(i.min(self.agents.len() - 1)).cloned()
    }

    /// Mostly business hours (around 13:00 UTC), some around the clock.
    fn time_of_day_ms(&mut self) -> i64 {
        let hours = if self.chance(0.8) {
            (13.0 + 3.0 * self.normal()).clamp(0.0, 23.999)
        } else {
            self.rng.random::<f64>() * 24.0
        };
        (hours * 3_600_000.0) as i64
    }
}

impl Iterator for Generator {
    type Item = Conversation;

    fn next(&mut self) -> Option<Conversation> {
        let room_id = meteor_id(&mut self.rng);
        let day = self.rng.random_range(0..self.days);
        let ts_ms = self.start_ms + i64::from(day) * DAY_MS + self.time_of_day_ms();
        let last_day = day + 1 == self.days;
        let department_id = if !self.departments.is_empty() && self.chance(0.85) {
            let i = self.rng.random_range(0..self.departments.len());
            Some(self.departments[i].clone())
        } else {
            None
        };
        let agent = if self.chance(0.94) {
            self.pick_agent()
        } else {
            None
        };
        let open = self.chance(if last_day { 0.4 } else { 0.03 });
        let mut c = Conversation {
            department_id,
            open: Some(open),
            ..Conversation::new(room_id, ts_ms)
        };
        let Some(agent) = agent else {
            // Nobody took the chat: no agent, no response, no metrics.
            return Some(c);
        };
        if self.chance(0.9) {
            // After a transfer the first response may come from someone else.
            c.responder = if self.chance(0.95) {
                Some(agent.clone())
            } else {
                self.pick_agent()
            };
            c.first_response = self.metric(40.0, 1.0, 0.02, 0.02);
            c.avg_response = self.metric(75.0, 0.8, 0.03, 0.01);
        }
        c.first_reaction = self.metric(12.0, 1.1, 0.05, 0.05);
        if !open {
            c.chat_duration = self.metric(540.0, 0.9, 0.03, 0.03);
        }
        c.agent_messages = if self.chance(0.05) {
            0
        } else {
            self.log_normal(7.0, 0.7).round().clamp(1.0, 500.0) as u32
        };
        c.agent = Some(agent);
        Some(c)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub tenant: TenantId,
    pub conversations: u64,
    /// Whether default settings were written (the tenant had none).
    pub wrote_settings: bool,
    /// The rollups of the demo's days, rebuilt after writing the conversations.
    pub rollups: RebuildSummary,
}

impl std::fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "tenant {}: {} demo conversations written{}; rollups of {} days rebuilt",
            self.tenant,
            self.conversations,
            if self.wrote_settings {
                "; default settings (server zone) written"
            } else {
                ""
            },
            self.rollups.days
        )
    }
}

impl super::Report for DemoSummary {}

/// Writes the demo conversations into `tenant`, and server-zone settings if it has none; then
/// rebuilds the rollups of the days written (`clock` stamps the days' leases and the rebuild).
pub async fn write_demo(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    params: &DemoParams,
    writer: WriterOptions,
    clock: Clock,
) -> Result<DemoSummary, DemoError> {
    let tenant_id = tenant;
    let tenant = tenant.as_str();
    params.validate()?;
    let wrote_settings = put_settings(
        client,
        &names.directory,
        tenant,
        &TenantSettings::default(),
        true,
    )
    .await
    .map_err(DemoError::Settings)?;
    let mut out = ConversationWriter::new(client, names, writer, clock.clone());
    let mut days = DaySpan::default();
    for c in demo_conversations(params) {
        let item = conversation_item(tenant, &c).map_err(DemoError::Item)?;
        days.include(c.ts_ms);
        out.put(item).await.map_err(DemoError::Write)?;
    }
    let conversations = out.finish().await.map_err(DemoError::Write)?;
    let rollups = days
        .rebuild(client, names, tenant, clock)
        .await
        .map_err(DemoError::Rollups)?;
    Ok(DemoSummary {
        tenant: tenant_id.clone(),
        conversations,
        wrote_settings,
        rollups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(seed: u64) -> DemoParams {
        DemoParams {
            conversations: 2000,
            days: 90,
            agents: 8,
            departments: 3,
            seed,
            end: NaiveDate::from_ymd_opt(2024, 3, 31).unwrap(),
        }
    }

    #[test]
    fn same_seed_same_conversations() {
        let a: Vec<_> = demo_conversations(&params(42)).collect();
        let b: Vec<_> = demo_conversations(&params(42)).collect();
        assert_eq!(a.len(), 2000);
        assert_eq!(a, b);
    }

    #[test]
    fn different_seed_different_conversations() {
        let a: Vec<_> = demo_conversations(&params(42)).collect();
        let b: Vec<_> = demo_conversations(&params(43)).collect();
        assert_ne!(a, b);
        assert_ne!(a[0].room_id, b[0].room_id);
    }

    #[test]
    fn conversations_fall_within_the_days_ending_at_end() {
        let p = params(7);
        let first = NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        let start = first
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let end = NaiveDate::from_ymd_opt(2024, 4, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let all: Vec<_> = demo_conversations(&p).collect();
        assert!(all.iter().all(|c| c.ts_ms >= start && c.ts_ms < end));
        let ids: std::collections::HashSet<_> = all.iter().map(|c| &c.room_id).collect();
        assert_eq!(ids.len(), all.len(), "room ids are unique");
    }

    #[test]
    fn every_special_case_appears() {
        let all: Vec<_> = demo_conversations(&params(42)).collect();
        let count = |f: &dyn Fn(&Conversation) -> bool| all.iter().filter(|c| f(c)).count();
        assert!(count(&|c| c.agent.is_none()) > 0, "unserved");
        assert!(
            count(&|c| c.agent.is_some() && c.responder.is_none()) > 0,
            "unanswered"
        );
        assert!(count(&|c| c.open == Some(true)) > 0, "open");
        assert!(count(&|c| c.department_id.is_none()) > 0, "no department");
        assert!(count(&|c| c.chat_duration == Some(0.0)) > 0, "duration 0");
        assert!(
            count(&|c| c.agent.is_some() && c.first_reaction.is_none()) > 0,
            "metric missing"
        );
        assert!(
            count(&|c| c.agent.is_some() && c.agent_messages == 0) > 0,
            "no agent message"
        );
        let agents: std::collections::HashSet<_> =
            all.iter().filter_map(|c| c.agent.clone()).collect();
        assert_eq!(agents.len(), 8);
        let departments: std::collections::HashSet<_> =
            all.iter().filter_map(|c| c.department_id.clone()).collect();
        assert_eq!(departments.len(), 3);
    }

    #[test]
    fn distributions_are_skewed_like_real_ones() {
        let all: Vec<_> = demo_conversations(&params(42)).collect();
        let mut durations: Vec<f64> = all
            .iter()
            .filter_map(|c| c.chat_duration)
            .filter(|d| *d > 0.0)
            .collect();
        durations.sort_by(f64::total_cmp);
        let median = durations[durations.len() / 2];
        let mean = durations.iter().sum::<f64>() / durations.len() as f64;
        assert!((300.0..900.0).contains(&median), "median {median}");
        assert!(mean > median, "a long tail pulls the mean above the median");
        let by = |name: &str| {
            all.iter()
                .filter(|c| c.agent.as_deref() == Some(name))
                .count()
        };
        assert!(
            by("kim") > 2 * by("raj"),
            "the first agent carries more than the last"
        );
    }

    #[test]
    fn agent_names_stay_unique_beyond_the_list() {
        let names: std::collections::HashSet<_> = (0..40).map(agent_name).collect();
        assert_eq!(names.len(), 40);
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let mut p = params(1);
        p.days = 0;
        assert!(matches!(p.validate(), Err(DemoError::NoDays)));
        assert_eq!(demo_conversations(&p).count(), 0);
    }
}
