//! What one sync cycle did: its counts, the capacity it consumed, and how the CLI prints them.

use std::fmt;

use super::state::SyncState;
use crate::dynamo::capacity::ConsumedCapacity;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSummary {
    pub tenant: String,
    pub host: String,
    pub full: bool,
    pub rooms_added: u64,
    pub rooms_changed: u64,
    /// Re-read (overlap, resumed pass) and found as stored.
    pub rooms_unchanged: u64,
    pub rooms_removed: u64,
    /// Rooms skipped because a limit refuses them (logged with the room id; never stored).
    pub rooms_invalid: u64,
    /// Removals withheld because the listing would remove too large a share of stored rooms.
    pub removals_refused: u64,
    pub users_written: u64,
    pub users_removed: u64,
    /// Users skipped because a limit refuses them or their document cannot be read (counted,
    /// never stored, never a failed cycle).
    pub users_invalid: u64,
    pub messages_read: u64,
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub rate_limited_wait_ms: u64,
    /// False when the time budget (or a wait past it) cut the cycle short (the next resumes).
    pub complete: bool,
    pub state: SyncState,
    pub rollup_days: u64,
    /// What the cycle's DynamoDB calls consumed (lease, state, writes, rebuilds), as DynamoDB
    /// reported it.
    pub consumed: ConsumedCapacity,
}

impl fmt::Display for SyncSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sync of tenant {} from {}{}: {}",
            self.tenant,
            self.host,
            if self.full { " (full)" } else { "" },
            if self.complete {
                "complete"
            } else {
                "cut short by the time budget; the next sync resumes"
            }
        )?;
        writeln!(
            f,
            "  rooms: {} added, {} changed, {} removed, {} unchanged",
            self.rooms_added, self.rooms_changed, self.rooms_removed, self.rooms_unchanged
        )?;
        if self.rooms_invalid > 0 || self.removals_refused > 0 {
            writeln!(
                f,
                "  rooms skipped as invalid: {}; removals refused as implausible: {}",
                self.rooms_invalid, self.removals_refused
            )?;
        }
        writeln!(
            f,
            "  users: {} written, {} removed, {} skipped as invalid",
            self.users_written, self.users_removed, self.users_invalid
        )?;
        writeln!(
            f,
            "  messages read: {}; requests: {} ({} retried); 429s waited: {} ({} ms)",
            self.messages_read,
            self.requests,
            self.retries,
            self.rate_limited,
            self.rate_limited_wait_ms
        )?;
        let checkpoint = self
            .state
            .checkpoint_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or("none".to_string(), |t| t.to_rfc3339());
        writeln!(f, "  checkpoint: {checkpoint}")?;
        if self.rollup_days > 0 {
            writeln!(f, "  rollups: {} days rebuilt", self.rollup_days)?;
        }
        writeln!(f, "  consumed capacity: {}", self.consumed)
    }
}
