//! Metrics, the Prometheus scrape, request ids and logs — through real parts: the statusd binary or
//! an in-process app on a real Redis, the real `promtool` and `prometheus` binaries.

use crate::both_backends;
use crate::support::app::{ADMIN_TOKEN, Backend, JWT_SECRET, TestApp, spawn_app, spawn_app_with};
use crate::support::contract::SendChecked;
use crate::support::images;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

both_backends!(story_and_feed_metrics, live_stories_gauge_follows_posts_deletes_and_expiry);

/// The value of one sample in a Prometheus text exposition (`name{labels}` exactly as rendered).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let r = app.get("/metrics", "").await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn story_and_feed_metrics(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    let story = app.post_text("alice", "metrics").await;
    let id = story["id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/v1/stories/{id}/view"), "bob").await.status(), 204);
    let r = app
        .post_json(&format!("/v1/stories/{id}/reactions"), "bob", &json!({"emoji": "🎉"}))
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .post_json(&format!("/v1/stories/{id}/report"), "bob", &json!({"reason": "spam"}))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.feed_authors("bob").await, vec!["alice"]);
    let form = Form::new().part("media", Part::bytes(images::jpeg(64, 48)).file_name("a.jpg"));
    let r = app
        .req(reqwest::Method::POST, "/v1/stories", "alice")
        .multipart(form)
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let form = Form::new().part("media", Part::bytes(b"not an image".to_vec()).file_name("a.txt"));
    let r = app
        .req(reqwest::Method::POST, "/v1/stories", "alice")
        .multipart(form)
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(app.delete(&format!("/v1/stories/{id}"), "alice").await.status(), 204);

    let text = scrape(&app).await;
    for (series, value) in [
        (r#"statusd_stories_created_total{kind="text"}"#, 1.0),
        (r#"statusd_stories_created_total{kind="image"}"#, 1.0),
        ("statusd_story_views_total", 1.0),
        ("statusd_story_reactions_total", 1.0),
        ("statusd_story_reports_total", 1.0),
        ("statusd_stories_deleted_total", 1.0),
        ("statusd_feed_pages_total", 1.0),
        ("statusd_feed_authors_per_page_sum", 1.0),
        ("statusd_feed_authors_per_page_count", 1.0),
        (r#"statusd_media_rejected_total{reason="unsupported_media_type"}"#, 1.0),
        // Both uploads went through the pipeline, the refused one too.
        ("statusd_media_processing_duration_seconds_count", 2.0),
        (
            r#"statusd_http_requests_total{method="POST",route="/v1/stories/{id}/view",status="204"}"#,
            1.0,
        ),
        (r#"statusd_ad_slots_total{outcome="filled"}"#, 0.0),
        (r#"statusd_redis_errors_total{kind="io"}"#, 0.0),
    ] {
        let got = sample(&text, series).unwrap_or_else(|| panic!("{series} missing:\n{text}"));
        assert_eq!(got, value, "{series}\n{text}");
    }
    // Redis round trips are timed, by op; never labelled with keys.
    for op in ["command", "pipeline", "script"] {
        let count = sample(&text, &format!(r#"statusd_redis_command_duration_seconds_count{{op="{op}"}}"#)).unwrap();
        assert!(count > 0.0, "no {op} timed:\n{text}");
    }
    // No label carries an id or a user.
    for needle in [id, "alice", "bob"] {
        assert!(!text.contains(needle), "{needle} leaked into a label:\n{text}");
    }
}

async fn live_stories_gauge_follows_posts_deletes_and_expiry(backend: Backend) {
    let app = spawn_app(backend).await;
    let live = |text: String| sample(&text, "statusd_live_stories").unwrap();
    assert_eq!(live(scrape(&app).await), 0.0);
    let a = app.post_text("alice", "one").await;
    app.post_text("alice", "two").await;
    app.post_text("bob", "three").await;
    assert_eq!(live(scrape(&app).await), 3.0);
    let id = a["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/v1/stories/{id}"), "alice").await.status(), 204);
    // A second delete finds nothing and uncounts nothing.
    assert_eq!(app.delete(&format!("/v1/stories/{id}"), "alice").await.status(), 404);
    assert_eq!(live(scrape(&app).await), 2.0);
    // Erasing an account uncounts its stories.
    assert_eq!(app.delete("/v1/me", "bob").await.status(), 204);
    assert_eq!(live(scrape(&app).await), 1.0);

    // A story refused at the live limit was never counted.
    let limited = spawn_app_with(backend, |s| s.stories.max_active_per_author = 1).await;
    limited.post_text("carol", "only one").await;
    let r = limited.post_json("/v1/stories", "carol", &json!({"text": "too many"})).await;
    assert_eq!(r.status(), 429);
    assert_eq!(live(scrape(&limited).await), 1.0);
}

#[tokio::test]
async fn stories_past_their_minute_no_longer_count() {
    // Stories that live one second: within two minutes they have left the gauge by themselves.
    let app = spawn_app_with(Backend::Standalone, |s| s.stories.ttl_secs = 1).await;
    app.post_text("alice", "brief").await;
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        if sample(&scrape(&app).await, "statusd_live_stories") == Some(0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "an expired story is still counted");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn unknown_methods_and_paths_do_not_grow_labels() {
    let app = spawn_app(Backend::Standalone).await;
    for path in ["/nope/1", "/nope/2", "/v1/stories/x/y/z"] {
        assert_eq!(app.get(path, "").await.status(), 404);
    }
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    app.req(brew, "/v1/feed", "alice").send_checked().await.unwrap();
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"statusd_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        Some(3.0),
        "{text}"
    );
    assert!(!text.contains("/nope/") && !text.contains("BREW"), "{text}");
    assert!(text.contains(r#"method="other""#), "{text}");
}

/// A binary from PATH, or a test failure that says how to get it.
pub fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file()));
    found.unwrap_or_else(|| {
        panic!("`{name}` is not installed: scripts/test.sh installs it (scripts/ensure-tools.sh, Debian package prometheus)")
    })
}

/// Runs `promtool` with `args`, feeding `stdin`; returns (success, output).
fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// An instance that exposes every metric: with the openrtb selector and a bidder (one that is
/// never reached), so that the outside bidders' series exist too.
async fn with_every_metric() -> TestApp {
    spawn_app_with(Backend::Standalone, |s| {
        s.ads.selector = statusd::config::SelectorName::Openrtb;
        s.ads.openrtb.bidders = vec![statusd::config::BidderSettings {
            name: "nobody".into(),
            endpoint: "http://127.0.0.1:9/bid".into(),
        }];
    })
    .await
}

#[tokio::test]
async fn promtool_accepts_the_live_metrics() {
    let app = with_every_metric().await;
    app.befriend_all(&["alice", "bob"]).await;
    app.post_text("alice", "lint me").await;
    app.feed("bob").await;
    app.get("/nope", "").await;
    let text = scrape(&app).await;
    let (ok, out) = promtool(&["check", "metrics"], &text);
    assert!(ok, "promtool check metrics:\n{out}\n--- input ---\n{text}");
    assert!(out.trim().is_empty(), "promtool has remarks:\n{out}");
}

#[test]
fn promtool_accepts_the_deploy_config_and_rules() {
    let (ok, out) = promtool(&["check", "config", "deploy/prometheus/prometheus.yml"], "");
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["check", "rules", "deploy/prometheus/alerts.yml"], "");
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["test", "rules", "deploy/prometheus/alerts_test.yml"], "");
    assert!(ok, "{out}");
}

/// A child process killed when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn prometheus_scrapes_a_running_statusd() {
    let app = spawn_app(Backend::Standalone).await;
    app.set_contacts("alice", &["bob"]).await;
    let target = app.address.trim_start_matches("http://").to_owned();
    let dir = std::env::temp_dir().join(format!("statusd-prometheus-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: statusd\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(tool("prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prometheus starts");
    let mut prometheus = Reaped(child);

    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query={}",
        "statusd_http_requests_total%7Broute%3D%22%2Fv1%2Fme%2Fcontacts%22%7D"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let value = loop {
        // Prometheus's own API, not statusd's: not checked against statusd's document.
        if let Ok(r) = app.client.get(&query).send().await
            && let Ok(body) = r.json::<Value>().await
            && let Some(first) = body["data"]["result"].as_array().and_then(|r| r.first())
        {
            assert_eq!(first["metric"]["job"], "statusd");
            assert_eq!(first["metric"]["method"], "PUT");
            break first["value"][1].as_str().unwrap().parse::<f64>().unwrap();
        }
        if let Ok(Some(status)) = prometheus.0.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(prometheus.0.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("prometheus exited ({status}):\n{err}");
        }
        assert!(Instant::now() < deadline, "Prometheus never returned the metric from {query}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(value, 1.0);
    drop(prometheus);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app(Backend::Standalone).await;
    let id_of = |r: &reqwest::Response| r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    let a = id_of(&app.get("/healthz", "").await).unwrap();
    let b = id_of(&app.get("/nope", "").await).unwrap();
    assert_eq!(a.len(), 26, "a ULID: {a}");
    assert_ne!(a, b);
    // A plain incoming id is kept; anything else is replaced.
    let given = |v: &str| app.client.get(app.url("/healthz")).header("x-request-id", v).send_checked();
    assert_eq!(id_of(&given("edge-1234.abc:7").await.unwrap()).unwrap(), "edge-1234.abc:7");
    for bad in ["has space", "é", &"x".repeat(129), ""] {
        let id = id_of(&given(bad).await.unwrap()).unwrap();
        assert_eq!(id.len(), 26, "{bad:?} must be replaced, got {id}");
    }
}

/// The `statusd` binary, run as a child process on the shared test Redis with JSON logs captured.
pub struct Statusd {
    child: Option<Child>,
    pub address: String,
    pub port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    /// The threads that read stdout and stderr; they end when the process has closed both.
    readers: Vec<std::thread::JoinHandle<()>>,
}

pub const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef";

impl Statusd {
    /// Starts the binary with `env` on top of a test configuration; returns once `/healthz` answers.
    pub async fn start(env: &[(&str, &str)]) -> Statusd {
        let port = free_port();
        let prefix = format!("bin{}-{port}:", std::process::id());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_statusd"));
        for (key, _) in std::env::vars() {
            if key.starts_with("STATUSD_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("STATUSD_LISTEN", format!("127.0.0.1:{port}"))
            .env("STATUSD_REDIS__URL", crate::support::redis::standalone_url())
            .env("STATUSD_REDIS__KEY_PREFIX", &prefix)
            .env("STATUSD_AUTH__JWT_SECRET", JWT_SECRET)
            .env("STATUSD_AUTH__ADMIN_TOKEN", ADMIN_TOKEN)
            .env("STATUSD_AUTH__METRICS_TOKEN", METRICS_TOKEN)
            .env("STATUSD_LOG__FORMAT", "json")
            .env("STATUSD_HTTP__WORKERS", "2")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("statusd starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            }));
        }
        let mut statusd = Statusd {
            child: Some(child),
            address: format!("http://127.0.0.1:{port}"),
            port,
            lines,
            readers,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", statusd.address)).send_checked().await
                && r.status() == 200
            {
                break;
            }
            if let Some(status) = statusd.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("statusd exited at start ({status}):\n{}", statusd.log());
            }
            assert!(Instant::now() < deadline, "statusd did not start:\n{}", statusd.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        statusd
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new(tool("kill"))
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit (polling, up to `limit`).
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                // Every line the process wrote is read once its readers reach the end of output.
                for reader in self.readers.drain(..) {
                    tokio::task::spawn_blocking(move || reader.join()).await.unwrap().unwrap();
                }
                return status;
            }
            assert!(Instant::now() < deadline, "statusd did not exit within {limit:?}:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every line written so far, stdout and stderr.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn log(&self) -> String {
        self.lines().join("\n")
    }

    /// Every JSON log line, parsed.
    pub fn json_lines(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
            .collect()
    }
}

impl Drop for Statusd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The request id of a JSON log line: the `request` span's field, if the line was logged in one.
pub fn request_id_of(line: &Value) -> Option<&str> {
    line["span"]["request_id"]
        .as_str()
        .or_else(|| line["spans"].as_array()?.iter().find_map(|s| s["request_id"].as_str()))
}

#[tokio::test]
async fn json_logs_carry_request_ids_and_never_secrets() {
    let mut statusd = Statusd::start(&[("STATUSD_LOG__FILTER", "debug")]).await;
    let client = reqwest::Client::new();
    let token = statusd::auth::UserTokens::new(JWT_SECRET).issue("alice", 3600).unwrap();
    let url = |p: &str| format!("{}{p}", statusd.address);
    let mut sent = Vec::new();
    let mut send = async |rb: reqwest::RequestBuilder, id: &str, want: u16| {
        let r = rb.header("x-request-id", id).send_checked().await.unwrap();
        assert_eq!(r.status().as_u16(), want, "{id}");
        assert_eq!(r.headers()["x-request-id"], id);
        sent.push(id.to_owned());
    };
    send(
        client.post(url("/v1/stories")).bearer_auth(&token).json(&json!({"text": "logged"})),
        "req-post",
        201,
    )
    .await;
    send(client.get(url("/v1/feed")).bearer_auth(&token), "req-feed", 200).await;
    // Failures log too, and must not echo what was presented.
    send(
        client.get(url("/v1/feed")).bearer_auth(format!("{token}tampered")),
        "req-bad-token",
        401,
    )
    .await;
    send(client.get(url("/v1/feed")).bearer_auth(ADMIN_TOKEN), "req-admin-as-user", 401).await;
    send(client.get(url("/metrics")).bearer_auth(METRICS_TOKEN), "req-metrics", 200).await;
    send(
        client.get(url("/metrics")).bearer_auth("wrong-metrics-token-xyz"),
        "req-metrics-bad",
        401,
    )
    .await;
    send(client.get(url("/v1/nope")), "req-404", 404).await;
    statusd.sigterm();
    assert!(statusd.wait_exit(Duration::from_secs(30)).await.success());

    let raw = statusd.log();
    for secret in [JWT_SECRET, ADMIN_TOKEN, METRICS_TOKEN, token.as_str(), "wrong-metrics-token-xyz"] {
        assert!(!raw.contains(secret), "a secret reached the logs: {secret}\n{raw}");
    }
    // The token's signature alone must not appear either.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!raw.contains(signature), "{raw}");
    assert!(!raw.to_ascii_lowercase().contains("bearer "), "{raw}");

    let lines = statusd.json_lines();
    for id in &sent {
        let mine: Vec<&Value> = lines.iter().filter(|l| request_id_of(l) == Some(id.as_str())).collect();
        assert!(
            mine.iter().any(|l| l["fields"]["message"] == "request finished"),
            "no access line for {id}:\n{raw}"
        );
        assert!(mine.iter().any(|l| l["fields"]["message"] == "request started"), "{raw}");
    }
    // Every line statusd logs while serving a request names it; only start-up and shutdown
    // lines stand outside a request.
    for line in &lines {
        let target = line["target"].as_str().unwrap_or_default();
        let in_request = line.get("span").is_some() || line.get("spans").is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()));
        if in_request {
            assert!(request_id_of(line).is_some(), "a line in a request without its id: {line}");
        } else {
            let message = line["fields"]["message"].as_str().unwrap_or_default();
            assert!(
                !target.starts_with("statusd::http") && !message.contains("request"),
                "a request's line outside its span: {line}"
            );
        }
    }
}

/// By default (`log.requests = "errors"`) successes are not logged at info, failures are; with
/// `all`, both are.
#[tokio::test]
async fn request_lines_for_errors_by_default_and_all_when_asked() {
    for (env, successes_logged) in [(vec![], false), (vec![("STATUSD_LOG__REQUESTS", "all")], true)] {
        let mut statusd = Statusd::start(&env).await;
        let client = reqwest::Client::new();
        let token = statusd::auth::UserTokens::new(JWT_SECRET).issue("alice", 3600).unwrap();
        let feed = format!("{}/v1/feed", statusd.address);
        let ok = client
            .get(&feed)
            .bearer_auth(&token)
            .header("x-request-id", "req-ok")
            .send_checked()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let bad = client
            .get(&feed)
            .bearer_auth("nonsense")
            .header("x-request-id", "req-bad")
            .send_checked()
            .await
            .unwrap();
        assert_eq!(bad.status(), 401);
        statusd.sigterm();
        assert!(statusd.wait_exit(Duration::from_secs(30)).await.success());
        let finished = |id: &str| {
            statusd
                .json_lines()
                .iter()
                .any(|l| request_id_of(l) == Some(id) && l["fields"]["message"] == "request finished")
        };
        assert_eq!(finished("req-ok"), successes_logged, "{env:?}: {}", statusd.log());
        assert!(finished("req-bad"), "{}", statusd.log());
    }
}

/// Every `expr` in the Grafana dashboard, with Grafana's variables filled in.
fn dashboard_exprs() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", Value::String(e)) => out.push(e.replace("$__rate_interval", "5m").replace("$job", ".*")),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/statusd-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    walk(&dashboard, &mut out);
    out
}

#[tokio::test]
async fn dashboard_and_alerts_use_real_metrics_and_valid_queries() {
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 20, "{exprs:?}");
    // PromQL syntax: promtool parses each query as a recording rule.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(e).unwrap()
        ));
    }
    let file = std::env::temp_dir().join(format!("statusd-dashboard-rules-{}.yml", std::process::id()));
    std::fs::write(&file, &rules).unwrap();
    let (ok, out) = promtool(&["check", "rules", file.to_str().unwrap()], "");
    let _ = std::fs::remove_file(&file);
    assert!(ok, "a dashboard query does not parse:\n{out}");

    // Every metric the dashboard and the alerts name is one statusd exposes.
    let app = with_every_metric().await;
    app.set_contacts("alice", &["bob"]).await;
    app.feed("alice").await;
    let form = Form::new().part("media", Part::bytes(images::jpeg(32, 32)).file_name("a.jpg"));
    app.req(reqwest::Method::POST, "/v1/stories", "alice")
        .multipart(form)
        .send_checked()
        .await
        .unwrap();
    let live = scrape(&app).await;
    let alerts = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus/alerts.yml")).unwrap();
    let mut named: Vec<String> = Vec::new();
    for text in exprs.iter().map(String::as_str).chain([alerts.as_str()]) {
        for (start, _) in text.match_indices("statusd_") {
            let name: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            named.push(name);
        }
    }
    named.sort();
    named.dedup();
    assert!(named.len() >= 20, "{named:?}");
    for name in named {
        assert!(
            live.lines().any(|l| l.starts_with(&format!("{name}{{"))
                || l.starts_with(&format!("{name} "))
                || l.starts_with(&format!("# TYPE {name} "))),
            "{name} is used in deploy/ but statusd does not expose it"
        );
    }
}

/// Measures what stories cost in Redis memory (`MEMORY USAGE ... SAMPLES 0`) on a real server, for
/// deploy/SIZING.md. Run: `cargo test --test api -- --ignored redis_memory_sizing --nocapture`.
#[tokio::test]
#[ignore = "prints measurements for deploy/SIZING.md; not a check"]
async fn redis_memory_sizing() {
    let app = spawn_app(Backend::Standalone).await;
    let usage = async |key: &str| -> i64 { app.redis(redis::cmd("MEMORY").arg("USAGE").arg(key).arg("SAMPLES").arg(0)).await };
    let key = |tag: &str, what: &str| format!("{}{{{tag}}}:{what}", app.settings.redis.key_prefix);
    let info: String = app.redis(redis::cmd("INFO").arg("server")).await;
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .to_owned();
    println!("redis {version}");

    // Records.
    let text = app.post_text_with("solo", json!({"text": "x".repeat(100)})).await;
    let id = text["id"].as_str().unwrap();
    println!(
        "text story record (100 chars): {} B",
        usage(&key(&format!("s:{id}"), "story")).await
    );
    let text = app.post_text_with("solo", json!({"text": "x".repeat(700)})).await;
    let id = text["id"].as_str().unwrap();
    println!(
        "text story record (700 chars): {} B",
        usage(&key(&format!("s:{id}"), "story")).await
    );
    for (label, bytes) in [
        ("two-colour 4000x3000 JPEG", images::jpeg(4000, 3000)),
        ("noise 1600x1200 JPEG", noise_jpeg(1600, 1200)),
    ] {
        let form = Form::new()
            .part("media", Part::bytes(bytes).file_name("p.jpg"))
            .text("caption", "x".repeat(100));
        let r = app
            .req(reqwest::Method::POST, "/v1/stories", "solo")
            .multipart(form)
            .send_checked()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let story: Value = r.json().await.unwrap();
        let id = story["id"].as_str().unwrap();
        let tag = format!("s:{id}");
        let (record, media, thumb) = (
            usage(&key(&tag, "story")).await,
            usage(&key(&tag, "media")).await,
            usage(&key(&tag, "thumb")).await,
        );
        let media_len: i64 = app.redis(redis::cmd("STRLEN").arg(key(&tag, "media"))).await;
        let thumb_len: i64 = app.redis(redis::cmd("STRLEN").arg(key(&tag, "thumb"))).await;
        println!(
            "photo story ({label}): record {record} B, media {media} B for {media_len} B of JPEG, thumb {thumb} B for {thumb_len} B of JPEG"
        );
    }
    println!("author's live list with 4 stories: {} B", usage(&key("u:solo", "stories")).await);

    // A tray growing entry by entry: one story from each of n authors.
    let n = 1000;
    let authors: Vec<String> = (0..n).map(|i| format!("author{i:04}")).collect();
    let refs: Vec<&str> = authors.iter().map(String::as_str).collect();
    app.set_contacts("viewer", &refs).await;
    let checkpoints = [1, 2, 10, 64, 100, 128, 129, 200, 500, 1000];
    let mut last = (0, 0);
    let mut ids = Vec::new();
    for (i, author) in authors.iter().enumerate() {
        app.set_contacts(author, &["viewer"]).await;
        let story = app.post_text(author, "hello").await;
        ids.push(story["id"].as_str().unwrap().to_owned());
        let entries = i + 1;
        if checkpoints.contains(&entries) {
            let mut tray = 0;
            for window in app.live_trays("viewer") {
                let bytes: Option<i64> = app.redis(redis::cmd("MEMORY").arg("USAGE").arg(window).arg("SAMPLES").arg(0)).await;
                tray += bytes.unwrap_or(0);
            }
            let per_entry = if last.0 > 0 {
                (tray - last.1) as f64 / (entries - last.0) as f64
            } else {
                f64::NAN
            };
            println!("tray with {entries} entries: {tray} B ({per_entry:.1} B per entry since the last line)");
            last = (entries, tray);
        }
    }
    // Views: the viewer's seen set grows; each story's viewer list gets one entry.
    for id in &ids[..200] {
        assert_eq!(app.post(&format!("/v1/stories/{id}/view"), "viewer").await.status(), 204);
    }
    println!("seen set with 200 entries: {} B", usage(&key("u:viewer", "seen")).await);
    println!(
        "story viewer list with 1 viewer: {} B",
        usage(&key(&format!("s:{}", ids[0]), "views")).await
    );
    println!("contact list of 1000: {} B", usage(&key("u:viewer", "contacts")).await);
    println!("contact list of 1: {} B", usage(&key("u:author0000", "contacts")).await);
    println!("contact log of 1000 contacts: {} B", usage(&key("u:viewer", "contact-log")).await);
    println!(
        "mirror of the 1000 lists that hold a user: {} B",
        usage(&key("u:viewer", "listed-by")).await
    );
    println!("live-story counts: {} B", usage(&key("live", "by_minute")).await);
}

/// A JPEG of random pixels: the worst case for compression, as photos go.
fn noise_jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut seed: u32 = 0x1234_5678;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        image::Rgb([seed as u8, (seed >> 8) as u8, (seed >> 16) as u8])
    });
    images::encode(&img, image::ImageFormat::Jpeg)
}
