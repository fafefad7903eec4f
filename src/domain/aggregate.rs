//! Folding conversations into per-agent tallies, and turning tallies into Rocket.Chat's rows.
//!
//! Every tally is mergeable (counts, exact sums, minima, earliest timestamps), so partial
//! results folded from concurrent query pages, in any order, give byte-identical answers.

use std::collections::HashMap;

use super::exact_sum::{ExactSum, SumOutOfRange};
use super::figure::{Combine, Figure};
use super::format::{duration_value, js_parse_float, percent_value};

/// What one agent has accumulated for one figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Conversations counted (share, mean).
    pub count: u64,
    /// Exact sum of metric values (mean).
    pub sum: ExactSum,
    /// Smallest truthy metric, as f64 bits (minimum); `None` when none was counted.
    pub min_bits: Option<u64>,
    /// Sum of `max(agentMessages, 1)` (messages).
    pub messages: u64,
    /// Start time of the agent's first counted conversation: the tie-break of the sort.
    pub first_ts_ms: i64,
}

impl Tally {
    fn new(ts_ms: i64) -> Self {
        Self {
            count: 0,
            sum: ExactSum::default(),
            min_bits: None,
            messages: 0,
            first_ts_ms: ts_ms,
        }
    }

    pub fn min(&self) -> Option<f64> {
        self.min_bits.map(f64::from_bits)
    }

    pub fn merge(&mut self, other: &Tally) -> Result<(), SumOutOfRange> {
        self.count += other.count;
        self.sum.merge(other.sum)?;
        if let Some(m) = other.min() {
            self.take_min(m);
        }
        self.messages += other.messages;
        self.first_ts_ms = self.first_ts_ms.min(other.first_ts_ms);
        Ok(())
    }

    fn take_min(&mut self, x: f64) {
        if self.min().is_none_or(|m| x < m) {
            self.min_bits = Some(x.to_bits());
        }
    }
}

/// JavaScript truthiness of a metric: missing, 0 and NaN are skipped.
fn truthy(metric: Option<f64>) -> Option<f64> {
    metric.filter(|x| *x != 0.0 && !x.is_nan())
}

/// Per-agent tallies of one figure over one range.
#[derive(Debug, Clone)]
pub struct Aggregator {
    figure: Figure,
    tallies: HashMap<String, Tally>,
}

/// One row of `data`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    pub name: String,
    pub value: String,
}

impl Aggregator {
    pub fn new(figure: Figure) -> Self {
        Self {
            figure,
            tallies: HashMap::new(),
        }
    }

    pub fn figure(&self) -> Figure {
        self.figure
    }

    /// Folds one conversation. `agent` is the username of the figure's agent field (absent:
    /// the conversation is skipped); `metric` is the figure's metric field, with
    /// `agentMessages` given as a number.
    pub fn add(
        &mut self,
        ts_ms: i64,
        agent: Option<&str>,
        metric: Option<f64>,
    ) -> Result<(), SumOutOfRange> {
        let Some(agent) = agent else {
            return Ok(());
        };
        let mut one = Tally::new(ts_ms);
        match self.figure.combine() {
            Combine::ShareOfTotal => one.count = 1,
            Combine::MessageSum => {
                // Rocket.Chat's lookup + unwind + count yields 1 for a room with no message.
                one.messages = metric.map_or(0, |m| m.max(0.0) as u64).max(1);
            }
            Combine::Mean => {
                let Some(x) = truthy(metric) else {
                    return Ok(());
                };
                one.sum.add(x)?;
                one.count = 1;
            }
            Combine::Minimum => {
                let Some(x) = truthy(metric) else {
                    return Ok(());
                };
                one.min_bits = Some(x.to_bits());
            }
        }
        self.merge_agent(agent, &one)
    }

    /// Adds a pre-aggregated tally (a rollup or another partial fold) for an agent.
    pub fn merge_tally(&mut self, agent: &str, tally: &Tally) -> Result<(), SumOutOfRange> {
        self.merge_agent(agent, tally)
    }

    /// Merges another aggregator of the same figure.
    pub fn merge(&mut self, other: Aggregator) -> Result<(), SumOutOfRange> {
        debug_assert_eq!(self.figure, other.figure);
        for (agent, tally) in &other.tallies {
            self.merge_agent(agent, tally)?;
        }
        Ok(())
    }

    /// The agents' tallies, in no particular order (a rollup stores them).
    pub fn tallies(&self) -> impl Iterator<Item = (&str, &Tally)> {
        self.tallies.iter().map(|(agent, t)| (agent.as_str(), t))
    }

    /// No agent has been counted.
    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty()
    }

    /// The one place tallies combine: a single hash lookup for an agent already met (the
    /// per-item path), and a key allocation only for a new one.
    fn merge_agent(&mut self, agent: &str, tally: &Tally) -> Result<(), SumOutOfRange> {
        match self.tallies.get_mut(agent) {
            Some(t) => t.merge(tally),
            None => {
                self.tallies.insert(agent.to_string(), *tally);
                Ok(())
            }
        }
    }

    /// The rows, formatted and sorted as Rocket.Chat does.
    pub fn into_rows(self) -> Vec<Row> {
        let figure = self.figure;
        // Every conversation with an agent is counted for exactly one agent, so the
        // denominator of `Total_conversations` is the sum of the counts.
        let total: u64 = self.tallies.values().map(|t| t.count).sum();
        let mut rows: Vec<(f64, i64, Row)> = self
            .tallies
            .into_iter()
            .filter_map(|(name, t)| {
                let value = match figure.combine() {
                    Combine::ShareOfTotal => percent_value(t.count, total),
                    Combine::MessageSum => t.messages.to_string(),
                    Combine::Mean if t.count > 0 => duration_value(t.sum.to_f64() / t.count as f64),
                    Combine::Minimum => duration_value(t.min()?),
                    Combine::Mean => return None,
                };
                let key = js_parse_float(&value);
                // NaN never arises from these formats; map it to a fixed place so the
                // comparison stays a total order.
                let key = if key.is_nan() { f64::NEG_INFINITY } else { key };
                Some((key, t.first_ts_ms, Row { name, value }))
            })
            .collect();
        // Rocket.Chat's sort is stable over the order agents were first met; we define that
        // order as the first counted conversation's `ts`, then the username.
        rows.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.2.name.cmp(&b.2.name)));
        if figure.sorts_descending() {
            rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        } else {
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        rows.into_iter().map(|(_, _, row)| row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const DAY: i64 = 1_709_251_200_000; // 2024-03-01T00:00:00Z

    /// The spec's worked example (rocketchat-behaviour.md section 4), R1..R4 inside the range.
    struct Room {
        ts: i64,
        served: Option<&'static str>,
        responder: Option<&'static str>,
        chat: Option<f64>,
        ft: Option<f64>,
        avg: Option<f64>,
        reaction: Option<f64>,
        msgs: u32,
    }

    fn rooms() -> Vec<Room> {
        vec![
            Room {
                ts: DAY + 10 * H,
                served: Some("kim"),
                responder: Some("kim"),
                chat: Some(100.0),
                ft: Some(30.0),
                avg: Some(40.0),
                reaction: Some(5.0),
                msgs: 3,
            },
            Room {
                ts: DAY + 11 * H,
                served: Some("jane"),
                responder: Some("jane"),
                chat: Some(7300.0),
                ft: Some(10.0),
                avg: Some(20.0),
                reaction: Some(0.0),
                msgs: 0,
            },
            Room {
                ts: DAY + 12 * H,
                served: Some("kim"),
                responder: Some("jane"),
                chat: Some(0.0),
                ft: Some(50.0),
                avg: Some(60.0),
                reaction: None,
                msgs: 2,
            },
            Room {
                ts: DAY + 13 * H,
                served: None,
                responder: None,
                chat: None,
                ft: None,
                avg: None,
                reaction: None,
                msgs: 4,
            },
        ]
    }

    fn rows(figure: Figure) -> Vec<(String, String)> {
        let mut agg = Aggregator::new(figure);
        for r in rooms() {
            let agent = match figure.agent_field() {
                crate::domain::figure::AgentField::ServedBy => r.served,
                crate::domain::figure::AgentField::ResponseBy => r.responder,
            };
            let metric = match figure.metric_field() {
                crate::domain::figure::MetricField::None => None,
                crate::domain::figure::MetricField::ChatDuration => r.chat,
                crate::domain::figure::MetricField::FirstResponse => r.ft,
                crate::domain::figure::MetricField::AvgResponse => r.avg,
                crate::domain::figure::MetricField::FirstReaction => r.reaction,
                crate::domain::figure::MetricField::AgentMessages => Some(f64::from(r.msgs)),
            };
            agg.add(r.ts, agent, metric).unwrap();
        }
        agg.into_rows()
            .into_iter()
            .map(|r| (r.name, r.value))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn worked_example_total_conversations() {
        assert_eq!(
            rows(Figure::TotalConversations),
            pairs(&[("kim", "66.67%"), ("jane", "33.33%")])
        );
    }

    #[test]
    fn worked_example_avg_chat_duration_sorts_by_hours_descending() {
        assert_eq!(
            rows(Figure::AvgChatDuration),
            pairs(&[("jane", "02:01:40"), ("kim", "00:01:40")])
        );
    }

    #[test]
    fn worked_example_total_messages_counts_at_least_one() {
        assert_eq!(
            rows(Figure::TotalMessages),
            pairs(&[("kim", "5"), ("jane", "1")])
        );
    }

    #[test]
    fn worked_example_first_response_by_responder_ties_by_first_met() {
        assert_eq!(
            rows(Figure::AvgFirstResponseTime),
            pairs(&[("kim", "00:00:30"), ("jane", "00:00:30")])
        );
        assert_eq!(
            rows(Figure::BestFirstResponseTime),
            pairs(&[("kim", "00:00:30"), ("jane", "00:00:10")])
        );
    }

    #[test]
    fn worked_example_avg_response_and_reaction() {
        assert_eq!(
            rows(Figure::AvgResponseTime),
            pairs(&[("kim", "00:00:50"), ("jane", "00:00:20")])
        );
        assert_eq!(rows(Figure::AvgReactionTime), pairs(&[("kim", "00:00:05")]));
    }

    #[test]
    fn no_conversation_gives_no_rows() {
        for f in Figure::ALL {
            assert!(Aggregator::new(f).into_rows().is_empty());
        }
    }

    #[test]
    fn single_agent_has_the_whole_share() {
        let mut agg = Aggregator::new(Figure::TotalConversations);
        agg.add(1, Some("solo"), None).unwrap();
        agg.add(2, Some("solo"), None).unwrap();
        assert_eq!(
            agg.into_rows(),
            vec![Row {
                name: "solo".into(),
                value: "100.00%".into()
            }]
        );
    }

    #[test]
    fn ties_order_by_first_counted_ts_then_username() {
        let mut agg = Aggregator::new(Figure::AvgResponseTime);
        // zed's first conversation is earliest; amy and bob start together.
        agg.add(30, Some("bob"), Some(10.0)).unwrap();
        agg.add(30, Some("amy"), Some(20.0)).unwrap();
        agg.add(10, Some("zed"), Some(30.0)).unwrap();
        // Not counted (metric 0): must not move bob's first ts.
        agg.add(1, Some("bob"), Some(0.0)).unwrap();
        let names: Vec<_> = agg.into_rows().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["zed", "amy", "bob"]);
    }

    #[test]
    fn sort_reads_only_the_hours_of_a_duration() {
        let mut agg = Aggregator::new(Figure::AvgResponseTime);
        agg.add(1, Some("slow"), Some(3599.0)).unwrap(); // 00:59:59 -> 0
        agg.add(2, Some("fast"), Some(1.0)).unwrap(); // 00:00:01 -> 0
        agg.add(3, Some("hours"), Some(3600.0)).unwrap(); // 01:00:00 -> 1
        let names: Vec<_> = agg.into_rows().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["slow", "fast", "hours"]);
    }

    #[test]
    fn merging_partial_folds_equals_one_fold() {
        let values = [1585.352, 0.1, 0.2, 0.3, 59.5, 7300.0, 12.345];
        for f in Figure::ALL {
            let mut whole = Aggregator::new(f);
            let mut left = Aggregator::new(f);
            let mut right = Aggregator::new(f);
            for (i, v) in values.iter().enumerate() {
                let agent = if i % 2 == 0 { "a" } else { "b" };
                whole.add(i as i64, Some(agent), Some(*v)).unwrap();
                let part = if i < 3 { &mut right } else { &mut left };
                part.add(i as i64, Some(agent), Some(*v)).unwrap();
            }
            left.merge(right).unwrap();
            assert_eq!(left.into_rows(), whole.into_rows(), "{f:?}");
        }
    }
}
