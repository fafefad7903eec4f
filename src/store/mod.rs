//! Storage: traits returning domain types, a DynamoDB adapter and an in-memory one.

use std::future::Future;

use crate::domain::aggregate::Aggregator;
use crate::domain::host::HostMapping;
use crate::domain::identity::{CallerContext, Session, TenantSignIn};

pub mod dynamo;
pub mod memory;
pub mod plan;

pub use crate::domain::query::{FoldStats, RangeQuery};
pub use crate::dynamo::{classify, succeeded_unless, CallFailed, ReadError, StoreError};

/// Sessions, users, settings and permissions.
pub trait IdentityStore {
    /// The session stored under `base64(sha256(token))`, if any.
    fn session(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<Session>, ReadError>> + Send;

    /// The caller's user, the tenant's settings and its permission override, in one read.
    fn caller(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<CallerContext, ReadError>> + Send;

    /// The directory's entries for a host: the exact one, and the wildcard that covers it
    /// (`*.rest` of `label.rest`), in one read. A store without sign-in maps no host.
    fn host_mapping(
        &self,
        _exact: &str,
        _wildcard: Option<&str>,
    ) -> impl Future<Output = Result<HostMapping, ReadError>> + Send {
        async { Ok(HostMapping::default()) }
    }

    /// The tenant's sign-in connection, settings and permission override, in one read.
    fn tenant_sign_in(
        &self,
        _tenant: &str,
    ) -> impl Future<Output = Result<TenantSignIn, ReadError>> + Send {
        async { Ok(TenantSignIn::default()) }
    }
}

/// A store that can open its connection before the first request needs it.
pub trait WarmUp {
    /// One cheap read; its failure is only worth a warning.
    fn warm_up(&self) -> impl Future<Output = Result<(), ReadError>> + Send;
}

/// Conversations of a tenant, folded into a figure's tallies as they are read.
pub trait ConversationStore {
    fn fold(
        &self,
        query: &RangeQuery,
    ) -> impl Future<Output = Result<(Aggregator, FoldStats), ReadError>> + Send;
}
