//! A livechat conversation as the figures see it: the fields of a Rocket.Chat room that any of
//! the seven figures reads, and nothing else.

/// One livechat room (`t: "l"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub room_id: String,
    /// Start of the room (`ts`), milliseconds since the Unix epoch.
    pub ts_ms: i64,
    pub department_id: Option<String>,
    pub open: Option<bool>,
    /// `servedBy.username`.
    pub agent: Option<String>,
    /// `responseBy.username`.
    pub responder: Option<String>,
    /// `metrics.chatDuration`, seconds.
    pub chat_duration: Option<f64>,
    /// `metrics.response.ft`, seconds.
    pub first_response: Option<f64>,
    /// `metrics.response.avg`, seconds.
    pub avg_response: Option<f64>,
    /// `metrics.reaction.ft`, seconds.
    pub first_reaction: Option<f64>,
    /// Messages that are neither system (`t`) nor visitor (`token`) messages.
    pub agent_messages: u32,
}
