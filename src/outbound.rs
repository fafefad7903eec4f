//! The rules every outgoing HTTP call of the service follows (the sync's REST client and
//! sign-in's `/me` check), in one place:
//!
//! - **no redirect is followed**: a 3xx is an error that names the host it pointed to, so a
//!   credential header never reaches a host it was not meant for (reqwest strips only
//!   `Authorization` and cookies on a cross-host redirect, not `X-Auth-Token`);
//! - **`https` outside loopback**: plain `http` only to 127.0.0.0/8, `::1` and `localhost`
//!   (a local stand-in or tunnel); never user info in the URL;
//! - **a timeout** on every call, and a shorter one to connect;
//! - **a bounded body**, read chunk by chunk and refused past [`MAX_BODY_BYTES`];
//! - **no server text in logs** beyond a short excerpt of safe characters ([`excerpt`]).

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{StatusCode, Url};

/// The largest response body read: a Rocket.Chat page of 100 full room documents is well
/// under 1 MB; past this the answer is refused, not buffered.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Longest server excerpt that reaches an error or a log line.
pub const EXCERPT_CHARS: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?} is not an http(s) URL with a host")]
    NotHttp(String),
    #[error("the URL must not carry a user name or password")]
    UserInfo,
    #[error("{host} is not a loopback address: use https (http is allowed only to 127.0.0.0/8, ::1 and localhost)")]
    Insecure { host: String },
}

/// `url` checked against the rules above, without its query and fragment.
pub fn checked_url(url: &str) -> Result<Url, UrlError> {
    let mut parsed =
        Url::parse(url.trim()).map_err(|_| UrlError::NotHttp(without_credentials(url)))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(UrlError::NotHttp(without_credentials(url)));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlError::UserInfo);
    }
    if parsed.scheme() == "http" && !is_loopback(&parsed) {
        return Err(UrlError::Insecure {
            host: host_of(&parsed),
        });
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok(parsed)
}

/// Whether the URL's host is 127.0.0.0/8, `::1` or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The host (and a non-default port) of a URL: what logs and errors name.
pub fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// A refused URL is named in errors; never with what may be a password in it.
fn without_credentials(url: &str) -> String {
    match url.split_once('@') {
        Some((_, rest)) => format!("…@{}", rest.chars().take(100).collect::<String>()),
        None => url.chars().take(100).collect(),
    }
}

/// A client that follows no redirect, with `timeout` per call (connect to last byte).
pub fn client(timeout: Duration, user_agent: &str) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(user_agent)
        .build()
}

/// For a 3xx: the host its `Location` names (resolved against the request's URL), or a note
/// that it names none. The path and query of the target are never repeated.
pub fn redirect_host(status: StatusCode, headers: &HeaderMap, request: &Url) -> Option<String> {
    if !status.is_redirection() {
        return None;
    }
    let target = headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| request.join(l).ok());
    Some(match target {
        Some(t) => format!("{}://{}", t.scheme(), host_of(&t)),
        None => "no usable Location".to_string(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the connection broke while reading the body")]
    Transport(#[source] reqwest::Error),
}

/// The response's body, read a chunk at a time and refused once it passes `limit` bytes (a
/// `Content-Length` over it is refused before reading anything).
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A server's text as errors and logs may show it: only `[A-Za-z0-9 .,:_-]`, at most
/// [`EXCERPT_CHARS`] characters, any of `secrets` (and any run of 24 or more letters and
/// digits, which is what tokens look like) replaced by `[…]`.
pub fn excerpt(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, " ");
    }
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .,:_-".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<String> = safe
        .split_whitespace()
        .map(|w| {
            let longest_run = w
                .split(|c: char| !c.is_ascii_alphanumeric())
                .map(str::len)
                .max()
                .unwrap_or(0);
            if longest_run >= 24 {
                "[…]".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let joined = words.join(" ");
    if joined.chars().count() > EXCERPT_CHARS {
        let cut: String = joined.chars().take(EXCERPT_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_only_to_loopback() {
        for ok in [
            "https://chat.example.com/rc?x=1#f",
            "http://127.0.0.1:3000",
            "http://127.8.9.10",
            "http://localhost:3000",
            "http://[::1]:3000",
        ] {
            let url = checked_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(url.query(), None);
            assert_eq!(url.fragment(), None);
        }
        for insecure in [
            "http://chat.example.com",
            "http://10.0.0.1",
            "http://localhost.example.com",
        ] {
            assert!(
                matches!(checked_url(insecure), Err(UrlError::Insecure { .. })),
                "{insecure}"
            );
        }
        assert_eq!(
            checked_url("https://u:secret@x.example"),
            Err(UrlError::UserInfo)
        );
        assert!(matches!(checked_url("ftp://x"), Err(UrlError::NotHttp(_))));
        assert!(matches!(
            checked_url("chat.example.com"),
            Err(UrlError::NotHttp(_))
        ));
        let e = checked_url("not a url user:pw@x").unwrap_err().to_string();
        assert!(!e.contains("pw"), "{e}");
    }

    #[test]
    fn a_redirect_names_its_target_host_only() {
        let request = Url::parse("https://chat.example.com/api/v1/x").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            LOCATION,
            "http://evil.example:8080/steal?token=abc".parse().unwrap(),
        );
        assert_eq!(
            redirect_host(StatusCode::FOUND, &headers, &request).as_deref(),
            Some("http://evil.example:8080")
        );
        headers.insert(LOCATION, "/elsewhere".parse().unwrap());
        assert_eq!(
            redirect_host(StatusCode::MOVED_PERMANENTLY, &headers, &request).as_deref(),
            Some("https://chat.example.com")
        );
        assert_eq!(redirect_host(StatusCode::OK, &headers, &request), None);
    }

    #[test]
    fn excerpts_keep_safe_short_text_and_never_a_token() {
        let token = "stand-in-personal-access-token";
        assert_eq!(
            excerpt(
                "User does not have the permissions [error-unauthorized]",
                &[]
            ),
            "User does not have the permissions error-unauthorized"
        );
        let echoed = format!(r#"{{"headers":{{"x-auth-token":"{token}"}}}}"#);
        let e = excerpt(&echoed, &[token]);
        assert!(!e.contains(token) && !e.contains("personal-access"), "{e}");
        let random = "gxgXWqb89Ishvk1GHyxL2qVIVimYIHT89g4BJePeBUZ";
        let e = excerpt(&format!("bad token {random}"), &[]);
        assert_eq!(e, "bad token […]");
        let long = "word ".repeat(40);
        assert!(excerpt(&long, &[]).chars().count() <= EXCERPT_CHARS);
        assert_eq!(excerpt("<script>\n\u{7}", &[]), "script");
    }
}
