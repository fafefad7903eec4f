//! `rocketchat_message`: only `rid`, `t` and `token` matter. Messages are the largest
//! collection, so a line is parsed into those three fields alone; the rest is skipped by the
//! parser without building values.

use serde::Deserialize;
use serde_json::Value;

use super::DocError;
use crate::rocketchat::extjson;

/// Rocket.Chat's kinds of message, as `Total_messages` sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Neither a system message (`t`) nor a visitor's (`token`): counted.
    Agent,
    /// Has a `t` (`uj`, `livechat-started`, `command`, …).
    System,
    /// Has a `token`: sent by the visitor.
    Visitor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub room_id: String,
    pub kind: Kind,
}

/// An explicit JSON `null` deserializes to `None` here, as absent does: Rocket.Chat tests
/// `$lte: [field, null]`, which holds for both.
#[derive(Deserialize)]
struct Fields {
    #[serde(default)]
    rid: Option<Value>,
    #[serde(default)]
    t: Option<Value>,
    #[serde(default)]
    token: Option<Value>,
}

pub fn read_message(line: &[u8]) -> Result<Message, DocError> {
    // serde would also accept a JSON array as a struct's fields in order; a document is an object.
    if line.trim_ascii_start().first() != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
                Ok(_) => DocError::NotObject,
                Err(e) => DocError::Json(e),
            },
        );
    }
    let fields: Fields = serde_json::from_slice(line).map_err(DocError::Json)?;
    let room_id = match fields.rid.map(extjson::normalize).transpose()? {
        None | Some(Value::Null) => return Err(DocError::Missing("rid".into())),
        Some(Value::String(s)) => s,
        Some(_) => return Err(DocError::wrong("rid", "a string")),
    };
    let has_type = present_string(fields.t, "t")?;
    let has_token = present_string(fields.token, "token")?;
    let kind = match (has_type, has_token) {
        (true, _) => Kind::System,
        (false, true) => Kind::Visitor,
        (false, false) => Kind::Agent,
    };
    Ok(Message { room_id, kind })
}

fn present_string(value: Option<Value>, field: &str) -> Result<bool, DocError> {
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(_)) => Ok(true),
        Some(_) => Err(DocError::wrong(field, "a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Kind {
        read_message(text.as_bytes()).unwrap().kind
    }

    #[test]
    fn classifies_agent_system_and_visitor_messages() {
        assert_eq!(
            kind(r#"{"_id":"m","rid":"r","msg":"hi","u":{"username":"kim"}}"#),
            Kind::Agent
        );
        assert_eq!(kind(r#"{"rid":"r","t":"livechat-started"}"#), Kind::System);
        assert_eq!(
            kind(r#"{"rid":"r","token":"abc","u":{"username":"guest"}}"#),
            Kind::Visitor
        );
        assert_eq!(
            kind(r#"{"rid":"r","t":"command","token":"abc"}"#),
            Kind::System
        );
    }

    #[test]
    fn explicit_null_type_and_token_count_as_absent() {
        assert_eq!(kind(r#"{"rid":"r","t":null}"#), Kind::Agent);
        assert_eq!(kind(r#"{"rid":"r","t":null,"token":null}"#), Kind::Agent);
        assert_eq!(kind(r#"{"rid":"r","token":null}"#), Kind::Agent);
    }

    #[test]
    fn canonical_dates_and_other_fields_are_ignored() {
        let m = read_message(
            br#"{"_id":"7D","rid":"PPS","msg":"hi","ts":{"$date":{"$numberLong":"1729805514904"}},"u":{"_id":"L","username":"o'neil"}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            Message {
                room_id: "PPS".into(),
                kind: Kind::Agent
            }
        );
    }

    #[test]
    fn malformed_messages_are_errors() {
        for (text, message) in [
            (r#"{"_id":"m"}"#, "rid is missing"),
            (r#"{"rid":null}"#, "rid is missing"),
            (r#"{"rid":4}"#, "rid is not a string"),
            (r#"{"rid":"r","t":1}"#, "t is not a string"),
            (r#"{"rid":"r","token":{"a":1}}"#, "token is not a string"),
            (r#"[1,2]"#, "not a JSON object"),
            (r#"{"rid":"r""#, "not valid JSON"),
        ] {
            assert_eq!(
                read_message(text.as_bytes()).unwrap_err().to_string(),
                message,
                "{text}"
            );
        }
    }
}
