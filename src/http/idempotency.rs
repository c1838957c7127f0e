//! `Idempotency-Key` on creating POSTs, for every kind of caller.

use super::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::services::idempotency::{self, IdempotencyClaim};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a request asked for, whatever its encoding: a digest of the JSON body with its keys in
/// order, or of a multipart body's parts by name (boundaries and key order differ between retries
/// of one request; the request does not).
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of_json(body: &serde_json::Value) -> Fingerprint {
        fn feed(value: &serde_json::Value, hasher: &mut Sha256) {
            match value {
                serde_json::Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    hasher.update(b"{");
                    for key in keys {
                        feed(&serde_json::Value::String(key.clone()), hasher);
                        feed(&map[key], hasher);
                    }
                    hasher.update(b"}");
                }
                serde_json::Value::Array(items) => {
                    hasher.update(b"[");
                    items.iter().for_each(|item| feed(item, hasher));
                    hasher.update(b"]");
                }
                scalar => {
                    hasher.update(scalar.to_string().as_bytes());
                    hasher.update(b",");
                }
            }
        }
        let mut hasher = Sha256::new();
        feed(body, &mut hasher);
        Fingerprint(URL_SAFE_NO_PAD.encode(hasher.finalize()))
    }

    pub fn of_parts<'a>(parts: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Fingerprint {
        let mut parts: Vec<(&str, &[u8])> = parts.into_iter().collect();
        parts.sort();
        let mut hasher = Sha256::new();
        for (name, bytes) in parts {
            for field in [name.as_bytes(), bytes] {
                hasher.update((field.len() as u64).to_le_bytes());
                hasher.update(field);
            }
        }
        Fingerprint(URL_SAFE_NO_PAD.encode(hasher.finalize()))
    }
}

/// Runs a creating request at most once per `Idempotency-Key` of this caller, method and path (as
/// the IETF `Idempotency-Key` draft and Stripe do): a retry within 24 h with the same body gets the
/// first answer (with `Idempotent-Replayed: true`), with another body `422 idempotency_key_reused`;
/// a retry while the first still runs gets 409; a failed request does not use up its key. A replay
/// whose resource `still_exists` no longer is `410 resource_deleted`, never the first answer. Top-level
/// fields named in `secret_fields` are answered the first time but never stored, so a replay goes
/// without them.
pub async fn idempotent(
    state: &AppState,
    caller: Caller<'_>,
    req: &HttpRequest,
    fingerprint: Fingerprint,
    secret_fields: &[&str],
    still_exists: impl AsyncFnOnce(&serde_json::Value) -> Result<bool>,
    create: impl std::future::Future<Output = Result<(StatusCode, serde_json::Value)>>,
) -> Result<HttpResponse> {
    let Some(key) = req.headers().get("idempotency-key") else {
        let (status, body) = create.await?;
        return Ok(HttpResponse::build(status).json(body));
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| (b' '..=b'~').contains(&b)))
        .ok_or_else(|| Error::field("Idempotency-Key", "1-255 visible ASCII characters"))?;
    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{} {}\n{key}", req.method(), req.path())));
    match idempotency::begin(&state.store, caller, &hash).await? {
        IdempotencyClaim::InProgress => Err(Error::Conflict(
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still running".into(),
        )),
        IdempotencyClaim::Done(stored) => {
            let stored: StoredResponse = serde_json::from_str(&stored).map_err(|e| Error::Internal(e.to_string()))?;
            if stored.fingerprint != fingerprint.0 {
                return Err(Error::IdempotencyKeyReused(
                    "this Idempotency-Key was used with another request body; use a new key for a new request".into(),
                ));
            }
            if !still_exists(&stored.body).await? {
                return Err(Error::Gone(
                    "what this Idempotency-Key created has since been deleted; use a new key to create another".into(),
                ));
            }
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
                    fingerprint: fingerprint.0,
                })
                .map_err(|e| Error::Internal(e.to_string()))?;
                idempotency::finish(&state.store, caller, &hash, &stored).await?;
                Ok(HttpResponse::build(status).json(body))
            }
            Err(e) => {
                let _ = idempotency::release(&state.store, caller, &hash).await;
                Err(e)
            }
        },
    }
}

/// `still_exists` of resources that the API never deletes (accounts, creatives, campaigns).
pub async fn never_deleted(_: &serde_json::Value) -> Result<bool> {
    Ok(true)
}

/// The answer kept for replays, with the fingerprint of the request that got it.
#[derive(Serialize, Deserialize)]
struct StoredResponse {
    status: u16,
    body: serde_json::Value,
    fingerprint: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fingerprint_follows_what_was_asked_not_how_it_was_written() {
        let a = Fingerprint::of_json(&json!({"text": "hi", "font": 1, "audience": {"mode": "only", "users": ["b"]}}));
        let b = Fingerprint::of_json(&json!({"audience": {"users": ["b"], "mode": "only"}, "font": 1, "text": "hi"}));
        let c = Fingerprint::of_json(&json!({"text": "hi", "font": 2, "audience": {"mode": "only", "users": ["b"]}}));
        assert_eq!(a.0, b.0);
        assert_ne!(a.0, c.0);
        assert_ne!(
            Fingerprint::of_json(&json!(["ab", "c"])).0,
            Fingerprint::of_json(&json!(["a", "bc"])).0
        );
        let parts = Fingerprint::of_parts([("media", &b"xy"[..]), ("caption", &b"z"[..])]);
        let reordered = Fingerprint::of_parts([("caption", &b"z"[..]), ("media", &b"xy"[..])]);
        let moved = Fingerprint::of_parts([("caption", &b"zx"[..]), ("media", &b"y"[..])]);
        assert_eq!(parts.0, reordered.0);
        assert_ne!(parts.0, moved.0);
    }
}
