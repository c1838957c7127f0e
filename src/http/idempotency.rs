//! `Idempotency-Key` on creating POSTs, for every kind of caller.

use super::AppState;
use crate::error::{Error, Result};
use crate::store::keys::Caller;
use crate::store::users::IdempotencyClaim;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Runs a creating request at most once per `Idempotency-Key` of this caller, method and path: a
/// retry within 24 h gets the first answer (with `Idempotent-Replayed: true`); a retry while the
/// first still runs gets 409; a failed request does not use up its key. Top-level fields named in
/// `secret_fields` are answered the first time but never stored, so a replay goes without them.
pub async fn idempotent(
    state: &AppState,
    caller: Caller<'_>,
    req: &HttpRequest,
    secret_fields: &[&str],
    create: impl std::future::Future<Output = Result<(StatusCode, serde_json::Value)>>,
) -> Result<HttpResponse> {
    const CLAIM_MS: u64 = 60_000;
    const KEEP_MS: u64 = 24 * 3600 * 1000;
    let Some(key) = req.headers().get("idempotency-key") else {
        let (status, body) = create.await?;
        return Ok(HttpResponse::build(status).json(body));
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()))
        .ok_or_else(|| Error::field("Idempotency-Key", "1-255 visible ASCII characters"))?;
    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{} {}\n{key}", req.method(), req.path())));
    match state.store.idempotency_begin(caller, &hash, CLAIM_MS, KEEP_MS).await? {
        IdempotencyClaim::InProgress => Err(Error::Conflict(
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still running".into(),
        )),
        IdempotencyClaim::Done(stored) => {
            let stored: StoredResponse = serde_json::from_str(&stored).map_err(|e| Error::Internal(e.to_string()))?;
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            Ok(HttpResponse::build(status)
                .insert_header(("Idempotent-Replayed", "true"))
                .json(stored.body))
        }
        IdempotencyClaim::Claimed => match create.await {
            Ok((status, body)) => {
                let mut kept = body.clone();
                if let Some(object) = kept.as_object_mut() {
                    for field in secret_fields {
                        object.remove(*field);
                    }
                }
                let stored = serde_json::to_string(&StoredResponse {
                    status: status.as_u16(),
                    body: kept,
                })
                .map_err(|e| Error::Internal(e.to_string()))?;
                state.store.idempotency_finish(caller, &hash, &stored, KEEP_MS).await?;
                Ok(HttpResponse::build(status).json(body))
            }
            Err(e) => {
                let _ = state.store.idempotency_release(caller, &hash).await;
                Err(e)
            }
        },
    }
}

#[derive(Serialize, Deserialize)]
struct StoredResponse {
    status: u16,
    body: serde_json::Value,
}
