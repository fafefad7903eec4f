//! Cold start: the release binary started as Lambda starts it, against a local stand-in of the
//! Runtime API. "Ready" is its first `GET /runtime/invocation/next`: INIT is over (config read,
//! SDK client built, warm-up GetItem against dynalite done). Then two invocations of the same
//! API Gateway event: the first after INIT and a warm one, to show what INIT left undone.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http1::{read_request, write_response};
use crate::load::{Tenant, USER_ID};

const HTTP_API_EVENT: &str = include_str!("../../events/http-api-agent-overview.json");
/// The function's log line when the warm-up GetItem of INIT succeeded.
const INIT_CONNECTED: &str = "DynamoDB connection opened during INIT";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColdStart {
    /// Process start to the first `GET /runtime/invocation/next`.
    pub ready_ms: f64,
    /// The first invocation (from handing out the event to its response).
    pub first_invocation_ms: f64,
    /// The same event again, warm.
    pub warm_invocation_ms: f64,
    /// The function logged that its warm-up GetItem succeeded before it was ready.
    pub connection_opened_in_init: bool,
    /// CPU time of the process (every thread) until ready: INIT's own work.
    #[serde(default)]
    pub init_cpu_ms: f64,
}

/// One process of the function serving `n` invocations of the same event.
pub struct FunctionRun {
    pub ready_ms: f64,
    pub init_cpu_ms: f64,
    /// Wall time and the process's CPU time of each invocation, in order.
    pub invocations: Vec<(f64, f64)>,
    pub log: Vec<String>,
}

enum Seen {
    /// A `next`, and the process's CPU so far (read before the event is handed out).
    Next(Instant, f64),
    Response(Instant, String),
}

/// The API Gateway (HTTP API, payload 2.0) event of `query` for `tenant`'s manager.
pub fn event(tenant: &Tenant, query: &str) -> Value {
    let mut event: Value = serde_json::from_str(HTTP_API_EVENT).expect("the event fixture");
    event["rawQueryString"] = Value::from(query);
    let params: serde_json::Map<String, Value> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())))
        .collect();
    event["queryStringParameters"] = Value::Object(params);
    event["headers"]["x-auth-token"] = Value::from(tenant.token.as_str());
    event["headers"]["x-user-id"] = Value::from(USER_ID);
    event
}

/// Serves the Runtime API on one connection: hands out `event` `limit` times, then holds the
/// next `next` (the benchmark stops the process then).
fn serve(
    stream: TcpStream,
    event: Arc<Vec<u8>>,
    limit: u32,
    pid: Arc<AtomicU32>,
    handed: Arc<AtomicU32>,
    seen: Sender<Seen>,
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        let now = Instant::now();
        if req.method == "GET" && req.path.ends_with("/invocation/next") {
            let _ = seen.send(Seen::Next(now, cpu_ms(pid.load(Ordering::SeqCst))));
            let n = handed.fetch_add(1, Ordering::SeqCst) + 1;
            if n > limit {
                return;
            }
            let id = format!("bench-request-{n}");
            let deadline = (chrono::Utc::now().timestamp_millis() + 60_000).to_string();
            let headers = [
                ("content-type", "application/json"),
                ("lambda-runtime-aws-request-id", id.as_str()),
                ("lambda-runtime-deadline-ms", deadline.as_str()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:000000000000:function:agent-overview",
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000",
                ),
            ];
            if write_response(&mut writer, "200 OK", &headers, &event).is_err() {
                return;
            }
        } else {
            let body = String::from_utf8_lossy(&req.body).into_owned();
            let _ = seen.send(Seen::Response(now, format!("{} {body}", req.path)));
            let ok = write_response(&mut writer, "202 Accepted", &[], br#"{"status":"OK"}"#);
            if ok.is_err() {
                return;
            }
        }
    }
}

fn next_seen(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the function talks to the Runtime API within 120 s")
}

/// One cold start of `binary` (its environment: this process's, plus the Lambda variables).
pub fn cold_start(binary: &Path, event: &Value) -> ColdStart {
    let run = run_function(binary, event, &[], 2);
    ColdStart {
        ready_ms: run.ready_ms,
        first_invocation_ms: run.invocations[0].0,
        warm_invocation_ms: run.invocations[1].0,
        connection_opened_in_init: run.log.iter().any(|l| l.contains(INIT_CONNECTED)),
        init_cpu_ms: run.init_cpu_ms,
    }
}

/// Starts `binary` as Lambda would (plus `env`), has it answer `event` `n` times, and stops it.
/// Every invocation must answer 200.
pub fn run_function(binary: &Path, event: &Value, env: &[(&str, &str)], n: u32) -> FunctionRun {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let addr = listener.local_addr().expect("its address");
    let (tx, rx) = mpsc::channel();
    let body = Arc::new(serde_json::to_vec(event).expect("json"));
    let handed = Arc::new(AtomicU32::new(0));
    let pid = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let acceptor = {
        let (done, pid) = (done.clone(), pid.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (body, pid, handed, tx) =
                    (body.clone(), pid.clone(), handed.clone(), tx.clone());
                thread::spawn(move || serve(stream, body, n, pid, handed, tx));
            }
        })
    };

    let started = Instant::now();
    let mut child = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "agent-overview")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the function");
    pid.store(child.id(), Ordering::SeqCst);
    let stdout = child.stdout.take().expect("piped stdout");
    let log = thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    let mut nexts = Vec::new();
    let mut responses = Vec::new();
    while nexts.len() < n as usize + 1 {
        match next_seen(&rx) {
            Seen::Next(t, cpu) => nexts.push((t, cpu)),
            Seen::Response(t, body) => {
                responses.push((t, body));
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    done.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(addr);
    let _ = acceptor.join();
    let log = log.join().unwrap_or_default();

    assert_eq!(
        responses.len(),
        n as usize,
        "every invocation answered: {responses:?}"
    );
    for (_, body) in &responses {
        assert!(
            body.contains("/response ") && body.contains(r#""statusCode":200"#),
            "the invocation failed: {body}"
        );
    }
    let ms = |a: Instant, b: Instant| b.duration_since(a).as_secs_f64() * 1000.0;
    FunctionRun {
        ready_ms: ms(started, nexts[0].0),
        init_cpu_ms: nexts[0].1,
        invocations: nexts
            .windows(2)
            .zip(&responses)
            .map(|(pair, (answered, _))| (ms(pair[0].0, *answered), pair[1].1 - pair[0].1))
            .collect(),
        log,
    }
}

/// CPU time of every thread of process `pid` so far, in ms.
fn cpu_ms(pid: u32) -> f64 {
    crate::e2e::cpu_ns(Some(pid)).unwrap_or(0) as f64 / 1e6
}

pub fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}
