//! The reporting range: `from`/`to` dates read in the tenant's reporting zone and turned into
//! an inclusive UTC millisecond interval, as Rocket.Chat's `startOf('day')`/`endOf('day')` do.

use chrono::{Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use super::identity::ReportingTimezone;

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
        setting: &ReportingTimezone,
        caller_utc_offset: Option<f64>,
    ) -> Result<Self, UnknownZone> {
        match setting {
            ReportingTimezone::Server => Ok(ReportingZone::Utc),
            ReportingTimezone::Custom(name) => name
                .parse::<Tz>()
                .map(ReportingZone::Named)
                .map_err(|_| UnknownZone(name.clone())),
            ReportingTimezone::User => Ok(caller_utc_offset
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
}

/// Number of calendar days in `from..=to`.
pub fn days_inclusive(from: ReportDate, to: ReportDate) -> i64 {
    (to.0 - from.0).num_days() + 1
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
        ReportingZone::resolve(&ReportingTimezone::Custom(name.into()), None).unwrap()
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
        let user = ReportingTimezone::User;
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
            ReportingZone::resolve(&ReportingTimezone::Custom("Mars/Base".into()), None).is_err()
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
