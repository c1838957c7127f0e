//! `/v1/stories` and `/v1/me/stories`.

use super::auth::User;
use super::idempotency::Fingerprint;
use super::idempotency::idempotent;
use super::json;
use super::json::JsonBody;
use super::media::{Part, Parts, image_reply, process_image, read_multipart};
use super::problem::Problem;
use super::{AppState, PageQuery, State, read_json};
use crate::auth::Caller;
use crate::cursor;
use crate::error::{Error, Result};
use crate::ids::StoryId;
use crate::media::ImageSize;
use crate::media::{PipelineSpec, Processed};
use crate::services::stories::{self as service, StoryRead};
use crate::stories::{NewReaction, NewReport, NewTextStory, Story, StoryDraft, StoryKind, Viewer, parse_caption};
use crate::users::Audience;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/stories").route(web::post().to(create_story)))
        .service(web::resource("/v1/me/stories").route(web::get().to(my_stories)))
        .service(
            web::resource("/v1/stories/{id}")
                .route(web::get().to(get_story))
                .route(web::delete().to(delete_story)),
        )
        .service(web::resource("/v1/stories/{id}/media").route(web::get().to(story_media)))
        .service(web::resource("/v1/stories/{id}/thumb").route(web::get().to(story_thumb)))
        .service(web::resource("/v1/stories/{id}/view").route(web::post().to(view_story)))
        .service(web::resource("/v1/stories/{id}/viewers").route(web::get().to(story_viewers)))
        .service(web::resource("/v1/stories/{id}/reactions").route(web::post().to(react)))
        .service(web::resource("/v1/stories/{id}/report").route(web::post().to(report)));
}

/// An image story as `multipart/form-data` (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewImageStory {
    /// JPEG, PNG or WebP, recognised from the bytes.
    #[schema(value_type = String, format = Binary)]
    media: Vec<u8>,
    /// At most 700 characters.
    caption: Option<String>,
    /// JSON of an `Audience`.
    audience: Option<String>,
}

/// Posts a text story (JSON) or an image story (multipart with a `media` part).
#[utoipa::path(post, path = "/v1/stories", tag = "stories", security(("user" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key within 24 h returns the first response")),
    request_body(content((NewTextStory = "application/json"), (NewImageStory = "multipart/form-data"))),
    responses((status = 201, body = Story), (status = 400, body = Problem), (status = 401, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn create_story(state: State, user: User, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    // The body is read before the key is claimed, so that a replay can be told from a new request.
    let (body, fingerprint) = if content_type.starts_with("application/json") {
        let body = read_json(payload, state.settings.user_list_body_limit()).await?;
        let fingerprint = Fingerprint::of_json(&body);
        (StoryBody::Text(body), fingerprint)
    } else if content_type.starts_with("multipart/form-data") {
        let parts = read_image_story_parts(&state, &req, payload).await?;
        let fingerprint = parts.fingerprint();
        (StoryBody::Image(parts), fingerprint)
    } else {
        return Err(Error::UnsupportedMediaType(
            "send application/json (text) or multipart/form-data (image)".into(),
        ));
    };
    let still_exists = async |first: &serde_json::Value| {
        let Some(id) = first["id"].as_str().and_then(StoryId::parse) else {
            return Ok(false);
        };
        match service::read(&state.store, &user.0, &id, Utc::now()).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    };
    idempotent(&state, Caller::User(&user.0), &req, fingerprint, &[], still_exists, async {
        let (draft, media) = match body {
            StoryBody::Text(body) => {
                let body: NewTextStory = json::from_value(&body)?;
                (body.parse(state.settings.stories.max_text_chars)?, None)
            }
            StoryBody::Image(parts) => {
                let (draft, media) = image_story(&state, parts).await?;
                (draft, Some(media))
            }
        };
        let kind = draft.kind;
        let record = service::create(&state.store, &state.settings, &user.0, draft, media, Utc::now()).await?;
        state.metrics.stories_created.with_label_values(&[kind.as_ref()]).inc();
        Ok((
            StatusCode::CREATED,
            serde_json::to_value(record.shown_to(Some(&user.0))).map_err(|e| Error::Internal(e.to_string()))?,
        ))
    })
    .await
}

/// A story's body as received: a text story's JSON, or an image story's parts.
enum StoryBody {
    Text(serde_json::Value),
    Image(Parts),
}

/// Reads the parts of an image story, each refused as soon as it passes its limit.
async fn read_image_story_parts(state: &AppState, req: &HttpRequest, payload: web::Payload) -> Result<Parts> {
    let expected = [
        Part {
            name: "media",
            max_bytes: state.settings.media.max_upload_bytes,
            image: true,
        },
        Part {
            name: "caption",
            max_bytes: state.settings.stories.max_text_chars * 4,
            image: false,
        },
        Part {
            name: "audience",
            max_bytes: state.settings.user_list_body_limit(),
            image: false,
        },
    ];
    read_multipart(state, req, payload, &expected).await
}

/// Checks an image story's fields, then runs the image pipeline.
async fn image_story(state: &AppState, mut parts: Parts) -> Result<(StoryDraft, Processed)> {
    let audience = parts
        .take("audience")
        .map(|bytes| json::from_part::<Audience>("audience", &bytes))
        .transpose()?;
    let caption = parts.text("caption")?;
    let media = parts.take("media");
    let media = media.ok_or_else(|| Error::field("media", "an image part named media is required"))?;
    let caption = parse_caption(caption, state.settings.stories.max_text_chars)?;
    let processed = process_image(state, media, &PipelineSpec::STORY).await?;
    Ok((
        StoryDraft {
            kind: StoryKind::Image,
            text: None,
            background: None,
            font: None,
            caption,
            audience,
        },
        processed,
    ))
}

/// The story a path names; one that names none is simply not found.
fn story_id(path: &str) -> Result<StoryId> {
    StoryId::parse(path).ok_or(Error::NotFound)
}

/// A story the caller may see.
#[utoipa::path(get, path = "/v1/stories/{id}", tag = "stories", security(("user" = [])),
    responses((status = 200, body = Story), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_story(state: State, user: User, id: web::Path<String>) -> Result<HttpResponse> {
    Ok(match service::read(&state.store, &user.0, &story_id(&id)?, Utc::now()).await? {
        StoryRead::Own(story) => HttpResponse::Ok().json(story),
        StoryRead::Card(card) => HttpResponse::Ok().content_type("application/json").body(card.into_string()),
    })
}

/// Deletes one of the caller's stories.
#[utoipa::path(delete, path = "/v1/stories/{id}", tag = "stories", security(("user" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_story(state: State, user: User, id: web::Path<String>) -> Result<HttpResponse> {
    service::delete(&state.store, &user.0, &story_id(&id)?, Utc::now()).await?;
    state.metrics.stories_deleted.inc();
    Ok(HttpResponse::NoContent().finish())
}

/// The story's image (JPEG, at most 1080×1920).
#[utoipa::path(get, path = "/v1/stories/{id}/media", tag = "stories", security(("user" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 304), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn story_media(state: State, user: User, id: web::Path<String>, req: HttpRequest) -> Result<HttpResponse> {
    image_response(&state, &user, &id, ImageSize::Full, &req).await
}

/// The story's thumbnail (JPEG).
#[utoipa::path(get, path = "/v1/stories/{id}/thumb", tag = "stories", security(("user" = [])),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 304), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn story_thumb(state: State, user: User, id: web::Path<String>, req: HttpRequest) -> Result<HttpResponse> {
    image_response(&state, &user, &id, ImageSize::Thumb, &req).await
}

async fn image_response(state: &AppState, user: &User, id: &str, which: ImageSize, req: &HttpRequest) -> Result<HttpResponse> {
    let reply = service::media(&state.store, &user.0, &story_id(id)?, which, Utc::now()).await?;
    let cache = format!("private, max-age={}", reply.max_age_secs);
    Ok(image_reply(req, reply.bytes, &reply.etag, cache))
}

/// Marks the story seen by the caller (idempotent).
#[utoipa::path(post, path = "/v1/stories/{id}/view", tag = "stories", security(("user" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn view_story(state: State, user: User, id: web::Path<String>) -> Result<HttpResponse> {
    service::mark_seen(&state.store, &user.0, &story_id(&id)?, Utc::now()).await?;
    state.metrics.story_views.inc();
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct Viewers {
    pub viewers: Vec<Viewer>,
    pub next_cursor: Option<String>,
}

/// Who viewed the caller's story, most recent first (author only; 403 while read receipts are off).
#[utoipa::path(get, path = "/v1/stories/{id}/viewers", tag = "stories", security(("user" = [])), params(PageQuery),
    responses((status = 200, body = Viewers), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn story_viewers(state: State, user: User, id: web::Path<String>, page: web::Query<PageQuery>) -> Result<web::Json<Viewers>> {
    let limit = page.limit()?;
    let offset = page.cursor.as_deref().map(cursor::read_viewers).transpose()?.unwrap_or(0);
    let (viewers, next) = service::viewers(&state.store, &user.0, &story_id(&id)?, offset, limit, Utc::now()).await?;
    Ok(web::Json(Viewers {
        viewers,
        next_cursor: next.map(cursor::viewers),
    }))
}

/// Reacts to a story; a later reaction replaces the earlier one.
#[utoipa::path(post, path = "/v1/stories/{id}/reactions", tag = "stories", security(("user" = [])), request_body = NewReaction,
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn react(state: State, user: User, id: web::Path<String>, body: JsonBody<NewReaction>) -> Result<HttpResponse> {
    service::react(&state.store, &state.settings, &user.0, &story_id(&id)?, &body.emoji, Utc::now()).await?;
    state.metrics.story_reactions.inc();
    Ok(HttpResponse::NoContent().finish())
}

/// Reports a story to the operator.
#[utoipa::path(post, path = "/v1/stories/{id}/report", tag = "stories", security(("user" = [])), request_body = NewReport,
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn report(state: State, user: User, id: web::Path<String>, body: JsonBody<NewReport>) -> Result<HttpResponse> {
    let reason = body.into_inner().parse()?;
    service::report(&state.store, &user.0, &story_id(&id)?, &reason, Utc::now()).await?;
    state.metrics.story_reports.inc();
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct MyStories {
    pub stories: Vec<Story>,
}

/// The caller's live stories with view and reaction counts.
#[utoipa::path(get, path = "/v1/me/stories", tag = "stories", security(("user" = [])),
    responses((status = 200, body = MyStories), (status = 401, body = Problem)))]
pub async fn my_stories(state: State, user: User) -> Result<web::Json<MyStories>> {
    Ok(web::Json(MyStories {
        stories: service::mine(&state.store, &user.0, Utc::now()).await?,
    }))
}
