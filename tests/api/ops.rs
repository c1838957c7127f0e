use crate::both_backends;
use crate::support::app::{Backend, assert_problem, spawn_app, spawn_app_with, spawn_with_settings, test_settings};
use crate::support::contract::SendChecked;
use crate::support::redis::OwnedRedis;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

both_backends!(
    health_ready_and_metrics,
    unknown_routes_and_methods_are_problems,
    auth_failures,
    metrics_token_when_configured,
    openapi_covers_every_route,
);

async fn health_ready_and_metrics(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/healthz", "").await.status(), 200);
    assert_eq!(app.get("/readyz", "").await.status(), 200);
    app.get("/v1/me/contacts", "alice").await;
    let text = app.get("/metrics", "").await.text().await.unwrap();
    assert!(
        text.contains(r#"statusd_http_requests_total{method="GET",route="/v1/me/contacts",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("statusd_http_request_duration_seconds_bucket"));
}

async fn unknown_routes_and_methods_are_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_problem(app.get("/nope", "alice").await, 404, "not_found").await;
    let r = app.req(Method::PATCH, "/v1/feed", "alice").send_checked().await.unwrap();
    assert_problem(r, 405, "method_not_allowed").await;
}

async fn auth_failures(backend: Backend) {
    let app = spawn_app(backend).await;
    let expired = statusd::auth::UserTokens::new(crate::support::app::JWT_SECRET)
        .issue("alice", -3600)
        .unwrap();
    let foreign = statusd::auth::UserTokens::new("some-other-secret-entirely")
        .issue("alice", 3600)
        .unwrap();
    for header in [
        None,
        Some("Bearer".to_string()),
        Some("Bearer garbage".into()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {foreign}")),
        Some(format!("Basic {}", app.token("alice"))),
        Some(format!("Bearer {}", crate::support::app::ADMIN_TOKEN)),
    ] {
        let mut rb = app.client.get(app.url("/v1/feed"));
        if let Some(h) = &header {
            rb = rb.header("authorization", h);
        }
        assert_problem(rb.send_checked().await.unwrap(), 401, "unauthorized").await;
    }
    // A token whose subject is not a valid user id.
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        sub: &'a str,
        exp: i64,
    }
    let bad_sub = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &Claims {
            sub: "no spaces",
            exp: chrono::Utc::now().timestamp() + 60,
        },
        &jsonwebtoken::EncodingKey::from_secret(crate::support::app::JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_problem(
        app.client
            .get(app.url("/v1/feed"))
            .bearer_auth(bad_sub)
            .send_checked()
            .await
            .unwrap(),
        401,
        "unauthorized",
    )
    .await;
}

async fn metrics_token_when_configured(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.auth.metrics_token = Some("metrics-token-123456".into())).await;
    assert_problem(app.get("/metrics", "").await, 401, "unauthorized").await;
    let r = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-123456")
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn openapi_covers_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.get_json("/openapi.json", "").await;
    let paths = doc["paths"].as_object().unwrap();
    // Every HTTP file, so that a new one cannot be forgotten.
    let src = std::fs::read_dir("src/http")
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    // Every `web::resource("...")` with each of its methods must be documented.
    let mut checked = 0;
    for chunk in src.split("web::resource(\"").skip(1) {
        let path = &chunk[..chunk.find('"').unwrap()];
        let routes = chunk.split(".service(").next().unwrap();
        let documented = paths.get(path).unwrap_or_else(|| panic!("{path} missing from /openapi.json"));
        for method in ["get", "post", "put", "patch", "delete"] {
            if routes.contains(&format!("web::{method}()")) {
                assert!(documented.get(method).is_some(), "{method} {path} missing from /openapi.json");
                checked += 1;
            }
        }
    }
    assert!(checked >= 38, "only {checked} routes found");
}

#[tokio::test]
async fn redis_outage_is_a_fast_503_and_recovers() {
    let mut redis = OwnedRedis::start();
    let mut settings = test_settings(Backend::Standalone);
    settings.redis.url = redis.url();
    let app = spawn_with_settings(Backend::Standalone, settings).await;
    app.set_contacts("alice", &["bob"]).await;

    redis.stop();
    for _ in 0..3 {
        let r = app.get("/v1/me/contacts", "alice").await;
        assert_eq!(
            r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()),
            Some("1".into())
        );
        assert_problem(r, 503, "store_unavailable").await;
    }
    assert_problem(app.get("/readyz", "").await, 503, "store_unavailable").await;
    let r = app.post_json("/v1/stories", "alice", &json!({"text": "during outage"})).await;
    assert_problem(r, 503, "store_unavailable").await;

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.get("/readyz", "").await;
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/v1/me/contacts", "alice").await.status(), 200);
}

/// Started while Redis is down, an instance answers `/healthz` at once and 503 elsewhere; once
/// Redis is back, `/readyz` stays 503 `busy` until the campaign index has loaded (here at the next
/// `ads.index_refresh_ms`, 10 s, or the one after), and the first feed after it is ready carries the ads
/// of a campaign created meanwhile by another instance.
#[tokio::test]
async fn starts_while_redis_is_down() {
    use crate::support::advertising::{ads_of, running_campaign, world};
    let mut redis = OwnedRedis::start();
    redis.stop();
    let mut settings = test_settings(Backend::Standalone);
    settings.redis.url = redis.url();
    settings.ads.index_refresh_ms = 10_000;
    let app = spawn_with_settings(Backend::Standalone, settings.clone()).await;
    assert_eq!(app.get("/healthz", "").await.status(), 200);
    assert_problem(app.get("/v1/feed", "v").await, 503, "store_unavailable").await;
    assert_problem(app.get("/readyz", "").await, 503, "store_unavailable").await;

    redis.restart();
    let other = spawn_with_settings(Backend::Standalone, settings).await;
    other.wait_ready().await;
    world(&other, "v", 3).await;
    running_campaign(&other, "Acme", json!({})).await;
    // The instance reconnects by itself, within its reconnection backoff (not at once).
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.get("/v1/feed", "v").await.status() != 200 {
        assert!(Instant::now() < deadline, "the instance did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_problem(app.get("/readyz", "").await, 503, "busy").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.get("/readyz", "").await.status() != 200 {
        assert!(Instant::now() < deadline, "the index did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ads_of(&app.feed("v").await).len(), 1, "ready means the ads are there");
}
