//! `sync` against the Rocket.Chat stand-in and dynalite: the shared fixtures answer their
//! cases through sync as through import; incremental cycles, `--full`, the time budget and a
//! killed cycle converge on the truth; 429s, 5xx, broken bodies and a wrong token are handled.

use std::time::Duration;

use agent_overview::config::TableNames;
use agent_overview::dynamo::sync::get_state;
use agent_overview::sync::client::RestError;
use agent_overview::sync::cycle::{sync_tenant, SyncError, SyncOptions};
use agent_overview::sync::source::SourceError;
use agent_overview::sync::state::SyncState;
use serde_json::{json, Value};

use crate::support::export::fixture_dir;
use crate::support::harness;
use crate::support::rc_standin::{iso, StandIn, Workspace, TOKEN, USER_ID};
use crate::support::sync::{
    assert_matches_the_export, conversations, expire_lease, generated, imported, rest, run,
};

fn incremental() -> SyncOptions {
    SyncOptions::default()
}

fn full() -> SyncOptions {
    SyncOptions {
        full: true,
        ..SyncOptions::default()
    }
}

async fn cases_through_sync(folder: &str) {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync");
    let standin = StandIn::start(Workspace::from_export(&fixture_dir(folder))).await;
    let summary = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .expect("the sync succeeds");
    assert!(summary.complete);
    assert_eq!(summary.rooms_added, 60);
    assert_matches_the_export(&client, &names, &tenant, folder).await;
    // Every list request asked for pages of 100.
    for r in standin.requests() {
        if r.contains("offset=") {
            assert!(r.contains("count=100"), "{r}");
        }
    }
}

#[tokio::test]
async fn custom_zone_relaxed_answers_every_case_through_sync() {
    cases_through_sync("custom-zone-relaxed").await;
}

#[tokio::test]
async fn user_zone_canonical_answers_every_case_through_sync() {
    cases_through_sync("user-zone-canonical").await;
}

const FOLDER: &str = "custom-zone-relaxed";

fn now_iso(offset_ms: i64) -> Value {
    json!(iso(chrono::Utc::now().timestamp_millis() + offset_ms))
}

/// The fixture as it was some time ago: five rooms not created yet, three not transferred
/// yet, three with other metrics, two with fewer agent messages, and one room since deleted.
fn stale_view(truth: &Workspace) -> (Workspace, Vec<String>) {
    let mut w = truth.clone();
    let has_agent_message = |id: &str| {
        truth
            .messages
            .iter()
            .any(|m| m["rid"] == id && m.get("t").is_none() && m.get("token").is_none())
    };
    // Rooms with an agent message last, so the two whose messages grow are among them.
    let mut ids: Vec<String> = truth
        .rooms
        .iter()
        .filter(|r| r["t"] == "l" && r.get("servedBy").is_some() && r.get("metrics").is_some())
        .map(|r| r["_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort_by_key(|id| has_agent_message(id));
    let ids = ids[ids.len() - 13..].to_vec();
    let (new, rest) = ids.split_at(5);
    w.rooms
        .retain(|r| !new.contains(&r["_id"].as_str().unwrap().to_string()));
    for id in &rest[..3] {
        w.room_mut(id)["servedBy"] = json!({"_id": "old", "username": "previous_agent"});
    }
    for id in &rest[3..6] {
        w.room_mut(id)["metrics"] =
            json!({"chatDuration": 1.5, "response": {"ft": 2.25, "avg": 3}});
    }
    for id in &rest[6..8] {
        let mut dropped = false;
        w.messages.retain(|m| {
            let agent = m["rid"] == id.as_str() && m.get("t").is_none() && m.get("token").is_none();
            if agent && !dropped {
                dropped = true;
                return false;
            }
            true
        });
        assert!(dropped, "room {id} has an agent message to add later");
    }
    let mut deleted = truth.rooms.iter().find(|r| r["t"] == "l").unwrap().clone();
    deleted["_id"] = json!("deleted-room");
    w.rooms.push(deleted);
    let changed: Vec<String> = rest[..8].to_vec();
    (w, [new.to_vec(), changed].concat())
}

#[tokio::test]
async fn incremental_then_full_bring_every_answer_to_the_truth() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-inc");
    let truth = Workspace::from_export(&fixture_dir(FOLDER));
    let (stale, touched) = stale_view(&truth);
    let standin = StandIn::start(stale).await;
    let first = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();
    assert_eq!(first.rooms_added, 56);
    let after_first = get_state(&client, &names, &tenant).await.unwrap();
    let expected = imported(&client, &names, FOLDER).await;
    assert_ne!(conversations(&client, &names, &tenant).await, expected);

    // Rocket.Chat moves `_updatedAt` of every room it changes (a new message included).
    let mut next = truth.clone();
    next.rooms.push(standin.with(|s| {
        s.workspace
            .rooms
            .iter()
            .find(|r| r["_id"] == "deleted-room")
            .unwrap()
            .clone()
    }));
    for id in &touched {
        next.room_mut(id)["_updatedAt"] = now_iso(0);
    }
    next.rooms.retain(|r| r["_id"] != "deleted-room");
    standin.with(|s| s.workspace = next);
    let second = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();
    assert_eq!(
        (
            second.rooms_added,
            second.rooms_changed,
            second.rooms_removed
        ),
        (5, 8, 0)
    );
    let mut with_deleted = expected.clone();
    let stored = conversations(&client, &names, &tenant).await;
    with_deleted.insert("deleted-room".into(), stored["deleted-room"].clone());
    assert_eq!(
        stored, with_deleted,
        "an incremental sync brings every change, not the deletion"
    );
    assert!(second.state.checkpoint_ms > after_first.checkpoint_ms);
    // Only rooms changed since the checkpoint's overlap had their messages read.
    let message_reads = standin
        .requests()
        .iter()
        .filter(|r| r.contains("/messages?"))
        .count();
    // The 13 changed rooms; those the overlap re-lists are stored with the same `_updatedAt`
    // and `msgs`, so their messages are not read again.
    assert!(second.rooms_unchanged <= 2, "{}", second.rooms_unchanged);
    assert_eq!(message_reads as u64, 56 + 13);

    let third = run(&client, &names, &tenant, &standin.url, full())
        .await
        .unwrap();
    assert_eq!(
        (third.rooms_added, third.rooms_changed, third.rooms_removed),
        (0, 0, 1)
    );
    assert_eq!(conversations(&client, &names, &tenant).await, expected);
    assert!(third.state.last_full_ms.is_some());
}

#[tokio::test]
async fn the_checkpoint_moves_only_after_the_writes_succeeded() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-write");
    let standin = StandIn::start(Workspace::from_export(&fixture_dir(FOLDER))).await;
    // The conversations cannot be read or written (a missing table): the cycle fails whole.
    let broken = TableNames {
        conversations: "no-such-table".into(),
        ..names.clone()
    };
    let err = run(&client, &broken, &tenant, &standin.url, incremental())
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Store(_)), "{err:?}");
    assert_eq!(
        get_state(&client, &names, &tenant).await.unwrap(),
        SyncState::default()
    );
    let ok = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();
    assert!(ok.complete && ok.state.checkpoint_ms.is_some());
    assert_eq!(
        conversations(&client, &names, &tenant).await,
        imported(&client, &names, FOLDER).await
    );
}

/// A room DynamoDB would refuse (an over-long department id) is skipped and reported, and
/// the cycle goes on: one bad document never wedges the tenant's sync.
#[tokio::test]
async fn a_room_past_the_stored_limits_is_skipped_not_a_failed_cycle() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-limits");
    let mut w = Workspace::from_export(&fixture_dir(FOLDER));
    let id = w.rooms.iter().find(|r| r["t"] == "l").unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_string();
    w.room_mut(&id)["departmentId"] = json!("d".repeat(420_000));
    let standin = StandIn::start(w).await;
    let summary = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();
    assert!(summary.complete);
    assert_eq!((summary.rooms_added, summary.rooms_invalid), (59, 1));
    assert!(!conversations(&client, &names, &tenant)
        .await
        .contains_key(&id));
}

#[tokio::test]
async fn a_cycle_cut_by_its_budget_or_killed_resumes_and_loses_nothing() {
    let (client, names) = harness::ready().await;
    let expected = imported(&client, &names, FOLDER).await;

    // The budget: a deadline already past lets the cycle start no room; then one that is not.
    let tenant = harness::unique_tenant("sync-budget");
    let standin = StandIn::start(Workspace::from_export(&fixture_dir(FOLDER))).await;
    let cut = run(
        &client,
        &names,
        &tenant,
        &standin.url,
        SyncOptions {
            deadline: Some(tokio::time::Instant::now()),
            ..incremental()
        },
    )
    .await
    .unwrap();
    assert!(!cut.complete);
    assert_eq!(
        cut.state.checkpoint_ms, None,
        "no checkpoint before a pass finished"
    );

    // Killed mid-way: the future is dropped while rooms are being read.
    let killed = harness::unique_tenant("sync-killed");
    standin.with(|s| s.faults.delay_ms = 5);
    let result = tokio::time::timeout(
        Duration::from_millis(400),
        run(&client, &names, &killed, &standin.url, incremental()),
    )
    .await;
    assert!(result.is_err(), "the cycle was killed before it finished");
    assert_eq!(
        get_state(&client, &names, &killed).await.unwrap(),
        SyncState::default()
    );
    standin.with(|s| s.faults.delay_ms = 0);
    // The killed cycle's lease holds the tenant until it expires: as if that time had passed.
    expire_lease(&client, &names, &killed).await;
    for t in [&tenant, &killed] {
        let done = run(&client, &names, t, &standin.url, incremental())
            .await
            .unwrap();
        assert!(done.complete);
        assert_eq!(&conversations(&client, &names, t).await, &expected);
    }
}

#[tokio::test]
async fn a_pass_resumed_after_its_budget_skips_what_it_wrote() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-resume");
    let standin = StandIn::start(Workspace::from_export(&fixture_dir(FOLDER))).await;
    // Each room's messages take 100 ms: a 2 s budget covers some rooms but not 60.
    standin.with(|s| {
        s.faults.delay_ms = 100;
        s.faults.only_path = "/messages".into();
    });
    let cut = run(
        &client,
        &names,
        &tenant,
        &standin.url,
        SyncOptions {
            deadline: Some(tokio::time::Instant::now() + Duration::from_secs(2)),
            ..incremental()
        },
    )
    .await
    .unwrap();
    assert!(!cut.complete);
    let written = cut.rooms_added;
    assert!(
        written > 0 && written < 60,
        "{written} rooms written before the budget ran out"
    );
    assert!(cut.state.pending.is_some());
    standin.with(|s| s.faults.delay_ms = 0);
    let resumed = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();
    assert!(resumed.complete);
    assert_eq!(resumed.rooms_added, 60 - written);
    assert_eq!(
        conversations(&client, &names, &tenant).await,
        imported(&client, &names, FOLDER).await
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_waited_out() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-429");
    let standin = StandIn::start(Workspace::from_export(&fixture_dir(FOLDER))).await;
    standin.with(|s| {
        s.faults.rate_limited = 3;
        s.faults.rate_limit_reset_ms = 300;
        s.faults.unavailable = 1;
        s.faults.cut_mid_body = 2;
        s.faults.only_path = "livechat/rooms".into();
    });
    let started = std::time::Instant::now();
    let summary = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();
    assert!(summary.complete);
    assert_eq!(summary.rate_limited, 3);
    assert!(
        summary.rate_limited_wait_ms >= 3 * 250,
        "{}",
        summary.rate_limited_wait_ms
    );
    assert!(started.elapsed() >= Duration::from_millis(750));
    assert_eq!(summary.retries, 3, "a 503 and two broken bodies retried");
    assert_eq!(
        conversations(&client, &names, &tenant).await,
        imported(&client, &names, FOLDER).await
    );
}

#[tokio::test]
async fn persistent_failures_end_the_cycle_and_keep_the_checkpoint() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-5xx");
    let standin = StandIn::start(Workspace::from_export(&fixture_dir(FOLDER))).await;
    let first = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();

    standin.with(|s| s.faults.unavailable = 1000);
    let err = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SyncError::Source(SourceError::Rest(RestError::Unavailable {
                attempts: 4,
                ..
            }))
        ),
        "{err:?}"
    );
    standin.with(|s| {
        s.faults.unavailable = 0;
        s.faults.down = true;
    });
    let err = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SyncError::Source(SourceError::Rest(RestError::Unavailable { .. }))
        ),
        "{err:?}"
    );
    standin.with(|s| s.faults.down = false);

    // A rate limit longer than the sync may wait is an error, not a hang.
    standin.with(|s| {
        s.faults.rate_limited = 1;
        s.faults.rate_limit_reset_ms = 60_000;
    });
    let err = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SyncError::Source(SourceError::Rest(RestError::RateLimited { .. }))
        ),
        "{err:?}"
    );
    assert_eq!(
        get_state(&client, &names, &tenant).await.unwrap(),
        first.state
    );
}

#[tokio::test]
async fn a_wrong_token_is_a_clear_error_that_changes_nothing() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-401");
    let standin = StandIn::start(Workspace::from_export(&fixture_dir(FOLDER))).await;
    let rc = rest(&standin.url, "not-the-token");
    let err = sync_tenant(
        &client,
        &names,
        &harness::tid(&tenant),
        &rc,
        &incremental(),
        0,
    )
    .await
    .unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    let text = agent_overview::errors::error_chain(&err);
    assert!(
        text.contains("401") && text.contains("token is wrong or revoked"),
        "{text}"
    );
    assert!(!text.contains("not-the-token"));
    assert_eq!(standin.requests().len(), 1, "no retry of a 401");
    assert!(harness::tenant_items(&client, &names.directory, &tenant)
        .await
        .is_empty());
    assert!(conversations(&client, &names, &tenant).await.is_empty());

    // A missing permission is named too.
    standin.with(|s| {
        s.faults.forbidden.insert("users.list".into());
    });
    let err = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap_err();
    assert!(err.is_auth());
    assert!(agent_overview::errors::error_chain(&err).contains("403"));
}

#[tokio::test]
async fn pages_of_exactly_one_hundred() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-100");
    let standin = StandIn::start(generated(100, 100)).await;
    let summary = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();
    assert_eq!(summary.rooms_added, 100);
    let stored = conversations(&client, &names, &tenant).await;
    assert_eq!(stored["room0000"].agent_messages, 100);
    assert_eq!(stored["room0099"].agent_messages, 0);
    let log = standin.requests();
    let listings = log
        .iter()
        .filter(|r| r.starts_with("/api/v1/livechat/rooms?"))
        .count();
    assert_eq!(
        listings, 1,
        "total = 100 ends the listing without an empty page"
    );
    let first_room = log
        .iter()
        .filter(|r| r.starts_with("/api/v1/livechat/room0000/messages?"))
        .count();
    assert_eq!(first_room, 1);
}

#[tokio::test]
async fn a_workspace_larger_than_a_page_is_walked_page_by_page() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-250");
    let standin = StandIn::start(generated(250, 230)).await;
    let summary = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();
    assert_eq!(summary.rooms_added, 250);
    let stored = conversations(&client, &names, &tenant).await;
    assert_eq!(stored.len(), 250);
    assert_eq!(stored["room0000"].agent_messages, 230);
    let log = standin.requests();
    assert_eq!(
        log.iter()
            .filter(|r| r.starts_with("/api/v1/livechat/rooms?"))
            .count(),
        3
    );
    assert_eq!(
        log.iter()
            .filter(|r| r.starts_with("/api/v1/livechat/room0000/messages?"))
            .count(),
        3
    );
    // The next cycle re-reads only what changed within the overlap: nothing here.
    let again = run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();
    assert_eq!((again.rooms_added, again.rooms_changed), (0, 0));
    assert!(
        again.requests <= 12,
        "{} requests for an unchanged workspace",
        again.requests
    );
}

/// The admin binary with the tables' names, the token in `token` (if any), run off the
/// runtime so the stand-in keeps answering.
async fn admin(names: &TableNames, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = crate::support::admin::admin_command(names, args);
    command.env_remove("ROCKETCHAT_AUTH_TOKEN");
    if let Some(t) = token {
        command.env("ROCKETCHAT_AUTH_TOKEN", t);
    }
    tokio::task::spawn_blocking(move || command.output().expect("the admin binary runs"))
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sync_command_prints_a_summary_and_fails_clearly_on_a_wrong_token() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-cli");
    let standin = StandIn::start(Workspace::from_export(&fixture_dir(FOLDER))).await;
    let args = [
        "sync",
        "--tenant",
        &tenant,
        "--url",
        &standin.url,
        "--user-id",
        USER_ID,
    ];

    let out = admin(&names, Some("wrong-token-value"), &args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("401") && stderr.contains("token is wrong or revoked"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong-token-value")
            && !String::from_utf8_lossy(&out.stdout).contains("wrong-token-value")
    );
    assert_eq!(
        get_state(&client, &names, &tenant).await.unwrap(),
        SyncState::default()
    );

    let out = admin(&names, None, &args).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ROCKETCHAT_AUTH_TOKEN is not set"));

    let out = admin(&names, Some(TOKEN), &args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("rooms: 60 added, 0 changed, 0 removed"),
        "{stdout}"
    );
    assert!(stdout.contains("429s waited: 0"), "{stdout}");
    assert!(!stdout.contains(TOKEN));
    assert_eq!(
        conversations(&client, &names, &tenant).await,
        imported(&client, &names, FOLDER).await
    );

    let full = [&args[..], &["--full"]].concat();
    let out = admin(&names, Some(TOKEN), &full).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("(full): complete"));
}

#[tokio::test]
async fn connect_and_disconnect_keep_the_tenant_in_the_schedule() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-connect");
    let arn = format!(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:agent-overview/rocketchat/{tenant}-AbCdEf"
    );
    let arn = arn.as_str();
    let out = admin(
        &names,
        None,
        &[
            "connect",
            "--tenant",
            &tenant,
            "--url",
            "https://chat.example.com",
            "--user-id",
            "bot",
            "--secret-arn",
            arn,
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = agent_overview::dynamo::sync::get_connection(&client, &names, &tenant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.url.as_str(), c.user_id.as_str(), c.secret_arn.as_str()),
        ("https://chat.example.com", "bot", arn)
    );

    for (flag, bad) in [
        ("--url", "chat.example.com"),
        ("--secret-arn", "the-token-itself"),
    ] {
        let mut args = vec![
            "connect",
            "--tenant",
            &tenant,
            "--url",
            "https://x.example",
            "--user-id",
            "bot",
            "--secret-arn",
            arn,
        ];
        let i = args.iter().position(|a| *a == flag).unwrap();
        args[i + 1] = bad;
        let out = admin(&names, None, &args).await;
        assert!(!out.status.success(), "{flag} {bad}");
    }
    let still = agent_overview::dynamo::sync::get_connection(&client, &names, &tenant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still, c, "a refused connect changes nothing");

    let out = admin(&names, None, &["disconnect", "--tenant", &tenant]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("disconnected"));
    assert!(
        agent_overview::dynamo::sync::get_connection(&client, &names, &tenant)
            .await
            .unwrap()
            .is_none()
    );
    let out = admin(&names, None, &["disconnect", "--tenant", &tenant]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("was not connected"));
}

/// What the scheduled sync does (it leaves the rebuild to the stream function): a synced
/// change to a day whose rollups were built makes the rollup plan read that day raw until the
/// rollups are rebuilt — never the old figure, even when the stream never runs (as here: the
/// stream is down, or its records went to the failure queue).
#[tokio::test]
async fn a_synced_change_is_never_answered_from_the_rollups_it_made_stale() {
    use agent_overview::config::QueryPlan;
    use agent_overview::domain::figure::Figure;
    use agent_overview::domain::range::{ReportDate, ReportingZone, UtcRange};
    use agent_overview::store::{ConversationStore, RangeQuery};

    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("sync-stale");
    let standin = StandIn::start(generated(3, 0)).await;
    run(&client, &names, &tenant, &standin.url, incremental())
        .await
        .unwrap();
    // room0001 is transferred to jane.
    standin.with(|s| {
        let room = s.workspace.room_mut("room0001");
        room["servedBy"] = json!({"_id": "j", "username": "jane"});
        room["_updatedAt"] = now_iso(0);
    });
    let scheduled = SyncOptions {
        rebuild_rollups: false,
        ..incremental()
    };
    let summary = sync_tenant(
        &client,
        &names,
        &harness::tid(&tenant),
        &rest(&standin.url, TOKEN),
        &scheduled,
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .unwrap();
    assert_eq!(summary.rooms_changed, 1);

    let query = RangeQuery {
        tenant: tenant.clone(),
        figure: Figure::TotalConversations,
        range: UtcRange::from_days(
            ReportDate::parse("2024-06-01").unwrap(),
            ReportDate::parse("2024-06-30").unwrap(),
            &ReportingZone::Utc,
        ),
        department_id: None,
    };
    let rows = |plan| {
        let store = crate::support::rollups::store(&client, plan);
        let query = query.clone();
        async move {
            let (agg, _) = store.fold(&query).await.unwrap();
            agg.into_rows()
                .into_iter()
                .map(|r| (r.name, r.value))
                .collect::<Vec<_>>()
        }
    };
    let raw = rows(QueryPlan::Raw).await;
    assert_eq!(
        raw,
        [
            ("kim".to_string(), "66.67%".to_string()),
            ("jane".into(), "33.33%".into())
        ]
    );
    assert_eq!(rows(QueryPlan::Rollups).await, raw);
}
