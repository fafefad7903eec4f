//! Rocket.Chat's Agent Analytics Overview API on AWS Lambda and DynamoDB.
//!
//! Layers, with imports in one direction: [`functions`] (the five Lambda entry points: `api`,
//! `stream`, `reconcile`, `sync`, `sync_fanout`) → [`http`] → [`signin`] (checking a caller's
//! own Rocket.Chat login) → [`store`] (the request path's ports, its read plan and its two
//! adapters); [`store`], [`sync`], [`reconcile`] and the stream function → [`rollups`] (the
//! rollup engine: day states, the coverage read, the rebuild protocol, the ingest, which imports
//! none of them); all of them → [`dynamo`], the DynamoDB boundary (every SDK call and every
//! `AttributeValue` is there; it imports only [`domain`], [`config`] and [`telemetry`]) →
//! [`domain`], which imports nothing outside itself. [`sync`] also → [`rocketchat`] (Rocket.Chat's
//! documents, shared with the import); every outgoing HTTP call follows [`outbound`]'s rules.
//! Nothing deployed imports [`admin`] (the operators' tool), which may use all of them. The
//! binaries in `main.rs` and `src/bin/` only wire (at most 30 lines each, the admin tool aside):
//! [`functions::init`], the clients from the one SDK configuration, the wall clock, the runtime.
//! Environment variables are read only in [`config`]; the wall clock only at that edge (library
//! code takes a `now` or a [`domain::clock::Clock`]); every metric is a
//! [`telemetry::emf::Document`]; the DynamoDB client is built only by [`dynamo::client`] (with the
//! consumed-capacity meter, [`dynamo::capacity`]) and items are read by key only through
//! [`dynamo::batch_get`] (`scripts/rs_edges.py` checks the rules; `rs_cycles.py` that no files
//! import each other in a cycle, `rs_sizes.py` that none has over 500 lines of code).

#[cfg(feature = "admin")]
pub mod admin;
pub mod config;
pub mod domain;
pub mod dynamo;
pub mod errors;
pub mod functions;
pub mod http;
pub mod outbound;
pub mod reconcile;
pub mod rocketchat;
pub mod rollups;
pub mod signin;
pub mod store;
pub mod sync;
pub mod telemetry;
