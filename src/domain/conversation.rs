//! A livechat conversation as the figures see it: the fields of a Rocket.Chat room that any of
//! the seven figures reads, and nothing else.

use super::figure::{AgentField, Figure, MetricField};

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

impl Conversation {
    /// The conversation as the figures see it: `open` is read by none of them (and the GSIs do
    /// not project it), so it is left out.
    pub fn figures_only(&self) -> Self {
        Self {
            open: None,
            ..self.clone()
        }
    }

    /// Whether two versions of a conversation give the same figures (they may differ in `open`).
    pub fn same_figures(&self, other: &Self) -> bool {
        self.figures_only() == other.figures_only()
    }

    /// A room with only its id and start: no department, agent, metrics or agent messages
    /// yet (what a room that nobody took looks like).
    pub fn new(room_id: impl Into<String>, ts_ms: i64) -> Self {
        Self {
            room_id: room_id.into(),
            ts_ms,
            department_id: None,
            open: None,
            agent: None,
            responder: None,
            chat_duration: None,
            first_response: None,
            avg_response: None,
            first_reaction: None,
            agent_messages: 0,
        }
    }

    /// The username a figure counts this conversation under, if any.
    pub fn agent_for(&self, figure: Figure) -> Option<&str> {
        match figure.agent_field() {
            AgentField::ServedBy => self.agent.as_deref(),
            AgentField::ResponseBy => self.responder.as_deref(),
        }
    }

    /// The metric a figure reads from this conversation (`agentMessages` as a number).
    pub fn metric_for(&self, figure: Figure) -> Option<f64> {
        match figure.metric_field() {
            MetricField::None => None,
            MetricField::ChatDuration => self.chat_duration,
            MetricField::FirstResponse => self.first_response,
            MetricField::AvgResponse => self.avg_response,
            MetricField::FirstReaction => self.first_reaction,
            MetricField::AgentMessages => Some(f64::from(self.agent_messages)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_ignore_open_and_nothing_else() {
        let closed = Conversation {
            open: Some(false),
            agent: Some("kim".into()),
            chat_duration: Some(12.5),
            ..Conversation::new("R1", 1_709_251_200_000)
        };
        let open = Conversation {
            open: Some(true),
            ..closed.clone()
        };
        assert!(closed.same_figures(&open));
        assert_eq!(open.figures_only().open, None);
        let longer = Conversation {
            chat_duration: Some(13.0),
            ..closed.clone()
        };
        assert!(!closed.same_figures(&longer));
        let reassigned = Conversation {
            agent: Some("jane".into()),
            ..closed.clone()
        };
        assert!(!closed.same_figures(&reassigned));
    }
}
