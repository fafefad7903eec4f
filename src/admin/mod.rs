//! The operators' command-line tool (`agent-overview-admin`): creating local tables,
//! importing Rocket.Chat exports, generating demo data, rebuilding rollups, and managing users,
//! settings and sessions. The binary only parses arguments and calls these functions.
//! Nothing deployed imports this module, and the Lambda builds (without the `admin` feature)
//! leave it out: the functions share the Rocket.Chat documents ([`crate::rocketchat`]), the
//! store and the sync with it, never the other way.

pub mod connect;
pub mod demo;
pub mod directory;
pub mod domains;
pub mod import;
pub mod lines;
pub mod rebuild_rollups;
pub mod seed_demo;
pub mod session;
pub mod tables;
pub mod verify_rollups;

use std::fmt;

/// What a command prints: `Display` is its result, for stdout (scripts read it); `note` is
/// what only the operator needs to see, for stderr.
pub trait Report: fmt::Display {
    fn note(&self) -> Option<String> {
        None
    }
}

/// `sync`'s summary (the sync itself is shared with the deployed functions).
impl Report for crate::sync::cycle::SyncSummary {}
