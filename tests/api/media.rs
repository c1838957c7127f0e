use crate::both_backends;
use crate::support::app::{Backend, TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::support::contract::SendChecked;
use crate::support::images;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response};
use serde_json::{Value, json};

both_backends!(
    image_story_round_trip,
    exif_orientation_applied_and_metadata_dropped,
    bad_images_are_refused_and_change_nothing,
    media_caching_headers,
);

async fn upload(app: &TestApp, user: &str, bytes: Vec<u8>, declared: &str, extra: &[(&str, &str)]) -> Response {
    let mut form = Form::new().part("media", Part::bytes(bytes).file_name("upload").mime_str(declared).unwrap());
    for (name, value) in extra {
        form = form.text(name.to_string(), value.to_string());
    }
    app.req(Method::POST, "/v1/stories", user)
        .multipart(form)
        .send_checked()
        .await
        .expect("upload sent")
}

async fn created(r: Response) -> Value {
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn image_story_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    for (bytes, declared) in [
        (images::jpeg(4000, 3000), "image/jpeg"),
        (images::png(600, 800), "image/png"),
        (images::webp(300, 200), "image/webp"),
    ] {
        // The declared type is ignored: the bytes decide.
        let story = created(
            upload(
                &app,
                "alice",
                bytes,
                "application/octet-stream",
                &[("caption", "a photo"), ("audience", r#"{"mode":"only","users":["bob"]}"#)],
            )
            .await,
        )
        .await;
        let _ = declared;
        assert_eq!(story["kind"], "image");
        assert_eq!(story["caption"], "a photo");
        assert_eq!(story["audience"]["mode"], "only");
        let media = app.get(story["media_url"].as_str().unwrap(), "bob").await;
        assert_eq!(media.status(), 200);
        assert_eq!(media.headers()["content-type"], "image/jpeg");
        let full = image::load_from_memory(&media.bytes().await.unwrap()).unwrap();
        assert!(full.width() <= 1080 && full.height() <= 1920);
        let thumb = image::load_from_memory(&app.get(story["thumb_url"].as_str().unwrap(), "bob").await.bytes().await.unwrap()).unwrap();
        assert!(thumb.width() < full.width());
    }
    // A 4000×3000 photo is fitted into the story canvas, keeping its shape.
    let story = created(upload(&app, "alice", images::jpeg(4000, 3000), "image/jpeg", &[]).await).await;
    let full = image::load_from_memory(&app.get(story["media_url"].as_str().unwrap(), "alice").await.bytes().await.unwrap()).unwrap();
    assert_eq!((full.width(), full.height()), (1080, 810));
    assert_problem(app.get(story["media_url"].as_str().unwrap(), "mallory").await, 404, "not_found").await;
}

async fn exif_orientation_applied_and_metadata_dropped(backend: Backend) {
    let app = spawn_app(backend).await;
    let original = images::jpeg_with_exif_rotation_and_gps(800, 400);
    assert!(images::has_exif(&original));
    let story = created(upload(&app, "alice", original, "image/jpeg", &[]).await).await;
    let bytes = app.get(story["media_url"].as_str().unwrap(), "alice").await.bytes().await.unwrap();
    assert!(!images::has_exif(&bytes), "EXIF (and its GPS) must be gone");
    let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
    // Stored 800×400 with "rotate 90° clockwise": displayed 400×800, red half on top.
    assert_eq!((img.width(), img.height()), (400, 800));
    let top = img.get_pixel(200, 100);
    let bottom = img.get_pixel(200, 700);
    assert!(top[0] > 150 && top[2] < 100, "top is red: {top:?}");
    assert!(bottom[2] > 150 && bottom[0] < 100, "bottom is blue: {bottom:?}");
    let thumb = app.get(story["thumb_url"].as_str().unwrap(), "alice").await.bytes().await.unwrap();
    assert!(!images::has_exif(&thumb));
}

async fn bad_images_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.media.max_upload_bytes = 200_000).await;
    for (bytes, status, code) in images::bad_uploads() {
        assert!(bytes.len() < 10_000 || code != "image_too_large", "bombs are small");
        assert_problem(upload(&app, "alice", bytes, "image/png", &[]).await, status, code).await;
    }
    // Past the upload limit.
    let big: Vec<u8> = images::jpeg(10, 10).into_iter().chain(std::iter::repeat_n(0u8, 300_000)).collect();
    assert_problem(upload(&app, "alice", big, "image/jpeg", &[]).await, 413, "payload_too_large").await;
    // Missing or extra parts, bad caption or audience.
    let r = app
        .req(Method::POST, "/v1/stories", "alice")
        .multipart(Form::new().text("caption", "no image"))
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 400, "validation_failed").await;
    let r = upload(&app, "alice", images::jpeg(10, 10), "image/jpeg", &[("unexpected", "x")]).await;
    assert_problem(r, 400, "validation_failed").await;
    let r = upload(&app, "alice", images::jpeg(10, 10), "image/jpeg", &[("caption", &"c".repeat(701))]).await;
    assert_problem(r, 400, "validation_failed").await;
    let r = upload(
        &app,
        "alice",
        images::jpeg(10, 10),
        "image/jpeg",
        &[("audience", "{\"mode\":\"nobody\"}")],
    )
    .await;
    assert_problem(r, 400, "validation_failed").await;
    assert!(app.keys().await.iter().all(|k| !k.contains("{s:")), "nothing stored");
    assert_eq!(app.get_json("/v1/me/stories", "alice").await, json!({"stories": []}));
    let metrics = app.get("/metrics", "").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"statusd_media_rejected_total{reason="image_too_large"} 2"#),
        "{metrics}"
    );
}

async fn media_caching_headers(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.stories.ttl_secs = 120).await;
    app.befriend_all(&["alice", "bob"]).await;
    let story = created(upload(&app, "alice", images::png(100, 100), "image/png", &[]).await).await;
    for url in [story["media_url"].as_str().unwrap(), story["thumb_url"].as_str().unwrap()] {
        let r = app.get(url, "bob").await;
        assert_eq!(r.status(), 200);
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'));
        let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
        let max_age: i64 = cache.strip_prefix("private, max-age=").unwrap().parse().unwrap();
        assert!((0..=120).contains(&max_age), "{cache}");
        let again = app
            .req(Method::GET, url, "bob")
            .header("if-none-match", &etag)
            .send_checked()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
    }
    // A text story has no media.
    let text = app.post_text("alice", "words").await;
    assert_problem(
        app.get(&format!("/v1/stories/{}/media", text["id"].as_str().unwrap()), "bob").await,
        404,
        "not_found",
    )
    .await;
}
