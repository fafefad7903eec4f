//! Rocket.Chat's Agent Analytics Overview API on AWS Lambda and DynamoDB.
//!
//! Layers, with imports in one direction: [`http`] → [`domain`] → [`store`].

pub mod config;
pub mod domain;
pub mod store;
