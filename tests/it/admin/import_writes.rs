//! Issue 20, review finding 17: `import` writes users and revocations in concurrent batches,
//! not one call at a time (a 100k-user workspace took minutes for those alone). Before the fix
//! at most one `UpdateItem` of a user and one `DeleteItem` of a session were ever in flight.

use std::path::{Path, PathBuf};

use agent_overview::admin::import::{import_export, ImportOptions};
use agent_overview::domain::identity::hash_token;

use crate::support::gated::Gate;
use crate::support::harness;

const USERS: usize = 40;

/// An export of `USERS` users (each with one login token unless `tokens` is false) and one
/// livechat room.
fn export(dir: &Path, tenant: &str, tokens: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let when = (chrono::Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let users: Vec<String> = (0..USERS)
        .map(|i| {
            let login = if tokens {
                let hash = hash_token(&format!("token-{tenant}-{i}"));
                format!(r#","services":{{"resume":{{"loginTokens":[{{"when":{{"$date":"{when}"}},"hashedToken":"{hash}"}}]}}}}"#)
            } else {
                String::new()
            };
            format!(r#"{{"_id":"u{i}","username":"user{i}","roles":["user","livechat-manager"]{login}}}"#)
        })
        .collect();
    std::fs::write(dir.join("users.json"), users.join("\n") + "\n").unwrap();
    std::fs::write(
        dir.join("rocketchat_room.json"),
        r#"{"_id":"R1","t":"l","ts":{"$date":"2024-03-01T10:00:00.000Z"},"open":false,"servedBy":{"_id":"u0","username":"user0"},"metrics":{"chatDuration":100}}"#.to_string() + "\n",
    )
    .unwrap();
    std::fs::write(dir.join("rocketchat_message.json"), "").unwrap();
}

fn scratch(tenant: &str, name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("it-batches-{tenant}-{name}"))
}

#[tokio::test]
async fn users_and_revocations_are_written_in_concurrent_batches() {
    let names = harness::ready().await.1;
    let tenant = harness::unique_tenant("batches");
    let gate = Gate::open();
    let client = gate.client(0);
    let (first, second) = (scratch(&tenant, "a"), scratch(&tenant, "b"));
    export(&first, &tenant, true);
    export(&second, &tenant, false);
    let options = ImportOptions::at(chrono::Utc::now());

    let summary = import_export(&client, &names, &harness::tid(&tenant), &first, &options)
        .await
        .unwrap();
    let users_in_flight = gate.max_in_flight("UpdateItem", &names.directory);
    let sessions = harness::tenant_items(&client, &names.sessions, &tenant)
        .await
        .len();
    assert_eq!(sessions, USERS, "{summary}");

    // The same users, logged out: every session is revoked.
    import_export(&client, &names, &harness::tid(&tenant), &second, &options)
        .await
        .unwrap();
    let revocations_in_flight = gate.max_in_flight("DeleteItem", &names.sessions);
    assert_eq!(
        harness::tenant_items(&client, &names.sessions, &tenant)
            .await
            .len(),
        0
    );
    let users = harness::tenant_items(&client, &names.directory, &tenant)
        .await
        .into_iter()
        .filter(|i| matches!(i.get("sk"), Some(aws_sdk_dynamodb::types::AttributeValue::S(sk)) if sk.starts_with("USER#")))
        .count();
    assert_eq!(users, USERS);
    for dir in [first, second] {
        let _ = std::fs::remove_dir_all(dir);
    }
    eprintln!(
        "in flight at once: user writes {users_in_flight}, revocations {revocations_in_flight}"
    );
    assert!(users_in_flight > 1, "users written one at a time");
    assert!(
        revocations_in_flight > 1,
        "revocations written one at a time"
    );
}
