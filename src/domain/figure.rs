//! The seven figures of `agent-overview`: which agent a conversation counts for, which metric
//! it contributes, how the value is shown and how rows are sorted.

/// One of the seven `name`s the endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    TotalConversations,
    AvgChatDuration,
    TotalMessages,
    AvgFirstResponseTime,
    BestFirstResponseTime,
    AvgResponseTime,
    AvgReactionTime,
}

/// Which username a conversation is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentField {
    /// `servedBy.username`.
    ServedBy,
    /// `responseBy.username`.
    ResponseBy,
}

/// What a conversation contributes to its agent's figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricField {
    /// Nothing but its existence (a count).
    None,
    ChatDuration,
    FirstResponse,
    AvgResponse,
    FirstReaction,
    AgentMessages,
}

/// How the per-agent contributions are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Share of all counted conversations, as `NN.NN%`.
    ShareOfTotal,
    /// Sum of `max(agentMessages, 1)`, as an integer.
    MessageSum,
    /// Mean of the truthy metric values, as `HH:MM:SS`.
    Mean,
    /// Minimum of the truthy metric values, as `HH:MM:SS`.
    Minimum,
}

impl Figure {
    pub const ALL: [Figure; 7] = [
        Figure::TotalConversations,
        Figure::AvgChatDuration,
        Figure::TotalMessages,
        Figure::AvgFirstResponseTime,
        Figure::BestFirstResponseTime,
        Figure::AvgResponseTime,
        Figure::AvgReactionTime,
    ];

    /// The `name` query parameter, exactly as Rocket.Chat spells it.
    pub fn name(self) -> &'static str {
        match self {
            Figure::TotalConversations => "Total_conversations",
            Figure::AvgChatDuration => "Avg_chat_duration",
            Figure::TotalMessages => "Total_messages",
            Figure::AvgFirstResponseTime => "Avg_first_response_time",
            Figure::BestFirstResponseTime => "Best_first_response_time",
            Figure::AvgResponseTime => "Avg_response_time",
            Figure::AvgReactionTime => "Avg_reaction_time",
        }
    }

    pub fn parse(name: &str) -> Option<Figure> {
        Figure::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The second `head` entry (the first is always `Agent`).
    pub fn head_name(self) -> &'static str {
        match self {
            Figure::TotalConversations => "%_of_conversations",
            other => other.name(),
        }
    }

    pub fn agent_field(self) -> AgentField {
        match self {
            Figure::AvgFirstResponseTime | Figure::BestFirstResponseTime => AgentField::ResponseBy,
            _ => AgentField::ServedBy,
        }
    }

    pub fn metric_field(self) -> MetricField {
        match self {
            Figure::TotalConversations => MetricField::None,
            Figure::AvgChatDuration => MetricField::ChatDuration,
            Figure::TotalMessages => MetricField::AgentMessages,
            Figure::AvgFirstResponseTime | Figure::BestFirstResponseTime => {
                MetricField::FirstResponse
            }
            Figure::AvgResponseTime => MetricField::AvgResponse,
            Figure::AvgReactionTime => MetricField::FirstReaction,
        }
    }

    pub fn combine(self) -> Combine {
        match self {
            Figure::TotalConversations => Combine::ShareOfTotal,
            Figure::TotalMessages => Combine::MessageSum,
            Figure::BestFirstResponseTime => Combine::Minimum,
            _ => Combine::Mean,
        }
    }

    /// Rocket.Chat sorts the first three figures descending, the four time figures ascending.
    pub fn sorts_descending(self) -> bool {
        matches!(
            self,
            Figure::TotalConversations | Figure::AvgChatDuration | Figure::TotalMessages
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_rejected() {
        for f in Figure::ALL {
            assert_eq!(Figure::parse(f.name()), Some(f));
        }
        assert_eq!(Figure::parse("Total_chats"), None);
        assert_eq!(Figure::parse("total_conversations"), None);
    }

    #[test]
    fn head_names_match_rocket_chat() {
        let heads: Vec<_> = Figure::ALL.iter().map(|f| f.head_name()).collect();
        assert_eq!(
            heads,
            [
                "%_of_conversations",
                "Avg_chat_duration",
                "Total_messages",
                "Avg_first_response_time",
                "Best_first_response_time",
                "Avg_response_time",
                "Avg_reaction_time"
            ]
        );
    }

    #[test]
    fn first_response_figures_count_for_the_responder() {
        for f in Figure::ALL {
            let expected = matches!(
                f,
                Figure::AvgFirstResponseTime | Figure::BestFirstResponseTime
            );
            assert_eq!(f.agent_field() == AgentField::ResponseBy, expected, "{f:?}");
        }
    }

    #[test]
    fn only_the_first_three_sort_descending() {
        let desc: Vec<_> = Figure::ALL
            .iter()
            .filter(|f| f.sorts_descending())
            .collect();
        assert_eq!(
            desc,
            [
                &Figure::TotalConversations,
                &Figure::AvgChatDuration,
                &Figure::TotalMessages
            ]
        );
    }
}
