//! The outgoing-HTTP rules (`agent_overview::outbound`) as the sync's client meets them: a
//! redirect is never followed (the token never reaches the host it names), a body past the cap
//! is refused without being buffered, and a server's text reaches errors only as a short excerpt
//! without the token.

use std::sync::Arc;

use agent_overview::errors::error_chain;
use agent_overview::sync::client::RestError;

use crate::support::sync::rest;
use crate::support::tiny_server::{json, mini_server};

const TOKEN: &str = "the-service-token-0123456789";

#[tokio::test]
async fn a_redirect_to_another_host_is_refused_and_never_receives_the_token() {
    let (other_port, other_seen) = mini_server(Arc::new(|_| {
        json("200 OK", r#"{"success":true,"_id":"x","value":"y"}"#)
    }))
    .await;
    for (status, location) in [
        ("302 Found", format!("http://localhost:{other_port}")),
        (
            "301 Moved Permanently",
            format!("http://localhost:{other_port}"),
        ),
        ("307 Temporary Redirect", "/same-host-elsewhere".to_string()),
    ] {
        let location_for = location.clone();
        let (rc_port, rc_seen) = mini_server(Arc::new(move |target: &str| {
            (
                format!(
                    "HTTP/1.1 {status}\r\nLocation: {location_for}/moved{target}&LEAKED=1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
                Vec::new(),
            )
        }))
        .await;
        let rc = rest(&format!("http://127.0.0.1:{rc_port}"), TOKEN);
        let err = rc
            .get("settings/Default_Timezone_For_Reporting", &[])
            .await
            .unwrap_err();
        let text = error_chain(&err);
        let expected = if location.starts_with('/') {
            format!("http://127.0.0.1:{rc_port}")
        } else {
            format!("http://localhost:{other_port}")
        };
        assert!(
            text.contains("redirect") && text.contains(&expected),
            "{status}: {text}"
        );
        assert!(!text.contains(TOKEN), "{text}");
        assert!(
            !text.contains("LEAKED") && !text.contains("moved"),
            "nothing of the Location but its host: {text}"
        );
        assert_eq!(
            rc_seen.lock().unwrap().len(),
            1,
            "a redirect is not retried"
        );
    }
    assert!(
        other_seen.lock().unwrap().is_empty(),
        "the other host received a request: {:?}",
        other_seen.lock().unwrap()
    );
}

#[tokio::test]
async fn a_body_past_the_cap_is_refused_while_reading_it() {
    // No Content-Length: the cap can only be enforced while reading.
    let (port, seen) = mini_server(Arc::new(|_| {
        let chunk = vec![b' '; 1024 * 1024];
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                .to_string(),
            std::iter::repeat_n(chunk, 24).collect(),
        )
    }))
    .await;
    let rc = rest(&format!("http://127.0.0.1:{port}"), TOKEN);
    let err = rc.get("users.list", &[]).await.unwrap_err();
    let text = error_chain(&err);
    assert!(text.contains("over 16777216 bytes"), "{text}");
    assert_eq!(seen.lock().unwrap().len(), 1, "not retried");

    // A declared Content-Length over the cap is refused before the body is read.
    let (port, seen) = mini_server(Arc::new(|_| {
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\nConnection: close\r\n\r\n{}".to_string(),
            Vec::new(),
        )
    }))
    .await;
    let rc = rest(&format!("http://127.0.0.1:{port}"), TOKEN);
    let text = error_chain(&rc.get("users.list", &[]).await.unwrap_err());
    assert!(text.contains("over 16777216 bytes"), "{text}");
    assert_eq!(seen.lock().unwrap().len(), 1, "not retried");
}

#[tokio::test]
async fn a_server_echoing_the_token_in_its_error_does_not_put_it_in_the_error() {
    let body = format!(
        r#"{{"success":false,"error":"Bad request <headers x-auth-token={TOKEN} x-user-id=sync-bot>"}}"#
    );
    let (port, _) = mini_server(Arc::new(move |_| json("400 Bad Request", &body))).await;
    let rc = rest(&format!("http://127.0.0.1:{port}"), TOKEN);
    let err = rc.get("users.list", &[]).await.unwrap_err();
    let text = error_chain(&err);
    assert!(
        matches!(err, RestError::Status { status: 400, .. }),
        "{text}"
    );
    assert!(
        !text.contains(TOKEN) && !text.contains("service-token"),
        "{text}"
    );
    assert!(
        text.contains("Bad request"),
        "a short excerpt stays: {text}"
    );
    assert!(!text.contains('<'), "only safe characters: {text}");

    // Not JSON at all: the parse error does not quote what it read.
    let secret_page = format!("{{\"users\": [\"{TOKEN}\" oops");
    let (port, _) = mini_server(Arc::new(move |_| json("200 OK", &secret_page))).await;
    let rc = rest(&format!("http://127.0.0.1:{port}"), TOKEN);
    let text = error_chain(&rc.get("users.list", &[]).await.unwrap_err());
    assert!(!text.contains(TOKEN), "{text}");
}
