//! What the operations endpoints ask of the store.

use crate::error::Result;
use crate::store::Store;
use chrono::{DateTime, Utc};

/// Whether Redis answers now.
pub async fn store_answers(store: &Store) -> bool {
    store.ping().await
}

/// Stories live at `now`, for the live-story gauge.
pub async fn live_stories(store: &Store, now: DateTime<Utc>) -> Result<i64> {
    store.live_stories(now.timestamp_millis()).await
}
