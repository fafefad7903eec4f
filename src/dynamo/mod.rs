//! The DynamoDB boundary: every SDK call and every `AttributeValue` in `src/` lives under this
//! directory (the binaries' wiring and `admin/tables.rs`, which creates the local tables, aside;
//! `scripts/rs_edges.py` checks it). It imports only [`crate::domain`], [`crate::config`] and
//! [`crate::telemetry`]; the subsystems above it (store, rollups, sync, reconcile, admin) reach
//! DynamoDB only through the functions here, and name the client only as [`Client`].

pub mod batch_get;
pub mod capacity;
mod client;
pub mod conversation_reads;
pub mod conversation_writes;
pub mod day_states;
mod error;
pub mod identity_reads;
pub mod identity_writes;
pub mod items;
pub mod query;
pub mod raw_fold;
pub mod rebuild_writes;
pub mod signin;
pub mod stream_change;
pub mod sync;
pub mod tally_reads;
pub mod writer;

/// The SDK's DynamoDB client, named here so that nothing above the boundary imports the SDK.
pub use aws_sdk_dynamodb::Client;
pub use client::{client, retry_config, sdk_config, MAX_ATTEMPTS};
pub use error::{classify, succeeded_unless, CallFailed, ReadError, StoreError};
