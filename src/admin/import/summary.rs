//! What an import read, skipped and wrote, per collection, and how it is shown.

use std::collections::BTreeMap;
use std::fmt;

use crate::admin::lines::ExportFile;
use crate::domain::identity::{TenantId, TenantSettings};
use crate::dynamo::capacity::ConsumedCapacity;
use crate::rollups::rebuild::RebuildSummary;

/// What happened to one collection's file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionSummary {
    pub collection: &'static str,
    /// `None` when the export has no file for the collection.
    pub file: Option<String>,
    /// Non-blank lines read (a file read twice is counted once).
    pub lines: u64,
    /// Items written, by kind.
    pub written: BTreeMap<&'static str, u64>,
    /// Facts that are not items (agent messages counted).
    pub counted: BTreeMap<&'static str, u64>,
    /// Lines or parts not imported, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// The first malformed lines, `file line N: problem`.
    pub malformed: Vec<String>,
}

impl CollectionSummary {
    pub(super) fn new(collection: &'static str, file: Option<&ExportFile>) -> Self {
        Self {
            collection,
            file: file.map(|f| f.name.clone()),
            ..Self::default()
        }
    }

    pub(super) fn skip(&mut self, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_default() += 1;
    }

    pub(super) fn wrote(&mut self, kind: &'static str) {
        self.wrote_n(kind, 1);
    }

    pub(super) fn wrote_n(&mut self, kind: &'static str, n: u64) {
        if n > 0 {
            *self.written.entry(kind).or_default() += n;
        }
    }

    pub fn written(&self, kind: &str) -> u64 {
        self.written.get(kind).copied().unwrap_or(0)
    }

    pub fn skipped(&self, reason: &str) -> u64 {
        self.skipped.get(reason).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub tenant: TenantId,
    pub settings: TenantSettings,
    pub collections: Vec<CollectionSummary>,
    /// The rollups of the days the conversations fall on, rebuilt after writing them.
    pub rollups: RebuildSummary,
    /// What the import's DynamoDB calls consumed, as DynamoDB reported it.
    pub consumed: ConsumedCapacity,
}

impl ImportSummary {
    pub fn collection(&self, collection: &str) -> Option<&CollectionSummary> {
        self.collections.iter().find(|c| c.collection == collection)
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "import into tenant {}:", self.tenant)?;
        for c in &self.collections {
            let Some(file) = &c.file else {
                writeln!(f, "  {}.json: not in the export", c.collection)?;
                continue;
            };
            write!(f, "  {file}: {} lines read", c.lines)?;
            if !c.written.is_empty() {
                write!(f, "; written: {}", join_counts(&c.written))?;
            }
            if !c.counted.is_empty() {
                write!(f, "; counted: {}", join_counts(&c.counted))?;
            }
            let skipped: u64 = c.skipped.values().sum();
            if skipped == 0 {
                writeln!(f, "; skipped: 0")?;
            } else {
                writeln!(f, "; skipped: {skipped} ({})", join_counts(&c.skipped))?;
            }
            for m in &c.malformed {
                writeln!(f, "    {m}")?;
            }
            let unquoted = c
                .skipped("malformed")
                .saturating_sub(c.malformed.len() as u64);
            if unquoted > 0 {
                writeln!(f, "    … and {unquoted} more malformed lines")?;
            }
        }
        writeln!(
            f,
            "  rollups: {} days rebuilt, {} items written",
            self.rollups.days, self.rollups.items_written
        )?;
        writeln!(f, "  consumed capacity: {}", self.consumed)
    }
}

impl crate::admin::Report for ImportSummary {}

fn join_counts<K: fmt::Display>(counts: &BTreeMap<K, u64>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}
