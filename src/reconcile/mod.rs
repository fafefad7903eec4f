//! Keeping the rollups honest after the fact: recompute a day's rollups from its conversations,
//! compare them with what the rollups table holds ([`diff`]), and rebuild the days that differ.
//! The operators' `verify-rollups` and the scheduled reconciliation function both run this.

pub mod diff;
pub mod scheduled;
pub mod stored;
pub mod verify;
