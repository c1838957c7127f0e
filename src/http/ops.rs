//! Operations: health, readiness, metrics.

use super::State;
use super::auth::metrics_allowed;
use super::problem::Problem;
use crate::error::{Error, Result};
use crate::services::ops;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)))
        .service(web::resource("/metrics").route(web::get().to(metrics)));
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

/// Redis answers, the campaign index is loaded and the instance is not shutting down: it can serve.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = Health), (status = 503, body = Problem, description = "`store_unavailable`, `busy` (the campaign index is loading) or `shutting_down` (draining after SIGTERM)")))]
pub async fn readyz(state: State) -> Result<HttpResponse> {
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Error::ShuttingDown);
    }
    if !ops::store_answers(&state.store).await {
        return Err(Error::StoreUnavailable("ping failed".into()));
    }
    if !state.ads.is_loaded() {
        return Err(Error::Busy("the campaign index is still loading".into()));
    }
    Ok(HttpResponse::Ok().json(Health { status: "ready".into() }))
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = Problem)))]
pub async fn metrics(state: State, req: HttpRequest) -> Result<HttpResponse> {
    if !metrics_allowed(&req, state.settings.auth.metrics_token.as_ref().map(|t| t.expose_secret())) {
        return Err(Error::Unauthorized);
    }
    // The live-story gauge is read from Redis now; while Redis is down it keeps its last value.
    if let Ok(live) = ops::live_stories(&state.store, chrono::Utc::now()).await {
        state.metrics.live_stories.set(live);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render()))
}
