//! A tiny HTTP/1.1 server answering each request from a closure, recording what it was sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Each request's target and headers.
pub type Seen = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

/// What a tiny server sends for a request target: the head, then body chunks.
pub type Answer = Arc<dyn Fn(&str) -> (String, Vec<Vec<u8>>) + Send + Sync>;

/// A tiny HTTP/1.1 server on loopback; returns its port and what it saw.
pub async fn mini_server(answer: Answer) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf).to_string();
                let mut lines = text.split("\r\n");
                let target = lines
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .unwrap_or("/")
                    .to_string();
                let headers = lines
                    .take_while(|l| !l.is_empty())
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                log.lock().unwrap().push((target.clone(), headers));
                let (head, body) = answer(&target);
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for part in body {
                    if stream.write_all(&part).await.is_err() {
                        return;
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, seen)
}

pub fn json(status: &str, body: &str) -> (String, Vec<Vec<u8>>) {
    (
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ),
        vec![body.as_bytes().to_vec()],
    )
}
