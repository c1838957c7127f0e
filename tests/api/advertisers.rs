use crate::both_backends;
use crate::support::app::{ADMIN_TOKEN, Backend, TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::support::contract::SendChecked;
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    admin_creates_advertisers_and_the_key_is_shown_once,
    bad_advertiser_input_changes_nothing,
    keys_open_advertiser_endpoints_only,
    rotating_a_key_retires_the_old_one,
    an_advertiser_reads_their_own_account,
    idempotent_creation_never_stores_the_key,
    seed_demo_creates_advertisers_with_running_campaigns,
);

async fn advertiser_records(app: &TestApp) -> usize {
    app.keys()
        .await
        .iter()
        .filter(|k| k.ends_with(":advertiser") && k.contains("{a:"))
        .count()
}

async fn admin_creates_advertisers_and_the_key_is_shown_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .as_admin(Method::POST, "/v1/admin/advertisers")
        .json(&json!({"name": "  Acme Coffee "}))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "Acme Coffee");
    let key = created["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk_") && key.len() >= 46, "{key}");
    let id = created["id"].as_str().unwrap();

    let fetched: Value = app
        .as_admin(Method::GET, &format!("/v1/admin/advertisers/{id}"))
        .send_checked()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name"], "Acme Coffee");
    assert!(fetched.get("api_key").is_none(), "the key is never shown again: {fetched}");

    // The key works, and Redis holds only its SHA-256, nowhere the key itself.
    assert_eq!(
        app.get_json_as(&key, "/v1/creatives").await,
        json!({"creatives": [], "next_cursor": null})
    );
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()));
    assert!(app.keys().await.iter().any(|k| k.contains(&hash)), "indexed by hash");
    for (name, value) in app.string_values().await {
        assert!(!name.contains(&key[3..]), "{name}");
        assert!(!String::from_utf8_lossy(&value).contains(&key[3..]), "{name} holds the key");
    }
    // Advertisers are not ephemeral.
    for k in app.keys().await {
        let ttl: i64 = app.redis(redis::cmd("PTTL").arg(&k)).await;
        assert_eq!(ttl, -1, "{k} expires");
    }
    // Two advertisers, two keys.
    let (other, other_key) = app.create_advertiser("Bright Books").await;
    assert_ne!(other, id);
    assert_ne!(other_key, key);
    assert_problem(
        app.as_admin(Method::GET, "/v1/admin/advertisers/nobody")
            .send_checked()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

async fn bad_advertiser_input_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    for body in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "tab\there"}),
        json!({}),
        json!({"name": "Acme", "api_key": "sk_mine"}),
        json!({"name": 7}),
    ] {
        let r = app
            .as_admin(Method::POST, "/v1/admin/advertisers")
            .json(&body)
            .send_checked()
            .await
            .unwrap();
        assert_problem(r, 400, "validation_failed").await;
    }
    let r = app
        .as_admin(Method::POST, "/v1/admin/advertisers")
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "a".repeat(70_000)))
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 413, "payload_too_large").await;
    // Not the admin.
    let r = app.post_json("/v1/admin/advertisers", "alice", &json!({"name": "Acme"})).await;
    assert_problem(r, 401, "unauthorized").await;
    let r = app
        .client
        .post(app.url("/v1/admin/advertisers"))
        .json(&json!({"name": "Acme"}))
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 401, "unauthorized").await;
    assert_eq!(advertiser_records(&app).await, 0);
    assert!(app.keys().await.iter().all(|k| !k.contains("{ak:")), "no key was issued");

    // Without an admin token configured, admin endpoints are off.
    let off = spawn_app_with(backend, |s| s.auth.admin_token = None).await;
    let r = off
        .client
        .post(off.url("/v1/admin/advertisers"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "Acme"}))
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 403, "admin_disabled").await;
}

async fn keys_open_advertiser_endpoints_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, key) = app.create_advertiser("Acme").await;
    let user = app.token("alice");
    let mut tampered = key.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let unknown = format!("sk_{}", "A".repeat(43));
    // A user token, the admin token, a tampered or unknown key: never an advertiser.
    for (bearer, path) in [
        (user.as_str(), "/v1/creatives"),
        (user.as_str(), "/v1/campaigns"),
        (ADMIN_TOKEN, "/v1/creatives"),
        (ADMIN_TOKEN, "/v1/campaigns"),
        (tampered.as_str(), "/v1/creatives"),
        (unknown.as_str(), "/v1/campaigns"),
        ("sk_", "/v1/creatives"),
    ] {
        let r = app.as_advertiser(Method::GET, path, bearer).send_checked().await.unwrap();
        assert_problem(r, 401, "unauthorized").await;
    }
    let r = app.client.get(app.url("/v1/campaigns")).send_checked().await.unwrap();
    assert_problem(r, 401, "unauthorized").await;
    // An API key on user and admin endpoints.
    let one_advertiser = format!("/v1/admin/advertisers/{id}");
    for (method, path) in [
        (Method::GET, "/v1/feed"),
        (Method::GET, "/v1/me/contacts"),
        (Method::GET, "/v1/me/stories"),
        (Method::POST, "/v1/admin/advertisers"),
        (Method::GET, one_advertiser.as_str()),
        (Method::GET, "/v1/admin/creatives"),
    ] {
        let r = app
            .as_advertiser(method.clone(), path, &key)
            .json(&json!({"name": "x"}))
            .send_checked()
            .await
            .unwrap();
        assert_problem(r, 401, "unauthorized").await;
    }
    // The right key does open them.
    assert_eq!(app.get_as(&key, "/v1/campaigns").await.status(), 200);
}

async fn rotating_a_key_retires_the_old_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, old) = app.create_advertiser("Acme").await;
    let creative = app.new_creative(&old).await;
    let r = app
        .as_admin(Method::POST, &format!("/v1/admin/advertisers/{id}/api-key"))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], id.as_str());
    let new = body["api_key"].as_str().unwrap();
    assert_ne!(new, old);
    assert_problem(app.get_as(&old, "/v1/creatives").await, 401, "unauthorized").await;
    let list = app.get_json_as(new, "/v1/creatives").await;
    assert_eq!(list["creatives"][0]["id"], creative.as_str(), "same account, same creatives");
    let r = app
        .as_admin(Method::POST, "/v1/admin/advertisers/nobody/api-key")
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    let r = app
        .as_advertiser(Method::POST, &format!("/v1/admin/advertisers/{id}/api-key"), new)
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 401, "unauthorized").await;
}

async fn idempotent_creation_never_stores_the_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let post = || {
        app.as_admin(Method::POST, "/v1/admin/advertisers")
            .header("Idempotency-Key", "make-acme")
            .json(&json!({"name": "Acme"}))
            .send_checked()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let key = first["api_key"].as_str().unwrap().to_owned();
    let again = post().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert!(again.get("api_key").is_none(), "a replay cannot show a key that was never stored");
    assert_eq!(advertiser_records(&app).await, 1);
    for (name, value) in app.string_values().await {
        assert!(!String::from_utf8_lossy(&value).contains(&key), "{name} holds the key");
    }
}

/// Runs `statusd seed-demo` against `app`'s Redis and key prefix; returns what it printed, a
/// `name<TAB>token` line each.
fn seed_demo(app: &crate::support::app::TestApp) -> Vec<(String, String)> {
    let redis = &app.settings.redis;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_statusd"))
        .arg("seed-demo")
        .env("STATUSD_REDIS__URL", &redis.url)
        .env("STATUSD_REDIS__CLUSTER_NODES", redis.cluster_nodes.join(","))
        .env("STATUSD_REDIS__KEY_PREFIX", &redis.key_prefix)
        .env("STATUSD_AUTH__JWT_SECRET", crate::support::app::JWT_SECRET)
        .output()
        .expect("statusd seed-demo runs");
    assert!(output.status.success(), "seed-demo: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(name, token)| (name.to_owned(), token.to_owned()))
        .collect()
}

async fn seed_demo_creates_advertisers_with_running_campaigns(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = seed_demo(&app);
    let again = seed_demo(&app);
    let key_of = |seeded: &[(String, String)], name: &str| seeded.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone()).unwrap();
    for short in ["acme", "books"] {
        let name = format!("advertiser:{short}");
        let (old, key) = (key_of(&first, &name), key_of(&again, &name));
        assert_problem(app.get_as(&old, "/v1/creatives").await, 401, "unauthorized").await;
        let creatives = app.get_json_as(&key, "/v1/creatives").await;
        let creatives = creatives["creatives"].as_array().unwrap();
        assert_eq!(creatives.len(), 3, "re-seeding replaces, never piles up");
        assert!(creatives.iter().all(|c| c["width"] == 1080));
        let statuses: Vec<&str> = creatives.iter().map(|c| c["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["pending_review", "approved", "approved"], "newest first");
        let campaigns = app.get_json_as(&key, "/v1/campaigns").await;
        assert_eq!(campaigns["campaigns"].as_array().unwrap().len(), 1);
        assert_eq!(campaigns["campaigns"][0]["status"], "active");
    }
    let loaded = app.store().all_campaigns(chrono::Utc::now()).await.unwrap();
    assert_eq!(loaded.len(), 2);
    assert!(loaded.iter().all(|l| l.creatives.len() == 2));
    // The review desk's queue holds each demo advertiser's third creative, once.
    let queue = app.as_admin(Method::GET, "/v1/admin/creatives").send_checked().await.unwrap();
    let queue: Value = queue.json().await.unwrap();
    let waiting: Vec<&str> = queue["creatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["headline"].as_str().unwrap())
        .collect();
    assert_eq!(waiting, ["Winter menu: try the spiced latte", "Author talk on Friday"]);
    let mut names: Vec<&str> = loaded.iter().map(|l| l.advertiser_name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Acme Coffee", "Bright Books"]);
    // The demo users get tokens that work, and alice's feed shows her contacts' stories.
    let alice = key_of(&again, "alice");
    let feed = app.client.get(app.url("/v1/feed")).bearer_auth(alice).send_checked().await.unwrap();
    assert_eq!(feed.status(), 200);
    let feed: Value = feed.json().await.unwrap();
    assert!(!crate::support::app::authors(&feed["items"]).is_empty(), "{feed}");
}

/// `GET /v1/advertiser`: the caller's own account, by its key, never the key; nobody else's.
async fn an_advertiser_reads_their_own_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, key) = app.create_advertiser("Acme Coffee").await;
    let (other, _) = app.create_advertiser("Bright Books").await;
    let own = app.get_json_as(&key, "/v1/advertiser").await;
    assert_eq!((own["id"].as_str(), own["name"].as_str()), (Some(id.as_str()), Some("Acme Coffee")));
    assert!(own.get("api_key").is_none(), "{own}");
    assert_ne!(own["id"], other.as_str());
    for bearer in [app.token("alice"), ADMIN_TOKEN.to_owned(), String::new()] {
        let r = app
            .as_advertiser(Method::GET, "/v1/advertiser", &bearer)
            .send_checked()
            .await
            .unwrap();
        assert_problem(r, 401, "unauthorized").await;
    }
}
