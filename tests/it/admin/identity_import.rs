//! Issue 10, "Identity and imports you can trust": each finding through the admin binary and
//! the request handler against dynalite, and the guarantees that follow from them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use agent_overview::admin::import::{import_export, ImportOptions};
use agent_overview::admin::tables::create_tables_from_template;
use agent_overview::config::{QueryPlan, ReadSettings, TableNames};
use agent_overview::domain::identity::hash_token;
use agent_overview::dynamo::items::{attr, sk, Item};
use agent_overview::http::handler::App;
use agent_overview::store::dynamo::DynamoStore;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, TimeDelta, Utc};

use crate::support::admin::admin;
use crate::support::api::{as_user, call};
use crate::support::harness::{ready, s, tenant_items, tid, unique_tenant, TEMPLATE};

const QUERY: &str = "name=Total_conversations&from=2024-03-01&to=2024-03-31";

/// One user line of `users.json`: id, roles, `active`, and login tokens with their `when`.
struct UserLine<'a> {
    id: &'a str,
    roles: &'a [&'a str],
    active: bool,
    tokens: Vec<(String, DateTime<Utc>)>,
}

impl UserLine<'_> {
    fn json(&self) -> String {
        let tokens: Vec<String> = self
            .tokens
            .iter()
            .map(|(token, when)| {
                format!(
                    r#"{{"when":{{"$date":"{}"}},"hashedToken":"{}"}}"#,
                    when.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    hash_token(token)
                )
            })
            .collect();
        let roles: Vec<String> = self.roles.iter().map(|r| format!("{r:?}")).collect();
        format!(
            r#"{{"_id":"{id}","username":"{id}","active":{active},"roles":[{roles}],"services":{{"resume":{{"loginTokens":[{tokens}]}}}}}}"#,
            id = self.id,
            active = self.active,
            roles = roles.join(","),
            tokens = tokens.join(",")
        )
    }
}

fn manager(id: &str, tokens: &[&str]) -> UserLine<'static> {
    let id: &'static str = Box::leak(id.to_string().into_boxed_str());
    UserLine {
        id,
        roles: &["livechat-manager"],
        active: true,
        tokens: tokens.iter().map(|t| (t.to_string(), Utc::now())).collect(),
    }
}

fn agent(id: &str) -> UserLine<'static> {
    UserLine {
        roles: &["livechat-agent"],
        ..manager(id, &[])
    }
}

fn room(id: &str, agent: &str) -> String {
    format!(
        r#"{{"_id":"{id}","t":"l","ts":{{"$date":"2024-03-05T10:00:00.000Z"}},"open":false,"departmentId":"D1","servedBy":{{"_id":"u-{agent}","username":"{agent}"}},"metrics":{{"chatDuration":60}}}}"#
    )
}

/// An export directory with these files (`None`: the file is left out).
fn export(files: &[(&str, String)]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("identity-import")
        .join(unique_tenant("export"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn lines(v: &[String]) -> String {
    v.iter().map(|l| format!("{l}\n")).collect()
}

/// A small, valid export: the users given, two rooms of agent `kim`, one message each.
fn export_with(users: &[UserLine]) -> PathBuf {
    export(&[
        (
            "users.json",
            lines(&users.iter().map(UserLine::json).collect::<Vec<_>>()),
        ),
        (
            "rocketchat_room.json",
            lines(&[room("R1", "kim"), room("R2", "kim")]),
        ),
        (
            "rocketchat_message.json",
            lines(&[
                r#"{"_id":"m1","rid":"R1","msg":"hi","ts":{"$date":"2024-03-05T10:00:10.000Z"},"u":{"_id":"u-kim","username":"kim"}}"#.into(),
            ]),
        ),
    ])
}

fn import_cli(names: &TableNames, tenant: &str, dir: &Path, extra: &[&str]) -> Output {
    let dir = dir.display().to_string();
    let mut args = vec!["import", "--tenant", tenant, "--dir", &dir];
    args.extend_from_slice(extra);
    admin(names, &args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "command failed: {}", stderr(out));
}

/// The handler over the local tables, its clock at `now`.
fn app(client: &Client, names: &TableNames, now: DateTime<Utc>) -> App<DynamoStore> {
    App {
        store: DynamoStore::new(client.clone(), names.clone(), ReadSettings::default()),
        reads: ReadSettings {
            max_range_days: 3660,
            ..ReadSettings::default()
        },
        clock: Arc::new(move || now.timestamp_millis()),
        sign_in: None,
    }
}

async fn status(app: &App<DynamoStore>, token: &str, user: &str) -> (u16, String) {
    call(app, QUERY, &as_user(token, user)).await
}

/// Tables of this test alone, so a full scan before and after compares exactly.
async fn private_tables() -> (Client, TableNames) {
    let (client, shared) = ready().await;
    let prefix = unique_tenant("tables");
    let names = TableNames {
        sessions: format!("{prefix}-sessions"),
        directory: format!("{prefix}-directory"),
        conversations: format!("{prefix}-conversations"),
        rollups: format!("{prefix}-rollups"),
        ..shared
    };
    create_tables_from_template(&client, TEMPLATE, &names)
        .await
        .expect("private tables");
    (client, names)
}

/// Every item of every table, as sorted text: the whole state of the private tables.
async fn full_scan(client: &Client, names: &TableNames) -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for table in [
        &names.sessions,
        &names.directory,
        &names.conversations,
        &names.rollups,
    ] {
        let items: Vec<Item> = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .expect("Scan");
        let mut text: Vec<String> = items
            .iter()
            .map(|i| format!("{:?}", i.iter().collect::<BTreeMap<_, _>>()))
            .collect();
        text.sort();
        all.insert(table.clone(), text);
    }
    all
}

async fn session_count(client: &Client, names: &TableNames, tenant: &str) -> usize {
    tenant_items(client, &names.sessions, tenant).await.len()
}

/// Finding 1: an import rebinding another tenant's session.
#[tokio::test]
async fn an_import_never_moves_a_session_into_another_tenant() {
    let (client, names) = ready().await;
    let (acme, globex) = (unique_tenant("acme"), unique_tenant("globex"));
    let token = format!("tok-{acme}");
    let dir = export_with(&[manager("boss", &[&token])]);
    assert_ok(&import_cli(&names, &acme, &dir, &[]));
    let app = app(&client, &names, Utc::now());
    let before = status(&app, &token, "boss").await;
    assert_eq!(before.0, 200, "{before:?}");

    let out = import_cli(&names, &globex, &dir, &[]);
    assert!(!out.status.success(), "the second import must fail");
    let err = stderr(&out);
    assert!(
        err.contains(&acme) && err.contains("boss"),
        "names the tenant and user: {err}"
    );
    assert!(!err.contains(&token) && !err.contains(&hash_token(&token)));
    for table in [&names.sessions, &names.directory, &names.conversations] {
        assert!(
            tenant_items(&client, table, &globex).await.is_empty(),
            "nothing written to {table}"
        );
    }
    assert_eq!(status(&app, &token, "boss").await, before, "acme keeps it");
}

/// Finding 2 and the "every validation stage" test: whatever is wrong, and wherever, the
/// tables are exactly as before (a full scan of every table before and after).
#[tokio::test]
async fn a_failure_at_every_validation_stage_leaves_the_tables_as_before() {
    let (client, names) = private_tables().await;
    let first = "first";
    let taken = "tok-first-manager";
    assert_ok(&import_cli(
        &names,
        first,
        &export_with(&[manager("boss", &[taken])]),
        &[],
    ));
    let before = full_scan(&client, &names).await;
    assert!(!before[&names.sessions].is_empty());

    let many_users: Vec<String> = (0..2000)
        .map(|i| manager(&format!("u{i}"), &[&format!("tok-many-{i}")]).json())
        .chain(std::iter::once("{\"_id\":".to_string()))
        .collect();
    let valid = export_with(&[manager("mia", &["tok-mia"])]);
    let read = |f: &str| std::fs::read_to_string(valid.join(f)).unwrap();
    let with = |file: &str, text: String| -> PathBuf {
        let mut files: Vec<(&str, String)> = [
            "users.json",
            "rocketchat_room.json",
            "rocketchat_message.json",
        ]
        .into_iter()
        .filter(|f| *f != file)
        .map(|f| (f, read(f)))
        .collect();
        files.push((file, text));
        export(&files)
    };
    let rooms = read("rocketchat_room.json");
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "settings",
            with(
                "rocketchat_settings.json",
                "{\"_id\":\"Default_Timezone_For_Reporting\",\"value\":\"custom\"}\n\
                 {\"_id\":\"Default_Custom_Timezone\",\"value\":\"Nowhere/Land\"}\n"
                    .into(),
            ),
            "rocketchat_settings.json",
        ),
        (
            "permissions",
            with(
                "rocketchat_permissions.json",
                "{\"_id\":\"view-livechat-manager\",\"roles\":[\"admin\"]}\n{\"_id\":7}\n".into(),
            ),
            "rocketchat_permissions.json line 2",
        ),
        (
            "users line 2001",
            with("users.json", lines(&many_users)),
            "users.json line 2001",
        ),
        (
            "a token twice",
            with(
                "users.json",
                lines(&[
                    manager("a", &["tok-twice"]).json(),
                    manager("b", &["tok-twice"]).json(),
                ]),
            ),
            "users.json line 2",
        ),
        (
            "another tenant's session",
            with("users.json", lines(&[manager("thief", &[taken]).json()])),
            "user boss of tenant first",
        ),
        (
            "truncated rooms",
            with(
                "rocketchat_room.json",
                format!("{rooms}{{\"_id\":\"R9\",\"t\":\"l\""),
            ),
            "rocketchat_room.json line 3",
        ),
        (
            "messages",
            with(
                "rocketchat_message.json",
                "{\"_id\":\"m1\",\"rid\":\n".into(),
            ),
            "rocketchat_message.json line 1",
        ),
        (
            "a metric the rollups reject",
            with(
                "rocketchat_room.json",
                format!(
                    "{rooms}{}\n",
                    room("R3", "kim").replace("\"chatDuration\":60", "\"chatDuration\":1e13")
                ),
            ),
            "rocketchat_room.json line 3",
        ),
        (
            "a 3000-character departmentId",
            with(
                "rocketchat_room.json",
                format!(
                    "{rooms}{}\n",
                    room("R3", "kim").replace("D1", &"d".repeat(3000))
                ),
            ),
            "rocketchat_room.json line 3",
        ),
        (
            "a line over the cap",
            with(
                "rocketchat_message.json",
                format!("{{\"_id\":\"{}\"}}\n", "x".repeat(17 << 20)),
            ),
            "rocketchat_message.json line 1",
        ),
    ];
    for (stage, dir, named) in cases {
        let out = import_cli(&names, "second", &dir, &[]);
        assert!(!out.status.success(), "{stage}: the import must fail");
        let err = stderr(&out);
        assert!(err.contains(named), "{stage}: names {named:?}: {err}");
        assert!(!err.contains(taken) && !err.contains(&hash_token(taken)));
        assert_eq!(
            full_scan(&client, &names).await,
            before,
            "{stage}: the tables changed"
        );
    }
}

/// Finding 3: logout, `active: false`, delete and create again, `delete-user`.
#[tokio::test]
async fn identity_follows_the_export_and_deleted_users_stay_out() {
    let (client, names) = ready().await;
    let tenant = unique_tenant("mirror");
    let (a, b) = (format!("tok-a-{tenant}"), format!("tok-b-{tenant}"));
    assert_ok(&import_cli(
        &names,
        &tenant,
        &export_with(&[manager("boss", &[&a, &b]), agent("kim")]),
        &[],
    ));
    let app = app(&client, &names, Utc::now());
    assert_eq!(status(&app, &a, "boss").await.0, 200);
    assert_eq!(status(&app, &b, "boss").await.0, 200);

    // Rocket.Chat's logout removed token a: re-importing revokes it.
    assert_ok(&import_cli(
        &names,
        &tenant,
        &export_with(&[manager("boss", &[&b]), agent("kim")]),
        &[],
    ));
    assert_eq!(status(&app, &a, "boss").await.0, 401, "logged out");
    assert_eq!(status(&app, &b, "boss").await.0, 200);

    // Deactivated: no working session.
    let mut inactive = manager("boss", &[&b]);
    inactive.active = false;
    assert_ok(&import_cli(&names, &tenant, &export_with(&[inactive]), &[]));
    assert_eq!(status(&app, &b, "boss").await.0, 401, "inactive");
    assert_eq!(session_count(&client, &names, &tenant).await, 0);

    // Active again with b; then the user item is deleted behind the tool's back and the
    // user is created again: the old session stays dead.
    assert_ok(&import_cli(
        &names,
        &tenant,
        &export_with(&[manager("boss", &[&b])]),
        &[],
    ));
    assert_eq!(status(&app, &b, "boss").await.0, 200);
    client
        .delete_item()
        .table_name(&names.directory)
        .key(attr::PK, s(&tenant))
        .key(attr::SK, s(&sk::user("boss")))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&app, &b, "boss").await.0, 401);
    assert_ok(&admin(
        &names,
        &[
            "add-user",
            "--tenant",
            &tenant,
            "--user-id",
            "boss",
            "--username",
            "boss",
            "--role",
            "livechat-manager",
        ],
    ));
    assert_eq!(status(&app, &b, "boss").await.0, 401, "not revived");

    // delete-user: the user and every session, at once.
    let out = admin(
        &names,
        &["mint-session", "--tenant", &tenant, "--user-id", "kim"],
    );
    assert_ok(&out);
    let minted = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        status(&app, &minted, "kim").await.0,
        403,
        "kim is no manager"
    );
    let out = admin(
        &names,
        &["delete-user", "--tenant", &tenant, "--user-id", "kim"],
    );
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 session(s)"));
    assert_eq!(status(&app, &minted, "kim").await.0, 401);
    let directory = tenant_items(&client, &names.directory, &tenant).await;
    assert!(!directory
        .iter()
        .any(|i| i.get(attr::SK) == Some(&s(&sk::user("kim")))));
}

/// `--prune`: users and sessions that a full export no longer has are removed.
#[tokio::test]
async fn prune_removes_what_a_full_export_no_longer_has() {
    let (client, names) = ready().await;
    let tenant = unique_tenant("prune");
    let (a, b) = (format!("tok-a-{tenant}"), format!("tok-b-{tenant}"));
    assert_ok(&import_cli(
        &names,
        &tenant,
        &export_with(&[manager("boss", &[&a]), manager("gone", &[&b])]),
        &[],
    ));
    let app = app(&client, &names, Utc::now());
    assert_eq!(status(&app, &b, "gone").await.0, 200);
    let only_boss = export_with(&[manager("boss", &[&a])]);
    assert_ok(&import_cli(&names, &tenant, &only_boss, &[]));
    assert_eq!(
        status(&app, &b, "gone").await.0,
        200,
        "kept without --prune"
    );
    assert_ok(&import_cli(&names, &tenant, &only_boss, &["--prune"]));
    assert_eq!(status(&app, &b, "gone").await.0, 401);
    assert_eq!(status(&app, &a, "boss").await.0, 200);
    let directory = tenant_items(&client, &names.directory, &tenant).await;
    assert!(!directory
        .iter()
        .any(|i| i.get(attr::SK) == Some(&s(&sk::user("gone")))));
}

/// Finding 4: a token dated in the future counts as issued at the import's clock.
#[tokio::test]
async fn a_login_token_from_the_future_expires_like_one_issued_at_import() {
    let (client, names) = ready().await;
    let tenant = unique_tenant("future");
    let token = format!("tok-{tenant}");
    let when = "2099-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let user = UserLine {
        tokens: vec![(token.clone(), when)],
        ..manager("boss", &[])
    };
    let dir = export_with(&[user]);
    std::fs::write(
        dir.join("rocketchat_settings.json"),
        "{\"_id\":\"Accounts_LoginExpiration\",\"value\":1}\n",
    )
    .unwrap();
    let now = Utc::now();
    assert_ok(&import_cli(&names, &tenant, &dir, &[]));
    assert_eq!(
        status(&app(&client, &names, now), &token, "boss").await.0,
        200
    );
    let later = now + TimeDelta::days(2);
    assert_eq!(
        status(&app(&client, &names, later), &token, "boss").await.0,
        401,
        "expired a day after the import"
    );
}

/// A DynamoDB failure at any write of an import — each one in turn, from the first revocation
/// to the last session — stops it with a message that says to run it again, grants no new
/// session before the rest is written, and the re-run completes it: the answer equals a clean
/// import's, on the rollup plan and on the raw plan.
#[tokio::test]
async fn a_failure_at_any_write_is_reported_and_a_rerun_completes_the_import() {
    let (client, names) = ready().await;
    let options = ImportOptions::at(chrono::Utc::now());
    let clean = unique_tenant("clean");
    let clean_token = format!("tok-{clean}");
    let clean_dir = export_with(&[manager("boss", &[&clean_token])]);
    import_export(&client, &names, &tid(&clean), &clean_dir, &options)
        .await
        .expect("a clean import");
    let expected = status(&app(&client, &names, Utc::now()), &clean_token, "boss").await;
    assert_eq!(expected.0, 200, "{expected:?}");

    let mut failed_writes = 0;
    for nth in 1.. {
        let tenant = unique_tenant(&format!("rerun{nth}"));
        let token = format!("tok-{tenant}");
        let dir = export_with(&[manager("boss", &[&token])]);
        let faulty =
            crate::support::faults::fail_nth_of(&client, crate::support::faults::WRITES, nth);
        let Err(err) = import_export(&faulty, &names, &tid(&tenant), &dir, &options).await else {
            break; // past the import's last write
        };
        failed_writes += 1;
        let text = agent_overview::errors::error_chain(&err);
        assert!(
            text.contains("run the same import again"),
            "write {nth}: {text}"
        );
        let app = app(&client, &names, Utc::now());
        assert_eq!(
            status(&app, &token, "boss").await.0,
            401,
            "write {nth}: no session before the rest is written"
        );

        import_export(&client, &names, &tid(&tenant), &dir, &options)
            .await
            .unwrap_or_else(|e| panic!("write {nth}: the re-run completes: {e:?}"));
        assert_eq!(
            status(&app, &token, "boss").await,
            expected,
            "write {nth}: rollup plan"
        );
        let raw = App {
            store: DynamoStore::new(
                client.clone(),
                names.clone(),
                ReadSettings {
                    query_plan: QueryPlan::Raw,
                    ..ReadSettings::default()
                },
            ),
            ..app
        };
        assert_eq!(
            status(&raw, &token, "boss").await,
            expected,
            "write {nth}: raw plan"
        );
    }
    // The user, the day's marks, the conversations, the rollup items, the day's state, the
    // session: each was failed in turn.
    assert!(
        failed_writes >= 5,
        "only {failed_writes} writes were failed"
    );
}

/// Finding 6: `revoke-sessions` and `delete-user` find a user's sessions through the index;
/// neither scans the sessions table.
#[tokio::test]
async fn revoking_a_users_sessions_queries_the_index_and_never_scans() {
    use crate::support::fake_dynamo::{query_answer, FakeDynamo};
    use agent_overview::admin::directory::delete_user;
    use agent_overview::admin::session::revoke_sessions;
    use serde_json::json;

    let fake = FakeDynamo::new(|operation, body, _| match operation {
        "Query" => {
            assert_eq!(body["IndexName"], "byTenantUser", "{body}");
            query_answer(&[Item::from([
                (attr::TOKEN_HASH.to_string(), s("h1")),
                (attr::TENANT.to_string(), s("acme")),
                (attr::USER_ID.to_string(), s("u1")),
            ])])
        }
        "DeleteItem" => (200, json!({})),
        other => panic!("unexpected {other}"),
    });
    let names = crate::support::harness::table_names();
    let revoked = revoke_sessions(&fake.client(), &names, &tid("acme"), "u1")
        .await
        .unwrap();
    assert_eq!(revoked.count, 1);
    delete_user(&fake.client(), &names, &tid("acme"), "u1")
        .await
        .unwrap();
    assert_eq!(fake.calls("Scan"), 0);
    assert_eq!(fake.calls("Query"), 2);
    assert_eq!(fake.calls("DeleteItem"), 1 + 2);
}

/// One agent message in room R0.
fn an_agent_message() -> String {
    lines(&[r#"{"_id":"m0","rid":"R0","msg":"hi","ts":{"$date":"2024-03-05T10:00:10.000Z"},"u":{"_id":"u-kim","username":"kim"}}"#.into()])
}

/// Issue 9, finding 1 as an import meets it: an import that stops part-way through the
/// conversations must leave the days it touched read raw, never from the rollups an earlier
/// import built (which miss the rooms already written).
#[tokio::test]
async fn an_import_stopped_part_way_never_answers_from_stale_rollups() {
    use agent_overview::config::QueryPlan;
    use agent_overview::domain::figure::Figure;
    use agent_overview::domain::range::{ReportDate, ReportingZone, UtcRange};
    use agent_overview::store::{ConversationStore, RangeQuery};

    let (client, names) = ready().await;
    let tenant = unique_tenant("stopped");
    let users = lines(&[agent("kim").json(), agent("jane").json()]);
    let first = export(&[
        ("users.json", users.clone()),
        ("rocketchat_room.json", lines(&[room("R0", "kim")])),
        ("rocketchat_message.json", an_agent_message()),
    ]);
    let options = ImportOptions::at(chrono::Utc::now());
    import_export(&client, &names, &tid(&tenant), &first, &options)
        .await
        .expect("the first import");

    let mut rooms = vec![room("R0", "kim")];
    rooms.extend((1..=60).map(|i| room(&format!("R{i}"), "jane")));
    let second = export(&[
        ("users.json", users),
        ("rocketchat_room.json", lines(&rooms)),
        ("rocketchat_message.json", an_agent_message()),
    ]);
    let faulty = crate::support::faults::fail_nth(&client, "BatchWriteItem", 2);
    // One batch at a time, no retry: the failure falls between two batches of conversations.
    let mut one_at_a_time = options.clone();
    one_at_a_time.writer.max_in_flight = 1;
    one_at_a_time.writer.max_attempts = 1;
    let err = import_export(&faulty, &names, &tid(&tenant), &second, &one_at_a_time)
        .await
        .expect_err("the injected failure stops the import");
    let text = agent_overview::errors::error_chain(&err);
    assert!(text.contains("injected failure"), "{text}");
    let written = tenant_items(&client, &names.conversations, &tenant)
        .await
        .len();
    assert!(
        written > 1 && written < rooms.len(),
        "some, not all, of the rooms are written: {written}"
    );

    let march = UtcRange::from_days(
        ReportDate::parse("2024-03-01").unwrap(),
        ReportDate::parse("2024-03-31").unwrap(),
        &ReportingZone::Utc,
    );
    let query = RangeQuery {
        tenant: tenant.clone(),
        figure: Figure::TotalConversations,
        range: march,
        department_id: None,
    };
    let raw = crate::support::rollups::store(&client, QueryPlan::Raw);
    let rollups = crate::support::rollups::store(&client, QueryPlan::Rollups);
    let (by_raw, _) = raw.fold(&query).await.unwrap();
    let (by_rollups, _) = rollups.fold(&query).await.unwrap();
    let by_raw = by_raw.into_rows();
    assert_eq!(by_raw.len(), 2, "kim and jane: {by_raw:?}");
    assert_eq!(by_rollups.into_rows(), by_raw);
}
