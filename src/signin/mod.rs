//! Sign-in with Rocket.Chat: a request whose token has no session here, arriving on a host of
//! a tenant connected for sign-in, is checked live against that tenant's Rocket.Chat
//! (`GET /api/v1/me` with the caller's own headers; see [`me`]).
//!
//! - The host only chooses whom to ask (see [`crate::domain::host`]); `/me` decides.
//! - A positive check is reused for `ttl` (the revocation bound) and never longer, also not
//!   while Rocket.Chat is down; a refusal is remembered for [`SignInConfig::REFUSED_TTL`].
//! - At most one check per (tenant, URL, user, token) is in flight in an environment.
//! - A 429 backs the tenant off until `X-RateLimit-Reset`; every failure to check is a 503
//!   with `Retry-After`, never a 401 (Rocket.Chat's client logs its user out on a 401) and
//!   never an answer from an unchecked token.
//! - In memory, per execution environment (see `docs/data-model.md`, "Sign-in"): a cached
//!   sign-in costs no DynamoDB request more than a session does.

pub mod cache;
pub mod me;
pub mod metrics;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use self::cache::{check_key, Cache, Remembered};
use self::me::{ask_me, Failure, MeAnswer, MeUser};
use crate::config::{MetricsConfig, SignInConfig};
use crate::domain::clock::Clock;
use crate::domain::host::{resolve, Host};
use crate::domain::identity::{CallerContext, TenantId, User};
use crate::store::{IdentityStore, ReadError};

/// `Retry-After` of a failed check that came with no reset time.
pub const RETRY_AFTER_SECONDS: u64 = 5;
/// A 429's `X-RateLimit-Reset` further ahead than this is taken as this (Rocket.Chat's window
/// is 60 s).
pub const MAX_BACKOFF_MS: i64 = 60_000;

/// Why a sign-in did not admit.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// No tenant for the host, the tenant not connected, or Rocket.Chat refused the token.
    #[error("not signed in")]
    Refused,
    /// Rocket.Chat could not be asked, or asked us to wait.
    #[error("the tenant's Rocket.Chat could not check the login ({})", .kind.kind())]
    Unavailable { kind: Failure, retry_after_s: u64 },
    #[error(transparent)]
    Store(#[from] ReadError),
}

/// The admitted caller.
#[derive(Debug)]
pub struct SignedIn {
    pub tenant: TenantId,
    pub caller: CallerContext,
}

/// The sign-in of one execution environment: its cache and its (lazily built) HTTP client.
pub struct SignIn {
    config: SignInConfig,
    clock: Clock,
    metrics: MetricsConfig,
    cache: Cache,
    http: OnceLock<reqwest::Client>,
}

impl SignIn {
    pub fn new(config: SignInConfig, clock: Clock, metrics: MetricsConfig) -> Self {
        Self {
            config,
            clock,
            metrics,
            cache: Cache::default(),
            http: OnceLock::new(),
        }
    }

    /// The caller of `token`/`user_id` on `host`, as the host's tenant's Rocket.Chat says.
    /// `reads` counts the DynamoDB requests made.
    pub async fn admit<S: IdentityStore + Sync>(
        &self,
        store: &S,
        host: Option<&str>,
        token: &str,
        user_id: &str,
        reads: &mut u64,
    ) -> Result<SignedIn, SignInError> {
        let host = host
            .and_then(Host::from_request)
            .ok_or(SignInError::Refused)?;
        let tenant = self
            .tenant_of(store, host, reads)
            .await?
            .ok_or(SignInError::Refused)?;
        *reads += 1;
        let context = store.tenant_sign_in(tenant.as_str()).await?;
        let Some(url) = context.url else {
            return Err(SignInError::Refused);
        };
        let user = self.check(&tenant, &url, token, user_id).await?;
        Ok(SignedIn {
            caller: CallerContext {
                user: Some(User {
                    id: user_id.to_string(),
                    username: user.username,
                    roles: user.roles,
                    utc_offset: user.utc_offset,
                    generation: None,
                }),
                settings: context.settings,
                view_livechat_manager_roles: context.view_livechat_manager_roles,
            },
            tenant,
        })
    }

    /// The host's tenant: remembered for the TTL (a host moved or removed applies within it,
    /// as a logout does), else one directory read.
    async fn tenant_of<S: IdentityStore + Sync>(
        &self,
        store: &S,
        host: Host,
        reads: &mut u64,
    ) -> Result<Option<TenantId>, ReadError> {
        let now = (self.clock)();
        if let Some(known) = self.cache.host(&host, now) {
            return Ok(known.tenant());
        }
        *reads += 1;
        let wildcard = host.wildcard().map(|(w, _)| w);
        let mapping = store
            .host_mapping(host.as_str(), wildcard.as_deref())
            .await?;
        let tenant = resolve(&host, &mapping);
        let until = now + self.config.ttl.as_millis() as i64;
        self.cache.remember_host(host, tenant.clone(), until, now);
        Ok(tenant)
    }

    /// The cached check, or one `/me` call shared by every request for the same key.
    async fn check(
        &self,
        tenant: &TenantId,
        url: &str,
        token: &str,
        user_id: &str,
    ) -> Result<MeUser, SignInError> {
        let key = check_key(tenant.as_str(), url, user_id, token);
        let now = (self.clock)();
        match self.cache.check(&key, now) {
            Some(Remembered::Admitted(user)) => {
                self.report(tenant, url, metrics::Outcome::CacheHit, None);
                return Ok(user);
            }
            Some(Remembered::Refused) => {
                self.report(tenant, url, metrics::Outcome::CacheHit, None);
                return Err(SignInError::Refused);
            }
            None => {}
        }
        if let Some(until) = self.cache.backed_off_until(tenant, now) {
            let kind = Failure::RateLimited(Some(until));
            self.report(tenant, url, metrics::Outcome::BackedOff, Some(kind));
            return Err(unavailable(kind, retry_after_s(until, now)));
        }
        let flight = self.cache.flight(&key);
        let asked = AtomicBool::new(false);
        let answer = flight
            .get_or_init(|| async {
                asked.store(true, Ordering::Relaxed);
                let started = (self.clock)();
                let answer = ask_me(self.http(), url, token, user_id, self.config.timeout).await;
                self.remember(tenant, key, &answer, started);
                answer
            })
            .await
            .clone();
        self.cache.land(&key, &flight);
        let outcome = if asked.load(Ordering::Relaxed) {
            metrics::Outcome::Checked
        } else {
            metrics::Outcome::CacheHit
        };
        let now = (self.clock)();
        match answer {
            MeAnswer::User(user) => {
                self.report(tenant, url, outcome, None);
                Ok(user)
            }
            MeAnswer::Refused => {
                self.report(tenant, url, outcome, None);
                Err(SignInError::Refused)
            }
            MeAnswer::Unavailable(kind) => {
                self.report(tenant, url, outcome, Some(kind));
                let retry = match self.cache.backed_off_until(tenant, now) {
                    Some(until) => retry_after_s(until, now),
                    None => RETRY_AFTER_SECONDS,
                };
                Err(unavailable(kind, retry))
            }
        }
    }

    /// What a finished check leaves behind: an admission for the TTL from when it was sent, a
    /// refusal for five minutes, a 429's back-off; other failures nothing.
    fn remember(&self, tenant: &TenantId, key: cache::CheckKey, answer: &MeAnswer, started: i64) {
        let now = (self.clock)();
        match answer {
            MeAnswer::User(user) => {
                let until = started + self.config.ttl.as_millis() as i64;
                self.cache
                    .remember_check(key, Remembered::Admitted(user.clone()), until, now);
            }
            MeAnswer::Refused => {
                let until = now + SignInConfig::REFUSED_TTL.as_millis() as i64;
                self.cache
                    .remember_check(key, Remembered::Refused, until, now);
            }
            MeAnswer::Unavailable(Failure::RateLimited(reset)) => {
                let fallback = now + RETRY_AFTER_SECONDS as i64 * 1000;
                let until = reset
                    .unwrap_or(fallback)
                    .clamp(now + 1000, now + MAX_BACKOFF_MS);
                self.cache.back_off(tenant, until);
            }
            MeAnswer::Unavailable(_) => {}
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            // Only the TLS roots can fail to load; without them no https check can succeed,
            // and a client without them fails each call (503), which the metrics show.
            me::http_client(self.config.timeout).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot build the sign-in HTTP client");
                reqwest::Client::new()
            })
        })
    }

    fn report(
        &self,
        tenant: &TenantId,
        url: &str,
        outcome: metrics::Outcome,
        failure: Option<Failure>,
    ) {
        let host = me::me_url(url)
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "?".into());
        if let Some(f) = failure {
            tracing::warn!(
                tenant = tenant.as_str(),
                host = %host,
                kind = f.kind(),
                "sign-in check failed"
            );
        }
        metrics::document(
            &self.metrics,
            tenant.as_str(),
            outcome,
            failure,
            (self.clock)(),
        )
        .emit();
    }
}

fn retry_after_s(until_ms: i64, now_ms: i64) -> u64 {
    (until_ms.saturating_sub(now_ms).max(0) as u64)
        .div_ceil(1000)
        .max(1)
}

fn unavailable(kind: Failure, retry_after_s: u64) -> SignInError {
    SignInError::Unavailable {
        kind,
        retry_after_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_built_at_init() {
        let s = SignIn::new(
            SignInConfig::default(),
            crate::domain::clock::system_clock(),
            MetricsConfig::default(),
        );
        assert!(
            s.http.get().is_none(),
            "the HTTP client waits for the first check"
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_at_least_one() {
        assert_eq!(retry_after_s(10_001, 0), 11);
        assert_eq!(retry_after_s(10_000, 0), 10);
        assert_eq!(retry_after_s(0, 5_000), 1);
    }
}
