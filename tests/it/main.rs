//! All integration tests, in one binary.

mod admin_cli;
mod contract;
mod dynamo;
mod events;
mod fake_dynamo;
mod hardening;
mod harness;
mod import;
mod openapi;
mod reconcile;
mod rocketchat_export;
mod rollups;
mod telemetry;
mod template;
mod throttling;
mod verify_rollups;
