//! The function's log, captured through the production subscriber (`telemetry::subscriber`).

use std::io::Write;
use std::sync::{Arc, Mutex};

use agent_overview::config::MetricsConfig;
use agent_overview::telemetry;
use serde_json::Value;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::fmt::MakeWriter;

/// Everything written, shared between the subscriber and the test.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Every line, each of which must be a JSON object.
    pub fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// The EMF documents.
    pub fn metrics(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l.get("_aws").is_some())
            .collect()
    }

    /// The request summary log lines.
    pub fn request_logs(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["fields"]["message"] == "agent-overview")
            .collect()
    }

    /// Panics naming the first secret found in the output.
    pub fn assert_absent(&self, secrets: &[&str]) {
        let text = self.text();
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{secret:?} appears in the log:\n{text}"
            );
        }
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The production subscriber at `level`, writing into a buffer, for the current thread (each
/// `#[tokio::test]` runs on its own thread) until the guard drops.
pub fn capture(level: &str) -> (Captured, DefaultGuard) {
    let captured = Captured::default();
    let metrics = MetricsConfig {
        namespace: "AgentOverview".into(),
        stage: "test".into(),
    };
    let guard = tracing::subscriber::set_default(telemetry::subscriber(
        telemetry::filter(level),
        metrics,
        agent_overview::domain::clock::fixed_clock(crate::support::api::NOW_MS),
        captured.clone(),
    ));
    (captured, guard)
}
