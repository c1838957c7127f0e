//! `GET /v1/feed`.

use super::auth::User;
use super::problem::Problem;
use super::{PageQuery, State};
use crate::ads::service::{self as ads, AdItem};
use crate::ads::splice::splice;
use crate::error::Result;
use crate::stories::feed::Position;
use crate::stories::service::{self, AuthorItem};
use actix_web::web;
use chrono::Utc;
use serde::Serialize;
use std::time::Instant;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/feed").route(web::get().to(get_feed)));
}

/// One entry of the feed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedItem {
    Author(AuthorItem),
    Ad { ad: AdItem },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Feed {
    pub items: Vec<FeedItem>,
    /// Muted authors with live stories (first page only).
    pub muted: Vec<FeedItem>,
    pub next_cursor: Option<String>,
}

/// The caller's contacts' live stories: unseen authors first, each group newest first.
#[utoipa::path(get, path = "/v1/feed", tag = "feed", security(("user" = [])), params(PageQuery),
    responses((status = 200, body = Feed), (status = 400, body = Problem), (status = 401, body = Problem), (status = 503, body = Problem)))]
pub async fn get_feed(state: State, user: User, page: web::Query<PageQuery>) -> Result<web::Json<Feed>> {
    let limit = page.limit()?;
    let cursor = page.cursor.as_deref().map(Position::decode).transpose()?;
    let now = Utc::now();
    let page = service::feed(&state.store, &user.0, cursor.as_ref(), limit, now).await?;
    state.metrics.feed_pages.inc();
    state.metrics.feed_authors_per_page.observe(page.items.len() as f64);
    let slots = state.ads.placement.slots(page.items.len());
    let started = Instant::now();
    let (ads, outcomes) = ads::ads_for_page(&state.store, &state.ads, &user.0, slots.len(), now.timestamp_millis()).await;
    if !slots.is_empty() {
        state.metrics.ad_decision_duration.observe(started.elapsed().as_secs_f64());
    }
    for outcome in outcomes {
        state.metrics.ad_slot(outcome);
    }
    let authors = page.items.into_iter().map(FeedItem::Author).collect();
    let ads = ads.into_iter().map(|ad| FeedItem::Ad { ad }).collect();
    Ok(web::Json(Feed {
        items: splice(authors, ads, &slots),
        muted: page.muted.into_iter().map(FeedItem::Author).collect(),
        next_cursor: page.next_cursor,
    }))
}
