//! Rocket.Chat's Agent Analytics Overview API on AWS Lambda and DynamoDB.
//!
//! Layers, with imports in one direction: [`http`] → [`domain`] → [`store`]. [`lambda`] tells
//! warm-up events from HTTP events; `main.rs` only wires.

pub mod admin;
pub mod config;
pub mod domain;
pub mod http;
pub mod lambda;
pub mod store;
pub mod telemetry;
