//! The pass over rooms newest change first, down to the checkpoint's overlap, and what every
//! walk over rooms shares: comparing a page with what is stored and saving progress per page.

use std::collections::HashSet;

use super::{finish, Cycle, SyncError};
use crate::dynamo::sync::{put_state, stored_rooms, Stamp};
use crate::rollups::ingest::ConversationWriter;
use crate::sync::state::{Decision, SyncState};
use crate::sync::walk::{key_of, Cursor, Listed, Order, Walk};

/// The stamp of a listed room document changed at `updated_ms`.
fn stamp_of(doc: &serde_json::Value, updated_ms: i64) -> Stamp {
    Stamp {
        updated_ms,
        msgs: doc.get("msgs").and_then(serde_json::Value::as_i64),
    }
}

/// What a page's rooms got through.
pub(super) struct Handled {
    /// After the last room handled.
    pub cursor: Option<Cursor>,
    pub out_of_time: bool,
}

impl Cycle<'_> {
    /// The pass newest first. Returns whether it went all the way down; a pass cut short (the
    /// deadline, or a wait that would cross it) leaves `pending` where it stopped.
    pub(super) async fn rooms_by_update(&mut self) -> Result<bool, SyncError> {
        let now = self.now_ms;
        let pending = self.state.pending.clone();
        let mut upper = pending.as_ref().map(|p| p.upper);
        let mut last = pending.as_ref().map(|p| p.cursor.clone());
        let mut walk =
            Walk::new(Order::UpdatedDesc, "livechat/rooms", "rooms").resume(last.clone());
        loop {
            let page = match walk.next(self.rc, self.options.deadline).await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    let e = SyncError::from(e);
                    if e.is_out_of_time() {
                        self.cut_pass(upper, last);
                        return Ok(false);
                    }
                    return Err(e);
                }
            };
            // The first room of the pass is its newest; an empty workspace sets no checkpoint.
            if let (None, Some(first)) = (upper, page.first()) {
                upper = Some(SyncState::upper_of(Some(first.key.at), now));
            }
            let mut stop = false;
            let mut rooms = Vec::with_capacity(page.len());
            for l in page {
                if self.state.decide(l.key.at, now) == Decision::Stop {
                    stop = true;
                    break;
                }
                rooms.push(l);
            }
            let handled = self.sync_listed(rooms, Order::UpdatedDesc).await?;
            if handled.cursor.is_some() {
                last = handled.cursor;
            }
            if handled.out_of_time {
                self.cut_pass(upper, last);
                return Ok(false);
            }
            if stop {
                break;
            }
            self.cut_pass(upper, last.clone());
            self.save_progress().await?;
        }
        self.state = self.state.finished(upper, now);
        if let (Some(_), Some(upper)) = (&pending, upper) {
            // A pass begun by an earlier job holds what changed before that job (about `upper`).
            self.state.last_complete_started_ms = Some(upper.min(now));
        }
        Ok(true)
    }

    fn cut_pass(&mut self, upper: Option<i64>, last: Option<Cursor>) {
        if let (Some(upper), Some(last)) = (upper, last) {
            self.state = self.state.cut_short(upper, last);
        }
    }

    /// Compares listed rooms with their stored copies: a room stored with the same
    /// `_updatedAt` and `msgs` is unchanged and its messages are not read; the others are
    /// synced, in order, until the deadline.
    pub(super) async fn sync_listed(
        &mut self,
        rooms: Vec<Listed>,
        order: Order,
    ) -> Result<Handled, SyncError> {
        let mut handled = Handled {
            cursor: None,
            out_of_time: false,
        };
        let mut unique = HashSet::new();
        let ids: Vec<String> = rooms
            .iter()
            .map(|l| l.key.id.clone())
            .filter(|id| unique.insert(id.clone()))
            .collect();
        let stored = if ids.is_empty() {
            Default::default()
        } else {
            stored_rooms(self.client, self.names, self.tenant, &ids).await?
        };
        for l in rooms {
            let updated = match order {
                Order::UpdatedDesc => l.key.at,
                Order::TsAsc => key_of(Order::UpdatedDesc, &l.doc).map_or(i64::MIN, |k| k.at),
            };
            let stamp = stamp_of(&l.doc, updated);
            let before = stored.get(&l.key.id);
            if before.is_some_and(|(_, s)| *s == Some(stamp)) {
                self.summary.rooms_unchanged += 1;
            } else {
                if self.out_of_time() {
                    handled.out_of_time = true;
                    return Ok(handled);
                }
                let synced = self
                    .sync_room(&l.key.id, l.doc, before.map(|(c, _)| c), stamp)
                    .await;
                match synced {
                    Ok(()) => {}
                    Err(e) if e.is_out_of_time() => {
                        handled.out_of_time = true;
                        return Ok(handled);
                    }
                    Err(e) => return Err(e),
                }
            }
            handled.cursor = Some(Cursor {
                key: l.key,
                offset: l.position + 1,
            });
        }
        Ok(handled)
    }

    /// Writes what is buffered, then saves the state (where the walks are) and renews the
    /// lease: a cycle that fails later does not read these pages again.
    pub(super) async fn save_progress(&mut self) -> Result<(), SyncError> {
        let written = std::mem::replace(
            &mut self.conversations,
            ConversationWriter::new(
                self.client,
                self.names,
                self.options.writer,
                self.clock.clone(),
            ),
        );
        finish(written, "conversations").await?;
        put_state(self.client, self.names, self.tenant, &self.state).await?;
        let now = (self.clock)();
        self.lease
            .renew(
                self.client,
                self.names,
                now,
                super::lease_until(self.options, now),
            )
            .await?;
        Ok(())
    }
}
