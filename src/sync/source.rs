//! The requests of one sync cycle, each turning Rocket.Chat's REST answer into the same domain
//! values the importer reads from an export (`crate::rocketchat`): REST dates are ISO strings
//! where an export has `{"$date": …}`, so they are wrapped back before the shared readers see them.

use serde_json::{json, Value};

use super::client::{RestClient, RestError};
use crate::domain::identity::{TenantSettings, VIEW_LIVECHAT_MANAGER};
use crate::rocketchat::permission::read_permission;
use crate::rocketchat::setting::{
    read_setting, SettingsDraft, SettingsError, CUSTOM_TIMEZONE, LOGIN_EXPIRATION,
    REPORTING_TIMEZONE,
};
use crate::rocketchat::{Doc, DocError};

/// Documents asked for per page: Rocket.Chat's default `API_Upper_Count_Limit`.
pub const PAGE: usize = 100;

/// Top-level fields that hold dates in the documents the sync reads.
const DATE_FIELDS: [&str; 3] = ["ts", "_updatedAt", "closedAt"];

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error("{host}: {what} is malformed")]
    Malformed {
        host: String,
        what: String,
        #[source]
        source: DocError,
    },
    #[error("{host}: {what} had no end after {requests} requests")]
    Endless {
        host: String,
        what: String,
        requests: u32,
    },
    #[error("{host}: {what} was not sorted as asked")]
    Unsorted { host: String, what: String },
    #[error("{host}: the reporting settings cannot be used")]
    Settings {
        host: String,
        #[source]
        source: SettingsError,
    },
}

impl SourceError {
    pub(super) fn malformed(c: &RestClient, what: impl Into<String>, source: DocError) -> Self {
        SourceError::Malformed {
            host: c.host().to_string(),
            what: what.into(),
            source,
        }
    }
}

/// A REST document as the export readers take it: ISO date strings wrapped as `{"$date": …}`
/// (a date already in Extended JSON, as some versions send, is left as it is).
pub fn rest_doc(mut value: Value) -> Result<Doc, DocError> {
    if let Value::Object(map) = &mut value {
        for field in DATE_FIELDS {
            if let Some(v) = map.get_mut(field) {
                if v.is_string() {
                    *v = json!({ "$date": v.take() });
                }
            }
        }
    }
    Doc::from_value(value)
}

/// One page of a list endpoint.
pub struct Page {
    pub docs: Vec<Value>,
    /// Whether a further page may hold more.
    pub more: bool,
}

fn page_of(
    c: &RestClient,
    body: &mut Value,
    list: &str,
    offset: usize,
) -> Result<Page, SourceError> {
    let docs = match body.get_mut(list).map(Value::take) {
        Some(Value::Array(docs)) => docs,
        _ => {
            return Err(SourceError::malformed(
                c,
                format!("the answer's {list}"),
                DocError::Missing(list.to_string()),
            ))
        }
    };
    // `total` is Rocket.Chat's count of every match; a short page also ends the listing.
    let total = body.get("total").and_then(Value::as_u64);
    let more = docs.len() >= PAGE && total.is_none_or(|t| (offset + docs.len()) < t as usize);
    Ok(Page { docs, more })
}

fn paging(offset: usize, sort: Value) -> Vec<(&'static str, String)> {
    vec![
        ("offset", offset.to_string()),
        ("count", PAGE.to_string()),
        ("sort", sort.to_string()),
    ]
}

/// Users sorted by `sort` (`{"_id":1}` for a full listing, `{"_updatedAt":-1}` for changes).
pub async fn users_page(c: &RestClient, offset: usize, sort: Value) -> Result<Page, SourceError> {
    let mut body = c.get("users.list", &paging(offset, sort)).await?;
    page_of(c, &mut body, "users", offset)
}

/// `users.info`: the one place REST gives a user's `utcOffset`.
pub async fn user_info(c: &RestClient, user_id: &str) -> Result<Value, SourceError> {
    let mut body = c
        .get("users.info", &[("userId", user_id.to_string())])
        .await?;
    match body.get_mut("user").map(Value::take) {
        Some(user @ Value::Object(_)) => Ok(user),
        _ => Err(SourceError::malformed(
            c,
            "users.info",
            DocError::Missing("user".into()),
        )),
    }
}

/// The reporting zone and login expiration.
pub async fn settings(c: &RestClient) -> Result<TenantSettings, SourceError> {
    let mut draft = SettingsDraft::default();
    for id in [REPORTING_TIMEZONE, CUSTOM_TIMEZONE] {
        let body = c.get(&format!("settings/{id}"), &[]).await?;
        let setting = Doc::from_value(body)
            .and_then(|d| read_setting(&d))
            .map_err(|e| SourceError::malformed(c, id, e))?;
        draft.apply(setting);
    }
    let body = c
        .get("settings.public", &[("_id", LOGIN_EXPIRATION.to_string())])
        .await?;
    let found = body
        .get("settings")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|s| s.get("_id").and_then(Value::as_str) == Some(LOGIN_EXPIRATION))
        });
    if let Some(s) = found {
        let setting = Doc::from_value(s.clone())
            .and_then(|d| read_setting(&d))
            .map_err(|e| SourceError::malformed(c, LOGIN_EXPIRATION, e))?;
        draft.apply(setting);
    }
    draft.build().map_err(|source| SourceError::Settings {
        host: c.host().to_string(),
        source,
    })
}

/// The roles holding `view-livechat-manager`; `None` when the workspace does not list it.
pub async fn manager_roles(c: &RestClient) -> Result<Option<Vec<String>>, SourceError> {
    let body = c.get("permissions.listAll", &[]).await?;
    let Some(update) = body.get("update").and_then(Value::as_array) else {
        return Err(SourceError::malformed(
            c,
            "permissions.listAll",
            DocError::Missing("update".into()),
        ));
    };
    for p in update {
        if p.get("_id").and_then(Value::as_str) != Some(VIEW_LIVECHAT_MANAGER) {
            continue;
        }
        let permission = rest_doc(p.clone())
            .and_then(|d| read_permission(&d))
            .map_err(|e| SourceError::malformed(c, VIEW_LIVECHAT_MANAGER, e))?;
        return Ok(Some(permission.roles));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rocketchat::room::{read_room, Room};

    #[test]
    fn rest_and_export_rooms_read_alike() {
        let rest = rest_doc(json!({"_id":"r","t":"l","ts":"2024-03-18T03:59:59.999Z",
            "_updatedAt":"2024-03-19T00:00:00.000Z","servedBy":{"_id":"u","username":"kim","ts":"2024-03-18T03:59:59.999Z"},
            "metrics":{"chatDuration":12.5}}))
        .unwrap();
        let export = Doc::parse(
            br#"{"_id":"r","t":"l","ts":{"$date":"2024-03-18T03:59:59.999Z"},
            "servedBy":{"_id":"u","username":"kim"},"metrics":{"chatDuration":12.5}}"#,
        )
        .unwrap();
        let (Room::Livechat(a), Room::Livechat(b)) =
            (read_room(&rest).unwrap(), read_room(&export).unwrap())
        else {
            panic!("not livechat");
        };
        assert_eq!(a, b);
        assert_eq!(rest.date_ms("_updatedAt").unwrap(), 1_710_806_400_000);
    }

    #[test]
    fn a_date_already_in_extended_json_is_kept() {
        let d = rest_doc(json!({"ts":{"$date":1_710_806_400_000i64}})).unwrap();
        assert_eq!(d.date_ms("ts").unwrap(), 1_710_806_400_000);
        let bad = rest_doc(json!({"ts":"yesterday"}));
        assert!(bad.is_err());
    }
}
