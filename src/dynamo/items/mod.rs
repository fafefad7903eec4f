//! The one place that knows how domain values are laid out as DynamoDB items
//! (see `docs/data-model.md`). Reading is fallible and names the item's key on failure.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Datelike, Utc};

mod conversation;
mod identity;
mod tallies;

pub use conversation::*;
pub use identity::*;
pub use tallies::*;

pub type Item = HashMap<String, AttributeValue>;

/// Attribute names, shared by the writers, the readers and the query projections.
pub mod attr {
    pub const TOKEN_HASH: &str = "tokenHash";
    pub const TENANT: &str = "tenant";
    pub const USER_ID: &str = "userId";
    pub const ISSUED_AT: &str = "issuedAt";
    pub const EXPIRES_AT: &str = "expiresAt";
    /// On users and sessions: which incarnation of a user id a session belongs to.
    pub const GENERATION: &str = "generation";

    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const USERNAME: &str = "username";
    pub const ROLES: &str = "roles";
    pub const UTC_OFFSET: &str = "utcOffset";
    pub const REPORTING_TIMEZONE: &str = "reportingTimezone";
    pub const CUSTOM_TIMEZONE: &str = "customTimezone";
    pub const LOGIN_EXPIRATION_DAYS: &str = "loginExpirationDays";

    pub const ROOM_ID: &str = "roomId";
    pub const TS: &str = "ts";
    pub const MONTH: &str = "month";
    pub const DEPT_MONTH: &str = "deptMonth";
    pub const DEPARTMENT_ID: &str = "departmentId";
    pub const OPEN: &str = "open";
    pub const AGENT: &str = "agent";
    pub const RESPONDER: &str = "responder";
    pub const CHAT_DURATION: &str = "chatDuration";
    pub const FIRST_RESPONSE: &str = "firstResponse";
    pub const AVG_RESPONSE: &str = "avgResponse";
    pub const FIRST_REACTION: &str = "firstReaction";
    pub const AGENT_MESSAGES: &str = "agentMessages";

    pub const TALLIES: &str = "tallies";
    pub const VERSION: &str = "version";
    pub const DEPARTMENTS: &str = "departments";
    pub const CHANGED: &str = "changed";
    pub const BUILT: &str = "built";
    pub const PENDING: &str = "pending";
    pub const OVERFLOW: &str = "overflow";
    pub const WRITTEN: &str = "departmentsWritten";
    pub const WRITERS: &str = "writers";
    pub const ATTENTION: &str = "attention";
    pub const LAST_CHANGE_AT: &str = "lastChangeAt";
}

/// Sort keys of the directory table.
pub mod sk {
    pub const SETTINGS: &str = "SETTINGS";
    pub fn user(user_id: &str) -> String {
        format!("USER#{user_id}")
    }
    pub fn permission(permission: &str) -> String {
        format!("PERMISSION#{permission}")
    }
}

/// `YYYY-MM` of a UTC instant in ms: the bucket of the GSIs' partition keys.
pub fn month_of(ts_ms: i64) -> Option<(i32, u32)> {
    let t: DateTime<Utc> = DateTime::from_timestamp_millis(ts_ms)?;
    Some((t.year(), t.month()))
}

pub fn month_key(tenant: &str, (year, month): (i32, u32)) -> String {
    format!("{tenant}#{year:04}-{month:02}")
}

pub fn dept_month_key(tenant: &str, ym: (i32, u32), department_id: &str) -> String {
    format!("{}#{department_id}", month_key(tenant, ym))
}

/// The key of a directory item: the tenant, and the item's sort key.
pub fn directory_key(tenant: &str, sort_key: &str) -> Item {
    Item::from([
        (attr::PK.to_string(), AttributeValue::S(tenant.to_string())),
        (
            attr::SK.to_string(),
            AttributeValue::S(sort_key.to_string()),
        ),
    ])
}

/// How a user's directory item is named in errors (and so in logs): the tenant and a
/// fingerprint of the user id, the first 12 hex digits of its SHA-256, never the id itself,
/// which is what callers send as `X-User-Id`. `printf %s "$USER_ID" | sha256sum | cut -c1-12`
/// tells whether a given user's item is the one named.
pub fn user_key_for_logs(tenant: &str, user_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(user_id.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{tenant}/USER#<sha256:{hex}>")
}

pub fn conversation_pk(tenant: &str, room_id: &str) -> String {
    format!("{tenant}#{room_id}")
}

/// A stored item that cannot be read as what its table promises.
#[derive(Debug, thiserror::Error)]
#[error("malformed item {key}: {problem}")]
pub struct MalformedItem {
    pub key: String,
    pub problem: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn string_list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v.clone())).collect())
}

/// f64 as a DynamoDB number: Rust prints the shortest string that reads back as the same
/// double, so stored metrics keep full precision.
fn f(v: f64) -> AttributeValue {
    AttributeValue::N(format!("{v:?}").trim_end_matches(".0").to_string())
}

/// Typed reads of one item's attributes; every failure names the item's key.
pub struct Reader<'a> {
    item: &'a Item,
    key: &'a str,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item, key: &'a str) -> Self {
        Self { item, key }
    }

    pub fn malformed(&self, problem: impl Into<String>) -> MalformedItem {
        MalformedItem {
            key: self.key.to_string(),
            problem: problem.into(),
        }
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, MalformedItem> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(self.malformed(format!("{name} is not a string"))),
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str, MalformedItem> {
        self.opt_str(name)?
            .ok_or_else(|| self.malformed(format!("{name} is missing")))
    }

    pub fn opt_number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, MalformedItem> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse::<T>()
                .map(Some)
                .map_err(|_| self.malformed(format!("{name} is not a valid number"))),
            Some(_) => Err(self.malformed(format!("{name} is not a number"))),
        }
    }

    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, MalformedItem> {
        self.opt_number(name)?
            .ok_or_else(|| self.malformed(format!("{name} is missing")))
    }

    /// A finite f64 metric (seconds); NaN or infinity is malformed.
    pub fn opt_metric(&self, name: &str) -> Result<Option<f64>, MalformedItem> {
        match self.opt_number::<f64>(name)? {
            Some(x) if !x.is_finite() => Err(self.malformed(format!("{name} is not finite"))),
            other => Ok(other),
        }
    }

    pub fn string_list(&self, name: &str) -> Result<Vec<String>, MalformedItem> {
        match self.item.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::L(values)) => values
                .iter()
                .map(|v| match v {
                    AttributeValue::S(s) => Ok(s.clone()),
                    _ => Err(self.malformed(format!("{name} holds a non-string"))),
                })
                .collect(),
            Some(AttributeValue::Ss(values)) => Ok(values.clone()),
            Some(_) => Err(self.malformed(format!("{name} is not a list"))),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, MalformedItem> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.malformed(format!("{name} is not a boolean"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::aggregate::Aggregator;
    use crate::domain::conversation::Conversation;
    use crate::domain::figure::Figure;
    use crate::domain::identity::{ReportingZoneSetting, TenantSettings};
    use crate::domain::rollup::Scope;

    fn sample() -> Conversation {
        Conversation {
            room_id: "R1".into(),
            ts_ms: 1_709_287_200_123,
            department_id: Some("D1".into()),
            open: Some(false),
            agent: Some("kim".into()),
            responder: Some("jane".into()),
            chat_duration: Some(1585.352),
            first_response: Some(0.0),
            avg_response: Some(0.1 + 0.2),
            first_reaction: None,
            agent_messages: 3,
        }
    }

    #[test]
    fn conversation_round_trips_with_full_precision() {
        let c = sample();
        let item = conversation_item("acme", &c).unwrap();
        assert_eq!(item[attr::MONTH], AttributeValue::S("acme#2024-03".into()));
        assert_eq!(
            item[attr::DEPT_MONTH],
            AttributeValue::S("acme#2024-03#D1".into())
        );
        assert_eq!(read_conversation(&item, "k").unwrap(), c);
    }

    #[test]
    fn no_department_means_no_department_index_entry() {
        let mut c = sample();
        c.department_id = None;
        let item = conversation_item("acme", &c).unwrap();
        assert!(!item.contains_key(attr::DEPT_MONTH));
    }

    #[test]
    fn malformed_items_name_their_key() {
        let mut item = conversation_item("acme", &sample()).unwrap();
        item.insert(attr::CHAT_DURATION.into(), AttributeValue::S("x".into()));
        let err = read_conversation(&item, "acme#R1").unwrap_err();
        assert_eq!(err.key, "acme#R1");
        assert!(err.to_string().contains("chatDuration"));
    }

    #[test]
    fn rollup_items_round_trip_every_tally_field() {
        let day = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        for figure in Figure::ALL {
            let mut agg = Aggregator::new(figure);
            agg.add(20, Some("kim"), Some(0.1)).unwrap();
            agg.add(10, Some("o\"neil"), Some(1585.352)).unwrap();
            agg.add(30, Some("kim"), Some(0.2)).unwrap();
            let item = rollup_item("acme", &Scope::Department("D#1".into()), day, &agg, 99);
            assert_eq!(item[attr::PK], AttributeValue::S("acme#D#D#1".into()));
            assert_eq!(
                item[attr::SK],
                AttributeValue::S(format!("{}#2024-03-01", figure.name()))
            );
            let mut back = Aggregator::new(figure);
            fold_rollup_item(&mut back, &item).unwrap();
            let mut expected: Vec<_> = agg.tallies().map(|(a, t)| (a.to_string(), *t)).collect();
            let mut got: Vec<_> = back.tallies().map(|(a, t)| (a.to_string(), *t)).collect();
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            got.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(got, expected, "{figure:?}");
            assert_eq!(back.into_rows(), agg.into_rows());
        }
    }

    #[test]
    fn an_empty_rollup_is_a_tombstone_that_folds_to_nothing() {
        let day = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        let item = rollup_item(
            "t",
            &Scope::All,
            day,
            &Aggregator::new(Figure::TotalMessages),
            1,
        );
        assert_eq!(item[attr::TALLIES], AttributeValue::S("{}".into()));
        let mut agg = Aggregator::new(Figure::TotalMessages);
        fold_rollup_item(&mut agg, &item).unwrap();
        assert!(agg.is_empty());
    }

    #[test]
    fn malformed_rollups_name_their_key() {
        let day = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        let mut agg = Aggregator::new(Figure::BestFirstResponseTime);
        agg.add(1, Some("kim"), Some(3.0)).unwrap();
        let good = rollup_item("t", &Scope::All, day, &agg, 1);
        for (tallies, problem) in [
            ("[1,2]", "tallies are not valid"),
            (r#"{"kim":[0,"x",null,0,1]}"#, "invalid stored exact sum"),
            (r#"{"kim":[0,"0","NaN",0,1]}"#, "not a finite number"),
            (r#"{"kim":[0,"0","abc",0,1]}"#, "not a finite number"),
            (r#"{"kim":[-1,"0",null,0,1]}"#, "tallies are not valid"),
        ] {
            let mut bad = good.clone();
            bad.insert(attr::TALLIES.into(), AttributeValue::S(tallies.into()));
            let err = fold_rollup_item(&mut Aggregator::new(Figure::BestFirstResponseTime), &bad)
                .unwrap_err();
            assert_eq!(
                err.key, "t#ALL/Best_first_response_time#2024-03-01",
                "{tallies}"
            );
            assert!(err.to_string().contains(problem), "{tallies}: {err}");
        }
        let mut missing = good.clone();
        missing.remove(attr::TALLIES);
        assert!(fold_rollup_item(&mut Aggregator::new(Figure::TotalMessages), &missing).is_err());
    }

    #[test]
    fn sort_keys_name_their_day_and_rollups_their_version() {
        let day = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(day_state_sk(day), "DAY#2024-02-29");
        assert_eq!(day_of_sk(&day_state_sk(day)), Some(day));
        let figure = Figure::AvgChatDuration;
        assert_eq!(day_of_sk(&rollup_sk(figure, day)), Some(day));
        let item = rollup_item("t", &Scope::All, day, &Aggregator::new(figure), 7);
        assert_eq!(rollup_version(&item).unwrap(), Some(7));
    }

    #[test]
    fn indexed_conversations_take_their_room_from_pk() {
        let item = conversation_item("acme", &sample()).unwrap();
        let (pk, c) = read_indexed_conversation(&item, "acme").unwrap();
        assert_eq!(pk, "acme#R1");
        assert_eq!(
            c,
            Conversation {
                open: None,
                ..sample()
            }
        );
        assert!(read_indexed_conversation(&item, "globex").is_err());
        let (tenant, pk, c) = read_conversation_image(&item).unwrap();
        assert_eq!(
            (tenant.as_str(), pk.as_str(), c),
            ("acme", "acme#R1", sample())
        );
    }

    #[test]
    fn a_user_item_is_named_without_its_user_id() {
        let key = user_key_for_logs("acme", "u-secret");
        assert!(!key.contains("u-secret"), "{key}");
        // printf %s u-secret | sha256sum | cut -c1-12
        assert_eq!(key, "acme/USER#<sha256:9e8b5dcae993>");
    }

    #[test]
    fn settings_round_trip() {
        let st = TenantSettings {
            reporting_timezone: ReportingZoneSetting::Custom("America/New_York".into()),
            login_expiration_days: 3650,
        };
        assert_eq!(read_settings(&settings_item("t", &st), "k").unwrap(), st);
    }
}
