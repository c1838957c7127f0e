//! Feed assembly: the pure grouping and ordering, and whole pages read from a real redis-server
//! that the bench starts on a free port. The page cost should follow the number of authors with
//! live stories for the viewer, not the number of contacts.

#[path = "../tests/api/support/redis.rs"]
mod redis_support;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use statusd::config::Settings;
use statusd::startup::build_state;
use statusd::stories::feed::{TrayEntry, group};
use statusd::stories::{NewTextStory, service};
use std::hint::black_box;
use std::time::Duration;

fn tray(authors: usize, per_author: usize) -> Vec<TrayEntry> {
    (0..authors * per_author)
        .map(|i| TrayEntry {
            author: format!("author{}", i % authors),
            story_id: format!("{i:026}"),
            created_ms: 1_700_000_000_000 + i as i64,
            expires_ms: 1_800_000_000_000,
            seen: i % 3 == 0,
            muted: false,
        })
        .collect()
}

fn bench_group(c: &mut Criterion) {
    let mut g = c.benchmark_group("feed_group");
    for authors in [20, 200, 2000] {
        let entries = tray(authors, 2);
        g.bench_with_input(BenchmarkId::from_parameter(authors), &entries, |b, e| {
            b.iter(|| black_box(group(e.clone(), "viewer", 0)))
        });
    }
    g.finish();
}

fn settings(url: &str, prefix: &str) -> Settings {
    let mut s = Settings::default();
    s.auth.jwt_secret = Some("bench-secret-0123456789".into());
    s.redis.url = url.into();
    s.redis.key_prefix = prefix.into();
    s.users.max_contacts = 10_000;
    s
}

/// A viewer with `contacts` contacts, of whom `live` are mutual and posted 2 stories each.
async fn seed(state: &statusd::http::AppState, contacts: usize, live: usize) {
    let store = &state.store;
    let all: Vec<String> = (0..contacts).map(|i| format!("c{i}")).collect();
    store.set_contacts("viewer", &all).await.unwrap();
    for author in all.iter().take(live) {
        store.set_contacts(author, &["viewer".to_string()]).await.unwrap();
        for n in 0..2 {
            let draft = NewTextStory {
                text: format!("story {n} by {author}"),
                background: None,
                font: None,
                audience: None,
            }
            .parse(700)
            .unwrap();
            service::create(store, &state.settings, author, draft, None, Utc::now())
                .await
                .unwrap();
        }
    }
}

fn bench_pages(c: &mut Criterion) {
    let url = redis_support::standalone_url();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut g = c.benchmark_group("feed_page");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    for (contacts, live) in [(10, 10), (100, 20), (1000, 20), (5000, 20), (200, 100)] {
        let state = rt.block_on(async {
            let state = build_state(settings(&url, &format!("bench-{contacts}-{live}:"))).unwrap();
            seed(&state, contacts, live).await;
            state
        });
        g.bench_function(
            BenchmarkId::new(format!("live_authors={live}"), format!("contacts={contacts}")),
            |b| {
                b.to_async(&rt)
                    .iter(|| async { black_box(service::feed(&state.store, "viewer", None, 20, Utc::now()).await.unwrap()) })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench_group, bench_pages);
criterion_main!(benches);
