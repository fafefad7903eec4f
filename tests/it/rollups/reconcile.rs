//! The scheduled reconciliation, whole invocations against dynalite: the days its source names
//! are verified and repaired, each repaired day is logged with its tenant and day, a day that
//! cannot be rebuilt is logged and does not stop the others, and `RollupDriftDays` counts the
//! days that differed.

use std::sync::Mutex;

use agent_overview::config::MetricsConfig;
use agent_overview::domain::clock::system_clock;
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::rollup::Scope;
use agent_overview::dynamo::items::{attr, rollup_pk, rollup_sk};
use agent_overview::reconcile::scheduled::{
    emf_document, run_once, AttentionIndex, DaysToReconcile, WINDOW_MS,
};
use agent_overview::reconcile::verify::Verifier;
use agent_overview::rollups::rebuild::Rebuilder;
use agent_overview::store::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;

use crate::support::harness;
use crate::support::harness::unique_tenant;
use crate::support::logs::capture;
use crate::support::seed::{put_conversations, random_rooms, rebuild_rollups};

const MARCH_1: i64 = 1_709_251_200_000; // 2024-03-01T00:00Z
const DAY_MS: i64 = 86_400_000;
const NOW_MS: i64 = MARCH_1 + 5 * DAY_MS;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, d).unwrap()
}

/// The two runs' tests one at a time: a log line's callsite first hit on another test's thread
/// (which has no capturing subscriber) may not reach this thread's capture.
static LOGGING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The days a test hands the run, and the `since` the run asked for.
struct Fixed {
    days: Vec<(String, NaiveDate)>,
    asked_since: Mutex<Option<i64>>,
}

impl DaysToReconcile for Fixed {
    async fn days(&self, since_ms: i64) -> Result<Vec<(String, NaiveDate)>, StoreError> {
        *self.asked_since.lock().unwrap() = Some(since_ms);
        Ok(self.days.clone())
    }
}

#[tokio::test]
async fn a_scheduled_run_repairs_drifted_days_logs_them_and_counts_them() {
    let _one_at_a_time = LOGGING.lock().await;
    let (client, names) = harness::ready().await;
    let tenant = unique_tenant("reconcile");
    let rooms = random_rooms(21, 60, MARCH_1, 3 * DAY_MS);
    put_conversations(&client, &tenant, &rooms).await;
    rebuild_rollups(&client, &tenant, &rooms).await;
    // Drift: a deleted item on 03-02; a conversation the rollups never saw on 03-03.
    client
        .delete_item()
        .table_name(&names.rollups)
        .key(attr::PK, AttributeValue::S(rollup_pk(&tenant, &Scope::All)))
        .key(
            attr::SK,
            AttributeValue::S(rollup_sk(Figure::TotalConversations, day(2))),
        )
        .send()
        .await
        .unwrap();
    let missed = Conversation {
        agent: Some("kim".into()),
        ..Conversation::new("missed", MARCH_1 + 2 * DAY_MS + 1_000)
    };
    put_conversations(&client, &tenant, &[missed]).await;
    // A day that cannot be rebuilt: its durations overflow a metric sum.
    let poisoned = unique_tenant("reconcile-poison");
    let huge = Conversation {
        agent: Some("kim".into()),
        chat_duration: Some(1e13),
        ..Conversation::new("huge", MARCH_1 + 1_000)
    };
    let also_huge = Conversation {
        room_id: "huge2".into(),
        ..huge.clone()
    };
    put_conversations(&client, &poisoned, &[huge, also_huge]).await;

    let source = Fixed {
        days: vec![
            (tenant.clone(), day(1)),
            (tenant.clone(), day(2)),
            (poisoned.clone(), day(1)),
            (tenant.clone(), day(3)),
        ],
        asked_since: Mutex::new(None),
    };
    let verifier = Verifier::new(
        client.clone(),
        names.rollup_tables(),
        Rebuilder::with_clock(
            &client,
            &names,
            agent_overview::domain::clock::system_clock(),
        ),
        system_clock(),
    );
    let (log, guard) = capture("info");
    let run = run_once(&verifier, &source, NOW_MS).await.unwrap();
    drop(guard);
    assert_eq!(
        *source.asked_since.lock().unwrap(),
        Some(NOW_MS - WINDOW_MS)
    );
    assert_eq!(
        (
            run.days_checked,
            run.drift_days,
            run.repaired_days,
            run.failed_days
        ),
        (3, 2, 2, 1),
        "{run:?}"
    );
    let lines = log.lines();
    let repaired: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "rollup day repaired")
        .map(|l| {
            (
                l["fields"]["tenant"].as_str().unwrap().to_string(),
                l["fields"]["day"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(repaired.len(), 2, "{}", log.text());
    for d in ["2024-03-02", "2024-03-03"] {
        assert!(
            repaired.contains(&(tenant.clone(), d.to_string())),
            "{repaired:?}"
        );
    }
    let failed: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "rollup reconciliation failed")
        .collect();
    assert_eq!(failed.len(), 1, "{}", log.text());
    assert_eq!(failed[0]["fields"]["tenant"], poisoned.as_str());
    assert_eq!(failed[0]["fields"]["day"], "2024-03-01");
    assert!(failed[0]["fields"]["error"]
        .as_str()
        .unwrap()
        .contains("overflow a metric sum"));

    let metrics = MetricsConfig {
        namespace: "AgentOverview".into(),
        stage: "test".into(),
    };
    let doc = emf_document(&metrics, &run, NOW_MS).to_value();
    assert_eq!(doc["RollupDriftDays"], 2);
    assert_eq!(doc["RollupReconcileFailures"], 1);

    // The next run finds nothing left to repair on the healthy tenant.
    let healthy = Fixed {
        days: source.days[..2].to_vec(),
        asked_since: Mutex::new(None),
    };
    let again = run_once(&verifier, &healthy, NOW_MS).await.unwrap();
    assert_eq!((again.days_checked, again.drift_days), (2, 0), "{again:?}");
    let all = verifier
        .verify_days(&tenant, day(1), day(4), false, &|_| {})
        .await
        .unwrap();
    assert_eq!(all.drifted, [], "every day equals its conversations");
}

/// A day left dirty (marked changed, never rebuilt: the stream's record was lost) is found
/// through the `byAttention` index, counted as drift once settled, and rebuilt clean.
#[tokio::test]
async fn the_attention_index_names_a_day_left_dirty_and_a_run_cleans_it() {
    let _one_at_a_time = LOGGING.lock().await;
    let (client, names) = harness::ready().await;
    let tenant = unique_tenant("reconcile-dirty");
    let rooms = random_rooms(33, 20, MARCH_1, DAY_MS);
    put_conversations(&client, &tenant, &rooms).await;
    rebuild_rollups(&client, &tenant, &rooms).await;
    let rebuilder = Rebuilder::with_clock(
        &client,
        &names,
        agent_overview::domain::clock::system_clock(),
    );
    rebuilder
        .mark(&tenant, day(1), &std::collections::BTreeSet::new())
        .await
        .unwrap();
    let listed = AttentionIndex::new(client.clone(), &names.rollup_tables())
        .days(0)
        .await
        .unwrap();
    assert!(listed.contains(&(tenant.clone(), day(1))), "{listed:?}");

    // Two minutes later the mark is settled: the day is drift, and the run rebuilds it.
    let later = chrono::Utc::now().timestamp_millis() + 120_000;
    let verifier = Verifier::new(
        client.clone(),
        names.rollup_tables(),
        rebuilder,
        std::sync::Arc::new(move || later),
    );
    let source = Fixed {
        days: vec![(tenant.clone(), day(1))],
        asked_since: Mutex::new(None),
    };
    let run = run_once(&verifier, &source, later).await.unwrap();
    assert_eq!((run.drift_days, run.repaired_days), (1, 1), "{run:?}");
    let again = run_once(&verifier, &source, later).await.unwrap();
    assert_eq!(again.drift_days, 0, "{again:?}");
}
