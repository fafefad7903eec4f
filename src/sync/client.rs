//! Rocket.Chat's REST API as the sync reads it: authenticated GETs with a timeout on every call,
//! 429s waited out until `X-RateLimit-Reset` (epoch milliseconds), 5xx and broken connections
//! retried a bounded number of times, 401 and 403 reported at once. The outgoing rules of
//! [`crate::outbound`] hold: no redirect followed (a 3xx is an error naming its target host),
//! `https` outside loopback, bodies bounded.
//!
//! The token is held in [`AuthToken`], which has no `Debug` or `Display`: it reaches the request
//! headers and nothing else. Errors and logs name the URL's host, never the token, and quote
//! the server only through [`crate::outbound::excerpt`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use tokio::time::Instant;

use crate::domain::clock::Clock;
pub use crate::outbound::host_of;
use crate::outbound::{self, BodyError, UrlError};

/// A personal access token. Deliberately neither `Debug` nor `Display`.
pub struct AuthToken(String);

impl AuthToken {
    /// `None` for an empty or blank token.
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into().trim().to_string();
        (!token.is_empty()).then_some(Self(token))
    }
}

/// How long to wait and how often to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Each call, connect to last byte.
    pub timeout: Duration,
    /// Retries of a 5xx or broken connection, after the first call.
    pub max_retries: u32,
    /// Back-off before the first retry; doubles per retry.
    pub base_backoff: Duration,
    /// A 429 whose reset is further away than this is an error instead of a wait.
    pub max_rate_limit_wait: Duration,
    /// 429s waited for in one call before giving up.
    pub max_rate_limit_waits: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_retries: 4,
            base_backoff: Duration::from_millis(500),
            max_rate_limit_wait: Duration::from_secs(90),
            max_rate_limit_waits: 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("{0:?} is not an http(s) URL with a host")]
    BadUrl(String),
    #[error("the workspace URL is refused")]
    Url(#[from] UrlError),
    #[error("{host} answered {status} to {path}, a redirect to {to}: redirects are not followed (connect the address it names, with https)")]
    Redirected {
        host: String,
        path: String,
        status: u16,
        to: String,
    },
    #[error("{host} answered {path} with a body over {limit} bytes; refused")]
    TooLarge {
        host: String,
        path: String,
        limit: usize,
    },
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error(
        "{host} answered 401: the token is wrong or revoked (or the user id does not match it)"
    )]
    Unauthorized { host: String },
    #[error("{host} answered 403 to {path}: the service account lacks a permission ({error})")]
    Forbidden {
        host: String,
        path: String,
        error: String,
    },
    #[error("{host} answered {status} to {path}: {error}")]
    Status {
        host: String,
        path: String,
        status: u16,
        error: String,
    },
    #[error("{host} still failed on {path} after {attempts} attempts: {last}")]
    Unavailable {
        host: String,
        path: String,
        attempts: u32,
        last: String,
    },
    #[error("{host} rate-limits {path} for longer than the sync may wait")]
    RateLimited { host: String, path: String },
    #[error("the time budget ran out while waiting for {host}")]
    OutOfTime { host: String },
    #[error("{host} answered {path} with a body that is not the expected JSON: {problem}")]
    Body {
        host: String,
        path: String,
        problem: String,
    },
}

impl RestError {
    /// A failure of the credentials rather than of the server.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            RestError::Unauthorized { .. } | RestError::Forbidden { .. }
        )
    }
}

/// What the client did, for the summary.
#[derive(Debug, Default)]
pub struct CallStats {
    pub requests: AtomicU64,
    pub rate_limited: AtomicU64,
    pub rate_limited_wait_ms: AtomicU64,
    pub retries: AtomicU64,
}

impl CallStats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

pub struct RestClient {
    http: reqwest::Client,
    base: Url,
    host: String,
    user_id: String,
    token: AuthToken,
    policy: RetryPolicy,
    deadline: Option<Instant>,
    body_limit: usize,
    /// Tells how long until an `X-RateLimit-Reset` (an epoch time).
    clock: Clock,
    pub stats: CallStats,
}

impl RestClient {
    /// `url` is the workspace's address (`https://chat.example.com`, possibly with a path);
    /// `clock` tells how long until a rate limit's reset.
    pub fn new(
        url: &str,
        user_id: &str,
        token: AuthToken,
        policy: RetryPolicy,
        clock: Clock,
    ) -> Result<Self, RestError> {
        let base = parse_base(url)?;
        let host = host_of(&base);
        let http = outbound::client(
            policy.timeout,
            concat!("agent-overview-sync/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(RestError::Client)?;
        Ok(Self {
            http,
            base,
            host,
            user_id: user_id.to_string(),
            token,
            policy,
            deadline: None,
            body_limit: outbound::MAX_BODY_BYTES,
            clock,
            stats: CallStats::default(),
        })
    }

    /// Whether `url` is one [`RestClient::new`] accepts.
    pub fn check_url(url: &str) -> Result<(), RestError> {
        parse_base(url).map(|_| ())
    }

    /// No wait or retry starts past `deadline`.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Refuse bodies over `limit` bytes (default [`outbound::MAX_BODY_BYTES`]).
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// `text` with every occurrence of the token replaced: for an error chain about to be
    /// logged, whatever part of it came from the server.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.token.0)
    }

    fn error_text(&self, body: &[u8]) -> String {
        error_text(body, &self.token.0)
    }

    pub fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// `GET /api/v1/{path}?{query}`: the JSON body of a 200 whose `success` is not `false`.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, RestError> {
        let url = self.url(path, query)?;
        let mut retries = 0u32;
        let mut waits = 0u32;
        loop {
            CallStats::add(&self.stats.requests, 1);
            let failure = match self.call(url.clone()).await {
                Err(Failure::TooLarge(limit)) => {
                    return Err(RestError::TooLarge {
                        host: self.host.clone(),
                        path: path.to_string(),
                        limit,
                    })
                }
                Ok((status, headers, _)) if status.is_redirection() => {
                    return Err(RestError::Redirected {
                        host: self.host.clone(),
                        path: path.to_string(),
                        status: status.as_u16(),
                        to: outbound::redirect_host(status, &headers, &url).unwrap_or_default(),
                    })
                }
                Ok((status, headers, body)) => match status {
                    StatusCode::OK => return self.parse(path, &body),
                    StatusCode::UNAUTHORIZED => {
                        return Err(RestError::Unauthorized {
                            host: self.host.clone(),
                        })
                    }
                    StatusCode::FORBIDDEN => {
                        return Err(RestError::Forbidden {
                            host: self.host.clone(),
                            path: path.to_string(),
                            error: self.error_text(&body),
                        })
                    }
                    StatusCode::TOO_MANY_REQUESTS => {
                        waits += 1;
                        let wait = self.rate_limit_wait(&headers, retries);
                        if waits > self.policy.max_rate_limit_waits
                            || wait > self.policy.max_rate_limit_wait
                        {
                            return Err(RestError::RateLimited {
                                host: self.host.clone(),
                                path: path.to_string(),
                            });
                        }
                        CallStats::add(&self.stats.rate_limited, 1);
                        CallStats::add(&self.stats.rate_limited_wait_ms, wait.as_millis() as u64);
                        tracing::info!(host = %self.host, path, wait_ms = wait.as_millis() as u64, "rate-limited; waiting");
                        self.sleep(wait).await?;
                        continue;
                    }
                    s if s.is_server_error() => format!("HTTP {}", s.as_u16()),
                    s => {
                        return Err(RestError::Status {
                            host: self.host.clone(),
                            path: path.to_string(),
                            status: s.as_u16(),
                            error: self.error_text(&body),
                        })
                    }
                },
                Err(Failure::Transport(e)) => transport_text(&e),
            };
            if retries >= self.policy.max_retries {
                return Err(RestError::Unavailable {
                    host: self.host.clone(),
                    path: path.to_string(),
                    attempts: retries + 1,
                    last: failure,
                });
            }
            retries += 1;
            CallStats::add(&self.stats.retries, 1);
            let backoff = self
                .policy
                .base_backoff
                .saturating_mul(2u32.saturating_pow(retries - 1));
            tracing::warn!(host = %self.host, path, failure, retry = retries, "retrying");
            self.sleep(backoff).await?;
        }
    }

    async fn call(&self, url: Url) -> Result<(StatusCode, HeaderMap, Vec<u8>), Failure> {
        let mut token =
            HeaderValue::from_str(&self.token.0).unwrap_or(HeaderValue::from_static(""));
        token.set_sensitive(true);
        let response = self
            .http
            .get(url)
            .header("X-Auth-Token", token)
            .header("X-User-Id", self.user_id.as_str())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(Failure::Transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if status.is_redirection() {
            return Ok((status, headers, Vec::new()));
        }
        let body = outbound::read_body(response, self.body_limit)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { limit } => Failure::TooLarge(limit),
                BodyError::Transport(e) => Failure::Transport(e),
            })?;
        Ok((status, headers, body))
    }

    fn parse(&self, path: &str, body: &[u8]) -> Result<Value, RestError> {
        let bad = |problem: String| RestError::Body {
            host: self.host.clone(),
            path: path.to_string(),
            problem,
        };
        // serde's message may quote the body; say where it broke, not what it read.
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            bad(format!(
                "not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if !value.is_object() {
            return Err(bad("not a JSON object".into()));
        }
        if value.get("success") == Some(&Value::Bool(false)) {
            return Err(bad(format!("success is false: {}", self.error_text(body))));
        }
        Ok(value)
    }

    /// Until `X-RateLimit-Reset` (epoch ms), or a back-off when the header is missing.
    fn rate_limit_wait(&self, headers: &HeaderMap, retries: u32) -> Duration {
        let reset_ms = headers
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok());
        match reset_ms {
            Some(reset) => {
                let now = (self.clock)();
                // A little past the reset: Rocket.Chat's window may tick a moment late.
                Duration::from_millis(reset.saturating_sub(now).max(0) as u64 + 50)
            }
            None => self
                .policy
                .base_backoff
                .saturating_mul(2u32.saturating_pow(retries.min(6))),
        }
    }

    async fn sleep(&self, wait: Duration) -> Result<(), RestError> {
        if let Some(deadline) = self.deadline {
            if Instant::now() + wait >= deadline {
                return Err(RestError::OutOfTime {
                    host: self.host.clone(),
                });
            }
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, RestError> {
        let mut url = self
            .base
            .join(&format!("api/v1/{path}"))
            .map_err(|_| RestError::BadUrl(format!("{}api/v1/{path}", self.base)))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }
}

/// The base URL with a trailing slash, so `join` keeps a path prefix.
fn parse_base(url: &str) -> Result<Url, RestError> {
    let mut base = outbound::checked_url(url)?;
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

/// The host of `url` for logs, or `"?"` when it is not a URL.
pub fn url_host(url: &str) -> String {
    parse_base(url)
        .map(|u| host_of(&u))
        .unwrap_or_else(|_| "?".into())
}

/// Rocket.Chat's `error` (or `message`) field as a short excerpt of safe characters; the body
/// itself is never logged, and `token` never shows (a server may echo request headers).
fn error_text(body: &[u8], token: &str) -> String {
    let text = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .or_else(|| v.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "no error message".into());
    outbound::excerpt(&text, &[token])
}

/// `text` without `token`, without control characters, and at most 400 characters: what an
/// error chain that may quote a server's documents can show in a log line.
pub fn redact(text: &str, token: &str) -> String {
    let text = if token.is_empty() {
        text.to_string()
    } else {
        text.replace(token, "[token]")
    };
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() > 400 {
        format!("{}…", clean.chars().take(399).collect::<String>())
    } else {
        clean
    }
}

/// Why a call got no answer to judge.
enum Failure {
    Transport(reqwest::Error),
    TooLarge(usize),
}

fn transport_text(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else if e.is_body() || e.is_decode() {
        "the connection broke while reading the body".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_path_and_refuse_credentials() {
        let b = parse_base("https://chat.example.com/rc").unwrap();
        assert_eq!(b.as_str(), "https://chat.example.com/rc/");
        assert_eq!(host_of(&b), "chat.example.com");
        assert_eq!(url_host("http://127.0.0.1:3000"), "127.0.0.1:3000");
        assert!(parse_base("ftp://x").is_err());
        assert!(parse_base("https://u:p@x.example").is_err());
        assert!(
            parse_base("http://chat.example.com").is_err(),
            "http only to loopback"
        );
        assert!(parse_base("chat.example.com").is_err());
    }

    #[test]
    fn redaction_removes_the_token_and_bounds_the_text() {
        let token = "a-long-service-token";
        let text = format!("setting \"{token}\"\nis not one of server, custom, user");
        let shown = redact(&text, token);
        assert!(!shown.contains(token) && !shown.contains('\n'), "{shown}");
        assert!(redact(&"x".repeat(1000), token).chars().count() <= 400);
    }

    #[test]
    fn error_text_prefers_error_then_message() {
        assert_eq!(
            error_text(
                br#"{"success":false,"error":"unauthorized"}"#,
                "a-long-service-token"
            ),
            "unauthorized"
        );
        assert_eq!(
            error_text(
                br#"{"status":"error","message":"m"}"#,
                "a-long-service-token"
            ),
            "m"
        );
        assert_eq!(
            error_text(b"<html>", "a-long-service-token"),
            "no error message"
        );
        assert_eq!(
            error_text(br#"{"error":"echo: X-Auth-Token=sekret"}"#, "sekret"),
            "echo: X-Auth-Token"
        );
    }
}
