//! Everything the tests share: each helper is defined once, here.

pub mod admin;
pub mod api;
pub mod choices;
pub mod export;
pub mod fake_dynamo;
pub mod fake_reads;
pub mod faults;
pub mod gated;
pub mod harness;
pub mod logs;
pub mod moto;
pub mod rc_standin;
pub mod rollups;
pub mod seed;
pub mod sync;
pub mod tiny_server;
