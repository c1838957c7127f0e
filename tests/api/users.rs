use crate::both_backends;
use crate::support::app::{Backend, assert_problem, spawn_app, spawn_app_with};
use crate::support::contract::SendChecked;
use reqwest::Method;
use serde_json::json;

both_backends!(
    contacts_round_trip,
    contacts_bad_input_changes_nothing,
    longest_contact_list_fits_its_body_limit,
    settings_defaults_and_patch,
    settings_bad_input_changes_nothing,
    mute_and_unmute,
    erase_me_removes_everything,
);

async fn contacts_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .send_json(
            Method::PUT,
            "/v1/me/contacts",
            "alice",
            &json!({"contacts": ["carol", "bob", "bob", "alice"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, json!({"contacts": ["bob", "carol"]}), "deduplicated, self dropped");
    assert_eq!(
        app.get_json("/v1/me/contacts", "alice").await,
        json!({"contacts": ["bob", "carol"]})
    );
    app.set_contacts("alice", &[]).await;
    assert_eq!(app.get_json("/v1/me/contacts", "alice").await, json!({"contacts": []}));
}

async fn contacts_bad_input_changes_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.users.max_contacts = 3).await;
    app.set_contacts("alice", &["bob"]).await;
    let bad = [
        json!({"contacts": ["ok", "not ok"]}),
        json!({"contacts": ["a", "b", "c", "d"]}),
        json!({"contacts": "bob"}),
        json!({"friends": ["bob"]}),
        json!({"contacts": [""]}),
        json!({"contacts": ["x".repeat(65)]}),
    ];
    for body in bad {
        let r = app.send_json(Method::PUT, "/v1/me/contacts", "alice", &body).await;
        let problem = assert_problem(r, 400, "validation_failed").await;
        assert!(problem["errors"].as_array().is_some_and(|e| !e.is_empty()), "{problem}");
    }
    let r = app
        .req(Method::PUT, "/v1/me/contacts", "alice")
        .header("content-type", "application/json")
        .body("{not json")
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 400, "validation_failed").await;
    let r = app
        .req(Method::PUT, "/v1/me/contacts", "alice")
        .header("content-type", "text/plain")
        .body("bob")
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 415, "unsupported_media_type").await;
    let huge = json!({"contacts": vec!["abcdefghij"; 10_000]});
    let r = app.send_json(Method::PUT, "/v1/me/contacts", "alice", &huge).await;
    assert_problem(r, 413, "payload_too_large").await;
    assert_eq!(app.get_json("/v1/me/contacts", "alice").await, json!({"contacts": ["bob"]}));
}

/// A list of `users.max_contacts` ids of the longest length is far above the 64 KiB JSON limit;
/// the endpoints that take user lists accept it, and refuse anything larger with 413.
async fn longest_contact_list_fits_its_body_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let max = app.settings.users.max_contacts;
    let longest: Vec<String> = (0..max).map(|i| format!("{i:064}")).collect();
    let body = json!({ "contacts": longest });
    assert!(body.to_string().len() > app.settings.http.json_limit_bytes);
    let r = app.send_json(Method::PUT, "/v1/me/contacts", "alice", &body).await;
    assert_eq!(r.status(), 200);
    let stored = app.get_json("/v1/me/contacts", "alice").await;
    assert_eq!(stored["contacts"].as_array().map(Vec::len), Some(max));

    let audience = json!({"text": "for my closest 5,000", "audience": {"mode": "only", "users": longest}});
    let r = app.post_json("/v1/stories", "alice", &audience).await;
    assert_eq!(r.status(), 201);
    let r = app
        .send_json(
            Method::PATCH,
            "/v1/me/settings",
            "alice",
            &json!({"default_audience": {"mode": "only", "users": longest}}),
        )
        .await;
    assert_eq!(r.status(), 200);

    let too_long: Vec<String> = (0..max + max / 5).map(|i| format!("{i:064}")).collect();
    let r = app
        .send_json(Method::PUT, "/v1/me/contacts", "alice", &json!({ "contacts": too_long }))
        .await;
    assert_problem(r, 413, "payload_too_large").await;
    let unchanged = app.get_json("/v1/me/contacts", "alice").await;
    assert_eq!(unchanged["contacts"].as_array().map(Vec::len), Some(max));
}

async fn settings_defaults_and_patch(backend: Backend) {
    let app = spawn_app(backend).await;
    let defaults = app.get_json("/v1/me/settings", "alice").await;
    assert_eq!(defaults["read_receipts"], true);
    assert_eq!(defaults["personalized_ads"], false);
    assert_eq!(defaults["default_audience"], json!({"mode": "contacts", "users": []}));
    assert!(defaults["country"].is_null());
    let patch = json!({
        "default_audience": {"mode": "contacts_except", "users": ["bob", "bob"]},
        "read_receipts": false, "personalized_ads": true, "country": "de", "language": "DE",
        "interests": ["Football", "travel"]
    });
    let r = app.send_json(Method::PATCH, "/v1/me/settings", "alice", &patch).await;
    assert_eq!(r.status(), 200);
    let s: serde_json::Value = r.json().await.unwrap();
    assert_eq!(s["default_audience"], json!({"mode": "contacts_except", "users": ["bob"]}));
    assert_eq!((s["country"].as_str(), s["language"].as_str()), (Some("DE"), Some("de")));
    assert_eq!(s["interests"], json!(["football", "travel"]));
    assert_eq!(app.get_json("/v1/me/settings", "alice").await, s);
    // Absent fields stay; null clears.
    let r = app
        .send_json(Method::PATCH, "/v1/me/settings", "alice", &json!({"country": null}))
        .await;
    let s2: serde_json::Value = r.json().await.unwrap();
    assert!(s2["country"].is_null());
    assert_eq!(s2["language"], "de");
    assert_eq!(s2["read_receipts"], false);
}

async fn settings_bad_input_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.get_json("/v1/me/settings", "alice").await;
    let bad = [
        (json!({"country": "XX"}), "country"),
        (json!({"country": "DEU"}), "country"),
        (json!({"language": "english"}), "language"),
        (json!({"interests": ["ok", "not ok!"]}), "interests[1]"),
        (json!({"default_audience": {"mode": "only", "users": []}}), "default_audience.users"),
        (
            json!({"default_audience": {"mode": "only", "users": ["bad id"]}}),
            "default_audience.users[0]",
        ),
    ];
    for (body, field) in bad {
        let r = app.send_json(Method::PATCH, "/v1/me/settings", "alice", &body).await;
        let p = assert_problem(r, 400, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    for body in [
        json!({"read_receipts": "yes"}),
        json!({"nope": 1}),
        json!({"default_audience": {"mode": "everyone"}}),
    ] {
        let r = app.send_json(Method::PATCH, "/v1/me/settings", "alice", &body).await;
        assert_problem(r, 400, "validation_failed").await;
    }
    // Several errors are reported together, and nothing is applied.
    let r = app
        .send_json(
            Method::PATCH,
            "/v1/me/settings",
            "alice",
            &json!({"country": "XX", "language": "1", "read_receipts": false}),
        )
        .await;
    let p = assert_problem(r, 400, "validation_failed").await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 2);
    assert_eq!(app.get_json("/v1/me/settings", "alice").await, before);
}

async fn mute_and_unmute(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob", "carol"]).await;
    app.post_text("bob", "from bob").await;
    app.post_text("carol", "from carol").await;
    let r = app.req(Method::PUT, "/v1/me/muted/bob", "alice").send_checked().await.unwrap();
    assert_eq!(r.status(), 204);
    let feed = app.feed("alice").await;
    assert_eq!(crate::support::app::authors(&feed["items"]), ["carol"]);
    assert_eq!(crate::support::app::authors(&feed["muted"]), ["bob"]);
    let r = app.req(Method::PUT, "/v1/me/muted/bad%20id", "alice").send_checked().await.unwrap();
    assert_problem(r, 400, "validation_failed").await;
    assert_eq!(app.delete("/v1/me/muted/bob", "alice").await.status(), 204);
    let feed = app.feed("alice").await;
    assert_eq!(crate::support::app::authors(&feed["items"]).len(), 2);
    assert_eq!(feed["muted"], json!([]));
}

async fn erase_me_removes_everything(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    let mine = app.post_text("alice", "alice's").await;
    let bobs = app.post_text("bob", "bob's").await;
    let bob_story = bobs["id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/v1/stories/{bob_story}/view"), "alice").await.status(), 204);
    let r = app
        .post_json(&format!("/v1/stories/{bob_story}/reactions"), "alice", &json!({"emoji": "🎉"}))
        .await;
    assert_eq!(r.status(), 204);
    app.send_json(Method::PATCH, "/v1/me/settings", "alice", &json!({"country": "FR"}))
        .await;
    let r = app
        .req(Method::POST, "/v1/stories", "alice")
        .header("Idempotency-Key", "k1")
        .json(&json!({"text": "idem"}))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    assert_eq!(app.delete("/v1/me", "alice").await.status(), 204);

    let leftovers: Vec<String> = app.keys().await.into_iter().filter(|k| k.contains("{u:alice}")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let keys = app.key_schema();
    let listed: bool = app.redis(redis::cmd("SISMEMBER").arg(keys.listed_by("bob")).arg("alice")).await;
    assert!(!listed, "bob's mirror of the lists that hold him forgets alice's");
    let r = app.get(&format!("/v1/stories/{}", mine["id"].as_str().unwrap()), "bob").await;
    assert_problem(r, 404, "not_found").await;
    let viewers = app.get_json(&format!("/v1/stories/{bob_story}/viewers"), "bob").await;
    assert_eq!(viewers["viewers"], json!([]), "alice's view and reaction are gone");
    assert_eq!(app.get_json("/v1/me/stories", "bob").await["stories"][0]["reaction_count"], 0);
    assert_eq!(app.get_json("/v1/me/settings", "alice").await["country"], serde_json::Value::Null);
    assert_eq!(app.feed_authors("bob").await, Vec::<String>::new());
}
