//! Image uploads and image answers, shared by every resource that takes or serves pictures:
//! multipart reading with a limit per part, the bounded image pipeline, and `ETag`/304 replies.

use super::AppState;
use super::idempotency::Fingerprint;
use crate::error::{Error, Result};
use crate::media::{MediaLimits, PipelineSpec, Processed};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One part a multipart upload may carry, and its size limit.
pub struct Part {
    pub name: &'static str,
    pub max_bytes: usize,
    /// An image part: past the limit it is `413 payload_too_large` (a text part is a field error).
    pub image: bool,
}

/// The parts received, by name (a repeated part keeps the last), with the buffering slot they
/// hold until they are dropped.
pub struct Parts {
    parts: HashMap<&'static str, Vec<u8>>,
    _slot: OwnedSemaphorePermit,
}

impl Parts {
    pub fn take(&mut self, name: &str) -> Option<Vec<u8>> {
        self.parts.remove(name)
    }

    /// What the upload asked for, for `Idempotency-Key` replays.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_parts(self.parts.iter().map(|(name, bytes)| (*name, bytes.as_slice())))
    }

    /// A text part, which must be UTF-8.
    pub fn text(&mut self, name: &str) -> Result<Option<String>> {
        self.take(name)
            .map(|bytes| String::from_utf8(bytes).map_err(|_| Error::field(name, "not UTF-8")))
            .transpose()
    }
}

/// Whether the request says it carries `multipart/form-data`.
pub fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Room for the boundaries and part headers of a multipart body, beyond its parts' own limits.
const MULTIPART_OVERHEAD: usize = 16 * 1024;

/// Reads every part of a `multipart/form-data` body, refusing a part as soon as it passes its limit
/// (so an oversize upload is never held whole in memory) and any part not in `expected`. A body
/// whose `Content-Length` passes the parts' limits together is refused before a byte of it is
/// read; at most `media.max_buffered_uploads` bodies are held at once (a later one waits up to
/// `media.queue_timeout_ms`, then `503 busy`).
pub async fn read_multipart(state: &AppState, req: &HttpRequest, payload: web::Payload, expected: &[Part]) -> Result<Parts> {
    let most = expected.iter().map(|p| p.max_bytes).sum::<usize>() + MULTIPART_OVERHEAD;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > most as u64) {
        state.metrics.reject_media("payload_too_large");
        return Err(Error::PayloadTooLarge(format!("the upload is larger than {most} bytes")));
    }
    let slot = take_slot(state, &state.upload_gate, "too many uploads are being received").await?;
    let mut multipart = actix_multipart::Multipart::new(req.headers(), payload);
    let mut parts = HashMap::new();
    // Parts repeated under one name replace each other: the whole body is bounded too.
    let mut received = 0;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| Error::field("body", e.to_string()))?;
        let name = field.name().unwrap_or_default().to_owned();
        let Some(part) = expected.iter().find(|p| p.name == name) else {
            drain(field, multipart).await;
            let names: Vec<&str> = expected.iter().map(|p| p.name).collect();
            return Err(Error::field(name, format!("unexpected part; expected {}", names.join(", "))));
        };
        // An image takes most of its body: room for it at once saves the copies of a growing Vec.
        let room = if part.image {
            declared.unwrap_or(0).min(part.max_bytes as u64) as usize
        } else {
            0
        };
        let mut bytes = Vec::with_capacity(room);
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| Error::field(&name, e.to_string()))?;
            if bytes.len() + chunk.len() > part.max_bytes {
                drain(field, multipart).await;
                return Err(if part.image {
                    state.metrics.reject_media("payload_too_large");
                    Error::PayloadTooLarge(format!("the image is larger than {} bytes", part.max_bytes))
                } else {
                    Error::field(&name, "too long")
                });
            }
            received += chunk.len();
            if received > most {
                drain(field, multipart).await;
                state.metrics.reject_media("payload_too_large");
                return Err(Error::PayloadTooLarge(format!("the upload is larger than {most} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        parts.insert(part.name, bytes);
    }
    Ok(Parts { parts, _slot: slot })
}

/// Reads what is left of a refused upload (up to a bound), so that the client, still sending,
/// receives the error instead of a reset connection. The current field must be read to its end
/// before the next one can start.
async fn drain(field: actix_multipart::Field, mut multipart: actix_multipart::Multipart) {
    // Enough for what a client has in flight when it is refused; a larger rest is cut off (the
    // connection closes after the answer).
    let mut budget: usize = 1024 * 1024;
    let mut field = Some(field);
    loop {
        let Some(mut current) = field.take() else { break };
        while let Some(Ok(chunk)) = current.next().await {
            budget = budget.saturating_sub(chunk.len());
            if budget == 0 {
                return;
            }
        }
        drop(current);
        field = match multipart.next().await {
            Some(Ok(next)) => Some(next),
            _ => None,
        };
    }
}

/// A slot of `gate` (uploads held, images decoded), waited for at most `media.queue_timeout_ms`;
/// past that `503 busy`, saying `why`.
async fn take_slot(state: &AppState, gate: &Arc<Semaphore>, why: &str) -> Result<OwnedSemaphorePermit> {
    let wait = Duration::from_millis(state.settings.media.queue_timeout_ms);
    tokio::time::timeout(wait, gate.clone().acquire_owned())
        .await
        .map_err(|_| {
            state.metrics.reject_media("busy");
            Error::Busy(format!("{why}; retry shortly"))
        })?
        .map_err(|_| Error::Internal("a media gate closed".into()))
}

/// Runs the image pipeline on a blocking thread, at most `media.max_concurrent` at once; an upload
/// that waits longer than `media.queue_timeout_ms` for its turn is refused with 503.
pub async fn process_image(state: &AppState, bytes: Vec<u8>, spec: &'static PipelineSpec) -> Result<Processed> {
    let settings = &state.settings.media;
    let permit = take_slot(state, &state.media_gate, "too many images are being processed").await?;
    let limits = MediaLimits {
        max_upload_bytes: settings.max_upload_bytes,
        max_pixels: settings.max_pixels,
        max_side: settings.max_side,
    };
    let metrics = state.metrics.clone();
    let result = web::block(move || {
        let _permit = permit;
        let started = std::time::Instant::now();
        let result = crate::media::process(&bytes, &limits, spec);
        metrics.media_duration.observe(started.elapsed().as_secs_f64());
        result
    })
    .await
    .map_err(|e| Error::Internal(format!("image worker: {e}")))?;
    result.map_err(|e| {
        let error = Error::from(e);
        state.metrics.media_rejected.with_label_values(&[error.code()]).inc();
        error
    })
}

/// A JPEG answer with its `ETag` and `Cache-Control`, or `304 Not Modified` when the client's
/// `If-None-Match` holds the ETag.
pub fn image_reply(req: &HttpRequest, bytes: Vec<u8>, etag: &str, cache_control: String) -> HttpResponse {
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.to_owned()))
        .insert_header((header::CACHE_CONTROL, cache_control));
    if not_modified {
        return response.finish();
    }
    response.content_type("image/jpeg").body(bytes)
}
