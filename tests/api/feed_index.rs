//! The tray index behind `GET /v1/feed`: a page reads its own authors, in contract order, whatever
//! happens between two pages, and a tray that the previous version wrote is served.

use crate::both_backends;
use crate::support::app::{Backend, TestApp, authors, eventually, spawn_app, spawn_app_with};
use serde_json::Value;
use std::time::Duration;

both_backends!(
    paging_through_300_live_authors_returns_each_once_in_order,
    seeing_an_author_moves_them_behind_every_unseen_one,
    an_author_drops_out_the_millisecond_their_last_story_expires,
    changes_between_pages_skip_or_repeat_no_author_who_kept_their_place,
    an_author_whose_newest_story_is_deleted_takes_the_place_of_the_one_before,
    a_tray_written_by_0_2_0_is_served,
);

/// Every page of the viewer's feed, `limit` authors at a time; the cursor of each page is used
/// for the next.
async fn all_pages(app: &TestApp, viewer: &str, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/v1/feed?limit={limit}"),
            Some(c) => format!("/v1/feed?limit={limit}&cursor={c}"),
        };
        let page = app.get_json(&path, viewer).await;
        pages.push(authors(&page["items"]));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return pages,
        }
    }
}

fn ms(at: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

/// Returns once the clock has passed `at_ms`.
async fn clock_passes(at_ms: i64) {
    let within = Duration::from_millis((at_ms - chrono::Utc::now().timestamp_millis()).max(0) as u64 + 5_000);
    eventually(within, "the clock passes a story's time", || async move {
        chrono::Utc::now().timestamp_millis() > at_ms
    })
    .await;
}

async fn view(app: &TestApp, viewer: &str, story: &Value) {
    let r = app
        .post(&format!("/v1/stories/{}/view", story["id"].as_str().unwrap()), viewer)
        .await;
    assert_eq!(r.status(), 204);
}

/// `viewer` and each of `authors` are mutual contacts.
async fn contacts_of(app: &TestApp, viewer: &str, authors: &[String]) {
    let refs: Vec<&str> = authors.iter().map(String::as_str).collect();
    app.set_contacts(viewer, &refs).await;
    for author in authors {
        app.set_contacts(author, &[viewer]).await;
    }
}

async fn paging_through_300_live_authors_returns_each_once_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let names: Vec<String> = (0..300).map(|i| format!("author{i:03}")).collect();
    contacts_of(&app, "viewer", &names).await;
    // (seen, -created ms, author): the contract's order as a sort key.
    let mut expected = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let story = app.post_text(name, "hi").await;
        // Every third author is seen, some before the first page and some after it is indexed.
        let seen = i % 3 == 0;
        if seen && i < 150 {
            view(&app, "viewer", &story).await;
        }
        expected.push((seen, -ms(&story["created_at"]), name.clone(), story));
    }
    app.feed("viewer").await;
    for (_, _, _, story) in expected.iter().filter(|(seen, ..)| *seen).skip(50) {
        view(&app, "viewer", story).await;
    }
    expected.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    let expected: Vec<String> = expected.into_iter().map(|(_, _, name, _)| name).collect();
    let pages = all_pages(&app, "viewer", 20).await;
    assert_eq!(pages.len(), 15);
    assert!(pages.iter().all(|p| p.len() == 20));
    assert_eq!(pages.concat(), expected, "every author once, unseen first, newest first");
}

async fn seeing_an_author_moves_them_behind_every_unseen_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    contacts_of(&app, "viewer", &names).await;
    // Each story a millisecond after the one before: the order is by time, ties by author.
    let a1 = app.post_text("a", "a1").await;
    clock_passes(ms(&a1["created_at"])).await;
    for name in ["b", "c"] {
        let story = app.post_text(name, "hi").await;
        clock_passes(ms(&story["created_at"])).await;
    }
    let a2 = app.post_text("a", "a2").await;
    assert_eq!(app.feed_authors("viewer").await, ["a", "c", "b"]);
    // One of a's two stories seen: a still has an unseen one and keeps its place.
    view(&app, "viewer", &a2).await;
    assert_eq!(app.feed_authors("viewer").await, ["a", "c", "b"]);
    view(&app, "viewer", &a1).await;
    let feed = app.feed("viewer").await;
    assert_eq!(authors(&feed["items"]), ["c", "b", "a"]);
    assert_eq!(feed["items"][2]["unseen"], false);
    // A new story makes a unseen again, and the newest.
    app.post_text("a", "a3").await;
    assert_eq!(app.feed_authors("viewer").await, ["a", "c", "b"]);
}

/// Stories live 3 s here: alice's first expires while her second still lives, then that one too.
async fn an_author_drops_out_the_millisecond_their_last_story_expires(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.stories.ttl_secs = 3).await;
    app.befriend_all(&["alice", "bob", "carol"]).await;
    let first = app.post_text("alice", "first").await;
    clock_passes(ms(&first["created_at"]) + 1_500).await;
    let second = app.post_text("alice", "second").await;
    clock_passes(ms(&second["created_at"])).await;
    let carol = app.post_text("carol", "carol's").await;
    assert_eq!(app.feed_authors("bob").await, ["carol", "alice"]);

    clock_passes(ms(&first["expires_at"])).await;
    let feed = app.feed("bob").await;
    let alice = feed["items"].as_array().unwrap().iter().find(|i| i["author"] == "alice").unwrap();
    let ids: Vec<&str> = alice["stories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second["id"].as_str().unwrap()], "the expired story is gone at once");
    assert_eq!(alice["latest_at"], second["created_at"]);

    clock_passes(ms(&second["expires_at"]).max(ms(&carol["expires_at"]))).await;
    let feed = app.feed("bob").await;
    assert_eq!(feed["items"], Value::Array(vec![]), "nothing past expires_at: {feed}");
    assert!(feed["next_cursor"].is_null());
}

/// Stories live 8 s here. Between the first page and the next: two authors' stories expire, a new
/// author posts (and sorts before the cursor), and one author on a later page is seen (and moves to
/// the seen section). Every author who kept their place is on exactly one page.
async fn changes_between_pages_skip_or_repeat_no_author_who_kept_their_place(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.stories.ttl_secs = 8).await;
    let early: Vec<String> = (0..2).map(|i| format!("early{i}")).collect();
    let late: Vec<String> = (0..10).map(|i| format!("late{i}")).collect();
    contacts_of(&app, "viewer", &[early.clone(), late.clone(), vec!["newcomer".into()]].concat()).await;
    let mut last_early = Value::Null;
    for name in &early {
        last_early = app.post_text(name, "soon gone").await;
    }
    clock_passes(ms(&last_early["created_at"]) + 4_000).await;
    let mut stories = Vec::new();
    for name in &late {
        let story = app.post_text(name, "hi").await;
        clock_passes(ms(&story["created_at"])).await;
        stories.push(story);
    }
    let first = app.get_json("/v1/feed?limit=4", "viewer").await;
    assert_eq!(authors(&first["items"]), ["late9", "late8", "late7", "late6"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();

    clock_passes(ms(&last_early["expires_at"])).await;
    app.post_text("newcomer", "hello").await;
    view(&app, "viewer", &stories[3]).await;

    let mut rest = Vec::new();
    let mut next = Some(cursor);
    while let Some(cursor) = next {
        let page = app.get_json(&format!("/v1/feed?limit=4&cursor={cursor}"), "viewer").await;
        rest.extend(authors(&page["items"]));
        next = page["next_cursor"].as_str().map(str::to_owned);
    }
    // late3 was seen: it moved to the seen section, after every unseen author.
    assert_eq!(rest, ["late5", "late4", "late2", "late1", "late0", "late3"]);
}

async fn an_author_whose_newest_story_is_deleted_takes_the_place_of_the_one_before(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob", "viewer"]).await;
    let a1 = app.post_text("alice", "a1").await;
    clock_passes(ms(&a1["created_at"])).await;
    let b1 = app.post_text("bob", "b1").await;
    clock_passes(ms(&b1["created_at"])).await;
    let a2 = app.post_text("alice", "a2").await;
    assert_eq!(app.feed_authors("viewer").await, ["alice", "bob"]);
    let r = app.delete(&format!("/v1/stories/{}", a2["id"].as_str().unwrap()), "alice").await;
    assert_eq!(r.status(), 204);
    let feed = app.feed("viewer").await;
    assert_eq!(authors(&feed["items"]), ["bob", "alice"]);
    assert_eq!(feed["items"][1]["latest_at"], a1["created_at"]);
    assert_eq!(feed["items"][1]["stories"].as_array().unwrap().len(), 1);
    // And so on every later page: the index forgot the story.
    assert_eq!(app.feed_authors("viewer").await, ["bob", "alice"]);
}

/// Version 0.2.0 kept a tray as its windows of appended lines and the seen set, and no index: the
/// first page builds the index from them, with the stories seen before.
async fn a_tray_written_by_0_2_0_is_served(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    let first = app.post_text("alice", "first").await;
    let second = app.post_text("alice", "second").await;
    view(&app, "bob", &first).await;
    let keys = app.key_schema();
    let indexed: i64 = app.redis(redis::cmd("EXISTS").arg(keys.tray_index("bob").to_vec())).await;
    assert_eq!(indexed, 0, "no index before the first page");
    let window = app.tray("bob").await;
    assert_eq!(window.lines().count(), 2, "{window}");

    let feed = app.feed("bob").await;
    assert_eq!(authors(&feed["items"]), ["alice"]);
    let stories: Vec<(&str, bool)> = feed["items"][0]["stories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["seen"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        stories,
        [(first["id"].as_str().unwrap(), true), (second["id"].as_str().unwrap(), false)]
    );
    assert_eq!(app.tray("bob").await, "", "the windows were taken in");
}
