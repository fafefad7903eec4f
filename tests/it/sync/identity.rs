//! Users and sessions through the sync: generations are kept (an operator's session survives a
//! sync), a deactivation or deletion in Rocket.Chat ends the user's sessions, a user created
//! again never gets an old session back, users an operator added are not the sync's to remove,
//! and the users phase keeps the job's deadline and resumes.

use std::time::Duration;

use agent_overview::admin::session::mint_session;
use agent_overview::config::{ReadSettings, TableNames};
use agent_overview::domain::clock::system_clock;
use agent_overview::domain::identity::User;
use agent_overview::dynamo::identity_writes::{put_user_keeping_generation, sessions_of};
use agent_overview::http::App;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::sync::cycle::{sync_tenant, SyncOptions};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::json;

use crate::support::export::fixture_dir;
use crate::support::harness;
use crate::support::rc_standin::{iso, StandIn, Workspace, TOKEN};
use crate::support::sync::{rest, run, sync_ok};

const QUERY: &str = "name=Total_conversations&from=2024-06-01&to=2024-06-30";

async fn status(client: &Client, names: &TableNames, token: &str, user: &str) -> u16 {
    let reads = ReadSettings::default();
    let app = App {
        store: DynamoStore::new(client.clone(), names.clone(), reads.clone()),
        reads,
        clock: system_clock(),
        sign_in: None,
    };
    let res = app
        .handle(crate::support::api::request(
            QUERY,
            &[("X-Auth-Token", token), ("X-User-Id", user)],
        ))
        .await;
    res.status().as_u16()
}

/// A manager as `add-user` stores it, and a session minted for it.
async fn operators_manager(client: &Client, names: &TableNames, tenant: &str, id: &str) -> String {
    let user = User {
        id: id.into(),
        username: format!("u-{id}"),
        roles: vec!["livechat-manager".into()],
        utc_offset: None,
        generation: None,
    };
    put_user_keeping_generation(client, &names.directory, tenant, &user)
        .await
        .unwrap();
    mint(client, names, tenant, id).await
}

async fn mint(client: &Client, names: &TableNames, tenant: &str, id: &str) -> String {
    mint_session(
        client,
        names,
        &harness::tid(tenant),
        id,
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap()
    .token
}

async fn user_item(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    id: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    harness::get(
        client,
        &names.directory,
        &[("pk", tenant), ("sk", &format!("USER#{id}"))],
    )
    .await
}

fn attr<'a>(
    item: &'a std::collections::HashMap<String, AttributeValue>,
    name: &str,
) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn workspace() -> Workspace {
    let mut w = Workspace::from_export(&fixture_dir("custom-zone-relaxed"));
    w.rooms.clear();
    w.messages.clear();
    w
}

fn now_iso() -> serde_json::Value {
    json!(iso(chrono::Utc::now().timestamp_millis()))
}

fn set_active(standin: &StandIn, id: &str, active: bool) {
    standin.with(|s| {
        let u = s
            .workspace
            .users
            .iter_mut()
            .find(|u| u["_id"] == id)
            .unwrap();
        u["active"] = json!(active);
        u["_updatedAt"] = now_iso();
    });
}

async fn session_count(client: &Client, names: &TableNames, tenant: &str, id: &str) -> usize {
    sessions_of(client, names, tenant, Some(id))
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn sessions_survive_a_sync_and_a_deactivated_user_never_gets_them_back() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("id-gen");
    let token = operators_manager(&client, &names, &tenant, "mgr1").await;
    assert_eq!(status(&client, &names, &token, "mgr1").await, 200);
    let generation = attr(
        &user_item(&client, &names, &tenant, "mgr1").await.unwrap(),
        "generation",
    )
    .unwrap()
    .to_string();

    let mut w = workspace();
    w.users.push(
        json!({"_id": "mgr1", "username": "u-mgr1", "roles": ["livechat-manager"],
        "active": true, "_updatedAt": iso(1_717_200_000_000)}),
    );
    let standin = StandIn::start(w).await;
    sync_ok(&client, &names, &tenant, &standin.url).await;
    let item = user_item(&client, &names, &tenant, "mgr1").await.unwrap();
    assert_eq!(attr(&item, "generation"), Some(generation.as_str()), "kept");
    assert_eq!(attr(&item, "managedBy"), Some("sync"));
    assert_eq!(
        status(&client, &names, &token, "mgr1").await,
        200,
        "the session of a user Rocket.Chat still has active survives the sync"
    );
    // Unchanged users are not written again.
    let again = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert_eq!(again.users_written, 0);

    // Deactivated in Rocket.Chat: the sync removes the user and ends its sessions at once.
    set_active(&standin, "mgr1", false);
    let summary = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert_eq!(summary.users_removed, 1);
    assert_eq!(status(&client, &names, &token, "mgr1").await, 401);
    assert_eq!(session_count(&client, &names, &tenant, "mgr1").await, 0);

    // A session that escaped the index (minted again under the old generation) stays dead too.
    set_active(&standin, "mgr1", true);
    sync_ok(&client, &names, &tenant, &standin.url).await;
    let item = user_item(&client, &names, &tenant, "mgr1").await.unwrap();
    let new_generation = attr(&item, "generation").unwrap();
    assert_ne!(
        new_generation, generation,
        "re-created with a new generation"
    );
    assert_eq!(
        status(&client, &names, &token, "mgr1").await,
        401,
        "the session from before the deactivation stays dead"
    );
    let fresh = mint(&client, &names, &tenant, "mgr1").await;
    assert_eq!(status(&client, &names, &fresh, "mgr1").await, 200);
}

#[tokio::test]
async fn the_full_listing_removes_only_users_the_sync_manages_and_ends_their_sessions() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("id-own");
    // An operator's manager that Rocket.Chat does not have (README's `add-user ... ops-1`).
    let ops = operators_manager(&client, &names, &tenant, "ops-1").await;
    let mut w = workspace();
    for id in ["rc-a", "rc-b"] {
        w.users.push(
            json!({"_id": id, "username": id, "roles": ["livechat-manager"],
            "active": true, "_updatedAt": iso(1_717_200_000_000)}),
        );
    }
    let standin = StandIn::start(w).await;
    let full = SyncOptions {
        full: true,
        ..SyncOptions::default()
    };
    run(&client, &names, &tenant, &standin.url, full.clone())
        .await
        .unwrap();
    let b = mint(&client, &names, &tenant, "rc-b").await;
    assert_eq!(status(&client, &names, &b, "rc-b").await, 200);

    // rc-b is deleted in Rocket.Chat (it appears nowhere: only a full listing can tell).
    standin.with(|s| s.workspace.users.retain(|u| u["_id"] != "rc-b"));
    // A full listing within a minute of the last is not repeated: this cycle runs 2 min later.
    let summary = sync_tenant(
        &client,
        &names,
        &harness::tid(&tenant),
        &rest(&standin.url, TOKEN),
        &full,
        chrono::Utc::now().timestamp_millis() + 120_000,
    )
    .await
    .unwrap();
    assert!(summary.complete);
    assert_eq!(summary.users_removed, 1);
    assert!(user_item(&client, &names, &tenant, "rc-b").await.is_none());
    assert_eq!(status(&client, &names, &b, "rc-b").await, 401);
    assert_eq!(session_count(&client, &names, &tenant, "rc-b").await, 0);
    // The operator's user and its session stay; so does the sync's user Rocket.Chat has.
    assert!(user_item(&client, &names, &tenant, "ops-1").await.is_some());
    assert_eq!(status(&client, &names, &ops, "ops-1").await, 200);
    assert!(user_item(&client, &names, &tenant, "rc-a").await.is_some());
    // Every removal was confirmed by users.info first.
    assert!(standin
        .requests()
        .iter()
        .any(|r| r.starts_with("/api/v1/users.info?userId=rc-b")));
}

/// `n` plain users (no manager role: no users.info).
fn many_users(n: usize) -> Workspace {
    let mut w = workspace();
    for i in 0..n {
        w.users.push(json!({"_id": format!("user{i:04}"), "username": format!("agent{i}"),
            "roles": ["livechat-agent"], "active": true, "_updatedAt": iso(1_717_200_000_000 + i as i64)}));
    }
    w
}

fn listings(standin: &StandIn) -> usize {
    standin
        .requests()
        .iter()
        .filter(|r| r.starts_with("/api/v1/users.list?"))
        .count()
}

#[tokio::test]
async fn the_users_phase_keeps_the_deadline_resumes_and_then_reads_only_changes() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("id-many");
    let standin = StandIn::start(many_users(480)).await;
    // Each users page takes 1 s; the job has 1.5 s: the first page fits (what comes before the
    // users phase has 0.5 s, room enough on a loaded machine), a second is cut by the deadline.
    standin.with(|s| {
        s.faults.delay_ms = 1_000;
        s.faults.only_path = "users.list".into();
    });
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1_500);
    let cut = sync_tenant(
        &client,
        &names,
        &harness::tid(&tenant),
        &rest(&standin.url, TOKEN).with_deadline(Some(deadline)),
        &SyncOptions {
            deadline: Some(deadline),
            ..SyncOptions::default()
        },
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .unwrap();
    assert!(
        !cut.complete,
        "a users phase cut short is not a complete cycle"
    );
    let base = workspace().users.len() as u64;
    let first = listings(&standin);
    assert!(first <= 2, "{first} users pages asked past the deadline");
    assert!(
        cut.users_written > 0 && cut.users_written < 480,
        "{}",
        cut.users_written
    );

    // The next job resumes where the listing stopped, and completes it.
    standin.with(|s| s.faults.delay_ms = 0);
    let done = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert!(done.complete);
    assert_eq!(
        cut.users_written + done.users_written,
        480 + base,
        "each user once"
    );
    // Five pages; the page the deadline interrupted (between its users) may be read again.
    let pages = listings(&standin);
    assert!(
        (5..=6).contains(&pages),
        "{pages} users pages for 5 pages of users"
    );
    let stored = harness::tenant_items(&client, &names.directory, &tenant)
        .await
        .iter()
        .filter(|i| attr(i, "sk").is_some_and(|k| k.starts_with("USER#")))
        .count();
    assert_eq!(stored as u64, 480 + base);

    // Idle: one users page, newest change first; a changed user is the only one written.
    let before = listings(&standin);
    let idle = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert_eq!(listings(&standin) - before, 1);
    assert_eq!(idle.users_written, 0);
    standin.with(|s| {
        let u = s
            .workspace
            .users
            .iter_mut()
            .find(|u| u["_id"] == "user0007")
            .unwrap();
        u["roles"] = json!(["livechat-agent", "livechat-monitor-x"]);
        u["_updatedAt"] = now_iso();
    });
    let changed = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert_eq!(changed.users_written, 1);
    let item = user_item(&client, &names, &tenant, "user0007")
        .await
        .unwrap();
    assert!(matches!(item.get("roles"), Some(AttributeValue::L(l)) if l.len() == 2));
}

/// A listing that misses a live user (as one shifted by a deletion elsewhere does) never
/// removes it: only a user `users.info` confirms gone is removed.
#[tokio::test]
async fn only_a_user_rocketchat_confirms_gone_is_removed() {
    use agent_overview::dynamo::identity_writes::{put_owned_user, UserOwner};
    use agent_overview::sync::users::UsersPhase;
    use std::sync::Arc;

    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("id-confirm");
    for id in ["u-live", "u-gone"] {
        let user = User {
            id: id.into(),
            username: id.into(),
            roles: vec!["user".into()],
            utc_offset: None,
            generation: None,
        };
        put_owned_user(&client, &names.directory, &tenant, &user, UserOwner::Sync)
            .await
            .unwrap();
    }
    // users.list lists nobody; users.info still knows u-live.
    let (port, seen) = crate::support::tiny_server::mini_server(Arc::new(|target: &str| {
        if target.starts_with("/api/v1/users.list") {
            crate::support::tiny_server::json(
                "200 OK",
                r#"{"users":[],"count":0,"offset":0,"total":0,"success":true}"#,
            )
        } else if target.contains("userId=u-live") {
            crate::support::tiny_server::json(
                "200 OK",
                r#"{"user":{"_id":"u-live","username":"u-live","roles":["user"],"active":true},"success":true}"#,
            )
        } else {
            crate::support::tiny_server::json("400 Bad Request", r#"{"success":false,"error":"User not found."}"#)
        }
    }))
    .await;
    let rc = rest(&format!("http://127.0.0.1:{port}"), TOKEN);
    let out = UsersPhase {
        client: &client,
        names: &names,
        tenant: &tenant,
        rc: &rc,
        manager_roles: &[],
        deadline: None,
        full: true,
        now_ms: chrono::Utc::now().timestamp_millis(),
    }
    .run()
    .await
    .unwrap();
    assert!(out.complete);
    assert_eq!(out.removed, 1);
    assert!(user_item(&client, &names, &tenant, "u-live")
        .await
        .is_some());
    assert!(user_item(&client, &names, &tenant, "u-gone")
        .await
        .is_none());
    let asked: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    assert!(
        asked.iter().any(|t| t.contains("users.info?userId=u-live")),
        "{asked:?}"
    );
}

/// A 429 whose wait would cross the job's deadline ends the users phase like the deadline
/// itself (finding 9's rule for the users phase): the cycle is cut short, not failed, and the
/// listing's progress is kept.
#[tokio::test]
async fn a_rate_limit_past_the_deadline_cuts_the_users_phase_short_and_keeps_its_progress() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("id-429");
    let standin = StandIn::start(many_users(250)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    // The first users page answers; the next is rate-limited for 3 s, past the deadline.
    let first = listings(&standin);
    standin.with(|s| {
        s.faults.only_path = "users.list".into();
    });
    let hook = async {
        for _ in 0..200 {
            if listings(&standin) > first {
                standin.with(|s| {
                    s.faults.rate_limited = 100;
                    s.faults.rate_limit_reset_ms = 3_000;
                });
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let tid = harness::tid(&tenant);
    let rc = rest(&standin.url, TOKEN).with_deadline(Some(deadline));
    let options = SyncOptions {
        deadline: Some(deadline),
        ..SyncOptions::default()
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let (cut, ()) = tokio::join!(
        sync_tenant(&client, &names, &tid, &rc, &options, now_ms),
        hook
    );
    let cut = cut.expect("cut short, not failed");
    assert!(!cut.complete);
    assert!(cut.users_written >= 100, "{}", cut.users_written);
    standin.with(|s| s.faults.rate_limited = 0);
    let done = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert!(done.complete);
    let base = workspace().users.len() as u64;
    assert_eq!(cut.users_written + done.users_written, 250 + base);
}

/// The sync applies the import's limits to users too: a user whose username or roles could not
/// be stored (past the item limits) is skipped and counted, and the others are written; a user
/// document that cannot be read at all is skipped the same way, never a failed cycle.
#[tokio::test]
async fn a_user_past_the_limits_is_skipped_and_counted_not_a_failed_cycle() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("id-reads");
    let mut w = many_users(3);
    w.users
        .push(json!({"_id": "too-long", "username": "x".repeat(5000),
        "roles": ["livechat-agent"], "active": true, "_updatedAt": iso(1_717_200_000_000)}));
    w.users
        .push(json!({"_id": "bad-roles", "username": "bad-roles",
        "roles": [1, 2], "active": true, "_updatedAt": iso(1_717_200_000_000)}));
    let standin = StandIn::start(w).await;
    let summary = run(
        &client,
        &names,
        &tenant,
        &standin.url,
        SyncOptions::default(),
    )
    .await
    .expect("one bad user document is not a failed cycle");
    assert_eq!(summary.users_invalid, 2, "{summary}");
    for refused in ["too-long", "bad-roles"] {
        assert!(
            user_item(&client, &names, &tenant, refused).await.is_none(),
            "{refused} is not stored"
        );
    }
    for i in 0..3 {
        assert!(
            user_item(&client, &names, &tenant, &format!("user{i:04}"))
                .await
                .is_some(),
            "user{i:04} is written beside the refused one"
        );
    }
}
