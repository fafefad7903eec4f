//! All integration tests, in one binary.

mod admin_cli;
mod contract;
mod dynamo;
mod events;
mod harness;
mod import;
mod rocketchat_export;
mod rollups;
