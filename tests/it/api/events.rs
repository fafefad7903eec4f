//! The `events/*.json` files (the ones `sam local invoke` and `cargo lambda invoke` take) go
//! through the same entry-point code as in Lambda.

use agent_overview::functions::api::{http_request, is_warm_up, proxy_response};
use lambda_http::Body;

use crate::support::api::memory_app;
use crate::support::api::{demo_store, event};

#[test]
fn the_warm_up_event_is_recognised_and_http_events_are_not() {
    assert!(is_warm_up(&event("warmup.json")));
    assert!(!is_warm_up(&event("http-api-agent-overview.json")));
    assert!(!is_warm_up(&event("rest-api-agent-overview.json")));
}

#[tokio::test]
async fn http_api_and_rest_api_events_answer_through_the_handler() {
    // 2024-03-01..31 holds R1..R3 and R5 (kim): 3 of 4 served conversations are kim's.
    let expected = r#"{"head":[{"name":"Agent"},{"name":"%_of_conversations"}],"data":[{"name":"kim","value":"75.00%"},{"name":"jane","value":"25.00%"}],"success":true}"#;
    for name in [
        "http-api-agent-overview.json",
        "rest-api-agent-overview.json",
    ] {
        let (origin, req) = http_request(event(name)).expect("an API Gateway event");
        let res = memory_app(demo_store()).handle(req).await;
        assert_eq!(res.status().as_u16(), 200, "{name}");
        assert_eq!(res.body(), &Body::Text(expected.into()), "{name}");
        let proxied = proxy_response(origin, res);
        assert_eq!(
            proxied.get("cookies").is_some(),
            name.starts_with("http-api")
        );
        assert_eq!(proxied["statusCode"], 200);
        assert_eq!(proxied["headers"]["content-type"], "application/json");
        assert_eq!(proxied["body"], expected);
    }
}

#[test]
fn a_scheduled_event_is_not_an_http_request() {
    // Were it parsed as HTTP it would become a request to "/" and answer 404.
    assert!(http_request(event("warmup.json")).is_none());
}

/// A store whose warm-up never answers: INIT must not wait for it.
struct StuckStore;

impl agent_overview::store::WarmUp for StuckStore {
    async fn warm_up(&self) -> Result<(), agent_overview::store::ReadError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn whole_invocations_run_against_the_in_memory_store() {
    use agent_overview::functions::api::{handle_event, warm_up_at_init};
    use lambda_runtime::{Context, LambdaEvent};
    let app = memory_app(demo_store());
    let warmed = handle_event(
        &app,
        LambdaEvent::new(event("warmup.json"), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(warmed, serde_json::json!({"warmedUp": true}));
    let answered = handle_event(
        &app,
        LambdaEvent::new(event("http-api-agent-overview.json"), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(answered["statusCode"], 200);
    assert!(answered["body"].as_str().unwrap().contains("75.00%"));
    let started = std::time::Instant::now();
    let limit = std::time::Duration::from_millis(50);
    warm_up_at_init(&StuckStore, limit).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
