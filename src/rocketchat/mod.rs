//! Documents of a Rocket.Chat export, one module per collection, each turning a document into
//! the domain values we store. Every problem is a [`DocError`] naming the field.

pub mod extjson;
pub mod limits;
pub mod message;
pub mod permission;
pub mod room;
pub mod setting;
pub mod user;

use serde_json::Value;

use extjson::ExtJsonError;

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("not valid JSON")]
    Json(#[source] serde_json::Error),
    #[error("not a JSON object")]
    NotObject,
    #[error(transparent)]
    ExtJson(#[from] ExtJsonError),
    #[error("{0} is missing")]
    Missing(String),
    #[error("{field} is not {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

impl DocError {
    /// The same error for a field of a nested document found at `parent`.
    pub fn within(self, parent: &str) -> Self {
        match self {
            DocError::Missing(f) => DocError::Missing(format!("{parent}.{f}")),
            DocError::WrongType { field, expected } => DocError::WrongType {
                field: format!("{parent}.{field}"),
                expected,
            },
            DocError::Invalid { field, problem } => DocError::Invalid {
                field: format!("{parent}.{field}"),
                problem,
            },
            other => other,
        }
    }

    fn wrong(field: &str, expected: &'static str) -> Self {
        DocError::WrongType {
            field: field.to_string(),
            expected,
        }
    }
}

/// One document of an export, Extended JSON already normalized into plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc(serde_json::Map<String, Value>);

impl Doc {
    pub fn parse(line: &[u8]) -> Result<Self, DocError> {
        let raw: Value = serde_json::from_slice(line).map_err(DocError::Json)?;
        Self::from_value(raw)
    }

    pub fn from_value(raw: Value) -> Result<Self, DocError> {
        match extjson::normalize(raw)? {
            Value::Object(map) => Ok(Doc(map)),
            _ => Err(DocError::NotObject),
        }
    }

    /// The value at a dotted path; `None` when it or a parent is absent or `null` (MongoDB
    /// queries treat both alike). A parent that is not an object is a wrong type.
    pub fn get(&self, path: &str) -> Result<Option<&Value>, DocError> {
        let mut parts = path.split('.');
        let Some(first) = parts.next() else {
            return Ok(None);
        };
        let mut current = self.0.get(first);
        let mut walked = first.len();
        for part in parts {
            current = match current {
                None | Some(Value::Null) => return Ok(None),
                Some(Value::Object(map)) => map.get(part),
                Some(_) => return Err(DocError::wrong(&path[..walked], "an object")),
            };
            walked += 1 + part.len();
        }
        Ok(current.filter(|v| !v.is_null()))
    }

    pub fn opt_str(&self, path: &str) -> Result<Option<&str>, DocError> {
        match self.get(path)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(DocError::wrong(path, "a string")),
        }
    }

    pub fn str(&self, path: &str) -> Result<&str, DocError> {
        self.opt_str(path)?
            .ok_or_else(|| DocError::Missing(path.to_string()))
    }

    /// A number, integer or not, at full precision.
    pub fn opt_f64(&self, path: &str) -> Result<Option<f64>, DocError> {
        match self.get(path)? {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| DocError::wrong(path, "a number")),
            Some(_) => Err(DocError::wrong(path, "a number")),
        }
    }

    /// A date, as normalized Extended JSON gives it: integer milliseconds since the epoch.
    pub fn date_ms(&self, path: &str) -> Result<i64, DocError> {
        match self.get(path)? {
            None => Err(DocError::Missing(path.to_string())),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| DocError::wrong(path, "a date")),
            Some(_) => Err(DocError::wrong(path, "a date")),
        }
    }

    pub fn opt_bool(&self, path: &str) -> Result<Option<bool>, DocError> {
        match self.get(path)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(DocError::wrong(path, "a boolean")),
        }
    }

    pub fn opt_array(&self, path: &str) -> Result<Option<&[Value]>, DocError> {
        match self.get(path)? {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(DocError::wrong(path, "an array")),
        }
    }

    pub fn string_list(&self, path: &str) -> Result<Vec<String>, DocError> {
        self.opt_array(path)?
            .unwrap_or_default()
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(DocError::wrong(path, "a list of strings")),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_treat_null_as_absent_and_report_bad_parents() {
        let d = Doc::parse(br#"{"a":{"b":null,"c":{"d":1}},"e":null,"f":3}"#).unwrap();
        assert_eq!(d.opt_f64("a.b").unwrap(), None);
        assert_eq!(d.opt_f64("a.c.d").unwrap(), Some(1.0));
        assert_eq!(d.opt_f64("e.x").unwrap(), None);
        assert_eq!(d.opt_f64("zzz.x").unwrap(), None);
        let err = d.opt_f64("f.g").unwrap_err();
        assert_eq!(err.to_string(), "f is not an object");
        let err = d.opt_str("a.c.d").unwrap_err();
        assert_eq!(err.to_string(), "a.c.d is not a string");
    }

    #[test]
    fn documents_must_be_objects_of_valid_json() {
        assert!(matches!(Doc::parse(b"[1]"), Err(DocError::NotObject)));
        assert!(matches!(Doc::parse(b"{\"a\":"), Err(DocError::Json(_))));
        assert!(matches!(
            Doc::parse(br#"{"ts":{"$date":"soon"}}"#),
            Err(DocError::ExtJson(_))
        ));
    }
}
