//! Redis, and nothing but Redis: connections (standalone or cluster behind one type), the key
//! schema, scripts, and one file per aggregate.

pub mod advertisers;
pub mod campaigns;
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

use crate::config::RedisSettings;
use crate::error::{Error, Result};
use crate::metrics::{Metrics, RedisErrorKind, RedisOp};
use futures_util::future::FutureExt;
use futures_util::{StreamExt, TryStreamExt};
use keys::Keys;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Script, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection to Redis, standalone or cluster; the rest of the code never asks which. Every
/// round trip through it is timed and its failures counted (`statusd_redis_*`) once metrics are
/// attached with [`Store::instrumented`].
///
/// Each thread gets a connection of its own, made on first use: one multiplexed connection per
/// actix worker, living on that worker's runtime. A connection's I/O task runs on the runtime that
/// made it, so one connection shared by all workers would die with whichever worker happened to
/// make it — during a graceful shutdown, while other workers still finish their requests.
#[derive(Clone)]
pub struct Conn {
    /// Tells this store's connections from other stores' in the same thread (tests run several).
    id: u64,
    factory: Arc<Factory>,
    metrics: Option<Arc<Metrics>>,
}

enum Factory {
    Standalone(redis::Client, ConnectionManagerConfig),
    Cluster(ClusterClient),
}

thread_local! {
    static LINKS: std::cell::RefCell<std::collections::HashMap<u64, Link>> = Default::default();
}

#[derive(Clone)]
enum Link {
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

impl Factory {
    /// A client that connects lazily (and reconnects by itself); never fails for a reachable or
    /// unreachable Redis alike.
    fn open(&self) -> redis::RedisResult<Link> {
        Ok(match self {
            Factory::Standalone(client, config) => {
                Link::Standalone(ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?)
            }
            Factory::Cluster(client) => Link::Cluster(Arc::new(LazyCluster {
                client: client.clone(),
                conn: tokio::sync::Mutex::new(None),
            })),
        })
    }
}

impl Conn {
    /// This thread's connection of this store.
    fn link(&self) -> redis::RedisResult<Link> {
        LINKS.with(|links| {
            if let Some(link) = links.borrow().get(&self.id) {
                return Ok(link.clone());
            }
            let link = self.factory.open()?;
            links.borrow_mut().insert(self.id, link.clone());
            Ok(link)
        })
    }

    fn command<'a>(&self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let link = self.link();
        async move {
            match link? {
                Link::Standalone(mut c) => c.req_packed_command(cmd).await,
                Link::Cluster(lazy) => lazy.get().await?.req_packed_command(cmd).await,
            }
        }
        .boxed()
    }

    fn commands<'a>(&self, pipeline: &'a Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
        let link = self.link();
        async move {
            match link? {
                Link::Standalone(mut c) => c.req_packed_commands(pipeline, offset, count).await,
                Link::Cluster(lazy) => lazy.get().await?.req_packed_commands(pipeline, offset, count).await,
            }
        }
        .boxed()
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let Some(metrics) = self.metrics.clone() else {
            return self.command(cmd);
        };
        let op = match cmd.args_iter().next() {
            Some(redis::Arg::Simple(name)) if is_script_command(name) => RedisOp::Script,
            _ => RedisOp::Command,
        };
        async move {
            let started = Instant::now();
            let result = self.command(cmd).await;
            observe(&metrics, op, started, result.as_ref().err());
            result
        }
        .boxed()
    }

    fn req_packed_commands<'a>(&'a mut self, pipeline: &'a Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
        let Some(metrics) = self.metrics.clone() else {
            return self.commands(pipeline, offset, count);
        };
        let op = if pipeline.is_transaction() {
            RedisOp::Transaction
        } else {
            RedisOp::Pipeline
        };
        async move {
            let started = Instant::now();
            let result = self.commands(pipeline, offset, count).await;
            observe(&metrics, op, started, result.as_ref().err());
            result
        }
        .boxed()
    }

    fn get_db(&self) -> i64 {
        0
    }
}

fn is_script_command(name: &[u8]) -> bool {
    [&b"EVALSHA"[..], b"EVAL", b"EVALSHA_RO", b"EVAL_RO", b"SCRIPT", b"FCALL"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
}

fn observe(metrics: &Metrics, op: RedisOp, started: Instant, error: Option<&redis::RedisError>) {
    let error = error.and_then(classify);
    let reconnect = error.is_some_and(|(_, reconnect)| reconnect);
    metrics.observe_redis(op, started.elapsed().as_secs_f64(), error.map(|(kind, _)| kind), reconnect);
}

/// The kind of a failed request, and whether the failure makes the client replace its connection;
/// `None` for NOSCRIPT, the script-cache miss that `Script` answers by loading the script.
pub fn classify(e: &redis::RedisError) -> Option<(RedisErrorKind, bool)> {
    use redis::{ErrorKind, ServerErrorKind};
    // What the client itself takes as a reason to replace the connection.
    let reconnect = e.is_unrecoverable_error();
    let kind = match e.kind() {
        ErrorKind::Server(ServerErrorKind::NoScript) => return None,
        _ if e.is_timeout() => RedisErrorKind::Timeout,
        _ if e.is_cluster_error() => RedisErrorKind::Cluster,
        ErrorKind::Server(ServerErrorKind::CrossSlot | ServerErrorKind::MasterDown) | ErrorKind::ClusterConnectionNotFound => {
            RedisErrorKind::Cluster
        }
        ErrorKind::Io => RedisErrorKind::Io,
        _ if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() => RedisErrorKind::Io,
        ErrorKind::Server(_) | ErrorKind::Extension => RedisErrorKind::Server,
        _ => RedisErrorKind::Other,
    };
    Some((kind, reconnect))
}

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
        let connect = Duration::from_millis(settings.connect_timeout_ms);
        let response = Duration::from_millis(settings.response_timeout_ms);
        let factory = if settings.cluster_nodes.is_empty() {
            let client = redis::Client::open(settings.url.as_str()).map_err(|e| format!("redis.url: {e}"))?;
            // One quick reconnect attempt per request: while Redis is down, requests fail fast
            // with 503 instead of queueing behind a long back-off.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(connect))
                .set_response_timeout(Some(response))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(10))
                .set_max_delay(Duration::from_millis(100));
            Factory::Standalone(client, config)
        } else {
            // Redirections (MOVED, ASK) are followed at once; TRYAGAIN and CLUSTERDOWN, which a
            // slot migration or a failover answer for a moment, are tried again 10–100 ms later,
            // a few times: a moving cluster is followed, one that stays down is a 503 within
            // half a second.
            let client = ClusterClient::builder(settings.cluster_nodes.clone())
                .connection_timeout(connect)
                .response_timeout(response)
                .retries(5)
                .min_retry_wait(10)
                .max_retry_wait(100)
                .build()
                .map_err(|e| format!("redis.cluster_nodes: {e}"))?;
            Factory::Cluster(client)
        };
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(Store {
            conn: Conn {
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                factory: Arc::new(factory),
                metrics: None,
            },
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
        self.conn.metrics = Some(metrics);
        self
    }

    pub fn conn(&self) -> Conn {
        self.conn.clone()
    }

    pub fn is_cluster(&self) -> bool {
        matches!(*self.conn.factory, Factory::Cluster(_))
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
        let pipelines = self.pipelines(batch.entries);
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

    /// The batch as pipelines: one on a standalone Redis, one per hash slot on a cluster.
    fn pipelines(&self, entries: Vec<Entry>) -> Vec<Planned> {
        if !self.is_cluster() {
            let mut planned = Planned::new();
            for (position, entry) in entries.into_iter().enumerate() {
                planned.push(position, entry);
            }
            planned.flush_gets();
            return vec![planned];
        }
        let mut pipelines: Vec<Planned> = Vec::new();
        let mut index_of_slot: foldhash::HashMap<u16, usize> = foldhash::HashMap::default();
        for (position, entry) in entries.into_iter().enumerate() {
            let slot = match &entry {
                Entry::Get(key) => keys::slot(key),
                Entry::Command(slot, _) => *slot,
            };
            let i = *index_of_slot.entry(slot).or_insert_with(|| {
                pipelines.push(Planned::new());
                pipelines.len() - 1
            });
            pipelines[i].push(position, entry);
        }
        for planned in &mut pipelines {
            planned.flush_gets();
        }
        pipelines
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

/// Commands collected for `Store::batch`.
#[derive(Default)]
pub struct Batch {
    entries: Vec<Entry>,
    scripts: Vec<&'static Script>,
}

enum Entry {
    /// A plain GET: GETs that follow each other on one slot go out as one MGET. (Its slot is
    /// only worked out on a cluster.)
    Get(String),
    /// A command, with the hash slot of its first key.
    Command(u16, Cmd),
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a command whose first key is `key`.
    pub fn add(&mut self, key: &str, cmd: Cmd) -> usize {
        self.entries.push(Entry::Command(keys::slot(key), cmd));
        self.entries.len() - 1
    }

    /// Adds the command `name` on `key`, to be given its arguments (the key first), as
    /// `redis::pipe().cmd()` does: `batch.cmd(&key, "SISMEMBER").arg(&key).arg(member)`.
    pub fn cmd(&mut self, key: &str, name: &str) -> &mut Cmd {
        self.add(key, redis::cmd(name));
        match self.entries.last_mut() {
            Some(Entry::Command(_, cmd)) => cmd,
            _ => unreachable!("a command was just added"),
        }
    }

    /// Sets a key's expiry to `at_ms` unless it already lives longer: Redis 7's NX and GT together.
    pub fn extend_expiry(&mut self, key: &str, at_ms: i64) {
        self.cmd(key, "PEXPIREAT").arg(key).arg(at_ms).arg("NX");
        self.cmd(key, "PEXPIREAT").arg(key).arg(at_ms).arg("GT");
    }

    /// Adds `GET key`.
    pub fn get(&mut self, key: String) -> usize {
        self.entries.push(Entry::Get(key));
        self.entries.len() - 1
    }

    /// Adds a run of `script` on `keys` (all under one hash tag) with `args`.
    pub fn add_script<A: redis::ToRedisArgs>(&mut self, script: &'static Script, keys: &[String], args: A) -> usize {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash()).arg(keys.len()).arg(keys).arg(args);
        if !self.scripts.iter().any(|s| std::ptr::eq(*s, script)) {
            self.scripts.push(script);
        }
        self.add(keys.first().map_or("", String::as_str), cmd)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One pipeline of a batch, and where each of its answers goes among the batch's answers.
struct Planned {
    pipe: Pipeline,
    destinations: Vec<Destination>,
    /// GETs not yet added to `pipe`: (position in the batch, key).
    gets: Vec<(usize, String)>,
}

enum Destination {
    One(usize),
    /// An MGET's answers, one per position.
    Each(Vec<usize>),
}

impl Planned {
    fn new() -> Planned {
        Planned {
            pipe: redis::pipe(),
            destinations: Vec::new(),
            gets: Vec::new(),
        }
    }

    fn push(&mut self, position: usize, entry: Entry) {
        match entry {
            Entry::Get(key) => self.gets.push((position, key)),
            Entry::Command(_, cmd) => {
                self.flush_gets();
                self.pipe.add_command(cmd);
                self.destinations.push(Destination::One(position));
            }
        }
    }

    /// Adds the GETs collected since the last other command: one GET, or one MGET for several
    /// (one command for Redis to run instead of forty on a feed page).
    fn flush_gets(&mut self) {
        match self.gets.len() {
            0 => {}
            1 => {
                let (position, key) = self.gets.remove(0);
                self.pipe.cmd("GET").arg(key);
                self.destinations.push(Destination::One(position));
            }
            _ => {
                let mut mget = redis::cmd("MGET");
                let mut positions = Vec::with_capacity(self.gets.len());
                for (position, key) in self.gets.drain(..) {
                    mget.arg(key);
                    positions.push(position);
                }
                self.pipe.add_command(mget);
                self.destinations.push(Destination::Each(positions));
            }
        }
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
