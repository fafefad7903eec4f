//! `openapi.yaml` against the function's real answers: every status the document says the
//! function produces is produced here, and each body is valid against the document's schema
//! for its status (JSON Schema 2020-12, as OpenAPI 3.1 uses it). The examples are checked
//! against their own schemas, and the document's enums against the code.

use std::collections::{BTreeMap, BTreeSet};

use agent_overview::config::Limits;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::identity::TenantSettings;
use agent_overview::store::items;
use lambda_http::http::Method;
use lambda_http::Body;
use serde_json::{json, Value};

use crate::contract::{app, as_user, call, request, store};
use crate::dynamo::{dynamo_app, get, put_conversations, random_rooms, seed_tenant};
use crate::fake_dynamo::{get_item_answer, throttled, FakeDynamo};
use crate::harness;
use crate::throttling::{self, session_item, QUERY, TOKEN, USER_ID};

const ROUTE: &str = "/api/v1/livechat/analytics/agent-overview";

fn document() -> Value {
    let text = std::fs::read_to_string(format!("{}/openapi.yaml", env!("CARGO_MANIFEST_DIR")))
        .expect("openapi.yaml");
    serde_norway::from_str(&text).expect("openapi.yaml is YAML")
}

fn operation(doc: &Value) -> &Value {
    &doc["paths"][ROUTE]["get"]
}

/// The response schema for `status`, with the document's components alongside so that its
/// `#/components/...` references resolve, compiled as JSON Schema 2020-12.
fn validator(doc: &Value, status: u16) -> jsonschema::Validator {
    let response = &operation(doc)["responses"][status.to_string()];
    assert!(response.is_object(), "openapi.yaml documents no {status}");
    assert!(
        response["content"]["application/json"].is_object(),
        "{status} is application/json"
    );
    let mut schema = response["content"]["application/json"]["schema"].clone();
    schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    schema["components"] = doc["components"].clone();
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("the {status} schema does not compile: {e}"))
}

fn assert_valid(doc: &Value, status: u16, body: &Value, what: &str) {
    let v = validator(doc, status);
    let errors: Vec<String> = v.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{what}: {status} body {body} does not match openapi.yaml: {errors:?}"
    );
}

/// The function's real answers, status by status.
async fn answers() -> Vec<(u16, String, String)> {
    let mut out = Vec::new();
    let mut push =
        |what: &str, (status, body): (u16, String)| out.push((status, body, what.to_string()));
    let a = app(store());
    let manager = as_user("tok-manager", "u-manager");
    for figure in Figure::ALL {
        let q = format!("name={}&from=2024-03-01&to=2024-03-01", figure.name());
        push(figure.name(), call(&a, &q, &manager).await);
    }
    push(
        "empty range",
        call(
            &a,
            "name=Total_messages&from=2020-01-01&to=2020-01-31",
            &manager,
        )
        .await,
    );
    for q in [
        "from=2024-03-01&to=2024-03-01",
        "name=Total_messages&to=2024-03-01",
        "name=Total_messages&from=2024-03-01",
        "name=Total_messages&from=2024-03-01&to=2024-03-01&limit=1",
        "name=Total_messages&name=Avg_chat_duration&from=2024-03-01&to=2024-03-01",
        "name=Total_chats&from=2024-03-01&to=2024-03-01",
        "name=Total_messages&from=yesterday&to=2024-03-01",
        "name=Total_messages&from=2024-03-01&to=2024-02-30",
        "name=Total_messages&from=2024-03-02&to=2024-03-01",
        "name=Total_messages&from=1970-01-01&to=2099-12-31",
    ] {
        push(q, call(&a, q, &manager).await);
    }
    let long = format!(
        "name=Total_messages&from=2024-03-01&to=2024-03-01&departmentId={}",
        "d".repeat(300)
    );
    push("long departmentId", call(&a, &long, &manager).await);
    push("no credentials", call(&a, QUERY, &[]).await);
    push(
        "unknown token",
        call(&a, QUERY, &as_user("nope", "u-manager")).await,
    );
    push(
        "no permission",
        call(&a, QUERY, &as_user("tok-agent", "u-agent")).await,
    );
    let mut post = request(QUERY, &[]);
    *post.method_mut() = Method::POST;
    let res = a.handle(post).await;
    let body = match res.body() {
        Body::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    push("POST", (res.status().as_u16(), body));

    // DynamoDB: a session item without its tenant (500), throttling (503 unavailable).
    let mut malformed = session_item();
    malformed.remove(items::attr::TENANT);
    let fake = FakeDynamo::new(move |_, _, _| get_item_answer(Some(&malformed)));
    push(
        "malformed session",
        call(&throttling::app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await,
    );
    let fake = FakeDynamo::new(|_, _, _| throttled());
    push(
        "throttled",
        call(&throttling::app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await,
    );

    // dynalite: a range that cannot be read within the budget (503 timeout).
    let client = harness::ready().await.0;
    let tenant = harness::unique_tenant("openapi");
    put_conversations(
        &client,
        &tenant,
        &random_rooms(5, 30, 1_704_067_200_000, 86_400_000 * 300),
    )
    .await;
    let token = seed_tenant(&client, &tenant, TenantSettings::default(), None).await;
    let limits = Limits {
        query_budget: std::time::Duration::from_millis(0),
        query_page_limit: Some(1),
        ..Limits::default()
    };
    push(
        "budget",
        get(
            &dynamo_app(client, limits),
            "name=Total_messages&from=2024-01-01&to=2024-12-31",
            &token,
        )
        .await,
    );
    out
}

#[tokio::test]
async fn every_answer_of_the_function_matches_openapi_yaml() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut seen: BTreeMap<u16, usize> = BTreeMap::new();
    let mut kinds: BTreeSet<String> = BTreeSet::new();
    for (status, body, what) in answers().await {
        let body: Value = serde_json::from_str(&body).expect("a JSON body");
        assert_valid(&doc, status, &body, &what);
        *seen.entry(status).or_default() += 1;
        if let Some(kind) = body["errorType"].as_str() {
            kinds.insert(kind.to_string());
        }
    }
    // Every status the document attributes to the function was produced above.
    let documented: BTreeSet<u16> = operation(&doc)["responses"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.get("x-answered-by").is_none())
        .map(|(s, _)| s.parse().unwrap())
        .collect();
    assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), documented);
    for kind in [
        "invalid-params",
        "error-not-found",
        "error-internal",
        "error-timeout",
        "error-unavailable",
    ] {
        assert!(kinds.contains(kind), "no answer of type {kind}");
    }
}

#[test]
fn wrong_bodies_are_rejected() {
    // The schemas are strict enough to catch a drifted body.
    let doc = document();
    for (status, body) in [
        (
            200,
            json!({"head": [{"name": "Agent"}], "data": [], "success": true}),
        ),
        (
            200,
            json!({"head": [{"name": "Agent"}, {"name": "Total_messages"}], "data": [{"name": "kim", "value": 5}], "success": true}),
        ),
        (
            400,
            json!({"success": false, "error": "must have required property 'name'", "errorType": "invalid-params"}),
        ),
        (
            401,
            json!({"success": false, "error": "You must be logged in to do this."}),
        ),
        (
            503,
            json!({"success": false, "error": "busy", "errorType": "error-unavailable"}),
        ),
    ] {
        assert!(
            !validator(&doc, status).is_valid(&body),
            "{status} accepted {body}"
        );
    }
}

#[test]
fn the_examples_match_their_schemas() {
    let doc = document();
    let responses = operation(&doc)["responses"].as_object().unwrap();
    let mut checked = 0;
    for (status, response) in responses {
        let media = &response["content"]["application/json"];
        let mut examples: Vec<&Value> = media.get("example").into_iter().collect();
        if let Some(named) = media.get("examples").and_then(Value::as_object) {
            examples.extend(named.values().map(|e| &e["value"]));
        }
        assert!(!examples.is_empty(), "{status} has no example");
        for example in examples {
            assert_valid(&doc, status.parse().unwrap(), example, "example");
            checked += 1;
        }
    }
    assert!(checked >= 10);
}

#[test]
fn the_documents_names_are_the_codes() {
    let doc = document();
    let names: Vec<&str> = Figure::ALL.iter().map(|f| f.name()).collect();
    let enum_names: Vec<&str> = doc["components"]["schemas"]["FigureName"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(enum_names, names);
    let heads: Vec<&str> = Figure::ALL.iter().map(|f| f.head_name()).collect();
    let documented: Vec<&str> = doc["components"]["schemas"]["Overview"]["properties"]["head"]
        ["prefixItems"][1]["properties"]["name"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(documented, heads);
    let params: Vec<&str> = operation(&doc)["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["name", "from", "to", "departmentId"]);
}
