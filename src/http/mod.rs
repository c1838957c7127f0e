//! The HTTP layer (actix only): routes, extractors, error mapping, OpenAPI. Handlers parse the
//! request, call one domain function, and shape the answer.

pub mod ads;
pub mod advertisers;
pub mod auth;
pub mod campaigns;
pub mod creatives;
pub mod feed;
pub mod idempotency;
pub mod json;
pub mod media;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod problem;
pub mod stories;
pub mod users;
pub mod wire;

use crate::auth::UserTokens;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::store::Store;
use actix_web::web;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::Semaphore;
use utoipa::IntoParams;

/// Everything a handler may use, shared by all workers.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub tokens: UserTokens,
    pub metrics: Arc<Metrics>,
    /// Bounds how many images are decoded at once, so a burst of uploads cannot exhaust memory.
    pub media_gate: Arc<Semaphore>,
    /// Bounds how many uploads are held in memory at once (`media.max_buffered_uploads`).
    pub upload_gate: Arc<Semaphore>,
    /// This instance's campaign index, selector and ad-token key.
    pub ads: Arc<crate::services::ads::AdServer>,
    /// Set on SIGTERM: `/readyz` answers 503 and every answer closes its connection.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

pub type State = web::Data<AppState>;

/// `?cursor&limit` of paginated lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Opaque (base64url, as issued); from `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]+$", max_length = 4096)]
    pub cursor: Option<String>,
    /// 1–100; default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

impl PageQuery {
    pub fn limit(&self) -> Result<usize> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if n < 1 => Err(Error::field("limit", "must be at least 1")),
            Some(n) => Ok((n as usize).min(MAX_LIMIT)),
        }
    }
}

/// Reads a JSON body by hand (for endpoints that accept more than one content type), with the
/// same limit and errors as [`json::JsonBody`].
pub async fn read_json(mut payload: web::Payload, limit: usize) -> Result<serde_json::Value> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Error::field("body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(Error::PayloadTooLarge(format!("the JSON body is larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    json::parse(&body)
}

/// Registers every route. Paths are matched against the routes in this order (a regex each for
/// those with parameters), so the busiest come first.
pub fn routes(cfg: &mut web::ServiceConfig, settings: &crate::config::Settings) {
    feed::routes(cfg);
    stories::routes(cfg);
    ops::routes(cfg);
    openapi::routes(cfg);
    ads::routes(cfg);
    users::routes(cfg, settings.user_list_body_limit());
    advertisers::routes(cfg);
    creatives::routes(cfg);
    campaigns::routes(cfg);
    pages::routes(cfg);
}
