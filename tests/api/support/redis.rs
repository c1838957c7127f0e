//! Real Redis servers for integration tests.
//!
//! * [`standalone_url`] – one shared standalone server per test process.
//! * [`cluster_urls`] – one shared 3-master Redis Cluster per test process.
//! * [`OwnedRedis`] – a private server a test may stop and restart.
//! * [`OwnedCluster`] – a private 3-master / 3-replica cluster a test may fail over and reshard.
//!
//! Every server runs under a small `sh` watchdog whose stdin is a pipe held by
//! this process. When the pipe's write end is closed – because we stopped the
//! server, or because the test process exited or was killed, even by SIGKILL –
//! the watchdog reads EOF, terminates redis-server and deletes the server's
//! temp directory. That is what keeps the shared servers (which live in
//! statics and are never dropped) from outliving the test process.
//!
//! `REDIS_SERVER` / `REDIS_CLI` override the binaries (default: from `PATH`).
#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Fresh ports are tried this many times before giving up (port races).
const START_ATTEMPTS: usize = 5;
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const CLUSTER_OK_TIMEOUT: Duration = Duration::from_secs(20);
const CLUSTER_NODES: usize = 3;
/// Redis Cluster's bus listens on the data port + 10000.
const CLUSTER_BUS_OFFSET: u16 = 10000;

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/// URL of a standalone redis-server shared by the whole test process
/// (started on first use, no persistence). Tests sharing it should use
/// unique key prefixes rather than FLUSHALL.
pub fn standalone_url() -> String {
    // The outcome (including failure) is cached so that, if Redis cannot
    // start, every test fails fast with the same message instead of retrying.
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| with_retries("standalone redis", start_standalone));
    match server {
        Ok(server) => url(server.port),
        Err(msg) => panic!("{msg}"),
    }
}

/// URLs of the nodes of a 3-master / 0-replica Redis Cluster shared by the
/// whole test process. Returns only once every node reports
/// `cluster_state:ok` with all 16384 slots assigned.
pub fn cluster_urls() -> Vec<String> {
    static CLUSTER: OnceLock<Result<Vec<Server>, String>> = OnceLock::new();
    let cluster = CLUSTER.get_or_init(|| with_retries("redis cluster", start_cluster));
    match cluster {
        Ok(nodes) => nodes.iter().map(|n| url(n.port)).collect(),
        Err(msg) => panic!("{msg}"),
    }
}

/// A standalone redis-server owned by one test, for outage scenarios.
/// Dropping it stops the server (and removes its temp directory).
pub struct OwnedRedis {
    port: u16,
    server: Option<Server>,
}

impl OwnedRedis {
    /// Starts a new server on a free port. Panics (with the redis log tail)
    /// if it cannot be started.
    pub fn start() -> OwnedRedis {
        match with_retries("owned redis", start_standalone) {
            Ok(server) => OwnedRedis {
                port: server.port,
                server: Some(server),
            },
            Err(msg) => panic!("{msg}"),
        }
    }

    pub fn url(&self) -> String {
        url(self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Terminates the server and waits until it has exited, so the port is
    /// closed when this returns. No-op if already stopped. The server keeps no
    /// data: a restart comes back empty.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }

    /// Stops the server if it is running and starts it again on the same
    /// port. Panics if the port was taken by someone else in between.
    pub fn restart(&mut self) {
        self.stop();
        match Server::spawn(self.port, &[]) {
            Ok(server) => self.server = Some(server),
            Err(msg) => panic!("restarting owned redis on port {}: {msg}", self.port),
        }
    }
}

impl Drop for OwnedRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// Starting servers
// ---------------------------------------------------------------------------

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

/// Runs `start` until it succeeds; each attempt picks fresh ports, because
/// the usual failure is another process grabbing a port we probed as free.
fn with_retries<T>(what: &str, start: impl Fn() -> Result<T, String>) -> Result<T, String> {
    let mut errors = Vec::new();
    for attempt in 1..=START_ATTEMPTS {
        match start() {
            Ok(started) => return Ok(started),
            Err(e) => errors.push(format!("attempt {attempt}: {e}")),
        }
    }
    Err(format!("could not start {what}:\n{}", errors.join("\n")))
}

fn start_standalone() -> Result<Server, String> {
    let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
    Server::spawn(port, &[])
}

fn start_cluster() -> Result<Vec<Server>, String> {
    start_cluster_of(CLUSTER_NODES, 0, 5000)
}

/// `masters` masters with `replicas_each` replicas each; a node is failed after `node_timeout_ms`.
fn start_cluster_of(masters: usize, replicas_each: usize, node_timeout_ms: u64) -> Result<Vec<Server>, String> {
    let count = masters * (1 + replicas_each);
    let ports = free_cluster_ports(count).map_err(|e| format!("finding free ports: {e}"))?;
    let timeout = node_timeout_ms.to_string();
    let cluster_args = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        &timeout,
    ];
    let mut nodes = Vec::new();
    for &port in &ports {
        // On error the already started nodes are dropped, which stops them.
        nodes.push(Server::spawn(port, &cluster_args)?);
    }
    create_cluster(&ports, replicas_each).map_err(|e| with_logs(e, &nodes))?;
    wait_cluster_ok(&ports, count).map_err(|e| with_logs(e, &nodes))?;
    Ok(nodes)
}

/// A Redis Cluster of 3 masters and 3 replicas owned by one test, which may stop a master (its
/// replica takes over) and move slots between masters. Dropping it stops every node.
pub struct OwnedCluster {
    nodes: Vec<Option<Server>>,
}

impl OwnedCluster {
    /// Starts the six nodes; a master that stops is failed over after about a second.
    pub fn start() -> OwnedCluster {
        match with_retries("redis cluster with replicas", || start_cluster_of(3, 1, 1000)) {
            Ok(nodes) => OwnedCluster {
                nodes: nodes.into_iter().map(Some).collect(),
            },
            Err(msg) => panic!("{msg}"),
        }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().flatten().map(|n| url(n.port)).collect()
    }

    fn live_ports(&self) -> Vec<u16> {
        self.nodes.iter().flatten().map(|n| n.port).collect()
    }

    /// The port of the master that serves `slot` now, as a live node sees it.
    pub fn master_of(&self, slot: u16) -> u16 {
        self.serving_master(slot)
            .unwrap_or_else(|| panic!("no live node knows a master for slot {slot}"))
    }

    /// The master that serves `slot`, or None while none does (during a failover).
    pub fn serving_master(&self, slot: u16) -> Option<u16> {
        for port in self.live_ports() {
            let Ok(nodes) = command(port, &["CLUSTER", "NODES"]) else {
                continue;
            };
            for line in nodes.lines() {
                let fields: Vec<&str> = line.split(' ').collect();
                if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                    continue;
                }
                let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap_or(u16::MAX)..=b.parse().unwrap_or(0)).contains(&slot),
                    None => range.parse() == Ok(slot),
                });
                if serves {
                    let address = fields[1].split('@').next().unwrap_or_default();
                    return address.rsplit(':').next()?.parse().ok();
                }
            }
        }
        None
    }

    /// The node id of the node on `port`.
    fn node_id(port: u16) -> String {
        command(port, &["CLUSTER", "MYID"]).unwrap().trim().to_owned()
    }

    /// Stops the node on `port` (SIGTERM, as an orchestrator stops it: a master hands its last
    /// writes to its replica before it exits).
    pub fn stop_node(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|n| n.as_ref().is_some_and(|n| n.port == port));
        if let Some(server) = node.and_then(Option::take) {
            server.stop();
        }
    }

    /// Waits until every live node reports the cluster ok with all slots served.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let ports = self.live_ports();
        while !ports
            .iter()
            .all(|&p| command(p, &["CLUSTER", "INFO"]).is_ok_and(|i| i.contains("cluster_state:ok")))
        {
            assert!(Instant::now() < deadline, "the cluster did not recover");
            sleep(Duration::from_millis(100));
        }
    }

    /// Moves `slot` from the master on `from` to the master on `to`, key by key, as
    /// `redis-cli --cluster reshard` does (MIGRATING/IMPORTING, MIGRATE, then NODE).
    pub fn migrate_slot(&self, slot: u16, from: u16, to: u16) {
        let slot_text = slot.to_string();
        let (from_id, to_id) = (Self::node_id(from), Self::node_id(to));
        command(to, &["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &from_id]).unwrap();
        command(from, &["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &to_id]).unwrap();
        loop {
            let keys = command(from, &["CLUSTER", "GETKEYSINSLOT", &slot_text, "100"]).unwrap();
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let to_port = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &to_port, "", "0", "5000", "KEYS"];
            args.extend(keys.iter().copied());
            let reply = command(from, &args).unwrap();
            assert!(!reply.starts_with('-'), "MIGRATE: {reply}");
        }
        // The new owner first, then the old, then everyone else (as the Redis docs order it).
        let mut ports = vec![to, from];
        ports.extend(self.live_ports().into_iter().filter(|p| *p != to && *p != from));
        for port in ports {
            let _ = command(port, &["CLUSTER", "SETSLOT", &slot_text, "NODE", &to_id]);
        }
    }
}

fn with_logs(error: String, nodes: &[Server]) -> String {
    let logs: Vec<String> = nodes.iter().map(|n| n.log_tail()).collect();
    format!("{error}\n{}", logs.join("\n"))
}

/// Asks redis-cli to join the (empty) nodes and spread the slots over them.
fn create_cluster(ports: &[u16], replicas_each: usize) -> Result<(), String> {
    let mut cmd = Command::new(redis_cli());
    cmd.arg("--cluster").arg("create");
    cmd.args(ports.iter().map(|p| format!("127.0.0.1:{p}")));
    cmd.args(["--cluster-replicas", &replicas_each.to_string(), "--cluster-yes"]);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", redis_cli()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "redis-cli --cluster create failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// `--cluster create` returns before gossip has converged; clients only see a
/// usable cluster once every node agrees that all slots are served.
fn wait_cluster_ok(ports: &[u16], nodes: usize) -> Result<(), String> {
    let deadline = Instant::now() + CLUSTER_OK_TIMEOUT;
    loop {
        let mut last = String::new();
        let all_ok = ports.iter().all(|&port| match command(port, &["CLUSTER", "INFO"]) {
            Ok(info) if cluster_info_ok(&info, nodes) => true,
            Ok(info) => {
                last = format!("port {port}: {info}");
                false
            }
            Err(e) => {
                last = format!("port {port}: {e}");
                false
            }
        });
        if all_ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("cluster not ok after {CLUSTER_OK_TIMEOUT:?}; last CLUSTER INFO {last}"));
        }
        sleep(Duration::from_millis(100));
    }
}

fn cluster_info_ok(info: &str, nodes: usize) -> bool {
    let has = |line: &str| info.lines().any(|l| l.trim() == line);
    has("cluster_state:ok") && has("cluster_slots_assigned:16384") && has(&format!("cluster_known_nodes:{nodes}"))
}

fn redis_server() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

fn redis_cli() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into())
}

// ---------------------------------------------------------------------------
// One redis-server under a watchdog
// ---------------------------------------------------------------------------

/// The watchdog. Arguments: `$1` = the server's temp dir, the rest = the
/// redis-server command line. Its stdin is a pipe from the test process.
///
/// * A background subshell blocks reading that pipe; EOF means "stop": it
///   leaves a marker file and SIGTERMs redis.
/// * The main shell waits for redis. If redis was stopped (marker present) it
///   deletes the temp dir; if redis died on its own (e.g. port taken) the dir
///   and its log are kept for the test process to report, which then deletes
///   it itself.
/// * The watchdog exits when redis does, so `Child::try_wait` on it tells us
///   whether redis is still alive.
const WATCHDOG: &str = r#"
D=$1; shift
exec 3<&0 </dev/null
"$@" 3<&- >"$D/output.log" 2>&1 &
R=$!
( read x <&3; : > "$D/.stopped"; kill $R 2>/dev/null ) &
W=$!
exec 3<&-
wait $R
S=$?
kill $W 2>/dev/null
if [ -e "$D/.stopped" ]; then rm -rf "$D"; fi
exit $S
"#;

struct Server {
    port: u16,
    dir: PathBuf,
    /// The watchdog shell. Closing its stdin stops the server.
    watchdog: Child,
}

impl Server {
    /// Starts redis-server on `port` and waits until it answers. On failure
    /// everything is cleaned up and the error contains the log tail.
    fn spawn(port: u16, extra_args: &[&str]) -> Result<Server, String> {
        let dir = fresh_dir(port).map_err(|e| format!("creating temp dir: {e}"))?;
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("redis-watchdog") // $0
            .arg(&dir)
            .arg(redis_server())
            .args(server_args(port))
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .args(extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let watchdog = match watchdog {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("spawning sh watchdog: {e}"));
            }
        };
        let mut server = Server { port, dir, watchdog };
        match server.wait_ready() {
            Ok(()) => Ok(server),
            Err(e) => {
                let msg = format!("{e}\n{}", server.log_tail());
                server.stop_and_wait(); // keeps the dir if redis died by itself
                let _ = std::fs::remove_dir_all(&server.dir);
                Err(msg)
            }
        }
    }

    /// Polls the server with `CONFIG GET dir` rather than PING: a reply
    /// carrying our own unique dir proves that the server answering on the
    /// port is ours, not another process that won a race for the port.
    fn wait_ready(&mut self) -> Result<(), String> {
        // Redis reports its working dir with symlinks resolved.
        let expected = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let expected = format!("dir\n{}", expected.display());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.watchdog.try_wait() {
                return Err(format!("{} on port {} exited early ({status})", redis_server(), self.port));
            }
            let last = match command(self.port, &["CONFIG", "GET", "dir"]) {
                Ok(reply) if reply == expected => return Ok(()),
                Ok(reply) if reply.starts_with("dir\n") => {
                    return Err(format!("port {} is served by another redis ({reply:?})", self.port));
                }
                Ok(reply) => reply,
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server on port {} not ready after {READY_TIMEOUT:?} (last: {last})",
                    self.port
                ));
            }
            sleep(Duration::from_millis(25));
        }
    }

    /// Closes the watchdog's stdin (it then terminates redis) and waits for
    /// the watchdog, which exits only after redis has exited.
    fn stop_and_wait(&mut self) {
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }

    fn stop(mut self) {
        self.stop_and_wait();
    }

    /// The end of redis' log, plus its stdout/stderr: errors that happen
    /// before the log file is opened (bad arguments, binary not found) only
    /// show up there.
    fn log_tail(&self) -> String {
        let mut out = String::new();
        for name in ["output.log", "redis.log"] {
            let path = self.dir.join(name);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            if !tail.is_empty() {
                out.push_str(&format!("--- tail of {} ---\n{tail}\n", path.display()));
            }
        }
        if out.is_empty() {
            out = format!("--- no output in {} ---", self.dir.display());
        }
        out
    }
}

impl Drop for Server {
    // Only reached for servers that are not in a static, e.g. cluster nodes
    // started before a failed cluster attempt.
    fn drop(&mut self) {
        if self.watchdog.stdin.is_some() {
            self.stop_and_wait();
        }
    }
}

fn server_args(port: u16) -> Vec<String> {
    let flags = format!("--port {port} --bind 127.0.0.1 --protected-mode no --daemonize no --appendonly no");
    let mut args: Vec<String> = flags.split(' ').map(String::from).collect();
    // `--save ""` turns RDB snapshots off.
    args.extend(["--save".to_string(), String::new()]);
    args
}

/// A new empty directory, unique per process, call and port.
fn fresh_dir(port: u16) -> io::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("statusd-test-redis-{}-{n}-{port}", std::process::id());
    let dir = std::env::temp_dir().join(name);
    // A leftover from an earlier process with the same pid would confuse us.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/// A port the kernel just handed out. It may be taken again before redis
/// binds it; callers retry with a fresh port in that case.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Ports for the cluster nodes such that every data port and its bus port
/// (port + 10000) are currently free and all six are distinct. The kernel
/// cannot pick such pairs for us, so random ports from 20000..40000 are
/// probed; holding the listeners until all are chosen keeps the picks
/// distinct.
fn free_cluster_ports(count: usize) -> io::Result<Vec<u16>> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..1000 {
        if ports.len() == count {
            return Ok(ports);
        }
        let port = 20000 + (random_u64() % 20000) as u16;
        let pair = (bind_local(port), bind_local(port + CLUSTER_BUS_OFFSET));
        if let (Ok(a), Ok(b)) = pair {
            held.push(a);
            held.push(b);
            ports.push(port);
        }
    }
    Err(io::Error::other("no free port pairs found in 20000..40000"))
}

fn bind_local(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
}

/// std has no RNG; RandomState is randomly seeded per instance.
fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

// ---------------------------------------------------------------------------
// Minimal RESP client (just enough for readiness checks)
// ---------------------------------------------------------------------------

/// Sends one command and returns its reply flattened to text: simple and
/// bulk strings as is, errors with their leading '-', arrays joined by '\n'.
fn command(port: u16, args: &[&str]) -> io::Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    read_reply(&mut BufReader::new(stream))
}

fn read_reply(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    let line = line.trim_end_matches("\r\n");
    // Checked split: whatever answers on the port must not make us panic.
    let (kind, rest) = line.split_at_checked(1).unwrap_or((line, ""));
    match kind {
        "+" | ":" => Ok(rest.to_string()),
        "-" => Ok(line.to_string()),
        "$" => read_bulk(r, parse_len(rest)?),
        "*" => {
            let items: io::Result<Vec<String>> = (0..parse_len(rest)?.max(0)).map(|_| read_reply(r)).collect();
            Ok(items?.join("\n"))
        }
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, format!("bad reply {line:?}"))),
    }
}

fn read_bulk(r: &mut impl BufRead, len: i64) -> io::Result<String> {
    if len < 0 {
        return Ok(String::new()); // nil
    }
    if len > 1 << 20 {
        let msg = format!("bulk reply of {len} bytes is implausible here");
        return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
    }
    let mut buf = vec![0; len as usize + 2]; // payload + CRLF
    r.read_exact(&mut buf)?;
    buf.truncate(len as usize);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn parse_len(s: &str) -> io::Result<i64> {
    s.parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad length {s:?}")))
}
