//! `rebuild-rollups`: recomputes a tenant's rollups from its conversations (the rebuild that
//! `import` and `generate-demo` run over the days they wrote is
//! [`crate::rollups::ingest::DaySpan`]'s).

use crate::dynamo::Client;
use chrono::NaiveDate;

use crate::config::TableNames;
use crate::domain::clock::Clock;
use crate::domain::identity::TenantId;
use crate::dynamo::StoreError;
use crate::rollups::rebuild::{RebuildSummary, Rebuilder};

#[derive(Debug, thiserror::Error)]
pub enum RollupsError {
    #[error("--from {from} is after --to {to}")]
    Order { from: NaiveDate, to: NaiveDate },
    #[error("rebuilding the rollups of tenant {tenant} failed")]
    Rebuild {
        tenant: String,
        #[source]
        source: StoreError,
    },
}

/// What `rebuild-rollups` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupsRebuilt {
    pub tenant: TenantId,
    pub summary: RebuildSummary,
}

impl std::fmt::Display for RollupsRebuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.summary;
        writeln!(
            f,
            "tenant {}: rollups of {} days rebuilt ({} conversations read, {} items written, \
             {} superseded by a later rebuild)",
            self.tenant, s.days, s.conversations_read, s.items_written, s.items_superseded
        )
    }
}

impl super::Report for RollupsRebuilt {}

/// Recomputes a tenant's rollups from its conversations: the UTC days `from..=to`, or without
/// them every day (each month from 1970-01 to a year after `today`, and every day that already
/// has rollups); `clock` stamps the rebuilds.
pub async fn rebuild_rollups(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    days: Option<(NaiveDate, NaiveDate)>,
    today: NaiveDate,
    clock: Clock,
) -> Result<RollupsRebuilt, RollupsError> {
    let tenant_id = tenant;
    let tenant = tenant.as_str();
    let rebuilder = Rebuilder::with_clock(client, names, clock);
    let result = match days {
        Some((from, to)) if from > to => return Err(RollupsError::Order { from, to }),
        Some((from, to)) => rebuilder.rebuild_days(tenant, from, to).await,
        None => rebuilder.rebuild_tenant(tenant, today).await,
    };
    let summary = result.map_err(|source| RollupsError::Rebuild {
        tenant: tenant.to_string(),
        source,
    })?;
    Ok(RollupsRebuilt {
        tenant: tenant_id.clone(),
        summary,
    })
}
