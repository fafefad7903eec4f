//! The pure middle of a day's rebuild (see [`super`]'s steps): which pending keys the index
//! already shows as the table has them, which scopes get items, and whether the day may be
//! recorded as built. No I/O and no clock: the protocol's reads feed these, its writes follow
//! them, so the decisions are unit-tested here and not only against dynalite.

use std::collections::{BTreeSet, HashMap};

use crate::domain::conversation::Conversation;
use crate::domain::day_state::{DayState, SETTLE_MS};
use crate::domain::range::UtcRange;
use crate::domain::rollup::Scope;

/// Lays the table's copy of each `pending` key over `rooms` (the `byMonth` GSI's answer for
/// `day`): a conversation the table has on the day replaces the index's, one it no longer has
/// there is dropped. Returns the pending keys the index already showed as the table has them
/// (the `confirmed` ones step 5 takes out of `pending`).
pub fn overlay_pending<'a>(
    rooms: &mut HashMap<String, Conversation>,
    pending: impl IntoIterator<Item = &'a String>,
    in_table: &HashMap<String, Conversation>,
    day: UtcRange,
) -> BTreeSet<String> {
    let mut confirmed = BTreeSet::new();
    for pk in pending {
        // The GSI projects no `open`: no figure reads it.
        let now = in_table
            .get(pk)
            .filter(|c| day.contains(c.ts_ms))
            .map(Conversation::figures_only);
        if rooms.get(pk) == now.as_ref() {
            confirmed.insert(pk.clone());
        }
        match now {
            Some(c) => rooms.insert(pk.clone(), c),
            None => rooms.remove(pk),
        };
    }
    confirmed
}

/// What a rebuild of one day writes, and whether it may then record the day as built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPlan {
    /// `All`, the departments present, every department the day listed or ever wrote (a
    /// tombstone once it has nothing), and the caller's extra scopes.
    pub scopes: BTreeSet<Scope>,
    /// `None`: the day stays dirty after the writes (an overflowed day whose last change is
    /// younger than [`SETTLE_MS`], or a writer's live lease).
    pub settle: Option<Settle>,
}

/// What step 5 records besides `built` = v, the departments and the confirmed keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settle {
    /// Some pending key is not yet shown by the index as the table has it: the day stays on
    /// the reconciliation's list (its rollups are exact: they were read from the table).
    pub needs_attention: bool,
    /// The day had overflowed and has settled: the flag goes.
    pub clear_overflow: bool,
    /// Leases of writers that never released them (crashed), dropped with the record.
    pub expired_leases: Vec<String>,
}

/// Decides a day's rebuild from its stored `state`, the departments the computed rollups have
/// (`present`), the `confirmed` pending keys, the `extra` scopes asked for and `now_ms`.
pub fn plan_day(
    state: &DayState,
    present: &BTreeSet<String>,
    confirmed: &BTreeSet<String>,
    extra: &BTreeSet<Scope>,
    now_ms: i64,
) -> DayPlan {
    // Every department ever written is rewritten (a tombstone once it has nothing), even one
    // whose rebuild lost its last step to a mark: no stale tallies stay behind.
    let scopes: BTreeSet<Scope> = std::iter::once(Scope::All)
        .chain(
            present
                .iter()
                .chain(&state.departments)
                .chain(&state.written)
                .map(|d| Scope::Department(d.clone())),
        )
        .chain(extra.iter().cloned())
        .collect();
    let settled = !state.overflow
        || state
            .last_change_at
            .is_some_and(|at| now_ms - at >= SETTLE_MS);
    let (live, expired) = state.leases_at(now_ms);
    // A writer with a write in flight: the day stays dirty until it releases its lease (its
    // release is a mark, and that mark's rebuild follows).
    let settle = (settled && live.is_empty()).then(|| Settle {
        needs_attention: state.pending.difference(confirmed).next().is_some(),
        clear_overflow: state.overflow,
        expired_leases: expired.into_iter().cloned().collect(),
    });
    DayPlan { scopes, settle }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 1_709_251_200_000; // 2024-03-01T00:00Z
    const NOW: i64 = DAY + 3_600_000;

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    fn department(d: &str) -> Scope {
        Scope::Department(d.to_string())
    }

    fn conv(room: &str, ts: i64, agent: &str, open: Option<bool>) -> Conversation {
        Conversation {
            agent: Some(agent.into()),
            open,
            ..Conversation::new(room, ts)
        }
    }

    fn day() -> UtcRange {
        UtcRange {
            start_ms: DAY,
            end_ms: DAY + 86_399_999,
        }
    }

    #[test]
    fn every_department_present_listed_or_ever_written_gets_items_and_all_always() {
        let state = DayState {
            departments: vec!["listed".into(), "both".into()],
            written: set(&["written", "both"]),
            ..DayState::default()
        };
        let extra = BTreeSet::from([department("extra")]);
        let plan = plan_day(&state, &set(&["present"]), &set(&[]), &extra, NOW);
        assert_eq!(
            plan.scopes,
            BTreeSet::from([
                Scope::All,
                department("both"),
                department("extra"),
                department("listed"),
                department("present"),
                department("written"),
            ])
        );
        let empty = plan_day(&DayState::default(), &set(&[]), &set(&[]), &extra, NOW);
        assert_eq!(
            empty.scopes,
            BTreeSet::from([Scope::All, department("extra")])
        );
    }

    #[test]
    fn a_quiet_day_settles_with_nothing_to_clear() {
        let plan = plan_day(
            &DayState::default(),
            &set(&[]),
            &set(&[]),
            &BTreeSet::new(),
            NOW,
        );
        assert_eq!(
            plan.settle,
            Some(Settle {
                needs_attention: false,
                clear_overflow: false,
                expired_leases: vec![],
            })
        );
    }

    #[test]
    fn an_overflowed_day_settles_only_once_its_last_change_is_old_enough() {
        let overflowed = |last_change_at| DayState {
            overflow: true,
            last_change_at,
            ..DayState::default()
        };
        let plan = |state: &DayState| plan_day(state, &set(&[]), &set(&[]), &BTreeSet::new(), NOW);
        assert_eq!(plan(&overflowed(Some(NOW - SETTLE_MS + 1))).settle, None);
        assert_eq!(plan(&overflowed(None)).settle, None);
        let settled = plan(&overflowed(Some(NOW - SETTLE_MS))).settle;
        assert_eq!(settled.map(|s| s.clear_overflow), Some(true));
    }

    #[test]
    fn a_live_lease_keeps_the_day_dirty_and_expired_ones_are_dropped() {
        let live = format!("{}#00000000000000aa", NOW + 1);
        let expired = format!("{}#00000000000000bb", NOW);
        let with = |writers: &[&String]| DayState {
            writers: writers.iter().map(|w| w.to_string()).collect(),
            ..DayState::default()
        };
        let plan =
            |state: &DayState| plan_day(state, &set(&[]), &set(&[]), &BTreeSet::new(), NOW).settle;
        assert_eq!(plan(&with(&[&live, &expired])), None);
        // A lease this code did not write is held live: never clean on a misread.
        assert_eq!(plan(&with(&[&"garbage".to_string()])), None);
        let settle = plan(&with(&[&expired])).unwrap();
        assert_eq!(settle.expired_leases, vec![expired]);
    }

    #[test]
    fn an_unconfirmed_pending_key_keeps_the_day_on_the_reconciliation_list() {
        let state = DayState {
            pending: set(&["t#R1", "t#R2"]),
            ..DayState::default()
        };
        let plan = |confirmed: &[&str]| {
            plan_day(&state, &set(&[]), &set(confirmed), &BTreeSet::new(), NOW)
                .settle
                .unwrap()
                .needs_attention
        };
        assert!(plan(&["t#R1"]));
        assert!(!plan(&["t#R1", "t#R2"]));
    }

    #[test]
    fn a_pending_key_the_index_shows_as_the_table_has_it_is_confirmed() {
        // The GSI has no `open`; the table has it: still the same conversation.
        let mut rooms = HashMap::from([("t#R1".to_string(), conv("R1", DAY + 5, "kim", None))]);
        let in_table =
            HashMap::from([("t#R1".to_string(), conv("R1", DAY + 5, "kim", Some(true)))]);
        let confirmed = overlay_pending(&mut rooms, &set(&["t#R1"]), &in_table, day());
        assert_eq!(confirmed, set(&["t#R1"]));
        assert_eq!(rooms["t#R1"], conv("R1", DAY + 5, "kim", None));
    }

    #[test]
    fn the_table_wins_over_an_index_that_lags() {
        let mut rooms = HashMap::from([
            ("t#OLD".to_string(), conv("OLD", DAY + 5, "kim", None)),
            ("t#GONE".to_string(), conv("GONE", DAY + 6, "kim", None)),
            ("t#MOVED".to_string(), conv("MOVED", DAY + 7, "kim", None)),
        ]);
        let in_table = HashMap::from([
            // Transferred: the index still shows the old agent.
            (
                "t#OLD".to_string(),
                conv("OLD", DAY + 5, "jane", Some(false)),
            ),
            // Written, not in the index yet.
            ("t#NEW".to_string(), conv("NEW", DAY + 8, "jane", None)),
            // Moved to the next day.
            (
                "t#MOVED".to_string(),
                conv("MOVED", DAY + 86_400_000, "kim", None),
            ),
            // Moved away from another day; the index never showed it on this one.
            ("t#ELSE".to_string(), conv("ELSE", DAY - 1, "kim", None)),
        ]);
        let pending = set(&["t#OLD", "t#NEW", "t#GONE", "t#MOVED", "t#ELSE"]);
        let confirmed = overlay_pending(&mut rooms, &pending, &in_table, day());
        // Only the key both sides agree is not on the day.
        assert_eq!(confirmed, set(&["t#ELSE"]));
        let mut keys: Vec<_> = rooms.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, vec!["t#NEW", "t#OLD"]);
        assert_eq!(rooms["t#OLD"], conv("OLD", DAY + 5, "jane", None));
    }
}
