use crate::both_backends;
use crate::support::advertising::GOOD_FIELDS;
use crate::support::app::{Backend, TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::support::contract::SendChecked;
use crate::support::images;
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    uploads_are_normalised_to_the_story_canvas,
    exif_orientation_applied_and_metadata_stripped,
    bad_uploads_are_refused_and_change_nothing,
    advertisers_see_only_their_own_creatives,
    review_decides_what_may_serve,
    bad_reviews_change_nothing,
    lists_are_paginated,
    idempotency_key_creates_one_creative,
    a_burst_of_large_uploads_is_bounded,
);

/// An upload's image (if any), its text parts, and the field its problem must name.
type FieldCase<'a> = (Option<Vec<u8>>, Vec<(&'a str, &'a str)>, &'a str);

async fn creative_keys(app: &TestApp) -> Vec<String> {
    app.keys().await.into_iter().filter(|k| k.contains("{cr:")).collect()
}

async fn jpeg_of(app: &TestApp, key: &str, path: &str) -> image::RgbImage {
    let r = app.get_as(key, path).await;
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let bytes = r.bytes().await.unwrap();
    assert!(!images::has_exif(&bytes), "{path} carries EXIF");
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8()
}

async fn uploads_are_normalised_to_the_story_canvas(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key) = app.create_advertiser("Acme").await;
    let mut ids = Vec::new();
    // Landscape, portrait, square; JPEG, PNG, WebP; always declared as octet-stream: the bytes decide.
    for bytes in [images::jpeg(4000, 3000), images::png(600, 900), images::webp(300, 300)] {
        let r = app.upload_creative(&key, bytes).await;
        assert_eq!(r.status(), 201);
        let c: Value = r.json().await.unwrap();
        assert_eq!(c["status"], "pending_review");
        assert_eq!(c["headline"], "Fresh beans, roasted daily");
        assert_eq!(c["cta"], json!({"label": "Shop now", "url": "https://shop.example.com/beans"}));
        assert_eq!((c["width"].as_u64(), c["height"].as_u64()), (Some(1080), Some(1920)));
        assert!(c.get("review_reason").is_none());
        assert!(c["created_at"].as_str().unwrap().ends_with('Z'));
        let full = jpeg_of(&app, &key, c["media_url"].as_str().unwrap()).await;
        assert_eq!(full.dimensions(), (1080, 1920));
        let thumb = jpeg_of(&app, &key, c["thumb_url"].as_str().unwrap()).await;
        assert_eq!(thumb.dimensions(), (270, 480));
        assert_eq!(
            app.get_json_as(&key, &format!("/v1/creatives/{}", c["id"].as_str().unwrap())).await,
            c
        );
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    // Cropped, not letterboxed: the centre of a wide red|blue image fills the canvas edge to edge.
    let wide = app
        .upload_creative(&key, images::jpeg(4000, 1000))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let full = jpeg_of(&app, &key, wide["media_url"].as_str().unwrap()).await;
    for (x, y) in [(5, 5), (1074, 1914), (5, 960)] {
        let p = full.get_pixel(x, y);
        let red_or_blue = (p[0] > 150 && p[2] < 100) || (p[2] > 150 && p[0] < 100);
        assert!(red_or_blue, "no letterbox bars: {p:?} at ({x}, {y})");
    }
    ids.push(wide["id"].as_str().unwrap().to_owned());
    // Listed newest first.
    let list = app.get_json_as(&key, "/v1/creatives").await;
    let listed: Vec<&str> = list["creatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    ids.reverse();
    assert_eq!(listed, ids);
    // Creatives are not ephemeral.
    for k in creative_keys(&app).await {
        let ttl: i64 = app.redis(redis::cmd("PTTL").arg(&k)).await;
        assert_eq!(ttl, -1, "{k} expires");
    }
    // Conditional requests.
    let url = list["creatives"][0]["media_url"].as_str().unwrap();
    let r = app.get_as(&key, url).await;
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert!(r.headers()["cache-control"].to_str().unwrap().starts_with("private"));
    let again = app
        .as_advertiser(Method::GET, url, &key)
        .header("if-none-match", &etag)
        .send_checked()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

async fn exif_orientation_applied_and_metadata_stripped(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key) = app.create_advertiser("Acme").await;
    let original = images::jpeg_with_exif_rotation_and_gps(800, 400);
    assert!(images::has_exif(&original));
    let c: Value = app.upload_creative(&key, original).await.json().await.unwrap();
    let full = jpeg_of(&app, &key, c["media_url"].as_str().unwrap()).await;
    // Stored 800×400 red|blue with "rotate 90° clockwise": shown 400×800, red on top, then cropped
    // to the canvas.
    let (top, bottom) = (full.get_pixel(540, 300), full.get_pixel(540, 1600));
    assert!(top[0] > 150 && top[2] < 100, "top is red: {top:?}");
    assert!(bottom[2] > 150 && bottom[0] < 100, "bottom is blue: {bottom:?}");
    // `jpeg_of` also checked that neither rendition has an EXIF (or GPS) segment.
    jpeg_of(&app, &key, c["thumb_url"].as_str().unwrap()).await;
    let raw = app.get_as(&key, c["media_url"].as_str().unwrap()).await.bytes().await.unwrap();
    assert!(!raw.windows(4).any(|w| w == b"GPS\0" || w == b"\x88\x25\x04\x00"), "no GPS tag");
}

async fn bad_uploads_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.media.max_upload_bytes = 200_000).await;
    let (_, key) = app.create_advertiser("Acme").await;
    for (bytes, status, code) in images::bad_uploads() {
        assert_problem(app.upload_creative(&key, bytes).await, status, code).await;
    }
    let big: Vec<u8> = images::jpeg(10, 10).into_iter().chain(std::iter::repeat_n(0u8, 300_000)).collect();
    assert_problem(app.upload_creative(&key, big).await, 413, "payload_too_large").await;

    // Text fields: each problem names its field.
    let image = || Some(images::jpeg(100, 100));
    let long_headline = "h".repeat(41);
    let field_cases: Vec<FieldCase> = vec![
        (None, GOOD_FIELDS.to_vec(), "image"),
        (image(), vec![GOOD_FIELDS[1], GOOD_FIELDS[2]], "headline"),
        (image(), vec![("headline", "   "), GOOD_FIELDS[1], GOOD_FIELDS[2]], "headline"),
        (
            image(),
            vec![("headline", &long_headline), GOOD_FIELDS[1], GOOD_FIELDS[2]],
            "headline",
        ),
        (image(), vec![GOOD_FIELDS[0], GOOD_FIELDS[2]], "cta_label"),
        (
            image(),
            vec![GOOD_FIELDS[0], ("cta_label", "Buy it now!!"), GOOD_FIELDS[2]],
            "cta_label",
        ),
        (image(), vec![GOOD_FIELDS[0], GOOD_FIELDS[1]], "cta_url"),
        (
            image(),
            vec![GOOD_FIELDS[0], GOOD_FIELDS[1], ("cta_url", "http://shop.example.com")],
            "cta_url",
        ),
        (
            image(),
            vec![GOOD_FIELDS[0], GOOD_FIELDS[1], ("cta_url", "javascript:alert(1)")],
            "cta_url",
        ),
        (
            image(),
            vec![GOOD_FIELDS[0], GOOD_FIELDS[1], ("cta_url", "data:text/html,hi")],
            "cta_url",
        ),
        (
            image(),
            vec![GOOD_FIELDS[0], GOOD_FIELDS[1], ("cta_url", "https://bank.com@evil.example")],
            "cta_url",
        ),
        (
            image(),
            vec![GOOD_FIELDS[0], GOOD_FIELDS[1], ("cta_url", "whatsapp://send?phone=1555")],
            "cta_url",
        ),
        (
            image(),
            vec![GOOD_FIELDS[0], GOOD_FIELDS[1], GOOD_FIELDS[2], ("caption", "x")],
            "caption",
        ),
    ];
    for (image, fields, field) in field_cases {
        let r = app.upload_creative_parts(&key, image, &fields).await;
        let p = assert_problem(r, 400, "validation_failed").await;
        assert!(p["errors"].as_array().unwrap().iter().any(|e| e["field"] == field), "{field}: {p}");
    }
    // A bad field is reported without decoding the image: a bomb with a bad headline is a 400.
    let r = app
        .upload_creative_parts(
            &key,
            Some(images::png_bomb(30_000, 30_000)),
            &[("headline", ""), GOOD_FIELDS[1], GOOD_FIELDS[2]],
        )
        .await;
    assert_problem(r, 400, "validation_failed").await;
    // Not multipart at all.
    let r = app
        .as_advertiser(Method::POST, "/v1/creatives", &key)
        .json(&json!({"headline": "hi"}))
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 415, "unsupported_media_type").await;

    assert_eq!(creative_keys(&app).await, Vec::<String>::new(), "nothing stored");
    assert_eq!(app.get_json_as(&key, "/v1/creatives").await["creatives"], json!([]));
    let queue = app.as_admin(Method::GET, "/v1/admin/creatives").send_checked().await.unwrap();
    assert_eq!(queue.json::<Value>().await.unwrap()["creatives"], json!([]));
}

async fn advertisers_see_only_their_own_creatives(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, acme) = app.create_advertiser("Acme").await;
    let (_, books) = app.create_advertiser("Books").await;
    let id = app.new_creative(&acme).await;
    for path in [
        format!("/v1/creatives/{id}"),
        format!("/v1/creatives/{id}/media"),
        format!("/v1/creatives/{id}/thumb"),
    ] {
        assert_problem(app.get_as(&books, &path).await, 404, "not_found").await;
        assert_eq!(app.get_as(&acme, &path).await.status(), 200);
        // Users see nothing of it either.
        assert_problem(app.get(&path, "alice").await, 401, "unauthorized").await;
    }
    assert_eq!(app.get_json_as(&books, "/v1/creatives").await["creatives"], json!([]));
    assert_problem(app.get_as(&acme, "/v1/creatives/does-not-exist").await, 404, "not_found").await;
    assert_problem(app.get_as(&acme, "/v1/creatives/bad%7Bid%7D").await, 404, "not_found").await;
}

async fn review_decides_what_may_serve(backend: Backend) {
    let app = spawn_app(backend).await;
    let (acme_id, acme) = app.create_advertiser("Acme").await;
    let first = app.new_creative(&acme).await;
    let second = app.new_creative(&acme).await;
    let store = app.store();
    let version = store.campaigns_version().await.unwrap();

    // The queue holds both, oldest first; the admin can see the images.
    let queue: Value = app
        .as_admin(Method::GET, "/v1/admin/creatives")
        .send_checked()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let queued: Vec<&str> = queue["creatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(queued, [first.as_str(), second.as_str()]);
    assert_eq!(queue["creatives"][0]["advertiser_id"], acme_id.as_str());
    let r = app
        .as_admin(Method::GET, &format!("/v1/admin/creatives/{first}/media"))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = app
        .review(&first, json!({"decision": "reject", "reason": "The logo is blurry"}))
        .await;
    assert_eq!(r.status(), 200);
    let rejected: Value = r.json().await.unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["review_reason"], "The logo is blurry");
    let seen = app.get_json_as(&acme, &format!("/v1/creatives/{first}")).await;
    assert_eq!(seen["status"], "rejected");
    assert_eq!(seen["review_reason"], "The logo is blurry");

    app.approve(&second).await;
    let approved = app.get_json_as(&acme, &format!("/v1/creatives/{second}")).await;
    assert_eq!(approved["status"], "approved");
    assert!(approved.get("review_reason").is_none());

    let list = |status: &'static str| {
        let app = &app;
        async move {
            let v: Value = app
                .as_admin(Method::GET, &format!("/v1/admin/creatives?status={status}"))
                .send_checked()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["creatives"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("pending_review").await, Vec::<String>::new());
    assert_eq!(list("rejected").await, [first.as_str()]);
    assert_eq!(list("approved").await, [second.as_str()]);
    // Ad indexes were told, once per review.
    assert_eq!(store.campaigns_version().await.unwrap(), version + 2);

    // Only the approved creative can run; a later takedown moves it back out of rotation.
    let campaign = app
        .create_campaign(&acme, &crate::support::advertising::campaign_body(&[&second]))
        .await;
    let loaded = store.all_campaigns(chrono::Utc::now()).await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].campaign.id, campaign["id"].as_str().unwrap());
    assert_eq!(loaded[0].advertiser_name, "Acme");
    assert_eq!(
        loaded[0].creatives.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [second.as_str()]
    );
    let r = app
        .review(&second, json!({"decision": "reject", "reason": "Trademark complaint"}))
        .await;
    assert_eq!(r.status(), 200);
    assert!(store.all_campaigns(chrono::Utc::now()).await.unwrap()[0].creatives.is_empty());
}

async fn bad_reviews_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, acme) = app.create_advertiser("Acme").await;
    let id = app.new_creative(&acme).await;
    for body in [
        json!({"decision": "reject"}),
        json!({"decision": "reject", "reason": "  "}),
        json!({"decision": "reject", "reason": "x".repeat(501)}),
        json!({"decision": "approve", "reason": "looks fine"}),
        json!({"decision": "maybe"}),
        json!({}),
        json!({"decision": "approve", "extra": 1}),
    ] {
        assert_problem(app.review(&id, body).await, 400, "validation_failed").await;
    }
    assert_problem(app.review("does-not-exist", json!({"decision": "approve"})).await, 404, "not_found").await;
    // Only the admin reviews.
    let r = app
        .as_advertiser(Method::POST, &format!("/v1/admin/creatives/{id}/review"), &acme)
        .json(&json!({"decision": "approve"}))
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 401, "unauthorized").await;
    let r = app
        .post_json(
            &format!("/v1/admin/creatives/{id}/review"),
            "alice",
            &json!({"decision": "approve"}),
        )
        .await;
    assert_problem(r, 401, "unauthorized").await;
    let r = app
        .as_admin(Method::GET, "/v1/admin/creatives?status=lost")
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 400, "validation_failed").await;
    let c = app.get_json_as(&acme, &format!("/v1/creatives/{id}")).await;
    assert_eq!(c["status"], "pending_review");
    assert!(c.get("reviewed_at").is_none());
}

async fn lists_are_paginated(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key) = app.create_advertiser("Acme").await;
    let mut made = Vec::new();
    for _ in 0..3 {
        made.push(app.new_creative(&key).await);
    }
    let page = app.get_json_as(&key, "/v1/creatives?limit=2").await;
    assert_eq!(page["creatives"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    // A creative made meanwhile does not shift the next page.
    app.new_creative(&key).await;
    let next = app.get_json_as(&key, &format!("/v1/creatives?limit=2&cursor={cursor}")).await;
    assert_eq!(next["creatives"].as_array().unwrap().len(), 1);
    assert_eq!(next["creatives"][0]["id"], made[0].as_str());
    assert!(next["next_cursor"].is_null());
    for q in ["limit=0", "limit=x", "cursor=bogus", "cursor=aWQ6e2J9"] {
        assert_problem(app.get_as(&key, &format!("/v1/creatives?{q}")).await, 400, "validation_failed").await;
    }
    assert_eq!(
        app.get_json_as(&key, "/v1/creatives?limit=1000").await["creatives"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let queue: Value = app
        .as_admin(Method::GET, "/v1/admin/creatives?limit=3")
        .send_checked()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queue["creatives"][0]["id"], made[0].as_str(), "the queue is oldest first");
    assert!(queue["next_cursor"].is_string());
}

async fn idempotency_key_creates_one_creative(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key) = app.create_advertiser("Acme").await;
    let upload = || {
        let form = reqwest::multipart::Form::new()
            .part("image", reqwest::multipart::Part::bytes(images::jpeg(200, 200)).file_name("x"))
            .text("headline", "Hi")
            .text("cta_label", "Chat")
            .text("cta_url", "https://wa.me/15551234567");
        app.as_advertiser(Method::POST, "/v1/creatives", &key)
            .header("Idempotency-Key", "upload-1")
            .multipart(form)
            .send_checked()
    };
    let first: Value = upload().await.unwrap().json().await.unwrap();
    let again = upload().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(first["cta"]["label"], "Chat");
    assert_eq!(
        app.get_json_as(&key, "/v1/creatives").await["creatives"].as_array().unwrap().len(),
        1
    );
}

/// A burst of large uploads: at most `media.max_concurrent` decode at once, and an upload that
/// cannot get a slot in time is a 503 `busy` (never a crash, never an unbounded queue).
async fn a_burst_of_large_uploads_is_bounded(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.media.max_concurrent = 1;
        s.media.queue_timeout_ms = 1;
    })
    .await;
    let (_, key) = app.create_advertiser("Acme").await;
    let big = images::jpeg(4000, 3000);
    let uploads = (0..6).map(|_| app.upload_creative(&key, big.clone()));
    let answers = futures_util::future::join_all(uploads).await;
    let mut created = 0;
    let mut busy = 0;
    for r in answers {
        match r.status().as_u16() {
            201 => created += 1,
            503 => {
                assert!(r.headers().contains_key("retry-after"));
                assert_problem(r, 503, "busy").await;
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(created >= 1 && busy >= 1, "created {created}, busy {busy}");
    let listed = app.get_json_as(&key, "/v1/creatives?limit=100").await;
    assert_eq!(listed["creatives"].as_array().unwrap().len(), created);
}
