//! What one execution environment remembers between requests: checks by (tenant, URL, user
//! id, token) — as a SHA-256 of the four, so no raw token and no user id is held —, the hosts'
//! tenants, and the tenants rate-limited by their Rocket.Chat. Bounded in size; every entry
//! carries its own expiry, checked against the injected clock on every read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::me::{MeAnswer, MeUser};
use crate::domain::host::Host;
use crate::domain::identity::TenantId;

/// Entries per map; past it the expired ones go, then the one expiring first.
pub const CAPACITY: usize = 10_000;

/// The cache key of a check. Length-prefixed, so no two tuples share a key.
pub type CheckKey = [u8; 32];

pub fn check_key(tenant: &str, url: &str, user_id: &str, token: &str) -> CheckKey {
    let mut h = Sha256::new();
    for part in [tenant, url, user_id, token] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// A remembered check.
#[derive(Debug, Clone, PartialEq)]
pub enum Remembered {
    Admitted(MeUser),
    Refused,
}

/// One check in flight; everyone asking for the same key meanwhile waits for its answer.
pub type Flight = Arc<OnceCell<MeAnswer>>;

#[derive(Default)]
pub struct Cache {
    checks: Mutex<HashMap<CheckKey, (Remembered, i64)>>,
    in_flight: Mutex<HashMap<CheckKey, Flight>>,
    hosts: Mutex<HashMap<Host, (HostTenant, i64)>>,
    backoff: Mutex<HashMap<TenantId, i64>>,
}

fn get<K: std::hash::Hash + Eq, V: Clone>(
    map: &Mutex<HashMap<K, (V, i64)>>,
    key: &K,
    now_ms: i64,
) -> Option<V> {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    match map.get(key) {
        Some((v, until)) if now_ms < *until => Some(v.clone()),
        Some(_) => {
            map.remove(key);
            None
        }
        None => None,
    }
}

fn put<K: std::hash::Hash + Eq + Clone, V>(
    map: &Mutex<HashMap<K, (V, i64)>>,
    key: K,
    value: V,
    until_ms: i64,
    now_ms: i64,
) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= CAPACITY && !map.contains_key(&key) {
        map.retain(|_, (_, until)| now_ms < *until);
        if map.len() >= CAPACITY {
            let first = map
                .iter()
                .min_by_key(|(_, (_, u))| *u)
                .map(|(k, _)| k.clone());
            if let Some(k) = first {
                map.remove(&k);
            }
        }
    }
    map.insert(key, (value, until_ms));
}

/// What a host was found to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostTenant {
    Tenant(TenantId),
    /// No tenant holds the host (nor a wildcard over it).
    NoTenant,
}

impl HostTenant {
    pub fn tenant(self) -> Option<TenantId> {
        match self {
            HostTenant::Tenant(t) => Some(t),
            HostTenant::NoTenant => None,
        }
    }
}

impl Cache {
    pub fn check(&self, key: &CheckKey, now_ms: i64) -> Option<Remembered> {
        get(&self.checks, key, now_ms)
    }

    pub fn remember_check(&self, key: CheckKey, value: Remembered, until_ms: i64, now_ms: i64) {
        put(&self.checks, key, value, until_ms, now_ms);
    }

    /// What is remembered of the host, while it is: its tenant, or that it names none.
    pub fn host(&self, host: &Host, now_ms: i64) -> Option<HostTenant> {
        get(&self.hosts, host, now_ms)
    }

    pub fn remember_host(&self, host: Host, tenant: Option<TenantId>, until_ms: i64, now_ms: i64) {
        let known = match tenant {
            Some(t) => HostTenant::Tenant(t),
            None => HostTenant::NoTenant,
        };
        put(&self.hosts, host, known, until_ms, now_ms);
    }

    /// Until when the tenant's Rocket.Chat asked us to wait (429), if that is still ahead.
    pub fn backed_off_until(&self, tenant: &TenantId, now_ms: i64) -> Option<i64> {
        let mut map = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(tenant) {
            Some(until) if now_ms < *until => Some(*until),
            Some(_) => {
                map.remove(tenant);
                None
            }
            None => None,
        }
    }

    pub fn back_off(&self, tenant: &TenantId, until_ms: i64) {
        let mut map = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        let until = map.get(tenant).map_or(until_ms, |u| (*u).max(until_ms));
        map.insert(tenant.clone(), until);
    }

    /// The flight of `key`: the running one, or a new one.
    pub fn flight(&self, key: &CheckKey) -> Flight {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(*key).or_default().clone()
    }

    /// Ends `flight` (its answer is remembered by now, so later requests read the cache).
    pub fn land(&self, key: &CheckKey, flight: &Flight) {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_every_part_and_hold_no_token() {
        let k = check_key("acme", "https://c", "u1", "tok");
        assert_ne!(k, check_key("other", "https://c", "u1", "tok"));
        assert_ne!(k, check_key("acme", "https://d", "u1", "tok"));
        assert_ne!(k, check_key("acme", "https://c", "u2", "tok"));
        assert_ne!(k, check_key("acme", "https://c", "u1", "tok2"));
        assert_ne!(
            check_key("ab", "c", "u", "t"),
            check_key("a", "bc", "u", "t")
        );
    }

    #[test]
    fn entries_expire_at_their_time_and_never_later() {
        let c = Cache::default();
        let k = check_key("t", "u", "i", "x");
        c.remember_check(k, Remembered::Refused, 1_000, 0);
        assert_eq!(c.check(&k, 999), Some(Remembered::Refused));
        assert_eq!(c.check(&k, 1_000), None);
        assert_eq!(c.check(&k, 999), None, "an expired entry is gone");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = Cache::default();
        for i in 0..(CAPACITY + 10) {
            let k = check_key("t", "u", &i.to_string(), "x");
            c.remember_check(k, Remembered::Refused, 10_000 + i as i64, 0);
        }
        assert_eq!(c.checks.lock().unwrap().len(), CAPACITY);
    }

    #[test]
    fn a_back_off_holds_until_its_time() {
        let c = Cache::default();
        let t: TenantId = "acme".parse().unwrap();
        c.back_off(&t, 5_000);
        assert_eq!(c.backed_off_until(&t, 4_999), Some(5_000));
        assert_eq!(c.backed_off_until(&t, 5_000), None);
    }
}
