//! Pure, synchronous logic: figures, formatting, ranges, permissions. No SDK types here.

pub mod conversation;
pub mod exact_sum;
pub mod format;
pub mod identity;
