//! The Lambda entry point: tells scheduled warm-up events from HTTP events, so a warm-up is
//! never parsed (or fails) as an HTTP request.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::http::handler::json_response;
use crate::http::App;
use crate::store::dynamo::DynamoStore;

/// An EventBridge scheduled event (`events/warmup.json`).
pub fn is_warm_up(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// API Gateway (REST or HTTP API) event → request, or `None` when the event is neither.
pub fn http_request(event: Value) -> Option<Request> {
    serde_json::from_value::<lambda_http::request::LambdaRequest>(event)
        .ok()
        .map(Request::from)
}

/// A response in the proxy-integration shape that both API Gateway REST and HTTP APIs accept.
pub fn proxy_response(res: Response<Body>) -> Value {
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
    json!({
        "statusCode": res.status().as_u16(),
        "headers": headers,
        "body": body,
        "isBase64Encoded": false,
    })
}

/// Handles one invocation of the function.
pub async fn handle_event(
    app: &App<DynamoStore>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let (payload, context) = event.into_parts();
    let span = tracing::info_span!("invocation", request_id = %context.request_id);
    dispatch(app, payload).instrument(span).await
}

async fn dispatch(app: &App<DynamoStore>, payload: Value) -> Result<Value, lambda_runtime::Error> {
    if is_warm_up(&payload) {
        // Keeps the DynamoDB connection open; a failure is only worth a warning.
        if let Err(e) = app.store.warm_up().await {
            tracing::warn!(error = %e, "warm-up read failed");
        }
        return Ok(json!({"warmedUp": true}));
    }
    // Payload v2 (HTTP API, function URLs) responses carry `cookies`; `cargo lambda watch`
    // rejects a v2 response without the field (500), API Gateway accepts either.
    let payload_v2 = payload.get("version").and_then(Value::as_str) == Some("2.0");
    let response = match http_request(payload) {
        Some(req) => app.handle(req).await,
        None => {
            tracing::warn!("event is neither an API Gateway request nor a scheduled warm-up");
            json_response(
                StatusCode::BAD_REQUEST,
                json!({"success": false, "error": "Unsupported event [error-unsupported-event]"})
                    .to_string(),
            )
        }
    };
    let mut proxied = proxy_response(response);
    if payload_v2 {
        proxied["cookies"] = json!([]);
    }
    Ok(proxied)
}
