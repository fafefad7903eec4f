//! Pure, synchronous logic: figures, formatting, ranges, permissions. No SDK types here.

pub mod aggregate;
pub mod clock;
pub mod conversation;
pub mod day_state;
pub mod exact_sum;
pub mod figure;
pub mod format;
pub mod host;
pub mod identity;
pub mod query;
pub mod range;
pub mod rollup;
