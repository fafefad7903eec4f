//! The per-day rollup state: what makes the rollup plan provably cover a day (see
//! `docs/data-model.md`, "Rollup state"). Every write of a conversation marks its day (bumps
//! `changed`, lists the key as pending); a rebuild records `built` = the `changed` it read, and
//! the day is clean, answered from its rollups, only while the two are equal. A writer with a
//! write in flight holds a lease on the day, so no rebuild makes it clean meanwhile.
//!
//! The state item's layout and its DynamoDB calls are the boundary's
//! ([`crate::dynamo::day_states`]); the rules that read a state are the domain's
//! ([`crate::domain::day_state`]).

use crate::domain::day_state::LEASE_MS;

pub use crate::dynamo::day_states::{
    attention, days_needing_attention, get_state, mark, mark_with_lease, query_states, read_state,
    state_key, LeaseChange, ATTENTION_SHARDS, PENDING_CAP,
};

/// A new lease id for a writer, live until `now_ms + LEASE_MS`.
pub fn new_lease(now_ms: i64) -> String {
    format!("{}#{:016x}", now_ms + LEASE_MS, rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::domain::day_state::DayState;

    /// (A malformed lease in a stored state is refused by `dynamo::day_states::read_state`.)
    #[test]
    fn a_lease_is_live_until_its_end() {
        let live = new_lease(1_000);
        let expired = new_lease(1_000 - LEASE_MS - 1);
        let s = DayState {
            writers: BTreeSet::from([live.clone(), expired.clone()]),
            ..DayState::default()
        };
        let (l, e) = s.leases_at(1_000);
        assert_eq!((l, e), (vec![&live], vec![&expired]));
        let (l, e) = s.leases_at(1_000 + LEASE_MS);
        assert!(l.is_empty() && e.len() == 2);
    }

    #[test]
    fn a_day_is_clean_only_when_built_from_its_last_change() {
        let mut s = DayState {
            changed: 3,
            built: Some(2),
            ..DayState::default()
        };
        assert!(!s.is_clean());
        s.built = Some(3);
        assert!(s.is_clean());
        assert!(!DayState {
            changed: 0,
            built: None,
            ..DayState::default()
        }
        .is_clean());
    }
}
