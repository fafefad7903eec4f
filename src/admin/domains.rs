//! `add-domain`, `remove-domain`, `list-domains`: which host names which tenant for sign-in
//! with Rocket.Chat. A host belongs to at most one tenant (a conditional write; a refusal
//! names the holder). A wildcard `*.suffix` names, for every host under it, the tenant whose
//! id is the host's first label; an exact entry wins over it.

use std::fmt;

use crate::dynamo::Client;
use chrono::{DateTime, Utc};

use super::Report;
use crate::config::TableNames;
use crate::domain::host::{BadDomain, DomainEntry, Host};
use crate::domain::identity::TenantId;
use crate::dynamo::signin::{self as store, DomainItem};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error(transparent)]
    Bad(#[from] BadDomain),
    #[error("{0} is a host: name its tenant with --tenant")]
    TenantRequired(String),
    #[error("{0} is a wildcard: its hosts' first label is the tenant, so leave out --tenant")]
    TenantWithWildcard(String),
    #[error("{domain} already belongs to tenant {holder}; remove-domain it there first")]
    Held { domain: String, holder: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `add-domain` stored.
pub struct DomainAdded(pub DomainItem);

impl fmt::Display for DomainAdded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.tenant {
            Some(t) => writeln!(f, "{} → tenant {t}", self.0.domain),
            None => writeln!(
                f,
                "{} → the tenant named by each host's first label",
                self.0.domain
            ),
        }
    }
}

impl Report for DomainAdded {
    fn note(&self) -> Option<String> {
        Some(
            "the host only chooses whose Rocket.Chat checks a login: connect the tenant \
             (connect --tenant T --url URL) for its users to sign in"
                .into(),
        )
    }
}

pub async fn add_domain(
    client: &Client,
    names: &TableNames,
    tenant: Option<&TenantId>,
    domain: &str,
    now: DateTime<Utc>,
) -> Result<DomainAdded, DomainError> {
    let entry = DomainEntry::parse(domain)?;
    let tenant = match (&entry, tenant) {
        (DomainEntry::Exact(h), None) => {
            return Err(DomainError::TenantRequired(h.as_str().into()))
        }
        (DomainEntry::Wildcard(w), Some(_)) => {
            return Err(DomainError::TenantWithWildcard(w.clone()))
        }
        (DomainEntry::Exact(host), Some(t)) => {
            refuse_if_a_wildcard_names_another(client, names, host, t).await?;
            Some(t.as_str())
        }
        (DomainEntry::Wildcard(_), None) => None,
    };
    let table = &names.directory;
    if let Some(mut holder) =
        store::put_domain(client, table, &entry, tenant, now.timestamp_millis()).await?
    {
        if holder.tenant.is_none() {
            // Not every DynamoDB returns the item with a failed condition (dynalite does not).
            if let Some(stored) = store::get_domain(client, table, entry.key()).await? {
                holder = stored;
            }
        }
        return Err(DomainError::Held {
            domain: holder.domain,
            holder: holder.tenant.unwrap_or_else(|| "(a wildcard entry)".into()),
        });
    }
    Ok(DomainAdded(DomainItem {
        domain: entry.key().to_string(),
        tenant: tenant.map(str::to_string),
    }))
}

/// A host under a wildcard already names the tenant of its first label: giving it to another
/// tenant would take it from that one.
async fn refuse_if_a_wildcard_names_another(
    client: &Client,
    names: &TableNames,
    host: &Host,
    tenant: &TenantId,
) -> Result<(), DomainError> {
    let Some((wildcard, label)) = host.wildcard() else {
        return Ok(());
    };
    if label == tenant.as_str() || label.parse::<TenantId>().is_err() {
        return Ok(());
    }
    match store::get_domain(client, &names.directory, &wildcard).await? {
        Some(_) => Err(DomainError::Held {
            domain: host.as_str().to_string(),
            holder: format!("{label} (through {wildcard})"),
        }),
        None => Ok(()),
    }
}

/// What `remove-domain` removed.
pub struct DomainRemoved {
    pub domain: String,
    pub was: Option<DomainItem>,
}

impl fmt::Display for DomainRemoved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.was {
            Some(DomainItem {
                tenant: Some(t), ..
            }) => writeln!(f, "{}: removed (was tenant {t})", self.domain),
            Some(_) => writeln!(f, "{}: wildcard removed", self.domain),
            None => writeln!(f, "{}: was not mapped", self.domain),
        }
    }
}

impl Report for DomainRemoved {}

pub async fn remove_domain(
    client: &Client,
    names: &TableNames,
    domain: &str,
) -> Result<DomainRemoved, DomainError> {
    let entry = DomainEntry::parse(domain)?;
    let was = store::delete_domain(client, &names.directory, entry.key()).await?;
    Ok(DomainRemoved {
        domain: entry.key().to_string(),
        was,
    })
}

/// `list-domains`: one line per entry, `host<TAB>tenant` (`*` for a wildcard's first label).
pub struct DomainList(pub Vec<DomainItem>);

impl fmt::Display for DomainList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{}\t{}", d.domain, d.tenant.as_deref().unwrap_or("*"))?;
        }
        Ok(())
    }
}

impl Report for DomainList {}

/// Every entry, or those naming `tenant` (its hosts and every wildcard, which names it too).
pub async fn list_domains(
    client: &Client,
    names: &TableNames,
    tenant: Option<&TenantId>,
) -> Result<DomainList, DomainError> {
    let mut all = store::list_domains(client, &names.directory).await?;
    if let Some(t) = tenant {
        all.retain(|d| d.tenant.as_deref().is_none_or(|held| held == t.as_str()));
    }
    Ok(DomainList(all))
}
