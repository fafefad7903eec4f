//! A DynamoDB client (against the local dynalite) whose every call passes a gate: the calls of
//! concurrent actors are either let through at once while the gate counts how many of each
//! operation are in flight together (to see whether a tool writes one item at a time), or held
//! until the test's scheduler picks which one goes next, one call in flight at a time. The
//! scheduler then interleaves the actors at every DynamoDB call (every point where another
//! actor's write can come between two of theirs), in an order drawn from a seed, and the test
//! checks its invariants between any two calls.
//!
//! Calls are sent with `reqwest` (a dependency already): the SDK's own HTTP client is created
//! inside the SDK, and the SDK's connector traits let a test wrap only one it owns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use tokio::sync::oneshot;

use crate::support::harness;

/// A call held at the gate.
struct Waiter {
    actor: usize,
    operation: String,
    go: oneshot::Sender<()>,
}

#[derive(Default)]
struct State {
    /// Hold every call until [`Gate::release`] (else let each through at once).
    scheduled: bool,
    waiting: Vec<Waiter>,
    in_flight: HashMap<String, usize>,
    max_in_flight: HashMap<String, usize>,
    /// Calls answered so far.
    done: u64,
}

#[derive(Clone, Default)]
pub struct Gate {
    state: Arc<Mutex<State>>,
}

impl Gate {
    /// A gate that lets every call through and counts concurrency.
    pub fn open() -> Self {
        Self::default()
    }

    /// A gate that holds every call until the test releases it.
    pub fn scheduled() -> Self {
        let gate = Self::default();
        gate.lock().scheduled = true;
        gate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A client whose calls are `actor`'s.
    pub fn client(&self, actor: usize) -> Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(harness::region()))
            .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
            .endpoint_url(harness::endpoint())
            // A call held at the gate is not a stalled stream.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .http_client(GatedClient {
                gate: self.clone(),
                actor,
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(std::time::Duration::from_secs(30))
                    .build()
                    .expect("an HTTP client"),
            });
        Client::from_conf(agent_overview::dynamo::capacity::with_meter(config).build())
    }

    /// The most calls of `operation` on `table` that were in flight at once.
    pub fn max_in_flight(&self, operation: &str, table: &str) -> usize {
        let key = format!("{operation} {table}");
        self.lock().max_in_flight.get(&key).copied().unwrap_or(0)
    }

    fn in_flight_total(&self) -> usize {
        self.lock().in_flight.values().sum()
    }

    /// The calls held now: (actor, operation), in the order they arrived.
    pub fn waiting(&self) -> Vec<(usize, String)> {
        self.lock()
            .waiting
            .iter()
            .map(|w| (w.actor, w.operation.clone()))
            .collect()
    }

    /// Lets the `index`th held call go.
    pub fn release(&self, index: usize) {
        let waiter = self.lock().waiting.remove(index);
        let _ = waiter.go.send(());
    }

    /// Waits until no call is in flight and every actor has run as far as it can without
    /// one (each is held at the gate or finished): the point between two calls.
    pub async fn settle(&self) {
        loop {
            while self.in_flight_total() > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            let before = self.progress();
            for _ in 0..64 {
                tokio::task::yield_now().await;
            }
            let after = self.progress();
            if before == after && self.in_flight_total() == 0 {
                return;
            }
        }
    }

    /// Calls answered and calls held (one lock: a second `lock()` in one expression would
    /// wait for the first).
    fn progress(&self) -> (u64, usize) {
        let state = self.lock();
        (state.done, state.waiting.len())
    }

    async fn enter(&self, actor: usize, operation: &str, table: &str) {
        let held = {
            let mut state = self.lock();
            if state.scheduled {
                let (go, wait) = oneshot::channel();
                state.waiting.push(Waiter {
                    actor,
                    operation: operation.to_string(),
                    go,
                });
                Some(wait)
            } else {
                None
            }
        };
        if let Some(wait) = held {
            let _ = wait.await;
        }
        let key = format!("{operation} {table}");
        let mut state = self.lock();
        let n = state.in_flight.entry(key.clone()).or_default();
        *n += 1;
        let n = *n;
        let max = state.max_in_flight.entry(key).or_default();
        *max = (*max).max(n);
    }

    fn leave(&self, operation: &str, table: &str) {
        let key = format!("{operation} {table}");
        let mut state = self.lock();
        if let Some(n) = state.in_flight.get_mut(&key) {
            *n -= 1;
        }
        state.done += 1;
    }
}

#[derive(Clone)]
struct GatedClient {
    gate: Gate,
    actor: usize,
    http: reqwest::Client,
}

impl std::fmt::Debug for GatedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatedClient").finish_non_exhaustive()
    }
}

impl HttpClient for GatedClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for GatedClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.split('.').nth(1))
            .unwrap_or("")
            .to_string();
        let mut out = self.http.post(request.uri());
        for (name, value) in request.headers() {
            if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("host") {
                out = out.header(name, value);
            }
        }
        let body = request.body().bytes().unwrap_or_default().to_vec();
        let table = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["TableName"].as_str().map(str::to_string))
            .unwrap_or_default();
        let out = out.body(body);
        let (gate, actor) = (self.gate.clone(), self.actor);
        HttpConnectorFuture::new(async move {
            gate.enter(actor, &operation, &table).await;
            let answer = send(out).await;
            gate.leave(&operation, &table);
            answer
        })
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<HttpResponse, ConnectorError> {
    let response = request
        .send()
        .await
        .map_err(|e| ConnectorError::io(e.into()))?;
    let status = StatusCode::try_from(response.status().as_u16())
        .map_err(|e| ConnectorError::other(e.into(), None))?;
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = response
        .bytes()
        .await
        .map_err(|e| ConnectorError::io(e.into()))?;
    let mut out = HttpResponse::new(status, SdkBody::from(body.to_vec()));
    for (k, v) in headers {
        out.headers_mut().append(k, v);
    }
    Ok(out)
}
