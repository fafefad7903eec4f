//! The rebuild's raw reads, through the boundary ([`crate::dynamo::conversation_reads`]): a
//! month bucket's conversations from the `byMonth` GSI, and conversations by key (strongly
//! consistent, through the one bounded [`crate::dynamo::batch_get`]).

use super::Rebuilder;
use crate::domain::conversation::Conversation;
use crate::domain::range::UtcRange;
use crate::dynamo::conversation_reads::{conversations_by_key, conversations_by_month};
use crate::dynamo::StoreError;

impl Rebuilder {
    /// The conversations stored under `pks` in `table`, strongly consistent, unprocessed keys
    /// asked for again with back-off.
    pub(super) async fn by_key<'a>(
        &self,
        table: &str,
        pks: impl IntoIterator<Item = &'a String>,
    ) -> Result<Vec<(String, Conversation)>, StoreError> {
        conversations_by_key(&self.client, table, pks).await
    }

    /// The conversations of `range` (within one month bucket), as the `byMonth` GSI has them;
    /// returns how many were read.
    pub(super) async fn read_raw(
        &self,
        tenant: &str,
        range: UtcRange,
        each: impl FnMut(String, Conversation) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        conversations_by_month(
            &self.client,
            &self.tables.conversations,
            &self.tables.by_month_index,
            tenant,
            range,
            each,
        )
        .await
    }
}
