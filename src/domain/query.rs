//! What a figure is computed over, and the work its fold did: the request path's query, shared
//! by the store's ports (`store::ConversationStore`) and the rollups' coverage-checked
//! read (`rollups::read`).

use super::figure::Figure;
use super::range::UtcRange;

/// What a figure is computed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub tenant: String,
    pub figure: Figure,
    pub range: UtcRange,
    /// `None`: every department (and conversations without one). The HTTP layer has already
    /// turned Rocket.Chat's "no filter" spellings (`""`, `"undefined"`) into `None`.
    pub department_id: Option<String>,
}

/// Work a fold did, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldStats {
    /// Raw conversation items read.
    pub items_read: u64,
    /// DynamoDB requests (query pages), raw and rollup.
    pub requests: u64,
    /// Raw month-bucket query chains.
    pub buckets: u64,
    /// Rollup items read (one per figure, scope and UTC day, tombstones included).
    pub rollup_items_read: u64,
    /// Whole UTC days answered from rollups.
    pub rollup_days: u64,
}

impl FoldStats {
    pub fn add(&mut self, other: &FoldStats) {
        self.items_read += other.items_read;
        self.requests += other.requests;
        self.buckets += other.buckets;
        self.rollup_items_read += other.rollup_items_read;
        self.rollup_days += other.rollup_days;
    }
}
