//! A room's messages, counted as `Total_messages` counts them, from Rocket.Chat's REST API
//! (a [`Walk`] over `livechat/:rid/messages`, then `chat.syncMessages` once).

use serde_json::Value;
use tokio::time::Instant;

use super::client::RestClient;
use super::source::SourceError;
use super::walk::{Order, Walk};
use crate::rocketchat::message::{read_message, Kind};
use crate::rocketchat::DocError;

/// A room's messages as `Total_messages` counts them: neither system (`t`) nor visitor's
/// (`token`), hidden ones included. Returns `(agent messages, messages read)`.
///
/// `livechat/:rid/messages` selects `t` *absent* (MongoDB's `$exists: false`), so a message
/// stored with `"t": null` — which Rocket.Chat's own code never writes, but which counts — is
/// only seen through `chat.syncMessages`; each source counts only its own kind, so a server
/// that returns such a message from both is not counted twice.
pub async fn agent_messages(
    c: &RestClient,
    room_id: &str,
    deadline: Option<Instant>,
) -> Result<(u32, u64), SourceError> {
    let mut agent = 0u32;
    let mut read = 0u64;
    let mut walk = Walk::new(
        Order::TsAsc,
        format!("livechat/{room_id}/messages"),
        "messages",
    );
    while let Some(page) = walk.next(c, deadline).await? {
        for m in &page {
            read += 1;
            if is_agent_message(c, &m.doc, false)? {
                agent = agent.saturating_add(1);
            }
        }
    }
    // Only this endpoint shows a message whose `t` is explicitly null (the listing above
    // selects `t` absent); it is asked once per changed room, never for an unchanged one.
    let body = c
        .get(
            "chat.syncMessages",
            &[
                ("roomId", room_id.to_string()),
                ("lastUpdate", "1970-01-01T00:00:00.000Z".to_string()),
            ],
        )
        .await?;
    let updated = body
        .pointer("/result/updated")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            SourceError::malformed(
                c,
                "chat.syncMessages",
                DocError::Missing("result.updated".into()),
            )
        })?;
    for m in updated {
        read += 1;
        if is_agent_message(c, m, true)? {
            agent = agent.saturating_add(1);
        }
    }
    Ok((agent, read))
}

/// An agent's message whose `t` is explicitly `null` (`t_null`) or absent (otherwise).
fn is_agent_message(c: &RestClient, m: &Value, t_null: bool) -> Result<bool, SourceError> {
    let bytes = serde_json::to_vec(m).unwrap_or_default();
    let message = read_message(&bytes).map_err(|e| SourceError::malformed(c, "a message", e))?;
    let explicit_null = m.get("t") == Some(&Value::Null);
    Ok(message.kind == Kind::Agent && explicit_null == t_null)
}
