//! A closed-loop HTTP/1.1 load generator: a fixed number of keep-alive connections, each sending
//! its next request as soon as the previous answer is read whole, like wrk. Requests are
//! prepared as bytes up front so that the generator spends its time on I/O, not on formatting.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request, ready to write: request line, headers and body.
pub struct Request(Vec<u8>);

impl Request {
    pub fn get(path: &str, token: &str) -> Request {
        Request(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n").into_bytes())
    }

    pub fn post_json(path: &str, token: &str, body: &str) -> Request {
        Request(
            format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }
}

/// A keep-alive connection that reads answers framed by `Content-Length`.
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends `request` and reads the whole answer; returns its status code.
    async fn exchange(&mut self, request: &Request) -> io::Result<u16> {
        self.stream.write_all(&request.0).await?;
        self.buf.clear();
        let mut framing: Option<(usize, usize)> = None; // (head length, body length)
        loop {
            if framing.is_none()
                && let Some(end) = find(&self.buf, b"\r\n\r\n")
            {
                framing = Some((end + 4, content_length(&self.buf[..end])?));
            }
            if let Some((head, body)) = framing
                && self.buf.len() >= head + body
            {
                return status(&self.buf);
            }
            self.buf.reserve(16 * 1024);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

fn status(response: &[u8]) -> io::Result<u16> {
    std::str::from_utf8(response.get(9..12).ok_or_else(|| bad("short status line"))?)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))
}

fn content_length(head: &[u8]) -> io::Result<usize> {
    let head = std::str::from_utf8(head).map_err(|_| bad("head is not UTF-8"))?;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                return value.trim().parse().map_err(|_| bad("bad Content-Length"));
            }
            if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad("chunked answers are not supported by this generator"));
            }
        }
    }
    Ok(0)
}

/// What one run measured.
#[derive(Default)]
pub struct Run {
    pub elapsed: Duration,
    /// Latency of every answered request, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Answers whose status was not `expected`, and the first such status.
    pub unexpected: usize,
    pub first_unexpected: Option<u16>,
}

impl Run {
    pub fn throughput(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of latency, in microseconds.
    pub fn quantile_us(&self, q: f64) -> u32 {
        quantile(&self.latencies_us, q)
    }
}

pub fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A load: who to send what, how many at once, for how long, and at most how many requests.
pub struct Load {
    pub addr: SocketAddr,
    pub requests: Arc<Vec<Request>>,
    pub expected: u16,
    pub connections: usize,
    pub duration: Duration,
    pub max_requests: usize,
}

/// Runs `load` on the current runtime. Connection `c` sends requests `c`, `c + connections`, …
/// of the list (wrapping), so that concurrent requests go to different viewers.
pub async fn run(load: &Load) -> io::Result<Run> {
    let started = Instant::now();
    let deadline = started + load.duration;
    let budget = Arc::new(AtomicUsize::new(load.max_requests));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..load.connections {
        let mut conn = Connection::open(load.addr).await?;
        let (requests, expected, step, budget) = (load.requests.clone(), load.expected, load.connections, budget.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            let (mut unexpected, mut first) = (0, None);
            let mut i = c;
            while Instant::now() < deadline && take_one(&budget) {
                let sent = Instant::now();
                let code = conn.exchange(&requests[i % requests.len()]).await?;
                latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                if code != expected {
                    unexpected += 1;
                    first.get_or_insert(code);
                }
                i += step;
            }
            Ok::<_, io::Error>((latencies, unexpected, first))
        });
    }
    let mut run = Run {
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
        unexpected: 0,
        first_unexpected: None,
    };
    while let Some(joined) = tasks.join_next().await {
        let (latencies, unexpected, first) = joined.map_err(io::Error::other)??;
        run.latencies_us.extend(latencies);
        run.unexpected += unexpected;
        run.first_unexpected = run.first_unexpected.or(first);
    }
    run.elapsed = started.elapsed();
    run.latencies_us.sort_unstable();
    Ok(run)
}

/// Takes one request from the run's budget; false once it is spent.
fn take_one(budget: &AtomicUsize) -> bool {
    budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1))
        .is_ok()
}
