//! Daily rollups: one UTC day's conversations folded per scope (every department, or one) and
//! per figure, with the same [`Aggregator`] a request uses. A range's answer merges these
//! per-day tallies; tallies are mergeable and exact, so the merge equals folding the
//! conversations themselves, byte for byte.

use std::collections::BTreeMap;

use super::aggregate::Aggregator;
use super::conversation::Conversation;
use super::exact_sum::SumOutOfRange;
use super::figure::Figure;

/// Which conversations a rollup covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Every conversation, with or without a department (a request without `departmentId`).
    All,
    /// The conversations of one department.
    Department(String),
}

impl Scope {
    /// The scope a request reads.
    pub fn of_request(department_id: Option<&str>) -> Self {
        department_id.map_or(Scope::All, |d| Scope::Department(d.to_string()))
    }
}

/// One scope's seven figures.
#[derive(Debug, Clone)]
pub struct ScopeTallies {
    by_figure: [Aggregator; 7],
}

impl ScopeTallies {
    fn new() -> Self {
        Self {
            by_figure: Figure::ALL.map(Aggregator::new),
        }
    }

    fn add(&mut self, c: &Conversation) -> Result<(), SumOutOfRange> {
        for agg in &mut self.by_figure {
            let figure = agg.figure();
            agg.add(c.ts_ms, c.agent_for(figure), c.metric_for(figure))?;
        }
        Ok(())
    }

    pub fn figure(&self, figure: Figure) -> &Aggregator {
        &self.by_figure[position(figure)]
    }
}

/// Where a figure sits in `Figure::ALL` (and so in `ScopeTallies`).
fn position(figure: Figure) -> usize {
    match figure {
        Figure::TotalConversations => 0,
        Figure::AvgChatDuration => 1,
        Figure::TotalMessages => 2,
        Figure::AvgFirstResponseTime => 3,
        Figure::BestFirstResponseTime => 4,
        Figure::AvgResponseTime => 5,
        Figure::AvgReactionTime => 6,
    }
}

/// The tallies of one UTC day, per scope.
#[derive(Debug, Clone, Default)]
pub struct DayRollup {
    scopes: BTreeMap<Scope, ScopeTallies>,
}

impl DayRollup {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a conversation in `All` and in its department's scope.
    pub fn add(&mut self, c: &Conversation) -> Result<(), SumOutOfRange> {
        self.scope_mut(Scope::All).add(c)?;
        if let Some(d) = &c.department_id {
            self.scope_mut(Scope::Department(d.clone())).add(c)?;
        }
        Ok(())
    }

    fn scope_mut(&mut self, scope: Scope) -> &mut ScopeTallies {
        self.scopes.entry(scope).or_insert_with(ScopeTallies::new)
    }

    /// A scope's tallies; `None` when no conversation of the day belongs to it.
    pub fn scope(&self, scope: &Scope) -> Option<&ScopeTallies> {
        self.scopes.get(scope)
    }

    /// The departments that have conversations this day, in order.
    pub fn departments(&self) -> Vec<String> {
        self.scopes
            .keys()
            .filter_map(|s| match s {
                Scope::Department(d) => Some(d.clone()),
                Scope::All => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(i: u32, ts: i64, dept: Option<&str>, agent: &str, metric: f64) -> Conversation {
        Conversation {
            department_id: dept.map(str::to_string),
            agent: Some(agent.into()),
            responder: Some(agent.into()),
            chat_duration: Some(metric),
            first_response: Some(metric / 3.0),
            avg_response: Some(metric + 0.1),
            first_reaction: Some(metric * 0.7),
            agent_messages: i % 4,
            ..Conversation::new(format!("r{i}"), ts)
        }
    }

    #[test]
    fn merged_days_equal_one_fold_in_every_scope() {
        let rooms: Vec<_> = (0..40)
            .map(|i| {
                let dept = [None, Some("D1"), Some("D2")][i as usize % 3];
                let agent = ["kim", "jane", "omar"][i as usize % 5 % 3];
                room(
                    i,
                    i64::from(i) * 7_200_000,
                    dept,
                    agent,
                    f64::from(i) * 1.37,
                )
            })
            .collect();
        let days: Vec<DayRollup> = rooms
            .chunks(12)
            .map(|chunk| {
                let mut d = DayRollup::new();
                chunk.iter().for_each(|c| d.add(c).unwrap());
                d
            })
            .collect();
        for scope in [
            Scope::All,
            Scope::Department("D1".into()),
            Scope::Department("D2".into()),
        ] {
            for figure in Figure::ALL {
                let mut whole = Aggregator::new(figure);
                for c in &rooms {
                    let in_scope = match &scope {
                        Scope::All => true,
                        Scope::Department(d) => c.department_id.as_deref() == Some(d),
                    };
                    if in_scope {
                        whole
                            .add(c.ts_ms, c.agent_for(figure), c.metric_for(figure))
                            .unwrap();
                    }
                }
                let mut merged = Aggregator::new(figure);
                for day in &days {
                    if let Some(t) = day.scope(&scope) {
                        for (agent, tally) in t.figure(figure).tallies() {
                            merged.merge_tally(agent, tally).unwrap();
                        }
                    }
                }
                assert_eq!(
                    merged.into_rows(),
                    whole.into_rows(),
                    "{scope:?} {figure:?}"
                );
            }
        }
    }

    #[test]
    fn positions_follow_the_list_of_figures() {
        for (i, f) in Figure::ALL.into_iter().enumerate() {
            assert_eq!(position(f), i);
            assert_eq!(ScopeTallies::new().figure(f).figure(), f);
        }
    }

    #[test]
    fn departments_are_listed_once_in_order() {
        let mut d = DayRollup::new();
        for (i, dept) in [Some("b"), None, Some("a"), Some("b")]
            .into_iter()
            .enumerate()
        {
            d.add(&room(i as u32, 1, dept, "kim", 1.0)).unwrap();
        }
        assert_eq!(d.departments(), ["a", "b"]);
        assert!(d.scope(&Scope::All).is_some());
        assert!(d.scope(&Scope::Department("c".into())).is_none());
    }
}
