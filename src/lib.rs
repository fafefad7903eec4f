//! Rocket.Chat's Agent Analytics Overview API on AWS Lambda and DynamoDB.
//!
//! Layers, with imports in one direction: [`functions`] (the Lambda entry points) → [`http`] →
//! [`domain`], and [`store`] → [`domain`]; nothing deployed imports [`admin`] (the operators'
//! tool). The binaries in `main.rs` and `src/bin/` only wire.

pub mod admin;
pub mod config;
pub mod domain;
pub mod errors;
pub mod functions;
pub mod http;
pub mod reconcile;
pub mod store;
pub mod sync;
pub mod telemetry;
