//! The reporting range: `from`/`to` dates read in the tenant's reporting zone and turned into
//! an inclusive UTC millisecond interval, as Rocket.Chat's `startOf('day')`/`endOf('day')` do.

use chrono::{Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use super::identity::ReportingZoneSetting;

/// The zone whose local days bound a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReportingZone {
    Utc,
    Named(Tz),
    Fixed(FixedOffset),
}

/// The tenant's reporting zone names an IANA zone that does not exist.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown IANA time zone {0:?} in the tenant's settings")]
pub struct UnknownZone(pub String);

impl ReportingZone {
    /// Rocket.Chat's three modes. `user` uses the caller's `utcOffset` only when it is a whole
    /// number of hours within real zones' offsets (−12..=14); otherwise the server zone (UTC).
    pub fn resolve(
        setting: &ReportingZoneSetting,
        caller_utc_offset: Option<f64>,
    ) -> Result<Self, UnknownZone> {
        match setting {
            ReportingZoneSetting::Server => Ok(ReportingZone::Utc),
            ReportingZoneSetting::Custom(name) => name
                .parse::<Tz>()
                .map(ReportingZone::Named)
                .map_err(|_| UnknownZone(name.clone())),
            ReportingZoneSetting::User => Ok(caller_utc_offset
                .filter(|h| h.fract() == 0.0 && (-12.0..=14.0).contains(h))
                .and_then(|h| FixedOffset::east_opt(h as i32 * 3600))
                .map_or(ReportingZone::Utc, ReportingZone::Fixed)),
        }
    }

    /// First instant of a local day, in ms since the epoch. Where midnight falls in a DST gap
    /// the day starts at the first valid instant after it; where it repeats, at the earlier.
    fn start_of_day_ms(&self, day: NaiveDate) -> i64 {
        match self {
            ReportingZone::Utc => naive_ms(day.and_hms_opt(0, 0, 0)),
            ReportingZone::Fixed(off) => first_valid_ms(off, day),
            ReportingZone::Named(tz) => first_valid_ms(tz, day),
        }
    }
}

fn naive_ms(t: Option<NaiveDateTime>) -> i64 {
    t.map_or(0, |t| t.and_utc().timestamp_millis())
}

fn first_valid_ms<Z: TimeZone>(zone: &Z, day: NaiveDate) -> i64 {
    let Some(midnight) = day.and_hms_opt(0, 0, 0) else {
        return 0;
    };
    // DST gaps last at most a few hours; step by minutes to the first local time that exists.
    for minutes in 0..=24 * 60 {
        let local = midnight + Duration::minutes(minutes);
        match zone.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.timestamp_millis(),
            LocalResult::Ambiguous(early, _) => return early.timestamp_millis(),
            LocalResult::None => continue,
        }
    }
    naive_ms(Some(midnight))
}

/// A calendar date as the API reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportDate(pub NaiveDate);

/// Why a `from`/`to` value is not a date.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must start with a date as YYYY-MM-DD")]
pub struct NotADate;

impl ReportDate {
    /// The leading `YYYY-MM-DD` of the value; a trailing time such as `T12:11:45.392Z` is
    /// ignored, as Rocket.Chat ignores it. The date must be a real calendar date (years
    /// 1000-9999), and the character after it, if any, must not be a digit.
    pub fn parse(value: &str) -> Result<Self, NotADate> {
        let bytes = value.as_bytes();
        if bytes.len() < 10 || bytes.get(10).is_some_and(u8::is_ascii_digit) {
            return Err(NotADate);
        }
        // `get`, not indexing: byte 10 may fall inside a multi-byte character ("2024-03-0é").
        let head = value.get(..10).ok_or(NotADate)?;
        let shaped = head.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
        if !shaped || head.starts_with('0') {
            return Err(NotADate);
        }
        NaiveDate::parse_from_str(head, "%Y-%m-%d")
            .map(ReportDate)
            .map_err(|_| NotADate)
    }
}

/// An inclusive UTC interval in ms: a conversation counts when `start_ms <= ts <= end_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcRange {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl UtcRange {
    /// `from` at 00:00:00.000 local to `to` at 23:59:59.999 local (the instant before the next
    /// local day starts).
    pub fn from_days(from: ReportDate, to: ReportDate, zone: &ReportingZone) -> Self {
        let next = to.0.succ_opt().unwrap_or(to.0);
        Self {
            start_ms: zone.start_of_day_ms(from.0),
            end_ms: zone.start_of_day_ms(next) - 1,
        }
    }

    pub fn contains(&self, ts_ms: i64) -> bool {
        self.start_ms <= ts_ms && ts_ms <= self.end_ms
    }

    /// The whole UTC day `day`, 00:00:00.000 to 23:59:59.999.
    pub fn utc_day(day: NaiveDate) -> Self {
        let start_ms = naive_ms(day.and_hms_opt(0, 0, 0));
        Self {
            start_ms,
            end_ms: start_ms + DAY_MS - 1,
        }
    }

    /// Cuts the range into the whole UTC days inside it and the partial days at its edges,
    /// which the reporting zone leaves wherever it puts local midnight.
    pub fn split_utc_days(&self) -> UtcDaySplit {
        if self.start_ms > self.end_ms {
            return UtcDaySplit::default();
        }
        // First whole day: the day starting at or after `start_ms`; last whole day: the day
        // ending at or before `end_ms` (days are numbered from the epoch).
        let first =
            self.start_ms.div_euclid(DAY_MS) + i64::from(self.start_ms.rem_euclid(DAY_MS) != 0);
        let last = (self.end_ms + 1).div_euclid(DAY_MS) - 1;
        let (Some(first_day), Some(last_day)) = (epoch_day(first), epoch_day(last)) else {
            return UtcDaySplit::all_raw(*self);
        };
        if first > last {
            return UtcDaySplit::all_raw(*self);
        }
        let edge = |start_ms: i64, end_ms: i64| {
            (start_ms <= end_ms).then_some(UtcRange { start_ms, end_ms })
        };
        UtcDaySplit {
            head: edge(self.start_ms, first * DAY_MS - 1),
            whole_days: Some((first_day, last_day)),
            tail: edge((last + 1) * DAY_MS, self.end_ms),
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// The UTC date `n` days after 1970-01-01, if chrono can represent it.
fn epoch_day(n: i64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(Duration::try_days(n)?)
}

/// The UTC date of an instant in ms.
pub fn utc_day_of(ts_ms: i64) -> Option<NaiveDate> {
    epoch_day(ts_ms.div_euclid(DAY_MS))
}

/// A range cut at UTC midnights: `head` and `tail` are the partial days at its edges (read
/// from raw conversations), `whole_days` the UTC days it covers entirely (read from rollups).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UtcDaySplit {
    pub head: Option<UtcRange>,
    pub whole_days: Option<(NaiveDate, NaiveDate)>,
    pub tail: Option<UtcRange>,
}

impl UtcDaySplit {
    fn all_raw(range: UtcRange) -> Self {
        Self {
            head: Some(range),
            ..Self::default()
        }
    }
}

/// Number of calendar days in `from..=to`.
pub fn days_inclusive(from: ReportDate, to: ReportDate) -> i64 {
    (to.0 - from.0).num_days() + 1
}

/// `first..=last` cut at calendar months: each span is one short rollup query (at most 31
/// items), and the spans of a long range are read concurrently.
pub fn month_spans(first: NaiveDate, last: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut chunks = Vec::new();
    let mut start = first;
    while start <= last {
        let end = last_of_month(start).min(last);
        chunks.push((start, end));
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    chunks
}

fn last_of_month(day: NaiveDate) -> NaiveDate {
    let (y, m) = if day.month() == 12 {
        (day.year() + 1, 1)
    } else {
        (day.year(), day.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .unwrap_or(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> ReportDate {
        ReportDate::parse(s).unwrap()
    }

    fn iso(ms: i64) -> String {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    }

    fn range(from: &str, to: &str, zone: ReportingZone) -> (String, String) {
        let r = UtcRange::from_days(d(from), d(to), &zone);
        (iso(r.start_ms), iso(r.end_ms))
    }

    fn named(name: &str) -> ReportingZone {
        ReportingZone::resolve(&ReportingZoneSetting::Custom(name.into()), None).unwrap()
    }

    #[test]
    fn dates_keep_only_the_leading_day() {
        assert_eq!(d("2019-05-22T12:11:45.392Z"), d("2019-05-22"));
        assert_eq!(d("2024-03-14T23:59:59Z").0.to_string(), "2024-03-14");
        for bad in [
            "last week",
            "",
            "2024-3-1",
            "2024-02-30",
            "2024-13-01",
            "20240301",
            "2024-03-011",
            "0999-01-01",
            // A multi-byte character across byte 10 (this panicked once).
            "aaaaaaaaa\u{e9}",
            "2024-03-0\u{e9}",
            "\u{1F600}\u{1F600}\u{1F600}",
        ] {
            assert_eq!(ReportDate::parse(bad), Err(NotADate), "{bad:?}");
        }
    }

    #[test]
    fn utc_days_are_whole_days() {
        assert_eq!(
            range("2024-03-01", "2024-03-01", ReportingZone::Utc),
            (
                "2024-03-01T00:00:00.000Z".into(),
                "2024-03-01T23:59:59.999Z".into()
            )
        );
    }

    #[test]
    fn custom_zones_follow_their_offsets_and_dst() {
        assert_eq!(
            range("2024-03-10", "2024-03-10", named("America/New_York")),
            (
                "2024-03-10T05:00:00.000Z".into(),
                "2024-03-11T03:59:59.999Z".into()
            ),
            "the day DST starts is 23 hours long"
        );
        assert_eq!(
            range("2024-10-08", "2024-10-08", named("Asia/Kolkata")),
            (
                "2024-10-07T18:30:00.000Z".into(),
                "2024-10-08T18:29:59.999Z".into()
            )
        );
        assert_eq!(
            range("2024-03-01", "2024-03-01", named("America/Sao_Paulo")),
            (
                "2024-03-01T03:00:00.000Z".into(),
                "2024-03-02T02:59:59.999Z".into()
            )
        );
    }

    #[test]
    fn a_midnight_in_a_dst_gap_starts_the_day_at_the_first_valid_instant() {
        // Brazil's DST began at 00:00 on 2018-11-04: local midnight did not exist.
        assert_eq!(
            range("2018-11-04", "2018-11-04", named("America/Sao_Paulo")).0,
            "2018-11-04T03:00:00.000Z"
        );
    }

    #[test]
    fn user_mode_takes_whole_hour_offsets_only() {
        let user = ReportingZoneSetting::User;
        assert_eq!(
            range(
                "2024-10-25",
                "2024-10-25",
                ReportingZone::resolve(&user, Some(-3.0)).unwrap()
            ),
            (
                "2024-10-25T03:00:00.000Z".into(),
                "2024-10-26T02:59:59.999Z".into()
            )
        );
        assert_eq!(
            range(
                "2024-10-25",
                "2024-10-25",
                ReportingZone::resolve(&user, Some(12.0)).unwrap()
            )
            .0,
            "2024-10-24T12:00:00.000Z"
        );
        for fallback in [Some(5.5), None, Some(15.0)] {
            assert_eq!(
                ReportingZone::resolve(&user, fallback).unwrap(),
                ReportingZone::Utc
            );
        }
    }

    #[test]
    fn unknown_custom_zone_is_an_error() {
        assert!(
            ReportingZone::resolve(&ReportingZoneSetting::Custom("Mars/Base".into()), None)
                .is_err()
        );
    }

    /// The raw edges (ISO instants) and the whole UTC days (dates) of a range.
    type Split = (Vec<(String, String)>, Option<(String, String)>);

    fn split(from: &str, to: &str, zone: ReportingZone) -> Split {
        let s = UtcRange::from_days(d(from), d(to), &zone).split_utc_days();
        let edges = [s.head, s.tail]
            .into_iter()
            .flatten()
            .map(|r| (iso(r.start_ms), iso(r.end_ms)))
            .collect();
        (
            edges,
            s.whole_days.map(|(a, b)| (a.to_string(), b.to_string())),
        )
    }

    #[test]
    fn a_utc_range_is_whole_days_only() {
        assert_eq!(
            split("2024-03-01", "2024-03-31", ReportingZone::Utc),
            (vec![], Some(("2024-03-01".into(), "2024-03-31".into())))
        );
        assert_eq!(
            split("2024-03-01", "2024-03-01", ReportingZone::Utc),
            (vec![], Some(("2024-03-01".into(), "2024-03-01".into())))
        );
    }

    #[test]
    fn zone_offsets_leave_partial_days_at_both_edges() {
        // Kolkata: 2024-10-07T18:30Z .. 2024-10-10T18:29:59.999Z.
        assert_eq!(
            split("2024-10-08", "2024-10-10", named("Asia/Kolkata")),
            (
                vec![
                    (
                        "2024-10-07T18:30:00.000Z".into(),
                        "2024-10-07T23:59:59.999Z".into()
                    ),
                    (
                        "2024-10-10T00:00:00.000Z".into(),
                        "2024-10-10T18:29:59.999Z".into()
                    ),
                ],
                Some(("2024-10-08".into(), "2024-10-09".into()))
            )
        );
        // Sao Paulo, one local day: no whole UTC day inside, all raw.
        let (edges, whole) = split("2024-03-01", "2024-03-01", named("America/Sao_Paulo"));
        assert_eq!(
            edges,
            vec![(
                "2024-03-01T03:00:00.000Z".into(),
                "2024-03-02T02:59:59.999Z".into()
            )]
        );
        assert_eq!(whole, None);
    }

    #[test]
    fn a_split_covers_the_range_exactly_once() {
        for zone in [
            ReportingZone::Utc,
            named("Australia/Adelaide"),
            named("America/Sao_Paulo"),
            named("Asia/Kolkata"),
            ReportingZone::Fixed(FixedOffset::east_opt(14 * 3600).unwrap()),
        ] {
            for (from, to) in [
                ("2024-04-06", "2024-04-08"),
                ("2024-10-05", "2024-10-07"),
                ("2024-01-01", "2024-12-31"),
            ] {
                let range = UtcRange::from_days(d(from), d(to), &zone);
                let s = range.split_utc_days();
                let mut pieces: Vec<(i64, i64)> = [s.head, s.tail]
                    .into_iter()
                    .flatten()
                    .map(|r| (r.start_ms, r.end_ms))
                    .collect();
                if let Some((a, b)) = s.whole_days {
                    pieces.push((UtcRange::utc_day(a).start_ms, UtcRange::utc_day(b).end_ms));
                }
                pieces.sort();
                assert_eq!(pieces.first().unwrap().0, range.start_ms, "{zone:?} {from}");
                assert_eq!(pieces.last().unwrap().1, range.end_ms, "{zone:?} {from}");
                for w in pieces.windows(2) {
                    assert_eq!(w[0].1 + 1, w[1].0, "{zone:?} {from}: contiguous");
                }
            }
        }
    }

    #[test]
    fn days_before_the_epoch_split_too() {
        let r = UtcRange {
            start_ms: -86_400_000 - 5,
            end_ms: 10,
        };
        let s = r.split_utc_days();
        assert_eq!(
            s.whole_days.map(|(a, b)| (a.to_string(), b.to_string())),
            Some(("1969-12-31".into(), "1969-12-31".into()))
        );
        assert_eq!(
            s.head,
            Some(UtcRange {
                start_ms: -86_400_005,
                end_ms: -86_400_001
            })
        );
        assert_eq!(
            s.tail,
            Some(UtcRange {
                start_ms: 0,
                end_ms: 10
            })
        );
        assert_eq!(utc_day_of(-1).unwrap().to_string(), "1969-12-31");
        assert_eq!(
            UtcRange {
                start_ms: 5,
                end_ms: 4
            }
            .split_utc_days(),
            UtcDaySplit::default()
        );
    }

    #[test]
    fn range_bounds_are_inclusive() {
        let r = UtcRange::from_days(d("2024-03-01"), d("2024-03-01"), &ReportingZone::Utc);
        assert!(r.contains(r.start_ms) && r.contains(r.end_ms));
        assert!(!r.contains(r.start_ms - 1) && !r.contains(r.end_ms + 1));
        assert_eq!(days_inclusive(d("2024-03-01"), d("2024-03-01")), 1);
        assert_eq!(days_inclusive(d("2024-02-28"), d("2024-03-01")), 3);
    }
}
