//! Comparing a day's stored rollups with the ones its conversations give: pure, so every kind of
//! drift is tested without a table.
//!
//! Only what changes an answer (or a later rebuild's ability to clear a department) counts: a
//! missing figure item where nothing is expected reads the same as a tombstone, and a department
//! list that names more than is left is what the stream's rebuild keeps on purpose.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::aggregate::Tally;
use crate::domain::figure::Figure;
use crate::domain::rollup::{DayRollup, Scope};

/// One figure's tallies for one scope and day, by agent.
pub type Tallies = BTreeMap<String, Tally>;

/// A day's rollups as the table holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredDay {
    /// Figure items present, by scope and figure (absent: no item).
    pub figures: HashMap<(Scope, Figure), Tallies>,
    /// The department list of the day's state item; `None` when there is no state item.
    pub departments: Option<Vec<String>>,
    /// A state item that says the rollups were not rebuilt since the day's last settled change:
    /// `(changed, built)`.
    pub unbuilt: Option<(u64, Option<u64>)>,
    /// The state is not clean: readers take the day raw, so its items answer nothing.
    pub dirty: bool,
}

impl StoredDay {
    /// The departments this day's stored items mention, listed or with figure items.
    pub fn departments_seen(&self) -> BTreeSet<String> {
        let listed = self.departments.iter().flatten().cloned();
        let with_items = self.figures.keys().filter_map(|(scope, _)| match scope {
            Scope::Department(d) => Some(d.clone()),
            Scope::All => None,
        });
        listed.chain(with_items).collect()
    }
}

/// What differs in one (day, scope, figure), or in the day's department list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub day: NaiveDate,
    /// `ALL` or the department id.
    pub scope: String,
    /// The figure's name, or `DEPARTMENTS` for the department list.
    pub figure: String,
    /// One line per difference, e.g. `kim: count stored 3, expected 4`.
    pub differences: Vec<String>,
}

pub fn scope_label(scope: &Scope) -> String {
    match scope {
        Scope::All => "ALL".into(),
        Scope::Department(d) => format!("department {d}"),
    }
}

/// The scopes a day's comparison covers (and its repair rebuilds): `ALL`, and every department
/// either side knows.
pub fn scopes_of(expected: &DayRollup, stored: &StoredDay) -> BTreeSet<Scope> {
    let mut scopes: BTreeSet<Scope> = BTreeSet::from([Scope::All]);
    scopes.extend(
        expected
            .departments()
            .into_iter()
            .chain(stored.departments_seen())
            .map(Scope::Department),
    );
    scopes
}

/// Every difference between `stored` and the rollups `expected` from the day's conversations.
/// A dirty day is read raw, so its items and department list cannot make an answer wrong: only
/// its staying unbuilt past the settle time is drift (a fresh change is the stream's to rebuild,
/// and an overflowed day's list is recorded only when it settles).
pub fn diff_day(day: NaiveDate, expected: &DayRollup, stored: &StoredDay) -> Vec<Drift> {
    let mut drifts = Vec::new();
    if stored.dirty {
        drifts.extend(unbuilt_drift(day, stored));
        return drifts;
    }
    for scope in &scopes_of(expected, stored) {
        for figure in Figure::ALL {
            let want: Tallies = expected
                .scope(scope)
                .map(|t| {
                    t.figure(figure)
                        .tallies()
                        .map(|(agent, tally)| (agent.to_string(), *tally))
                        .collect()
                })
                .unwrap_or_default();
            let differences = match stored.figures.get(&(scope.clone(), figure)) {
                None if want.is_empty() => Vec::new(),
                None => vec![format!("no rollup item (expected {} agent(s))", want.len())],
                Some(have) => diff_tallies(have, &want),
            };
            if !differences.is_empty() {
                drifts.push(Drift {
                    day,
                    scope: scope_label(scope),
                    figure: figure.name().into(),
                    differences,
                });
            }
        }
    }
    if let Some(drift) = unbuilt_drift(day, stored) {
        drifts.push(drift);
    } else if stored.departments.is_none() && expected.scope(&Scope::All).is_some() {
        drifts.push(Drift {
            day,
            scope: scope_label(&Scope::All),
            figure: "STATE".into(),
            differences: vec!["no state item (the day is read raw until rebuilt)".into()],
        });
    }
    let unlisted: Vec<String> = expected
        .departments()
        .into_iter()
        .filter(|d| !stored.departments.iter().flatten().any(|l| l == d))
        .collect();
    if !unlisted.is_empty() {
        drifts.push(Drift {
            day,
            scope: scope_label(&Scope::All),
            figure: "DEPARTMENTS".into(),
            differences: unlisted
                .iter()
                .map(|d| format!("department {d} is not listed"))
                .collect(),
        });
    }
    drifts
}

fn unbuilt_drift(day: NaiveDate, stored: &StoredDay) -> Option<Drift> {
    let (changed, built) = stored.unbuilt?;
    let built = built.map_or("never".to_string(), |b| b.to_string());
    Some(Drift {
        day,
        scope: scope_label(&Scope::All),
        figure: "STATE".into(),
        differences: vec![format!(
            "not rebuilt since its last change (changed {changed}, built {built})"
        )],
    })
}

/// Per agent: missing, unexpected, or which of its numbers differ.
fn diff_tallies(have: &Tallies, want: &Tallies) -> Vec<String> {
    let agents: BTreeSet<&String> = have.keys().chain(want.keys()).collect();
    let mut out = Vec::new();
    for agent in agents {
        match (have.get(agent), want.get(agent)) {
            (Some(h), Some(w)) if h == w => {}
            (Some(h), Some(w)) => {
                let fields = [
                    ("count", h.count.to_string(), w.count.to_string()),
                    ("sum", sum_text(h, w), sum_text(w, h)),
                    ("min", min_text(h), min_text(w)),
                    ("messages", h.messages.to_string(), w.messages.to_string()),
                    (
                        "first ts",
                        h.first_ts_ms.to_string(),
                        w.first_ts_ms.to_string(),
                    ),
                ];
                for (name, h, w) in fields.into_iter().filter(|(_, h, w)| h != w) {
                    out.push(format!("{agent}: {name} stored {h}, expected {w}"));
                }
            }
            (Some(h), None) => out.push(format!(
                "{agent}: stored ({}) but not expected",
                tally_text(h)
            )),
            (None, Some(w)) => out.push(format!("{agent}: missing (expected {})", tally_text(w))),
            (None, None) => {}
        }
    }
    out
}

/// A tally's numbers that are set, for an agent only one side has.
fn tally_text(t: &Tally) -> String {
    let mut parts = vec![format!("count {}", t.count)];
    if t.sum != Default::default() {
        parts.push(format!("sum {:?}", t.sum.to_f64()));
    }
    if t.min_bits.is_some() {
        parts.push(format!("min {}", min_text(t)));
    }
    if t.messages != 0 {
        parts.push(format!("messages {}", t.messages));
    }
    parts.join(", ")
}

/// The sum as a number people read, or exactly (units of 2^-80) when `other`'s differs only
/// beyond a double's precision.
fn sum_text(t: &Tally, other: &Tally) -> String {
    if t.sum.to_f64() == other.sum.to_f64() {
        format!("{} (x 2^-80)", t.sum.to_decimal_string())
    } else {
        format!("{:?}", t.sum.to_f64())
    }
}

fn min_text(t: &Tally) -> String {
    t.min().map_or("none".into(), |m| format!("{m:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::Conversation;

    const DAY_MS: i64 = 1_709_251_200_000; // 2024-03-01T00:00Z

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
    }

    fn room(id: &str, dept: Option<&str>, agent: &str, duration: f64) -> Conversation {
        Conversation {
            department_id: dept.map(str::to_string),
            agent: Some(agent.into()),
            responder: Some(agent.into()),
            chat_duration: Some(duration),
            first_response: Some(duration / 2.0),
            avg_response: Some(duration / 3.0),
            first_reaction: Some(duration / 4.0),
            agent_messages: 2,
            ..Conversation::new(id, DAY_MS + 60_000)
        }
    }

    fn rollup(rooms: &[Conversation]) -> DayRollup {
        let mut d = DayRollup::new();
        rooms.iter().for_each(|c| d.add(c).unwrap());
        d
    }

    /// What a correct rebuild of `rooms` stores.
    fn stored(rooms: &[Conversation]) -> StoredDay {
        let d = rollup(rooms);
        let mut scopes = vec![Scope::All];
        scopes.extend(d.departments().into_iter().map(Scope::Department));
        let mut figures = HashMap::new();
        for scope in scopes {
            for figure in Figure::ALL {
                let t = d.scope(&scope).unwrap().figure(figure);
                let tallies = t.tallies().map(|(a, t)| (a.to_string(), *t)).collect();
                figures.insert((scope.clone(), figure), tallies);
            }
        }
        StoredDay {
            figures,
            departments: Some(d.departments()),
            unbuilt: None,
            dirty: false,
        }
    }

    fn rooms() -> Vec<Conversation> {
        vec![
            room("r1", Some("sales"), "kim", 30.0),
            room("r2", None, "jane", 12.5),
            room("r3", Some("sales"), "jane", 7.0),
        ]
    }

    #[test]
    fn a_faithful_copy_has_no_drift() {
        assert_eq!(diff_day(day(), &rollup(&rooms()), &stored(&rooms())), []);
    }

    #[test]
    fn an_empty_day_without_items_has_no_drift() {
        assert_eq!(
            diff_day(day(), &DayRollup::new(), &StoredDay::default()),
            []
        );
    }

    #[test]
    fn a_missing_item_names_day_scope_and_figure() {
        let mut s = stored(&rooms());
        s.figures
            .remove(&(Scope::Department("sales".into()), Figure::AvgChatDuration));
        let drifts = diff_day(day(), &rollup(&rooms()), &s);
        assert_eq!(
            drifts,
            [Drift {
                day: day(),
                scope: "department sales".into(),
                figure: "Avg_chat_duration".into(),
                differences: vec!["no rollup item (expected 2 agent(s))".into()],
            }]
        );
    }

    #[test]
    fn a_wrong_tally_names_agent_and_number() {
        let mut s = stored(&rooms());
        let t = s
            .figures
            .get_mut(&(Scope::All, Figure::TotalConversations))
            .unwrap();
        t.get_mut("kim").unwrap().count = 5;
        let drifts = diff_day(day(), &rollup(&rooms()), &s);
        assert_eq!(drifts.len(), 1);
        assert_eq!(drifts[0].scope, "ALL");
        assert_eq!(drifts[0].figure, "Total_conversations");
        assert_eq!(drifts[0].differences, ["kim: count stored 5, expected 1"]);
    }

    #[test]
    fn rollups_left_where_nothing_is_expected_are_drift() {
        // The stored rollups still count a room that has since been deleted.
        let now: Vec<_> = rooms().into_iter().filter(|c| c.room_id != "r2").collect();
        let drifts = diff_day(day(), &rollup(&now), &stored(&rooms()));
        assert!(!drifts.is_empty());
        assert!(drifts.iter().all(|d| d.scope == "ALL"), "{drifts:?}");
        let total = drifts
            .iter()
            .find(|d| d.figure == "Total_conversations")
            .unwrap();
        assert_eq!(total.differences, ["jane: count stored 2, expected 1"]);
        // A department that only the stored side knows is checked too.
        let moved = vec![room("r1", Some("support"), "kim", 30.0)];
        let drifts = diff_day(day(), &rollup(&moved), &stored(&rooms()));
        assert!(drifts.iter().any(|d| d.scope == "department sales"));
    }

    #[test]
    fn a_day_not_rebuilt_since_its_last_change_or_without_state_is_drift() {
        let mut s = stored(&rooms());
        s.unbuilt = Some((5, Some(4)));
        let drifts = diff_day(day(), &rollup(&rooms()), &s);
        assert_eq!(drifts.len(), 1);
        assert_eq!(drifts[0].figure, "STATE");
        assert_eq!(
            drifts[0].differences,
            ["not rebuilt since its last change (changed 5, built 4)"]
        );
        let mut s = stored(&rooms());
        s.departments = None;
        let drifts = diff_day(day(), &rollup(&rooms()), &s);
        assert!(drifts.iter().any(|d| d.figure == "STATE"), "{drifts:?}");
    }

    #[test]
    fn a_dirty_day_is_drift_only_once_it_stays_unbuilt() {
        // Fresh: items that miss a write and a department not listed yet are the stream's
        // (or, overflowed, the settle rebuild's) to fix; readers take the day raw meanwhile.
        let mut s = stored(&rooms());
        s.dirty = true;
        s.departments = Some(vec![]);
        let moved = vec![room("r1", Some("support"), "kim", 30.0)];
        assert_eq!(diff_day(day(), &rollup(&moved), &s), []);
        s.unbuilt = Some((5, None));
        let drifts = diff_day(day(), &rollup(&moved), &s);
        assert_eq!(drifts.len(), 1);
        assert_eq!(drifts[0].figure, "STATE");
    }

    #[test]
    fn an_unlisted_department_is_drift_but_an_extra_one_is_not() {
        let mut s = stored(&rooms());
        s.departments = Some(vec![]);
        let drifts = diff_day(day(), &rollup(&rooms()), &s);
        assert_eq!(drifts.len(), 1);
        assert_eq!(drifts[0].figure, "DEPARTMENTS");
        let mut s = stored(&rooms());
        s.departments = Some(vec!["old".into(), "sales".into()]);
        assert_eq!(diff_day(day(), &rollup(&rooms()), &s), []);
    }
}
