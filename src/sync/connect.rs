//! `connect` and `disconnect`: which tenants the scheduled sync keeps current, and from where.

use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use super::client::{url_host, RestClient};
use super::state::Connection;
use super::store::{self, SyncStoreError};
use crate::config::TableNames;
use crate::domain::identity::is_valid_tenant_id;

/// Where `agent-overview-admin sync` reads the service account's token.
pub const TOKEN_VARIABLE: &str = "ROCKETCHAT_AUTH_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0:?} is not a valid tenant id (1 to 64 of A-Z a-z 0-9 _ -)")]
    InvalidTenant(String),
    #[error("{0:?} is not an http(s) URL with a host")]
    BadUrl(String),
    #[error("the user id must be 1 to 128 visible ASCII characters")]
    BadUserId,
    #[error("{0:?} is not the ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)")]
    BadSecretArn(String),
    #[error(transparent)]
    Store(#[from] SyncStoreError),
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

/// Stores (or replaces) the tenant's connection. Nothing is fetched: the token is in the
/// secret, which only the sync function reads.
pub async fn connect(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    url: &str,
    user_id: &str,
    secret_arn: &str,
    now: DateTime<Utc>,
) -> Result<Connection, ConnectError> {
    if !is_valid_tenant_id(tenant) {
        return Err(ConnectError::InvalidTenant(tenant.to_string()));
    }
    if url_host(url) == "?" || RestClient::check_url(url).is_err() {
        return Err(ConnectError::BadUrl(url.to_string()));
    }
    if user_id.is_empty() || user_id.len() > 128 || !user_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConnectError::BadUserId);
    }
    if !valid_secret_arn(secret_arn) {
        return Err(ConnectError::BadSecretArn(secret_arn.to_string()));
    }
    let connection = Connection {
        tenant: tenant.to_string(),
        url: url.trim().to_string(),
        user_id: user_id.to_string(),
        secret_arn: secret_arn.to_string(),
    };
    store::put_connection(client, names, &connection, now.timestamp_millis()).await?;
    Ok(connection)
}

/// Removes the connection and the sync state (the next connect starts with a first pass);
/// the tenant's data stays. `false` when it was not connected.
pub async fn disconnect(
    client: &Client,
    names: &TableNames,
    tenant: &str,
) -> Result<bool, ConnectError> {
    if !is_valid_tenant_id(tenant) {
        return Err(ConnectError::InvalidTenant(tenant.to_string()));
    }
    Ok(store::delete_connection(client, names, tenant).await?)
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
