//! `openapi.yaml` against the function's real answers: every status the document says the
//! function produces is produced here, and each body is valid against the document's schema
//! for its status (JSON Schema 2020-12, as OpenAPI 3.1 uses it). The examples are checked
//! against their own schemas, and the document's enums against the code.

use std::collections::{BTreeMap, BTreeSet};

use agent_overview::config::ReadSettings;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::identity::TenantSettings;
use agent_overview::dynamo::items;
use lambda_http::http::Method;
use lambda_http::Body;
use serde_json::{json, Value};

use crate::support::api::{as_user, call, memory_app, request, store};
use crate::support::api::{dynamo_app, get};
use crate::support::fake_dynamo::{get_item_answer, throttled, FakeDynamo};
use crate::support::fake_reads::{fake_app, session_item, QUERY, TOKEN, USER_ID};
use crate::support::harness;
use crate::support::seed::{put_conversations, random_rooms, seed_tenant};

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
    compile(
        doc,
        &response["content"]["application/json"]["schema"],
        &status.to_string(),
    )
}

fn assert_valid(doc: &Value, status: u16, body: &Value, what: &str) {
    let v = validator(doc, status);
    let errors: Vec<String> = v.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{what}: {status} body {body} does not match openapi.yaml: {errors:?}"
    );
}

fn text(res: &lambda_http::Response<Body>) -> String {
    match res.body() {
        Body::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    }
}

/// Compiles `schema` as JSON Schema 2020-12 with the document's components alongside.
fn compile(doc: &Value, schema: &Value, what: &str) -> jsonschema::Validator {
    let mut schema = schema.clone();
    schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    schema["components"] = doc["components"].clone();
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("the {what} schema does not compile: {e}"))
}

/// The function's real answers, status by status.
async fn answers() -> Vec<(u16, String, String)> {
    let mut out = Vec::new();
    let mut push =
        |what: &str, (status, body): (u16, String)| out.push((status, body, what.to_string()));
    let a = memory_app(store());
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
    let mut elsewhere = request(QUERY, &[]);
    *elsewhere.uri_mut() = "https://example.test/api/v1/other".parse().unwrap();
    let res = a.handle(elsewhere).await;
    push("another path", (res.status().as_u16(), text(&res)));

    // DynamoDB: a session item without its tenant (500), throttling (503 unavailable).
    let mut malformed = session_item();
    malformed.remove(items::attr::TENANT);
    let fake = FakeDynamo::new(move |_, _, _| get_item_answer(Some(&malformed)));
    push(
        "malformed session",
        call(&fake_app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await,
    );
    let fake = FakeDynamo::new(|_, _, _| throttled());
    push(
        "throttled",
        call(&fake_app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await,
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
    let reads = ReadSettings {
        query_budget: std::time::Duration::from_millis(0),
        query_page_limit: Some(1),
        ..ReadSettings::default()
    };
    push(
        "budget",
        get(
            &dynamo_app(client, reads),
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
    let heads_documented = doc["components"]["schemas"]["Overview"]["properties"]["head"]["enum"]
        .as_array()
        .unwrap();
    let documented: Vec<&str> = heads_documented
        .iter()
        .map(|head| head[1]["name"].as_str().unwrap())
        .collect();
    assert_eq!(documented, heads);
    for head in heads_documented {
        assert_eq!(head[0], json!({"name": "Agent"}), "{head}");
    }
    let params: Vec<&str> = operation(&doc)["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["name", "from", "to", "departmentId"]);
}

/// Undeclared methods: the 405 the document describes in `components.responses`, with its
/// `Allow` and `Cache-Control` headers, for every method but GET, with or without credentials.
#[tokio::test]
async fn other_methods_answer_the_documented_405() {
    let doc = document();
    let documented = &doc["components"]["responses"]["MethodNotAllowed"];
    let media = &documented["content"]["application/json"];
    let v = compile(&doc, &media["schema"], "405");
    assert!(v.is_valid(&media["example"]), "the 405 example");
    assert_eq!(documented["headers"]["Allow"]["schema"]["const"], "GET");
    let a = memory_app(store());
    for method in ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"] {
        for headers in [
            &[][..],
            &[("x-auth-token", "tok-manager"), ("x-user-id", "u-manager")],
        ] {
            let mut req = request(QUERY, headers);
            *req.method_mut() = Method::from_bytes(method.as_bytes()).unwrap();
            let res = a.handle(req).await;
            assert_eq!(res.status().as_u16(), 405, "{method}");
            assert_eq!(res.headers()["allow"], "GET", "{method}");
            assert_eq!(res.headers()["cache-control"], "no-store", "{method}");
            let body: Value = serde_json::from_str(&text(&res)).unwrap();
            assert!(v.is_valid(&body), "{method}: {body}");
        }
    }
}

/// Every answer the document says the function gives carries the headers it documents.
#[tokio::test]
async fn documented_headers_are_sent() {
    let doc = document();
    let responses = operation(&doc)["responses"].as_object().unwrap();
    for (status, response) in responses {
        if response.get("x-answered-by").is_some() {
            assert!(
                response.get("headers").is_none(),
                "{status}: API Gateway's own answer"
            );
            continue;
        }
        let header = &response["headers"]["Cache-Control"]["$ref"];
        assert!(
            header == "#/components/headers/NoStore"
                || header == "#/components/headers/NoStoreFromTheFunction",
            "{status} documents Cache-Control"
        );
    }
    assert_eq!(
        doc["components"]["headers"]["NoStore"]["schema"]["const"],
        "no-store"
    );
    let a = memory_app(store());
    let manager = as_user("tok-manager", "u-manager");
    for (query, headers) in [
        (QUERY, &manager),
        ("from=x", &manager),
        (QUERY, &as_user("tok-agent", "u-agent")),
        (QUERY, &vec![]),
    ] {
        // `call` asserts Content-Type and Cache-Control on each answer.
        call(&a, query, headers).await;
    }
}

/// ST202 (Schemathesis' positive_data_acceptance): the `from`/`to` schema accepts what the
/// function accepts, and refuses nothing it accepts. The one gap is the rule JSON Schema cannot
/// state: a day its month does not have (`2024-02-30`), a documented 400.
#[test]
fn the_day_schema_is_what_the_function_accepts() {
    use agent_overview::domain::range::ReportDate;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let doc = document();
    for (i, name) in [(1, "from"), (2, "to")] {
        let parameter = &operation(&doc)["parameters"][i];
        assert_eq!(parameter["name"], name);
        assert_eq!(parameter["schema"]["$ref"], "#/components/schemas/Day");
    }
    let day = compile(&doc, &doc["components"]["schemas"]["Day"], "Day");
    let check = |value: &str| {
        let schema_ok = day.is_valid(&json!(value));
        let accepted = ReportDate::parse(value).is_ok();
        if accepted {
            assert!(
                schema_ok,
                "{value:?}: accepted by the function, refused by the schema"
            );
        } else if schema_ok {
            // Month 01-12 and day 01-31 are the schema's: only a day past the month's end is left.
            let day_of_month: u32 = value[8..10].parse().unwrap();
            assert!(
                day_of_month >= 29,
                "{value:?}: schema-valid but refused by the function"
            );
        }
        (schema_ok, accepted)
    };
    for (value, expected) in [
        ("0000-00-00", (false, false)),
        ("0999-12-31", (false, false)),
        ("1000-01-01", (true, true)),
        ("9999-12-31", (true, true)),
        ("2024-02-29", (true, true)),
        ("2024-02-30", (true, false)),
        ("2023-02-29", (true, false)),
        ("2024-04-31", (true, false)),
        ("2024-13-01", (false, false)),
        ("2024-00-10", (false, false)),
        ("2024-01-32", (false, false)),
        ("2024-01-00", (false, false)),
        ("2024-03-01T12:11:45.392Z", (true, true)),
        ("2024-03-01 ", (true, true)),
        ("2024-03-01\nx", (true, true)),
        ("2024-03-01\u{e9}", (true, true)),
        ("2024-03-011", (false, false)),
        ("2024-3-01", (false, false)),
        ("10000-01-01", (false, false)),
        ("", (false, false)),
    ] {
        assert_eq!(check(value), expected, "{value:?}");
    }
    let values = prop_oneof![
        "[0-9]{4}-[0-9]{2}-[0-9]{2}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}\\PC{1,4}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[\\n\\r\\t ][0-9a-z]{0,3}",
        "[0-9-]{8,12}",
        "\\PC{0,14}",
    ];
    let mut runner = TestRunner::new(Config {
        cases: 20_000,
        ..Config::default()
    });
    runner
        .run(&values, |value| {
            check(&value);
            Ok(())
        })
        .unwrap();
}

/// The `head` schema, written without `prefixItems` (Schemathesis 4 rewrites it into a form its
/// own Draft 2020-12 validator refuses), asserts what `prefixItems` + `items: false` did:
/// exactly two columns, `Agent` first, a figure's name second.
#[test]
fn the_head_schema_is_exact() {
    let doc = document();
    let head = &doc["components"]["schemas"]["Overview"]["properties"]["head"];
    assert!(head.get("prefixItems").is_none(), "{head}");
    let v = compile(&doc, head, "head");
    let agent = json!({"name": "Agent"});
    let figure = json!({"name": "Total_messages"});
    assert!(v.is_valid(&json!([agent, figure])));
    for wrong in [
        json!([]),
        json!([agent]),
        json!([agent, figure, figure]),
        json!([agent, figure, {"name": "x"}]),
        json!([figure, agent]),
        json!([agent, {"name": "Agent"}]),
        json!([agent, {"name": "Total_messages", "x": 1}]),
    ] {
        assert!(!v.is_valid(&wrong), "{wrong}");
    }
}
