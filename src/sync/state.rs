//! A tenant's connection and its sync state, and the rule that decides, room by room, what a
//! pass over rooms sorted by `_updatedAt` (newest first) must do.
//!
//! Rocket.Chat has no "updated since" filter, so a pass pages rooms newest first and stops
//! below `checkpoint - OVERLAP_MS`. The checkpoint is the newest `_updatedAt` of the last pass
//! that finished, and it moves only after that pass's writes succeeded. A pass cut short by its
//! time budget saves `pending = (upper, reached)`: every room whose `_updatedAt` lies in
//! `(reached, upper]` is already written, so the next pass skips those without re-reading their
//! messages and carries on below `reached`.

/// How far below the checkpoint a pass still re-reads rooms. Covers clock differences
/// between Rocket.Chat's instances (each stamps `_updatedAt` with its own clock) and changes
/// committed out of order within the same moments; a re-read room that did not change is not
/// rewritten.
pub const OVERLAP_MS: i64 = 2 * 60 * 1000;

/// A connected tenant: where its Rocket.Chat is, as whom the sync reads it, and the Secrets
/// Manager secret holding that account's personal access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub tenant: String,
    pub url: String,
    pub user_id: String,
    pub secret_arn: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Newest `_updatedAt` (ms) of the last finished pass.
    pub checkpoint_ms: Option<i64>,
    /// An unfinished pass: rooms in `(reached, upper]` are written.
    pub pending: Option<(i64, i64)>,
    /// When the last finished cycle started (ms): everything changed before it is stored.
    pub last_complete_started_ms: Option<i64>,
    /// When the last full listing (removals included) finished (ms).
    pub last_full_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Read the room's messages and write it if it changed.
    Sync,
    /// Written by the unfinished pass, unchanged since.
    Skip,
    /// Below the checkpoint's overlap: this room and every later one are already stored.
    Stop,
}

impl SyncState {
    /// What to do with a room changed at `updated_ms`, in a pass newest first.
    pub fn decide(&self, updated_ms: i64) -> Decision {
        if let Some((upper, reached)) = self.pending {
            if updated_ms > reached && updated_ms <= upper {
                return Decision::Skip;
            }
        }
        match self.checkpoint_ms {
            Some(c) if updated_ms < c.saturating_sub(OVERLAP_MS) => Decision::Stop,
            _ => Decision::Sync,
        }
    }

    /// After a pass that went all the way down: `top` is the newest `_updatedAt` it saw.
    pub fn finished(&self, top: Option<i64>, started_ms: i64) -> SyncState {
        let newest = [top, self.checkpoint_ms, self.pending.map(|p| p.0)]
            .into_iter()
            .flatten()
            .max();
        SyncState {
            checkpoint_ms: newest,
            pending: None,
            last_complete_started_ms: Some(started_ms),
            last_full_ms: self.last_full_ms,
        }
    }

    /// After a pass cut short once every room from `top` down to `reached` was handled.
    pub fn cut_short(&self, top: i64, reached: i64) -> SyncState {
        let upper = self.pending.map_or(top, |p| p.0.max(top));
        SyncState {
            pending: Some((upper, reached)),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_pass_reads_everything() {
        let s = SyncState::default();
        assert_eq!(s.decide(0), Decision::Sync);
        assert_eq!(s.decide(i64::MAX), Decision::Sync);
    }

    #[test]
    fn a_pass_stops_below_the_overlap() {
        let s = SyncState {
            checkpoint_ms: Some(1_000_000),
            ..SyncState::default()
        };
        assert_eq!(s.decide(1_000_001), Decision::Sync);
        assert_eq!(s.decide(1_000_000 - OVERLAP_MS), Decision::Sync);
        assert_eq!(s.decide(1_000_000 - OVERLAP_MS - 1), Decision::Stop);
    }

    #[test]
    fn a_resumed_pass_skips_what_the_cut_pass_wrote() {
        let s = SyncState {
            checkpoint_ms: Some(1_000_000),
            ..SyncState::default()
        }
        .cut_short(5_000_000, 3_000_000);
        assert_eq!(s.checkpoint_ms, Some(1_000_000), "the checkpoint waits");
        assert_eq!(s.decide(5_000_001), Decision::Sync, "changed since");
        assert_eq!(s.decide(5_000_000), Decision::Skip);
        assert_eq!(s.decide(3_000_001), Decision::Skip);
        assert_eq!(
            s.decide(3_000_000),
            Decision::Sync,
            "the room it stopped at"
        );
        assert_eq!(s.decide(2_000_000), Decision::Sync);
        assert_eq!(s.decide(1), Decision::Stop);
        let done = s.finished(Some(4_000_000), 42);
        assert_eq!(done.checkpoint_ms, Some(5_000_000));
        assert_eq!(done.pending, None);
        assert_eq!(done.last_complete_started_ms, Some(42));
    }
}
