//! The floor: the least work each measured request could do on this machine, on the same stack
//! and the same Redis client as statusd (statusd's own `Store`: one multiplexed connection per
//! worker, the same timeouts). It checks no token and parses nothing.
//!
//! * `GET /get?k=N` — one Redis GET of a story-sized value: the floor of `GET /v1/stories/{id}`.
//! * `GET /page?o=N` — one `MGET` of 40 story-sized values (20 authors × 2 stories), spliced into
//!   the feed's JSON shape as they come: the floor of `GET /v1/feed?limit=20`, the least a page
//!   could read.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use statusd::config::RedisSettings;
use statusd::store::Store;

/// Authors on a feed page and stories per author, as in the measured feed.
pub const PAGE_AUTHORS: usize = 20;
pub const STORIES_PER_AUTHOR: usize = 2;

/// How the floor server is set up; passed from the harness in environment variables.
pub struct FloorSpec {
    pub listen: String,
    pub redis_url: String,
    /// Size of one stored value: the size of a real story record.
    pub value_bytes: usize,
    /// Distinct values stored (requests walk over them).
    pub values: usize,
    pub workers: usize,
}

const ENV: [&str; 5] = [
    "FLOOR_LISTEN",
    "FLOOR_REDIS_URL",
    "FLOOR_VALUE_BYTES",
    "FLOOR_VALUES",
    "FLOOR_WORKERS",
];

impl FloorSpec {
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let values = [
            self.listen.clone(),
            self.redis_url.clone(),
            self.value_bytes.to_string(),
            self.values.to_string(),
            self.workers.to_string(),
        ];
        ENV.into_iter().zip(values).collect()
    }

    /// The spec when this process was started as a floor server.
    pub fn from_env() -> Option<FloorSpec> {
        let get = |name| std::env::var(name).ok();
        let number = |name| get(name).and_then(|v: String| v.parse().ok());
        Some(FloorSpec {
            listen: get(ENV[0])?,
            redis_url: get(ENV[1])?,
            value_bytes: number(ENV[2])?,
            values: number(ENV[3])?,
            workers: number(ENV[4])?,
        })
    }
}

fn key(i: usize) -> String {
    format!("floor:{i}")
}

/// A JSON object of exactly `bytes` bytes (at least 40), shaped like a story record.
fn story_sized_value(i: usize, bytes: usize) -> String {
    let head = format!("{{\"id\":\"floor{i:021}\",\"text\":\"");
    let tail = "\"}";
    let pad = bytes.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

struct Floor {
    store: Store,
    values: usize,
}

/// The `N` of `?k=N` / `?o=N`, wrapped to the stored values.
fn index(req: &HttpRequest, values: usize) -> usize {
    let n = req.query_string().split_once('=').and_then(|(_, v)| v.parse::<usize>().ok());
    n.unwrap_or(0) % values
}

async fn get_one(req: HttpRequest, floor: web::Data<Floor>) -> HttpResponse {
    let k = key(index(&req, floor.values));
    match floor.store.query::<Option<Vec<u8>>>(redis::cmd("GET").arg(k)).await {
        Ok(Some(value)) => HttpResponse::Ok().content_type("application/json").body(value),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

async fn page(req: HttpRequest, floor: web::Data<Floor>) -> HttpResponse {
    let first = index(&req, floor.values);
    let keys: Vec<String> = (0..PAGE_AUTHORS * STORIES_PER_AUTHOR)
        .map(|j| key((first + j) % floor.values))
        .collect();
    let values: Vec<Option<Vec<u8>>> = match floor.store.query(redis::cmd("MGET").arg(keys)).await {
        Ok(values) => values,
        Err(_) => return HttpResponse::ServiceUnavailable().finish(),
    };
    let mut body = Vec::with_capacity(values.iter().flatten().map(Vec::len).sum::<usize>() + 4096);
    body.extend_from_slice(b"{\"items\":[");
    for (a, stories) in values.chunks(STORIES_PER_AUTHOR).enumerate() {
        if a > 0 {
            body.push(b',');
        }
        body.extend_from_slice(
            format!("{{\"type\":\"author\",\"author\":\"author{a}\",\"unseen\":true,\"latest_at\":\"2026-11-25T12:00:00Z\",\"stories\":[")
                .as_bytes(),
        );
        for (s, story) in stories.iter().flatten().enumerate() {
            if s > 0 {
                body.push(b',');
            }
            body.extend_from_slice(story);
        }
        body.extend_from_slice(b"]}");
    }
    body.extend_from_slice(b"],\"muted\":[],\"next_cursor\":null}");
    HttpResponse::Ok().content_type("application/json").body(body)
}

/// Stores the values, then serves until killed.
pub fn serve(spec: FloorSpec) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let settings = RedisSettings {
            url: spec.redis_url.clone(),
            ..RedisSettings::default()
        };
        let store = Store::new(&settings).map_err(std::io::Error::other)?;
        let mut pipe = redis::pipe();
        for i in 0..spec.values {
            pipe.cmd("SET").arg(key(i)).arg(story_sized_value(i, spec.value_bytes)).ignore();
        }
        store.pipe::<()>(&pipe).await.map_err(|e| std::io::Error::other(e.to_string()))?;
        let floor = web::Data::new(Floor {
            store,
            values: spec.values,
        });
        HttpServer::new(move || {
            App::new()
                .app_data(floor.clone())
                .route("/get", web::get().to(get_one))
                .route("/page", web::get().to(page))
        })
        .workers(spec.workers)
        .bind(&spec.listen)?
        .run()
        .await
    })
}
