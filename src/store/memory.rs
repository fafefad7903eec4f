//! An in-memory store with the same contract as the DynamoDB one: handler tests and the
//! reference side of the equivalence tests.

use std::collections::HashMap;
use std::sync::RwLock;

use super::{ConversationStore, FoldStats, IdentityStore, RangeQuery, ReadError, WarmUp};
use crate::domain::aggregate::Aggregator;
use crate::domain::conversation::Conversation;
use crate::domain::host::HostMapping;
use crate::domain::identity::{CallerContext, Session, TenantSettings, TenantSignIn, User};

#[derive(Debug, Default)]
struct Tenant {
    users: HashMap<String, User>,
    settings: Option<TenantSettings>,
    view_livechat_manager_roles: Option<Vec<String>>,
    conversations: Vec<Conversation>,
    sign_in_url: Option<String>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: RwLock<HashMap<String, Session>>,
    tenants: RwLock<HashMap<String, Tenant>>,
    /// Host entries (`*.suffix` for a wildcard) and their tenant (`None` for a wildcard).
    domains: RwLock<HashMap<String, Option<String>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put_session(&self, token_hash: &str, session: Session) {
        self.sessions
            .write()
            .expect("lock")
            .insert(token_hash.to_string(), session);
    }

    fn with_tenant(&self, tenant: &str, f: impl FnOnce(&mut Tenant)) {
        f(self
            .tenants
            .write()
            .expect("lock")
            .entry(tenant.to_string())
            .or_default());
    }

    pub fn put_user(&self, tenant: &str, user: User) {
        self.with_tenant(tenant, |t| {
            t.users.insert(user.id.clone(), user);
        });
    }

    pub fn put_settings(&self, tenant: &str, settings: TenantSettings) {
        self.with_tenant(tenant, |t| t.settings = Some(settings));
    }

    pub fn put_view_livechat_manager_roles(&self, tenant: &str, roles: Vec<String>) {
        self.with_tenant(tenant, |t| t.view_livechat_manager_roles = Some(roles));
    }

    pub fn put_sign_in_url(&self, tenant: &str, url: &str) {
        self.with_tenant(tenant, |t| t.sign_in_url = Some(url.to_string()));
    }

    /// `tenant` `None` for a wildcard entry (`*.suffix`).
    pub fn put_domain(&self, domain: &str, tenant: Option<&str>) {
        self.domains
            .write()
            .expect("lock")
            .insert(domain.to_string(), tenant.map(str::to_string));
    }

    pub fn put_conversation(&self, tenant: &str, conversation: Conversation) {
        self.with_tenant(tenant, |t| t.conversations.push(conversation));
    }
}

/// Nothing to open: the store is in memory.
impl WarmUp for MemoryStore {
    async fn warm_up(&self) -> Result<(), ReadError> {
        Ok(())
    }
}

impl IdentityStore for MemoryStore {
    async fn session(&self, token_hash: &str) -> Result<Option<Session>, ReadError> {
        Ok(self.sessions.read().expect("lock").get(token_hash).cloned())
    }

    async fn caller(&self, tenant: &str, user_id: &str) -> Result<CallerContext, ReadError> {
        let tenants = self.tenants.read().expect("lock");
        let t = tenants.get(tenant);
        Ok(CallerContext {
            user: t.and_then(|t| t.users.get(user_id).cloned()),
            settings: t.and_then(|t| t.settings.clone()).unwrap_or_default(),
            view_livechat_manager_roles: t.and_then(|t| t.view_livechat_manager_roles.clone()),
        })
    }

    async fn host_mapping(
        &self,
        exact: &str,
        wildcard: Option<&str>,
    ) -> Result<HostMapping, ReadError> {
        let domains = self.domains.read().expect("lock");
        Ok(HostMapping {
            exact: domains.get(exact).cloned().flatten(),
            wildcard: wildcard.is_some_and(|w| matches!(domains.get(w), Some(None))),
        })
    }

    async fn tenant_sign_in(&self, tenant: &str) -> Result<TenantSignIn, ReadError> {
        let tenants = self.tenants.read().expect("lock");
        let t = tenants.get(tenant);
        Ok(TenantSignIn {
            url: t.and_then(|t| t.sign_in_url.clone()),
            settings: t.and_then(|t| t.settings.clone()).unwrap_or_default(),
            view_livechat_manager_roles: t.and_then(|t| t.view_livechat_manager_roles.clone()),
        })
    }
}

impl ConversationStore for MemoryStore {
    async fn fold(&self, query: &RangeQuery) -> Result<(Aggregator, FoldStats), ReadError> {
        let tenants = self.tenants.read().expect("lock");
        let mut agg = Aggregator::new(query.figure);
        let mut stats = FoldStats::default();
        let dept = query.department_id.as_deref();
        let rooms = tenants
            .get(&query.tenant)
            .map(|t| t.conversations.as_slice());
        for c in rooms.unwrap_or_default() {
            if !query.range.contains(c.ts_ms) {
                continue;
            }
            if dept.is_some() && c.department_id.as_deref() != dept {
                continue;
            }
            stats.items_read += 1;
            agg.add(
                c.ts_ms,
                c.agent_for(query.figure),
                c.metric_for(query.figure),
            )
            .map_err(|e| ReadError::Internal(Box::new(e)))?;
        }
        Ok((agg, stats))
    }
}
