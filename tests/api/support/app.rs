//! `spawn_app`: a fully configured statusd on a free port, on a real Redis (standalone or the
//! test cluster), with a key prefix of its own so that tests never see each other's data.

#![allow(dead_code)]

use super::contract::SendChecked;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use statusd::config::Settings;
use statusd::startup::Application;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backend {
    Standalone,
    Cluster,
}

pub const JWT_SECRET: &str = "test-secret-0123456789abcdef";
pub const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub settings: Settings,
    pub backend: Backend,
    redis: redis::Client,
    redis_cluster: Option<redis::cluster::ClusterClient>,
}

static NEXT_PREFIX: AtomicU64 = AtomicU64::new(0);

/// Test settings: small limits where tests probe them, one worker.
pub fn test_settings(backend: Backend) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".into(),
        ..Settings::default()
    };
    s.http.workers = 1;
    s.auth.jwt_secret = Some(JWT_SECRET.into());
    s.auth.admin_token = Some(ADMIN_TOKEN.into());
    s.redis.key_prefix = format!("t{}-{}:", std::process::id(), NEXT_PREFIX.fetch_add(1, Ordering::Relaxed));
    // Campaign changes show quickly, and a loaded test machine never misses the ad deadline.
    s.ads.index_refresh_ms = 100;
    s.ads.stats_refresh_ms = 200;
    s.ads.deadline_ms = 5_000;
    match backend {
        Backend::Standalone => s.redis.url = super::redis::standalone_url(),
        Backend::Cluster => s.redis.cluster_nodes = super::redis::cluster_urls(),
    }
    s
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns an app on the shared Redis and waits until it is ready (campaign index loaded).
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(backend);
    tweak(&mut settings);
    let app = spawn_with_settings(backend, settings).await;
    app.wait_ready().await;
    app
}

pub async fn spawn_with_settings(backend: Backend, settings: Settings) -> TestApp {
    settings.validate().expect("test settings are valid");
    let app = Application::build(settings.clone()).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let redis_url = settings.redis.cluster_nodes.first().cloned().unwrap_or(settings.redis.url.clone());
    let redis_cluster = (!settings.redis.cluster_nodes.is_empty())
        .then(|| redis::cluster::ClusterClient::new(settings.redis.cluster_nodes.clone()).expect("cluster client"));
    TestApp {
        address,
        // Idle connections are dropped long before the server's keep-alive (5 s) closes them, so a
        // request never races a closing connection.
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(1))
            .build()
            .unwrap(),
        redis: redis::Client::open(redis_url).unwrap(),
        redis_cluster,
        settings,
        backend,
    }
}

impl TestApp {
    /// Polls `/readyz` until it answers 200 (10 s at most).
    pub async fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.get("/readyz", "").await.status() != StatusCode::OK {
            assert!(std::time::Instant::now() < deadline, "app did not become ready");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn token(&self, user: &str) -> String {
        statusd::auth::UserTokens::new(JWT_SECRET).issue(user, 3600).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request as `user` (no Authorization header when `user` is empty).
    pub fn req(&self, method: Method, path: &str, user: &str) -> RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        if user.is_empty() { rb } else { rb.bearer_auth(self.token(user)) }
    }

    pub async fn get(&self, path: &str, user: &str) -> Response {
        self.req(Method::GET, path, user).send_checked().await.expect("request sent")
    }

    pub async fn get_json(&self, path: &str, user: &str) -> Value {
        let r = self.get(path, user).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn send_json(&self, method: Method, path: &str, user: &str, body: &Value) -> Response {
        self.req(method, path, user).json(body).send_checked().await.expect("request sent")
    }

    pub async fn post_json(&self, path: &str, user: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, user, body).await
    }

    pub async fn post(&self, path: &str, user: &str) -> Response {
        self.req(Method::POST, path, user).send_checked().await.expect("request sent")
    }

    pub async fn delete(&self, path: &str, user: &str) -> Response {
        self.req(Method::DELETE, path, user).send_checked().await.expect("request sent")
    }

    pub async fn set_contacts(&self, user: &str, contacts: &[&str]) {
        let r = self
            .send_json(Method::PUT, "/v1/me/contacts", user, &json!({ "contacts": contacts }))
            .await;
        let status = r.status();
        assert_eq!(status, StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    }

    /// Makes every pair of `users` mutual contacts.
    pub async fn befriend_all(&self, users: &[&str]) {
        for u in users {
            let others: Vec<&str> = users.iter().copied().filter(|o| o != u).collect();
            self.set_contacts(u, &others).await;
        }
    }

    /// Posts a text story and returns it.
    pub async fn post_text(&self, author: &str, text: &str) -> Value {
        self.post_text_with(author, json!({ "text": text })).await
    }

    pub async fn post_text_with(&self, author: &str, body: Value) -> Value {
        let r = self.post_json("/v1/stories", author, &body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "posting {body}");
        r.json().await.unwrap()
    }

    pub async fn feed(&self, user: &str) -> Value {
        self.get_json("/v1/feed", user).await
    }

    /// Authors in the feed's `items`, in order.
    pub async fn feed_authors(&self, user: &str) -> Vec<String> {
        authors(&self.feed(user).await["items"])
    }

    /// This app's key schema (its prefix), for tests that read or write Redis by hand.
    pub fn key_schema(&self) -> statusd::store::keys::Keys {
        statusd::store::keys::Keys::new(&self.settings.redis.key_prefix)
    }

    /// The keys of `user`'s tray windows that may hold live entries now.
    pub fn live_trays(&self, user: &str) -> Vec<String> {
        let keys = self.key_schema();
        let ttl_ms = self.settings.stories.ttl_secs as i64 * 1000;
        keys.live_trays(user, chrono::Utc::now().timestamp_millis(), ttl_ms)
    }

    /// `user`'s tray as stored: its live windows' lines, oldest window first.
    pub async fn tray(&self, user: &str) -> String {
        let windows: Vec<Option<String>> = self.redis(redis::cmd("MGET").arg(self.live_trays(user))).await;
        windows.into_iter().flatten().collect()
    }

    /// Every key this app wrote (its prefix), across all cluster nodes.
    pub async fn keys(&self) -> Vec<String> {
        let pattern = format!("{}*", self.settings.redis.key_prefix);
        let urls: Vec<String> = if self.settings.redis.cluster_nodes.is_empty() {
            vec![self.settings.redis.url.clone()]
        } else {
            self.settings.redis.cluster_nodes.clone()
        };
        let mut out = Vec::new();
        for url in urls {
            let mut conn = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query_async(&mut conn).await.unwrap();
            out.extend(keys);
        }
        out.sort();
        out
    }

    /// Every key this app wrote with its value, written out in one order whatever the encoding
    /// (`DUMP` is not: a hash table's order moves as Redis rehashes it on reads). Equal snapshots
    /// mean that nothing changed in between.
    pub async fn snapshot(&self) -> Vec<(String, Vec<Vec<u8>>)> {
        let mut out = Vec::new();
        for key in self.keys().await {
            let kind: String = self.redis(redis::cmd("TYPE").arg(&key)).await;
            let mut value: Vec<Vec<u8>> = match kind.as_str() {
                "string" => vec![self.redis(redis::cmd("GET").arg(&key)).await],
                "hash" => {
                    let fields: Vec<(Vec<u8>, Vec<u8>)> = self.redis(redis::cmd("HGETALL").arg(&key)).await;
                    fields.into_iter().map(|(f, v)| [f, b"=".to_vec(), v].concat()).collect()
                }
                "set" => self.redis(redis::cmd("SMEMBERS").arg(&key)).await,
                "zset" => {
                    let members: Vec<(Vec<u8>, String)> = self.redis(redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).arg("WITHSCORES")).await;
                    members
                        .into_iter()
                        .map(|(m, score)| [m, b"@".to_vec(), score.into_bytes()].concat())
                        .collect()
                }
                "list" => self.redis(redis::cmd("LRANGE").arg(&key).arg(0).arg(-1)).await,
                other => vec![self.redis(redis::cmd("DUMP").arg(&key)).await, other.as_bytes().to_vec()],
            };
            if kind != "list" {
                value.sort();
            }
            out.push((key, value));
        }
        out
    }

    /// Runs one raw Redis command (routed by key on a cluster).
    pub async fn redis<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        match &self.redis_cluster {
            Some(c) => cmd.query_async(&mut c.get_async_connection().await.unwrap()).await.unwrap(),
            None => cmd
                .query_async(&mut self.redis.get_multiplexed_async_connection().await.unwrap())
                .await
                .unwrap(),
        }
    }
}

pub fn authors(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "author")
        .map(|i| i["author"].as_str().unwrap().to_owned())
        .collect()
}

/// Calls `check` until it answers true, for at most `within`; panics naming `what` after that. The
/// way to wait for something to happen (a token to expire, an instance to take a change in):
/// the condition itself, not a guess of how long it takes.
pub async fn eventually<F: std::future::Future<Output = bool>>(within: std::time::Duration, what: &str, mut check: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + within;
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Asserts a problem+json answer with this status and code; returns the body.
pub async fn assert_problem(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "expected {status} {code}");
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(ct.starts_with("application/problem+json"), "content-type {ct}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "{field} missing in {body}");
    }
    body
}

/// Generates a `standalone` and a `cluster` test for each async fn taking a `Backend`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn standalone() {
                    super::$name($crate::support::app::Backend::Standalone).await
                }
                #[tokio::test]
                async fn cluster() {
                    super::$name($crate::support::app::Backend::Cluster).await
                }
            }
        )*
    };
}
