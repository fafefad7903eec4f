//! Paging a Rocket.Chat listing that changes while it is read.
//!
//! Rocket.Chat's list endpoints page by `offset` and `count` only (`livechat/rooms` takes no
//! key filter), so a room deleted before the read position shifts every later room one place
//! back, and plain offset paging skips one. A [`Walk`] pages by offset but checks every page
//! against the last key it saw:
//!
//! - the sort has a unique tie-breaker (`_id`), so the order is total and the same on every
//!   request (MongoDB does not keep ties in one order across `skip`/`limit` requests);
//! - each page after the first starts one place *before* the expected position, so it must
//!   hold an item at or before the last key: that proves no item between the last key and the
//!   page's new items was skipped. When the page's first item is already past the last key (a
//!   deletion shifted the listing), the walk steps back (1, 2, 4, … places) until it finds its
//!   key again; when every item is at or before the last key (insertions shifted it forward),
//!   it steps forward;
//! - the number of requests is bounded (by `total` when the server gives one), so a server
//!   that answers full pages forever is stopped with an error rather than read forever;
//! - no request starts past the deadline.
//!
//! A walk can stop and resume from a [`Cursor`] (the last key and its position), saved in the
//! sync state, so a listing of any length advances a little in each job.

use std::cmp::Ordering;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::client::{RestClient, RestError};
use super::source::{rest_doc, SourceError, PAGE};
/// A walk's key and cursor are saved in the sync state, so their shape is the boundary's.
pub use crate::dynamo::sync::{Cursor, Key};

/// Requests one walk may make when the server gives no `total` (100 pages a request).
pub const MAX_PAGES_WITHOUT_TOTAL: u32 = 1_000;

/// The order of a walk; every order ends with `_id` ascending, so ties have one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `_updatedAt` newest first: the incremental pass over rooms.
    UpdatedDesc,
    /// `ts` oldest first: the full listing of rooms (new rooms come last) and a room's messages.
    TsAsc,
}

impl Order {
    fn field(self) -> &'static str {
        match self {
            Order::UpdatedDesc => "_updatedAt",
            Order::TsAsc => "ts",
        }
    }

    /// The `sort` parameter, its keys in this order (MongoDB sorts by them as written;
    /// `serde_json` would write them alphabetically).
    pub fn sort(self) -> &'static str {
        match self {
            Order::UpdatedDesc => r#"{"_updatedAt":-1,"_id":1}"#,
            Order::TsAsc => r#"{"ts":1,"_id":1}"#,
        }
    }

    /// Where `a` comes relative to `b` in this order.
    pub fn cmp(self, a: &Key, b: &Key) -> Ordering {
        let by_time = match self {
            Order::UpdatedDesc => b.at.cmp(&a.at),
            Order::TsAsc => a.at.cmp(&b.at),
        };
        by_time.then_with(|| a.id.as_bytes().cmp(b.id.as_bytes()))
    }
}

/// One listed document with its key and its position in the listing when it was read.
pub struct Listed {
    pub key: Key,
    pub position: u64,
    pub doc: Value,
}

pub struct Walk {
    order: Order,
    path: String,
    list: &'static str,
    extra: Vec<(&'static str, String)>,
    /// Position just after `last`, as last seen.
    offset: u64,
    last: Option<Key>,
    requests: u32,
    total: Option<u64>,
    ended: bool,
    /// How often a shift was seen (a step back or forward): for the summary and tests.
    pub shifts: u32,
}

impl Walk {
    pub fn new(order: Order, path: impl Into<String>, list: &'static str) -> Self {
        Walk {
            order,
            path: path.into(),
            list,
            extra: Vec::new(),
            offset: 0,
            last: None,
            requests: 0,
            total: None,
            ended: false,
            shifts: 0,
        }
    }

    /// Carries on after `cursor` (saved by an earlier walk of the same listing).
    pub fn resume(mut self, cursor: Option<Cursor>) -> Self {
        if let Some(c) = cursor {
            self.offset = c.offset;
            self.last = Some(c.key);
        }
        self
    }

    /// A query parameter sent with every request (a filter).
    pub fn with(mut self, name: &'static str, value: String) -> Self {
        self.extra.push((name, value));
        self
    }

    pub fn order(&self) -> Order {
        self.order
    }

    /// The cursor after the last item returned.
    pub fn cursor(&self) -> Option<Cursor> {
        self.last.clone().map(|key| Cursor {
            key,
            offset: self.offset,
        })
    }

    fn max_requests(&self) -> u32 {
        match self.total {
            // Every page once, plus room for the steps a few shifts cost.
            Some(t) => (t.div_ceil(PAGE as u64) as u32).saturating_mul(2) + 20,
            None => MAX_PAGES_WITHOUT_TOTAL,
        }
    }

    /// The next items after the last key, in order; `None` at the end of the listing.
    pub async fn next(
        &mut self,
        rc: &RestClient,
        deadline: Option<Instant>,
    ) -> Result<Option<Vec<Listed>>, SourceError> {
        if self.ended {
            return Ok(None);
        }
        let mut back = 1u64;
        loop {
            if rc.out_of_time() || deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(RestError::OutOfTime {
                    host: rc.host().to_string(),
                }
                .into());
            }
            if self.requests >= self.max_requests() {
                return Err(SourceError::Endless {
                    host: rc.host().to_string(),
                    what: self.path.clone(),
                    requests: self.requests,
                });
            }
            let start = match &self.last {
                Some(_) => self.offset.saturating_sub(back),
                None => 0,
            };
            let (items, total) = self.fetch(rc, start).await?;
            self.requests += 1;
            if total.is_some() {
                self.total = total;
            }
            let full = items.len() >= PAGE;
            let at_end = !full || total.is_some_and(|t| start + items.len() as u64 >= t);
            let Some(last) = self.last.clone() else {
                return Ok(Some(self.accept(start, items, at_end, 0)));
            };
            let first_new = items
                .iter()
                .position(|i| self.order.cmp(&i.key, &last) == Ordering::Greater);
            match first_new {
                // The page starts past the last key: items may have been skipped.
                Some(0) if start > 0 => {
                    self.shifts += 1;
                    back = back.saturating_mul(2).min(self.offset);
                }
                Some(i) => {
                    return Ok(Some(self.accept(start, items, at_end, i)));
                }
                None if at_end => {
                    self.ended = true;
                    return Ok(None);
                }
                // Every item is at or before the last key: the listing moved forward.
                None => {
                    self.shifts += 1;
                    self.offset = start + items.len() as u64;
                    back = 1;
                }
            }
        }
    }

    /// Takes the items from `from` on as read, the last of them as the new key.
    fn accept(
        &mut self,
        start: u64,
        mut items: Vec<Listed>,
        at_end: bool,
        from: usize,
    ) -> Vec<Listed> {
        self.offset = start + items.len() as u64;
        self.ended = at_end;
        let new = items.split_off(from);
        if let Some(l) = new.last() {
            self.last = Some(l.key.clone());
        }
        new
    }

    async fn fetch(
        &self,
        rc: &RestClient,
        start: u64,
    ) -> Result<(Vec<Listed>, Option<u64>), SourceError> {
        let mut query = vec![
            ("offset", start.to_string()),
            ("count", PAGE.to_string()),
            ("sort", self.order.sort().to_string()),
        ];
        query.extend(self.extra.iter().cloned());
        let mut body = rc.get(&self.path, &query).await?;
        let docs = match body.get_mut(self.list).map(Value::take) {
            Some(Value::Array(docs)) => docs,
            _ => {
                return Err(SourceError::Malformed {
                    host: rc.host().to_string(),
                    what: format!("the answer's {}", self.list),
                    source: crate::rocketchat::DocError::Missing(self.list.to_string()),
                })
            }
        };
        let total = body.get("total").and_then(Value::as_u64);
        let mut items = Vec::with_capacity(docs.len());
        for (i, doc) in docs.into_iter().enumerate() {
            let key = key_of(self.order, &doc).ok_or_else(|| SourceError::Malformed {
                host: rc.host().to_string(),
                what: format!("an item of {} without an _id", self.path),
                source: crate::rocketchat::DocError::Missing("_id".into()),
            })?;
            if let Some(prev) = items.last().map(|l: &Listed| &l.key) {
                if self.order.cmp(prev, &key) != Ordering::Less {
                    return Err(SourceError::Unsorted {
                        host: rc.host().to_string(),
                        what: self.path.clone(),
                    });
                }
            }
            items.push(Listed {
                key,
                position: start + i as u64,
                doc,
            });
        }
        Ok((items, total))
    }
}

/// A document's key in `order`; `None` without a string `_id`.
pub fn key_of(order: Order, doc: &Value) -> Option<Key> {
    let id = doc.get("_id")?.as_str()?.to_string();
    let field = order.field();
    let at = doc
        .get(field)
        .and_then(|v| {
            rest_doc(json!({ field: v }))
                .ok()
                .and_then(|d| d.date_ms(field).ok())
        })
        .unwrap_or(i64::MIN);
    Some(Key { at, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(at: i64, id: &str) -> Key {
        Key { at, id: id.into() }
    }

    #[test]
    fn ties_are_ordered_by_id_and_dates_by_direction() {
        let o = Order::UpdatedDesc;
        assert_eq!(o.cmp(&key(2, "b"), &key(1, "a")), Ordering::Less);
        assert_eq!(o.cmp(&key(1, "a"), &key(1, "b")), Ordering::Less);
        let o = Order::TsAsc;
        assert_eq!(o.cmp(&key(1, "z"), &key(2, "a")), Ordering::Less);
        assert_eq!(o.cmp(&key(1, "a"), &key(1, "a")), Ordering::Equal);
    }

    #[test]
    fn keys_read_iso_and_extended_dates_and_a_missing_date_sorts_lowest() {
        let k = key_of(
            Order::UpdatedDesc,
            &json!({"_id": "r", "_updatedAt": "2024-03-19T00:00:00.000Z"}),
        )
        .unwrap();
        assert_eq!(k, key(1_710_806_400_000, "r"));
        let k = key_of(Order::TsAsc, &json!({"_id": "r", "ts": {"$date": 5}})).unwrap();
        assert_eq!(k.at, 5);
        assert_eq!(
            key_of(Order::TsAsc, &json!({"_id": "r"})).unwrap().at,
            i64::MIN
        );
        assert!(key_of(Order::TsAsc, &json!({"ts": 1})).is_none());
    }
}
