//! The one place that turns errors into HTTP: `application/problem+json` (RFC 9457) with a stable
//! `code`. Internal causes are logged here and never sent to the client.

use crate::error::{Error, FieldError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// An error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable word, e.g. `validation_failed`.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// Seconds a client should wait before retrying after a 503 (`redis.retry_after_secs`), app data
/// read by [`ensure_problem`], which gives every 503 its `Retry-After`.
#[derive(Debug, Clone, Copy)]
pub struct RetryAfter(pub u64);

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Validation(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(..) => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Conflict(..) => StatusCode::CONFLICT,
            Error::Gone(_) => StatusCode::GONE,
            Error::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::ImageTooLarge(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::InvalidImage(_) => StatusCode::BAD_REQUEST,
            Error::StoryLimitReached(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Busy(_) | Error::StoreUnavailable(_) | Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(_) => "validation_failed",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(code, _) | Error::Conflict(code, _) => code,
            Error::NotFound => "not_found",
            Error::Gone(_) => "resource_deleted",
            Error::IdempotencyKeyReused(_) => "idempotency_key_reused",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::ImageTooLarge(_) => "image_too_large",
            Error::InvalidImage(_) => "invalid_image",
            Error::StoryLimitReached(_) => "story_limit_reached",
            Error::Busy(_) => "busy",
            Error::StoreUnavailable(_) => "store_unavailable",
            Error::ShuttingDown => "shutting_down",
            Error::Internal(_) => "internal",
        }
    }

    /// What the client may read: never an internal cause.
    fn detail(&self) -> String {
        match self {
            Error::Validation(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            Error::StoreUnavailable(_) => "the store is unavailable; retry shortly".into(),
            Error::Internal(_) => "something went wrong on our side".into(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Error::Internal(cause) => tracing::error!(code = self.code(), %cause, "internal error"),
            Error::StoreUnavailable(cause) => tracing::warn!(code = self.code(), %cause, "store unavailable"),
            _ => tracing::debug!(code = self.code(), "client error"),
        }
        let errors = match self {
            Error::Validation(errors) => Some(errors.clone()),
            _ => None,
        };
        problem_response(self.status(), self.code(), self.detail(), errors)
    }
}

/// Builds a problem+json response.
fn problem_response(status: StatusCode, code: &str, detail: String, errors: Option<Vec<FieldError>>) -> HttpResponse {
    let problem = Problem {
        kind: format!("urn:statusd:problem:{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        code: code.to_owned(),
        errors,
    };
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")));
    response.json(problem)
}

/// Bad JSON bodies: too large → 413, wrong content type → 415, anything else → 400 with the
/// parser's message.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let e = match &err {
        J::Overflow { .. } | J::OverflowKnownLength { .. } => Error::PayloadTooLarge("the JSON body is larger than the limit".into()),
        J::ContentType => Error::UnsupportedMediaType("expected application/json".into()),
        J::Deserialize(d) => body_error(d),
        other => Error::field("body", other.to_string()),
    };
    e.into()
}

/// A JSON body that does not parse or does not fit the expected shape.
pub fn body_error(e: &serde_json::Error) -> Error {
    Error::field("body", e.to_string())
}

pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    Error::field("query", err.to_string()).into()
}

pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    Error::field("path", err.to_string()).into()
}

/// Unknown routes.
pub async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::NotFound)
}

/// The `Allow` header of a 405 on `path`: the methods the OpenAPI document gives its route, which
/// are the routes registered (a test holds the two together).
fn allowed_methods(path: &str) -> Option<HeaderValue> {
    static DOCUMENT: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(|| super::openapi::document(&crate::config::Settings::default()));
    let methods = super::openapi::allowed_methods(&DOCUMENT, path)?;
    HeaderValue::from_str(&methods.join(", ")).ok()
}

/// Error responses that did not come from `Error` (actix's own 404/405, a panic caught by actix)
/// are rewritten as problems too, so that no client ever sees an empty or HTML error. Every 503
/// gets its `Retry-After` here.
pub fn ensure_problem<B: actix_web::body::MessageBody + 'static>(
    mut res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    if res.status() == StatusCode::SERVICE_UNAVAILABLE {
        let seconds = res.request().app_data::<RetryAfter>().map_or(1, |r| r.0);
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let response = match status {
        StatusCode::NOT_FOUND => Error::NotFound.error_response(),
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge("the body is larger than the limit".into()).error_response(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::UnsupportedMediaType("unsupported content type".into()).error_response(),
        StatusCode::METHOD_NOT_ALLOWED => {
            let mut response = problem_response(status, "method_not_allowed", "this method is not allowed here".into(), None);
            if let Some(allow) = allowed_methods(res.request().path()) {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            response
        }
        s if s.is_client_error() => problem_response(s, "bad_request", s.canonical_reason().unwrap_or("bad request").into(), None),
        s => {
            tracing::error!(status = %s, "error response without a problem body");
            let mut response = problem_response(s, "internal", "something went wrong on our side".into(), None);
            if let Some(retry_after) = res.headers().get(header::RETRY_AFTER) {
                response.headers_mut().insert(header::RETRY_AFTER, retry_after.clone());
            }
            response
        }
    };
    let (req, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
