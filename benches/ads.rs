//! One ad decision against 100, 10,000 and 100,000 campaigns, with the `auction` selector on the
//! in-memory index. Campaigns are a third into a 30-day flight, spent below their pacing line
//! (even) or below 90 % of the budget (asap), 5 % paused: the bench prints how many may serve.
//! Criterion measures the mean; a second pass times 20,000 single decisions and prints p50/p99,
//! which is what the serving deadline cares about.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use statusd::ads::index::{AdCard, CampaignIndex, IndexedCampaign, Pacing};
use statusd::ads::selectors::by_name;
use statusd::ads::{AdRequest, Exclusions};
use std::hint::black_box;
use std::time::Instant;

const COUNTRIES: [&str; 20] = [
    "US", "BR", "IN", "DE", "FR", "GB", "ES", "IT", "MX", "ID", "NG", "EG", "TR", "PK", "AR", "CO", "ZA", "KE", "PH", "VN",
];
const LANGUAGES: [&str; 10] = ["en", "pt", "hi", "de", "fr", "es", "it", "id", "ar", "tr"];
const INTERESTS: [&str; 12] = [
    "football", "travel", "music", "cooking", "tech", "fashion", "gaming", "fitness", "books", "movies", "cars", "pets",
];

/// The time of every decision.
const NOW_MS: i64 = 1_800_000_000_000;
const DAY_MS: i64 = 86_400_000;

fn campaigns(n: usize, rng: &mut StdRng) -> Vec<IndexedCampaign> {
    (0..n)
        .map(|i| {
            let pick = |rng: &mut StdRng, from: &[&str], p: f64, max: usize| -> Vec<String> {
                if rng.random_bool(p) {
                    (0..rng.random_range(1..=max))
                        .map(|_| from[rng.random_range(0..from.len())].to_string())
                        .collect()
                } else {
                    vec![]
                }
            };
            let even = rng.random_bool(0.5);
            IndexedCampaign {
                id: format!("c{i}"),
                advertiser_id: format!("a{}", i % (n / 3).max(1)),
                creative_ids: vec![format!("cr{i}a"), format!("cr{i}b")],
                bid_cpm_micros: rng.random_range(100_000..20_000_000),
                countries: pick(rng, &COUNTRIES, 0.8, 3),
                languages: pick(rng, &LANGUAGES, 0.5, 2),
                interests: pick(rng, &INTERESTS, 0.3, 2),
                start_ms: NOW_MS - 10 * DAY_MS,
                end_ms: NOW_MS + 20 * DAY_MS,
                paused: rng.random_bool(0.05),
                budget_micros: 1_000_000_000,
                // A third of the flight is over: even pacing allows a third of the budget.
                spent_micros: if even {
                    rng.random_range(0..300_000_000)
                } else {
                    rng.random_range(0..900_000_000)
                },
                daily_budget_micros: None,
                spent_today_micros: 0,
                pacing: if even { Pacing::Even } else { Pacing::Asap },
                frequency_cap: 3,
                frequency_cap_secs: 86_400,
                impressions: rng.random_range(0..100_000),
                clicks: rng.random_range(0..1_000),
            }
        })
        .collect()
}

fn request(rng: &mut StdRng) -> AdRequest {
    AdRequest {
        viewer: "viewer".into(),
        country: Some(COUNTRIES[rng.random_range(0..COUNTRIES.len())].into()),
        language: Some(LANGUAGES[rng.random_range(0..LANGUAGES.len())].into()),
        interests: rng
            .random_bool(0.5)
            .then(|| vec![INTERESTS[rng.random_range(0..INTERESTS.len())].into()]),
        slots: 3,
        exclusions: Exclusions::default(),
        now_ms: NOW_MS,
    }
}

fn bench_decisions(c: &mut Criterion) {
    let selector = by_name(statusd::config::SelectorName::Auction, 100_000);
    let mut group = c.benchmark_group("ad_decision");
    for n in [100, 10_000, 100_000] {
        let mut rng = StdRng::seed_from_u64(n as u64);
        let campaigns = campaigns(n, &mut rng);
        let serving = campaigns.iter().filter(|c| c.serving(NOW_MS)).count();
        println!("ad_decision/{n}: {serving} of {n} campaigns may serve");
        let cards = campaigns
            .iter()
            .flat_map(|c| {
                c.creative_ids.iter().map(|id| AdCard {
                    creative_id: id.clone(),
                    advertiser_id: c.advertiser_id.clone(),
                    advertiser_name: "Bench".into(),
                    headline: "Headline".into(),
                    cta_label: "Learn more".into(),
                    cta_url: "https://example.com".into(),
                })
            })
            .collect();
        let index = CampaignIndex::build(campaigns, cards);
        let requests: Vec<AdRequest> = (0..256).map(|_| request(&mut rng)).collect();
        let mut i = 0;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                i = (i + 1) % requests.len();
                black_box(selector.select(&index, &requests[i], &mut rng))
            })
        });
        // Percentiles of single decisions.
        let mut samples: Vec<u128> = (0..20_000)
            .map(|k| {
                let req = &requests[k % requests.len()];
                let started = Instant::now();
                black_box(selector.select(&index, req, &mut rng));
                started.elapsed().as_nanos()
            })
            .collect();
        samples.sort_unstable();
        let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)] as f64 / 1000.0;
        println!(
            "ad_decision/{n}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
    }
    group.finish();
}

criterion_group!(benches, bench_decisions);
criterion_main!(benches);
