//! `connect` and `disconnect`: which tenants sign in with their Rocket.Chat and which the
//! scheduled sync keeps current, and from where. `connect` without a service account connects
//! for sign-in only (no `#SYNC` item, so the fan-out never enqueues the tenant); with one, for
//! both. `disconnect` ends both.

use std::fmt;

use crate::dynamo::Client;
use chrono::{DateTime, Utc};

use super::Report;
use crate::config::TableNames;
use crate::domain::identity::TenantId;
use crate::dynamo::sync as store;
use crate::dynamo::{signin as signin_store, StoreError};
use crate::outbound::{checked_url, UrlError};
use crate::sync::client::url_host;
use crate::sync::scheduled::secret_named_for;
use crate::sync::state::Connection;

/// Where `agent-overview-admin sync` reads the service account's token.
pub const TOKEN_VARIABLE: &str = "ROCKETCHAT_AUTH_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the workspace URL is refused")]
    BadUrl(#[from] UrlError),
    #[error("the user id must be 1 to 128 visible ASCII characters")]
    BadUserId,
    #[error("{0:?} is not the ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)")]
    BadSecretArn(String),
    #[error("the secret {arn:?} is not tenant {tenant}'s: its name must be {expected:?} (Secrets Manager adds a 6-character suffix to the ARN)")]
    NotTheTenantsSecret {
        arn: String,
        tenant: String,
        expected: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn valid_secret_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "secretsmanager"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "secret"
        && !parts[6].is_empty()
}

/// What `connect` stored, as the operator sees it.
pub enum Connected {
    /// Sign-in and the scheduled sync.
    Both(Connection),
    /// Sign-in only.
    SignIn { tenant: TenantId, url: String },
}

impl fmt::Display for Connected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Connected::Both(c) => writeln!(
                f,
                "tenant {}: connected to {} for sign-in and the scheduled sync as {} (token in {})",
                c.tenant,
                url_host(&c.url),
                c.user_id,
                c.secret_arn
            ),
            Connected::SignIn { tenant, url } => writeln!(
                f,
                "tenant {tenant}: connected to {} for sign-in only (no scheduled sync)",
                url_host(url)
            ),
        }
    }
}

impl Report for Connected {}

/// Whether `disconnect` found the tenant connected.
pub struct Disconnected {
    pub tenant: TenantId,
    pub was_connected: bool,
}

impl fmt::Display for Disconnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.was_connected {
            writeln!(f, "tenant {}: disconnected; its data stays", self.tenant)
        } else {
            writeln!(f, "tenant {}: was not connected", self.tenant)
        }
    }
}

impl Report for Disconnected {}

/// The workspace URL as stored: `https` (http only to a loopback address), without query,
/// fragment, credentials or trailing slash.
fn stored_url(url: &str) -> Result<String, ConnectError> {
    let url = checked_url(url)?;
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Connects the tenant for sign-in only: its callers' own Rocket.Chat logins are checked
/// against `url`; a scheduled sync it had is stopped (its data stays, its sync state goes).
pub async fn connect_for_sign_in(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    url: &str,
    now: DateTime<Utc>,
) -> Result<Connected, ConnectError> {
    let url = stored_url(url)?;
    store::delete_connection(client, names, tenant.as_str()).await?;
    signin_store::put_sign_in(
        client,
        &names.directory,
        tenant.as_str(),
        &url,
        now.timestamp_millis(),
    )
    .await?;
    Ok(Connected::SignIn {
        tenant: tenant.clone(),
        url,
    })
}

/// Stores (or replaces) the tenant's connection for sign-in and the scheduled sync. Nothing is
/// fetched: the token is in the secret, which only the sync function reads. The secret must
/// be named `{secret_prefix}{tenant}`. Connecting to another URL than before starts the sync
/// over (its checkpoints belong to the old workspace).
#[allow(clippy::too_many_arguments)]
pub async fn connect(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    url: &str,
    user_id: &str,
    secret_arn: &str,
    secret_prefix: &str,
    now: DateTime<Utc>,
) -> Result<Connected, ConnectError> {
    let url = stored_url(url)?;
    if user_id.is_empty() || user_id.len() > 128 || !user_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConnectError::BadUserId);
    }
    if !valid_secret_arn(secret_arn) {
        return Err(ConnectError::BadSecretArn(secret_arn.to_string()));
    }
    if !secret_named_for(secret_arn, secret_prefix, tenant.as_str()) {
        return Err(ConnectError::NotTheTenantsSecret {
            arn: secret_arn.to_string(),
            tenant: tenant.to_string(),
            expected: format!("{secret_prefix}{tenant}"),
        });
    }
    let connection = Connection {
        tenant: tenant.to_string(),
        url,
        user_id: user_id.to_string(),
        secret_arn: secret_arn.to_string(),
    };
    let before = store::get_connection(client, names, tenant.as_str()).await?;
    store::put_connection(client, names, &connection, now.timestamp_millis()).await?;
    if before.is_some_and(|b| b.url != connection.url) {
        store::delete_state(client, names, tenant.as_str()).await?;
    }
    signin_store::put_sign_in(
        client,
        &names.directory,
        tenant.as_str(),
        &connection.url,
        now.timestamp_millis(),
    )
    .await?;
    Ok(Connected::Both(connection))
}

/// Ends sign-in and the scheduled sync: removes both connections and the sync state (the next
/// connect starts with a first pass); the tenant's data stays. Callers signed in already stop
/// being admitted within the sign-in TTL.
pub async fn disconnect(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
) -> Result<Disconnected, ConnectError> {
    let sign_in = signin_store::delete_sign_in(client, &names.directory, tenant.as_str()).await?;
    let sync = store::delete_connection(client, names, tenant.as_str()).await?;
    Ok(Disconnected {
        tenant: tenant.clone(),
        was_connected: sign_in || sync,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_arns_are_checked() {
        assert!(valid_secret_arn(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:agent-overview/rocketchat/acme-AbCdEf"
        ));
        assert!(!valid_secret_arn("arn:aws:s3:::bucket"));
        assert!(!valid_secret_arn(
            "arn:aws:secretsmanager:eu-west-1:123:secret:x"
        ));
        assert!(!valid_secret_arn("token-itself"));
    }
}
