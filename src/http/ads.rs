//! Ads, for the viewer: token actions, ad preferences, blocked advertisers, creative images, and
//! the admin's ad-free entitlement.

use super::State;
use super::auth::{Admin, User};
use super::json::JsonBody;
use super::problem::Problem;
use crate::error::{Error, Result};
use crate::media::ImageSize;
use crate::services::ad_actions::{self as service, AdPreferences, ImpressionOutcome, WhyThisAd};
use crate::users::parse_user_id;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/ads/{token}/impression").route(web::post().to(impression)))
        .service(web::resource("/v1/ads/{token}/click").route(web::post().to(click)))
        .service(web::resource("/v1/ads/{token}/hide").route(web::post().to(hide)))
        .service(web::resource("/v1/ads/{token}/report").route(web::post().to(report)))
        .service(web::resource("/v1/ads/{token}/why").route(web::get().to(why)))
        .service(web::resource("/v1/ads/creatives/{id}/media").route(web::get().to(creative_media)))
        .service(web::resource("/v1/ads/creatives/{id}/thumb").route(web::get().to(creative_thumb)))
        .service(web::resource("/v1/ads/outside/{id}/media").route(web::get().to(outside_media)))
        .service(web::resource("/v1/ads/outside/{id}/thumb").route(web::get().to(outside_thumb)))
        .service(web::resource("/v1/me/ad-preferences").route(web::get().to(preferences)))
        .service(
            web::resource("/v1/me/blocked-advertisers/{advertiser_id}")
                .route(web::put().to(block))
                .route(web::delete().to(unblock)),
        )
        .service(
            web::resource("/v1/admin/users/{id}")
                .route(web::get().to(admin_get_user))
                .route(web::patch().to(admin_patch_user)),
        );
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Reports that the ad was shown: the billable event, counted once per token.
#[utoipa::path(post, path = "/v1/ads/{token}/impression", tag = "ads", security(("user" = [])),
    params(("token" = String, Path, description = "the ad's token from the feed")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn impression(state: State, user: User, token: web::Path<String>) -> Result<HttpResponse> {
    let (outcome, price) = service::impression(&state.store, &state.ads, &user.0, &token, now_ms()).await?;
    if outcome != ImpressionOutcome::Duplicate {
        state.metrics.ad_impression(outcome == ImpressionOutcome::Billed);
        state.metrics.ad_spend_micros.inc_by(price.max(0) as u64);
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct ClickTarget {
    pub url: String,
}

/// Reports a tap on the call to action (counted once per token); answers the URL to open.
#[utoipa::path(post, path = "/v1/ads/{token}/click", tag = "ads", security(("user" = [])),
    params(("token" = String, Path, description = "the ad's token from the feed")),
    responses((status = 200, body = ClickTarget), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn click(state: State, user: User, token: web::Path<String>) -> Result<web::Json<ClickTarget>> {
    let url = service::click(&state.store, &state.ads, &user.0, &token, now_ms()).await?;
    state.metrics.ad_clicks.inc();
    Ok(web::Json(ClickTarget { url }))
}

/// No more ads of this campaign for the caller.
#[utoipa::path(post, path = "/v1/ads/{token}/hide", tag = "ads", security(("user" = [])),
    params(("token" = String, Path, description = "the ad's token from the feed")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn hide(state: State, user: User, token: web::Path<String>) -> Result<HttpResponse> {
    service::hide(&state.store, &state.ads, &user.0, &token, now_ms()).await?;
    state.metrics.ad_hides.inc();
    Ok(HttpResponse::NoContent().finish())
}

/// Reports the ad to the operator; enough reports send the creative back to review.
#[utoipa::path(post, path = "/v1/ads/{token}/report", operation_id = "report_ad", tag = "ads", security(("user" = [])), request_body = crate::stories::NewReport,
    params(("token" = String, Path, description = "the ad's token from the feed")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn report(state: State, user: User, token: web::Path<String>, body: JsonBody<crate::stories::NewReport>) -> Result<HttpResponse> {
    let reason = body.into_inner().parse()?;
    service::report(&state.store, &state.ads, &user.0, &token, &reason, now_ms()).await?;
    state.metrics.ad_reports.inc();
    Ok(HttpResponse::NoContent().finish())
}

/// Why the caller is seeing this ad.
#[utoipa::path(get, path = "/v1/ads/{token}/why", tag = "ads", security(("user" = [])),
    params(("token" = String, Path, description = "the ad's token from the feed")),
    responses((status = 200, body = WhyThisAd), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn why(state: State, user: User, token: web::Path<String>) -> Result<web::Json<WhyThisAd>> {
    Ok(web::Json(service::explain(&state.ads, &user.0, &token, now_ms())?))
}

/// An approved creative's image, for ad cards.
#[utoipa::path(get, path = "/v1/ads/creatives/{id}/media", tag = "ads", operation_id = "ad_creative_media", security(("user" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 304), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn creative_media(state: State, _user: User, id: web::Path<String>, req: HttpRequest) -> Result<HttpResponse> {
    creative_image(&state, &id, ImageSize::Full, &req).await
}

/// An approved creative's thumbnail.
#[utoipa::path(get, path = "/v1/ads/creatives/{id}/thumb", tag = "ads", operation_id = "ad_creative_thumb", security(("user" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 304), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn creative_thumb(state: State, _user: User, id: web::Path<String>, req: HttpRequest) -> Result<HttpResponse> {
    creative_image(&state, &id, ImageSize::Thumb, &req).await
}

async fn creative_image(state: &State, id: &str, which: ImageSize, req: &HttpRequest) -> Result<HttpResponse> {
    let creative = crate::services::advertisers::approved_creative(&state.store, id).await?;
    let (bytes, etag) = crate::services::advertisers::creative_media(&state.store, &creative, which).await?;
    Ok(super::media::image_reply(req, bytes, &etag, "private, max-age=3600".into()))
}

/// An outside bid's image (the `openrtb` selector), normalised to 1080×1920 like a creative, while
/// it is kept (`ads.openrtb.image_cache_secs`).
#[utoipa::path(get, path = "/v1/ads/outside/{id}/media", tag = "ads", security(("user" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 304), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn outside_media(state: State, _user: User, id: web::Path<String>, req: HttpRequest) -> Result<HttpResponse> {
    outside_image(&state, &id, ImageSize::Full, &req).await
}

/// An outside bid image's thumbnail.
#[utoipa::path(get, path = "/v1/ads/outside/{id}/thumb", tag = "ads", security(("user" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 304), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn outside_thumb(state: State, _user: User, id: web::Path<String>, req: HttpRequest) -> Result<HttpResponse> {
    outside_image(&state, &id, ImageSize::Thumb, &req).await
}

async fn outside_image(state: &State, id: &str, which: ImageSize, req: &HttpRequest) -> Result<HttpResponse> {
    let bytes = crate::services::outside_demand::image(&state.store, id, which).await?;
    let etag = format!("\"{id}-{}\"", if which == ImageSize::Full { "media" } else { "thumb" });
    Ok(super::media::image_reply(req, bytes, &etag, "private, max-age=3600".into()))
}

/// Advertisers the caller saw lately, and those they blocked.
#[utoipa::path(get, path = "/v1/me/ad-preferences", tag = "ads", security(("user" = [])),
    responses((status = 200, body = AdPreferences), (status = 401, body = Problem)))]
pub async fn preferences(state: State, user: User) -> Result<web::Json<AdPreferences>> {
    Ok(web::Json(service::preferences(&state.store, &user.0).await?))
}

fn parse_advertiser_id(id: &str) -> Result<String> {
    if crate::advertisers::is_valid_id(id) {
        Ok(id.to_owned())
    } else {
        Err(Error::field("advertiser_id", "not an advertiser id"))
    }
}

/// Blocks an advertiser: their ads are never shown to the caller.
#[utoipa::path(put, path = "/v1/me/blocked-advertisers/{advertiser_id}", tag = "ads", security(("user" = [])),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn block(state: State, user: User, id: web::Path<String>) -> Result<HttpResponse> {
    state
        .store
        .set_advertiser_blocked(&user.0, &parse_advertiser_id(&id)?, true)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Undoes a block.
#[utoipa::path(delete, path = "/v1/me/blocked-advertisers/{advertiser_id}", tag = "ads", security(("user" = [])),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn unblock(state: State, user: User, id: web::Path<String>) -> Result<HttpResponse> {
    state
        .store
        .set_advertiser_blocked(&user.0, &parse_advertiser_id(&id)?, false)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserEntitlementsPatch {
    pub ad_free: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserEntitlements {
    pub id: String,
    pub ad_free: bool,
}

/// A user's entitlements (admin). Any well-formed id answers: a user nobody granted anything has
/// none, whether or not they have used the service.
#[utoipa::path(get, path = "/v1/admin/users/{id}", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = UserEntitlements), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn admin_get_user(state: State, _admin: Admin, id: web::Path<String>) -> Result<web::Json<UserEntitlements>> {
    let id = parse_user_id("id", &id)?;
    let ad_free = crate::services::users::is_ad_free(&state.store, &id).await?;
    Ok(web::Json(UserEntitlements { id: id.into(), ad_free }))
}

/// Sets a user's entitlements (admin): `ad_free` users see no ads.
#[utoipa::path(patch, path = "/v1/admin/users/{id}", tag = "admin", security(("admin" = [])), request_body = UserEntitlementsPatch,
    responses((status = 200, body = UserEntitlements), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn admin_patch_user(
    state: State,
    _admin: Admin,
    id: web::Path<String>,
    body: JsonBody<UserEntitlementsPatch>,
) -> Result<web::Json<UserEntitlements>> {
    let id = parse_user_id("id", &id)?;
    crate::services::users::set_ad_free(&state.store, &id, body.ad_free).await?;
    Ok(web::Json(UserEntitlements {
        id: id.into(),
        ad_free: body.ad_free,
    }))
}
