//! The scheduled path against the stand-in, dynalite and moto's Secrets Manager and SQS
//! (reached only through the SDK's AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL_SQS,
//! which `scripts/test.sh` sets when it starts moto): the fan-out enqueues one job per
//! connected tenant, the sync job reads the tenant's token from its secret and syncs it.

use std::time::Duration;

use agent_overview::admin::connect::{connect, disconnect};
use agent_overview::config::{MetricsConfig, SyncConfig};
use agent_overview::sync::scheduled::{fan_out, run_job, Job, JobOutcome};

use crate::support::export::fixture_dir;
use crate::support::harness;
use crate::support::moto::{sdk, secret};
use crate::support::rc_standin::{StandIn, Workspace, TOKEN, USER_ID};

#[tokio::test]
async fn the_fan_out_enqueues_a_job_per_connected_tenant_and_the_job_syncs_it() {
    let (client, names) = harness::ready().await;
    let config = sdk().await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let standin = StandIn::start(Workspace::from_export(&fixture_dir("custom-zone-relaxed"))).await;

    let good = harness::unique_tenant("sched");
    let bad = harness::unique_tenant("sched-bad");
    let good_arn = secret(&sm, &format!("agent-overview/rocketchat/{good}"), TOKEN).await;
    let bad_arn = secret(
        &sm,
        &format!("agent-overview/rocketchat/{bad}"),
        r#"{"token":"bad-token-7f3a"}"#,
    )
    .await;
    for (tenant, arn) in [(&good, &good_arn), (&bad, &bad_arn)] {
        connect(
            &client,
            &names,
            &harness::tid(tenant),
            &standin.url,
            USER_ID,
            arn,
            "agent-overview/rocketchat/",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    }

    let queue = sqs
        .create_queue()
        .queue_name(format!("{good}.fifo"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .unwrap();
    let slot = chrono::Utc::now().timestamp() / 60;
    let sent = fan_out(&client, &names, &sqs, &queue, slot)
        .await
        .unwrap()
        .sent;
    assert!(sent >= 2, "{sent}");
    let mut jobs: Vec<(String, String)> = Vec::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
            )
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let job: Job = serde_json::from_str(m.body().unwrap()).unwrap();
            let group = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned()
                .unwrap_or_default();
            jobs.push((job.tenant, group));
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    for tenant in [&good, &bad] {
        assert!(
            jobs.contains(&(tenant.clone(), tenant.clone())),
            "one job for {tenant}, grouped by tenant: {jobs:?}"
        );
        assert_eq!(jobs.iter().filter(|(t, _)| t == tenant).count(), 1);
    }

    let metrics = MetricsConfig::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let now = chrono::Utc::now().timestamp_millis();
    let job = Job {
        tenant: good.clone(),
    };
    match run_job(
        &client,
        &names,
        &sm,
        &SyncConfig::default(),
        &metrics,
        &job,
        deadline,
        now,
    )
    .await
    {
        JobOutcome::Synced(s) => {
            assert!(s.complete && s.full, "the first job also lists in full");
            assert_eq!(s.rooms_added, 60);
        }
        other => panic!("{other:?}"),
    }
    let stored = harness::tenant_items(&client, &names.conversations, &good).await;
    assert_eq!(stored.len(), 60);

    let job = Job {
        tenant: bad.clone(),
    };
    match run_job(
        &client,
        &names,
        &sm,
        &SyncConfig::default(),
        &metrics,
        &job,
        deadline,
        now,
    )
    .await
    {
        JobOutcome::Failed { auth, error, host } => {
            assert!(auth, "{error}");
            assert!(
                !error.contains("bad-token-7f3a"),
                "no token in the error: {error}"
            );
            assert_eq!(host, standin.url.trim_start_matches("http://"));
        }
        other => panic!("{other:?}"),
    }
    assert!(harness::tenant_items(&client, &names.conversations, &bad)
        .await
        .is_empty());

    disconnect(&client, &names, &harness::tid(&good))
        .await
        .unwrap();
    let job = Job {
        tenant: good.clone(),
    };
    assert!(matches!(
        run_job(
            &client,
            &names,
            &sm,
            &SyncConfig::default(),
            &metrics,
            &job,
            deadline,
            now
        )
        .await,
        JobOutcome::NotConnected
    ));
    disconnect(&client, &names, &harness::tid(&bad))
        .await
        .unwrap();
}
