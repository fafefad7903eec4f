//! The scheduled path: a schedule invokes the fan-out, which enqueues one job per connected
//! tenant on a FIFO queue (the tenant is the message group, so a tenant's jobs never overlap
//! while one slow or broken workspace never holds up another); the sync function runs each job
//! within its time budget, reading the tenant's token from Secrets Manager. Every job publishes
//! `SyncLagSeconds` and `SyncFailures` as EMF, with the tenant and the URL's host as properties.

use std::time::Duration;

use crate::dynamo::sync::{delete_state, for_each_connection, get_connection, get_state};
use crate::dynamo::{Client, StoreError};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::client::{url_host, AuthToken, RestClient, RetryPolicy};
use super::cycle::{sync_tenant, SyncOptions, SyncSummary};
use crate::config::{MetricsConfig, SyncConfig, TableNames};
use crate::domain::clock::advancing_from;
use crate::domain::identity::TenantId;
use crate::errors::error_chain;
use crate::telemetry::emf::{Document, Unit};

/// A full listing (removals) at most this often per tenant.
pub const FULL_EVERY_MS: i64 = 24 * 3600 * 1000;
/// Left of the function's time when the job stops starting rooms: writes and the checkpoint.
pub const BUDGET_MARGIN: Duration = Duration::from_secs(45);

/// One job: the tenant to sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub tenant: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FanOutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("SendMessageBatch failed")]
    Send(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0} jobs were not accepted by the queue")]
    Refused(usize),
}

/// Whether `arn` names the secret `{prefix}{tenant}`: Secrets Manager's ARN ends with the
/// secret's name, a `-` and six characters of its own. A partial ARN (without them) is
/// refused: Secrets Manager may resolve it to another secret whose name starts the same.
pub fn secret_named_for(arn: &str, prefix: &str, tenant: &str) -> bool {
    let Some(name) = arn.splitn(7, ':').nth(6) else {
        return false;
    };
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix(tenant))
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|suffix| {
            suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// What one fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanOut {
    /// Jobs enqueued.
    pub sent: u64,
    /// `#SYNC` items that are not connections (logged by key, skipped).
    pub malformed: u64,
}

/// Enqueues one job per connected tenant. `slot` (e.g. the schedule's minute) makes a
/// repeated invocation for the same slot a duplicate the queue drops. A malformed connection
/// item is skipped (and counted), never the end of the fan-out.
pub async fn fan_out(
    client: &Client,
    names: &TableNames,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    slot: i64,
) -> Result<FanOut, FanOutError> {
    let mut batch: Vec<SendMessageBatchRequestEntry> = Vec::new();
    let mut sent = 0u64;
    let mut failure: Option<FanOutError> = None;
    let (_, malformed) = for_each_connection(client, names, async |c| {
        let body = serde_json::to_string(&Job {
            tenant: c.tenant.clone(),
        })
        .unwrap_or_default();
        let entry = SendMessageBatchRequestEntry::builder()
            .id(format!("m{}", batch.len()))
            .message_body(body)
            .message_group_id(&c.tenant)
            .message_deduplication_id(format!("{}-{slot}", c.tenant))
            .build();
        match entry {
            Ok(e) => batch.push(e),
            Err(e) => failure = Some(FanOutError::Send(Box::new(e))),
        }
        if batch.len() == 10 {
            if let Err(e) = send(sqs, queue_url, std::mem::take(&mut batch)).await {
                failure.get_or_insert(e);
            } else {
                sent += 10;
            }
        }
        Ok(())
    })
    .await?;
    if !batch.is_empty() {
        let n = batch.len() as u64;
        send(sqs, queue_url, batch).await?;
        sent += n;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(FanOut { sent, malformed }),
    }
}

async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    entries: Vec<SendMessageBatchRequestEntry>,
) -> Result<(), FanOutError> {
    let out = sqs
        .send_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| FanOutError::Send(Box::new(e)))?;
    if !out.failed.is_empty() {
        return Err(FanOutError::Refused(out.failed.len()));
    }
    Ok(())
}

/// What one job did, for its log line and metrics.
#[derive(Debug)]
pub enum JobOutcome {
    Synced(Box<SyncSummary>),
    /// The tenant was disconnected after the job was enqueued.
    NotConnected,
    /// Another sync of the tenant (a manual `sync`) holds its lease; this job did nothing.
    Busy,
    Failed {
        host: String,
        /// The token was refused (401) or lacks a permission (403).
        auth: bool,
        error: String,
    },
}

/// Runs one job until `deadline`, then writes its EMF line. Failures are reported (log and
/// metric), not raised: the next scheduled job is the retry.
#[allow(clippy::too_many_arguments)]
pub async fn run_job(
    client: &Client,
    names: &TableNames,
    secrets: &aws_sdk_secretsmanager::Client,
    config: &SyncConfig,
    metrics: &MetricsConfig,
    job: &Job,
    deadline: Instant,
    now_ms: i64,
) -> JobOutcome {
    let outcome = sync_job(client, names, secrets, config, job, deadline, now_ms).await;
    let lag = match get_state(client, names, &job.tenant).await {
        Ok(s) => s
            .last_complete_started_ms
            .map(|t| (now_ms.max(t) - t) as f64 / 1000.0),
        Err(_) => None,
    };
    emf_line(metrics, &job.tenant, &outcome, lag, now_ms).emit();
    match &outcome {
        JobOutcome::Synced(s) => tracing::info!(
            tenant = %job.tenant, host = %s.host, complete = s.complete,
            rooms_added = s.rooms_added, rooms_changed = s.rooms_changed,
            rooms_removed = s.rooms_removed, requests = s.requests, "sync job done"
        ),
        JobOutcome::NotConnected => {
            tracing::info!(tenant = %job.tenant, "tenant not connected; job dropped")
        }
        JobOutcome::Busy => {
            tracing::info!(tenant = %job.tenant, "another sync of the tenant is running; job skipped")
        }
        JobOutcome::Failed { host, auth, error } => tracing::error!(
            tenant = %job.tenant, host = %host, auth, error = %error, "sync job failed"
        ),
    }
    outcome
}

async fn sync_job(
    client: &Client,
    names: &TableNames,
    secrets: &aws_sdk_secretsmanager::Client,
    config: &SyncConfig,
    job: &Job,
    deadline: Instant,
    now_ms: i64,
) -> JobOutcome {
    let failed = |host: &str, auth: bool, error: String| JobOutcome::Failed {
        host: host.to_string(),
        auth,
        error,
    };
    let Ok(tenant) = job.tenant.parse::<TenantId>() else {
        return failed(
            "?",
            false,
            format!("{:?} is not a valid tenant id", job.tenant),
        );
    };
    let connection = match get_connection(client, names, &job.tenant).await {
        Ok(Some(c)) => c,
        Ok(None) => return JobOutcome::NotConnected,
        Err(e) => return failed("?", false, error_chain(&e)),
    };
    let host = url_host(&connection.url);
    // Checked again here: a connection stored by an older version or by hand must not send
    // another tenant's token (nor write its workspace into this tenant).
    if !secret_named_for(
        &connection.secret_arn,
        &config.secret_prefix,
        tenant.as_str(),
    ) {
        return failed(
            &host,
            false,
            format!(
                "the connection's secret is not named {}{} (another tenant's?); connect again",
                config.secret_prefix, tenant
            ),
        );
    }
    let token = match secrets
        .get_secret_value()
        .secret_id(&connection.secret_arn)
        .send()
        .await
    {
        Ok(out) => match out.secret_string().and_then(token_of) {
            Some(t) => t,
            None => return failed(&host, true, "the secret holds no token".into()),
        },
        Err(e) => {
            return failed(
                &host,
                true,
                format!("reading the token's secret failed: {}", error_chain(&e)),
            )
        }
    };
    let rc = match RestClient::new(
        &connection.url,
        &connection.user_id,
        token,
        RetryPolicy::default(),
        advancing_from(now_ms),
    ) {
        Ok(rc) => rc.with_deadline(Some(deadline)),
        Err(e) => return failed(&host, false, error_chain(&e)),
    };
    let state = match get_state(client, names, &job.tenant).await {
        Ok(s) => s,
        Err(e) => return failed(&host, false, error_chain(&e)),
    };
    let options = SyncOptions {
        full: state
            .last_full_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= FULL_EVERY_MS),
        // The conversations table's stream keeps the rollups in step.
        rebuild_rollups: false,
        progress: None,
        deadline: Some(deadline),
        writer: Default::default(),
    };
    let outcome = match sync_tenant(client, names, &tenant, &rc, &options, now_ms).await {
        Ok(summary) => JobOutcome::Synced(Box::new(summary)),
        Err(e) if e.is_busy() => JobOutcome::Busy,
        // The chain may quote a server's document (a setting's value, a date): never the token.
        Err(e) => failed(&host, e.is_auth(), rc.redact(&error_chain(&e))),
    };
    // Disconnected, or connected elsewhere, while the job ran: the state it saved belongs to
    // no connection (or to the old workspace); it must not outlive the change.
    match get_connection(client, names, tenant.as_str()).await {
        Ok(Some(now)) if now.url == connection.url => outcome,
        Ok(_) => match delete_state(client, names, tenant.as_str()).await {
            Ok(()) => {
                tracing::info!(tenant = %tenant, "disconnected or moved during the job; its state is dropped");
                JobOutcome::NotConnected
            }
            Err(e) => failed(&host, false, error_chain(&e)),
        },
        Err(e) => failed(&host, false, error_chain(&e)),
    }
}

/// The secret is the token itself, or JSON with a `token` field.
fn token_of(secret: &str) -> Option<AuthToken> {
    match serde_json::from_str::<Value>(secret) {
        Ok(Value::Object(map)) => map
            .get("token")
            .and_then(Value::as_str)
            .and_then(AuthToken::new),
        _ => AuthToken::new(secret),
    }
}

/// One EMF document: `SyncFailures` (0 or 1) and, when a cycle ever finished, `SyncLagSeconds`
/// (now minus the start of the last finished cycle). No dimension but `Stage`: the tenant is
/// a property, searchable in Logs Insights without a metric per tenant.
pub fn emf_line(
    metrics: &MetricsConfig,
    tenant: &str,
    outcome: &JobOutcome,
    lag_s: Option<f64>,
    now_ms: i64,
) -> Document {
    let failed = matches!(outcome, JobOutcome::Failed { .. });
    let mut doc = Document::new(metrics, now_ms)
        .property("tenant", tenant)
        .metric("SyncFailures", Unit::Count, if failed { 1 } else { 0 });
    if let Some(lag) = lag_s {
        doc = doc.metric("SyncLagSeconds", Unit::Seconds, lag);
    }
    match outcome {
        JobOutcome::Synced(s) => doc
            .property("host", s.host.as_str())
            .property("complete", s.complete)
            .property("requests", s.requests)
            // Rooms a limit refused (their ids are in the log's warnings).
            .metric("SyncRoomsInvalid", Unit::Count, s.rooms_invalid)
            // What the cycle cost in DynamoDB, per tenant (a property) in Logs Insights.
            .metric("ConsumedWriteCapacity", Unit::Count, s.consumed.write_units)
            .metric("ConsumedReadCapacity", Unit::Count, s.consumed.read_units),
        JobOutcome::Failed { host, auth, .. } => doc
            .property("host", host.as_str())
            .property("authFailure", *auth),
        JobOutcome::NotConnected | JobOutcome::Busy => doc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_is_bound_to_its_tenant_by_name() {
        let arn =
            |name: &str| format!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:{name}");
        let p = "agent-overview/rocketchat/";
        assert!(secret_named_for(
            &arn("agent-overview/rocketchat/acme-AbCdEf"),
            p,
            "acme"
        ));
        assert!(!secret_named_for(
            &arn("agent-overview/rocketchat/globex-AbCdEf"),
            p,
            "acme"
        ));
        assert!(!secret_named_for(
            &arn("agent-overview/rocketchat/acme-x-AbCdEf"),
            p,
            "acme"
        ));
        assert!(
            !secret_named_for(&arn("agent-overview/rocketchat/acme"), p, "acme"),
            "partial ARN"
        );
        assert!(!secret_named_for(&arn("other/acme-AbCdEf"), p, "acme"));
        assert!(!secret_named_for("acme-AbCdEf", p, "acme"));
        // A tenant whose id extends another's is still told apart.
        assert!(secret_named_for(
            &arn("agent-overview/rocketchat/acme-x-AbCdEf"),
            p,
            "acme-x"
        ));
    }

    #[test]
    fn the_secret_is_the_token_or_json_holding_it() {
        assert!(token_of("abc").is_some());
        assert!(token_of(r#"{"token":"abc"}"#).is_some());
        assert!(token_of(r#"{"other":"abc"}"#).is_none());
        assert!(token_of("  ").is_none());
    }

    #[test]
    fn a_synced_jobs_document_carries_the_capacity_it_consumed() {
        let summary = crate::sync::cycle::SyncSummary {
            consumed: crate::dynamo::capacity::ConsumedCapacity {
                read_units: 4.5,
                write_units: 120.0,
            },
            ..Default::default()
        };
        let outcome = JobOutcome::Synced(Box::new(summary));
        let doc = emf_line(&MetricsConfig::default(), "acme", &outcome, None, 1).to_value();
        assert_eq!(doc["ConsumedWriteCapacity"], 120.0);
        assert_eq!(doc["ConsumedReadCapacity"], 4.5);
        let declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].to_string();
        assert!(declared.contains("\"ConsumedWriteCapacity\""), "{declared}");
        assert!(declared.contains("\"ConsumedReadCapacity\""), "{declared}");
    }

    #[test]
    fn a_job_skipped_for_a_running_sync_is_no_failure() {
        let doc = emf_line(
            &MetricsConfig::default(),
            "acme",
            &JobOutcome::Busy,
            None,
            1,
        )
        .to_value();
        assert_eq!(doc["SyncFailures"], 0);
    }

    #[test]
    fn the_tenant_is_a_property_not_a_dimension() {
        let m = MetricsConfig::default();
        let outcome = JobOutcome::Failed {
            host: "chat.example.com".into(),
            auth: true,
            error: "401".into(),
        };
        let doc = emf_line(&m, "acme", &outcome, Some(42.5), 1).to_value();
        assert_eq!(doc["tenant"], "acme");
        assert_eq!(doc["SyncFailures"], 1);
        assert_eq!(doc["SyncLagSeconds"], 42.5);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Stage"]])
        );
        assert!(
            !doc.to_string().contains("401"),
            "no error text in the metric line"
        );
    }
}
