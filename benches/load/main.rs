//! The load harness: statusd against the floor, side by side in one run.
//!
//! `cargo bench --bench load` starts a redis-server on a free port, statusd (the release binary)
//! and the floor server (this program again, see `floor.rs`), seeds realistic data through the
//! API, then measures in alternating rounds (A B A B …), so that both sides see the same machine:
//!
//! * `GET /v1/feed?limit=20` (viewers with 50 contacts × 2 live stories, 200 active campaigns)
//!   against the floor's `/page`;
//! * `GET /v1/stories/{id}` against the floor's `/get`;
//! * `POST /v1/stories` by authors with 1,000 contacts, one at a time (the median, timed by the
//!   client) and concurrently (throughput), and by 64 authors with 50 contacts at once;
//! * the feed of viewers with 10, 100, 1,000 and 5,000 contacts, all live, against the floor;
//! * the feed with the `openrtb` selector and a local bidder answering in 5 ms against the
//!   `auction` selector (two more statusd on the same data), and the feed's latency when the
//!   bidder never answers;
//! * Redis memory per story and per tray entry.
//!
//! Everything runs on 127.0.0.1 and every run is bounded in time and in requests. Settings, from
//! the environment: `LOAD_SECS` per round (default 5), `LOAD_ROUNDS` (pairs, default 3),
//! `LOAD_CONNECTIONS` (default 32), `LOAD_LOG_REQUESTS` (statusd's `log.requests`; unset, statusd's
//! default: lines for errors only), `LOAD_ONLY` (a comma-separated subset of feed, story, contacts,
//! post, openrtb). The report is printed and written to `target/load-report.md`.

mod bidder;
mod client;
mod floor;
mod seed;

#[path = "../support/photo.rs"]
mod photo;
#[path = "../../tests/api/support/redis.rs"]
mod redis_support;

use client::{Load, Request, Run, quantile};
use floor::FloorSpec;
use seed::{Api, Population, Shape};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The floor runs on the same allocator as statusd (see `src/main.rs`), so that the comparison is
/// of the work done, not of allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const JWT_SECRET: &str = "load-harness-secret-0123456789";
const ADMIN_TOKEN: &str = "load-harness-admin-0123456789";
const KEY_PREFIX: &str = "load:";
/// Both servers get the same number of actix workers.
const WORKERS: usize = 2;
/// Distinct values the floor stores and walks over.
const FLOOR_VALUES: usize = 4_000;
/// Stories posted in one posting round at most (each reaches 1,000 trays).
const MAX_POSTS_PER_ROUND: usize = 5_000;
/// Connections posting to 50 contacts at once, and their stories in a round at most.
const SMALL_POST_CONNECTIONS: usize = 64;
const MAX_SMALL_POSTS_PER_ROUND: usize = 50_000;

const SHAPE: Shape = Shape {
    viewers: 200,
    authors: 50,
    stories_per_author: 2,
    posters: 20,
    poster_contacts: 1_000,
    small_posters: 64,
    small_poster_contacts: 50,
    advertisers: 20,
    campaigns_per_advertiser: 10,
};

struct Config {
    round: Duration,
    rounds: usize,
    connections: usize,
    /// Scenarios to run (all when unset): feed, story, contacts, post.
    only: Option<Vec<String>>,
}

impl Config {
    fn from_env() -> Config {
        let number = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
        Config {
            round: Duration::from_secs(number("LOAD_SECS", 5) as u64),
            rounds: number("LOAD_ROUNDS", 3),
            connections: number("LOAD_CONNECTIONS", 32),
            only: std::env::var("LOAD_ONLY").ok().map(|v| v.split(',').map(str::to_owned).collect()),
        }
    }

    fn runs(&self, scenario: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|s| s == scenario))
    }
}

/// A child process killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port")
}

fn start_statusd(addr: SocketAddr, redis_url: &str) -> Server {
    start_statusd_as("statusd", addr, redis_url, None)
}

/// A statusd named `name` (its log is `target/load-<name>.log`), with a configuration file when
/// given (what the environment cannot say, such as `[[ads.openrtb.bidders]]`).
fn start_statusd_as(name: &str, addr: SocketAddr, redis_url: &str, config: Option<&str>) -> Server {
    let log = std::fs::File::create(target_dir().join(format!("load-{name}.log"))).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_statusd"));
    if let Some(config) = config {
        let path = target_dir().join(format!("load-{name}.toml"));
        std::fs::write(&path, config).expect("config file");
        command.env("STATUSD_CONFIG", path);
    }
    if let Ok(requests) = std::env::var("LOAD_LOG_REQUESTS") {
        command.env("STATUSD_LOG__REQUESTS", requests);
    }
    // statusd's default configuration, but for what a deployment must set (and the workers, the
    // live-story limit and the listen address of this harness).
    let child = command
        .arg("serve")
        .env("STATUSD_LISTEN", addr.to_string())
        .env("STATUSD_REDIS__URL", redis_url)
        .env("STATUSD_REDIS__KEY_PREFIX", KEY_PREFIX)
        .env("STATUSD_AUTH__JWT_SECRET", JWT_SECRET)
        .env("STATUSD_AUTH__ADMIN_TOKEN", ADMIN_TOKEN)
        .env("STATUSD_HTTP__WORKERS", WORKERS.to_string())
        // Posting rounds post thousands of stories per author; the limit is not what is measured.
        .env("STATUSD_STORIES__MAX_ACTIVE_PER_AUTHOR", "1000000")
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("statusd starts");
    Server(child)
}

/// `log.requests` of the measured statusd: `LOAD_LOG_REQUESTS`, or statusd's default.
fn log_requests() -> String {
    std::env::var("LOAD_LOG_REQUESTS").unwrap_or_else(|_| {
        let default = serde_json::to_value(statusd::config::Settings::default().log.requests).expect("a label");
        default.as_str().unwrap_or_default().to_owned()
    })
}

fn start_floor(spec: &FloorSpec) -> Server {
    let child = Command::new(std::env::current_exe().expect("own path"))
        .envs(spec.to_env())
        .stdout(Stdio::null())
        .spawn()
        .expect("floor starts");
    Server(child)
}

fn target_dir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir).expect("target dir");
    dir
}

async fn wait_until_answering(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered 200");
}

fn redis_connection(url: &str) -> redis::Connection {
    redis::Client::open(url).and_then(|c| c.get_connection()).expect("redis")
}

/// One numeric field of a section of Redis's `INFO`.
fn info_field<T: std::str::FromStr>(redis: &mut redis::Connection, section: &str, field: &str) -> T {
    let info: String = redis::cmd("INFO").arg(section).query(redis).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
}

fn used_memory(redis: &mut redis::Connection) -> i64 {
    info_field(redis, "memory", "used_memory")
}

/// Where the measured servers are, and which processes to count CPU time of.
struct Servers {
    statusd: SocketAddr,
    statusd_pid: u32,
    floor: SocketAddr,
    floor_pid: u32,
    redis_pid: u32,
}

/// One side of a comparison.
struct Side {
    name: &'static str,
    addr: SocketAddr,
    /// The server process, whose CPU time is counted.
    pid: u32,
    requests: Arc<Vec<Request>>,
    expected: u16,
}

impl Side {
    fn load(&self, connections: usize, duration: Duration, max_requests: usize) -> Load {
        Load {
            addr: self.addr,
            requests: self.requests.clone(),
            expected: self.expected,
            connections,
            duration,
            max_requests,
        }
    }
}

/// CPU time a process has used so far, all threads together, those that have exited included, in
/// nanoseconds (user and system time from `/proc/<pid>/stat`, in clock ticks of 10 ms: a round
/// runs for seconds). On a machine whose speed changes from one minute to the next, CPU per
/// request is steadier than requests per second.
fn cpu_ns(pid: u32) -> u64 {
    const NS_PER_TICK: u64 = 10_000_000;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name (which may hold spaces): state is the first, utime the 12th.
    let Some((_, fields)) = stat.rsplit_once(')') else {
        return 0;
    };
    let times: Vec<u64> = fields.split_whitespace().skip(11).take(2).filter_map(|f| f.parse().ok()).collect();
    times.iter().sum::<u64>() * NS_PER_TICK
}

/// The process id of the Redis server at `url`.
fn redis_pid(redis: &mut redis::Connection) -> u32 {
    info_field(redis, "server", "process_id")
}

/// One measured run, with the CPU the server and Redis spent on it.
struct Measured {
    run: Run,
    server_cpu_ns: u64,
    redis_cpu_ns: u64,
}

/// Runs `load` against `side` and checks that every answer had the expected status.
async fn measure(side: &Side, load: &Load, redis_pid: u32) -> Measured {
    let (server_before, redis_before) = (cpu_ns(side.pid), cpu_ns(redis_pid));
    let run = client::run(load).await.unwrap_or_else(|e| panic!("{}: {e}", side.name));
    let (server_cpu_ns, redis_cpu_ns) = (
        cpu_ns(side.pid).saturating_sub(server_before),
        cpu_ns(redis_pid).saturating_sub(redis_before),
    );
    assert!(
        run.unexpected == 0,
        "{}: {} answers were not {} (first: {:?})",
        side.name,
        run.unexpected,
        load.expected,
        run.first_unexpected
    );
    Measured {
        run,
        server_cpu_ns,
        redis_cpu_ns,
    }
}

/// Merged figures of several runs of one side.
struct Summary {
    throughput: f64,
    p50_us: u32,
    p99_us: u32,
    rounds: Vec<f64>,
    /// CPU per request, in microseconds: the server's and Redis'.
    server_cpu_us: f64,
    redis_cpu_us: f64,
}

fn summarize(runs: &[Measured]) -> Summary {
    let mut all: Vec<u32> = runs.iter().flat_map(|m| m.run.latencies_us.iter().copied()).collect();
    all.sort_unstable();
    let elapsed: f64 = runs.iter().map(|m| m.run.elapsed.as_secs_f64()).sum();
    let per_request = |ns: u64| ns as f64 / 1000.0 / all.len().max(1) as f64;
    Summary {
        throughput: all.len() as f64 / elapsed,
        p50_us: quantile(&all, 0.50),
        p99_us: quantile(&all, 0.99),
        rounds: runs.iter().map(|m| m.run.throughput()).collect(),
        server_cpu_us: per_request(runs.iter().map(|m| m.server_cpu_ns).sum()),
        redis_cpu_us: per_request(runs.iter().map(|m| m.redis_cpu_ns).sum()),
    }
}

/// A B A B …: each side warmed up once, then `rounds` rounds each, interleaved.
async fn compare(config: &Config, a: &Side, b: &Side, redis_pid: u32) -> (Summary, Summary) {
    for side in [a, b] {
        measure(side, &side.load(config.connections, Duration::from_secs(1), usize::MAX), redis_pid).await;
    }
    let (mut runs_a, mut runs_b) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds {
        runs_a.push(measure(a, &a.load(config.connections, config.round, usize::MAX), redis_pid).await);
        runs_b.push(measure(b, &b.load(config.connections, config.round, usize::MAX), redis_pid).await);
    }
    (summarize(&runs_a), summarize(&runs_b))
}

fn ms(us: u32) -> String {
    format!("{:.2} ms", f64::from(us) / 1000.0)
}

fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**not met**" }
}

fn comparison_table(report: &mut String, title: &str, a: (&str, &Summary), b: (&str, &Summary)) {
    let _ = writeln!(report, "\n### {title}\n");
    let _ = writeln!(
        report,
        "| server | requests/s | p50 | p99 | requests/s per round | server CPU per request | Redis CPU per request |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---|---:|---:|");
    for (name, s) in [a, b] {
        let rounds: Vec<String> = s.rounds.iter().map(|t| format!("{t:.0}")).collect();
        let _ = writeln!(
            report,
            "| {name} | {:.0} | {} | {} | {} | {:.1} µs | {:.1} µs |",
            s.throughput,
            ms(s.p50_us),
            ms(s.p99_us),
            rounds.join(", "),
            s.server_cpu_us,
            s.redis_cpu_us
        );
    }
}

fn main() {
    if let Some(spec) = FloorSpec::from_env() {
        floor::serve(spec).expect("floor server");
        return;
    }
    if let Some(spec) = bidder::BidderSpec::from_env() {
        bidder::serve(spec, creative_jpeg()).expect("bidder");
        return;
    }
    let config = Config::from_env();
    let redis_url = redis_support::standalone_url();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let statusd_addr = free_addr();
    let statusd_base = format!("http://{statusd_addr}");
    let statusd = start_statusd(statusd_addr, &redis_url);
    rt.block_on(wait_until_answering(&format!("{statusd_base}/readyz")));

    eprintln!("seeding through the API…");
    let api = Api::new(statusd_base.clone(), JWT_SECRET, ADMIN_TOKEN.into());
    let creative = creative_jpeg();
    let population: Population = rt.block_on(api.seed(&SHAPE, &creative)).unwrap_or_else(|e| panic!("seeding: {e}"));
    let mut redis = redis_connection(&redis_url);
    let keys = statusd::store::keys::Keys::new(KEY_PREFIX);
    let story_bytes: usize = redis::cmd("STRLEN")
        .arg(keys.story(&population.stories[0]))
        .query(&mut redis)
        .expect("STRLEN");

    let floor_addr = free_addr();
    let floor = start_floor(&FloorSpec {
        listen: floor_addr.to_string(),
        redis_url: redis_url.clone(),
        value_bytes: story_bytes,
        values: FLOOR_VALUES,
        workers: WORKERS,
    });
    rt.block_on(wait_until_answering(&format!("http://{floor_addr}/get?k=0")));
    let servers = Servers {
        statusd: statusd_addr,
        statusd_pid: statusd.0.id(),
        floor: floor_addr,
        floor_pid: floor.0.id(),
        redis_pid: redis_pid(&mut redis),
    };

    let mut report = String::new();
    let _ = writeln!(
        report,
        "## Load harness: statusd against the floor\n\n{} rounds of {} s per side, alternating, {} connections, {} actix workers per server; \
         a story record is {story_bytes} bytes; statusd runs with `log.requests = \"{}\"`.",
        config.rounds,
        config.round.as_secs(),
        config.connections,
        WORKERS,
        log_requests()
    );
    rt.block_on(async {
        if config.runs("feed") {
            feed_against_floor(&mut report, &config, &api, &population, &servers).await;
        }
        if config.runs("story") {
            story_against_floor(&mut report, &config, &api, &population, &servers).await;
        }
        if config.runs("contacts") {
            feed_by_contacts(&mut report, &config, &api, &population, &servers).await;
        }
        if config.runs("post") {
            posting(&mut report, &config, &api, &population, &servers, &mut redis).await;
        }
        if config.runs("openrtb") {
            openrtb_against_auction(&mut report, &config, &api, &population, &servers, &redis_url).await;
        }
    });
    if config.runs("contacts") && config.runs("post") {
        redis_memory(&mut report, &mut redis, &keys, &population.stories[0], &population);
    }
    println!("{report}");
    std::fs::write(target_dir().join("load-report.md"), &report).expect("report written");
}

/// A 540×960 JPEG: the house creatives, and the outside bidder's image.
fn creative_jpeg() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    photo::synthetic_photo(540, 960)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("jpeg");
    out.into_inner()
}

/// Deadline of the ad decision in the openrtb rounds, on both sides (the default, 20 ms, is for
/// in-process selectors); the bidders get `timeout_share` (0.8) of it.
const OPENRTB_DEADLINE_MS: u64 = 50;

fn start_bidder(delay: Option<Duration>) -> (Server, SocketAddr) {
    let addr = free_addr();
    let spec = bidder::BidderSpec {
        listen: addr.to_string(),
        delay,
    };
    let child = Command::new(std::env::current_exe().expect("own path"))
        .envs(spec.to_env())
        .stdout(Stdio::null())
        .spawn()
        .expect("bidder starts");
    (Server(child), addr)
}

/// A statusd on the same data with `selector`, and a bidder at `bidder` when given (with `openrtb`,
/// more lines of `[ads.openrtb]`).
async fn statusd_with_selector(
    name: &str,
    selector: &str,
    bidder: Option<SocketAddr>,
    openrtb: &str,
    redis_url: &str,
) -> (Server, SocketAddr) {
    let addr = free_addr();
    let mut config = format!("[ads]\nselector = \"{selector}\"\ndeadline_ms = {OPENRTB_DEADLINE_MS}\n");
    if let Some(bidder) = bidder {
        config += &format!(
            "[ads.openrtb]\nimage_hosts = [\"{bidder}\"]\n{openrtb}[[ads.openrtb.bidders]]\nname = \"local\"\nendpoint = \"http://{bidder}/bid\"\n"
        );
    }
    let server = start_statusd_as(name, addr, redis_url, Some(&config));
    wait_until_answering(&format!("http://{addr}/readyz")).await;
    (server, addr)
}

async fn openrtb_against_auction(report: &mut String, config: &Config, api: &Api, p: &Population, servers: &Servers, redis_url: &str) {
    eprintln!("openrtb against auction…");
    let (bidder, bidder_addr) = start_bidder(Some(Duration::from_millis(5)));
    let (silent, silent_addr) = start_bidder(None);
    let (auction, auction_addr) = statusd_with_selector("statusd-auction", "auction", None, "", redis_url).await;
    let (openrtb, openrtb_addr) = statusd_with_selector("statusd-openrtb", "openrtb", Some(bidder_addr), "", redis_url).await;
    let stalled = statusd_with_selector("statusd-openrtb-silent", "openrtb", Some(silent_addr), "", redis_url).await;
    let stalled_unpaused = statusd_with_selector(
        "statusd-openrtb-silent-unpaused",
        "openrtb",
        Some(silent_addr),
        "failures_to_pause = 1000000\n",
        redis_url,
    )
    .await;
    let feeds = Arc::new(
        p.viewers
            .iter()
            .map(|v| Request::get("/v1/feed?limit=20", &api.token(v)))
            .collect::<Vec<_>>(),
    );
    let side = |name: &'static str, addr: SocketAddr, server: &Server| Side {
        name,
        addr,
        pid: server.0.id(),
        requests: feeds.clone(),
        expected: 200,
    };
    let auction_side = side("auction", auction_addr, &auction);
    let openrtb_side = side("openrtb, bidder in 5 ms", openrtb_addr, &openrtb);
    // The bid's image is fetched and normalised once, on the first pages that see it.
    let client = reqwest::Client::new();
    for viewer in p.viewers.iter().take(20) {
        let _ = client
            .get(format!("http://{openrtb_addr}/v1/feed?limit=20"))
            .bearer_auth(api.token(viewer))
            .send()
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bidder_before = cpu_ns(bidder.0.id());
    let (a, o) = compare(config, &auction_side, &openrtb_side, servers.redis_pid).await;
    let bidder_cpu_ns = cpu_ns(bidder.0.id()).saturating_sub(bidder_before);
    comparison_table(
        report,
        &format!(
            "Feed with outside bidders: `openrtb` (one local bidder answering in 5 ms) against `auction`, ads.deadline_ms = {OPENRTB_DEADLINE_MS}"
        ),
        (auction_side.name, &a),
        (openrtb_side.name, &o),
    );
    let openrtb_pages: f64 = o.rounds.iter().sum::<f64>() * config.round.as_secs_f64();
    let metrics = client
        .get(format!("http://{openrtb_addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics");
    let count = |outcome: &str| {
        let series = format!("statusd_openrtb_requests_total{{bidder=\"local\",outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let wins = metrics
        .lines()
        .find_map(|l| l.strip_prefix("statusd_openrtb_wins_total{bidder=\"local\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    let _ = writeln!(
        report,
        "
The fan-out costs statusd {:.1} µs of CPU per page ({:.1} against {:.1}), {:.2} × the auction's throughput; the bidder itself used {:.1} µs per page of the openrtb side. Bid requests over the whole run: {:.0} answered with bids, {:.0} timed out, {:.0} errors; {:.0} slots won by the bidder.",
        o.server_cpu_us - a.server_cpu_us,
        o.server_cpu_us,
        a.server_cpu_us,
        o.throughput / a.throughput,
        bidder_cpu_ns as f64 / 1000.0 / openrtb_pages.max(1.0),
        count("bids"),
        count("timeout"),
        count("error"),
        wins
    );

    // A bidder that never answers: a page that asks it waits until tmax, then goes out with the
    // house ads. Without the breaker every page asks it; with it (the default) the bidder is
    // paused after `failures_to_pause` timeouts and probed once per `pause_secs`. Few
    // connections: this is a page's latency, not a throughput.
    let tmax_ms = OPENRTB_DEADLINE_MS as f64 * statusd::config::OpenRtbSettings::default().timeout_share;
    for ((server, addr), what) in [
        (&stalled_unpaused, "every page asks it (failures_to_pause = 1,000,000)"),
        (&stalled, "with the breaker's defaults (paused after 5 timeouts for 30 s)"),
    ] {
        let stalled_side = side("openrtb, bidder never answers", *addr, server);
        let run = measure(&stalled_side, &stalled_side.load(4, config.round, usize::MAX), servers.redis_pid).await;
        let mut latencies = run.run.latencies_us.clone();
        latencies.sort_unstable();
        let _ = writeln!(
            report,
            "\nA bidder that never answers, {what}: {} pages on 4 connections, p50 {}, p99 {}, max {} \
             (its tmax {tmax_ms:.0} ms, the ad deadline {OPENRTB_DEADLINE_MS} ms).",
            latencies.len(),
            ms(quantile(&latencies, 0.50)),
            ms(quantile(&latencies, 0.99)),
            ms(latencies.last().copied().unwrap_or_default())
        );
    }
    drop((auction, openrtb, stalled, stalled_unpaused, bidder, silent));
}

async fn feed_against_floor(report: &mut String, config: &Config, api: &Api, p: &Population, servers: &Servers) {
    eprintln!("feed against /page…");
    let feed = Side {
        name: "GET /v1/feed?limit=20",
        addr: servers.statusd,
        pid: servers.statusd_pid,
        requests: Arc::new(p.viewers.iter().map(|v| Request::get("/v1/feed?limit=20", &api.token(v))).collect()),
        expected: 200,
    };
    let page = Side {
        name: "floor /page",
        addr: servers.floor,
        pid: servers.floor_pid,
        requests: Arc::new(
            p.viewers
                .iter()
                .enumerate()
                .map(|(i, v)| Request::get(&format!("/page?o={}", i * 40), &api.token(v)))
                .collect(),
        ),
        expected: 200,
    };
    let (f, floor) = compare(config, &feed, &page, servers.redis_pid).await;
    comparison_table(
        report,
        "Feed page (20 authors × 2 stories, 3 ads, 200 campaigns)",
        (feed.name, &f),
        (page.name, &floor),
    );
    let ratio = f.throughput / floor.throughput;
    let p99 = f64::from(f.p99_us) / f64::from(floor.p99_us);
    let _ = writeln!(
        report,
        "\nThroughput {ratio:.3} × the floor's (target ≥ 0.6: {}); p99 {p99:.2} × the floor's (target ≤ 2: {}).",
        verdict(ratio >= 0.6),
        verdict(p99 <= 2.0)
    );
}

async fn story_against_floor(report: &mut String, config: &Config, api: &Api, p: &Population, servers: &Servers) {
    eprintln!("story against /get…");
    let pairs = 1_000;
    let story = Side {
        name: "GET /v1/stories/{id}",
        addr: servers.statusd,
        pid: servers.statusd_pid,
        requests: Arc::new(
            (0..pairs)
                .map(|i| {
                    let (viewer, id) = (&p.viewers[i % p.viewers.len()], &p.stories[(i * 7) % p.stories.len()]);
                    Request::get(&format!("/v1/stories/{id}"), &api.token(viewer))
                })
                .collect(),
        ),
        expected: 200,
    };
    let get = Side {
        name: "floor /get",
        addr: servers.floor,
        pid: servers.floor_pid,
        requests: Arc::new(
            (0..pairs)
                .map(|i| Request::get(&format!("/get?k={}", i * 7), &api.token(&p.viewers[i % p.viewers.len()])))
                .collect(),
        ),
        expected: 200,
    };
    let (s, floor) = compare(config, &story, &get, servers.redis_pid).await;
    comparison_table(report, "One story", (story.name, &s), (get.name, &floor));
    let ratio = s.throughput / floor.throughput;
    let _ = writeln!(
        report,
        "\nThroughput {ratio:.3} × the floor's (target ≥ 0.6: {}).",
        verdict(ratio >= 0.6)
    );
}

/// The first page of viewers with 10, 100, 1,000 and 5,000 contacts, every one of them live with
/// 2 stories, against the floor's `/page` (the least any page could cost): the floor and the rows
/// take turns, round after round, so that a slow minute falls on all of them. A page that reads
/// what it shows keeps the same share of the floor at every size.
async fn feed_by_contacts(report: &mut String, config: &Config, api: &Api, p: &Population, servers: &Servers) {
    eprintln!("feed by number of live contacts…");
    let floor = Side {
        name: "floor /page",
        addr: servers.floor,
        pid: servers.floor_pid,
        requests: Arc::new((0..100).map(|i| Request::get(&format!("/page?o={}", i * 40), "")).collect()),
        expected: 200,
    };
    let rows: Vec<Side> = p
        .contact_table
        .iter()
        .map(|row| Side {
            name: "GET /v1/feed?limit=20",
            addr: servers.statusd,
            pid: servers.statusd_pid,
            requests: Arc::new(vec![Request::get("/v1/feed?limit=20", &api.token(&row.viewer))]),
            expected: 200,
        })
        .collect();
    let sides: Vec<&Side> = std::iter::once(&floor).chain(&rows).collect();
    for side in &sides {
        measure(
            side,
            &side.load(config.connections, Duration::from_secs(1), usize::MAX),
            servers.redis_pid,
        )
        .await;
    }
    let mut runs: Vec<Vec<Measured>> = sides.iter().map(|_| Vec::new()).collect();
    for _ in 0..config.rounds {
        for (side, runs) in sides.iter().zip(&mut runs) {
            runs.push(measure(side, &side.load(config.connections, config.round, usize::MAX), servers.redis_pid).await);
        }
    }
    let summaries: Vec<Summary> = runs.iter().map(|r| summarize(r)).collect();
    let floor_rps = summaries[0].throughput;
    let _ = writeln!(
        report,
        "\n### Feed by live contacts (every contact live with 2 stories; {} connections, rows and floor taking turns)\n\n\
         The floor `/page` (one `MGET` of 40 story-sized values): {:.0} requests/s, p99 {}.\n\n\
         | contacts, all live | requests/s | × floor | p50 | p99 | statusd CPU per request | Redis CPU per request |\n|---:|---:|---:|---:|---:|---:|---:|",
        config.connections,
        floor_rps,
        ms(summaries[0].p99_us)
    );
    let ratios: Vec<f64> = summaries[1..].iter().map(|s| s.throughput / floor_rps).collect();
    for ((row, s), ratio) in p.contact_table.iter().zip(&summaries[1..]).zip(&ratios) {
        let _ = writeln!(
            report,
            "| {} | {:.0} | {ratio:.3} | {} | {} | {:.1} µs | {:.1} µs |",
            row.contacts,
            s.throughput,
            ms(s.p50_us),
            ms(s.p99_us),
            s.server_cpu_us,
            s.redis_cpu_us
        );
    }
    let worst = ratios[0] / ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let _ = writeln!(
        report,
        "\nThe share of the floor at 10 contacts over the smallest share at any size: {worst:.2} (target ≤ 1.5: {}).",
        verdict(worst <= 1.5)
    );
}

/// Text stories posted by `posters` in turn, ten each, to statusd.
fn text_posts(api: &Api, servers: &Servers, posters: &[String]) -> Side {
    let requests = (0..posters.len() * 10)
        .map(|i| {
            let body = serde_json::json!({"text": seed::story_text(i), "background": "#43A047", "font": 1}).to_string();
            Request::post_json("/v1/stories", &api.token(&posters[i % posters.len()]), &body)
        })
        .collect();
    Side {
        name: "POST /v1/stories",
        addr: servers.statusd,
        pid: servers.statusd_pid,
        requests: Arc::new(requests),
        expected: 201,
    }
}

async fn posting(report: &mut String, config: &Config, api: &Api, p: &Population, servers: &Servers, redis: &mut redis::Connection) {
    eprintln!("posting to 1,000 contacts…");
    let post = text_posts(api, servers, &p.posters);
    let _ = writeln!(
        report,
        "\n### Posting a text story to 1,000 contacts\n\n| connections | stories | requests/s | p50 | p99 | server CPU per post | Redis CPU per post |\n|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut one_at_a_time_p50_us = f64::NAN;
    let mut bytes_per_story = 0.0;
    for connections in [1, config.connections.min(16)] {
        let memory_before = used_memory(redis);
        let measured = measure(&post, &post.load(connections, config.round, MAX_POSTS_PER_ROUND), servers.redis_pid).await;
        let run = &measured.run;
        let memory_after = used_memory(redis);
        if connections == 1 {
            one_at_a_time_p50_us = f64::from(run.quantile_us(0.5));
            bytes_per_story = (memory_after - memory_before) as f64 / run.latencies_us.len() as f64;
        }
        let _ = writeln!(
            report,
            "| {connections} | {} | {:.0} | {} | {} | {} | {} |",
            run.latencies_us.len(),
            run.throughput(),
            ms(run.quantile_us(0.5)),
            ms(run.quantile_us(0.99)),
            ms((measured.server_cpu_ns / 1000 / run.latencies_us.len().max(1) as u64) as u32),
            ms((measured.redis_cpu_ns / 1000 / run.latencies_us.len().max(1) as u64) as u32)
        );
    }
    let _ = writeln!(
        report,
        "\nMedian, one at a time: {:.2} ms (target < 5 ms: {}), timed by the client over loopback.\n\n\
         Redis memory per posted story, its 1,000 tray entries included: {:.0} bytes (`used_memory` before and after).",
        one_at_a_time_p50_us / 1000.0,
        verdict(one_at_a_time_p50_us < 5_000.0),
        bytes_per_story
    );

    // The common case: many users at once, each posting to the 50 contacts a typical list holds.
    eprintln!("posting to 50 contacts, {SMALL_POST_CONNECTIONS} at once…");
    let small_post = text_posts(api, servers, &p.small_posters);
    let measured = measure(
        &small_post,
        &small_post.load(SMALL_POST_CONNECTIONS, config.round, MAX_SMALL_POSTS_PER_ROUND),
        servers.redis_pid,
    )
    .await;
    let run = &measured.run;
    let posts = run.latencies_us.len().max(1) as u64;
    let _ = writeln!(
        report,
        "\n### Posting a text story to 50 contacts\n\n| connections | stories | requests/s | p50 | p99 | server CPU per post | Redis CPU per post |\n|---:|---:|---:|---:|---:|---:|---:|\n\
         | {SMALL_POST_CONNECTIONS} | {} | {:.0} | {} | {} | {} | {} |",
        run.latencies_us.len(),
        run.throughput(),
        ms(run.quantile_us(0.5)),
        ms(run.quantile_us(0.99)),
        ms((measured.server_cpu_ns / 1000 / posts) as u32),
        ms((measured.redis_cpu_ns / 1000 / posts) as u32)
    );
}

/// Per story record and per tray entry, from `MEMORY USAGE` (a tray is the lines of its live
/// windows).
/// Bytes (`MEMORY USAGE`) of `keys`, with the lines of the string ones (a tray window is lines).
fn usage(redis: &mut redis::Connection, keys: &[String]) -> (i64, i64) {
    let (mut bytes, mut lines) = (0, 0);
    for key in keys {
        let usage: Option<i64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(0)
            .query(redis)
            .unwrap_or(None);
        let value: Option<String> = redis::cmd("GET").arg(key).query(redis).unwrap_or(None);
        bytes += usage.unwrap_or(0);
        lines += value.map_or(0, |v| v.lines().count() as i64);
    }
    (bytes, lines)
}

/// Per story record, per tray window line (what posting appends, until the viewer's next page),
/// and per indexed author (what a viewer's tray index holds for an author with 2 live stories).
fn redis_memory(report: &mut String, redis: &mut redis::Connection, keys: &statusd::store::keys::Keys, story: &str, p: &Population) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let ttl_ms = 86_400_000;
    let (story_record, _) = usage(redis, &[keys.story(story)]);
    // Recipients of the posting rounds never read their feed: their windows hold every line.
    let (window_bytes, window_lines) = usage(redis, &keys.live_trays("recipient00000", now_ms, ttl_ms));
    let mut index_rows = String::new();
    for row in &p.contact_table {
        let (bytes, _) = usage(redis, &keys.tray_index(&row.viewer));
        let _ = write!(
            index_rows,
            "\n| the index of a viewer with {} live contacts | {} | {bytes} | {:.0} |",
            row.contacts,
            row.contacts,
            bytes as f64 / row.contacts.max(1) as f64
        );
    }
    let _ = writeln!(
        report,
        "\n### Redis memory\n\nA text story's record: {story_record} bytes.\n\n| what | entries | bytes | bytes per entry |\n|---|---:|---:|---:|\n\
         | tray windows of a recipient of the posting rounds (lines) | {window_lines} | {window_bytes} | {:.0} |{index_rows}",
        window_bytes as f64 / window_lines.max(1) as f64
    );
}
