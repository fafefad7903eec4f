//! The `agent-overview-admin` binary as scripts call it: help, sessions, roles, settings and
//! demo data against the local DynamoDB.

use std::process::{Command, Output};

use agent_overview::admin::demo::{demo_conversations, DemoParams};
use agent_overview::config::{ReadSettings, TableNames};
use agent_overview::domain::identity::{hash_token, ReportingZoneSetting};
use agent_overview::dynamo::items::{attr, conversation_pk, read_settings, sk};
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::IdentityStore;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;

use crate::support::admin::{admin, admin_with_stdin};
use crate::support::harness::{get, ready, tenant_items, unique_tenant};

const SUBCOMMANDS: [&str; 14] = [
    "create-tables",
    "import",
    "generate-demo",
    "seed-demo",
    "rebuild-rollups",
    "verify-rollups",
    "add-user",
    "set-settings",
    "mint-session",
    "revoke-session",
    "revoke-sessions",
    "delete-user",
    "grant-role",
    "revoke-role",
];

#[tokio::test]
async fn sessions_are_revoked_one_token_or_all_of_a_user_at_once() {
    let (client, names) = ready().await;
    let tenant = unique_tenant("revoke");
    ok(&admin_line(
        &names,
        &format!("add-user --tenant {tenant} --user-id u1 --username mia --role livechat-manager"),
    ));
    let tokens: Vec<String> = (0..3)
        .map(|i| format!("revoke-test-{tenant}-{i}"))
        .collect();
    for token in &tokens {
        ok(&admin(
            &names,
            &[
                "mint-session",
                "--tenant",
                &tenant,
                "--user-id",
                "u1",
                "--token",
                token,
            ],
        ));
    }
    let store = DynamoStore::new(client.clone(), names.clone(), ReadSettings::default());
    let live = |token: String| {
        let store = store.clone();
        async move { store.session(&hash_token(&token)).await.unwrap().is_some() }
    };

    let out = admin_with_stdin(&names, &["revoke-session"], &format!("{}\n", tokens[0]));
    assert_eq!(
        ok(&out),
        format!("revoked the session of user u1 of tenant {tenant}\n")
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&tokens[0]));
    assert!(!live(tokens[0].clone()).await, "revoked at once");
    assert!(live(tokens[1].clone()).await, "the others stay");
    let again = admin_with_stdin(&names, &["revoke-session"], &tokens[0]);
    assert_eq!(ok(&again), "no session has that token\n");
    assert!(failed(&admin_with_stdin(&names, &["revoke-session"], "")).contains("no token"));

    let out = admin(
        &names,
        &["revoke-sessions", "--tenant", &tenant, "--user-id", "u1"],
    );
    assert_eq!(
        ok(&out),
        format!("tenant {tenant}: 2 session(s) of user u1 revoked\n")
    );
    for token in &tokens {
        assert!(!live(token.clone()).await);
    }
}

/// `admin` with the arguments written as one command line (none of them holds a space).
fn admin_line(names: &TableNames, line: &str) -> Output {
    admin(names, &line.split_whitespace().collect::<Vec<_>>())
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout when failing: {out:?}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn number(item: &aws_sdk_dynamodb::types::AttributeValue) -> i64 {
    match item {
        AttributeValue::N(v) => v.parse().expect("an integer"),
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn every_subcommand_has_help() {
    for sub in SUBCOMMANDS {
        let out = Command::new(env!("CARGO_BIN_EXE_agent-overview-admin"))
            .args([sub, "--help"])
            .env_remove("SESSIONS_TABLE")
            .output()
            .expect("runs");
        let text = ok(&out);
        assert!(
            text.contains(&format!("Usage: agent-overview-admin {sub}")),
            "{sub}: {text}"
        );
    }
}

#[tokio::test]
async fn create_tables_again_leaves_them_alone() {
    let (_client, names) = ready().await;
    let text = ok(&admin(
        &names,
        &[
            "create-tables",
            "--template",
            concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"),
        ],
    ));
    for table in [&names.sessions, &names.directory, &names.conversations] {
        assert!(text.contains(&format!("{table}: exists")), "{text}");
    }
}

#[tokio::test]
async fn mint_session_prints_the_token_alone_and_stores_only_its_hash() {
    let (client, names) = ready().await;
    let tenant = unique_tenant("mint");
    ok(&admin_line(
        &names,
        &format!("add-user --tenant {tenant} --user-id u1 --username mia --role livechat-manager --utc-offset -3"),
    ));

    let out = admin(
        &names,
        &["mint-session", "--tenant", &tenant, "--user-id", "u1"],
    );
    let stdout = ok(&out);
    let token = stdout.strip_suffix('\n').expect("one line");
    assert_eq!(token.len(), 43);
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("valid until"), "{stderr}");
    assert!(
        !stderr.contains(token) && !stderr.contains(&hash_token(token)),
        "{stderr}"
    );

    let item = get(
        &client,
        &names.sessions,
        &[(attr::TOKEN_HASH, &hash_token(token))],
    )
    .await
    .expect("stored under the token's hash");
    assert!(get(&client, &names.sessions, &[(attr::TOKEN_HASH, token)])
        .await
        .is_none());
    let issued_ms = number(&item[attr::ISSUED_AT]);
    let expires_s = number(&item[attr::EXPIRES_AT]);
    assert_eq!(
        expires_s - issued_ms / 1000,
        90 * 86_400,
        "the default login expiration"
    );

    // The handler's store sees the session and the user behind it.
    let store = DynamoStore::new(client.clone(), names.clone(), ReadSettings::default());
    let session = store
        .session(&hash_token(token))
        .await
        .unwrap()
        .expect("session");
    assert_eq!(
        (session.tenant.as_str(), session.user_id.as_str()),
        (tenant.as_str(), "u1")
    );
    let caller = store.caller(&tenant, "u1").await.unwrap();
    assert!(caller.can_view_livechat_manager());
    assert_eq!(caller.user.and_then(|u| u.utc_offset), Some(-3.0));

    // A given token; the tenant's login expiration applies; re-minting refreshes it.
    ok(&admin(
        &names,
        &[
            "set-settings",
            "--tenant",
            &tenant,
            "--login-expiration-days",
            "7",
        ],
    ));
    // Unique per run: sessions are keyed by the token alone, across tenants.
    let fixed = &format!("fixed-token-{tenant}");
    for _ in 0..2 {
        let stdout = ok(&admin(
            &names,
            &[
                "mint-session",
                "--tenant",
                &tenant,
                "--user-id",
                "u1",
                "--token",
                fixed,
            ],
        ));
        assert_eq!(stdout, format!("{fixed}\n"));
    }
    let item = get(
        &client,
        &names.sessions,
        &[(attr::TOKEN_HASH, &hash_token(fixed))],
    )
    .await
    .unwrap();
    assert_eq!(
        number(&item[attr::EXPIRES_AT]) - number(&item[attr::ISSUED_AT]) / 1000,
        7 * 86_400
    );

    // Another user cannot take that token; an unknown user gets none.
    ok(&admin_line(
        &names,
        &format!("add-user --tenant {tenant} --user-id u2 --username kim"),
    ));
    let stderr = failed(&admin(
        &names,
        &[
            "mint-session",
            "--tenant",
            &tenant,
            "--user-id",
            "u2",
            "--token",
            fixed,
        ],
    ));
    assert!(stderr.contains("another user"), "{stderr}");
    let stderr = failed(&admin(
        &names,
        &["mint-session", "--tenant", &tenant, "--user-id", "ghost"],
    ));
    assert!(stderr.contains("has no user ghost"), "{stderr}");
    assert_eq!(
        tenant_items(&client, &names.sessions, &tenant).await.len(),
        2
    );
}

#[tokio::test]
async fn roles_are_granted_and_revoked() {
    let (client, names) = ready().await;
    let tenant = unique_tenant("roles");
    ok(&admin_line(
        &names,
        &format!("add-user --tenant {tenant} --user-id u1 --username jane --role user"),
    ));
    let store = DynamoStore::new(client.clone(), names.clone(), ReadSettings::default());
    assert!(!store
        .caller(&tenant, "u1")
        .await
        .unwrap()
        .can_view_livechat_manager());

    for _ in 0..2 {
        ok(&admin(
            &names,
            &[
                "grant-role",
                "--tenant",
                &tenant,
                "--user-id",
                "u1",
                "--role",
                "livechat-manager",
            ],
        ));
    }
    let user = store.caller(&tenant, "u1").await.unwrap().user.unwrap();
    assert_eq!(
        user.roles,
        vec!["user".to_string(), "livechat-manager".to_string()]
    );
    assert_eq!(user.username, "jane", "the rest of the user is kept");

    ok(&admin(
        &names,
        &[
            "revoke-role",
            "--tenant",
            &tenant,
            "--user-id",
            "u1",
            "--role",
            "livechat-manager",
        ],
    ));
    let caller = store.caller(&tenant, "u1").await.unwrap();
    assert_eq!(caller.user.unwrap().roles, vec!["user".to_string()]);

    let stderr = failed(&admin(
        &names,
        &[
            "grant-role",
            "--tenant",
            &tenant,
            "--user-id",
            "ghost",
            "--role",
            "admin",
        ],
    ));
    assert!(stderr.contains("has no user ghost"), "{stderr}");
    assert!(get(
        &client,
        &names.directory,
        &[(attr::PK, &tenant), (attr::SK, &sk::user("ghost"))]
    )
    .await
    .is_none());
}

#[tokio::test]
async fn settings_are_validated_and_stored() {
    let (client, names) = ready().await;
    let tenant = unique_tenant("settings");
    let stderr = failed(&admin(
        &names,
        &[
            "set-settings",
            "--tenant",
            &tenant,
            "--reporting-timezone",
            "custom",
        ],
    ));
    assert!(stderr.contains("--custom-timezone"), "{stderr}");
    let stderr = failed(&admin(
        &names,
        &[
            "set-settings",
            "--tenant",
            &tenant,
            "--reporting-timezone",
            "custom",
            "--custom-timezone",
            "Mars/Olympus",
        ],
    ));
    assert!(stderr.contains("Mars/Olympus"), "{stderr}");
    ok(&admin(
        &names,
        &[
            "set-settings",
            "--tenant",
            &tenant,
            "--reporting-timezone",
            "custom",
            "--custom-timezone",
            "America/New_York",
            "--login-expiration-days",
            "3650",
        ],
    ));
    let item = get(
        &client,
        &names.directory,
        &[(attr::PK, &tenant), (attr::SK, sk::SETTINGS)],
    )
    .await
    .unwrap();
    let settings = read_settings(&item, "settings").unwrap();
    assert_eq!(
        settings.reporting_timezone,
        ReportingZoneSetting::Custom("America/New_York".into())
    );
    assert_eq!(settings.login_expiration_days, 3650);
}

#[tokio::test]
async fn generate_demo_writes_the_library_conversations_and_keeps_existing_settings() {
    let (client, names) = ready().await;
    let tenant = unique_tenant("demo");
    ok(&admin(
        &names,
        &[
            "set-settings",
            "--tenant",
            &tenant,
            "--reporting-timezone",
            "user",
        ],
    ));
    let args = [
        "generate-demo",
        "--tenant",
        &tenant,
        "--conversations",
        "60",
        "--days",
        "10",
        "--agents",
        "3",
        "--departments",
        "2",
        "--seed",
        "7",
        "--end",
        "2024-03-31",
    ];
    for _ in 0..2 {
        let text = ok(&admin(&names, &args));
        assert!(text.contains("60 demo conversations written"), "{text}");
    }
    assert_eq!(
        tenant_items(&client, &names.conversations, &tenant)
            .await
            .len(),
        60
    );
    let params = DemoParams {
        conversations: 60,
        days: 10,
        agents: 3,
        departments: 2,
        seed: 7,
        end: NaiveDate::from_ymd_opt(2024, 3, 31).unwrap(),
    };
    for c in demo_conversations(&params) {
        let pk = conversation_pk(&tenant, &c.room_id);
        let item = get(&client, &names.conversations, &[(attr::PK, &pk)])
            .await
            .expect("written");
        assert_eq!(
            agent_overview::dynamo::items::read_conversation(&item, &pk).unwrap(),
            c
        );
    }
    let item = get(
        &client,
        &names.directory,
        &[(attr::PK, &tenant), (attr::SK, sk::SETTINGS)],
    )
    .await
    .unwrap();
    assert_eq!(
        read_settings(&item, "s").unwrap().reporting_timezone,
        ReportingZoneSetting::User
    );

    // A tenant without settings gets the server zone.
    let fresh = unique_tenant("demo");
    let text = ok(&admin(
        &names,
        &[
            "generate-demo",
            "--tenant",
            &fresh,
            "--conversations",
            "5",
            "--end",
            "2024-03-31",
        ],
    ));
    assert!(text.contains("default settings"), "{text}");
    let item = get(
        &client,
        &names.directory,
        &[(attr::PK, &fresh), (attr::SK, sk::SETTINGS)],
    )
    .await
    .unwrap();
    assert_eq!(
        read_settings(&item, "s").unwrap().reporting_timezone,
        ReportingZoneSetting::Server
    );
}

#[tokio::test]
async fn import_prints_a_summary_and_fails_on_a_malformed_line() {
    let _exports = crate::support::harness::exports_lock().await;
    let (_client, names) = ready().await;
    let tenant = unique_tenant("cli-import");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/small-export");
    let out = admin(&names, &["import", "--tenant", &tenant, "--dir", dir]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rocketchat_room.json line 7") && stderr.contains("ts is missing"),
        "{stderr}"
    );
    let text = ok(&admin(
        &names,
        &[
            "import",
            "--tenant",
            &tenant,
            "--dir",
            dir,
            "--skip-malformed",
        ],
    ));
    assert!(
        text.contains("rocketchat_room.json: 10 lines read; written: 6 conversations; skipped: 4"),
        "{text}"
    );
    assert!(text.contains("rocketchat_message.json line 19"), "{text}");
}

#[tokio::test]
async fn rebuild_rollups_recomputes_a_tenant_from_its_conversations() {
    use agent_overview::domain::conversation::Conversation;
    use agent_overview::domain::range::{ReportDate, ReportingZone, UtcRange};
    use agent_overview::store::memory::MemoryStore;

    let (client, names) = ready().await;
    let tenant = unique_tenant("cli-rollups");
    let start = 1_709_251_200_000; // 2024-03-01
    let mut rooms = crate::support::seed::random_rooms(5, 80, start, 10 * 86_400_000);
    // Written straight into the table: no stream, no rollups yet.
    crate::support::seed::put_conversations(&client, &tenant, &rooms).await;
    let range = UtcRange::from_days(
        ReportDate::parse("2024-02-28").unwrap(),
        ReportDate::parse("2024-03-12").unwrap(),
        &ReportingZone::Named("Asia/Kolkata".parse().unwrap()),
    );
    let check = |rooms: Vec<Conversation>, dept: Option<&'static str>| {
        let (client, tenant) = (client.clone(), tenant.clone());
        async move {
            let memory = MemoryStore::new();
            rooms
                .into_iter()
                .for_each(|c| memory.put_conversation(&tenant, c));
            crate::support::rollups::assert_plans_agree(
                &client,
                &memory,
                &tenant,
                range,
                dept.map(str::to_string),
                "after rebuild-rollups",
            )
            .await
        }
    };

    // Every day of the tenant.
    let text = ok(&admin(&names, &["rebuild-rollups", "--tenant", &tenant]));
    assert!(
        text.contains("rollups of 10 days rebuilt (80 conversations read"),
        "{text}"
    );
    for dept in [None, Some("D1"), Some("D2"), Some("D3")] {
        assert!(check(rooms.clone(), dept).await > 0);
    }

    // A conversation moved to another department behind the stream's back: a rebuild of its
    // day clears it from the old department's rollups.
    let i = rooms
        .iter()
        .position(|c| c.department_id.as_deref() == Some("D1"))
        .expect("a D1 conversation");
    rooms[i].department_id = Some("D9".into());
    crate::support::seed::put_conversations(&client, &tenant, &rooms[i..=i]).await;
    let day = agent_overview::domain::range::utc_day_of(rooms[i].ts_ms)
        .unwrap()
        .to_string();
    let text = ok(&admin(
        &names,
        &[
            "rebuild-rollups",
            "--tenant",
            &tenant,
            "--from",
            &day,
            "--to",
            &day,
        ],
    ));
    assert!(text.contains("rollups of 1 days rebuilt"), "{text}");
    for dept in [None, Some("D1"), Some("D9")] {
        check(rooms.clone(), dept).await;
    }

    // Misuse.
    let err = failed(&admin(
        &names,
        &[
            "rebuild-rollups",
            "--tenant",
            &tenant,
            "--from",
            "2024-03-05",
            "--to",
            "2024-03-01",
        ],
    ));
    assert!(
        err.contains("--from 2024-03-05 is after --to 2024-03-01"),
        "{err}"
    );
    let out = admin(
        &names,
        &[
            "rebuild-rollups",
            "--tenant",
            &tenant,
            "--from",
            "2024-03-05",
        ],
    );
    assert!(!out.status.success());
}

#[tokio::test]
async fn generate_demo_rebuilds_the_rollups_of_its_days() {
    let (client, names) = ready().await;
    let tenant = unique_tenant("demo-rollups");
    let text = ok(&admin_line(
        &names,
        &format!(
            "generate-demo --tenant {tenant} --conversations 40 --days 3 --agents 3 \
             --departments 2 --seed 9 --end 2024-03-31"
        ),
    ));
    assert!(text.contains("rollups of 3 days rebuilt"), "{text}");
    let rollups = tenant_items(&client, &names.rollups, &tenant).await;
    // Per day: 7 figures for every department and for all, and the department list.
    assert_eq!(rollups.len(), 3 * (7 * 3 + 1), "{}", rollups.len());
}

/// `seed-demo` is what run-local.sh and the smoke step serve: its `KEY=value` lines are a
/// working login and a range that holds the demo, and a second run refreshes the same demo.
#[tokio::test]
async fn seed_demo_prints_credentials_that_answer_the_demo_range() {
    let (client, names) = ready().await;
    let tenant = unique_tenant("seed");
    let token = format!("seed-token-{tenant}");
    let args = [
        "seed-demo",
        "--template",
        concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"),
        "--tenant",
        &tenant,
        "--user-id",
        "seed-manager",
        "--token",
        &token,
    ];
    let first = ok(&admin(&names, &args));
    let lines: std::collections::HashMap<&str, &str> = first
        .lines()
        .map(|l| l.split_once('=').expect("KEY=value"))
        .collect();
    assert_eq!(lines["DEMO_TENANT"], tenant);
    assert_eq!(lines["DEMO_USER_ID"], "seed-manager");
    assert_eq!(lines["DEMO_TOKEN"], token);
    let (from, to) = (lines["DEMO_FROM"], lines["DEMO_TO"]);
    let to_day: NaiveDate = to.parse().expect("DEMO_TO is a day");
    assert_eq!(
        to_day - from.parse::<NaiveDate>().expect("DEMO_FROM is a day"),
        chrono::TimeDelta::days(90)
    );
    assert_eq!(
        tenant_items(&client, &names.conversations, &tenant)
            .await
            .len(),
        2000
    );

    let app = agent_overview::http::App {
        store: DynamoStore::new(client.clone(), names.clone(), ReadSettings::default()),
        reads: ReadSettings::default(),
        clock: agent_overview::domain::clock::system_clock(),
        sign_in: None,
    };
    let query = format!("name=Total_conversations&from={from}&to={to}");
    let (status, body) = crate::support::api::call(
        &app,
        &query,
        &crate::support::api::as_user(&token, "seed-manager"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let rows = answer["data"].as_array().expect("data");
    assert_eq!(rows.len(), 8, "the demo's 8 agents: {body}");
    assert!(
        rows.iter()
            .all(|row| row["value"].as_str().is_some_and(|v| v.ends_with('%'))),
        "{body}"
    );

    let second = ok(&admin(&names, &args));
    assert_eq!(second, first, "a second seed-demo refreshes the same demo");
}
