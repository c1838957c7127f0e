use crate::both_backends;
use crate::support::app::{Backend, assert_problem, authors, spawn_app};
use crate::support::contract::SendChecked;
use reqwest::Method;
use serde_json::Value;

both_backends!(
    feed_order_unseen_first_newest_first,
    feed_pagination,
    feed_bad_queries,
    feed_limit_is_clamped_to_100
);

/// Returns once the clock has passed `story`'s `created_at`, so that the next story is newer.
async fn clock_passes(story: &Value) {
    let created = chrono::DateTime::parse_from_rfc3339(story["created_at"].as_str().unwrap()).unwrap();
    // Times are kept to the millisecond: the next one must be a millisecond later.
    let next_ms = created + chrono::Duration::milliseconds(1);
    let passed = || async move { chrono::Utc::now() >= next_ms };
    crate::support::app::eventually(std::time::Duration::from_secs(1), "the clock passes a story's time", passed).await;
}

async fn feed_order_unseen_first_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["me", "a", "b", "c", "d"]).await;
    let mut ids = std::collections::HashMap::new();
    for author in ["a", "b", "c", "d"] {
        let s = app.post_text(author, &format!("by {author}")).await;
        ids.insert(author, s["id"].as_str().unwrap().to_owned());
        clock_passes(&s).await;
    }
    app.post_text("me", "my own").await;
    assert_eq!(
        app.feed_authors("me").await,
        ["d", "c", "b", "a"],
        "newest first; own stories not in items"
    );
    // Seeing c and a moves them after the unseen authors, still newest first.
    for author in ["c", "a"] {
        assert_eq!(app.post(&format!("/v1/stories/{}/view", ids[author]), "me").await.status(), 204);
    }
    let feed = app.feed("me").await;
    assert_eq!(authors(&feed["items"]), ["d", "b", "c", "a"]);
    let unseen: Vec<bool> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["unseen"].as_bool().unwrap())
        .collect();
    assert_eq!(unseen, [true, true, false, false]);
    // A new story from a makes a unseen again and newest.
    app.post_text("a", "again").await;
    let feed = app.feed("me").await;
    assert_eq!(authors(&feed["items"]), ["a", "d", "b", "c"]);
    let a = &feed["items"][0];
    assert_eq!(a["type"], "author");
    let stories = a["stories"].as_array().unwrap();
    assert_eq!(stories.len(), 2);
    assert_eq!(
        (stories[0]["seen"].as_bool(), stories[1]["seen"].as_bool()),
        (Some(true), Some(false)),
        "oldest first, as played"
    );
    assert_eq!(a["latest_at"], stories[1]["created_at"]);
    assert!(feed["next_cursor"].is_null());
    assert_eq!(feed["muted"], Value::Array(vec![]));
}

async fn feed_pagination(backend: Backend) {
    let app = spawn_app(backend).await;
    let users: Vec<String> = (0..7).map(|i| format!("u{i}")).collect();
    let mut all: Vec<&str> = users.iter().map(String::as_str).collect();
    all.push("viewer");
    app.befriend_all(&all).await;
    for u in &users {
        // Distinct creation times, so that the expected order is by time alone.
        clock_passes(&app.post_text(u, "hi").await).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/v1/feed?limit=3".to_string(),
            Some(c) => format!("/v1/feed?limit=3&cursor={c}"),
        };
        let page = app.get_json(&path, "viewer").await;
        let got = authors(&page["items"]);
        assert!(got.len() <= 3);
        seen.extend(got);
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = users.clone();
    expected.reverse();
    assert_eq!(seen, expected, "every author once, in order");
}

async fn feed_bad_queries(backend: Backend) {
    let app = spawn_app(backend).await;
    for q in ["limit=0", "limit=-1", "limit=x", "cursor=%%%", "cursor=eyJmb28iOjF9"] {
        assert_problem(app.get(&format!("/v1/feed?{q}"), "me").await, 400, "validation_failed").await;
    }
    assert_problem(
        app.req(Method::POST, "/v1/feed", "me").send_checked().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
}

async fn feed_limit_is_clamped_to_100(backend: Backend) {
    let app = spawn_app(backend).await;
    let users: Vec<String> = (0..101).map(|i| format!("user{i}")).collect();
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    app.set_contacts("viewer", &refs).await;
    for u in &users {
        app.set_contacts(u, &["viewer"]).await;
        app.post_text(u, "hi").await;
    }
    let page = app.get_json("/v1/feed?limit=500", "viewer").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 100);
    assert!(page["next_cursor"].is_string());
    let rest = app
        .get_json(&format!("/v1/feed?cursor={}", page["next_cursor"].as_str().unwrap()), "viewer")
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    let default = app.get_json("/v1/feed", "viewer").await;
    assert_eq!(default["items"].as_array().unwrap().len(), 20);
}
