//! Change notifications: a dedicated pub/sub connection to the campaigns channel. On a cluster,
//! PUBLISH reaches every node, so subscribing on the first seed node is enough.

use crate::config::RedisSettings;
use futures_util::{Stream, StreamExt};
use std::time::Duration;

/// A stream that yields once per message on `channel`, and ends when the connection is lost.
pub async fn subscribe(settings: &RedisSettings, channel: &str) -> redis::RedisResult<impl Stream<Item = ()> + use<>> {
    let url = settings.cluster_nodes.first().cloned().unwrap_or_else(|| settings.url.clone());
    let client = redis::Client::open(url)?;
    let connect = client.get_async_pubsub();
    let mut pubsub = tokio::time::timeout(Duration::from_millis(settings.connect_timeout_ms), connect)
        .await
        .map_err(|_| redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "pub/sub connect timed out")))??;
    pubsub.subscribe(channel).await?;
    Ok(pubsub.into_on_message().map(|_| ()))
}
