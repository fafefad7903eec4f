//! Rocket.Chat's Agent Analytics Overview API on AWS Lambda and DynamoDB.
//!
//! Layers, with imports in one direction: [`http`] → [`domain`] → [`store`]. [`lambda`] tells
//! warm-up events from HTTP events; `main.rs` only wires. [`rollup_stream`] is the second
//! function's entry point: the conversations table's stream keeps the daily rollups in step.

pub mod admin;
pub mod config;
pub mod domain;
pub mod http;
pub mod lambda;
pub mod rollup_stream;
pub mod store;
pub mod sync;
pub mod telemetry;
