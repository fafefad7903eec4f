//! The operators' command-line tool (`agent-overview-admin`): creating local tables,
//! importing Rocket.Chat exports, generating demo data, rebuilding rollups, and managing users,
//! settings and sessions. The binary only parses arguments and calls these functions.
//! The modules that need the `admin` feature's crates (file import with its progress bar,
//! tables from template.yaml) are left out of the Lambda builds; the rest (Rocket.Chat
//! documents, rollup rebuilds, demo data, sessions) also serves the functions.

pub mod demo;
pub mod directory;
pub mod extjson;
#[cfg(feature = "admin")]
pub mod import;
#[cfg(feature = "admin")]
pub mod lines;
pub mod rocketchat;
pub mod rollups;
pub mod session;
#[cfg(feature = "admin")]
pub mod tables;
#[cfg(feature = "admin")]
pub mod verify_rollups;

use std::fmt;

/// What a command prints: `Display` is its result, for stdout (scripts read it); `note` is
/// what only the operator needs to see, for stderr.
pub trait Report: fmt::Display {
    fn note(&self) -> Option<String> {
        None
    }
}
