//! Connections: a secret is bound to its tenant (checked by `connect` and again by the job),
//! only `https` outside loopback, the URL stored without query or credentials; `connect` and
//! `disconnect` leave no sync state behind, even with a job running; one malformed connection
//! item does not stop the fan-out.

use std::time::Duration;

use agent_overview::admin::connect::disconnect;
use agent_overview::config::{MetricsConfig, SyncConfig, TableNames};
use agent_overview::dynamo::sync::{get_connection, get_state, put_connection, put_state};
use agent_overview::sync::scheduled::{fan_out, run_job, Job, JobOutcome};
use agent_overview::sync::state::{Connection, SyncState};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::support::export::fixture_dir;
use crate::support::harness;
use crate::support::moto::{sdk, secret};
use crate::support::rc_standin::{StandIn, Workspace, TOKEN, USER_ID};

const PREFIX: &str = "agent-overview/rocketchat/";

fn arn_for(tenant: &str) -> String {
    format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{PREFIX}{tenant}-AbCdEf")
}

async fn admin(names: &TableNames, args: &[&str]) -> std::process::Output {
    let mut command = crate::support::admin::admin_command(names, args);
    command.env_remove("SYNC_SECRET_PREFIX");
    tokio::task::spawn_blocking(move || command.output().expect("the admin binary runs"))
        .await
        .unwrap()
}

async fn connect_cli(
    names: &TableNames,
    tenant: &str,
    url: &str,
    arn: &str,
) -> std::process::Output {
    admin(
        names,
        &[
            "connect",
            "--tenant",
            tenant,
            "--url",
            url,
            "--user-id",
            USER_ID,
            "--secret-arn",
            arn,
        ],
    )
    .await
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

async fn users_state(
    client: &aws_sdk_dynamodb::Client,
    names: &TableNames,
    tenant: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    harness::get(
        client,
        &names.directory,
        &[("pk", tenant), ("sk", "SYNC#USERS")],
    )
    .await
}

fn some_state() -> SyncState {
    SyncState {
        checkpoint_ms: Some(1_717_200_000_000),
        last_complete_started_ms: Some(1_717_200_000_000),
        last_full_ms: Some(1_717_200_000_000),
        pending: None,
        listing: None,
    }
}

#[tokio::test]
async fn connect_binds_the_secret_to_its_tenant_and_requires_https() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("conn-bind");
    let other = harness::unique_tenant("conn-other");

    let out = connect_cli(
        &names,
        &tenant,
        "https://chat.example.com",
        &arn_for(&other),
    )
    .await;
    assert!(!out.status.success(), "another tenant's secret is refused");
    assert!(
        stderr(&out).contains(&format!("{PREFIX}{tenant}")),
        "{}",
        stderr(&out)
    );
    // A name that only starts with the tenant's is another tenant's too.
    let longer = arn_for(&format!("{tenant}x"));
    assert!(
        !connect_cli(&names, &tenant, "https://chat.example.com", &longer)
            .await
            .status
            .success()
    );

    let out = connect_cli(
        &names,
        &tenant,
        "http://chat.example.com",
        &arn_for(&tenant),
    )
    .await;
    assert!(!out.status.success(), "http outside loopback is refused");
    assert!(stderr(&out).contains("https"), "{}", stderr(&out));
    assert!(get_connection(&client, &names, &tenant)
        .await
        .unwrap()
        .is_none());

    // The URL is stored without its query and fragment (nothing secret is kept in it).
    let out = connect_cli(
        &names,
        &tenant,
        "https://chat.example.com/rc?apiKey=s3cr3t#top",
        &arn_for(&tenant),
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = get_connection(&client, &names, &tenant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.url, "https://chat.example.com/rc");
    let out = connect_cli(
        &names,
        &tenant,
        "https://u:pw@chat.example.com",
        &arn_for(&tenant),
    )
    .await;
    assert!(!out.status.success());
    assert!(!stderr(&out).contains("pw@"), "{}", stderr(&out));
    // Loopback may use http (a local stand-in).
    let out = connect_cli(&names, &tenant, "http://127.0.0.1:3900", &arn_for(&tenant)).await;
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn connect_to_a_new_url_and_disconnect_leave_no_sync_state() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("conn-state");
    let arn = arn_for(&tenant);
    assert!(
        connect_cli(&names, &tenant, "https://old.example.com", &arn)
            .await
            .status
            .success()
    );
    put_state(&client, &names, &tenant, &some_state())
        .await
        .unwrap();
    // Same workspace (say, a rotated secret): the state stays.
    assert!(
        connect_cli(&names, &tenant, "https://old.example.com", &arn)
            .await
            .status
            .success()
    );
    assert_eq!(
        get_state(&client, &names, &tenant).await.unwrap(),
        some_state()
    );

    // Another workspace: its checkpoints mean nothing there.
    assert!(
        connect_cli(&names, &tenant, "https://new.example.com", &arn)
            .await
            .status
            .success()
    );
    assert_eq!(
        get_state(&client, &names, &tenant).await.unwrap(),
        SyncState::default()
    );

    put_state(&client, &names, &tenant, &some_state())
        .await
        .unwrap();
    let out = admin(&names, &["disconnect", "--tenant", &tenant]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        get_state(&client, &names, &tenant).await.unwrap(),
        SyncState::default()
    );
    assert!(users_state(&client, &names, &tenant).await.is_none());
}

#[tokio::test]
async fn the_job_refuses_a_stored_connection_to_another_tenants_secret() {
    let (client, names) = harness::ready().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk().await);
    let standin = StandIn::start(Workspace::from_export(&fixture_dir("custom-zone-relaxed"))).await;
    let tenant = harness::unique_tenant("job-bind");
    let other = harness::unique_tenant("job-owner");
    let others_arn = secret(&sm, &format!("{PREFIX}{other}"), TOKEN).await;
    // Stored without `connect` (an older version, a hand edit): the job checks again.
    let connection = Connection {
        tenant: tenant.clone(),
        url: standin.url.clone(),
        user_id: USER_ID.into(),
        secret_arn: others_arn,
    };
    put_connection(&client, &names, &connection, 0)
        .await
        .unwrap();
    let job = Job {
        tenant: tenant.clone(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let outcome = run_job(
        &client,
        &names,
        &sm,
        &SyncConfig::default(),
        &MetricsConfig::default(),
        &job,
        deadline,
        chrono::Utc::now().timestamp_millis(),
    )
    .await;
    match outcome {
        JobOutcome::Failed { error, .. } => {
            assert!(error.contains("secret"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        standin.requests().is_empty(),
        "nothing was asked of Rocket.Chat"
    );
    assert!(
        harness::tenant_items(&client, &names.conversations, &tenant)
            .await
            .is_empty()
    );
    disconnect(&client, &names, &harness::tid(&tenant))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_job_running_during_disconnect_does_not_bring_the_state_back() {
    let (client, names) = harness::ready().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk().await);
    let standin = StandIn::start(Workspace::from_export(&fixture_dir("custom-zone-relaxed"))).await;
    let tenant = harness::unique_tenant("job-disc");
    let arn = secret(&sm, &format!("{PREFIX}{tenant}"), TOKEN).await;
    assert!(connect_cli(&names, &tenant, &standin.url, &arn)
        .await
        .status
        .success());
    standin.with(|s| {
        s.faults.delay_ms = 30;
        s.faults.only_path = "/messages".into();
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let job = Job {
        tenant: tenant.clone(),
    };
    let metrics = MetricsConfig::default();
    let config = SyncConfig::default();
    let running = run_job(
        &client,
        &names,
        &sm,
        &config,
        &metrics,
        &job,
        deadline,
        chrono::Utc::now().timestamp_millis(),
    );
    // Disconnected while the job reads rooms.
    let disconnecting = async {
        for _ in 0..200 {
            if standin.requests().iter().any(|r| r.contains("/messages")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        disconnect(&client, &names, &harness::tid(&tenant))
            .await
            .unwrap();
    };
    let (outcome, ()) = tokio::join!(running, disconnecting);
    assert!(!matches!(outcome, JobOutcome::Failed { .. }), "{outcome:?}");
    assert_eq!(
        get_state(&client, &names, &tenant).await.unwrap(),
        SyncState::default(),
        "the state is not re-created after disconnect"
    );
    assert!(users_state(&client, &names, &tenant).await.is_none());
}

#[tokio::test]
async fn one_malformed_connection_does_not_stop_the_fan_out() {
    let (client, names) = harness::ready().await;
    let config = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let tenant = harness::unique_tenant("fan-ok");
    assert!(connect_cli(
        &names,
        &tenant,
        "https://chat.example.com",
        &arn_for(&tenant)
    )
    .await
    .status
    .success());
    // A `#SYNC` item without its url (a hand edit, an older layout).
    let bad = harness::unique_tenant("fan-bad");
    client
        .put_item()
        .table_name(&names.directory)
        .item("pk", AttributeValue::S("#SYNC".into()))
        .item("sk", AttributeValue::S(bad.clone()))
        .send()
        .await
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(format!("{tenant}.fifo"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let slot = chrono::Utc::now().timestamp() / 60;
    let sent = fan_out(&client, &names, &sqs, &queue, slot).await;
    client
        .delete_item()
        .table_name(&names.directory)
        .key("pk", AttributeValue::S("#SYNC".into()))
        .key("sk", AttributeValue::S(bad.clone()))
        .send()
        .await
        .unwrap();
    let done = sent.expect("the fan-out goes on past a malformed item");
    assert!(done.sent >= 1);
    assert!(done.malformed >= 1, "counted");
    let mut tenants = Vec::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let job: Job = serde_json::from_str(m.body().unwrap()).unwrap();
            tenants.push(job.tenant);
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    assert!(tenants.contains(&tenant), "{tenants:?}");
    assert!(!tenants.contains(&bad));
    disconnect(&client, &names, &harness::tid(&tenant))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tenant_that_never_completes_a_cycle_shows_as_lagging_from_its_connection() {
    use agent_overview::admin::connect::connect;
    use agent_overview::sync::lag::{emf_lines, tenant_lags};

    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("lag");
    let now = chrono::Utc::now();
    let an_hour_ago = now - chrono::TimeDelta::hours(1);
    connect(
        &client,
        &names,
        &harness::tid(&tenant),
        "https://chat.example.com",
        USER_ID,
        &arn_for(&tenant),
        PREFIX,
        an_hour_ago,
    )
    .await
    .unwrap();
    let now_ms = now.timestamp_millis();
    let lag = |lags: Vec<agent_overview::sync::lag::TenantLag>| {
        lags.into_iter()
            .find(|l| l.tenant == tenant)
            .expect("every connected tenant is measured")
    };
    let never = lag(tenant_lags(&client, &names, now_ms).await.unwrap());
    assert_eq!((never.lag_s, never.ever_complete), (3600.0, false));
    let lines = emf_lines(
        &MetricsConfig::default(),
        std::slice::from_ref(&never),
        600.0,
        0,
        now_ms,
    );
    let lines: Vec<_> = lines.iter().map(|l| l.to_value()).collect();
    assert_eq!(lines[0]["tenant"], tenant.as_str());
    assert_eq!(lines[1]["SyncLaggingTenants"], 1, "it counts as lagging");

    // After a complete cycle the lag is measured from that cycle's start.
    let state = SyncState {
        last_complete_started_ms: Some(now_ms - 30_000),
        ..SyncState::default()
    };
    put_state(&client, &names, &tenant, &state).await.unwrap();
    let done = lag(tenant_lags(&client, &names, now_ms).await.unwrap());
    assert_eq!((done.lag_s, done.ever_complete), (30.0, true));
    disconnect(&client, &names, &harness::tid(&tenant))
        .await
        .unwrap();
}
