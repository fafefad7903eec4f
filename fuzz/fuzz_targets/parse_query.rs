//! The request parser on arbitrary query strings: `parse_query` (Rocket.Chat's schema checks)
//! and `validate` (our stricter checks) must answer every input without panicking.
#![no_main]

use agent_overview::http::query::{parse_query, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // API Gateway hands the function the query as text; invalid bytes arrive replaced.
    let query = String::from_utf8_lossy(data);
    if let Ok(raw) = parse_query(&query) {
        for max_range_days in [1, 31, 3660] {
            let _ = validate(raw.clone(), max_range_days);
        }
    }
});
