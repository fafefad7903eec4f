//! The scripted DynamoDB ([`super::fake_dynamo`]) answering every read of the request path:
//! the session, the manager and the worked example's rooms of 2024-03-01.

use std::sync::Arc;

use agent_overview::domain::identity::{hash_token, Session, User};
use agent_overview::dynamo::items;
use agent_overview::dynamo::items::Item;
use agent_overview::http::App;
use agent_overview::store::dynamo::DynamoStore;
use serde_json::Value;

use crate::support::api::{raw_plan, worked_example, NOW_MS};
use crate::support::fake_dynamo::{
    batch_get_answer, get_item_answer, query_answer, table_missing, Answer, FakeDynamo,
};
use crate::support::harness;

pub const TOKEN: &str = "tok-throttle-3f9a";
pub const USER_ID: &str = "uid-throttle-77";
pub const QUERY: &str = "name=Total_conversations&from=2024-03-01&to=2024-03-01";
pub const UNAVAILABLE: &str = r#"{"success":false,"error":"The service is busy; retry shortly [error-unavailable]","errorType":"error-unavailable"}"#;
pub fn session_item() -> Item {
    let session = Session {
        tenant: "acme".into(),
        user_id: USER_ID.into(),
        issued_at_ms: NOW_MS,
        generation: None,
    };
    items::session_item(&hash_token(TOKEN), &session, NOW_MS / 1000 + 86_400)
}

pub fn manager_item() -> Item {
    items::user_item(
        "acme",
        &User {
            id: USER_ID.into(),
            username: "manager".into(),
            roles: vec!["livechat-manager".into()],
            utc_offset: None,
            generation: None,
        },
    )
}

/// The worked example's rooms of 2024-03-01 (R1..R4), as the query's one bucket returns them.
pub fn rooms() -> Vec<Item> {
    worked_example()
        .iter()
        .take(4)
        .map(|c| items::conversation_item("acme", c).unwrap())
        .collect()
}

/// A DynamoDB that answers every read of the request path.
pub fn healthy(operation: &str, _body: &Value, _before: usize) -> Answer {
    match operation {
        "GetItem" => get_item_answer(Some(&session_item())),
        "BatchGetItem" => batch_get_answer(&harness::table_names().directory, &[manager_item()]),
        "Query" => query_answer(&rooms()),
        _ => table_missing(),
    }
}

pub fn fake_app(fake: &FakeDynamo) -> App<DynamoStore> {
    App {
        store: DynamoStore::new(fake.client(), harness::table_names(), raw_plan()),
        reads: raw_plan(),
        clock: Arc::new(|| NOW_MS),
        sign_in: None,
    }
}
