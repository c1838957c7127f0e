//! Redis, and nothing but Redis: the store (this file: queries, pipelines, batches and
//! transactions with their retries), its connection (`connection.rs`: standalone or cluster
//! behind one type), the batch planner (`batch.rs`), the key schema, scripts, and one file per
//! aggregate.

pub mod advertisers;
mod batch;
pub mod campaigns;
mod connection;
pub mod creatives;
pub mod idempotency;
pub mod keys;
pub mod live;
pub mod pubsub;
pub mod reports;
pub mod stories;
pub mod tray;
pub mod users;
pub mod viewer_ads;

pub use batch::Batch;
use batch::{Destination, Entry, Planned};
pub use connection::{Conn, classify};

use crate::config::RedisSettings;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use futures_util::future::FutureExt;
use futures_util::{StreamExt, TryStreamExt};
use keys::Keys;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::sync::Arc;
use std::time::Duration;

/// How often a transaction refused for a moving slot is tried again (20, 40, … ms apart): long
/// enough for a slot migration's last keys or a failover's new slot map, short enough that a
/// cluster that stays down is a fast 503.
const TRANSACTION_RETRIES: u32 = 5;

/// How many of a batch's pipelines (one per hash slot on a cluster) are in flight at once.
const PIPELINES_IN_FLIGHT: usize = 32;

/// The key of a pipeline's first command (after a script's hash and key count).
fn first_key(pipe: &Pipeline) -> Option<Vec<u8>> {
    let mut args = pipe.cmd_iter().next()?.args_iter().filter_map(|arg| match arg {
        redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = args.next()?;
    let skip = if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL") {
        2
    } else {
        0
    };
    args.nth(skip).map(<[u8]>::to_vec)
}

/// The store: a connection plus the key schema.
#[derive(Clone)]
pub struct Store {
    conn: Conn,
    pub keys: Keys,
    /// How long stories live (`stories.ttl_secs`): how long a contact's removal must be
    /// remembered, and a hint to guess a story's tray entry from its id (a wrong guess costs a
    /// round trip, not a wrong answer).
    story_ttl_ms: i64,
}

impl Store {
    /// Builds the client without connecting: a Redis that is down at start-up is not fatal.
    pub fn new(settings: &RedisSettings) -> Result<Store, String> {
        Ok(Store {
            conn: Conn::new(settings)?,
            keys: Keys::new(&settings.key_prefix),
            story_ttl_ms: 86_400_000,
        })
    }

    /// The same store, told how long stories live (see `story_ttl_ms`).
    pub fn with_story_ttl(mut self, ttl_secs: u64) -> Store {
        self.story_ttl_ms = ttl_secs as i64 * 1000;
        self
    }

    /// The same store, timing every Redis round trip and counting failures into `metrics`.
    pub fn instrumented(mut self, metrics: Arc<Metrics>) -> Store {
        self.conn = self.conn.instrumented(metrics);
        self
    }

    pub fn conn(&self) -> Conn {
        self.conn.clone()
    }

    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
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

    /// Runs a pipeline whose commands all share one hash tag. A transaction that Redis refused
    /// because its slot is moving or failing over (nothing of it ran, and the cluster client does
    /// not retry transactions) is tried again after its key is read once, which makes the client
    /// follow the redirection and learn the new owner of the slot.
    pub async fn pipe<T: redis::FromRedisValue>(&self, pipe: &Pipeline) -> Result<T> {
        let mut tries = 0;
        loop {
            let mut conn = self.conn();
            match pipe.query_async(&mut conn).await {
                Err(e) if tries < TRANSACTION_RETRIES && pipe.is_transaction() && crate::error::is_cluster_in_motion(&e) => {
                    tries += 1;
                    if let Some(key) = first_key(pipe) {
                        let _ = self.query::<i64>(redis::cmd("EXISTS").arg(key)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(tries))).await;
                }
                answer => return Ok(answer?),
            }
        }
    }

    /// Runs a batch of commands that may span hash tags: one round trip on a standalone Redis,
    /// one concurrent pipeline per hash slot on a cluster. Answers come back in the order of the
    /// batch. Scripts in the batch run by hash; if Redis has not cached one yet (a restart, a new
    /// node), they are loaded and the batch is run once more — so batches must be safe to repeat.
    pub async fn batch(&self, batch: Batch) -> Result<Vec<Value>> {
        if batch.entries.is_empty() {
            return Ok(Vec::new());
        }
        let total = batch.entries.len();
        let pipelines = batch::plan(batch.entries, self.is_cluster());
        match self.run_pipelines(&pipelines, total).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) && !batch.scripts.is_empty() => {
                let mut conn = self.conn();
                for script in &batch.scripts {
                    script.prepare_invoke().load_async(&mut conn).await?;
                }
                Ok(self.run_pipelines(&pipelines, total).await?)
            }
            other => Ok(other?),
        }
    }

    /// Runs a batch whose commands all share one hash slot as one transaction (MULTI/EXEC).
    pub async fn transaction(&self, batch: Batch) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for entry in batch.entries {
            match entry {
                Entry::Get(key) => pipe.cmd("GET").arg(key),
                Entry::Command(_, cmd) => pipe.add_command(cmd),
            }
            .ignore();
        }
        self.pipe::<()>(&pipe).await
    }

    /// JSON records stored as strings under `keys`, in one batch (None for missing).
    pub(crate) async fn json_records<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        keys: impl Iterator<Item = String>,
    ) -> Result<Vec<Option<T>>> {
        let mut batch = Batch::new();
        for key in keys {
            batch.get(key);
        }
        self.batch(batch).await?.into_iter().map(|v| from_json(what, decode(v)?)).collect()
    }

    async fn run_pipelines(&self, pipelines: &[Planned], total: usize) -> redis::RedisResult<Vec<Value>> {
        // A few at a time: a request's response timeout runs from when it is sent, so thousands
        // sent at once (a list of 5,000 contacts, one slot each) would each wait for all the
        // others and time out on a busy machine.
        let requests: Vec<RedisFuture<'_, Vec<Value>>> = pipelines
            .iter()
            .map(|planned| {
                let mut conn = self.conn();
                async move { planned.pipe.query_async::<Vec<Value>>(&mut conn).await }.boxed()
            })
            .collect();
        let answers: Vec<Vec<Value>> = futures_util::stream::iter(requests)
            .buffered(PIPELINES_IN_FLIGHT)
            .try_collect()
            .await?;
        let mut out = vec![Value::Nil; total];
        for (planned, values) in pipelines.iter().zip(answers) {
            for (destination, value) in planned.destinations.iter().zip(values) {
                match (destination, value) {
                    (Destination::One(i), value) => out[*i] = value,
                    (Destination::Each(positions), Value::Array(values)) => {
                        for (i, value) in positions.iter().zip(values) {
                            out[*i] = value;
                        }
                    }
                    (Destination::Each(positions), other) => {
                        for i in positions {
                            out[*i] = other.clone();
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// A record as the JSON it is stored as.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
}

/// A record stored as JSON; `what` names it in the error if it does not parse.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, raw: Option<String>) -> Result<Option<T>> {
    raw.map(|json| serde_json::from_str(&json).map_err(|e| Error::Internal(format!("{what}: {e}"))))
        .transpose()
}

/// Records read for `ids` (one answer per id, `None` for missing), keyed by id; missing ones left
/// out.
pub fn by_id<T>(ids: &[String], records: Vec<Option<T>>) -> std::collections::HashMap<String, T> {
    ids.iter().cloned().zip(records).filter_map(|(id, r)| Some((id, r?))).collect()
}

/// Decodes one answer of a batch. An answer that is an error from Redis (a slot moving, a replica
/// taking over) is that error, classified like any other (`Error::from`), not a decoding failure.
pub fn decode<T: redis::FromRedisValue>(value: Value) -> Result<T> {
    let value = value.extract_error()?;
    redis::from_redis_value(value).map_err(|e| Error::Internal(format!("redis decode: {e}")))
}
