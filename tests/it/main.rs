//! All integration tests, in one binary.

mod admin_cli;
mod contract;
mod coverage;
mod dynamo;
mod events;
mod fake_dynamo;
mod faults;
mod gated;
mod hardening;
mod harness;
mod identity_import;
mod import;
mod import_writes;
mod interleaving;
mod openapi;
mod rc_standin;
mod reconcile;
mod rocketchat_export;
mod rollup_races;
mod rollups;
mod sync;
mod sync_scheduled;
mod telemetry;
mod template;
mod throttling;
mod verify_rollups;
