//! The API function's entry point: tells scheduled warm-up events from HTTP events, so a
//! warm-up is never parsed (or fails) as an HTTP request.

use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::http::error::failure_body;
use crate::http::handler::json_response;
use crate::http::{App, RawQueryString};
use crate::store::{ConversationStore, IdentityStore, WarmUp};

/// An EventBridge scheduled event (`events/warmup.json`).
pub fn is_warm_up(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// Which API Gateway flavour sent a request: the response shape follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// REST API (payload 1.0).
    RestApi,
    /// HTTP API or function URL (payload 2.0).
    HttpApi,
}

/// API Gateway (REST or HTTP API) event → request, or `None` when the event is neither.
///
/// The query string travels beside the request ([`RawQueryString`]), not in its URI:
/// `lambda_http` panics when it cannot build the URI, and `http::Uri` refuses a query over
/// 64 KB or with characters a client can still send raw (`<`, `>`, non-ASCII bytes). A panic
/// before authentication would let anyone crash the function.
pub fn http_request(mut event: Value) -> Option<(Origin, Request)> {
    let query = take_query_string(&mut event);
    let lambda_request =
        serde_json::from_value::<lambda_http::request::LambdaRequest>(event).ok()?;
    let origin = match lambda_request.request_origin() {
        lambda_http::request::RequestOrigin::ApiGatewayV1 => Origin::RestApi,
        _ => Origin::HttpApi,
    };
    let mut request = Request::from(lambda_request);
    if let Some(query) = query {
        request.extensions_mut().insert(RawQueryString(query));
    }
    Some((origin, request))
}

/// Removes the query from an API Gateway event and returns it as one query string: payload
/// 2.0's `rawQueryString` as sent, payload 1.0's parameters (every value of a repeated key)
/// encoded as `lambda_http` would have put them in the URI.
fn take_query_string(event: &mut Value) -> Option<String> {
    let object = event.as_object_mut()?;
    if let Some(raw) = object.get_mut("rawQueryString") {
        return match std::mem::replace(raw, Value::String(String::new())) {
            Value::String(query) => Some(query),
            _ => None,
        };
    }
    // Payload 1.0 of API Gateway; an ALB event (same shape, values still encoded) is left alone.
    let is_alb = object
        .get("requestContext")
        .is_some_and(|c| c.get("elb").is_some());
    if !object.contains_key("httpMethod") || is_alb {
        return None;
    }
    let multi = object.insert("multiValueQueryStringParameters".into(), Value::Null);
    let single = object.insert("queryStringParameters".into(), Value::Null);
    let mut query = form_urlencoded::Serializer::new(String::new());
    match (multi, single) {
        (Some(Value::Object(multi)), _) if !multi.is_empty() => {
            for (key, values) in &multi {
                for value in values.as_array().into_iter().flatten() {
                    query.append_pair(key, value.as_str().unwrap_or_default());
                }
            }
        }
        (_, Some(Value::Object(single))) => {
            for (key, value) in &single {
                query.append_pair(key, value.as_str().unwrap_or_default());
            }
        }
        _ => {}
    }
    Some(query.finish())
}

/// A response in the proxy-integration shape of the request's origin (payload 2.0 carries
/// `cookies`; 1.0 must not).
pub fn proxy_response(origin: Origin, res: Response<Body>) -> Value {
    let headers: serde_json::Map<String, Value> = res
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), Value::from(v.to_str().ok()?))))
        .collect();
    let body = match res.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    let mut out = json!({
        "statusCode": res.status().as_u16(),
        "headers": headers,
        "multiValueHeaders": {},
        "body": body,
        "isBase64Encoded": false,
    });
    if origin == Origin::HttpApi {
        out["cookies"] = json!([]);
    }
    out
}

/// Opens the store's connection during INIT so the first request does not pay the TLS
/// handshake; gives up after `limit` (a cold start must not wait on it).
pub async fn warm_up_at_init<S: WarmUp>(store: &S, limit: Duration) {
    match tokio::time::timeout(limit, store.warm_up()).await {
        Ok(Ok(())) => tracing::info!("DynamoDB connection opened during INIT"),
        Ok(Err(e)) => tracing::warn!(error = %e, "DynamoDB warm-up during INIT failed"),
        Err(_) => tracing::warn!("DynamoDB warm-up during INIT timed out"),
    }
}

/// Handles one invocation of the function.
pub async fn handle_event<S>(
    app: &App<S>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error>
where
    S: IdentityStore + ConversationStore + WarmUp + Sync,
{
    let (payload, context) = event.into_parts();
    // Named as telemetry::INVOCATION_SPAN, whose `request_id` the metrics carry.
    let span = tracing::info_span!("invocation", request_id = %context.request_id);
    dispatch(app, payload).instrument(span).await
}

async fn dispatch<S>(app: &App<S>, payload: Value) -> Result<Value, lambda_runtime::Error>
where
    S: IdentityStore + ConversationStore + WarmUp + Sync,
{
    if is_warm_up(&payload) {
        // Keeps the DynamoDB connection open; a failure is only worth a warning.
        if let Err(e) = app.store.warm_up().await {
            tracing::warn!(error = %e, "warm-up read failed");
        }
        return Ok(json!({"warmedUp": true}));
    }
    let (origin, response) = match http_request(payload) {
        Some((origin, req)) => (origin, app.handle(req).await),
        None => {
            tracing::warn!("event is neither an API Gateway request nor a scheduled warm-up");
            let res = json_response(
                StatusCode::BAD_REQUEST,
                failure_body("Unsupported event [error-unsupported-event]", None),
            );
            (Origin::HttpApi, res)
        }
    };
    Ok(proxy_response(origin, response))
}
