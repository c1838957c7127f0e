//! Limits tested where they are: at the default and one past it.

use crate::both_backends;
use crate::support::app::{Backend, JWT_SECRET, TestApp, assert_problem, spawn_app};
use crate::support::contract::SendChecked;
use crate::support::images;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;

both_backends!(
    idempotency_keys_up_to_255_characters,
    tokens_need_an_expiry_and_hs256,
    uploads_up_to_the_default_limit,
    image_sides_and_pixels_up_to_the_default_limits,
);

async fn post_with_key(app: &TestApp, key: &str, text: &str) -> reqwest::Response {
    app.req(Method::POST, "/v1/stories", "alice")
        .header("Idempotency-Key", key)
        .json(&json!({ "text": text }))
        .send_checked()
        .await
        .unwrap()
}

async fn idempotency_keys_up_to_255_characters(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(post_with_key(&app, &"k".repeat(255), "longest key").await.status(), 201);
    let r = post_with_key(&app, &"k".repeat(256), "one too long").await;
    let problem = assert_problem(r, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    let mine = app.get_json("/v1/me/stories", "alice").await;
    assert_eq!(mine["stories"].as_array().unwrap().len(), 1, "the refused post created nothing");
}

/// A user token must carry `exp` and be signed with HS256 and the configured secret.
async fn tokens_need_an_expiry_and_hs256(backend: Backend) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let app = spawn_app(backend).await;
    let key = EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let exp = chrono::Utc::now().timestamp() + 3600;
    let good = encode(&Header::new(Algorithm::HS256), &json!({"sub": "alice", "exp": exp}), &key).unwrap();
    let no_exp = encode(&Header::new(Algorithm::HS256), &json!({"sub": "alice"}), &key).unwrap();
    let hs512 = encode(&Header::new(Algorithm::HS512), &json!({"sub": "alice", "exp": exp}), &key).unwrap();
    let other_secret = EncodingKey::from_secret(b"another-secret-0123456789abcdef");
    let forged = encode(&Header::new(Algorithm::HS256), &json!({"sub": "alice", "exp": exp}), &other_secret).unwrap();
    let expired = encode(&Header::new(Algorithm::HS256), &json!({"sub": "alice", "exp": exp - 7200}), &key).unwrap();
    let get = |token: String| {
        let url = app.url("/v1/me/settings");
        let client = app.client.clone();
        async move { client.get(url).bearer_auth(token).send_checked().await.unwrap() }
    };
    assert_eq!(get(good).await.status(), 200);
    for token in [no_exp, hs512, forged, expired] {
        assert_problem(get(token).await, 401, "unauthorized").await;
    }
}

async fn upload(app: &TestApp, bytes: Vec<u8>) -> reqwest::Response {
    let form = Form::new().part("media", Part::bytes(bytes).file_name("photo"));
    app.req(Method::POST, "/v1/stories", "alice")
        .multipart(form)
        .send_checked()
        .await
        .unwrap()
}

/// The default `media.max_upload_bytes` is 10 MiB: a JPEG padded to exactly that is taken, one
/// byte more is `413`.
async fn uploads_up_to_the_default_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let limit = app.settings.media.max_upload_bytes;
    assert_eq!(limit, 10 * 1024 * 1024);
    let mut photo = images::jpeg(64, 64);
    photo.resize(limit, 0);
    assert_eq!(upload(&app, photo.clone()).await.status(), 201);
    photo.push(0);
    assert_problem(upload(&app, photo).await, 413, "payload_too_large").await;
}

/// The defaults: 16,384 px a side and 50 megapixels, judged from the header before any pixel is
/// decoded. At the limit an image passes the size check (and, its pixels missing, fails to decode:
/// 400); one past it is `422 image_too_large`.
async fn image_sides_and_pixels_up_to_the_default_limits(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!((app.settings.media.max_side, app.settings.media.max_pixels), (16_384, 50_000_000));
    for (width, height, status, code) in [
        (16_384, 1, 400, "invalid_image"),
        (16_385, 1, 422, "image_too_large"),
        (7_071, 7_071, 400, "invalid_image"),
        (7_072, 7_071, 422, "image_too_large"),
    ] {
        let r = upload(&app, images::png_bomb(width, height)).await;
        let problem = assert_problem(r, status, code).await;
        assert!(problem["detail"].is_string(), "{width}×{height}");
    }
}
