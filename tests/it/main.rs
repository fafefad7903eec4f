//! All integration tests, in one binary.

mod admin_cli;
mod contract;
mod events;
mod harness;
mod import;
