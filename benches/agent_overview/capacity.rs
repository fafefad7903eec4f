//! Consumed capacity as DynamoDB (here dynalite) reports it, for the benchmark only: an SDK
//! interceptor on the benchmark's client asks every call for `ReturnConsumedCapacity` (when the
//! caller did not) and adds up the `ConsumedCapacity` of every answer. Requests are measured one
//! at a time, so process-wide counters read before and after a request are that request's.
//!
//! The handler measures its own requests (dynamo::capacity, in its summary line): this meter
//! also counts the calls, and the work outside a request (loads, rebuilds, the sync). dynalite
//! computes a Query's units as DynamoDB does (the sizes of the items read, summed per page,
//! rounded up to 4 KB, halved for an eventually consistent read); for writes it counts the base
//! table only and nothing for a failed conditional write, so GSI write units come from item
//! sizes (dynamo::capacity::dynamo_item_size) in the cost model.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// Units × 1000 (DynamoDB reports halves; dynalite multiples of 0.5).
static READ_MILLI: AtomicU64 = AtomicU64::new(0);
static WRITE_MILLI: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Read and write units and calls consumed so far by this process's metered client.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
    pub calls: u64,
}

pub fn now() -> Units {
    Units {
        read: READ_MILLI.load(Ordering::Relaxed) as f64 / 1000.0,
        write: WRITE_MILLI.load(Ordering::Relaxed) as f64 / 1000.0,
        calls: CALLS.load(Ordering::Relaxed),
    }
}

impl std::ops::Sub for Units {
    type Output = Units;
    fn sub(self, rhs: Units) -> Units {
        Units {
            read: self.read - rhs.read,
            write: self.write - rhs.write,
            calls: self.calls.saturating_sub(rhs.calls),
        }
    }
}

#[derive(Debug)]
pub struct Meter;

/// Whether the call in flight writes, noted before signing (its `X-Amz-Target` header), read
/// when it ends: the request is no longer at hand then.
#[derive(Debug, Clone, Copy)]
struct Writes(bool);

impl Storable for Writes {
    type Storer = StoreReplace<Self>;
}

/// Operations whose units are writes (everything else reads).
fn is_write(target: &str) -> bool {
    [
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
    ]
    .iter()
    .any(|op| target.ends_with(op))
}

fn add(counter: &AtomicU64, units: f64) {
    counter.fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
}

/// `ConsumedCapacity` is one object (single-table calls) or a list (batch calls).
fn capacity_units(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::Array(a) => a.iter().map(capacity_units).sum(),
        serde_json::Value::Object(o) => o
            .get("CapacityUnits")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "bench-capacity-meter"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        cfg.interceptor_state().store_put(Writes(is_write(target)));
        let Some(bytes) = request.body().bytes() else {
            return Ok(());
        };
        let Ok(serde_json::Value::Object(mut body)) = serde_json::from_slice(bytes) else {
            return Ok(());
        };
        if body.contains_key("ReturnConsumedCapacity") {
            return Ok(());
        }
        body.insert("ReturnConsumedCapacity".into(), "TOTAL".into());
        let new = serde_json::to_vec(&body)?;
        request
            .headers_mut()
            .insert("content-length", new.len().to_string());
        *request.body_mut() = SdkBody::from(new);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let writes = cfg.load::<Writes>().is_some_and(|w| w.0);
        let Some(bytes) = context.response().and_then(|r| r.body().bytes()) else {
            return Ok(());
        };
        CALLS.fetch_add(1, Ordering::Relaxed);
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Ok(());
        };
        let units = body.get("ConsumedCapacity").map_or(0.0, capacity_units);
        add(if writes { &WRITE_MILLI } else { &READ_MILLI }, units);
        Ok(())
    }
}
