//! The connection to Redis: standalone or cluster behind one type, one multiplexed connection
//! per thread, every round trip timed and its failures counted.

use crate::config::RedisSettings;
use crate::metrics::{Metrics, RedisErrorKind, RedisOp};
use futures_util::future::FutureExt;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
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

impl Conn {
    /// Builds the client without connecting: a Redis that is down at start-up is not fatal.
    pub(super) fn new(settings: &RedisSettings) -> Result<Conn, String> {
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
        Ok(Conn {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            factory: Arc::new(factory),
            metrics: None,
        })
    }

    /// The same connection, timing every round trip and counting failures into `metrics`.
    pub(super) fn instrumented(mut self, metrics: Arc<Metrics>) -> Conn {
        self.metrics = Some(metrics);
        self
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(*self.factory, Factory::Cluster(_))
    }
}
