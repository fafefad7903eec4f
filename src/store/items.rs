//! The one place that knows how domain values are laid out as DynamoDB items
//! (see `docs/data-model.md`). Reading is fallible and names the item's key on failure.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::domain::aggregate::{Aggregator, Tally};
use crate::domain::conversation::Conversation;
use crate::domain::exact_sum::ExactSum;
use crate::domain::figure::Figure;
use crate::domain::identity::{
    ReportingZoneKind, ReportingZoneSetting, Session, TenantSettings, User,
};
use crate::domain::rollup::Scope;

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

pub fn conversation_item(tenant: &str, c: &Conversation) -> Result<Item, MalformedItem> {
    let key = conversation_pk(tenant, &c.room_id);
    let ym = month_of(c.ts_ms).ok_or_else(|| MalformedItem {
        key: key.clone(),
        problem: format!("ts {} is out of range", c.ts_ms),
    })?;
    for (name, v) in [
        (attr::CHAT_DURATION, c.chat_duration),
        (attr::FIRST_RESPONSE, c.first_response),
        (attr::AVG_RESPONSE, c.avg_response),
        (attr::FIRST_REACTION, c.first_reaction),
    ] {
        if matches!(v, Some(x) if !x.is_finite()) {
            return Err(MalformedItem {
                key,
                problem: format!("{name} is not a finite number"),
            });
        }
    }
    let mut item = Item::new();
    item.insert(attr::PK.into(), s(key));
    item.insert(attr::TENANT.into(), s(tenant));
    item.insert(attr::ROOM_ID.into(), s(c.room_id.clone()));
    item.insert(attr::TS.into(), n(c.ts_ms));
    item.insert(attr::MONTH.into(), s(month_key(tenant, ym)));
    if let Some(d) = &c.department_id {
        item.insert(attr::DEPARTMENT_ID.into(), s(d.clone()));
        item.insert(attr::DEPT_MONTH.into(), s(dept_month_key(tenant, ym, d)));
    }
    if let Some(open) = c.open {
        item.insert(attr::OPEN.into(), AttributeValue::Bool(open));
    }
    if let Some(a) = &c.agent {
        item.insert(attr::AGENT.into(), s(a.clone()));
    }
    if let Some(r) = &c.responder {
        item.insert(attr::RESPONDER.into(), s(r.clone()));
    }
    for (name, v) in [
        (attr::CHAT_DURATION, c.chat_duration),
        (attr::FIRST_RESPONSE, c.first_response),
        (attr::AVG_RESPONSE, c.avg_response),
        (attr::FIRST_REACTION, c.first_reaction),
    ] {
        if let Some(x) = v {
            item.insert(name.into(), f(x));
        }
    }
    item.insert(attr::AGENT_MESSAGES.into(), n(c.agent_messages));
    Ok(item)
}

pub fn session_item(token_hash: &str, session: &Session, expires_at_s: i64) -> Item {
    let mut item = Item::from([
        (attr::TOKEN_HASH.into(), s(token_hash)),
        (attr::TENANT.into(), s(session.tenant.clone())),
        (attr::USER_ID.into(), s(session.user_id.clone())),
        (attr::ISSUED_AT.into(), n(session.issued_at_ms)),
        (attr::EXPIRES_AT.into(), n(expires_at_s)),
    ]);
    if let Some(g) = &session.generation {
        item.insert(attr::GENERATION.into(), s(g.clone()));
    }
    item
}

pub fn user_item(tenant: &str, user: &User) -> Item {
    let mut item = Item::from([
        (attr::PK.into(), s(tenant)),
        (attr::SK.into(), s(sk::user(&user.id))),
        (attr::USER_ID.into(), s(user.id.clone())),
        (attr::USERNAME.into(), s(user.username.clone())),
        (attr::ROLES.into(), string_list(&user.roles)),
    ]);
    if let Some(o) = user.utc_offset {
        item.insert(attr::UTC_OFFSET.into(), f(o));
    }
    if let Some(g) = &user.generation {
        item.insert(attr::GENERATION.into(), s(g.clone()));
    }
    item
}

pub fn settings_item(tenant: &str, settings: &TenantSettings) -> Item {
    let mut item = Item::from([
        (attr::PK.into(), s(tenant)),
        (attr::SK.into(), s(sk::SETTINGS)),
        (
            attr::LOGIN_EXPIRATION_DAYS.into(),
            n(settings.login_expiration_days),
        ),
    ]);
    if let ReportingZoneSetting::Custom(zone) = &settings.reporting_timezone {
        item.insert(attr::CUSTOM_TIMEZONE.into(), s(zone.clone()));
    }
    let kind = settings.reporting_timezone.kind().as_str();
    item.insert(attr::REPORTING_TIMEZONE.into(), s(kind));
    item
}

pub fn permission_item(tenant: &str, permission: &str, roles: &[String]) -> Item {
    Item::from([
        (attr::PK.into(), s(tenant)),
        (attr::SK.into(), s(sk::permission(permission))),
        (attr::ROLES.into(), string_list(roles)),
    ])
}

// --- Rollups table -------------------------------------------------------------------------
//
// One item per (tenant, scope, figure, UTC day): partition `pk` = `{tenant}#ALL` or
// `{tenant}#D#{departmentId}`, sort `sk` = `{figure name}#{YYYY-MM-DD}`, so a request reads only
// its figure's items (DynamoDB charges a Query for whole items, whatever the projection). Each
// carries `version`, the day's `changed` counter it was built from. The `ALL` partition also
// holds `DAY#{YYYY-MM-DD}`: the day's state (see `store::day_state`).

/// Sort-key prefix of the per-day state items.
pub const DAY_SK_PREFIX: &str = "DAY#";

pub fn rollup_pk(tenant: &str, scope: &Scope) -> String {
    match scope {
        Scope::All => format!("{tenant}#ALL"),
        Scope::Department(d) => format!("{tenant}#D#{d}"),
    }
}

pub fn rollup_sk(figure: Figure, day: NaiveDate) -> String {
    format!("{}#{}", figure.name(), day.format("%Y-%m-%d"))
}

pub fn day_state_sk(day: NaiveDate) -> String {
    format!("{DAY_SK_PREFIX}{}", day.format("%Y-%m-%d"))
}

/// The sort key of the item holding a day's department list: its state item.
pub fn departments_sk(day: NaiveDate) -> String {
    day_state_sk(day)
}

/// A day's department list, from its state item: its day and departments.
pub fn read_departments_item(item: &Item) -> Result<(NaiveDate, Vec<String>), MalformedItem> {
    let key = rollup_key(item);
    let r = Reader::new(item, &key);
    let day = day_of_sk(r.str(attr::SK)?).ok_or_else(|| r.malformed("sk is not DAY#YYYY-MM-DD"))?;
    Ok((day, r.string_list(attr::DEPARTMENTS)?))
}

/// The day of a `DAY#YYYY-MM-DD` or `{figure}#YYYY-MM-DD` sort key.
pub fn day_of_sk(sk: &str) -> Option<NaiveDate> {
    let (_, day) = sk.rsplit_once('#')?;
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// One agent's tally as stored: `[count, exact sum (decimal), min (shortest round-trip text)
/// or null, messages, first counted ts]`.
type StoredTally = (u64, String, Option<String>, u64, i64);

/// A figure's rollup for one scope and day, built from the day's `changed` = `version`. An
/// empty aggregator gives an item with no agents: a tombstone that keeps an older, concurrent
/// rebuild from writing stale tallies back.
pub fn rollup_item(
    tenant: &str,
    scope: &Scope,
    day: NaiveDate,
    agg: &Aggregator,
    version: u64,
) -> Item {
    // serde_json's map is sorted, so the same tallies always make the same bytes.
    let tallies: serde_json::Map<String, serde_json::Value> = agg
        .tallies()
        .map(|(agent, t)| {
            let min = t.min().map(|m| format!("{m:?}"));
            let stored = serde_json::json!([
                t.count,
                t.sum.to_decimal_string(),
                min,
                t.messages,
                t.first_ts_ms
            ]);
            (agent.to_string(), stored)
        })
        .collect();
    let json = serde_json::Value::Object(tallies).to_string();
    Item::from([
        (attr::PK.into(), s(rollup_pk(tenant, scope))),
        (attr::SK.into(), s(rollup_sk(agg.figure(), day))),
        (attr::TENANT.into(), s(tenant)),
        (attr::VERSION.into(), n(version)),
        (attr::TALLIES.into(), s(json)),
    ])
}

/// The `version` of a rollup item; `None` for an item written before versions existed.
pub fn rollup_version(item: &Item) -> Result<Option<u64>, MalformedItem> {
    let key = rollup_key(item);
    Reader::new(item, &key).opt_number(attr::VERSION)
}

/// Whether a figure item is a tombstone (no agent: its scope had nothing that day). Anything
/// but the exact empty object our rebuild writes counts as tallies.
pub fn rollup_is_tombstone(item: &Item) -> Result<bool, MalformedItem> {
    let key = rollup_key(item);
    Ok(Reader::new(item, &key).str(attr::TALLIES)?.trim() == "{}")
}

/// `pk/sk` of a rollups-table item, for errors.
pub fn rollup_key(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "?",
    };
    format!("{}/{}", part(attr::PK), part(attr::SK))
}

/// Merges a rollup item's tallies into `agg` (the item's figure must be `agg`'s).
pub fn fold_rollup_item(agg: &mut Aggregator, item: &Item) -> Result<(), MalformedItem> {
    let key = rollup_key(item);
    let r = Reader::new(item, &key);
    let json = r.str(attr::TALLIES)?;
    let tallies: HashMap<String, StoredTally> = serde_json::from_str(json)
        .map_err(|e| r.malformed(format!("tallies are not valid: {e}")))?;
    for (agent, (count, sum, min, messages, first_ts_ms)) in tallies {
        let sum = ExactSum::from_decimal_string(&sum)
            .map_err(|e| r.malformed(format!("tallies of {agent:?}: {e}")))?;
        let min_bits = match min {
            None => None,
            Some(text) => match text.parse::<f64>() {
                Ok(m) if m.is_finite() => Some(m.to_bits()),
                _ => {
                    return Err(r.malformed(format!(
                        "tallies of {agent:?}: minimum {text:?} is not a finite number"
                    )))
                }
            },
        };
        let tally = Tally {
            count,
            sum,
            min_bits,
            messages,
            first_ts_ms,
        };
        agg.merge_tally(&agent, &tally)
            .map_err(|e| r.malformed(format!("tallies of {agent:?}: {e}")))?;
    }
    Ok(())
}

/// A conversation as a GSI query returns it (keys and the projected figure attributes), its
/// room id taken from `pk`.
pub fn read_indexed_conversation(
    item: &Item,
    tenant: &str,
) -> Result<(String, Conversation), MalformedItem> {
    let key = match item.get(attr::PK) {
        Some(AttributeValue::S(pk)) => pk.as_str(),
        _ => "<item without pk>",
    };
    let r = Reader::new(item, key);
    let pk = r.str(attr::PK)?;
    let room_id = pk
        .strip_prefix(tenant)
        .and_then(|rest| rest.strip_prefix('#'))
        .ok_or_else(|| r.malformed(format!("pk is not {tenant}#{{roomId}}")))?;
    // `open` is not projected into the GSIs: no figure reads it.
    Ok((pk.to_string(), read_figure_fields(&r, room_id, None)?))
}

/// A whole conversation item (a stream image): its tenant, its `pk` and the conversation.
pub fn read_conversation_image(
    item: &Item,
) -> Result<(String, String, Conversation), MalformedItem> {
    let key = match item.get(attr::PK) {
        Some(AttributeValue::S(pk)) => pk.as_str(),
        _ => "<item without pk>",
    };
    let r = Reader::new(item, key);
    let pk = r.str(attr::PK)?.to_string();
    let tenant = r.str(attr::TENANT)?.to_string();
    if !pk.starts_with(&format!("{tenant}#")) {
        return Err(r.malformed(format!("pk is not {tenant}#{{roomId}}")));
    }
    Ok((tenant, pk, read_conversation(item, key)?))
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

pub fn read_session(item: &Item, key: &str) -> Result<Session, MalformedItem> {
    let r = Reader::new(item, key);
    Ok(Session {
        tenant: r.str(attr::TENANT)?.to_string(),
        user_id: r.str(attr::USER_ID)?.to_string(),
        issued_at_ms: r.number(attr::ISSUED_AT)?,
        generation: r.opt_str(attr::GENERATION)?.map(str::to_string),
    })
}

pub fn read_user(item: &Item, key: &str) -> Result<User, MalformedItem> {
    let r = Reader::new(item, key);
    Ok(User {
        id: r.str(attr::USER_ID)?.to_string(),
        username: r.str(attr::USERNAME)?.to_string(),
        roles: r.string_list(attr::ROLES)?,
        utc_offset: r.opt_metric(attr::UTC_OFFSET)?,
        generation: r.opt_str(attr::GENERATION)?.map(str::to_string),
    })
}

pub fn read_settings(item: &Item, key: &str) -> Result<TenantSettings, MalformedItem> {
    let r = Reader::new(item, key);
    let kind = match r.opt_str(attr::REPORTING_TIMEZONE)? {
        None => ReportingZoneKind::Server,
        Some(kind) => kind
            .parse()
            .map_err(|_| r.malformed(format!("unknown reportingTimezone {kind:?}")))?,
    };
    let reporting_timezone = match kind {
        ReportingZoneKind::Server => ReportingZoneSetting::Server,
        ReportingZoneKind::User => ReportingZoneSetting::User,
        ReportingZoneKind::Custom => {
            ReportingZoneSetting::Custom(r.str(attr::CUSTOM_TIMEZONE)?.to_string())
        }
    };
    Ok(TenantSettings {
        reporting_timezone,
        login_expiration_days: r
            .opt_number(attr::LOGIN_EXPIRATION_DAYS)?
            .unwrap_or(crate::domain::identity::DEFAULT_LOGIN_EXPIRATION_DAYS),
    })
}

pub fn read_conversation(item: &Item, key: &str) -> Result<Conversation, MalformedItem> {
    let r = Reader::new(item, key);
    read_figure_fields(&r, r.str(attr::ROOM_ID)?, r.opt_bool(attr::OPEN)?)
}

/// The attributes every reader of a conversation shares: its start, department, agents,
/// metrics and agent-message count.
fn read_figure_fields(
    r: &Reader<'_>,
    room_id: &str,
    open: Option<bool>,
) -> Result<Conversation, MalformedItem> {
    Ok(Conversation {
        room_id: room_id.to_string(),
        ts_ms: r.number(attr::TS)?,
        department_id: r.opt_str(attr::DEPARTMENT_ID)?.map(str::to_string),
        open,
        agent: r.opt_str(attr::AGENT)?.map(str::to_string),
        responder: r.opt_str(attr::RESPONDER)?.map(str::to_string),
        chat_duration: r.opt_metric(attr::CHAT_DURATION)?,
        first_response: r.opt_metric(attr::FIRST_RESPONSE)?,
        avg_response: r.opt_metric(attr::AVG_RESPONSE)?,
        first_reaction: r.opt_metric(attr::FIRST_REACTION)?,
        agent_messages: r.opt_number(attr::AGENT_MESSAGES)?.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
