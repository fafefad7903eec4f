//! The walk over a Rocket.Chat that changes while it is read (issue 19, findings 2, 3, 5, 9,
//! 11, 14, 18): rooms deleted and created between pages, ties in `_updatedAt`, a room stamped
//! in the future, a tenant far larger than one job, a rate limit at the deadline, invalid
//! rooms, pages without end, two syncs of one tenant at once, and the load of an idle cycle.

use std::time::Duration;

use agent_overview::dynamo::sync::get_state;
use agent_overview::rollups::rebuild::Rebuilder;
use agent_overview::sync::cycle::{sync_tenant, SyncOptions, SyncSummary};
use agent_overview::sync::lease::Lease;
use agent_overview::sync::messages::agent_messages;
use agent_overview::sync::source::SourceError;
use chrono::NaiveDate;
use serde_json::json;
use tokio::time::Instant;

use crate::support::export::fixture_dir;
use crate::support::harness;
use crate::support::rc_standin::{iso, StandIn, Workspace, TOKEN};
use crate::support::sync::{
    assert_matches_the_export, conversations, generated, rest, run, sync_ok,
};

const BASE: i64 = 1_717_200_000_000; // 2024-06-01T00:00Z

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn full() -> SyncOptions {
    SyncOptions {
        full: true,
        ..SyncOptions::default()
    }
}

/// One cycle as the scheduled function runs it: a deadline on the cycle and on the client.
async fn job(
    client: &aws_sdk_dynamodb::Client,
    names: &agent_overview::config::TableNames,
    tenant: &str,
    url: &str,
    budget: Duration,
    full: bool,
) -> SyncSummary {
    let deadline = Instant::now() + budget;
    let rc = rest(url, TOKEN).with_deadline(Some(deadline));
    sync_tenant(
        client,
        names,
        &harness::tid(tenant),
        &rc,
        &SyncOptions {
            full,
            deadline: Some(deadline),
            ..SyncOptions::default()
        },
        now_ms(),
    )
    .await
    .expect("a job cut short is not a failure")
}

// R6 inverted: a room deleted between two pages of the newest-first pass.
#[tokio::test]
async fn a_deletion_between_pages_skips_no_changed_room() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-del");
    let standin = StandIn::start(generated(250, 0)).await;
    sync_ok(&client, &names, &tenant, &standin.url).await;
    let now = now_ms();
    standin.with(|s| {
        for i in 0..150 {
            let r = s.workspace.room_mut(&format!("room{i:04}"));
            r["_updatedAt"] = json!(iso(now - i as i64 * 60_000));
            r["metrics"]["chatDuration"] = json!(5000 + i);
        }
        // After the first page: a room of that page is deleted in Rocket.Chat.
        let mut pages = 0;
        s.after_rooms_page = Some(Box::new(move |w: &mut Workspace, _, _| {
            pages += 1;
            if pages == 1 {
                w.rooms.retain(|r| r["_id"] != "room0005");
            }
        }));
    });
    let summary = sync_ok(&client, &names, &tenant, &standin.url).await;
    let stored = conversations(&client, &names, &tenant).await;
    assert_eq!(
        stored["room0100"].chat_duration,
        Some(5100.0),
        "the room at the page boundary is read"
    );
    for i in (0..150).filter(|i| *i != 5) {
        assert_eq!(
            stored[&format!("room{i:04}")].chat_duration,
            Some(5000.0 + i as f64),
            "room{i:04}"
        );
    }
    assert!(summary.complete);
    assert_eq!(summary.rooms_changed, 149);
    // The deleted room's messages answered invalid-room: removed, not a failed cycle.
    assert!(!stored.contains_key("room0005"));
    assert_eq!(summary.rooms_removed, 1);
}

// R7 inverted: a room deleted during the full listing: no live room is removed, and the
// deleted one goes with the next listing.
#[tokio::test]
async fn a_deletion_during_the_full_listing_removes_no_live_room() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-full-del");
    let standin = StandIn::start(generated(250, 0)).await;
    sync_ok(&client, &names, &tenant, &standin.url).await;
    standin.with(|s| {
        for i in 0..10 {
            s.workspace.rooms.push(json!({
                "_id": format!("aaa{i:04}"), "t": "l", "ts": iso(BASE), "_updatedAt": iso(BASE),
                "servedBy": {"_id": "a", "username": "kim"}, "metrics": {"chatDuration": 1}}));
        }
        s.after_rooms_page = Some(Box::new(|w: &mut Workspace, _, query: &str| {
            if query.contains("offset=0") && query.contains("%22ts%22") {
                w.rooms.retain(|r| r["_id"] != "room0050");
            }
        }));
    });
    let first = run(&client, &names, &tenant, &standin.url, full())
        .await
        .unwrap();
    assert!(first.complete);
    let stored = conversations(&client, &names, &tenant).await;
    assert!(stored.contains_key("room0090"), "a live room is kept");
    assert_eq!(stored.len(), 260, "ten new rooms added, none removed yet");
    standin.with(|s| s.after_rooms_page = None);
    let second = run(&client, &names, &tenant, &standin.url, full())
        .await
        .unwrap();
    assert_eq!(second.rooms_removed, 1);
    let stored = conversations(&client, &names, &tenant).await;
    assert!(!stored.contains_key("room0050"));
    assert_eq!(stored.len(), 259);
}

// Ties: many rooms stamped with one `_updatedAt` across a page boundary, which the stand-in
// (as MongoDB) returns in a different order on every request.
#[tokio::test]
async fn rooms_stamped_alike_across_pages_are_all_read() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-ties");
    let standin = StandIn::start(generated(250, 0)).await;
    sync_ok(&client, &names, &tenant, &standin.url).await;
    let stamp = iso(now_ms());
    standin.with(|s| {
        for r in &mut s.workspace.rooms {
            r["_updatedAt"] = json!(stamp);
            r["metrics"]["chatDuration"] = json!(7777);
        }
    });
    let summary = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert_eq!(summary.rooms_changed, 250);
    let stored = conversations(&client, &names, &tenant).await;
    assert!(stored.values().all(|c| c.chat_duration == Some(7777.0)));
}

// R14 inverted: a room stamped in the future does not freeze the incremental sync.
#[tokio::test]
async fn a_room_stamped_in_the_future_hides_no_later_change() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-future");
    let mut w = generated(5, 0);
    w.rooms[0]["_updatedAt"] = json!("2099-01-01T00:00:00.000Z");
    let standin = StandIn::start(w).await;
    let first = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert!(
        first.state.checkpoint_ms <= Some(now_ms()),
        "capped at the cycle's start"
    );
    standin.with(|s| {
        let r = s.workspace.room_mut("room0003");
        r["servedBy"] = json!({"_id": "j", "username": "jane"});
        r["_updatedAt"] = json!(iso(now_ms()));
    });
    let second = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert!(second.complete);
    assert_eq!(second.rooms_changed, 1);
    let stored = conversations(&client, &names, &tenant).await;
    assert_eq!(stored["room0003"].agent.as_deref(), Some("jane"));
}

// R5 inverted: a tenant far larger than one job's budget: each job stops near its deadline
// and is not complete; successive jobs finish the full listing.
#[tokio::test]
async fn a_tenant_larger_than_a_job_advances_a_little_every_job() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-large");
    let standin = StandIn::start(generated(1000, 0)).await;
    sync_ok(&client, &names, &tenant, &standin.url).await;
    // One room Rocket.Chat no longer has, which the full listing must remove.
    standin.with(|s| {
        s.workspace.rooms.retain(|r| r["_id"] != "room0500");
        s.faults.delay_ms = 300;
        s.faults.only_path = "livechat/rooms".into();
        s.log.clear();
    });
    let first = job(
        &client,
        &names,
        &tenant,
        &standin.url,
        Duration::from_millis(500),
        true,
    )
    .await;
    assert!(!first.complete);
    let listings = standin
        .requests()
        .iter()
        .filter(|r| r.starts_with("/api/v1/livechat/rooms?"))
        .count();
    assert!(
        listings <= 3,
        "{listings} listing requests: none starts past the deadline"
    );
    let mut jobs = 1;
    let mut last_offset = 0;
    loop {
        let state = get_state(&client, &names, &tenant).await.unwrap();
        if let Some(l) = &state.listing {
            assert!(
                l.cursor.offset >= last_offset,
                "the listing never goes back"
            );
            last_offset = l.cursor.offset;
        }
        let s = job(
            &client,
            &names,
            &tenant,
            &standin.url,
            Duration::from_millis(3000),
            true,
        )
        .await;
        jobs += 1;
        if s.complete {
            break;
        }
        assert!(jobs < 40, "the listing does not finish");
    }
    let stored = conversations(&client, &names, &tenant).await;
    assert_eq!(stored.len(), 999, "room0500 removed after {jobs} jobs");
    let state = get_state(&client, &names, &tenant).await.unwrap();
    assert!(state.listing.is_none() && state.last_full_ms.is_some());
}

// R4 inverted: a 429 whose wait would cross the deadline cuts the job short and keeps its
// progress; the next job carries on.
#[tokio::test]
async fn a_rate_limit_at_the_deadline_cuts_the_job_short_and_keeps_its_progress() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-429");
    let standin = StandIn::start(generated(200, 0)).await;
    // After 12 message reads, every message read is rate-limited for 1.5 s: the first wait
    // may fit before the deadline, the next cannot. (A limit after so many reads, not after so
    // much time, so a loaded machine keeps as many rooms as a quiet one.)
    standin.with(|s| {
        s.faults.delay_ms = 25;
        s.faults.only_path = "/messages".into();
        s.faults.rate_limit_after = 12;
        s.faults.rate_limited = 100_000;
        s.faults.rate_limit_reset_ms = 1500;
    });
    let cut = job(
        &client,
        &names,
        &tenant,
        &standin.url,
        Duration::from_millis(2500),
        false,
    )
    .await;
    assert!(!cut.complete);
    let stored = conversations(&client, &names, &tenant).await.len();
    assert!(stored > 5, "{stored} rooms kept");
    let state = get_state(&client, &names, &tenant).await.unwrap();
    assert!(state.pending.is_some(), "where the pass stopped is saved");
    standin.with(|s| {
        s.faults.rate_limited = 0;
        s.faults.delay_ms = 0;
        s.log.clear();
    });
    let done = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert!(done.complete);
    assert_eq!(done.rooms_added as usize, 200 - stored);
    let reads = standin
        .requests()
        .iter()
        .filter(|r| r.contains("/messages?"))
        .count();
    assert_eq!(reads, 200 - stored, "no room's messages read again");
}

// R2 and R12 inverted: a room no figure can add up, or with an over-long department id, is
// skipped and reported; the other rooms are stored and the day builds.
#[tokio::test]
async fn invalid_rooms_are_skipped_and_reported_never_stored() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-invalid");
    let mut w = generated(4, 0);
    w.rooms[0]["metrics"]["chatDuration"] = json!(1e13);
    w.rooms[1]["departmentId"] = json!("d".repeat(1000));
    w.rooms[2]["_id"] = json!("r".repeat(600));
    let standin = StandIn::start(w).await;
    let summary = sync_tenant(
        &client,
        &names,
        &harness::tid(&tenant),
        &rest(&standin.url, TOKEN),
        &SyncOptions::default(),
        now_ms(),
    )
    .await
    .expect("one bad room does not fail the cycle");
    assert!(summary.complete);
    assert_eq!((summary.rooms_added, summary.rooms_invalid), (1, 3));
    let stored = conversations(&client, &names, &tenant).await;
    assert_eq!(stored.keys().collect::<Vec<_>>(), ["room0003"]);
    Rebuilder::with_clock(
        &client,
        &names,
        agent_overview::domain::clock::system_clock(),
    )
    .rebuild_day(&tenant, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap())
    .await
    .expect("the day builds");
}

// R12 inverted: a day holds at most MAX_DEPARTMENTS_PER_DAY departments; a room that would
// add one more is skipped, and the day still builds.
#[tokio::test]
async fn a_day_takes_no_more_departments_than_it_can_hold() {
    use agent_overview::rocketchat::limits::MAX_DEPARTMENTS_PER_DAY;
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-depts");
    let rooms = MAX_DEPARTMENTS_PER_DAY + 2;
    let mut w = generated(rooms, 0);
    for (i, r) in w.rooms.iter_mut().enumerate() {
        r["ts"] = json!(iso(BASE + i as i64 * 1000));
        r["departmentId"] = json!(format!("dept{i:04}"));
    }
    let standin = StandIn::start(w).await;
    let summary = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert_eq!(summary.rooms_invalid, 2);
    assert_eq!(summary.rooms_added as usize, MAX_DEPARTMENTS_PER_DAY);
    let day = Rebuilder::with_clock(
        &client,
        &names,
        agent_overview::domain::clock::system_clock(),
    )
    .rebuild_day(&tenant, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap())
    .await
    .expect("the day builds");
    assert!(day.clean);
}

// R11 inverted: a room whose messages come in full pages forever is stopped.
#[tokio::test]
async fn message_pages_without_end_are_stopped() {
    let standin = StandIn::start(generated(1, 0)).await;
    standin.with(|s| s.faults.endless_messages = true);
    let rc = rest(&standin.url, TOKEN);
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        agent_messages(&rc, "room0000", None),
    )
    .await
    .expect("the walk ends by itself");
    assert!(
        matches!(outcome, Err(SourceError::Endless { .. })),
        "{outcome:?}"
    );
    assert!(standin.requests().len() <= 1_001);
}

// Finding 18: a manual sync and a scheduled job of one tenant cannot interleave.
#[tokio::test]
async fn a_second_sync_of_the_same_tenant_refuses_while_one_runs() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-lease");
    let standin = StandIn::start(generated(3, 0)).await;
    let now = now_ms();
    let held = Lease::take(&client, &names, &tenant, now, now + 60_000)
        .await
        .unwrap();
    let err = run(
        &client,
        &names,
        &tenant,
        &standin.url,
        SyncOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.is_busy(), "{err:?}");
    let text = agent_overview::errors::error_chain(&err);
    assert!(text.contains("another sync of tenant"), "{text}");
    assert!(
        standin.requests().is_empty(),
        "the refused sync asked nothing"
    );
    held.release(&client, &names).await.unwrap();
    let ok = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert_eq!(ok.rooms_added, 3);
    // An expired lease (a holder that died) does not block.
    let now = now_ms();
    Lease::take(&client, &names, &tenant, now - 120_000, now - 60_000)
        .await
        .unwrap();
    sync_ok(&client, &names, &tenant, &standin.url).await;
}

// Finding 11: an idle cycle reads no message and one page of rooms; a busy one reads each
// changed room's messages once.
#[tokio::test]
async fn an_idle_cycle_costs_a_few_requests_and_no_message_read() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-idle");
    let mut w = generated(50, 0);
    for i in 47..50 {
        w.rooms[i]["_updatedAt"] = json!(iso(BASE + 49 * 60_000));
    }
    let standin = StandIn::start(w).await;
    sync_ok(&client, &names, &tenant, &standin.url).await;
    for cycle in 2..=3 {
        standin.with(|s| s.log.clear());
        let s = sync_ok(&client, &names, &tenant, &standin.url).await;
        let log = standin.requests();
        let messages = log
            .iter()
            .filter(|r| r.contains("/messages?") || r.contains("chat.syncMessages"))
            .count();
        let rooms = log
            .iter()
            .filter(|r| r.starts_with("/api/v1/livechat/rooms?"))
            .count();
        eprintln!(
            "idle cycle {cycle}: {} requests ({rooms} rooms pages, {messages} message reads)",
            log.len()
        );
        assert_eq!(messages, 0);
        assert_eq!(rooms, 1);
        assert!(log.len() <= 6, "{log:?}");
        assert_eq!(s.rooms_changed + s.rooms_added, 0);
    }
    // Busy: 20 rooms changed since.
    standin.with(|s| {
        let now = now_ms();
        for i in 0..20 {
            let r = s.workspace.room_mut(&format!("room{i:04}"));
            r["_updatedAt"] = json!(iso(now - i as i64));
            r["metrics"]["chatDuration"] = json!(99);
        }
        s.log.clear();
    });
    let s = sync_ok(&client, &names, &tenant, &standin.url).await;
    let log = standin.requests();
    let reads = log.iter().filter(|r| r.contains("/messages?")).count();
    eprintln!(
        "busy cycle (20 rooms changed): {} requests, {reads} message listings",
        log.len()
    );
    assert_eq!(s.rooms_changed, 20);
    assert_eq!(reads, 20, "each changed room's messages once");
}

/// The shared fixtures stay exact through sync while Rocket.Chat deletes and creates rooms
/// during the walks and every room carries the same `_updatedAt`.
async fn fixture_through_a_changing_workspace(folder: &str) {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-fixture");
    let mut w = Workspace::from_export(&fixture_dir(folder));
    let template = w.rooms.iter().find(|r| r["t"] == "l").unwrap().clone();
    for i in 0..50 {
        let mut junk = template.clone();
        junk["_id"] = json!(format!("junk{i:03}"));
        w.rooms.push(junk);
    }
    let stamp = json!("2024-05-01T00:00:00.000Z");
    for r in &mut w.rooms {
        r["_updatedAt"] = stamp.clone();
    }
    let standin = StandIn::start(w).await;
    standin.with(|s| {
        let mut created = 0;
        s.after_rooms_page = Some(Box::new(move |w: &mut Workspace, _, _| {
            // A few rooms deleted, one created, between every two pages.
            let mut deleted = 0;
            w.rooms.retain(|r| {
                let junk = r["_id"].as_str().unwrap_or("").starts_with("junk");
                if junk && deleted < 4 {
                    deleted += 1;
                    return false;
                }
                true
            });
            let mut extra = template.clone();
            extra["_id"] = json!(format!("junk-new{created:03}"));
            extra["_updatedAt"] = json!("2024-05-01T00:00:00.000Z");
            w.rooms.push(extra);
            created += 1;
        }));
    });
    let first = sync_ok(&client, &names, &tenant, &standin.url).await;
    assert!(first.complete);
    let second = run(&client, &names, &tenant, &standin.url, full())
        .await
        .unwrap();
    assert!(second.complete);
    // Rocket.Chat drops the remaining junk; the next full listing removes it.
    standin.with(|s| {
        s.after_rooms_page = None;
        s.workspace
            .rooms
            .retain(|r| !r["_id"].as_str().unwrap_or("").starts_with("junk"));
    });
    let third = run(&client, &names, &tenant, &standin.url, full())
        .await
        .unwrap();
    assert!(third.complete);
    assert_eq!(third.removals_refused, 0);
    assert_matches_the_export(&client, &names, &tenant, folder).await;
}

#[tokio::test]
async fn custom_zone_relaxed_stays_exact_through_a_changing_workspace() {
    fixture_through_a_changing_workspace("custom-zone-relaxed").await;
}

#[tokio::test]
async fn user_zone_canonical_stays_exact_through_a_changing_workspace() {
    fixture_through_a_changing_workspace("user-zone-canonical").await;
}

// A listing that would remove most stored rooms at once (an account that lost sight of them)
// removes none.
#[tokio::test]
async fn a_listing_that_would_remove_most_rooms_removes_none() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("walk-mass");
    let standin = StandIn::start(generated(60, 0)).await;
    sync_ok(&client, &names, &tenant, &standin.url).await;
    standin.with(|s| s.workspace.rooms.truncate(5));
    let s = run(&client, &names, &tenant, &standin.url, full())
        .await
        .unwrap();
    assert_eq!((s.rooms_removed, s.removals_refused), (0, 55));
    assert_eq!(conversations(&client, &names, &tenant).await.len(), 60);
}
