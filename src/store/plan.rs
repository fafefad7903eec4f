//! The read plan of a request: which reads answer a range. The range is cut at UTC midnights;
//! the whole UTC days inside it are read from the rollups table, the partial days at its edges
//! (and every day under the raw plan) from raw conversations in month buckets; the partial folds
//! are merged. Without a whole UTC day inside (a short range in a zone off UTC), everything is
//! read raw. Pure: no I/O, so the plan is tested on its own.

use chrono::NaiveDate;

use crate::config::QueryPlan;
use crate::domain::range::{month_spans, UtcRange};
use crate::dynamo::items;

/// One independent read of a request, run concurrently with the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedRead {
    /// Raw conversations of `range` in one month bucket.
    Raw { range: UtcRange, month: (i32, u32) },
    /// Rollups of the whole UTC days `first..=last` (within one calendar month).
    Rollups { first: NaiveDate, last: NaiveDate },
}

/// The first and last day of the rollup reads among `reads` (`None`: there are none).
pub fn rollup_span(reads: &[PlannedRead]) -> Option<(NaiveDate, NaiveDate)> {
    reads.iter().fold(None, |span, read| match (*read, span) {
        (PlannedRead::Rollups { first, last }, None) => Some((first, last)),
        (PlannedRead::Rollups { first, last }, Some((a, b))) => Some((a.min(first), b.max(last))),
        (PlannedRead::Raw { .. }, span) => span,
    })
}

/// The reads that answer `range` under `plan`.
pub fn reads_for(range: UtcRange, plan: QueryPlan) -> Vec<PlannedRead> {
    let raw = |r: UtcRange| {
        months_between(r.start_ms, r.end_ms)
            .into_iter()
            .map(move |month| PlannedRead::Raw { range: r, month })
    };
    match plan {
        QueryPlan::Raw => raw(range).collect(),
        QueryPlan::Rollups => {
            let split = range.split_utc_days();
            let mut reads: Vec<PlannedRead> = split.head.into_iter().flat_map(raw).collect();
            if let Some((first, last)) = split.whole_days {
                reads.extend(
                    month_spans(first, last)
                        .into_iter()
                        .map(|(first, last)| PlannedRead::Rollups { first, last }),
                );
            }
            reads.extend(split.tail.into_iter().flat_map(raw));
            reads
        }
    }
}

/// Every UTC month that overlaps `[start_ms, end_ms]`, oldest first.
pub fn months_between(start_ms: i64, end_ms: i64) -> Vec<(i32, u32)> {
    if start_ms > end_ms {
        return Vec::new();
    }
    let (Some(first), Some(last)) = (items::month_of(start_ms), items::month_of(end_ms)) else {
        return Vec::new();
    };
    let mut months = Vec::new();
    let (mut y, mut m) = first;
    while (y, m) <= last {
        months.push((y, m));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    months
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::range::{ReportDate, ReportingZone};

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn range(from: &str, to: &str, zone: &str) -> UtcRange {
        let zone = ReportingZone::Named(zone.parse().unwrap());
        UtcRange::from_days(
            ReportDate::parse(from).unwrap(),
            ReportDate::parse(to).unwrap(),
            &zone,
        )
    }

    #[test]
    fn the_raw_plan_is_one_unit_per_month_bucket_over_the_whole_range() {
        let r = range("2024-01-15", "2024-03-02", "UTC");
        let reads = reads_for(r, QueryPlan::Raw);
        assert_eq!(
            reads,
            [(2024, 1), (2024, 2), (2024, 3)].map(|month| PlannedRead::Raw { range: r, month })
        );
    }

    #[test]
    fn the_rollup_plan_reads_whole_utc_days_by_month_and_the_edges_raw() {
        // Kolkata, 2024-01-31 .. 2024-03-01 local: 2024-01-30T18:30Z .. 2024-03-01T18:29:59.999Z.
        let r = range("2024-01-31", "2024-03-01", "Asia/Kolkata");
        let reads = reads_for(r, QueryPlan::Rollups);
        let head = UtcRange {
            start_ms: r.start_ms,
            end_ms: UtcRange::utc_day(day("2024-01-31")).start_ms - 1,
        };
        let tail = UtcRange {
            start_ms: UtcRange::utc_day(day("2024-03-01")).start_ms,
            end_ms: r.end_ms,
        };
        assert_eq!(
            reads,
            vec![
                PlannedRead::Raw {
                    range: head,
                    month: (2024, 1)
                },
                PlannedRead::Rollups {
                    first: day("2024-01-31"),
                    last: day("2024-01-31")
                },
                PlannedRead::Rollups {
                    first: day("2024-02-01"),
                    last: day("2024-02-29")
                },
                PlannedRead::Raw {
                    range: tail,
                    month: (2024, 3)
                },
            ]
        );
    }

    #[test]
    fn a_range_without_a_whole_utc_day_is_all_raw() {
        let r = range("2024-03-01", "2024-03-01", "America/Sao_Paulo");
        assert_eq!(
            reads_for(r, QueryPlan::Rollups),
            vec![PlannedRead::Raw {
                range: r,
                month: (2024, 3)
            }]
        );
    }

    #[test]
    fn the_rollup_span_runs_from_the_first_to_the_last_whole_utc_day() {
        let r = range("2024-03-01", "2024-05-31", "America/Sao_Paulo");
        let reads = reads_for(r, QueryPlan::Rollups);
        assert_eq!(
            rollup_span(&reads),
            Some((day("2024-03-02"), day("2024-05-31")))
        );
        let single = range("2024-03-01", "2024-03-01", "America/Sao_Paulo");
        assert_eq!(rollup_span(&reads_for(single, QueryPlan::Rollups)), None);
        assert_eq!(rollup_span(&reads_for(r, QueryPlan::Raw)), None);
    }

    #[test]
    fn a_year_in_utc_is_twelve_rollup_reads() {
        let r = range("2024-01-01", "2024-12-31", "UTC");
        let reads = reads_for(r, QueryPlan::Rollups);
        assert_eq!(reads.len(), 12);
        assert!(reads
            .iter()
            .all(|u| matches!(u, PlannedRead::Rollups { .. })));
        assert_eq!(
            reads[11],
            PlannedRead::Rollups {
                first: day("2024-12-01"),
                last: day("2024-12-31")
            }
        );
    }

    #[test]
    fn months_cover_the_range_inclusively() {
        // 2023-12-31T23:00Z .. 2024-02-01T00:00Z
        assert_eq!(
            months_between(1_704_063_600_000, 1_706_745_600_000),
            vec![(2023, 12), (2024, 1), (2024, 2)]
        );
        assert_eq!(months_between(5, 5), vec![(1970, 1)]);
        assert_eq!(months_between(10, 5), Vec::<(i32, u32)>::new());
    }
}
