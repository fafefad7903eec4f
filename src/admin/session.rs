//! Minting a login session for an existing user. Only the token's hash is stored; the raw
//! token is returned once, to be printed once.

use crate::dynamo::Client;
use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rand::distr::Alphanumeric;
use rand::Rng;

use super::Report;
use crate::config::TableNames;
use crate::domain::identity::{hash_token, Session, TenantId};
use crate::dynamo::identity_writes::{
    delete_session, end_sessions, get_settings, get_user, put_session,
};
use crate::store::StoreError;

/// Meteor's `Random.secret()` length.
pub const TOKEN_LENGTH: usize = 43;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("tenant {tenant} has no user {user_id}")]
    NoSuchUser { tenant: String, user_id: String },
    #[error("a token must be 1 to 512 visible ASCII characters")]
    BadToken,
    #[error("tenant {tenant} user {user_id}: that token is already another user's session")]
    TokenTaken { tenant: String, user_id: String },
    #[error("the session store failed")]
    Store(#[from] StoreError),
}

/// A new session. `Debug` is deliberately not derived: the token must not reach a log.
pub struct MintedSession {
    pub tenant: TenantId,
    pub user_id: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// The token alone on stdout, so a script can capture it; whose it is on stderr.
impl fmt::Display for MintedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.token)
    }
}

impl Report for MintedSession {
    fn note(&self) -> Option<String> {
        Some(format!(
            "session for user {} of tenant {}, valid until {}",
            self.user_id,
            self.tenant,
            self.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ))
    }
}

/// What `revoke-session` ended: whose session the token was, if anyone's.
pub struct RevokedSession(pub Option<Session>);

impl fmt::Display for RevokedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(s) => writeln!(
                f,
                "revoked the session of user {} of tenant {}",
                s.user_id, s.tenant
            ),
            None => writeln!(f, "no session has that token"),
        }
    }
}

impl Report for RevokedSession {}

/// How many sessions `revoke-sessions` ended.
pub struct RevokedSessions {
    pub tenant: TenantId,
    pub user_id: String,
    pub count: usize,
}

impl fmt::Display for RevokedSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tenant {}: {} session(s) of user {} revoked",
            self.tenant, self.count, self.user_id
        )
    }
}

impl Report for RevokedSessions {}

/// 43 characters of `[A-Za-z0-9]` from the thread's cryptographically secure generator.
pub fn generate_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(TOKEN_LENGTH)
        .map(char::from)
        .collect()
}

fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 512 && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Stores a session for `user_id`, issued `now` and expiring after the tenant's login
/// expiration. With `token`, that token is used (scripts and tests that need a known one);
/// minting the same token again for the same user refreshes it.
pub async fn mint_session(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    user_id: &str,
    token: Option<String>,
    now: DateTime<Utc>,
) -> Result<MintedSession, SessionError> {
    let tenant_id = tenant;
    let tenant = tenant.as_str();
    let token = match token {
        Some(t) if valid_token(&t) => t,
        Some(_) => return Err(SessionError::BadToken),
        None => generate_token(),
    };
    let Some(user) = get_user(client, &names.directory, tenant, user_id).await? else {
        return Err(SessionError::NoSuchUser {
            tenant: tenant.to_string(),
            user_id: user_id.to_string(),
        });
    };
    let days = get_settings(client, &names.directory, tenant)
        .await?
        .unwrap_or_default()
        .login_expiration_days;
    let expires_at = now + TimeDelta::days(i64::from(days));
    let session = Session {
        tenant: tenant.to_string(),
        user_id: user_id.to_string(),
        issued_at_ms: now.timestamp_millis(),
        generation: user.generation,
    };
    if !put_session(
        client,
        &names.sessions,
        &hash_token(&token),
        &session,
        expires_at.timestamp(),
    )
    .await?
    {
        return Err(SessionError::TokenTaken {
            tenant: tenant.to_string(),
            user_id: user_id.to_string(),
        });
    }
    Ok(MintedSession {
        tenant: tenant_id.clone(),
        user_id: user_id.to_string(),
        token,
        expires_at,
    })
}

/// Ends the session of one token at once (the function looks sessions up on every request).
/// The session it was, or `None` when no session has that token.
pub async fn revoke_session(
    client: &Client,
    names: &TableNames,
    token: &str,
) -> Result<RevokedSession, SessionError> {
    Ok(RevokedSession(
        delete_session(client, &names.sessions, &hash_token(token)).await?,
    ))
}

/// Ends every session of a user (a stolen device, a departure); returns how many there were.
pub async fn revoke_sessions(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    user_id: &str,
) -> Result<RevokedSessions, SessionError> {
    let count = end_sessions_of(client, names, tenant, user_id).await?;
    Ok(RevokedSessions {
        tenant: tenant.clone(),
        user_id: user_id.to_string(),
        count,
    })
}

/// Deletes every session of one user, found through the sessions index (no scan); returns
/// how many it deleted.
pub async fn end_sessions_of(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    user_id: &str,
) -> Result<usize, StoreError> {
    end_sessions(client, names, tenant.as_str(), user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_43_alphanumerics_and_differ() {
        let a = generate_token();
        let b = generate_token();
        assert_eq!(a.len(), TOKEN_LENGTH);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn given_tokens_must_be_visible_ascii() {
        assert!(valid_token("gxgXWqb89Ishvk1GHyxL2qVIVimYIHT89g4BJePeBUZ"));
        assert!(!valid_token(""));
        assert!(!valid_token("has space"));
        assert!(!valid_token("tab\t"));
        assert!(!valid_token(&"x".repeat(513)));
    }
}
