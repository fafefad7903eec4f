//! The full listing: every room oldest `ts` first (new rooms come last, so creations never
//! shift the walk), a page at a time. Each page's rooms are compared with their stored copies
//! (a room never stored, or stored with another `_updatedAt` or `msgs`, is synced), and the
//! stored rooms whose `(ts, _id)` falls between the previous page's last room and this page's
//! last, but that the page does not list, are removed: the walk's contiguity check proves the
//! page left out nothing in that span. The listing resumes from its cursor in later jobs.
//!
//! Removals are refused when a span would lose more than half of its stored rooms and more
//! than [`MASS_REMOVAL_MIN`] (an account that lost sight of rooms, a listing that answers
//! nothing): counted and logged, never applied.

use std::collections::HashSet;

use super::{Cycle, SyncError};
use crate::config::TableNames;
use crate::dynamo::sync::stored_keys_of_month;
use crate::dynamo::{Client, StoreError};
use crate::store::plan::months_between;
use crate::sync::state::Listing;
use crate::sync::walk::{Cursor, Key, Order, Walk};

/// Removals a span may always make.
pub const MASS_REMOVAL_MIN: usize = 20;

impl Cycle<'_> {
    /// Returns whether the listing reached its end (removals included).
    pub(super) async fn listing(&mut self) -> Result<bool, SyncError> {
        let (started_ms, mut saved) = match &self.state.listing {
            Some(l) => (l.started_ms, Some(l.cursor.clone())),
            None => (self.now_ms, None),
        };
        let mut walk = Walk::new(Order::TsAsc, "livechat/rooms", "rooms").resume(saved.clone());
        loop {
            let page = match walk.next(self.rc, self.options.deadline).await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    let e = SyncError::from(e);
                    if e.is_out_of_time() {
                        return Ok(false);
                    }
                    return Err(e);
                }
            };
            let Some(last) = page.last().map(|l| l.key.clone()) else {
                continue;
            };
            let listed: HashSet<String> = page.iter().map(|l| l.key.id.clone()).collect();
            let handled = self.sync_listed(page, Order::TsAsc).await?;
            // A page cut short is read again (its synced rooms are then unchanged).
            if handled.out_of_time {
                return Ok(false);
            }
            let from = saved.as_ref().map(|c| c.key.clone());
            if !self
                .remove_unlisted(from.as_ref(), Some(&last), &listed)
                .await?
            {
                return Ok(false);
            }
            saved = walk.cursor();
            if let Some(cursor) = saved.clone() {
                self.state.listing = Some(Listing { started_ms, cursor });
            }
            self.save_progress().await?;
        }
        let from = saved.as_ref().map(|c: &Cursor| c.key.clone());
        if !self
            .remove_unlisted(from.as_ref(), None, &HashSet::new())
            .await?
        {
            return Ok(false);
        }
        self.state.listing = None;
        self.state.last_full_ms = Some(started_ms);
        Ok(true)
    }

    /// Removes the stored rooms in `(from, to]` that `listed` does not hold; false when the
    /// deadline came first (the span is then listed again).
    async fn remove_unlisted(
        &mut self,
        from: Option<&Key>,
        to: Option<&Key>,
        listed: &HashSet<String>,
    ) -> Result<bool, SyncError> {
        let Some(stored) = stored_rooms_between(
            self.client,
            self.names,
            self.tenant,
            (from, to),
            self.now_ms,
            self.options.deadline,
        )
        .await?
        else {
            return Ok(false);
        };
        let gone: Vec<&Key> = stored.iter().filter(|k| !listed.contains(&k.id)).collect();
        if gone.len() > MASS_REMOVAL_MIN && gone.len() * 2 > stored.len() {
            self.summary.removals_refused += gone.len() as u64;
            tracing::warn!(
                tenant = self.tenant,
                stored = stored.len(),
                unlisted = gone.len(),
                "removals refused: the listing leaves out too many stored rooms at once"
            );
            return Ok(true);
        }
        for key in gone {
            if self.out_of_time() {
                return Ok(false);
            }
            self.before_write(key.at).await?;
            self.delete_conversation(&key.id, key.at).await?;
            self.summary.rooms_removed += 1;
        }
        Ok(true)
    }
}

/// The stored rooms whose `(ts, room id)` lies after `from` (from [`EARLIEST_STORED_MS`] when
/// `None`) and at or before `to` (to a year past `now_ms` when `None`), through the `byMonth`
/// index; `None` when `deadline` came first.
pub async fn stored_rooms_between(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    (from, to): (Option<&Key>, Option<&Key>),
    now_ms: i64,
    deadline: Option<tokio::time::Instant>,
) -> Result<Option<Vec<Key>>, StoreError> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let order = Order::TsAsc;
    let low = from.map_or(EARLIEST_STORED_MS, |k| k.at.max(EARLIEST_STORED_MS));
    let high = to.map_or(now_ms.saturating_add(366 * 86_400_000), |k| k.at);
    let months = months_between(low, high);
    let mut out = Vec::new();
    // Month buckets a few at a time: a listing's first span reaches back to 1970.
    for chunk in months.chunks(MONTHS_AT_ONCE * 4) {
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return Ok(None);
        }
        let found: Vec<Vec<Key>> = stream::iter(chunk.iter().copied())
            .map(|month| stored_keys_of_month(client, names, tenant, month, (low, high)))
            .buffer_unordered(MONTHS_AT_ONCE)
            .try_collect()
            .await?;
        out.extend(found.into_iter().flatten().filter(|key| {
            from.is_none_or(|f| order.cmp(key, f).is_gt())
                && to.is_none_or(|t| order.cmp(key, t).is_le())
        }));
    }
    Ok(Some(out))
}

/// Where [`stored_rooms_between`] starts without a lower key: 2010-01-01, years before the
/// first Rocket.Chat (a room dated earlier is never listed for removal). It keeps a listing's
/// first span to about 200 month buckets instead of 700.
pub const EARLIEST_STORED_MS: i64 = 1_262_304_000_000;

/// Month buckets queried at once by [`stored_rooms_between`].
const MONTHS_AT_ONCE: usize = 16;
