//! Keeping a tenant current from its running Rocket.Chat through Rocket.Chat's REST API
//! (`agent-overview-admin sync`, and the scheduled fan-out and sync functions).
//!
//! [`client`] speaks HTTP (timeouts, 429 and 5xx handling), [`source`] turns each answer into
//! the importer's domain values, [`state`] decides what a pass must read (the connection and
//! checkpoint are stored through [`crate::dynamo::sync`]), [`lease`] lets one sync of a tenant
//! run at a time, [`users`] keeps the tenant's users (and their sessions' validity)
//! in step, and [`cycle`] runs one cycle through the store's writer.

pub mod client;
pub mod cycle;
pub mod error;
pub mod lag;
pub mod lease;
pub mod messages;
pub mod scheduled;
pub mod source;
pub mod state;
pub mod summary;
pub mod users;
pub mod walk;
