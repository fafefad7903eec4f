//! `rocketchat_room`: livechat rooms become conversations; other room types are only counted.

use super::{Doc, DocError};
use crate::domain::conversation::Conversation;

/// What one room document is to the import.
#[derive(Debug, Clone, PartialEq)]
pub enum Room {
    /// A livechat room (`t: "l"`), with `agent_messages` still 0: messages are counted apart.
    Livechat(Conversation),
    /// Any other room type (`c`, `p`, `d`, …); `None` when the room has no `t`.
    Other(Option<String>),
}

/// Every room must have its `_id`, whatever its type: a document without one is not a
/// MongoDB document, and the export it came from is suspect.
pub fn read_room(doc: &Doc) -> Result<Room, DocError> {
    doc.str("_id")?;
    match doc.opt_str("t")? {
        Some("l") => read_livechat(doc).map(Room::Livechat),
        other => Ok(Room::Other(other.map(str::to_string))),
    }
}

/// The fields the seven figures read (spec §5). Absent or `null` stays absent; 0 stays 0.
fn read_livechat(doc: &Doc) -> Result<Conversation, DocError> {
    Ok(Conversation {
        room_id: doc.str("_id")?.to_string(),
        ts_ms: doc.date_ms("ts")?,
        department_id: doc.opt_str("departmentId")?.map(str::to_string),
        open: doc.opt_bool("open")?,
        agent: username_of(doc, "servedBy")?,
        responder: username_of(doc, "responseBy")?,
        chat_duration: doc.opt_f64("metrics.chatDuration")?,
        first_response: doc.opt_f64("metrics.response.ft")?,
        avg_response: doc.opt_f64("metrics.response.avg")?,
        first_reaction: doc.opt_f64("metrics.reaction.ft")?,
        agent_messages: 0,
    })
}

/// `servedBy` / `responseBy`: absent means nobody; present, it must name a user, since the
/// figures group by that username.
fn username_of(doc: &Doc, field: &str) -> Result<Option<String>, DocError> {
    if doc.get(field)?.is_none() {
        return Ok(None);
    }
    doc.str(&format!("{field}.username"))
        .map(|u| Some(u.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(text: &str) -> Result<Room, DocError> {
        read_room(&Doc::parse(text.as_bytes()).unwrap())
    }

    fn livechat(text: &str) -> Conversation {
        match room(text).unwrap() {
            Room::Livechat(c) => c,
            other => panic!("not livechat: {other:?}"),
        }
    }

    #[test]
    fn relaxed_livechat_room_maps_every_figure_field() {
        let c = livechat(
            r#"{"_id":"7brLe0Vyhlr7HiKRk","t":"l","ts":{"$date":"2024-03-18T03:59:59.999Z"},"open":true,"msgs":7,
            "departmentId":"Y8qS0BFn7BwpkZ01B","servedBy":{"_id":"JF","username":"baek","ts":{"$date":"2024-03-18T03:59:59.999Z"}},
            "responseBy":{"_id":"JF","username":"baek"},"metrics":{"chatDuration":1585.352,"response":{"ft":0,"avg":2411.16},"reaction":{"ft":3472}}}"#,
        );
        assert_eq!(
            c,
            Conversation {
                room_id: "7brLe0Vyhlr7HiKRk".into(),
                ts_ms: 1_710_734_399_999,
                department_id: Some("Y8qS0BFn7BwpkZ01B".into()),
                open: Some(true),
                agent: Some("baek".into()),
                responder: Some("baek".into()),
                chat_duration: Some(1585.352),
                first_response: Some(0.0),
                avg_response: Some(2411.16),
                first_reaction: Some(3472.0),
                agent_messages: 0,
            }
        );
    }

    #[test]
    fn canonical_room_maps_the_same_way() {
        let c = livechat(
            r#"{"_id":"V70N","t":"l","ts":{"$date":{"$numberLong":"1729738516668"}},"open":false,"msgs":{"$numberInt":"18"},
            "servedBy":{"_id":"6J","username":"kim"},"responseBy":{"_id":"6J","username":"kim"},
            "metrics":{"chatDuration":{"$numberInt":"0"},"response":{"ft":{"$numberDouble":"7847.857"}},"reaction":{"ft":{"$numberDouble":"1368.7"}}}}"#,
        );
        assert_eq!(c.ts_ms, 1_729_738_516_668);
        assert_eq!(c.department_id, None);
        assert_eq!(c.chat_duration, Some(0.0));
        assert_eq!(c.first_response, Some(7847.857));
        assert_eq!(c.avg_response, None);
        assert_eq!(c.first_reaction, Some(1368.7));
    }

    #[test]
    fn unserved_room_without_metrics_has_everything_absent() {
        let c = livechat(
            r#"{"_id":"r","t":"l","ts":{"$date":"2024-03-01T00:00:00Z"},"servedBy":null,"metrics":null}"#,
        );
        assert_eq!(c.agent, None);
        assert_eq!(c.responder, None);
        assert_eq!(c.open, None);
        assert_eq!(c.chat_duration, None);
        assert_eq!(c.first_reaction, None);
    }

    #[test]
    fn other_room_types_are_not_conversations_and_need_no_ts() {
        assert_eq!(
            room(r#"{"_id":"c1","t":"c"}"#).unwrap(),
            Room::Other(Some("c".into()))
        );
        assert_eq!(room(r#"{"_id":"x"}"#).unwrap(), Room::Other(None));
    }

    #[test]
    fn malformed_livechat_rooms_name_the_field() {
        let cases = [
            (
                r#"{"t":"l","ts":{"$date":"2024-03-01T00:00:00Z"}}"#,
                "_id is missing",
            ),
            (r#"{"_id":"r","t":"l"}"#, "ts is missing"),
            (
                r#"{"_id":"r","t":"l","ts":"2024-03-01"}"#,
                "ts is not a date",
            ),
            (
                r#"{"_id":"r","t":"l","ts":1,"metrics":{"chatDuration":"10"}}"#,
                "metrics.chatDuration is not a number",
            ),
            (
                r#"{"_id":"r","t":"l","ts":1,"servedBy":{"_id":"u"}}"#,
                "servedBy.username is missing",
            ),
            (
                r#"{"_id":"r","t":"l","ts":1,"open":"yes"}"#,
                "open is not a boolean",
            ),
            (r#"{"_id":7,"t":"l","ts":1}"#, "_id is not a string"),
            (r#"{"_id":"r","t":5}"#, "t is not a string"),
            (r#"{"t":"c"}"#, "_id is missing"),
        ];
        for (text, message) in cases {
            assert_eq!(room(text).unwrap_err().to_string(), message, "{text}");
        }
    }
}
