//! All integration tests, in one binary.

mod contract;
mod dynamo;
mod events;
mod harness;
mod rocketchat_export;
