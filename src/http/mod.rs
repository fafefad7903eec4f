//! The HTTP edge: parse the request into typed input, map typed output or error to a response.

pub mod error;
pub mod handler;
pub mod query;

pub use handler::{App, RawQueryString};
