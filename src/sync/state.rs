//! A tenant's connection and its sync state, and the rule that decides, room by room, what a
//! pass over rooms sorted by `_updatedAt` (newest first) must do.
//!
//! Rocket.Chat has no "updated since" filter, so a pass pages rooms newest first (a
//! [`super::walk::Walk`]) and stops below `checkpoint - OVERLAP_MS`. When a pass finishes, the
//! checkpoint becomes `min(newest _updatedAt seen, the pass's start)`: a room stamped in the
//! future (a wrong clock) can never lift it past the present, and a checkpoint already in the
//! future (saved before this rule) counts as none. A pass cut short (time budget, a wait past
//! the deadline, a failure) saves `pending`: where its walk stopped, so the next job carries on
//! there instead of starting over; rooms changed meanwhile are above the pass's `upper` and the
//! next pass reads them.

use crate::dynamo::sync::Cursor;
pub use crate::dynamo::sync::{Connection, Listing, Pending, SyncState};

/// How far below the checkpoint a pass still re-reads rooms. Covers clock differences
/// between Rocket.Chat's instances (each stamps `_updatedAt` with its own clock) and changes
/// committed out of order within the same moments; a re-read room that did not change is not
/// rewritten.
pub const OVERLAP_MS: i64 = 2 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Compare the room with what is stored; read its messages if it changed.
    Sync,
    /// Below the checkpoint's overlap: this room and every later one are already stored.
    Stop,
}

/// The rules of a pass (the state's stored shape is the boundary's,
/// [`crate::dynamo::sync::state`]).
impl SyncState {
    /// The checkpoint a pass starting at `now_ms` may trust: none when it lies in the future.
    pub fn trusted_checkpoint(&self, now_ms: i64) -> Option<i64> {
        self.checkpoint_ms
            .filter(|c| *c <= now_ms.saturating_add(OVERLAP_MS))
    }

    /// What to do with a room changed at `updated_ms`, in a pass newest first at `now_ms`.
    pub fn decide(&self, updated_ms: i64, now_ms: i64) -> Decision {
        match self.trusted_checkpoint(now_ms) {
            Some(c) if updated_ms < c.saturating_sub(OVERLAP_MS) => Decision::Stop,
            _ => Decision::Sync,
        }
    }

    /// The `upper` of a pass whose newest room is `top`, begun at `now_ms`.
    pub fn upper_of(top: Option<i64>, now_ms: i64) -> i64 {
        top.map_or(now_ms, |t| t.min(now_ms))
    }

    /// After a pass that went all the way down; `upper` as [`SyncState::upper_of`] (or the
    /// pending pass's; none when it saw no room), `started_ms` the start of this cycle.
    pub fn finished(&self, upper: Option<i64>, started_ms: i64) -> SyncState {
        let newest = match (self.trusted_checkpoint(started_ms), upper) {
            (Some(c), Some(u)) => Some(c.max(u)),
            (c, u) => c.or(u),
        };
        SyncState {
            checkpoint_ms: newest.map(|c| c.min(started_ms.saturating_add(OVERLAP_MS))),
            pending: None,
            last_complete_started_ms: Some(started_ms),
            ..self.clone()
        }
    }

    /// After a pass cut short once every room down to `cursor` was handled.
    pub fn cut_short(&self, upper: i64, cursor: Cursor) -> SyncState {
        SyncState {
            pending: Some(Pending { upper, cursor }),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::walk::Key;

    const NOW: i64 = 10_000_000;

    #[test]
    fn a_first_pass_reads_everything() {
        let s = SyncState::default();
        assert_eq!(s.decide(0, NOW), Decision::Sync);
        assert_eq!(s.decide(i64::MAX, NOW), Decision::Sync);
    }

    #[test]
    fn a_pass_stops_below_the_overlap() {
        let s = SyncState {
            checkpoint_ms: Some(1_000_000),
            ..SyncState::default()
        };
        assert_eq!(s.decide(1_000_001, NOW), Decision::Sync);
        assert_eq!(s.decide(1_000_000 - OVERLAP_MS, NOW), Decision::Sync);
        assert_eq!(s.decide(1_000_000 - OVERLAP_MS - 1, NOW), Decision::Stop);
    }

    #[test]
    fn a_future_stamp_never_lifts_the_checkpoint_past_the_present() {
        let s = SyncState::default();
        let upper = SyncState::upper_of(Some(4_102_444_800_000), NOW);
        assert_eq!(upper, NOW);
        assert_eq!(s.finished(Some(upper), NOW).checkpoint_ms, Some(NOW));
        // A checkpoint saved in the future by an older version is not trusted.
        let frozen = SyncState {
            checkpoint_ms: Some(4_102_444_800_000),
            ..SyncState::default()
        };
        assert_eq!(frozen.decide(1, NOW), Decision::Sync);
        assert_eq!(
            frozen.finished(Some(NOW - 5), NOW).checkpoint_ms,
            Some(NOW - 5)
        );
    }

    #[test]
    fn a_resumed_pass_keeps_its_upper_and_the_checkpoint_waits() {
        let s = SyncState {
            checkpoint_ms: Some(1_000_000),
            ..SyncState::default()
        };
        let cursor = Cursor {
            key: Key {
                at: 3_000_000,
                id: "r".into(),
            },
            offset: 42,
        };
        let cut = s.cut_short(5_000_000, cursor.clone());
        assert_eq!(cut.checkpoint_ms, Some(1_000_000), "the checkpoint waits");
        assert_eq!(cut.pending.as_ref().unwrap().cursor, cursor);
        let done = cut.finished(Some(cut.pending.as_ref().unwrap().upper), NOW);
        assert_eq!(done.checkpoint_ms, Some(5_000_000));
        assert_eq!(done.pending, None);
        assert_eq!(done.last_complete_started_ms, Some(NOW));
        // An idle pass (top below the checkpoint) never moves it back.
        assert_eq!(done.finished(Some(10), NOW).checkpoint_ms, Some(5_000_000));
    }
}
