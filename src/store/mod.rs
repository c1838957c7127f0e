//! Redis, and nothing but Redis: connections (standalone or cluster behind one type), the key
//! schema, scripts, and one file per aggregate.

pub mod keys;
pub mod stories;
pub mod users;

use crate::config::RedisSettings;
use crate::error::{Error, Result};
use futures_util::future::{BoxFuture, FutureExt};
use keys::{Keys, hash_tag};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::sync::Arc;
use std::time::Duration;

/// A connection to Redis, standalone or cluster; the rest of the code never asks which.
#[derive(Clone)]
pub enum Conn {
    Standalone(ConnectionManager),
    Cluster(Arc<LazyCluster>),
}

/// The cluster client connects on first use, so that statusd starts (and answers 503) while the
/// cluster is still down, and connects by itself once it is up.
pub struct LazyCluster {
    client: ClusterClient,
    conn: tokio::sync::Mutex<Option<ClusterConnection>>,
}

impl LazyCluster {
    async fn get(&self) -> redis::RedisResult<ClusterConnection> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let conn = self.client.get_async_connection().await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Standalone(c) => c.req_packed_command(cmd),
            Conn::Cluster(lazy) => async move { lazy.get().await?.req_packed_command(cmd).await }.boxed(),
        }
    }

    fn req_packed_commands<'a>(&'a mut self, pipeline: &'a Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(lazy) => async move { lazy.get().await?.req_packed_commands(pipeline, offset, count).await }.boxed(),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// The store: a connection plus the key schema.
#[derive(Clone)]
pub struct Store {
    conn: Conn,
    pub keys: Keys,
}

impl Store {
    /// Builds the client without connecting: a Redis that is down at start-up is not fatal.
    pub fn new(settings: &RedisSettings) -> Result<Store, String> {
        let connect = Duration::from_millis(settings.connect_timeout_ms);
        let response = Duration::from_millis(settings.response_timeout_ms);
        let conn = if settings.cluster_nodes.is_empty() {
            let client = redis::Client::open(settings.url.as_str()).map_err(|e| format!("redis.url: {e}"))?;
            // One quick reconnect attempt per request: while Redis is down, requests fail fast
            // with 503 instead of queueing behind a long back-off.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(connect))
                .set_response_timeout(Some(response))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(10))
                .set_max_delay(Duration::from_millis(100));
            let manager = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| format!("redis.url: {e}"))?;
            Conn::Standalone(manager)
        } else {
            let client = ClusterClient::builder(settings.cluster_nodes.clone())
                .connection_timeout(connect)
                .response_timeout(response)
                .retries(1)
                .build()
                .map_err(|e| format!("redis.cluster_nodes: {e}"))?;
            Conn::Cluster(Arc::new(LazyCluster {
                client,
                conn: tokio::sync::Mutex::new(None),
            }))
        };
        Ok(Store {
            conn,
            keys: Keys::new(&settings.key_prefix),
        })
    }

    pub fn conn(&self) -> Conn {
        self.conn.clone()
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// True when Redis answers a PING.
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn();
        redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
    }

    /// Runs a query built from `cmd`, mapping Redis errors to `Error`.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T> {
        let mut conn = self.conn();
        Ok(cmd.query_async(&mut conn).await?)
    }

    /// Runs a pipeline whose commands all share one hash tag.
    pub async fn pipe<T: redis::FromRedisValue>(&self, pipe: &Pipeline) -> Result<T> {
        let mut conn = self.conn();
        Ok(pipe.query_async(&mut conn).await?)
    }

    /// Runs a batch of commands that may span hash tags: one round trip on a standalone Redis,
    /// one concurrent pipeline per tag on a cluster. Answers come back in the order of the batch.
    pub async fn batch(&self, batch: Batch) -> Result<Vec<Value>> {
        if batch.cmds.is_empty() {
            return Ok(Vec::new());
        }
        if !self.is_cluster() {
            let mut pipe = redis::pipe();
            for (_, cmd) in batch.cmds {
                pipe.add_command(cmd);
            }
            return self.pipe(&pipe).await;
        }
        let mut groups: Vec<(String, Vec<usize>, Pipeline)> = Vec::new();
        let mut index_of_tag = std::collections::HashMap::new();
        for (i, (tag, cmd)) in batch.cmds.into_iter().enumerate() {
            let g = *index_of_tag.entry(tag.clone()).or_insert_with(|| {
                groups.push((tag, Vec::new(), redis::pipe()));
                groups.len() - 1
            });
            groups[g].1.push(i);
            groups[g].2.add_command(cmd);
        }
        let total: usize = groups.iter().map(|g| g.1.len()).sum();
        let answers: Vec<BoxFuture<'_, Result<Vec<Value>>>> =
            groups.iter().map(|(_, _, pipe)| self.pipe::<Vec<Value>>(pipe).boxed()).collect();
        let answers = futures_util::future::try_join_all(answers).await?;
        let mut out = vec![Value::Nil; total];
        for ((_, indexes, _), values) in groups.iter().zip(answers) {
            for (i, v) in indexes.iter().zip(values) {
                out[*i] = v;
            }
        }
        Ok(out)
    }
}

/// Commands collected for `Store::batch`, each remembered with its key's hash tag.
#[derive(Default)]
pub struct Batch {
    cmds: Vec<(String, Cmd)>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a command whose first key is `key`.
    pub fn add(&mut self, key: &str, cmd: Cmd) -> usize {
        self.cmds.push((hash_tag(key).to_owned(), cmd));
        self.cmds.len() - 1
    }

    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }
}

/// Decodes one answer of a batch.
pub fn decode<T: redis::FromRedisValue>(value: Value) -> Result<T> {
    redis::from_redis_value(value).map_err(|e| Error::Internal(format!("redis decode: {e}")))
}
