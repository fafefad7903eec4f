//! `agent-overview-admin verify-rollups`: drift injected into the rollups table (a wrong item, a
//! deleted one, a conversation the rollups never saw, a left-over item on an empty day) is found
//! and named by day, scope and figure (exit 1); `--repair` rebuilds those days, after which
//! verification passes and the rollup plan answers what the raw plan answers.

use std::process::Output;

use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::range::UtcRange;
use agent_overview::dynamo::items::{attr, rollup_item, rollup_pk, rollup_sk};
use agent_overview::store::memory::MemoryStore;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;
use serde_json::Value;

use agent_overview::domain::aggregate::Aggregator;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::rollup::Scope;

use crate::support::admin::admin;
use crate::support::harness;
use crate::support::harness::unique_tenant;
use crate::support::rollups::assert_plans_agree;
use crate::support::seed::{put_conversations, random_rooms, rebuild_rollups};

const MARCH_1: i64 = 1_709_251_200_000; // 2024-03-01T00:00Z
const DAY_MS: i64 = 86_400_000;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, d).unwrap()
}

fn verify(tenant: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "verify-rollups",
        "--tenant",
        tenant,
        "--from",
        "2024-02-28",
        "--to",
        "2024-03-12",
    ];
    args.extend_from_slice(extra);
    admin(&harness::table_names(), &args)
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {out:?}"))
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The day, scope and figure of every difference in a `--json` summary.
fn drifts(summary: &Value) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for d in summary["days"].as_array().unwrap() {
        for x in d["drifts"].as_array().unwrap() {
            found.push((
                d["day"].as_str().unwrap().to_string(),
                x["scope"].as_str().unwrap().to_string(),
                x["figure"].as_str().unwrap().to_string(),
            ));
        }
    }
    found
}

async fn put(client: &Client, item: std::collections::HashMap<String, AttributeValue>) {
    client
        .put_item()
        .table_name(harness::table_names().rollups)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn verify_rollups_names_injected_drift_and_repair_removes_it() {
    let (client, names) = harness::ready().await;
    let tenant = unique_tenant("verify");
    let mut rooms = random_rooms(5, 150, MARCH_1, 10 * DAY_MS);
    put_conversations(&client, &tenant, &rooms).await;
    rebuild_rollups(&client, &tenant, &rooms).await;

    let clean = verify(&tenant, &["--json"]);
    assert_eq!(clean.status.code(), Some(0), "{clean:?}");
    let summary = json(&clean);
    assert_eq!(summary["daysChecked"], 14);
    assert_eq!(summary["conversationsRead"], 150);
    assert_eq!(summary["driftDays"], 0);
    assert_eq!(summary["drift"], false);

    // 1. A wrong item: the day's Total_conversations of ALL says "zed" had 99 conversations.
    let mut wrong = Aggregator::new(Figure::TotalConversations);
    for i in 0..99 {
        wrong.add(MARCH_1 + DAY_MS + i, Some("zed"), None).unwrap();
    }
    put(
        &client,
        rollup_item(&tenant, &Scope::All, day(2), &wrong, 1),
    )
    .await;
    // 2. A deleted item: a department's Avg_chat_duration on a day it has durations.
    let counted = rooms
        .iter()
        .find(|c| {
            c.ts_ms >= MARCH_1 + 3 * DAY_MS
                && c.ts_ms < MARCH_1 + 4 * DAY_MS
                && c.department_id.is_some()
                && c.agent.is_some()
                && c.chat_duration.is_some_and(|d| d != 0.0)
        })
        .expect("a department room with a duration on 2024-03-04");
    let department = counted.department_id.clone().unwrap();
    client
        .delete_item()
        .table_name(&names.rollups)
        .key(
            attr::PK,
            AttributeValue::S(rollup_pk(&tenant, &Scope::Department(department.clone()))),
        )
        .key(
            attr::SK,
            AttributeValue::S(rollup_sk(Figure::AvgChatDuration, day(4))),
        )
        .send()
        .await
        .unwrap();
    // 3. A conversation the rollups never saw (a record the stream gave up on).
    let missed = Conversation {
        agent: Some("kim".into()),
        responder: Some("kim".into()),
        chat_duration: Some(42.0),
        agent_messages: 3,
        ..Conversation::new("missed", MARCH_1 + 6 * DAY_MS + 5_000)
    };
    put_conversations(&client, &tenant, std::slice::from_ref(&missed)).await;
    rooms.push(missed);
    // 4. A left-over item on a day without conversations.
    let mut left_over = Aggregator::new(Figure::TotalMessages);
    left_over
        .add(MARCH_1 + 10 * DAY_MS, Some("kim"), Some(4.0))
        .unwrap();
    put(
        &client,
        rollup_item(&tenant, &Scope::All, day(11), &left_over, 1),
    )
    .await;

    let found = verify(&tenant, &["--json"]);
    assert_eq!(found.status.code(), Some(1), "{found:?}");
    let summary = json(&found);
    assert_eq!(summary["drift"], true);
    assert_eq!(summary["driftDays"], 4);
    assert_eq!(summary["repairedDays"], 0);
    let found_drifts = drifts(&summary);
    for expected in [
        ("2024-03-02", "ALL".to_string(), "Total_conversations"),
        (
            "2024-03-04",
            format!("department {department}"),
            "Avg_chat_duration",
        ),
        ("2024-03-07", "ALL".to_string(), "Total_conversations"),
        ("2024-03-07", "ALL".to_string(), "Avg_chat_duration"),
        ("2024-03-07", "ALL".to_string(), "Total_messages"),
        ("2024-03-11", "ALL".to_string(), "Total_messages"),
    ] {
        let (d, s, f) = (expected.0.to_string(), expected.1, expected.2.to_string());
        assert!(
            found_drifts.contains(&(d.clone(), s.clone(), f.clone())),
            "{d} {s} {f} not in {found_drifts:?}"
        );
    }
    let days: Vec<&str> = found_drifts.iter().map(|(d, _, _)| d.as_str()).collect();
    assert!(
        days.iter()
            .all(|d| ["2024-03-02", "2024-03-04", "2024-03-07", "2024-03-11"].contains(d)),
        "only the injected days: {days:?}"
    );

    // The report for people names the same, and nothing was changed by looking.
    let report = verify(&tenant, &[]);
    assert_eq!(report.status.code(), Some(1), "{report:?}");
    assert_eq!(
        String::from_utf8_lossy(&report.stderr),
        format!(
            "error: the rollups of 4 day(s) of tenant {tenant} differ from its conversations\n"
        )
    );
    let report = text(&report);
    assert!(report.contains("2024-03-02: differs\n"), "{report}");
    assert!(
        report.contains("  ALL Total_conversations: zed: stored (count 99) but not expected\n"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "  department {department} Avg_chat_duration: no rollup item"
        )),
        "{report}"
    );
    assert!(
        report
            .contains("  ALL Total_messages: kim: stored (count 0, messages 4) but not expected\n"),
        "{report}"
    );
    assert!(
        report.ends_with(
            "14 days checked (151 conversations read); 4 day(s) differ (--repair rebuilds them)\n"
        ),
        "{report}"
    );

    let repaired = verify(&tenant, &["--repair"]);
    assert_eq!(repaired.status.code(), Some(0), "{repaired:?}");
    let repaired = text(&repaired);
    assert!(
        repaired.contains("2024-03-07: differed; repaired\n"),
        "{repaired}"
    );
    assert!(
        repaired.ends_with("4 day(s) differed, 4 repaired\n"),
        "{repaired}"
    );

    let after = verify(&tenant, &["--json"]);
    assert_eq!(after.status.code(), Some(0), "{after:?}");
    assert_eq!(json(&after)["driftDays"], 0);

    // The repaired rollups answer what the conversations say.
    let memory = MemoryStore::new();
    rooms
        .iter()
        .for_each(|c| memory.put_conversation(&tenant, c.clone()));
    let range = UtcRange {
        start_ms: MARCH_1,
        end_ms: MARCH_1 + 12 * DAY_MS - 1,
    };
    for department in [None, Some(department)] {
        assert_plans_agree(&client, &memory, &tenant, range, department, "repaired").await;
    }
}

#[tokio::test]
async fn verify_rollups_refuses_bad_input_and_changes_nothing() {
    let (client, names) = harness::ready().await;
    let tenant = unique_tenant("verify-bad");
    let rooms = random_rooms(9, 20, MARCH_1, 2 * DAY_MS);
    put_conversations(&client, &tenant, &rooms).await;
    let before = harness::tenant_items(&client, &names.rollups, &tenant).await;
    assert!(before.is_empty());

    let backwards = admin(
        &names,
        &[
            "verify-rollups",
            "--tenant",
            &tenant,
            "--from",
            "2024-03-05",
            "--to",
            "2024-03-01",
            "--repair",
        ],
    );
    assert_eq!(backwards.status.code(), Some(1), "{backwards:?}");
    assert!(backwards.stdout.is_empty());
    assert!(String::from_utf8_lossy(&backwards.stderr)
        .contains("--from 2024-03-05 is after --to 2024-03-01"));
    for args in [
        vec![
            "verify-rollups",
            "--tenant",
            "a#b",
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-02",
        ],
        vec![
            "verify-rollups",
            "--tenant",
            &tenant,
            "--from",
            "2024-03-01",
        ],
        vec![
            "verify-rollups",
            "--tenant",
            &tenant,
            "--from",
            "2024-3-1x",
            "--to",
            "2024-03-02",
        ],
    ] {
        let out = admin(&names, &args);
        assert_eq!(out.status.code(), Some(2), "clap's usage error: {out:?}");
        assert!(out.stdout.is_empty());
    }
    assert!(harness::tenant_items(&client, &names.rollups, &tenant)
        .await
        .is_empty());
}
