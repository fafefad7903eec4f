//! Typed configuration, read once at INIT. A missing or malformed variable stops start-up
//! with a message naming it. The DynamoDB endpoint is not configured here: the SDK reads the
//! standard `AWS_ENDPOINT_URL_DYNAMODB` itself.

use std::time::Duration;

/// Names of the DynamoDB tables and indexes, as `template.yaml` creates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// Login sessions keyed by `base64(sha256(token))`.
    pub sessions: String,
    /// Per-tenant users, settings and permission overrides.
    pub directory: String,
    /// One item per livechat conversation.
    pub conversations: String,
    /// GSI on conversations: partition `{tenant}#{YYYY-MM}`, sort `ts`.
    pub by_month_index: String,
    /// GSI on conversations: partition `{tenant}#{YYYY-MM}#{departmentId}`, sort `ts`.
    pub by_department_month_index: String,
    /// Per-day, per-scope, per-figure tallies (see `docs/data-model.md`).
    pub rollups: String,
    /// GSI on rollups (sparse, keys only): the days needing attention, which the
    /// reconciliation verifies.
    pub attention_index: String,
    /// GSI on sessions (keys only): partition `tenant`, sort `userId`; revoking and deleting a
    /// user's sessions never scans.
    pub sessions_by_user_index: String,
}

impl TableNames {
    pub const DEFAULT_BY_MONTH_INDEX: &'static str = "byMonth";
    pub const DEFAULT_BY_DEPARTMENT_MONTH_INDEX: &'static str = "byDepartmentMonth";
    pub const DEFAULT_ATTENTION_INDEX: &'static str = "byAttention";
    pub const DEFAULT_SESSIONS_BY_USER_INDEX: &'static str = "byTenantUser";

    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            sessions: required("SESSIONS_TABLE")?,
            directory: required("DIRECTORY_TABLE")?,
            conversations: required("CONVERSATIONS_TABLE")?,
            by_month_index: optional("BY_MONTH_INDEX")?
                .unwrap_or_else(|| Self::DEFAULT_BY_MONTH_INDEX.to_string()),
            by_department_month_index: optional("BY_DEPARTMENT_MONTH_INDEX")?
                .unwrap_or_else(|| Self::DEFAULT_BY_DEPARTMENT_MONTH_INDEX.to_string()),
            rollups: required("ROLLUPS_TABLE")?,
            attention_index: attention_index()?,
            sessions_by_user_index: optional("SESSIONS_BY_USER_INDEX")?
                .unwrap_or_else(|| Self::DEFAULT_SESSIONS_BY_USER_INDEX.to_string()),
        })
    }

    /// The part the rollup maintenance uses.
    pub fn rollup_tables(&self) -> RollupTables {
        RollupTables {
            conversations: self.conversations.clone(),
            by_month_index: self.by_month_index.clone(),
            rollups: self.rollups.clone(),
            attention_index: self.attention_index.clone(),
        }
    }
}

fn attention_index() -> Result<String, ConfigError> {
    Ok(optional("ATTENTION_INDEX")?
        .unwrap_or_else(|| TableNames::DEFAULT_ATTENTION_INDEX.to_string()))
}

/// What the rollups function reads and writes: it never sees sessions or the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupTables {
    pub conversations: String,
    pub by_month_index: String,
    pub rollups: String,
    pub attention_index: String,
}

impl RollupTables {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            conversations: required("CONVERSATIONS_TABLE")?,
            by_month_index: optional("BY_MONTH_INDEX")?
                .unwrap_or_else(|| TableNames::DEFAULT_BY_MONTH_INDEX.to_string()),
            rollups: required("ROLLUPS_TABLE")?,
            attention_index: attention_index()?,
        })
    }
}

/// How a request reads its range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueryPlan {
    /// Every conversation of the range, from the month-bucketed GSIs.
    Raw,
    /// Daily rollups for the whole UTC days inside the range, raw conversations for the
    /// partial days at its edges. Same answers, far fewer items for long ranges.
    #[default]
    Rollups,
}

impl std::str::FromStr for QueryPlan {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "raw" => Ok(QueryPlan::Raw),
            "rollups" => Ok(QueryPlan::Rollups),
            other => Err(format!("{other:?} is neither raw nor rollups")),
        }
    }
}

/// ReadSettings that bound the work of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSettings {
    /// Longest accepted range, in days (inclusive of both ends). Past it: 400.
    pub max_range_days: u32,
    /// Time a request may spend reading; past it the request fails whole (503), never partial.
    pub query_budget: Duration,
    /// Bucket queries in flight at once.
    pub query_concurrency: usize,
    /// `Limit` per Query page; `None` lets DynamoDB fill 1 MB pages. Tests set it small.
    pub query_page_limit: Option<i32>,
    /// Rollups for whole UTC days (the default), or every raw conversation.
    pub query_plan: QueryPlan,
}

impl Default for ReadSettings {
    fn default() -> Self {
        Self {
            max_range_days: 3660,
            query_budget: Duration::from_millis(20_000),
            query_concurrency: 16,
            query_page_limit: None,
            query_plan: QueryPlan::default(),
        }
    }
}

impl ReadSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let max_range_days = parsed("MAX_RANGE_DAYS")?.unwrap_or(defaults.max_range_days);
        if max_range_days == 0 {
            return Err(ConfigError::Invalid {
                name: "MAX_RANGE_DAYS",
                reason: "must be at least 1".into(),
            });
        }
        let budget_ms: u64 =
            parsed("QUERY_BUDGET_MS")?.unwrap_or(defaults.query_budget.as_millis() as u64);
        let query_concurrency: usize =
            parsed("QUERY_CONCURRENCY")?.unwrap_or(defaults.query_concurrency);
        if query_concurrency == 0 {
            return Err(ConfigError::Invalid {
                name: "QUERY_CONCURRENCY",
                reason: "must be at least 1".into(),
            });
        }
        let query_page_limit: Option<i32> = parsed("QUERY_PAGE_LIMIT")?;
        if matches!(query_page_limit, Some(n) if n < 1) {
            return Err(ConfigError::Invalid {
                name: "QUERY_PAGE_LIMIT",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            max_range_days,
            query_budget: Duration::from_millis(budget_ms),
            query_concurrency,
            query_page_limit,
            query_plan: parsed("QUERY_PLAN")?.unwrap_or_default(),
        })
    }
}

/// Where the per-request metrics go: CloudWatch Embedded Metric Format lines in the log, whose
/// namespace and `Stage` dimension come from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub namespace: String,
    pub stage: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            namespace: "AgentOverview".into(),
            stage: "local".into(),
        }
    }
}

impl MetricsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            namespace: optional("METRICS_NAMESPACE")?.unwrap_or(defaults.namespace),
            stage: optional("STAGE")?.unwrap_or(defaults.stage),
        })
    }
}

/// Where the tenants' Rocket.Chat tokens live: one Secrets Manager secret per tenant, named
/// `{secret_prefix}{tenant}` (template.yaml's `SyncSecretPrefix`). `connect` and every sync
/// job refuse a connection whose secret is named for another tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    pub secret_prefix: String,
    /// A tenant whose last complete cycle started longer ago than this is lagging
    /// (`SYNC_LAG_ALARM_SECONDS`, template.yaml's `SyncLagAlarmSeconds`).
    pub lag_alarm_seconds: f64,
}

impl SyncConfig {
    pub const DEFAULT_SECRET_PREFIX: &'static str = "agent-overview/rocketchat/";

    pub fn from_env() -> Result<Self, ConfigError> {
        let lag_alarm_seconds: f64 = parsed("SYNC_LAG_ALARM_SECONDS")?.unwrap_or(600.0);
        if !lag_alarm_seconds.is_finite() || lag_alarm_seconds <= 0.0 {
            return Err(ConfigError::Invalid {
                name: "SYNC_LAG_ALARM_SECONDS",
                reason: "must be a positive number of seconds".into(),
            });
        }
        Ok(Self {
            secret_prefix: optional("SYNC_SECRET_PREFIX")?
                .unwrap_or_else(|| Self::DEFAULT_SECRET_PREFIX.to_string()),
            lag_alarm_seconds,
        })
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            secret_prefix: Self::DEFAULT_SECRET_PREFIX.to_string(),
            lag_alarm_seconds: 600.0,
        }
    }
}

/// Everything the sync function (one job per queue message) needs, read once at INIT.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncFunctionConfig {
    pub tables: TableNames,
    pub metrics: MetricsConfig,
    pub sync: SyncConfig,
}

impl SyncFunctionConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tables: TableNames::from_env()?,
            metrics: MetricsConfig::from_env()?,
            sync: SyncConfig::from_env()?,
        })
    }
}

/// Everything the sync fan-out function needs, read once at INIT.
#[derive(Debug, Clone, PartialEq)]
pub struct FanOutConfig {
    pub tables: TableNames,
    pub metrics: MetricsConfig,
    pub sync: SyncConfig,
    /// The sync queue (FIFO) the jobs go to (`SYNC_QUEUE_URL`, required).
    pub queue_url: String,
}

impl FanOutConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tables: TableNames::from_env()?,
            metrics: MetricsConfig::from_env()?,
            sync: SyncConfig::from_env()?,
            queue_url: required("SYNC_QUEUE_URL")?,
        })
    }
}

/// The log filter's directives (`RUST_LOG`, default `info`); never an error: a filter that
/// cannot be parsed means `info` (see `telemetry::filter`).
pub fn log_directives() -> String {
    optional("RUST_LOG")
        .ok()
        .flatten()
        .unwrap_or_else(|| "info".into())
}

/// Everything the rollups function needs, read once at INIT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupsConfig {
    pub tables: RollupTables,
    pub metrics: MetricsConfig,
}

impl RollupsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tables: RollupTables::from_env()?,
            metrics: MetricsConfig::from_env()?,
        })
    }
}

/// Sign-in with a tenant's own Rocket.Chat logins (`GET /api/v1/me`, see `signin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInConfig {
    /// How long a positive check is reused (`ROCKETCHAT_SIGN_IN_TTL_SECONDS`, 1..=60, default
    /// 55): the bound on how long a Rocket.Chat logout takes to stop admitting here.
    pub ttl: Duration,
    /// The whole `/me` call, connect to last byte (`ROCKETCHAT_SIGN_IN_TIMEOUT_MS`,
    /// 100..=10000, default 2000); past it 503.
    pub timeout: Duration,
}

impl SignInConfig {
    /// How long a refused token (401) is remembered: a refused token never becomes valid.
    pub const REFUSED_TTL: Duration = Duration::from_secs(300);

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_values(
            parsed("ROCKETCHAT_SIGN_IN_TTL_SECONDS")?,
            parsed("ROCKETCHAT_SIGN_IN_TIMEOUT_MS")?,
        )
    }

    /// The checks of [`SignInConfig::from_env`] on values already read.
    pub fn from_values(ttl_s: Option<u64>, timeout_ms: Option<u64>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let ttl_s = ttl_s.unwrap_or(defaults.ttl.as_secs());
        if !(1..=60).contains(&ttl_s) {
            return Err(ConfigError::Invalid {
                name: "ROCKETCHAT_SIGN_IN_TTL_SECONDS",
                reason: "must be 1 to 60 (it bounds how long a logout takes to apply)".into(),
            });
        }
        let timeout_ms = timeout_ms.unwrap_or(defaults.timeout.as_millis() as u64);
        if !(100..=10_000).contains(&timeout_ms) {
            return Err(ConfigError::Invalid {
                name: "ROCKETCHAT_SIGN_IN_TIMEOUT_MS",
                reason: "must be 100 to 10000".into(),
            });
        }
        Ok(Self {
            ttl: Duration::from_secs(ttl_s),
            timeout: Duration::from_millis(timeout_ms),
        })
    }
}

impl Default for SignInConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(55),
            timeout: Duration::from_millis(2000),
        }
    }
}

/// Everything the function needs, read once at INIT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tables: TableNames,
    pub reads: ReadSettings,
    pub metrics: MetricsConfig,
    pub sign_in: SignInConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tables: TableNames::from_env()?,
            reads: ReadSettings::from_env()?,
            metrics: MetricsConfig::from_env()?,
            sign_in: SignInConfig::from_env()?,
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

fn optional(name: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::Invalid {
            name,
            reason: "not UTF-8".into(),
        }),
    }
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name)?.ok_or(ConfigError::Missing(name))
}

fn parsed<T: std::str::FromStr>(name: &'static str) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    optional(name)?
        .map(|v| {
            v.trim().parse::<T>().map_err(|e| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_plans_parse_and_default_to_rollups() {
        assert_eq!("raw".parse(), Ok(QueryPlan::Raw));
        assert_eq!("rollups".parse(), Ok(QueryPlan::Rollups));
        assert!("Raw".parse::<QueryPlan>().is_err());
        assert_eq!(ReadSettings::default().query_plan, QueryPlan::Rollups);
    }

    #[test]
    fn sign_in_settings_default_and_refuse_what_would_stretch_revocation() {
        assert_eq!(
            SignInConfig::from_values(None, None),
            Ok(SignInConfig::default())
        );
        assert_eq!(SignInConfig::default().ttl, Duration::from_secs(55));
        assert_eq!(SignInConfig::default().timeout, Duration::from_millis(2000));
        for (ttl, timeout) in [
            (Some(0), None),
            (Some(61), None),
            (None, Some(99)),
            (None, Some(10_001)),
        ] {
            assert!(
                SignInConfig::from_values(ttl, timeout).is_err(),
                "{ttl:?} {timeout:?}"
            );
        }
        assert_eq!(
            SignInConfig::from_values(Some(30), Some(500)).unwrap().ttl,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn the_rollup_tables_are_the_table_names_part() {
        let names = TableNames {
            sessions: "s".into(),
            directory: "d".into(),
            conversations: "c".into(),
            by_month_index: "m".into(),
            by_department_month_index: "dm".into(),
            rollups: "r".into(),
            attention_index: "a".into(),
            sessions_by_user_index: "u".into(),
        };
        assert_eq!(
            names.rollup_tables(),
            RollupTables {
                conversations: "c".into(),
                by_month_index: "m".into(),
                rollups: "r".into(),
                attention_index: "a".into(),
            }
        );
    }
}
