//! `/v1/creatives` (the advertiser's own creatives) and `/v1/admin/creatives` (review).

use super::auth::{Admin, Advertiser};
use super::idempotency::{idempotent, never_deleted};
use super::json::JsonBody;
use super::media::{Part, image_reply, is_multipart, process_image, read_multipart};
use super::problem::Problem;
use super::{PageQuery, State};
use crate::advertisers::creatives::{Creative, CreativeFields, CreativeRecord, CreativeStatus, MAX_CTA_URL, Review};
use crate::auth::Caller;
use crate::cursor;
use crate::error::{Error, FieldError, Result};
use crate::media::ImageSize;
use crate::media::PipelineSpec;
use crate::services::advertisers as service;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/creatives")
            .route(web::post().to(create_creative))
            .route(web::get().to(list_creatives)),
    )
    .service(web::resource("/v1/creatives/{id}").route(web::get().to(get_creative)))
    .service(web::resource("/v1/creatives/{id}/media").route(web::get().to(creative_media)))
    .service(web::resource("/v1/creatives/{id}/thumb").route(web::get().to(creative_thumb)))
    .service(web::resource("/v1/admin/creatives").route(web::get().to(admin_list_creatives)))
    .service(web::resource("/v1/admin/creatives/{id}").route(web::get().to(admin_get_creative)))
    .service(web::resource("/v1/admin/creatives/{id}/media").route(web::get().to(admin_creative_media)))
    .service(web::resource("/v1/admin/creatives/{id}/thumb").route(web::get().to(admin_creative_thumb)))
    .service(web::resource("/v1/admin/creatives/{id}/review").route(web::post().to(review_creative)));
}

/// A creative's images never change, so they may be cached for a day (privately: they are the
/// advertiser's until approved).
const MEDIA_CACHE: &str = "private, max-age=86400";

/// A creative upload as `multipart/form-data` (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewCreative {
    /// JPEG, PNG or WebP, recognised from the bytes; normalised to 1080×1920 (cover, centre crop).
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
    /// 1–40 characters.
    #[schema(min_length = 1, max_length = 40)]
    headline: String,
    /// One of `ads.cta_labels` (by default Chat, Learn more, Shop now, Sign up, Book now).
    cta_label: String,
    /// An `https` URL of at most 2048 characters.
    #[schema(max_length = 2048, pattern = "^https://")]
    cta_url: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Creatives {
    pub creatives: Vec<Creative>,
    pub next_cursor: Option<String>,
}

fn page(items: Vec<CreativeRecord>, next_after: Option<String>) -> Creatives {
    Creatives {
        creatives: items.iter().map(CreativeRecord::view).collect(),
        next_cursor: next_after.as_deref().map(cursor::after_id),
    }
}

/// Uploads a creative; it waits in `pending_review` until the admin reviews it.
#[utoipa::path(post, path = "/v1/creatives", tag = "creatives", security(("advertiser" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key within 24 h returns the first response")),
    request_body(content = NewCreative, content_type = "multipart/form-data"),
    responses((status = 201, body = Creative), (status = 400, body = Problem), (status = 401, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn create_creative(state: State, advertiser: Advertiser, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse> {
    if !is_multipart(&req) {
        return Err(Error::UnsupportedMediaType(
            "send multipart/form-data with the parts image, headline, cta_label and cta_url".into(),
        ));
    }
    let owner = advertiser.0.id.clone();
    let expected = [
        Part {
            name: "image",
            max_bytes: state.settings.media.max_upload_bytes,
            image: true,
        },
        Part {
            name: "headline",
            max_bytes: 1024,
            image: false,
        },
        Part {
            name: "cta_label",
            max_bytes: 256,
            image: false,
        },
        Part {
            name: "cta_url",
            max_bytes: MAX_CTA_URL + 256,
            image: false,
        },
    ];
    let mut parts = read_multipart(&state, &req, payload, &expected).await?;
    let fingerprint = parts.fingerprint();
    idempotent(
        &state,
        Caller::Advertiser(&advertiser.0.id),
        &req,
        fingerprint,
        &[],
        never_deleted,
        async {
            let fields = CreativeFields {
                headline: parts.text("headline")?,
                cta_label: parts.text("cta_label")?,
                cta_url: parts.text("cta_url")?,
            };
            // The cheap checks first: a bad field never costs an image decode.
            let image = parts.take("image");
            let mut errors = Vec::new();
            let draft = match fields.parse(&state.settings.ads.cta_labels) {
                Ok(draft) => Some(draft),
                Err(Error::Validation(e)) => {
                    errors.extend(e);
                    None
                }
                Err(e) => return Err(e),
            };
            if image.is_none() {
                errors.push(FieldError::new("image", "an image part named image is required"));
            }
            let (Some(draft), Some(image)) = (draft, image) else {
                return Err(Error::Validation(errors));
            };
            let processed = process_image(&state, image, &PipelineSpec::CREATIVE).await?;
            let record = service::create_creative(&state.store, &owner, draft, processed, Utc::now()).await?;
            Ok((
                StatusCode::CREATED,
                serde_json::to_value(record.view()).map_err(|e| Error::Internal(e.to_string()))?,
            ))
        },
    )
    .await
}

/// The caller's creatives, newest first.
#[utoipa::path(get, path = "/v1/creatives", tag = "creatives", security(("advertiser" = [])), params(PageQuery),
    responses((status = 200, body = Creatives), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_creatives(state: State, advertiser: Advertiser, query: web::Query<PageQuery>) -> Result<web::Json<Creatives>> {
    let limit = query.limit()?;
    let after = query.cursor.as_deref().map(cursor::read_after_id).transpose()?;
    let found = service::list_creatives(&state.store, &advertiser.0.id, after.as_deref(), limit).await?;
    Ok(web::Json(page(found.items, found.next_after)))
}

/// One of the caller's creatives (another advertiser's is 404).
#[utoipa::path(get, path = "/v1/creatives/{id}", tag = "creatives", security(("advertiser" = [])),
    responses((status = 200, body = Creative), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_creative(state: State, advertiser: Advertiser, id: web::Path<String>) -> Result<web::Json<Creative>> {
    Ok(web::Json(service::own_creative(&state.store, &advertiser.0.id, &id).await?.view()))
}

async fn own_image(state: &State, advertiser: &Advertiser, id: &str, which: ImageSize, req: &HttpRequest) -> Result<HttpResponse> {
    let creative = service::own_creative(&state.store, &advertiser.0.id, id).await?;
    let (bytes, etag) = service::creative_media(&state.store, &creative, which).await?;
    Ok(image_reply(req, bytes, &etag, MEDIA_CACHE.into()))
}

/// The creative's 1080×1920 JPEG (own creatives only).
#[utoipa::path(get, path = "/v1/creatives/{id}/media", tag = "creatives", security(("advertiser" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 304), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn creative_media(state: State, advertiser: Advertiser, id: web::Path<String>, req: HttpRequest) -> Result<HttpResponse> {
    own_image(&state, &advertiser, &id, ImageSize::Full, &req).await
}

/// The creative's 270×480 thumbnail (own creatives only).
#[utoipa::path(get, path = "/v1/creatives/{id}/thumb", tag = "creatives", security(("advertiser" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 304), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn creative_thumb(state: State, advertiser: Advertiser, id: web::Path<String>, req: HttpRequest) -> Result<HttpResponse> {
    own_image(&state, &advertiser, &id, ImageSize::Thumb, &req).await
}

/// `?status` of the admin's creative list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewStateQuery {
    /// `pending_review` (the default: the review queue), `approved` or `rejected`.
    pub status: Option<String>,
}

/// Creatives in one review state, oldest first: by default the review queue.
#[utoipa::path(get, path = "/v1/admin/creatives", tag = "creatives", security(("admin" = [])), params(ReviewStateQuery, PageQuery),
    responses((status = 200, body = Creatives), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn admin_list_creatives(
    state: State,
    _: Admin,
    status: web::Query<ReviewStateQuery>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Creatives>> {
    let status = match status.status.as_deref() {
        None => CreativeStatus::PendingReview,
        Some(s) => s
            .parse::<CreativeStatus>()
            .map_err(|_| Error::field("status", "pending_review, approved or rejected"))?,
    };
    let limit = query.limit()?;
    let after = query.cursor.as_deref().map(cursor::read_after_id).transpose()?;
    let found = service::creatives_in_review_state(&state.store, status, after.as_deref(), limit).await?;
    Ok(web::Json(page(found.items, found.next_after)))
}

/// Any creative, for review.
#[utoipa::path(get, path = "/v1/admin/creatives/{id}", tag = "creatives", security(("admin" = [])),
    responses((status = 200, body = Creative), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn admin_get_creative(state: State, _: Admin, id: web::Path<String>) -> Result<web::Json<Creative>> {
    Ok(web::Json(service::creative(&state.store, &id).await?.view()))
}

async fn any_image(state: &State, id: &str, which: ImageSize, req: &HttpRequest) -> Result<HttpResponse> {
    let creative = service::creative(&state.store, id).await?;
    let (bytes, etag) = service::creative_media(&state.store, &creative, which).await?;
    Ok(image_reply(req, bytes, &etag, MEDIA_CACHE.into()))
}

/// Any creative's 1080×1920 JPEG, for review.
#[utoipa::path(get, path = "/v1/admin/creatives/{id}/media", tag = "creatives", security(("admin" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 304), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn admin_creative_media(state: State, _: Admin, id: web::Path<String>, req: HttpRequest) -> Result<HttpResponse> {
    any_image(&state, &id, ImageSize::Full, &req).await
}

/// Any creative's thumbnail, for review.
#[utoipa::path(get, path = "/v1/admin/creatives/{id}/thumb", tag = "creatives", security(("admin" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 304), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn admin_creative_thumb(state: State, _: Admin, id: web::Path<String>, req: HttpRequest) -> Result<HttpResponse> {
    any_image(&state, &id, ImageSize::Thumb, &req).await
}

/// Approves or rejects (with a reason) a creative; only approved creatives serve. A decision may
/// be revised: rejecting an approved creative takes it out of every campaign's rotation.
#[utoipa::path(post, path = "/v1/admin/creatives/{id}/review", tag = "creatives", security(("admin" = [])), request_body = Review,
    responses((status = 200, body = Creative), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn review_creative(state: State, _: Admin, id: web::Path<String>, body: JsonBody<Review>) -> Result<web::Json<Creative>> {
    let reviewed = service::review(&state.store, &id, body.into_inner(), Utc::now()).await?;
    Ok(web::Json(reviewed.view()))
}
