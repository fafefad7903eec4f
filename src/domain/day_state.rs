//! A day's rollup state and the rules read from it: when a day's rollups are complete, when a
//! rollup item answers for a scope ([`covers`]), how long the index is given to settle, and
//! whether a writer's lease is live. Pure: the rollup engine reads and writes the state items
//! (`rollups::state`, through `dynamo::day_states`), the rebuild and the reconciliation decide
//! with these.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::rollup::Scope;

/// How long after a day's last change the index and the stream are given to catch up (GSI
/// propagation and a stream rebuild normally take well under a second): an overflowed day (its
/// pending keys unknown) is trusted to the index only this long after its last change, and a
/// day changed more recently is the stream's to rebuild, not drift, for the reconciliation.
pub const SETTLE_MS: i64 = 60_000;

/// How long a writer's lease keeps a day dirty unless released: longer than any batch write
/// with its retries (a crashed writer's days are read raw at most this long, then rebuilt).
pub const LEASE_MS: i64 = 300_000;

/// A day's state as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayState {
    pub day: Option<NaiveDate>,
    pub changed: u64,
    pub built: Option<u64>,
    pub pending: BTreeSet<String>,
    pub overflow: bool,
    pub departments: Vec<String>,
    /// Every department whose items a rebuild of the day ever put.
    pub written: BTreeSet<String>,
    /// Writers' leases, `{until ms}#{id}`.
    pub writers: BTreeSet<String>,
    pub last_change_at: Option<i64>,
}

impl DayState {
    /// Its rollups are complete for every write marked so far.
    pub fn is_clean(&self) -> bool {
        self.built == Some(self.changed)
    }

    /// A department the day's rollups list (an unlisted one had nothing that day).
    pub fn lists(&self, department: &str) -> bool {
        self.departments.iter().any(|d| d == department)
    }

    /// The leases still live at `now_ms`, and the expired ones (a crashed writer's).
    pub fn leases_at(&self, now_ms: i64) -> (Vec<&String>, Vec<&String>) {
        self.writers
            .iter()
            .partition(|lease| lease_until(lease).is_none_or(|until| until > now_ms))
    }
}

/// The instant a lease ends (`None`: not a lease this code wrote; the store refuses to read those,
/// and one is held live here, so a day is never made clean on a misread).
pub fn lease_until(lease: &str) -> Option<i64> {
    lease
        .split_once('#')
        .and_then(|(until, _)| until.parse().ok())
}

/// A day's figure item of the request's scope, as far as coverage is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemSeen {
    pub version: Option<u64>,
    /// It holds no agent: its scope had nothing that day.
    pub tombstone: bool,
}

/// Whether a day's rollup item answers for `scope`: the day's state exists and is clean, and
/// the item was built from that state (`version` = `built`). A department the clean day does
/// not list had no conversation that day: it counts zero when there is no item or only a
/// tombstone built no later than the state. An item with tallies is read raw instead, whatever
/// its version: a rebuild that lost its last step to a concurrent mark can leave one behind
/// (finding 7), and a lagging replica can show one the tombstone has replaced.
pub fn covers(state: Option<&DayState>, scope: &Scope, item: Option<ItemSeen>) -> bool {
    let Some(state) = state.filter(|s| s.is_clean()) else {
        return false;
    };
    let built = state.built;
    match scope {
        Scope::Department(d) if !state.lists(d) => match item {
            None => true,
            Some(seen) => seen.tombstone && seen.version.unwrap_or(0) <= built.unwrap_or(0),
        },
        _ => item.map(|seen| seen.version) == Some(built),
    }
}
