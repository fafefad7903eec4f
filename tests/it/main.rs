//! All integration tests, in one binary.

mod contract;
mod events;
