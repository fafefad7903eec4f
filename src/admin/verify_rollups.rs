//! `verify-rollups`: recompute a tenant's rollups from its conversations, report every day,
//! scope and figure whose stored rollups differ, and with `repair` rebuild those days. Unlike
//! the failure queue's records, this needs nothing from the stream, so it works at any age.

use std::fmt;

use crate::dynamo::Client;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use crate::config::TableNames;
use crate::domain::clock::Clock;
use crate::domain::identity::TenantId;
use crate::domain::range::utc_day_of;
use crate::reconcile::verify::{Verifier, VerifyReport};
use crate::rollups::rebuild::Rebuilder;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum VerifyRollupsError {
    #[error("--from {from} is after --to {to}")]
    Order { from: NaiveDate, to: NaiveDate },
    #[error("verifying the rollups of tenant {tenant} failed")]
    Verify {
        tenant: String,
        #[source]
        source: StoreError,
    },
    #[error("the clock reads {0} ms since the epoch, outside the calendar")]
    Clock(i64),
}

/// The exit status of a verification that found days still differing (the report is printed).
#[derive(Debug, thiserror::Error)]
#[error("the rollups of {days} day(s) of tenant {tenant} differ from its conversations")]
pub struct RollupsDiffer {
    pub tenant: TenantId,
    pub days: usize,
}

/// What `verify-rollups` found, for the operator (`Display`) or a script (`to_json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRollupsReport {
    pub tenant: TenantId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub repair: bool,
    pub report: VerifyReport,
}

impl VerifyRollupsReport {
    /// Some day still differs (exit status 1).
    pub fn has_drift(&self) -> bool {
        self.report.unrepaired() > 0
    }

    /// `Err` when some day still differs: the command's exit status.
    pub fn outcome(&self) -> Result<(), RollupsDiffer> {
        match self.report.unrepaired() {
            0 => Ok(()),
            days => Err(RollupsDiffer {
                tenant: self.tenant.clone(),
                days,
            }),
        }
    }

    pub fn to_json(&self) -> Value {
        let r = &self.report;
        let days: Vec<Value> = r
            .drifted
            .iter()
            .map(|d| {
                let drifts: Vec<Value> = d
                    .drifts
                    .iter()
                    .map(|x| {
                        json!({"scope": x.scope, "figure": x.figure, "differences": x.differences})
                    })
                    .collect();
                json!({"day": d.day.to_string(), "repaired": d.repaired, "drifts": drifts})
            })
            .collect();
        json!({
            "tenant": self.tenant.as_str(),
            "from": self.from.to_string(),
            "to": self.to.to_string(),
            "repair": self.repair,
            "daysChecked": r.days_checked,
            "conversationsRead": r.conversations_read,
            "driftDays": r.drifted.len(),
            "repairedDays": r.drifted.len() - r.unrepaired(),
            "drift": self.has_drift(),
            "days": days,
        })
    }
}

impl fmt::Display for VerifyRollupsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.report;
        for d in &r.drifted {
            let outcome = match (self.repair, d.repaired) {
                (false, _) => "differs",
                (true, true) => "differed; repaired",
                (true, false) => "differs; still differs after a rebuild",
            };
            writeln!(f, "{}: {outcome}", d.day)?;
            for x in &d.drifts {
                for line in &x.differences {
                    writeln!(f, "  {} {}: {line}", x.scope, x.figure)?;
                }
            }
        }
        write!(
            f,
            "tenant {}, {}..{}: {} days checked ({} conversations read); ",
            self.tenant, self.from, self.to, r.days_checked, r.conversations_read
        )?;
        match (r.drifted.len(), self.repair) {
            (0, _) => writeln!(f, "the rollups equal the conversations"),
            (n, false) => writeln!(f, "{n} day(s) differ (--repair rebuilds them)"),
            (n, true) => writeln!(f, "{n} day(s) differed, {} repaired", n - r.unrepaired()),
        }
    }
}

impl super::Report for VerifyRollupsReport {}

/// Verifies the UTC days `from..=to` of a tenant, or without them every day (as
/// `rebuild-rollups` without dates covers); a progress bar on stderr when `show_progress`.
pub async fn verify_rollups(
    client: &Client,
    names: &TableNames,
    tenant_id: &TenantId,
    days: Option<(NaiveDate, NaiveDate)>,
    repair: bool,
    show_progress: bool,
    clock: Clock,
) -> Result<VerifyRollupsReport, VerifyRollupsError> {
    let now = clock();
    let today = utc_day_of(now).ok_or(VerifyRollupsError::Clock(now))?;
    let tenant = tenant_id.as_str();
    if let Some((from, to)) = days.filter(|(from, to)| from > to) {
        return Err(VerifyRollupsError::Order { from, to });
    }
    let failed = |source| VerifyRollupsError::Verify {
        tenant: tenant.to_string(),
        source,
    };
    let verifier = Verifier::new(
        client.clone(),
        names.rollup_tables(),
        Rebuilder::with_clock(client, names, clock.clone()),
        clock,
    );
    let (from, to) = match days {
        Some(days) => days,
        None => verifier.tenant_days(tenant, today).await.map_err(failed)?,
    };
    let bar = progress_bar((to - from).num_days() as u64 + 1, show_progress);
    let report = verifier
        .verify_days(tenant, from, to, repair, &|n| bar.inc(n))
        .await
        .map_err(failed)?;
    bar.finish_and_clear();
    Ok(VerifyRollupsReport {
        tenant: tenant_id.clone(),
        from,
        to,
        repair,
        report,
    })
}

/// Days verified, drawn on stderr only when asked (and indicatif stays silent when stderr is
/// not a terminal).
fn progress_bar(days: u64, show: bool) -> ProgressBar {
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(days), target);
    bar.set_style(
        ProgressStyle::with_template("verifying [{bar:30}] {pos}/{len} days eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}
