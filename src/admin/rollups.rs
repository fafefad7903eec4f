//! `rebuild-rollups`, and the rebuild that `import` and `generate-demo` run over the days they
//! wrote: a local stack has no stream, so the tools keep the rollups in step themselves (in AWS
//! the stream does it too; a second rebuild writes the same items). While they write, their
//! `store::ingest::ConversationWriter` keeps each batch's days dirty (read raw).

use crate::dynamo::Client;
use chrono::NaiveDate;

use crate::config::TableNames;
use crate::domain::clock::Clock;
use crate::domain::identity::TenantId;
use crate::domain::range::utc_day_of;
use crate::store::rebuild::{RebuildSummary, Rebuilder};
use crate::store::StoreOpError;

#[derive(Debug, thiserror::Error)]
pub enum RollupsError {
    #[error("--from {from} is after --to {to}")]
    Order { from: NaiveDate, to: NaiveDate },
    #[error("rebuilding the rollups of tenant {tenant} failed")]
    Rebuild {
        tenant: String,
        #[source]
        source: StoreOpError,
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

/// The first and last UTC day of the conversations a tool wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaySpan(Option<(NaiveDate, NaiveDate)>);

impl DaySpan {
    pub fn include(&mut self, ts_ms: i64) {
        let Some(day) = utc_day_of(ts_ms) else {
            return;
        };
        self.0 = Some(match self.0 {
            None => (day, day),
            Some((first, last)) => (first.min(day), last.max(day)),
        });
    }

    /// Rebuilds the span's days (nothing when no conversation was written) on `clock`.
    pub async fn rebuild(
        &self,
        client: &Client,
        names: &TableNames,
        tenant: &str,
        clock: Clock,
    ) -> Result<RebuildSummary, StoreOpError> {
        match self.0 {
            None => Ok(RebuildSummary::default()),
            Some((from, to)) => {
                Rebuilder::with_clock(client, names, clock)
                    .rebuild_days(tenant, from, to)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_grows_to_the_first_and_last_day() {
        let mut span = DaySpan::default();
        assert_eq!(span, DaySpan(None));
        span.include(1_709_251_200_000 + 5); // 2024-03-01
        span.include(1_709_251_200_000 - 5); // 2024-02-29
        span.include(1_709_251_200_000 + 86_400_000 * 3); // 2024-03-04
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(span, DaySpan(Some((day("2024-02-29"), day("2024-03-04")))));
    }
}
