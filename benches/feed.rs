//! Whole feed pages read from a real redis-server that the bench starts on a free port. A page's
//! cost should follow the page, not the number of contacts or of authors with live stories for
//! the viewer (the tray index answers the page's authors in order). The last group is a whole page
//! with ads over HTTP: 20 authors and 200 active campaigns, selection and splicing included.

#[path = "../tests/api/support/redis.rs"]
mod redis_support;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use statusd::config::Settings;
use statusd::ids::UserId;
use statusd::services::stories as service;
use statusd::startup::build_state;
use statusd::stories::NewTextStory;
use std::hint::black_box;
use std::time::Duration;

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
    let viewer = UserId::parse("viewer").unwrap();
    let all: Vec<UserId> = (0..contacts).map(|i| UserId::parse(&format!("c{i}")).unwrap()).collect();
    let wait = std::time::Duration::from_millis(state.settings.users.contacts_wait_ms);
    store
        .set_contacts(&viewer, &all, Utc::now().timestamp_millis(), wait)
        .await
        .unwrap();
    for author in all.iter().take(live) {
        store
            .set_contacts(author, std::slice::from_ref(&viewer), Utc::now().timestamp_millis(), wait)
            .await
            .unwrap();
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
    let viewer = UserId::parse("viewer").unwrap();
    for (contacts, live) in [(10, 10), (100, 20), (1000, 20), (5000, 20), (100, 100), (1000, 1000)] {
        let state = rt.block_on(async {
            let state = build_state(settings(&url, &format!("bench-{contacts}-{live}:"))).unwrap();
            seed(&state, contacts, live).await;
            state
        });
        g.bench_function(
            BenchmarkId::new(format!("live_authors={live}"), format!("contacts={contacts}")),
            |b| {
                b.to_async(&rt).iter(|| async {
                    let page = statusd::services::feed::page(&state.store, &state.ads, &state.metrics, &viewer, None, 20, Utc::now());
                    black_box(page.await.unwrap())
                })
            },
        );
    }
    g.finish();
}

/// 20 advertisers with one approved creative each and 10 campaigns each (200 in all), targeting
/// anyone, loaded into the instance's index.
async fn seed_campaigns(state: &statusd::http::AppState) {
    use statusd::advertisers::campaigns::{FrequencyCap, NewCampaign, Pacing, Targeting};
    use statusd::advertisers::creatives::{CreativeFields, Decision, Review};
    use statusd::services::advertisers as ads_admin;
    let store = &state.store;
    let now = Utc::now();
    let limits = statusd::media::MediaLimits {
        max_upload_bytes: usize::MAX,
        max_pixels: u64::MAX,
        max_side: u32::MAX,
    };
    let poster = {
        let img = image::RgbImage::from_fn(270, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    for a in 0..20 {
        let advertiser = ads_admin::create_advertiser(store, format!("Advertiser {a}"), now).await.unwrap();
        let draft = CreativeFields {
            headline: Some("Headline".into()),
            cta_label: Some("Learn more".into()),
            cta_url: Some("https://example.com".into()),
        }
        .parse(&state.settings.ads.cta_labels)
        .unwrap();
        let image = statusd::media::process(&poster, &limits, &statusd::media::PipelineSpec::CREATIVE).unwrap();
        let creative = ads_admin::create_creative(store, &advertiser.id, draft, image, now).await.unwrap();
        ads_admin::review(
            store,
            &creative.id,
            Review {
                decision: Decision::Approve,
                reason: None,
            },
            now,
        )
        .await
        .unwrap();
        for c in 0..10 {
            let campaign = NewCampaign {
                name: format!("campaign {a}-{c}"),
                creative_ids: vec![creative.id.clone()],
                targeting: Targeting::default(),
                bid_cpm_micros: 1_000_000 + 10_000 * (a * 10 + c) as i64,
                budget_micros: 1_000_000_000_000,
                daily_budget_micros: None,
                start_at: (now - chrono::Duration::minutes(1)).to_rfc3339(),
                end_at: (now + chrono::Duration::days(30)).to_rfc3339(),
                frequency_cap: FrequencyCap {
                    impressions: 1_000_000,
                    per_seconds: 60,
                },
                pacing: Pacing::Asap,
            };
            ads_admin::create_campaign(store, &advertiser.id, campaign, now).await.unwrap();
        }
    }
    statusd::services::ads_refresh::reload(store, &state.ads, &state.metrics)
        .await
        .unwrap();
    assert_eq!(state.ads.index().len(), 200);
}

/// The whole request: `GET /v1/feed` through HTTP on a running statusd, ads included.
fn bench_page_with_ads(c: &mut Criterion) {
    let url = redis_support::standalone_url();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (address, token) = rt.block_on(async {
        let mut s = settings(&url, "bench-ads:");
        s.listen = "127.0.0.1:0".into();
        s.http.workers = 1;
        let state = build_state(s.clone()).unwrap();
        seed(&state, 50, 20).await;
        seed_campaigns(&state).await;
        let app = statusd::startup::Application::build(s).await.unwrap();
        let address = format!("http://127.0.0.1:{}/v1/feed", app.port());
        tokio::spawn(app.run_until_stopped());
        (address, state.tokens.issue("viewer", 3600).unwrap())
    });
    let client = reqwest::Client::new();
    // Wait until the instance's index holds the campaigns.
    rt.block_on(async {
        for _ in 0..200 {
            let feed: serde_json::Value = client.get(&address).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
            if feed["items"].as_array().unwrap().iter().filter(|i| i["type"] == "ad").count() == 3 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no ads in the feed");
    });
    let mut g = c.benchmark_group("feed_page_with_ads");
    g.measurement_time(Duration::from_secs(5)).sample_size(30);
    g.bench_function("http/authors=20,campaigns=200", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                client
                    .get(&address)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench_pages, bench_page_with_ads);
criterion_main!(benches);
