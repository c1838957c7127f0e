//! `GET /v1/feed`.

use super::auth::User;
use super::problem::Problem;
use super::{PageQuery, State};
use crate::cursor;
use crate::error::Result;
use crate::services::feed;
use crate::stories::wire::Feed;
use actix_web::{HttpResponse, web};
use chrono::Utc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/feed").route(web::get().to(get_feed)));
}

/// The caller's contacts' live stories: unseen authors first, each group newest first.
#[utoipa::path(get, path = "/v1/feed", tag = "feed", security(("user" = [])), params(PageQuery),
    responses((status = 200, body = Feed), (status = 400, body = Problem), (status = 401, body = Problem), (status = 503, body = Problem)))]
pub async fn get_feed(state: State, user: User, page: web::Query<PageQuery>) -> Result<HttpResponse> {
    let limit = page.limit()?;
    let cursor = page.cursor.as_deref().map(cursor::read_feed).transpose()?;
    let feed = feed::page(
        &state.store,
        &state.ads,
        &state.metrics,
        &user.0,
        cursor.as_ref(),
        limit,
        Utc::now(),
    )
    .await?;
    Ok(HttpResponse::Ok().content_type("application/json").body(feed.to_json()))
}
