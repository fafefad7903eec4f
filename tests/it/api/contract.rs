//! The request contract through the handler, on the in-memory store: every status code and
//! exact body of the behaviour spec, in Rocket.Chat's order of checks.

use crate::support::api::{
    as_user, assert_uncacheable, call, invalid, manager, memory_app, request, store,
    worked_example, FORBIDDEN, METHOD_NOT_ALLOWED, NOT_FOUND, NOW_MS, PATH, UNAUTHORIZED,
};
use agent_overview::domain::identity::{
    hash_token, ReportingZoneSetting, Session, TenantSettings, User,
};
use lambda_http::http::{HeaderValue, Method, Request};
use lambda_http::Body;
use serde_json::{json, Value};

const OK_QUERY: &str = "name=Total_conversations&from=2024-03-01&to=2024-03-01";

async fn expect(query: &str, headers: Vec<(String, String)>, status: u16, body: &str) {
    let (s, b) = call(&memory_app(store()), query, &headers).await;
    assert_eq!((s, b.as_str()), (status, body), "query {query:?}");
}

async fn expect_json(query: &str, headers: Vec<(String, String)>, status: u16, body: Value) {
    let (s, b) = call(&memory_app(store()), query, &headers).await;
    let got: Value = serde_json::from_str(&b).unwrap();
    assert_eq!((s, got), (status, body), "query {query:?}");
}

#[tokio::test]
async fn missing_headers_are_401() {
    expect(OK_QUERY, vec![], 401, UNAUTHORIZED).await;
    expect(
        OK_QUERY,
        vec![("X-Auth-Token".into(), "tok-manager".into())],
        401,
        UNAUTHORIZED,
    )
    .await;
    expect(
        OK_QUERY,
        vec![("X-User-Id".into(), "u-manager".into())],
        401,
        UNAUTHORIZED,
    )
    .await;
    expect(OK_QUERY, as_user("", "u-manager"), 401, UNAUTHORIZED).await;
}

#[tokio::test]
async fn unknown_token_other_users_token_and_expired_session_are_401() {
    expect(OK_QUERY, as_user("nope", "u-manager"), 401, UNAUTHORIZED).await;
    expect(
        OK_QUERY,
        as_user("tok-admin", "u-manager"),
        401,
        UNAUTHORIZED,
    )
    .await;
    expect(OK_QUERY, as_user("tok-stale", "u-stale"), 401, UNAUTHORIZED).await;
    expect(
        OK_QUERY,
        as_user(&"x".repeat(4096), "u-manager"),
        401,
        UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_session_whose_user_was_deleted_is_401() {
    let s = store();
    s.put_session(
        &hash_token("tok-ghost"),
        Session {
            tenant: "acme".into(),
            user_id: "u-ghost".into(),
            issued_at_ms: NOW_MS,
            generation: None,
        },
    );
    let (status, body) = call(&memory_app(s), OK_QUERY, &as_user("tok-ghost", "u-ghost")).await;
    assert_eq!((status, body.as_str()), (401, UNAUTHORIZED));
}

#[tokio::test]
async fn login_expiration_is_the_tenants_setting() {
    let s = store();
    s.put_settings(
        "acme",
        TenantSettings {
            reporting_timezone: ReportingZoneSetting::Server,
            login_expiration_days: 365,
        },
    );
    let (status, _) = call(&memory_app(s), OK_QUERY, &as_user("tok-stale", "u-stale")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn non_utf8_header_is_401() {
    let mut req = request(OK_QUERY, &[("x-user-id", "u-manager")]);
    req.headers_mut().insert(
        "x-auth-token",
        HeaderValue::from_bytes(b"tok-\xffmanager").unwrap(),
    );
    let res = memory_app(store()).handle(req).await;
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn headers_match_in_any_case() {
    let h = vec![
        ("X-AUTH-TOKEN".into(), "tok-manager".into()),
        ("x-user-id".into(), "u-manager".into()),
    ];
    let (status, _) = call(&memory_app(store()), OK_QUERY, &h).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn authentication_is_checked_before_parameters() {
    expect("", vec![], 401, UNAUTHORIZED).await;
    expect("limit=1", as_user("nope", "u-manager"), 401, UNAUTHORIZED).await;
}

#[tokio::test]
async fn missing_parameters_are_400_with_rocket_chats_messages() {
    expect_json(
        "from=2024-03-01&to=2024-03-01",
        manager(),
        400,
        invalid("must have required property 'name'"),
    )
    .await;
    expect_json(
        "name=Total_conversations&to=2024-03-01",
        manager(),
        400,
        invalid("must have required property 'from'"),
    )
    .await;
    expect_json(
        "name=Total_conversations&from=2024-03-01",
        manager(),
        400,
        invalid("must have required property 'to'"),
    )
    .await;
}

#[tokio::test]
async fn exact_400_body_text_and_key_order() {
    let (status, body) = call(&memory_app(store()), "from=x", &manager()).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"success":false,"error":"must have required property 'name' [invalid-params]","errorType":"invalid-params"}"#
    );
    let (status, body) = call(
        &memory_app(store()),
        "name=Total_conversations&from=2024-03-06&to=2024-02-30",
        &manager(),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            r#"{"success":false,"error":"to must start with a date as YYYY-MM-DD [invalid-params]","errorType":"invalid-params"}"#
        )
    );
}

#[tokio::test]
async fn wrong_types_and_extra_parameters_are_400() {
    expect_json(
        &format!("{OK_QUERY}&name=Avg_chat_duration"),
        manager(),
        400,
        invalid("must be string"),
    )
    .await;
    expect_json(
        &format!("{OK_QUERY}&departmentId[]=a"),
        manager(),
        400,
        invalid("must be string"),
    )
    .await;
    expect_json(
        &format!("{OK_QUERY}&limit=5"),
        manager(),
        400,
        invalid("must NOT have additional properties"),
    )
    .await;
}

#[tokio::test]
async fn parameters_are_checked_before_the_permission() {
    expect_json(
        "from=x",
        as_user("tok-agent", "u-agent"),
        400,
        invalid("must have required property 'name'"),
    )
    .await;
}

#[tokio::test]
async fn missing_permission_is_403() {
    expect(OK_QUERY, as_user("tok-agent", "u-agent"), 403, FORBIDDEN).await;
    expect(
        OK_QUERY,
        as_user("tok-auditor", "u-auditor"),
        403,
        FORBIDDEN,
    )
    .await;
    // Our deviations come after the permission, where Rocket.Chat's silent answer was.
    expect(
        "name=Total_chats&from=2024-03-01&to=2024-03-01",
        as_user("tok-agent", "u-agent"),
        403,
        FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn the_permission_override_replaces_the_default_roles() {
    let s = store();
    s.put_view_livechat_manager_roles("acme", vec!["auditor".into()]);
    let a = memory_app(s);
    assert_eq!(
        call(&a, OK_QUERY, &as_user("tok-auditor", "u-auditor"))
            .await
            .0,
        200
    );
    assert_eq!(
        call(&a, OK_QUERY, &as_user("tok-admin", "u-admin")).await.0,
        403
    );
}

#[tokio::test]
async fn deliberate_deviations_are_400_naming_the_problem() {
    let names = "Total_conversations, Avg_chat_duration, Total_messages, Avg_first_response_time, Best_first_response_time, Avg_response_time, Avg_reaction_time";
    expect_json(
        "name=Total_chats&from=2024-03-01&to=2024-03-06",
        manager(),
        400,
        invalid(&format!("name must be one of {names}")),
    )
    .await;
    expect_json(
        "name=Total_conversations&from=last%20week&to=2024-03-06",
        manager(),
        400,
        invalid("from must start with a date as YYYY-MM-DD"),
    )
    .await;
    expect_json(
        "name=Total_conversations&from=2024-03-06&to=2024-02-30",
        manager(),
        400,
        invalid("to must start with a date as YYYY-MM-DD"),
    )
    .await;
    expect_json(
        "name=Total_conversations&from=2024-03-06&to=2024-03-01",
        manager(),
        400,
        invalid("from must not be after to"),
    )
    .await;
    expect_json(
        "name=Total_messages&from=1970-01-01&to=2099-12-31",
        manager(),
        400,
        invalid("the range from..to must not be longer than 3660 days"),
    )
    .await;
}

/// Status, `Allow` header and body text of a raw request.
async fn raw_answer(req: Request<Body>) -> (u16, Option<String>, String) {
    let res = memory_app(store()).handle(req).await;
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_uncacheable(&res);
    let allow = res
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    let body = match res.body() {
        Body::Text(t) => t.clone(),
        other => panic!("unexpected body {other:?}"),
    };
    (res.status().as_u16(), allow, body)
}

#[tokio::test]
async fn other_methods_on_the_endpoint_are_405_allowing_get() {
    let manager = [("x-auth-token", "tok-manager"), ("x-user-id", "u-manager")];
    for method in [
        "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT",
    ] {
        // Before authentication, as a router answers: with or without credentials.
        for headers in [&manager[..], &[]] {
            let mut req = request(OK_QUERY, headers);
            *req.method_mut() = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(
                raw_answer(req).await,
                (405, Some("GET".into()), METHOD_NOT_ALLOWED.into()),
                "{method}"
            );
        }
    }
    let mut staged = request(OK_QUERY, &[]);
    *staged.method_mut() = Method::DELETE;
    *staged.uri_mut() = format!("https://example.test/prod{PATH}/").parse().unwrap();
    assert_eq!(raw_answer(staged).await.0, 405);
}

#[tokio::test]
async fn other_paths_are_json_404_whatever_the_method() {
    for method in [Method::GET, Method::POST] {
        let mut req = request(OK_QUERY, &[]);
        *req.method_mut() = method.clone();
        *req.uri_mut() = "https://example.test/api/v1/livechat/analytics/other"
            .parse()
            .unwrap();
        assert_eq!(
            raw_answer(req).await,
            (404, None, NOT_FOUND.into()),
            "{method}"
        );
    }
}

#[tokio::test]
async fn an_empty_range_answers_the_real_shape() {
    expect(
        "name=Total_conversations&from=2020-01-01&to=2020-01-02",
        manager(),
        200,
        r#"{"head":[{"name":"Agent"},{"name":"%_of_conversations"}],"data":[],"success":true}"#,
    )
    .await;
}

#[tokio::test]
async fn the_worked_examples_answer_exactly() {
    let cases = [
        (
            "Total_conversations",
            r#"{"head":[{"name":"Agent"},{"name":"%_of_conversations"}],"data":[{"name":"kim","value":"66.67%"},{"name":"jane","value":"33.33%"}],"success":true}"#,
        ),
        (
            "Avg_chat_duration",
            r#"{"head":[{"name":"Agent"},{"name":"Avg_chat_duration"}],"data":[{"name":"jane","value":"02:01:40"},{"name":"kim","value":"00:01:40"}],"success":true}"#,
        ),
        (
            "Total_messages",
            r#"{"head":[{"name":"Agent"},{"name":"Total_messages"}],"data":[{"name":"kim","value":"5"},{"name":"jane","value":"1"}],"success":true}"#,
        ),
        (
            "Avg_first_response_time",
            r#"{"head":[{"name":"Agent"},{"name":"Avg_first_response_time"}],"data":[{"name":"kim","value":"00:00:30"},{"name":"jane","value":"00:00:30"}],"success":true}"#,
        ),
        (
            "Best_first_response_time",
            r#"{"head":[{"name":"Agent"},{"name":"Best_first_response_time"}],"data":[{"name":"kim","value":"00:00:30"},{"name":"jane","value":"00:00:10"}],"success":true}"#,
        ),
        (
            "Avg_response_time",
            r#"{"head":[{"name":"Agent"},{"name":"Avg_response_time"}],"data":[{"name":"kim","value":"00:00:50"},{"name":"jane","value":"00:00:20"}],"success":true}"#,
        ),
        (
            "Avg_reaction_time",
            r#"{"head":[{"name":"Agent"},{"name":"Avg_reaction_time"}],"data":[{"name":"kim","value":"00:00:05"}],"success":true}"#,
        ),
    ];
    for (name, body) in cases {
        expect(
            &format!("name={name}&from=2024-03-01T12:11:45.392Z&to=2024-03-01"),
            manager(),
            200,
            body,
        )
        .await;
    }
}

#[tokio::test]
async fn department_filter_and_its_no_filter_spellings() {
    let share = |q: &'static str| async move {
        let (_, b) = call(&memory_app(store()), q, &manager()).await;
        serde_json::from_str::<Value>(&b).unwrap()["data"].clone()
    };
    // R4 (no agent) is the only room without a department; every served room is in D1.
    let all = share("name=Total_messages&from=2024-03-01&to=2024-03-01").await;
    assert_eq!(
        share("name=Total_messages&from=2024-03-01&to=2024-03-01&departmentId=D1").await,
        all
    );
    assert_eq!(
        share("name=Total_messages&from=2024-03-01&to=2024-03-01&departmentId=").await,
        all
    );
    assert_eq!(
        share("name=Total_messages&from=2024-03-01&to=2024-03-01&departmentId=undefined").await,
        all
    );
    assert_eq!(
        share("name=Total_messages&from=2024-03-01&to=2024-03-01&departmentId=D2").await,
        json!([])
    );
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_conversations() {
    let s = store();
    // Same agent names and department in another tenant, with a manager of its own.
    for mut c in worked_example() {
        c.room_id = format!("other-{}", c.room_id);
        c.agent_messages = 100;
        s.put_conversation("globex", c);
    }
    s.put_user(
        "globex",
        User {
            id: "u-manager".into(),
            username: "manager".into(),
            roles: vec!["livechat-manager".into()],
            utc_offset: None,
            generation: None,
        },
    );
    s.put_session(
        &hash_token("tok-globex"),
        Session {
            tenant: "globex".into(),
            user_id: "u-manager".into(),
            issued_at_ms: NOW_MS,
            generation: None,
        },
    );
    let a = memory_app(s);
    let q = "name=Total_messages&from=2024-03-01&to=2024-03-01&departmentId=D1";
    let (_, acme) = call(&a, q, &manager()).await;
    let (_, globex) = call(&a, q, &as_user("tok-globex", "u-manager")).await;
    assert_eq!(
        acme,
        r#"{"head":[{"name":"Agent"},{"name":"Total_messages"}],"data":[{"name":"kim","value":"5"},{"name":"jane","value":"1"}],"success":true}"#
    );
    assert_eq!(
        globex,
        r#"{"head":[{"name":"Agent"},{"name":"Total_messages"}],"data":[{"name":"kim","value":"200"},{"name":"jane","value":"100"}],"success":true}"#
    );
}
