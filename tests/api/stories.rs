use crate::both_backends;
use crate::support::app::{Backend, TestApp, assert_problem, eventually, spawn_app, spawn_app_with};
use crate::support::contract::SendChecked;
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    text_story_is_created_and_readable,
    text_story_bad_input_changes_nothing,
    audiences_decide_who_sees,
    default_audience_applies_to_later_stories_only,
    removing_a_contact_hides_at_once,
    a_removal_is_remembered_for_a_story_lifetime,
    concurrent_contact_list_changes_leave_the_last_one_in_force,
    a_contact_list_replacement_left_halfway_is_finished_by_the_next,
    a_contact_list_being_replaced_is_busy,
    adding_a_contact_shows_only_later_stories,
    fan_out_reaches_exactly_the_mutual_contacts,
    each_list_replacement_rewrites_its_mirror,
    a_read_by_id_decides_on_the_contact_logs,
    a_post_whose_fan_out_fails_is_taken_back,
    tray_windows_expire_when_they_end,
    story_ids_name_their_author_and_lifetimes_may_change,
    a_story_time_is_its_id_time_even_when_posted_at_once,
    posting_and_reading_survive_a_flushed_script_cache,
    live_story_limit,
    idempotency_key_replays_the_first_response,
    an_idempotency_key_is_for_one_request_body,
    a_key_whose_request_still_runs_is_in_progress,
    delete_is_for_the_author,
    views_viewers_and_reactions,
    read_receipts_off,
    reports,
    my_stories_have_counts,
    story_keys_expire_with_the_story,
    expired_stories_are_never_served,
);

/// Marks by hand, at `at_ms`, that `other` took `user` off their contact list.
async fn mark_removed_by(app: &TestApp, user: &str, other: &str, at_ms: i64) {
    let mark = format!("removed-by:{other}");
    let _: i64 = app
        .redis(redis::cmd("ZADD").arg(app.key_schema().contact_removals(user)).arg(at_ms).arg(mark))
        .await;
}

async fn count_stories(app: &TestApp) -> usize {
    app.keys().await.iter().filter(|k| k.ends_with(":story")).count()
}

async fn text_story_is_created_and_readable(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    let story = app
        .post_text_with("alice", json!({"text": "hello", "background": "#a1b2c3", "font": 3}))
        .await;
    assert_eq!(story["kind"], "text");
    assert_eq!(story["author"], "alice");
    assert_eq!(story["background"], "#A1B2C3");
    assert_eq!(story["font"], 3);
    assert_eq!(
        story["audience"],
        json!({"mode": "contacts", "users": []}),
        "the author sees the audience"
    );
    let created = chrono::DateTime::parse_from_rfc3339(story["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(story["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_seconds(), 86_400);
    let id = story["id"].as_str().unwrap();
    let seen_by_bob = app.get_json(&format!("/v1/stories/{id}"), "bob").await;
    assert_eq!(seen_by_bob["text"], "hello");
    assert!(seen_by_bob.get("audience").is_none(), "only the author sees the audience");
    assert_problem(app.get(&format!("/v1/stories/{id}"), "mallory").await, 404, "not_found").await;
    assert_problem(app.get("/v1/stories/does-not-exist", "bob").await, 404, "not_found").await;
}

async fn text_story_bad_input_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    let bad = [
        (json!({"text": ""}), "text"),
        (json!({"text": "   "}), "text"),
        (json!({"text": "x".repeat(701)}), "text"),
        (json!({"text": "hi", "background": "blue"}), "background"),
        (json!({"text": "hi", "background": "#12345G"}), "background"),
        (json!({"text": "hi", "font": 8}), "font"),
        (json!({"text": "hi", "audience": {"mode": "only", "users": []}}), "audience.users"),
        (
            json!({"text": "hi", "audience": {"mode": "only", "users": ["no way"]}}),
            "audience.users[0]",
        ),
    ];
    for (body, field) in bad {
        let p = assert_problem(app.post_json("/v1/stories", "alice", &body).await, 400, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], field, "{body}: {p}");
    }
    for body in [
        json!({"text": 5}),
        json!({"txt": "hi"}),
        json!({"text": "hi", "font": -1}),
        json!([1]),
    ] {
        assert_problem(app.post_json("/v1/stories", "alice", &body).await, 400, "validation_failed").await;
    }
    let r = app
        .req(Method::POST, "/v1/stories", "alice")
        .header("content-type", "text/plain")
        .body("hi")
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 415, "unsupported_media_type").await;
    let r = app
        .req(Method::POST, "/v1/stories", "alice")
        .header("content-type", "application/json")
        // Story bodies may carry an audience, so their limit is the one for user lists.
        .body(format!("{{\"text\": \"{}\"}}", "a".repeat(app.settings.user_list_body_limit())))
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 413, "payload_too_large").await;
    assert_eq!(count_stories(&app).await, 0);
    assert_eq!(app.feed_authors("bob").await, Vec::<String>::new());
}

async fn audiences_decide_who_sees(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob", "carol", "dave"]).await;
    app.post_text_with("alice", json!({"text": "all"})).await;
    app.post_text_with(
        "alice",
        json!({"text": "not bob", "audience": {"mode": "contacts_except", "users": ["bob"]}}),
    )
    .await;
    app.post_text_with(
        "alice",
        json!({"text": "carol only", "audience": {"mode": "only", "users": ["carol", "stranger"]}}),
    )
    .await;
    let texts = |feed: Value| -> Vec<String> {
        feed["items"][0]["stories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["text"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(app.feed("bob").await), ["all"]);
    assert_eq!(texts(app.feed("carol").await), ["all", "not bob", "carol only"]);
    assert_eq!(texts(app.feed("dave").await), ["all", "not bob"]);
    // `only` names a non-contact: still nobody outside mutual contacts.
    assert!(app.feed("stranger").await["items"].as_array().unwrap().is_empty());
    // Reads by id agree.
    let stories = app.feed("carol").await["items"][0]["stories"].clone();
    for (story, readers) in stories.as_array().unwrap().iter().zip([vec!["bob", "dave"], vec!["dave"], vec![]]) {
        let path = format!("/v1/stories/{}", story["id"].as_str().unwrap());
        for viewer in ["bob", "dave", "stranger"] {
            let status = app.get(&path, viewer).await.status();
            assert_eq!(
                status,
                if readers.contains(&viewer) { 200 } else { 404 },
                "{viewer}: {}",
                story["text"]
            );
        }
    }
}

async fn default_audience_applies_to_later_stories_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob", "carol"]).await;
    app.post_text("alice", "before").await;
    let r = app
        .send_json(
            Method::PATCH,
            "/v1/me/settings",
            "alice",
            &json!({"default_audience": {"mode": "contacts_except", "users": ["bob"]}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let after = app.post_text("alice", "after").await;
    assert_eq!(after["audience"]["mode"], "contacts_except");
    let bob_feed = app.feed("bob").await;
    let bob_sees: Vec<&str> = bob_feed["items"][0]["stories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(bob_sees, ["before"]);
    assert_eq!(app.feed("carol").await["items"][0]["stories"].as_array().unwrap().len(), 2);
}

async fn removing_a_contact_hides_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob", "carol"]).await;
    let story = app.post_text("alice", "hi").await;
    let path = format!("/v1/stories/{}", story["id"].as_str().unwrap());
    assert_eq!(app.get(&path, "bob").await.status(), 200);
    // The author drops bob.
    app.set_contacts("alice", &["carol"]).await;
    assert_problem(app.get(&path, "bob").await, 404, "not_found").await;
    assert_eq!(app.feed_authors("bob").await, Vec::<String>::new());
    // The viewer drops the author.
    app.set_contacts("carol", &["bob"]).await;
    assert_eq!(app.feed_authors("carol").await, Vec::<String>::new());
    assert_problem(app.get(&path, "carol").await, 404, "not_found").await;
    // Mutual again: the story posted while they were contacts is back, for each.
    app.set_contacts("alice", &["bob", "carol"]).await;
    assert_eq!(app.feed_authors("bob").await, ["alice"]);
    assert_eq!(app.get(&path, "bob").await.status(), 200);
    app.set_contacts("carol", &["alice", "bob"]).await;
    assert_eq!(app.feed_authors("carol").await, ["alice"]);
    assert_eq!(app.get(&path, "carol").await.status(), 200);
}

/// A feed page checks "still each other's contacts" on the viewer's own keys: a mark that the
/// author took them off their list (here written by hand) hides the author's stories there for as
/// long as a story lives, and not longer. (A read by id asks both contact lists themselves.)
async fn a_removal_is_remembered_for_a_story_lifetime(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    app.post_text("alice", "hi").await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let lifetime_ms = app.settings.stories.ttl_secs as i64 * 1000;
    let marks = [(now_ms - 1000, false), (now_ms - lifetime_ms - 1000, true)];
    for (marked_at, visible) in marks {
        mark_removed_by(&app, "bob", "alice", marked_at).await;
        let authors = app.feed_authors("bob").await;
        assert_eq!(authors.len(), usize::from(visible), "marked at {marked_at}: {authors:?}");
    }
}

/// A replacement that failed after marking a removal (here: written by hand) hides too much from
/// the feed until the next replacement of the list, which takes the mark back for a contact it
/// keeps.
async fn a_contact_list_replacement_left_halfway_is_finished_by_the_next(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    app.post_text("alice", "hi").await;
    let keys = app.key_schema();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let _: i64 = app.redis(redis::cmd("SADD").arg(keys.contacts_pending("alice")).arg("bob")).await;
    mark_removed_by(&app, "bob", "alice", now_ms).await;
    assert_eq!(app.feed_authors("bob").await, Vec::<String>::new());
    app.set_contacts("alice", &["bob"]).await;
    assert_eq!(app.feed_authors("bob").await, ["alice"]);
    let pending: i64 = app.redis(redis::cmd("EXISTS").arg(keys.contacts_pending("alice"))).await;
    assert_eq!(pending, 0);
}

/// While another replacement of the list runs, one that may not wait (`users.contacts_wait_ms`
/// = 0) answers 409 `contacts_busy` and changes nothing. The running one replaces a list of
/// 5,000 contacts, which takes a while; the second is sent once its lock is seen in Redis.
async fn a_contact_list_being_replaced_is_busy(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.users.contacts_wait_ms = 0).await;
    app.befriend_all(&["alice", "bob"]).await;
    let keys = app.key_schema();
    let many: Vec<String> = (0..5_000).map(|i| format!("contact{i:04}")).collect();
    let long_body = json!({ "contacts": many });
    let long = app.send_json(Method::PUT, "/v1/me/contacts", "alice", &long_body);
    let busy = async {
        let lock = keys.contacts_lock("alice");
        let held = || async { app.redis::<i64>(redis::cmd("EXISTS").arg(&lock)).await == 1 };
        eventually(std::time::Duration::from_secs(10), "the long replacement takes the lock", held).await;
        app.send_json(Method::PUT, "/v1/me/contacts", "alice", &json!({"contacts": ["carol"]}))
            .await
    };
    let (long, busy) = futures_util::join!(long, busy);
    assert_problem(busy, 409, "contacts_busy").await;
    assert_eq!(long.status(), 200);
    let stored = app.get_json("/v1/me/contacts", "alice").await["contacts"].clone();
    assert_eq!(stored, json!(many), "the busy request changed nothing");
    let listed: i64 = app.redis(redis::cmd("SISMEMBER").arg(keys.listed_by("carol")).arg("alice")).await;
    assert_eq!(listed, 0);
    app.set_contacts("alice", &["carol"]).await;
    assert_eq!(app.get_json("/v1/me/contacts", "alice").await["contacts"], json!(["carol"]));
}

/// Replacements of one contact list racing each other, each allowed to wait for the others: every
/// one is applied in turn and answered 200 with its list; the list in force at the end is one of
/// them, and it decides who sees the author's stories, in the feed and by id.
async fn concurrent_contact_list_changes_leave_the_last_one_in_force(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.users.contacts_wait_ms = 60_000).await;
    app.befriend_all(&["alice", "bob", "carol"]).await;
    let story = app.post_text("alice", "hi").await;
    let path = format!("/v1/stories/{}", story["id"].as_str().unwrap());
    // Every list differs (by its marker), so the one in force names the request that set it.
    let lists: Vec<Vec<String>> = (0..24)
        .map(|i| {
            let mut list = vec![format!("marker{i:02}")];
            list.extend(["bob", "carol"].iter().filter(|_| i % 3 != 0).map(|c| c.to_string()));
            if i % 3 == 0 {
                list.push(if i % 2 == 0 { "bob" } else { "carol" }.to_owned());
            }
            list.sort();
            list
        })
        .collect();
    let bodies: Vec<Value> = lists.iter().map(|list| json!({ "contacts": list })).collect();
    let puts = bodies
        .iter()
        .map(|body| app.send_json(Method::PUT, "/v1/me/contacts", "alice", body));
    for (list, response) in lists.iter().zip(futures_util::future::join_all(puts).await) {
        assert_eq!(response.status(), 200, "{list:?}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["contacts"],
            json!(list),
            "answered as stored"
        );
    }
    let in_force = app.get_json("/v1/me/contacts", "alice").await["contacts"].clone();
    let in_force_list: Vec<String> = serde_json::from_value(in_force.clone()).unwrap();
    assert!(lists.contains(&in_force_list), "{in_force} was set by one of the requests");
    // The mirror and the log follow the list in force, not another.
    let keys = app.key_schema();
    for viewer in ["bob", "carol"] {
        let listed = in_force.as_array().unwrap().iter().any(|c| c == viewer);
        let mirrored: i64 = app.redis(redis::cmd("SISMEMBER").arg(keys.listed_by(viewer)).arg("alice")).await;
        assert_eq!(mirrored, i64::from(listed), "{viewer}: list {in_force}");
        let feed = app.feed_authors(viewer).await;
        assert_eq!(feed.len(), usize::from(listed), "{viewer}: list {in_force}, feed {feed:?}");
        let status = app.get(&path, viewer).await.status();
        assert_eq!(status, if listed { 200 } else { 404 }, "{viewer}: list {in_force}");
    }
}

/// Enough contacts for several runs of the fan-out script on a single Redis; every third one has
/// the author as a contact.
async fn fan_out_reaches_exactly_the_mutual_contacts(backend: Backend) {
    let app = spawn_app(backend).await;
    let contacts: Vec<String> = (0..450).map(|i| format!("c{i:03}")).collect();
    let refs: Vec<&str> = contacts.iter().map(String::as_str).collect();
    app.set_contacts("alice", &refs).await;
    let mutual: Vec<&str> = refs.iter().copied().step_by(3).collect();
    for c in &mutual {
        app.set_contacts(c, &["alice"]).await;
    }
    app.post_text("alice", "hello all").await;
    for (i, c) in refs.iter().enumerate() {
        assert_eq!(app.tray(c).await.lines().count(), usize::from(i % 3 == 0), "tray of {c}");
    }
    for c in [mutual[0], mutual[66], mutual[67], mutual[149]] {
        assert_eq!(app.feed_authors(c).await, ["alice"], "feed of {c}");
    }
    assert_eq!(app.feed_authors("c001").await, Vec::<String>::new());
}

/// Posting finds its mutual contacts in the author's `listed_by`, the mirror of the lists that
/// hold the author, which follows every replacement.
async fn each_list_replacement_rewrites_its_mirror(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob", "carol"]).await;
    let keys = app.key_schema();
    let listed_by = |user: &str| redis::cmd("SMEMBERS").arg(keys.listed_by(user)).to_owned();
    let mut mirror: Vec<String> = app.redis(&listed_by("alice")).await;
    mirror.sort();
    assert_eq!(mirror, ["bob", "carol"]);
    app.set_contacts("carol", &["bob"]).await;
    let mirror: Vec<String> = app.redis(&listed_by("alice")).await;
    assert_eq!(mirror, ["bob"]);
    app.post_text("alice", "after carol left").await;
    assert_eq!(app.feed_authors("bob").await, ["alice"]);
    assert_eq!(app.feed_authors("carol").await, Vec::<String>::new());
    app.set_contacts("carol", &["alice"]).await;
    let mut mirror: Vec<String> = app.redis(&listed_by("alice")).await;
    mirror.sort();
    assert_eq!(mirror, ["bob", "carol"]);
}

/// A read by id decides on both contact logs alone: every replacement of a list logs every contact
/// on it, so a log that does not name the other (here: deleted by hand) means "not listed"; the
/// next replacement names them again only if they are put (back) on the list, and forgets
/// removals older than any live story.
async fn a_read_by_id_decides_on_the_contact_logs(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob", "carol"]).await;
    app.set_contacts("dave", &["alice"]).await;
    let story = app.post_text("alice", "hi").await;
    let path = format!("/v1/stories/{}", story["id"].as_str().unwrap());
    let keys = app.key_schema();
    let log = |user: &str| redis::cmd("HGETALL").arg(keys.contact_log(user)).to_owned();
    let logged: std::collections::HashMap<String, String> = app.redis(&log("alice")).await;
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert!(logged.values().all(|l| l.ends_with('+') && !l.contains(',')), "{logged:?}");
    assert_eq!(app.get(&path, "bob").await.status(), 200);
    assert_eq!(app.get(&path, "carol").await.status(), 200);
    // dave lists alice, alice does not list dave.
    assert_problem(app.get(&path, "dave").await, 404, "not_found").await;
    // An id that does not name its author is no story id, even to the author.
    let plain = story["id"].as_str().unwrap().split_once('.').unwrap().0.to_owned();
    assert_problem(app.get(&format!("/v1/stories/{plain}"), "alice").await, 404, "not_found").await;

    // Without bob's log entry about alice, bob does not list alice: the list is not asked.
    let _: i64 = app.redis(redis::cmd("HDEL").arg(keys.contact_log("bob")).arg("alice")).await;
    assert_problem(app.get(&path, "bob").await, 404, "not_found").await;
    assert_eq!(app.get(&path, "carol").await.status(), 200);

    // A removal older than any live story is forgotten by the next replacement; a recent one stays.
    let _: i64 = app
        .redis(redis::cmd("HSET").arg(keys.contact_log("alice")).arg("zed").arg("1000+,2000-"))
        .await;
    app.set_contacts("alice", &["bob"]).await;
    let logged: std::collections::HashMap<String, String> = app.redis(&log("alice")).await;
    assert!(!logged.contains_key("zed"), "{logged:?}");
    assert!(
        logged["carol"].ends_with('-') && logged["carol"].matches(',').count() == 1,
        "{logged:?}"
    );
    let ttl: i64 = app.redis(redis::cmd("PTTL").arg(keys.contact_log("alice"))).await;
    assert_eq!(ttl, -1, "a log lives with its list");
    assert_problem(app.get(&path, "carol").await, 404, "not_found").await;
}

/// A tray window is created by the first story expiring within it and expires when it ends,
/// taking its expired entries along; posting never moves the expiry of a window that exists, and
/// entries expired before their window ends are not served.
async fn tray_windows_expire_when_they_end(backend: Backend) {
    use statusd::store::keys::{tray_window, tray_window_end};
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    let keys = app.key_schema();
    let story = app.post_text("alice", "first").await;
    let expires_ms = chrono::DateTime::parse_from_rfc3339(story["expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let window = tray_window(expires_ms);
    let tray_key = keys.tray("bob", window);
    let expiry = redis::cmd("PEXPIRETIME").arg(&tray_key).to_owned();
    let at: i64 = app.redis(&expiry).await;
    assert_eq!(at, tray_window_end(window));
    assert!(at > expires_ms);

    // A post into an existing window leaves its expiry alone. Should a window boundary pass
    // between two posts, the check runs again in the new window (windows last six hours).
    let mut posted = vec![story["id"].as_str().unwrap().to_owned()];
    let mut window = window;
    loop {
        let key = keys.tray("bob", window);
        let moved = tray_window_end(window) + 1000;
        let _: i64 = app.redis(redis::cmd("PEXPIREAT").arg(&key).arg(moved)).await;
        let next = app.post_text("alice", "again").await;
        posted.push(next["id"].as_str().unwrap().to_owned());
        let next_window = tray_window(
            chrono::DateTime::parse_from_rfc3339(next["expires_at"].as_str().unwrap())
                .unwrap()
                .timestamp_millis(),
        );
        if next_window == window {
            let at: i64 = app.redis(redis::cmd("PEXPIRETIME").arg(&key)).await;
            assert_eq!(at, moved, "an existing window keeps its expiry");
            break;
        }
        window = next_window;
    }

    // An entry that expired a moment ago, still in a live window.
    let now_ms = chrono::Utc::now().timestamp_millis();
    let gone = format!("{} alice/01ARZ3NDEKTSV4RRFFQ69G5FAV.alice\n", now_ms - 1);
    let _: i64 = app
        .redis(redis::cmd("APPEND").arg(keys.tray("bob", tray_window(now_ms))).arg(gone))
        .await;
    let feed = app.feed("bob").await;
    let stories = feed["items"][0]["stories"].as_array().unwrap();
    let ids: Vec<String> = stories.iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, posted);
}

/// A post whose fan-out fails (here: a tray that Redis holds as something else) is answered with
/// the error and taken back: no half-delivered story is left behind.
async fn a_post_whose_fan_out_fails_is_taken_back(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    for tray in app.live_trays("bob") {
        let _: i64 = app.redis(redis::cmd("RPUSH").arg(tray).arg("not a tray")).await;
    }
    let response = app.post_json("/v1/stories", "alice", &json!({"text": "hi"})).await;
    assert_problem(response, 500, "internal").await;
    assert_eq!(count_stories(&app).await, 0);
    assert_eq!(app.get_json("/v1/me/stories", "alice").await["stories"], json!([]));
}

/// A story id names its author, so that reading it checks contacts in the same round trip; an
/// instance with another `stories.ttl_secs` answers the same.
async fn story_ids_name_their_author_and_lifetimes_may_change(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.stories.ttl_secs = 600).await;
    app.befriend_all(&["alice", "bob"]).await;
    app.set_contacts("carol", &["alice"]).await;
    let story = app.post_text("alice", "hi").await;
    let id = story["id"].as_str().unwrap();
    assert!(id.ends_with(".alice"), "{id}");
    let path = format!("/v1/stories/{id}");
    let mut other = app.settings.clone();
    other.stories.ttl_secs = 900;
    other.listen = "127.0.0.1:0".into();
    let other = crate::support::app::spawn_with_settings(backend, other).await;
    for instance in [&app, &other] {
        assert_eq!(instance.get(&path, "bob").await.status(), 200);
        assert_eq!(instance.get(&path, "alice").await.status(), 200);
        assert_problem(instance.get(&path, "carol").await, 404, "not_found").await;
        // The author part of an id cannot be swapped for another.
        let forged = format!("/v1/stories/{}.bob", id.split_once('.').unwrap().0);
        assert_problem(instance.get(&forged, "bob").await, 404, "not_found").await;
    }
}

/// Ids made within one millisecond stay in order, so an id's time may run a little ahead of the
/// clock when many stories are posted at once; a story's `created_at` is its id's time all the
/// same (the feed takes it from the id).
async fn a_story_time_is_its_id_time_even_when_posted_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let authors: Vec<String> = (0..24).map(|i| format!("p{i}")).collect();
    let posts = authors.iter().map(|a| app.post_text(a, "at once"));
    for story in futures_util::future::join_all(posts).await {
        let id = story["id"].as_str().unwrap();
        let created_ms = chrono::DateTime::parse_from_rfc3339(story["created_at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        assert_eq!(created_ms, statusd::ids::StoryId::parse(id).unwrap().created_ms(), "{story}");
    }
}

/// Redis forgets cached scripts on a restart or a failover; posting and reading load them again.
async fn posting_and_reading_survive_a_flushed_script_cache(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    app.post_text("alice", "before").await;
    assert_eq!(app.feed_authors("bob").await, ["alice"]);
    let _: () = app.redis(redis::cmd("SCRIPT").arg("FLUSH")).await;
    app.post_text("alice", "after").await;
    let feed = app.feed("bob").await;
    assert_eq!(feed["items"][0]["stories"].as_array().map(Vec::len), Some(2));
}

async fn adding_a_contact_shows_only_later_stories(backend: Backend) {
    let app = spawn_app(backend).await;
    app.set_contacts("alice", &["bob"]).await;
    app.post_text("alice", "bob has not added alice yet").await;
    app.set_contacts("bob", &["alice"]).await;
    assert_eq!(app.feed_authors("bob").await, Vec::<String>::new(), "not mutual when posted");
    app.post_text("alice", "now mutual").await;
    let feed = app.feed("bob").await;
    assert_eq!(feed["items"][0]["stories"].as_array().unwrap().len(), 1);
    assert_eq!(feed["items"][0]["stories"][0]["text"], "now mutual");
}

async fn live_story_limit(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.stories.max_active_per_author = 3).await;
    for i in 0..3 {
        app.post_text("alice", &format!("story {i}")).await;
    }
    let p = assert_problem(
        app.post_json("/v1/stories", "alice", &json!({"text": "one too many"})).await,
        429,
        "story_limit_reached",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains('3'));
    assert_eq!(count_stories(&app).await, 3, "the refused story left nothing behind");
    // Deleting one frees a slot.
    let mine = app.get_json("/v1/me/stories", "alice").await;
    let id = mine["stories"][0]["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/v1/stories/{id}"), "alice").await.status(), 204);
    app.post_text("alice", "fits again").await;
    // Other authors are not affected.
    app.post_text("bob", "bob's first").await;
}

async fn idempotency_key_replays_the_first_response(backend: Backend) {
    let app = spawn_app(backend).await;
    let post = |key: &'static str, text: &'static str| {
        app.req(Method::POST, "/v1/stories", "alice")
            .header("Idempotency-Key", key)
            .json(&json!({"text": text}))
            .send_checked()
    };
    let first = post("key-1", "once").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = post("key-1", "once").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(count_stories(&app).await, 1);
    // Another user's same key is theirs alone; a new key creates.
    let bobs = app
        .req(Method::POST, "/v1/stories", "bob")
        .header("Idempotency-Key", "key-1")
        .json(&json!({"text": "bob"}))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(bobs.status(), 201);
    assert_eq!(post("key-2", "twice").await.unwrap().status(), 201);
    assert_eq!(count_stories(&app).await, 3);
    // A failed request does not burn its key.
    let bad = post("key-3", "").await.unwrap();
    assert_problem(bad, 400, "validation_failed").await;
    let r = app
        .req(Method::POST, "/v1/stories", "alice")
        .header("Idempotency-Key", "key-3")
        .json(&json!({"text": "fixed"}))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .req(Method::POST, "/v1/stories", "alice")
        .header("Idempotency-Key", "x".repeat(300))
        .json(&json!({"text": "long key"}))
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 400, "validation_failed").await;
    assert_eq!(count_stories(&app).await, 4);
}

async fn an_idempotency_key_is_for_one_request_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let post = |key: &'static str, body: Value| {
        app.req(Method::POST, "/v1/stories", "alice")
            .header("Idempotency-Key", key)
            .json(&body)
            .send_checked()
    };
    let first = post("k", json!({"text": "hi", "font": 2})).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    // The same request written otherwise (keys in another order) is a replay.
    let same = post("k", json!({"font": 2, "text": "hi"})).await.unwrap();
    assert_eq!(same.status(), 201);
    assert_eq!(same.json::<Value>().await.unwrap(), first);
    // Another body with the same key is refused, and creates nothing.
    let other = post("k", json!({"text": "something else"})).await.unwrap();
    assert_problem(other, 422, "idempotency_key_reused").await;
    assert_eq!(count_stories(&app).await, 1);
    // Once the story is deleted, a replay does not claim it exists, nor creates it again.
    let path = format!("/v1/stories/{}", first["id"].as_str().unwrap());
    assert_eq!(app.delete(&path, "alice").await.status(), 204);
    let replay = post("k", json!({"text": "hi", "font": 2})).await.unwrap();
    assert_problem(replay, 410, "resource_deleted").await;
    assert_eq!(count_stories(&app).await, 0);
    // An image story's parts are what it asked for: another caption is another request.
    let photo = |caption: &'static str| {
        let form = reqwest::multipart::Form::new()
            .part(
                "media",
                reqwest::multipart::Part::bytes(crate::support::images::jpeg(64, 64)).file_name("a.jpg"),
            )
            .text("caption", caption);
        app.req(Method::POST, "/v1/stories", "alice")
            .header("Idempotency-Key", "photo")
            .multipart(form)
            .send_checked()
    };
    assert_eq!(photo("lake").await.unwrap().status(), 201);
    let again = photo("lake").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_problem(photo("sea").await.unwrap(), 422, "idempotency_key_reused").await;
    assert_eq!(count_stories(&app).await, 1);
}

/// While the first request with a key runs, another with the same key and body is answered 409
/// `idempotency_in_progress` and does nothing; once the first is done, the key replays its answer.
/// The first posts a 12-megapixel photo, which takes a while to normalise; the second is sent once
/// the key's claim is seen in Redis.
async fn a_key_whose_request_still_runs_is_in_progress(backend: Backend) {
    let app = spawn_app(backend).await;
    let photo = crate::support::images::jpeg(4_000, 3_000);
    let post = || {
        let form = reqwest::multipart::Form::new().part("media", reqwest::multipart::Part::bytes(photo.clone()).file_name("big.jpg"));
        app.req(Method::POST, "/v1/stories", "alice")
            .header("Idempotency-Key", "big-photo")
            .multipart(form)
            .send_checked()
    };
    let keys = app.key_schema();
    let second = async {
        let claims = keys.idempotency_index("alice");
        let claimed = || async { app.redis::<i64>(redis::cmd("SCARD").arg(&claims)).await == 1 };
        eventually(std::time::Duration::from_secs(10), "the first request claims the key", claimed).await;
        post().await.unwrap()
    };
    let (first, second) = futures_util::join!(post(), second);
    assert_problem(second, 409, "idempotency_in_progress").await;
    let first = first.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(count_stories(&app).await, 1);
    let replay = post().await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
    assert_eq!(count_stories(&app).await, 1);
}

async fn delete_is_for_the_author(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    let story = app.post_text("alice", "mine").await;
    let path = format!("/v1/stories/{}", story["id"].as_str().unwrap());
    assert_problem(app.delete(&path, "bob").await, 403, "forbidden").await;
    assert_problem(app.delete(&path, "mallory").await, 404, "not_found").await;
    assert_eq!(app.get(&path, "bob").await.status(), 200);
    assert_eq!(app.delete(&path, "alice").await.status(), 204);
    assert_problem(app.get(&path, "bob").await, 404, "not_found").await;
    assert_problem(app.delete(&path, "alice").await, 404, "not_found").await;
    assert_eq!(app.feed_authors("bob").await, Vec::<String>::new());
    assert_eq!(count_stories(&app).await, 0);
}

async fn views_viewers_and_reactions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob", "carol"]).await;
    let story = app.post_text("alice", "look").await;
    let id = story["id"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(app.post(&format!("/v1/stories/{id}/view"), "bob").await.status(), 204);
    }
    assert_eq!(app.post(&format!("/v1/stories/{id}/view"), "carol").await.status(), 204);
    assert_problem(app.post(&format!("/v1/stories/{id}/view"), "mallory").await, 404, "not_found").await;
    let r = app
        .post_json(&format!("/v1/stories/{id}/reactions"), "bob", &json!({"emoji": "😂"}))
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .post_json(&format!("/v1/stories/{id}/reactions"), "bob", &json!({"emoji": "💯"}))
        .await;
    assert_eq!(r.status(), 204);
    for body in [
        json!({"emoji": "🦀"}),
        json!({"emoji": ""}),
        json!({}),
        json!({"emoji": "😂", "x": 1}),
    ] {
        assert_problem(
            app.post_json(&format!("/v1/stories/{id}/reactions"), "carol", &body).await,
            400,
            "validation_failed",
        )
        .await;
    }
    assert_problem(
        app.post_json(&format!("/v1/stories/{id}/reactions"), "alice", &json!({"emoji": "😂"}))
            .await,
        403,
        "forbidden",
    )
    .await;

    let viewers = app.get_json(&format!("/v1/stories/{id}/viewers"), "alice").await;
    let list = viewers["viewers"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{viewers}");
    let bob = list.iter().find(|v| v["user"] == "bob").unwrap();
    assert_eq!(bob["reaction"], "💯", "the later reaction replaced the earlier");
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let viewed_at = time(&bob["viewed_at"]);
    assert!(viewed_at >= time(&story["created_at"]) && viewed_at <= chrono::Utc::now(), "{bob}");
    assert!(list.iter().find(|v| v["user"] == "carol").unwrap().get("reaction").is_none());
    assert!(viewers["next_cursor"].is_null());
    assert_problem(app.get(&format!("/v1/stories/{id}/viewers"), "bob").await, 403, "forbidden").await;

    // Pagination.
    let page = app.get_json(&format!("/v1/stories/{id}/viewers?limit=1"), "alice").await;
    assert_eq!(page["viewers"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = app
        .get_json(&format!("/v1/stories/{id}/viewers?limit=1&cursor={cursor}"), "alice")
        .await;
    assert_eq!(next["viewers"].as_array().unwrap().len(), 1);
    assert_ne!(next["viewers"][0]["user"], page["viewers"][0]["user"]);
    assert!(next["next_cursor"].is_null());
    for q in ["limit=0", "limit=abc", "cursor=bogus"] {
        assert_problem(
            app.get(&format!("/v1/stories/{id}/viewers?{q}"), "alice").await,
            400,
            "validation_failed",
        )
        .await;
    }
    // The feed shows what bob has seen.
    let feed = app.feed("bob").await;
    assert_eq!(feed["items"][0]["unseen"], false);
    assert_eq!(feed["items"][0]["stories"][0]["seen"], true);
}

async fn read_receipts_off(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    app.send_json(Method::PATCH, "/v1/me/settings", "bob", &json!({"read_receipts": false}))
        .await;
    let story = app.post_text("alice", "look").await;
    let id = story["id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/v1/stories/{id}/view"), "bob").await.status(), 204);
    let viewers = app.get_json(&format!("/v1/stories/{id}/viewers"), "alice").await;
    assert_eq!(viewers["viewers"], json!([]), "bob's view is not reported");
    assert_eq!(app.feed("bob").await["items"][0]["unseen"], false, "but bob's own feed knows");
    let bobs = app.post_text("bob", "mine").await;
    let r = app
        .get(&format!("/v1/stories/{}/viewers", bobs["id"].as_str().unwrap()), "bob")
        .await;
    assert_problem(r, 403, "read_receipts_off").await;
}

async fn reports(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    let story = app.post_text("alice", "bad").await;
    let path = format!("/v1/stories/{}/report", story["id"].as_str().unwrap());
    assert_eq!(app.post_json(&path, "bob", &json!({"reason": "spam"})).await.status(), 204);
    for body in [json!({"reason": ""}), json!({"reason": "x".repeat(501)}), json!({})] {
        assert_problem(app.post_json(&path, "bob", &body).await, 400, "validation_failed").await;
    }
    assert_problem(app.post_json(&path, "mallory", &json!({"reason": "spam"})).await, 404, "not_found").await;
    let reports: std::collections::HashMap<String, String> = app
        .redis(redis::cmd("HGETALL").arg(format!(
            "{}{{s:{}}}:reports",
            app.settings.redis.key_prefix,
            story["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(reports.get("bob").map(String::as_str), Some("spam"));
    assert_eq!(reports.len(), 1);
}

async fn my_stories_have_counts(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob", "carol"]).await;
    let first = app.post_text("alice", "one").await;
    app.post_text("alice", "two").await;
    let id = first["id"].as_str().unwrap();
    app.post(&format!("/v1/stories/{id}/view"), "bob").await;
    app.post(&format!("/v1/stories/{id}/view"), "carol").await;
    app.post_json(&format!("/v1/stories/{id}/reactions"), "carol", &json!({"emoji": "🎉"}))
        .await;
    let mine = app.get_json("/v1/me/stories", "alice").await;
    let stories = mine["stories"].as_array().unwrap();
    assert_eq!(stories.len(), 2);
    assert_eq!(stories[0]["text"], "one");
    assert_eq!(
        (stories[0]["view_count"].as_u64(), stories[0]["reaction_count"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (stories[1]["view_count"].as_u64(), stories[1]["reaction_count"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(app.get_json("/v1/me/stories", "bob").await, json!({"stories": []}));
}

async fn story_keys_expire_with_the_story(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.stories.ttl_secs = 600).await;
    app.befriend_all(&["alice", "bob"]).await;
    let story = app.post_text("alice", "ttl").await;
    let id = story["id"].as_str().unwrap();
    app.post(&format!("/v1/stories/{id}/view"), "bob").await;
    app.post_json(&format!("/v1/stories/{id}/reactions"), "bob", &json!({"emoji": "🎉"}))
        .await;
    app.post_json(&format!("/v1/stories/{id}/report"), "bob", &json!({"reason": "x"}))
        .await;
    let expires_ms = chrono::DateTime::parse_from_rfc3339(story["expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let story_keys: Vec<String> = app
        .keys()
        .await
        .into_iter()
        .filter(|k| {
            k.contains(&format!("{{s:{id}}}"))
                || (k.contains("{u:")
                    && (k.contains("}:tray:") || [":seen", ":stories", ":touched"].iter().any(|suffix| k.ends_with(suffix))))
        })
        .collect();
    assert!(story_keys.len() >= 8, "{story_keys:?}");
    for key in story_keys {
        let at: i64 = app.redis(redis::cmd("PEXPIRETIME").arg(&key)).await;
        assert!(at > 0, "{key} has no expiry");
        // A tray window holds stories expiring within it and ends at most a window later.
        let lives_until = if key.contains("}:tray:") {
            expires_ms + statusd::store::keys::TRAY_WINDOW_MS
        } else {
            expires_ms
        };
        assert!(at <= lives_until, "{key} outlives the story: {at} > {lives_until}");
    }
}

async fn expired_stories_are_never_served(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.stories.ttl_secs = 1).await;
    app.befriend_all(&["alice", "bob"]).await;
    let story = app.post_text("alice", "brief").await;
    let id = story["id"].as_str().unwrap().to_owned();
    let form = reqwest::multipart::Form::new().part(
        "media",
        reqwest::multipart::Part::bytes(crate::support::images::jpeg(64, 64)).file_name("p.jpg"),
    );
    let photo = app
        .req(Method::POST, "/v1/stories", "alice")
        .multipart(form)
        .send_checked()
        .await
        .unwrap();
    assert_eq!(photo.status(), 201);
    let photo_id = photo.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let reaction = json!({"emoji": app.settings.stories.reactions[0]});
    let r = app.post_json(&format!("/v1/stories/{photo_id}/reactions"), "bob", &reaction).await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.get(&format!("/v1/stories/{photo_id}/media"), "bob").await.status(), 200);
    assert_eq!(app.feed_authors("bob").await, ["alice"]);
    // Make Redis keep every key, as if it had not got round to expiring them: statusd itself must
    // still refuse to serve the story once its time is up.
    for key in app.keys().await {
        let _: i64 = app.redis(redis::cmd("PERSIST").arg(&key)).await;
    }
    let (text_path, photo_path) = (format!("/v1/stories/{id}"), format!("/v1/stories/{photo_id}"));
    let gone = || async { app.get(&text_path, "bob").await.status() == 404 && app.get(&photo_path, "bob").await.status() == 404 };
    crate::support::app::eventually(std::time::Duration::from_secs(5), "the stories expire", gone).await;
    assert_problem(app.get(&format!("/v1/stories/{id}"), "bob").await, 404, "not_found").await;
    assert_problem(app.get(&format!("/v1/stories/{id}"), "alice").await, 404, "not_found").await;
    assert_problem(app.post(&format!("/v1/stories/{id}/view"), "bob").await, 404, "not_found").await;
    assert_problem(app.get(&format!("/v1/stories/{id}/viewers"), "alice").await, 404, "not_found").await;
    // An image story's parts go with it.
    for (path, user) in [("media", "bob"), ("thumb", "bob"), ("media", "alice"), ("viewers", "alice")] {
        assert_problem(app.get(&format!("/v1/stories/{photo_id}/{path}"), user).await, 404, "not_found").await;
    }
    let r = app.post_json(&format!("/v1/stories/{photo_id}/reactions"), "bob", &reaction).await;
    assert_problem(r, 404, "not_found").await;
    assert_eq!(app.feed("bob").await["items"], json!([]));
    assert_eq!(app.get_json("/v1/me/stories", "alice").await["stories"], json!([]));
}
