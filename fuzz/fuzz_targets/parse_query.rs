//! The request parser on arbitrary input: `parse_query` (Rocket.Chat's schema checks) and
//! `validate` (our stricter checks) must answer everything without panicking.
#![no_main]

use agent_overview::http::query::{parse_query, validate, RawQuery};
use libfuzzer_sys::fuzz_target;

const MAX_RANGE_DAYS: [u32; 3] = [1, 31, 3660];

fuzz_target!(|data: &[u8]| {
    // API Gateway hands the function the query as text; invalid bytes arrive replaced.
    let text = String::from_utf8_lossy(data);

    // The input as a whole query string (fuzz/parse_query.dict gives the fuzzer its words).
    if let Ok(raw) = parse_query(&text) {
        for max in MAX_RANGE_DAYS {
            let _ = validate(raw.clone(), max);
        }
    }

    // The input as the four values, one per line: reaches validate's date, range and length
    // checks without first having to find the query syntax.
    let mut values = text.splitn(4, '\n');
    let raw = RawQuery {
        name: values.next().unwrap_or_default().to_string(),
        from: values.next().unwrap_or_default().to_string(),
        to: values.next().unwrap_or_default().to_string(),
        department_id: values.next().map(str::to_string),
    };
    for max in MAX_RANGE_DAYS {
        let _ = validate(raw.clone(), max);
    }
});
