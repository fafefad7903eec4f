//! The handler's own log line, caught instead of printed: its `items_read`, `dynamodb_requests`
//! and `buckets` are the FoldStats of the request just handled, so the benchmark reads the work
//! of exactly the request it timed, through the unchanged `App::handle`.

use std::collections::HashMap;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The message of the handler's per-request line.
const REQUEST_LINE: &str = "agent-overview";

static LAST: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
/// The line's fractional fields (the consumed capacity).
static LAST_F64: Mutex<Option<HashMap<String, f64>>> = Mutex::new(None);

/// The fractional fields of the last request line since the previous call.
pub fn take_f64() -> Option<HashMap<String, f64>> {
    LAST_F64.lock().expect("capture lock").take()
}

/// Installs the catcher as the process's subscriber (nothing is printed).
pub fn install() {
    tracing_subscriber::registry().with(Catcher).init();
}

/// The numeric fields of the last request line since the previous call.
pub fn take() -> Option<HashMap<String, u64>> {
    LAST.lock().expect("capture lock").take()
}

struct Catcher;

impl<S: tracing::Subscriber> Layer<S> for Catcher {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message.as_deref() == Some(REQUEST_LINE) {
            *LAST.lock().expect("capture lock") = Some(fields.numbers);
            *LAST_F64.lock().expect("capture lock") = Some(fields.fractions);
        }
    }
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    numbers: HashMap<String, u64>,
    fractions: HashMap<String, f64>,
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fractions.insert(field.name().to_string(), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.numbers.insert(field.name().to_string(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(v) = u64::try_from(value) {
            self.numbers.insert(field.name().to_string(), v);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        }
    }
}
