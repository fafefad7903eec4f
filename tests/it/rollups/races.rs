//! Issue 20: the rollups under concurrency (review 2026-12, findings 6, 7 and 8). Each test
//! first reproduced the defect (R9, R10, R13 of the review), then was inverted.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use agent_overview::config::{QueryPlan, TableNames};
use agent_overview::domain::clock::{system_clock, Clock};
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::range::UtcRange;
use agent_overview::dynamo::items::{attr, conversation_pk};
use agent_overview::reconcile::verify::Verifier;
use agent_overview::rollups::rebuild::Rebuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;

use crate::support::harness;
use crate::support::rollups::{day_rows, fake_clock};
use crate::support::sync::generated;

fn conversation(id: &str, ts: i64, dept: &str, agent: &str, duration: f64) -> Conversation {
    let mut c = Conversation::new(id, ts);
    c.department_id = Some(dept.into());
    c.agent = Some(agent.into());
    c.chat_duration = Some(duration);
    c
}

fn verifier(client: &Client, names: &TableNames, clock: Clock) -> Verifier {
    let rebuilder = Rebuilder::new(client.clone(), names.rollup_tables(), clock.clone());
    Verifier::new(client.clone(), names.rollup_tables(), rebuilder, clock)
}

/// R9 inverted (finding 7). A rebuild writes department D3's items and loses its last step to
/// concurrent marks; the room then moves to D4 and a rebuild makes the day clean. Before the
/// fix D3 answered `kim 100.00%` from rollups while raw answered nothing, and verify saw no
/// drift: the rebuild did not know D3, and the read path took its tallies for a tombstone.
#[tokio::test]
async fn a_departments_items_left_by_a_rebuild_that_lost_its_last_step_are_never_answered() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("race-dept");
    let day = NaiveDate::from_ymd_opt(2024, 6, 10).unwrap();
    let ts = UtcRange::utc_day(day).start_ms + 36_000_000;
    let rebuilder = Rebuilder::with_clock(
        &client,
        &names,
        agent_overview::domain::clock::system_clock(),
    );
    let mut c1 = conversation("c1", ts, "D3", "kim", 100.0);
    harness::index_now(&client, &tenant, &c1).await;
    let pk = BTreeSet::from([conversation_pk(&tenant, "c1")]);
    rebuilder.mark(&tenant, day, &pk).await.unwrap();

    // Rebuild A, while other writes of the day are marked (another shard, a writer's mark).
    let stop = Arc::new(AtomicBool::new(false));
    let marker = {
        let (stop, rebuilder, tenant) = (stop.clone(), rebuilder.clone(), tenant.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                rebuilder
                    .mark(&tenant, day, &BTreeSet::new())
                    .await
                    .unwrap();
            }
        })
    };
    let mut attempts = 0;
    while rebuilder.rebuild_day(&tenant, day).await.unwrap().clean {
        attempts += 1;
        assert!(attempts < 50, "no rebuild lost its last step");
    }
    stop.store(true, Ordering::Relaxed);
    marker.await.unwrap();

    // The room is transferred to D4; its record is marked and rebuilt.
    c1.department_id = Some("D4".into());
    harness::index_now(&client, &tenant, &c1).await;
    rebuilder.mark(&tenant, day, &pk).await.unwrap();
    assert!(rebuilder.rebuild_day(&tenant, day).await.unwrap().clean);

    for dept in [Some("D3"), Some("D4"), None] {
        let (raw, _) = day_rows(
            &client,
            QueryPlan::Raw,
            &tenant,
            day,
            Figure::TotalConversations,
            dept,
        )
        .await;
        let (rollups, from_rollups) = day_rows(
            &client,
            QueryPlan::Rollups,
            &tenant,
            day,
            Figure::TotalConversations,
            dept,
        )
        .await;
        assert_eq!(rollups, raw, "{dept:?}");
        // The clean rebuild knew D3 (every department ever written is recorded before its
        // items are put) and tombstoned it: the day is answered from its rollups.
        assert_eq!(from_rollups, 1, "{dept:?} answered from rollups");
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let report = verifier(&client, &names, system_clock())
        .verify_day(&tenant, day, false)
        .await
        .unwrap();
    assert!(report.drifted.is_empty(), "{:?}", report.drifted);
}

/// Finding 7, the order the state cannot prevent: a rebuild records D9 and puts D9's tallies
/// after a later rebuild read the state and made the day clean without D9. The read path must
/// not fold them (before the fix: `kim 100.00%` against raw nothing), verify must see them, and
/// its repair must tombstone them.
#[tokio::test]
async fn a_stale_department_item_on_a_clean_day_is_read_raw_and_repaired() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("stale-dept");
    let day = NaiveDate::from_ymd_opt(2024, 6, 11).unwrap();
    let ts = UtcRange::utc_day(day).start_ms + 1_000;
    let rebuilder = Rebuilder::with_clock(
        &client,
        &names,
        agent_overview::domain::clock::system_clock(),
    );
    let c1 = conversation("c1", ts, "D4", "kim", 100.0);
    harness::index_now(&client, &tenant, &c1).await;
    rebuilder
        .mark(
            &tenant,
            day,
            &BTreeSet::from([conversation_pk(&tenant, "c1")]),
        )
        .await
        .unwrap();
    let built = rebuilder.rebuild_day(&tenant, day).await.unwrap();
    assert!(built.clean);
    // The late rebuild's two writes: D9 recorded as written, then its items (an older version).
    client
        .update_item()
        .table_name(&names.rollups)
        .key(attr::PK, harness::s(&format!("{tenant}#ALL")))
        .key(attr::SK, harness::s(&format!("DAY#{day}")))
        .update_expression("ADD #w :d")
        .expression_attribute_names("#w", "departmentsWritten")
        .expression_attribute_values(":d", AttributeValue::Ss(vec!["D9".into()]))
        .send()
        .await
        .unwrap();
    let mut stale = conversation("c1", ts, "D9", "kim", 100.0);
    stale.department_id = Some("D9".into());
    let mut rollup = agent_overview::domain::rollup::DayRollup::new();
    rollup.add(&stale).unwrap();
    let scope = agent_overview::domain::rollup::Scope::Department("D9".into());
    for figure in Figure::ALL {
        let item = agent_overview::dynamo::items::rollup_item(
            &tenant,
            &scope,
            day,
            rollup.scope(&scope).unwrap().figure(figure),
            built.version.saturating_sub(1),
        );
        client
            .put_item()
            .table_name(&names.rollups)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }

    let (raw, _) = day_rows(
        &client,
        QueryPlan::Raw,
        &tenant,
        day,
        Figure::TotalConversations,
        Some("D9"),
    )
    .await;
    let (rollups, _) = day_rows(
        &client,
        QueryPlan::Rollups,
        &tenant,
        day,
        Figure::TotalConversations,
        Some("D9"),
    )
    .await;
    assert!(raw.is_empty());
    assert_eq!(rollups, raw, "a stale item is never folded as a tombstone");

    let verifier = verifier(&client, &names, system_clock());
    let report = verifier.verify_day(&tenant, day, true).await.unwrap();
    assert_eq!(report.drifted.len(), 1, "verify sees the stale item");
    assert!(report.drifted[0].repaired, "{:?}", report.drifted);
    let (after, from_rollups) = day_rows(
        &client,
        QueryPlan::Rollups,
        &tenant,
        day,
        Figure::TotalConversations,
        Some("D9"),
    )
    .await;
    assert_eq!(
        (after, from_rollups),
        (Vec::new(), 1),
        "tombstoned, answered from rollups"
    );
    assert!(verifier
        .verify_day(&tenant, day, false)
        .await
        .unwrap()
        .drifted
        .is_empty());
}

/// R10 inverted (finding 8). The sync writes 30 rooms of a day in two batches; the stream
/// rebuilds the day from the first batch (room0029..room0005) while the second is still being
/// read. Before the fix the sync marked the day once, before its first write, the stream's
/// rebuild used that mark up, and after the cycle the rollup plan answered `00:00:27` against
/// raw `00:00:25` (missing rooms 0-4) until the stream saw them.
#[tokio::test]
async fn the_stream_rebuilding_a_cycles_first_batch_never_hides_its_later_writes() {
    use crate::support::rc_standin::{StandIn, TOKEN};
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("race-window");
    let standin = StandIn::start(generated(30, 0)).await;
    standin.with(|s| {
        s.faults.delay_ms = 1500;
        s.faults.only_path = "livechat/room0004/messages".into();
    });
    let day = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let stream = {
        let (client, names, tenant) = (client.clone(), names.clone(), tenant.clone());
        tokio::spawn(async move {
            let probe = conversation_pk(&tenant, "room0005");
            while harness::get(&client, &names.conversations, &[("pk", &probe)])
                .await
                .is_none()
            {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let pks: BTreeSet<String> = (5..30)
                .map(|i| conversation_pk(&tenant, &format!("room{i:04}")))
                .collect();
            let r = Rebuilder::with_clock(
                &client,
                &names,
                agent_overview::domain::clock::system_clock(),
            );
            r.mark(&tenant, day, &pks).await.unwrap();
            r.rebuild_day(&tenant, day).await.unwrap();
            // What a reader sees right after that rebuild, while the cycle still runs.
            let raw = day_rows(
                &client,
                QueryPlan::Raw,
                &tenant,
                day,
                Figure::AvgChatDuration,
                None,
            )
            .await
            .0;
            let rollups = day_rows(
                &client,
                QueryPlan::Rollups,
                &tenant,
                day,
                Figure::AvgChatDuration,
                None,
            )
            .await
            .0;
            (raw, rollups)
        })
    };
    agent_overview::sync::cycle::sync_tenant(
        &client,
        &names,
        &harness::tid(&tenant),
        &crate::support::sync::rest(&standin.url, TOKEN),
        &agent_overview::sync::cycle::SyncOptions::default(),
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .unwrap();
    let (raw_during, rollups_during) = stream.await.unwrap();
    assert_eq!(rollups_during, raw_during, "during the cycle");
    let (raw, _) = day_rows(
        &client,
        QueryPlan::Raw,
        &tenant,
        day,
        Figure::AvgChatDuration,
        None,
    )
    .await;
    let (rollups, _) = day_rows(
        &client,
        QueryPlan::Rollups,
        &tenant,
        day,
        Figure::AvgChatDuration,
        None,
    )
    .await;
    assert_eq!(raw, vec![("kim".to_string(), "00:00:25".to_string())]);
    assert_eq!(
        rollups, raw,
        "after the cycle, before the stream sees rooms 0-4"
    );
}

/// A writer's lease keeps its day dirty through any rebuild until it is released, and the
/// release lists what was written: the order R10 needs, made deterministic. Before the fix a
/// keyless mark before the write was all a writer had, and this rebuild made the day clean
/// without the write (`kim` alone against raw `kim, ann`).
#[tokio::test]
async fn no_rebuild_makes_a_day_clean_while_a_batch_is_in_flight() {
    use agent_overview::rollups::state::{get_state, mark_with_lease, new_lease, LeaseChange};
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("lease");
    let day = NaiveDate::from_ymd_opt(2024, 6, 2).unwrap();
    let start = UtcRange::utc_day(day).start_ms;
    let rebuilder = Rebuilder::with_clock(
        &client,
        &names,
        agent_overview::domain::clock::system_clock(),
    );
    let first = conversation("a", start + 10, "D1", "kim", 10.0);
    harness::index_now(&client, &tenant, &first).await;
    rebuilder
        .mark(
            &tenant,
            day,
            &BTreeSet::from([conversation_pk(&tenant, "a")]),
        )
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    // The writer's next batch: its day leased before the write.
    let lease = new_lease(now);
    let none = BTreeSet::new();
    mark_with_lease(
        &client,
        &names.rollups,
        &tenant,
        day,
        &none,
        Some(LeaseChange::Take(&lease)),
        now,
    )
    .await
    .unwrap();
    // The stream's rebuild of the first write runs before the batch lands.
    assert!(
        !rebuilder.rebuild_day(&tenant, day).await.unwrap().clean,
        "a live lease"
    );
    let second = conversation("b", start + 20, "D2", "ann", 30.0);
    harness::put_unindexed(&client, &tenant, &second).await;
    for dept in [None, Some("D2")] {
        let (raw, _) = day_rows(
            &client,
            QueryPlan::Raw,
            &tenant,
            day,
            Figure::TotalConversations,
            dept,
        )
        .await;
        let (rollups, _) = day_rows(
            &client,
            QueryPlan::Rollups,
            &tenant,
            day,
            Figure::TotalConversations,
            dept,
        )
        .await;
        assert_eq!(rollups, raw, "{dept:?} while the batch is in flight");
    }
    let written = BTreeSet::from([conversation_pk(&tenant, "b")]);
    mark_with_lease(
        &client,
        &names.rollups,
        &tenant,
        day,
        &written,
        Some(LeaseChange::Release(&lease)),
        now,
    )
    .await
    .unwrap();
    let state = get_state(&client, &names.rollups, &tenant, day)
        .await
        .unwrap()
        .unwrap();
    assert!(
        state.writers.is_empty()
            && state
                .pending
                .contains(&written.iter().next().unwrap().clone())
    );
    // The index still lags; the rebuild after the release reads the write from the table.
    assert!(rebuilder.rebuild_day(&tenant, day).await.unwrap().clean);
    let (rollups, from_rollups) = day_rows(
        &client,
        QueryPlan::Rollups,
        &tenant,
        day,
        Figure::TotalConversations,
        None,
    )
    .await;
    assert_eq!(from_rollups, 1);
    assert_eq!(
        rollups,
        vec![
            ("kim".to_string(), "50.00%".to_string()),
            ("ann".into(), "50.00%".into())
        ]
    );
}

/// A lease its writer never released (a crash) keeps the day dirty only until it expires; the
/// rebuild after that makes the day clean and drops it.
#[tokio::test]
async fn an_expired_lease_is_dropped_by_the_next_rebuild() {
    use agent_overview::domain::day_state::LEASE_MS;
    use agent_overview::rollups::state::{get_state, mark_with_lease, new_lease, LeaseChange};
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("lease-expired");
    let day = NaiveDate::from_ymd_opt(2024, 6, 3).unwrap();
    let (now, clock) = fake_clock(UtcRange::utc_day(day).start_ms + 86_400_000);
    let rebuilder = Rebuilder::new(client.clone(), names.rollup_tables(), clock);
    let lease = new_lease(now.load(Ordering::SeqCst));
    let at = now.load(Ordering::SeqCst);
    mark_with_lease(
        &client,
        &names.rollups,
        &tenant,
        day,
        &BTreeSet::new(),
        Some(LeaseChange::Take(&lease)),
        at,
    )
    .await
    .unwrap();
    now.fetch_add(LEASE_MS - 1, Ordering::SeqCst);
    assert!(!rebuilder.rebuild_day(&tenant, day).await.unwrap().clean);
    now.fetch_add(1, Ordering::SeqCst);
    assert!(rebuilder.rebuild_day(&tenant, day).await.unwrap().clean);
    let state = get_state(&client, &names.rollups, &tenant, day)
        .await
        .unwrap()
        .unwrap();
    assert!(state.writers.is_empty(), "{state:?}");
}

/// R13 inverted (finding 6). An import of a busy day leaves it overflowed (more than 1,000
/// pending keys) and dirty. Before the fix every reconciliation run marked it first (restarting
/// the 60 s settle clock), reported `drift 1 repaired 1`, and the day never became clean.
#[tokio::test]
async fn the_reconciliation_settles_an_overflowed_day_without_reporting_drift() {
    use agent_overview::reconcile::scheduled::reconcile_days;
    use agent_overview::rollups::state::{get_state, PENDING_CAP};
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("race-overflow");
    let day = NaiveDate::from_ymd_opt(2024, 6, 20).unwrap();
    let start = UtcRange::utc_day(day).start_ms;
    let (now, clock) = fake_clock(start + 2 * 86_400_000);
    let rebuilder = Rebuilder::new(client.clone(), names.rollup_tables(), clock.clone());
    let rooms: Vec<Conversation> = (0..=PENDING_CAP)
        .map(|i| conversation(&format!("r{i}"), start + i as i64 * 1000, "D1", "kim", 10.0))
        .collect();
    crate::support::seed::put_conversations(&client, &tenant, &rooms).await;
    let pks: BTreeSet<String> = rooms
        .iter()
        .map(|c| conversation_pk(&tenant, &c.room_id))
        .collect();
    // As the import ends: the day marked with its keys, then rebuilt at once.
    rebuilder.mark(&tenant, day, &pks).await.unwrap();
    assert!(!rebuilder.rebuild_day(&tenant, day).await.unwrap().clean);
    let verifier = verifier(&client, &names, clock.clone());
    let marked_at = get_state(&client, &names.rollups, &tenant, day)
        .await
        .unwrap()
        .unwrap()
        .last_change_at;

    // A run before the day settles leaves it alone: no mark, no drift.
    now.fetch_add(30_000, Ordering::SeqCst);
    let early = reconcile_days(&verifier, &[(tenant.clone(), day)]).await;
    let state = get_state(&client, &names.rollups, &tenant, day)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((early.drift_days, early.failed_days), (0, 0), "{early:?}");
    assert_eq!(state.last_change_at, marked_at, "not marked");
    assert!(state.overflow && !state.is_clean());

    for run in 1..=3 {
        now.fetch_add(300_000, Ordering::SeqCst); // the next scheduled run
        let r = reconcile_days(&verifier, &[(tenant.clone(), day)]).await;
        let state = get_state(&client, &names.rollups, &tenant, day)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.drift_days, r.repaired_days, r.failed_days),
            (0, 0, 0),
            "run {run}: {r:?}"
        );
        assert!(state.is_clean() && !state.overflow, "run {run}: {state:?}");
    }
    let (rows, from_rollups) = day_rows(
        &client,
        QueryPlan::Rollups,
        &tenant,
        day,
        Figure::TotalConversations,
        None,
    )
    .await;
    assert_eq!(rows, vec![("kim".to_string(), "100.00%".to_string())]);
    assert_eq!(from_rollups, 1, "answered from its rollups");
}
