//! The distributed engine under change: a cluster of 3 masters and 3 replicas of the test's own,
//! whose master is stopped (its replica takes over) or whose slot is moved while a user posts and
//! reads. These run on a cluster only: a standalone Redis has neither failover nor slots.

use crate::support::app::{Backend, TestApp, eventually, spawn_with_settings, test_settings};
use crate::support::redis::OwnedCluster;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The cluster slot of a hash tag.
fn slot_of(tag: &str) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(tag.as_bytes()) % 16384
}

async fn app_on(cluster: &OwnedCluster) -> TestApp {
    let mut settings = test_settings(Backend::Cluster);
    settings.redis.cluster_nodes = cluster.urls();
    settings.stories.max_active_per_author = 100_000;
    // A loaded test machine must not turn a slow answer into a 503: what is tested here is the
    // redirections and the failover, not Redis's speed.
    settings.redis.response_timeout_ms = 10_000;
    let app = spawn_with_settings(Backend::Cluster, settings).await;
    app.wait_ready().await;
    app.befriend_all(&["alice", "bob"]).await;
    app
}

/// What the traffic saw: the ids of posts answered 201, and every status answered.
#[derive(Default)]
struct Seen {
    posted: Vec<String>,
    /// Posts answered other than 201.
    unanswered_posts: usize,
    statuses: Vec<u16>,
}

/// alice posts and bob reads his feed, one request after another, until `stop`.
async fn traffic(app: &TestApp, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let r = app.post_json("/v1/stories", "alice", &json!({ "text": format!("post {i}") })).await;
        let status = r.status().as_u16();
        seen.statuses.push(status);
        if status == 201 {
            let story: serde_json::Value = r.json().await.unwrap();
            seen.posted.push(story["id"].as_str().unwrap().to_owned());
        } else {
            seen.unanswered_posts += 1;
        }
        seen.statuses.push(app.get("/v1/feed", "bob").await.status().as_u16());
    }
    seen
}

/// Starts [`traffic`] and returns once it has posted; set the flag to stop it, then await the task.
async fn start_traffic(app: &Arc<TestApp>) -> (Arc<AtomicBool>, tokio::task::JoinHandle<Seen>) {
    let stop = Arc::new(AtomicBool::new(false));
    let running = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move { traffic(&app, &stop).await })
    };
    let posts = || async { app.get_json("/v1/me/stories", "alice").await["stories"].as_array().unwrap().len() > 5 };
    eventually(Duration::from_secs(10), "traffic runs", posts).await;
    (stop, running)
}

/// Every acknowledged post is there for its author and its reader, once. A post answered 503 may
/// or may not have been stored (its answer, not its write, may be what failed): at most
/// `unanswered` more stories are in alice's list.
async fn nothing_acknowledged_lost(app: &TestApp, seen: &Seen) {
    for id in &seen.posted {
        assert_eq!(app.get(&format!("/v1/stories/{id}"), "bob").await.status(), 200, "{id} was lost");
    }
    let mine = app.get_json("/v1/me/stories", "alice").await;
    let ids: std::collections::HashSet<&str> = mine["stories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), mine["stories"].as_array().unwrap().len(), "each story once");
    assert!(seen.posted.iter().all(|id| ids.contains(id.as_str())), "alice's own list");
    assert!(
        ids.len() <= seen.posted.len() + seen.unanswered_posts,
        "{} stored, {} acknowledged",
        ids.len(),
        seen.posted.len()
    );
}

/// The master of bob's slot stops under traffic: statusd answers 503 at worst while the cluster
/// fails over, then serves again without a restart, and loses nothing it acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_stopped_under_traffic_fails_over_without_a_restart() {
    let mut cluster = OwnedCluster::start();
    let app = Arc::new(app_on(&cluster).await);
    // statusd's error lines on stdout, so that a 500 shows its cause.
    let mut logs = app.settings.clone();
    logs.log.filter = "statusd=error".into();
    let _log_writer = statusd::telemetry::init_tracing(&logs);
    let (stop, running) = start_traffic(&app).await;
    let master = cluster.master_of(slot_of("u:bob"));
    cluster.stop_node(master);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while cluster.serving_master(slot_of("u:bob")).is_none_or(|now| now == master) {
        assert!(std::time::Instant::now() < deadline, "no replica took over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.wait_ok();
    let serving = || async { app.get("/v1/feed", "bob").await.status() == 200 };
    eventually(Duration::from_secs(30), "statusd serves again after the failover", serving).await;
    stop.store(true, Ordering::Relaxed);
    let seen = running.await.unwrap();
    let failed: Vec<&u16> = seen.statuses.iter().filter(|s| !matches!(s, 200 | 201 | 503)).collect();
    assert!(failed.is_empty(), "answers other than success or 503: {failed:?}");
    assert!(seen.posted.len() > 5);
    nothing_acknowledged_lost(&app, &seen).await;
}

/// bob's slot moves to another master while alice posts and bob reads: the client follows the
/// `MOVED` and `ASK` redirections and no request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_moved_under_traffic_is_followed() {
    let cluster = Arc::new(OwnedCluster::start());
    let app = Arc::new(app_on(&cluster).await);
    let slot = slot_of("u:bob");
    let from = cluster.master_of(slot);
    let to = [0, 6000, 12000, 16383]
        .into_iter()
        .map(|s| cluster.master_of(s))
        .find(|p| *p != from)
        .unwrap();
    let (stop, running) = start_traffic(&app).await;
    let moving = cluster.clone();
    tokio::task::spawn_blocking(move || moving.migrate_slot(slot, from, to))
        .await
        .unwrap();
    assert_eq!(cluster.master_of(slot), to);
    let more = || async { app.get_json("/v1/me/stories", "alice").await["stories"].as_array().unwrap().len() > 10 };
    eventually(Duration::from_secs(10), "traffic runs after the move", more).await;
    stop.store(true, Ordering::Relaxed);
    let seen = running.await.unwrap();
    let failed: Vec<&u16> = seen.statuses.iter().filter(|s| !matches!(s, 200 | 201)).collect();
    assert!(failed.is_empty(), "requests failed while the slot moved: {failed:?}");
    nothing_acknowledged_lost(&app, &seen).await;
}
