//! The rollup engine: the stream function, the plans' agreement, the day's coverage, races and
//! interleavings of writers and rebuilds, `verify-rollups` and the reconciliation.

mod coverage;
mod interleaving;
mod races;
mod reconcile;
mod stream;
mod verify;
