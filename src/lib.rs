//! Rocket.Chat's Agent Analytics Overview API on AWS Lambda and DynamoDB.
//!
//! Layers, with imports in one direction: [`functions`] (the Lambda entry points) → [`http`] →
//! [`domain`]; [`store`] → [`domain`]; [`sync`] and [`reconcile`] → [`store`], and [`sync`] →
//! [`rocketchat`] (Rocket.Chat's documents, shared with the import); [`http`] →
//! [`signin`] (checking a caller's own Rocket.Chat login) → [`store`]; every outgoing HTTP call
//! follows [`outbound`]'s rules. Nothing deployed imports
//! [`admin`] (the operators' tool), which may use all of them. The binaries in `main.rs` and
//! `src/bin/` only wire.

#[cfg(feature = "admin")]
pub mod admin;
pub mod config;
pub mod domain;
pub mod errors;
pub mod functions;
pub mod http;
pub mod outbound;
pub mod reconcile;
pub mod rocketchat;
pub mod signin;
pub mod store;
pub mod sync;
pub mod telemetry;
