//! All integration tests, in one binary, grouped by subsystem. Test modules import only from
//! `support` (checked by `scripts/test_names.py`), never from each other.

mod admin;
mod api;
mod capacity;
mod functions;
mod rollups;
mod support;
mod sync;
