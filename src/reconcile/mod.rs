//! Keeping the rollups honest after the fact: recompute a day's rollups from its conversations,
//! compare them with what the rollups table holds ([`diff`]), and rebuild the days that differ.
//! The operators' `verify-rollups` and the scheduled reconciliation function both run this.

pub mod diff;
pub mod stored;
pub mod verify;

use chrono::NaiveDate;

use crate::store::items::MalformedItem;
use crate::store::rebuild::RebuildError;
use crate::store::CallFailed;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Call(#[from] CallFailed),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
    #[error("{from}..{to} is not a range of days")]
    Days { from: NaiveDate, to: NaiveDate },
}
