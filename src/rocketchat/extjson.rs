//! MongoDB Extended JSON, as `mongoexport` writes it, turned into plain JSON values.
//!
//! Both of mongoexport's formats are accepted, also mixed within one document: relaxed
//! (`{"$date":"2024-03-01T10:00:00.000Z"}`, plain numbers) and canonical
//! (`{"$date":{"$numberLong":"…"}}`, `{"$numberInt":"…"}`, `{"$numberLong":"…"}`,
//! `{"$numberDouble":"…"}`). Dates become integer milliseconds since the epoch. Wrappers that
//! Rocket.Chat's fields never use (`$binary`, `$numberDecimal`, …) are left as they are, so a
//! field that holds one reads as the wrong type and is reported, never guessed at.

use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Number, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExtJsonError {
    #[error("{wrapper} holds {found}, expected {expected}")]
    BadWrapper {
        wrapper: &'static str,
        found: String,
        expected: &'static str,
    },
    #[error("$numberDouble {0:?} is not a finite number")]
    NotFinite(String),
}

/// Rewrites every Extended JSON wrapper in `value` into a plain value.
pub fn normalize(value: Value) -> Result<Value, ExtJsonError> {
    match value {
        Value::Object(map) => normalize_object(map),
        Value::Array(items) => items
            .into_iter()
            .map(normalize)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        plain => Ok(plain),
    }
}

fn normalize_object(map: Map<String, Value>) -> Result<Value, ExtJsonError> {
    if map.len() == 1 {
        if let Some((key, inner)) = map.iter().next() {
            match key.as_str() {
                "$date" => return date(inner).map(Value::from),
                "$numberInt" => return integer("$numberInt", inner).map(Value::from),
                "$numberLong" => return integer("$numberLong", inner).map(Value::from),
                "$numberDouble" => return double(inner),
                "$oid" => {
                    if let Value::String(s) = inner {
                        return Ok(Value::String(s.clone()));
                    }
                }
                _ => {}
            }
        }
    }
    map.into_iter()
        .map(|(k, v)| normalize(v).map(|v| (k, v)))
        .collect::<Result<Map<_, _>, _>>()
        .map(Value::Object)
}

fn describe(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 60 {
        format!("{}…", &text[..text.floor_char_boundary(60)])
    } else {
        text
    }
}

/// `$date`: an ISO-8601 string (relaxed), `{"$numberLong": "…"}` (canonical, and relaxed for
/// dates outside 1970..9999) or a bare number of milliseconds (legacy strict mode).
fn date(inner: &Value) -> Result<i64, ExtJsonError> {
    let bad = || ExtJsonError::BadWrapper {
        wrapper: "$date",
        found: describe(inner),
        expected: "an ISO-8601 date or milliseconds",
    };
    match inner {
        Value::String(s) => parse_iso_date(s).ok_or_else(bad),
        Value::Number(n) => n.as_i64().ok_or_else(bad),
        Value::Object(m) if m.len() == 1 => match m.get("$numberLong") {
            Some(v) => integer("$numberLong", v),
            None => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// RFC 3339 as mongoexport writes it (`Z` or `+01:00`), or the legacy shell's `+0000`.
fn parse_iso_date(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.timestamp_millis());
    }
    // No offset at all: MongoDB dates are UTC.
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

fn integer(wrapper: &'static str, inner: &Value) -> Result<i64, ExtJsonError> {
    let parsed = match inner {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| ExtJsonError::BadWrapper {
        wrapper,
        found: describe(inner),
        expected: "a decimal integer string",
    })
}

/// Rust's `str::parse::<f64>` rounds correctly, so `"1585.352"` becomes exactly the double
/// Rocket.Chat holds. Non-finite values cannot be stored as DynamoDB numbers: they are errors.
fn double(inner: &Value) -> Result<Value, ExtJsonError> {
    let Value::String(s) = inner else {
        return Err(ExtJsonError::BadWrapper {
            wrapper: "$numberDouble",
            found: describe(inner),
            expected: "a decimal number string",
        });
    };
    let x: f64 = s.trim().parse().map_err(|_| ExtJsonError::BadWrapper {
        wrapper: "$numberDouble",
        found: describe(inner),
        expected: "a decimal number string",
    })?;
    Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| ExtJsonError::NotFinite(s.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(text: &str) -> Value {
        normalize(serde_json::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn relaxed_and_canonical_dates_agree() {
        let relaxed = norm(r#"{"ts":{"$date":"2024-03-01T10:00:00.000Z"}}"#);
        let canonical = norm(r#"{"ts":{"$date":{"$numberLong":"1709287200000"}}}"#);
        assert_eq!(relaxed, json!({"ts": 1_709_287_200_000i64}));
        assert_eq!(relaxed, canonical);
    }

    #[test]
    fn dates_keep_milliseconds_and_offsets() {
        assert_eq!(
            norm(r#"{"$date":"2024-03-18T03:59:59.999Z"}"#),
            json!(1_710_734_399_999i64)
        );
        assert_eq!(
            norm(r#"{"$date":"2024-03-18T04:59:59.999+01:00"}"#),
            json!(1_710_734_399_999i64)
        );
        assert_eq!(
            norm(r#"{"$date":"2024-03-18T03:59:59.999+0000"}"#),
            json!(1_710_734_399_999i64)
        );
        assert_eq!(
            norm(r#"{"$date":{"$numberLong":"-62135596800000"}}"#),
            json!(-62_135_596_800_000i64)
        );
    }

    #[test]
    fn canonical_numbers_become_plain_numbers() {
        let v = norm(
            r#"{"a":{"$numberInt":"3650"},"b":{"$numberLong":"9007199254740993"},
                "c":{"$numberDouble":"1585.352"},"d":{"$numberDouble":"0.0"},"e":[{"$numberInt":"-3"}]}"#,
        );
        assert_eq!(v["a"].as_i64(), Some(3650));
        assert_eq!(v["b"].as_i64(), Some(9_007_199_254_740_993));
        assert_eq!(v["c"].as_f64(), Some(1585.352));
        assert_eq!(v["d"].as_f64(), Some(0.0));
        assert_eq!(v["e"][0].as_i64(), Some(-3));
    }

    #[test]
    fn doubles_keep_full_precision() {
        for s in ["89.995", "2.675", "1.005", "59.5", "0.30000000000000004"] {
            let v = norm(&format!(r#"{{"$numberDouble":"{s}"}}"#));
            assert_eq!(v.as_f64(), Some(s.parse::<f64>().unwrap()), "{s}");
        }
        // Relaxed numbers go through serde_json's parser (float_roundtrip enabled).
        let v = norm(r#"{"x":0.30000000000000004,"y":1585.352}"#);
        assert_eq!(v["x"].as_f64(), Some(0.1 + 0.2));
        assert_eq!(v["y"].as_f64(), Some(1585.352));
    }

    #[test]
    fn explicit_null_stays_null() {
        assert_eq!(
            norm(r#"{"t":null,"token":null}"#),
            json!({"t": null, "token": null})
        );
    }

    #[test]
    fn object_ids_become_strings() {
        assert_eq!(
            norm(r#"{"_id":{"$oid":"5f1d7f0e8b0c2a3e4d5f6a7b"}}"#),
            json!({"_id": "5f1d7f0e8b0c2a3e4d5f6a7b"})
        );
    }

    #[test]
    fn other_wrappers_are_left_alone() {
        assert_eq!(
            norm(r#"{"x":{"$numberDecimal":"1.5"}}"#),
            json!({"x": {"$numberDecimal": "1.5"}})
        );
    }

    #[test]
    fn broken_wrappers_are_errors() {
        for text in [
            r#"{"$date":"yesterday"}"#,
            r#"{"$date":true}"#,
            r#"{"$numberInt":"1.5"}"#,
            r#"{"$numberLong":12}"#,
            r#"{"$numberDouble":"abc"}"#,
        ] {
            assert!(
                normalize(serde_json::from_str(text).unwrap()).is_err(),
                "{text}"
            );
        }
        assert_eq!(
            normalize(json!({"$numberDouble": "Infinity"})),
            Err(ExtJsonError::NotFinite("Infinity".into()))
        );
    }
}
