//! The one outgoing call of the API function: `GET {url}/api/v1/me` with the caller's own two
//! headers, asking the tenant's Rocket.Chat who the token belongs to.
//!
//! It follows [`crate::outbound`]'s rules, as the sync does: no redirect is followed (a 3xx
//! is a failure, so the token never reaches another host); https is required, except to a
//! loopback address; the whole call has a timeout; the body is read at most
//! [`MAX_BODY_BYTES`] and refused past it.

use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::outbound::{self, BodyError};

/// `/me` answers about 2 KB; anything past this is not Rocket.Chat's answer.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What `/me` said about the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum MeAnswer {
    /// 200, the caller's own active user.
    User(MeUser),
    /// 401, or a 200 about another user or an inactive one: the token does not admit.
    Refused,
    /// Rocket.Chat could not tell: never an answer from an unchecked token.
    Unavailable(Failure),
}

/// The user `/me` returned, as far as the endpoint needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct MeUser {
    pub username: String,
    /// Global roles only, as `/me` returns them.
    pub roles: Vec<String>,
    /// Hours from UTC (may be fractional), for the `user` reporting zone.
    pub utc_offset: Option<f64>,
}

/// Why a check could not be made; the `kind` of the failure metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    Connect,
    /// 5xx.
    ServerError,
    /// 429, with `X-RateLimit-Reset` (epoch ms) when it came.
    RateLimited(Option<i64>),
    /// 3xx: not followed.
    Redirect,
    /// Another status (403, 404, …): not an answer about the token.
    Status,
    Malformed,
    Oversized,
    /// The connected URL is not https (nor loopback http): nothing is sent.
    InsecureUrl,
}

impl Failure {
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Connect => "connect",
            Failure::ServerError => "server-error",
            Failure::RateLimited(_) => "rate-limited",
            Failure::Redirect => "redirect",
            Failure::Status => "status",
            Failure::Malformed => "malformed",
            Failure::Oversized => "oversized",
            Failure::InsecureUrl => "insecure-url",
        }
    }

    /// Rocket.Chat could not be reached at all (the alarm's metric).
    pub fn unreachable(&self) -> bool {
        matches!(
            self,
            Failure::Timeout | Failure::Connect | Failure::ServerError
        )
    }
}

/// The HTTP client of the check, with [`outbound`]'s rules (no redirects, a timeout on
/// connect and on the whole call). Built once per environment, on the first check (not at INIT).
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    outbound::client(
        timeout,
        concat!("agent-overview-sign-in/", env!("CARGO_PKG_VERSION")),
    )
}

/// `{base}/api/v1/me`, when `base` passes [`outbound::checked_url`] (https, or http to a
/// loopback address; no user info).
pub fn me_url(base: &str) -> Option<Url> {
    let mut url = outbound::checked_url(base).ok()?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.join("api/v1/me").ok()
}

/// Asks `/me` about the caller. Bounded by `timeout` as a whole, whatever the server does.
pub async fn ask_me(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    user_id: &str,
    timeout: Duration,
) -> MeAnswer {
    let Some(url) = me_url(base) else {
        return MeAnswer::Unavailable(Failure::InsecureUrl);
    };
    match tokio::time::timeout(timeout, call(http, url, token, user_id)).await {
        Ok(answer) => answer,
        Err(_) => MeAnswer::Unavailable(Failure::Timeout),
    }
}

async fn call(http: &reqwest::Client, url: Url, token: &str, user_id: &str) -> MeAnswer {
    let (Ok(mut token), Ok(user)) = (HeaderValue::from_str(token), HeaderValue::from_str(user_id))
    else {
        // Not sendable as a header: Rocket.Chat could never have issued it.
        return MeAnswer::Refused;
    };
    token.set_sensitive(true);
    let sent = http
        .get(url)
        .header("X-Auth-Token", token)
        .header("X-User-Id", user)
        .header("Accept", "application/json")
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return MeAnswer::Unavailable(Failure::Timeout),
        Err(_) => return MeAnswer::Unavailable(Failure::Connect),
    };
    let status = response.status();
    match status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED => return MeAnswer::Refused,
        StatusCode::TOO_MANY_REQUESTS => {
            let reset = response
                .headers()
                .get("x-ratelimit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok());
            return MeAnswer::Unavailable(Failure::RateLimited(reset));
        }
        s if s.is_redirection() => return MeAnswer::Unavailable(Failure::Redirect),
        s if s.is_server_error() => return MeAnswer::Unavailable(Failure::ServerError),
        _ => return MeAnswer::Unavailable(Failure::Status),
    }
    let body = match outbound::read_body(response, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge { .. }) => return MeAnswer::Unavailable(Failure::Oversized),
        Err(BodyError::Transport(e)) if e.is_timeout() => {
            return MeAnswer::Unavailable(Failure::Timeout)
        }
        Err(BodyError::Transport(_)) => return MeAnswer::Unavailable(Failure::Connect),
    };
    read_me(&body, user_id)
}

/// A 200's body: the caller's own user (`_id` equal to `X-User-Id`) and active, or refused.
pub fn read_me(body: &[u8], user_id: &str) -> MeAnswer {
    let malformed = MeAnswer::Unavailable(Failure::Malformed);
    let Ok(Value::Object(me)) = serde_json::from_slice::<Value>(body) else {
        return malformed;
    };
    if me.get("success").is_some_and(|s| s != &Value::Bool(true)) {
        return malformed;
    }
    let Some(Value::String(id)) = me.get("_id") else {
        return malformed;
    };
    if id != user_id {
        return MeAnswer::Refused;
    }
    match me.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return MeAnswer::Refused,
        _ => return malformed,
    }
    let roles = match me.get("roles") {
        Some(Value::Array(roles)) => {
            let roles: Option<Vec<String>> = roles
                .iter()
                .map(|r| r.as_str().map(str::to_string))
                .collect();
            match roles {
                Some(r) => r,
                None => return malformed,
            }
        }
        _ => return malformed,
    };
    let Some(Value::String(username)) = me.get("username") else {
        return malformed;
    };
    let utc_offset = me
        .get("utcOffset")
        .and_then(Value::as_f64)
        .filter(|o| o.is_finite());
    MeAnswer::User(MeUser {
        username: username.clone(),
        roles,
        utc_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_asked() {
        assert_eq!(
            me_url("https://chat.example.com/rc").unwrap().as_str(),
            "https://chat.example.com/rc/api/v1/me"
        );
        assert_eq!(
            me_url("http://127.0.0.1:3000").unwrap().as_str(),
            "http://127.0.0.1:3000/api/v1/me"
        );
        assert!(me_url("http://[::1]:3000/").is_some());
        assert!(me_url("http://localhost:3000/").is_some());
        assert!(me_url("http://chat.example.com").is_none());
        assert!(me_url("https://u:p@chat.example.com").is_none());
        assert!(me_url("ftp://chat.example.com").is_none());
    }

    #[test]
    fn a_200_admits_only_the_callers_own_active_user() {
        let me = br#"{"_id":"u1","username":"boss","active":true,"roles":["user","livechat-manager"],"utcOffset":5.5,"success":true}"#;
        assert_eq!(
            read_me(me, "u1"),
            MeAnswer::User(MeUser {
                username: "boss".into(),
                roles: vec!["user".into(), "livechat-manager".into()],
                utc_offset: Some(5.5),
            })
        );
        assert_eq!(read_me(me, "u2"), MeAnswer::Refused, "another user's token");
        let inactive = br#"{"_id":"u1","username":"boss","active":false,"roles":[]}"#;
        assert_eq!(read_me(inactive, "u1"), MeAnswer::Refused);
        for bad in [
            &b"not json"[..],
            br#"[1]"#,
            br#"{"_id":"u1","username":"b","active":true}"#,
            br#"{"_id":"u1","username":"b","active":true,"roles":[1]}"#,
            br#"{"_id":"u1","username":"b","roles":[]}"#,
            br#"{"_id":"u1","username":"b","active":true,"roles":[],"success":false}"#,
        ] {
            assert_eq!(
                read_me(bad, "u1"),
                MeAnswer::Unavailable(Failure::Malformed),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
