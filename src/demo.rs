//! `statusd seed-demo`: demo users who are each other's contacts, with live text and photo
//! stories, and demo advertisers with approved creatives and running campaigns, so that a fresh
//! install has a feed (with ads) to look at.

use crate::advertisers::campaigns::{FrequencyCap, NewCampaign, Pacing, Targeting};
use crate::advertisers::creatives::{CreativeFields, Decision, Review};
use crate::config::Settings;
use crate::error::Result;
use crate::ids::UserId;
use crate::media::{MediaLimits, PipelineSpec};
use crate::services::stories as service;
use crate::startup::build_state;
use crate::stories::{NewTextStory, StoryDraft, StoryKind};
use chrono::Utc;

pub const DEMO_USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

const TEXTS: [(&str, &str, &str); 6] = [
    ("bob", "Morning run done 🏃 5 km before the rain", "#1E88E5"),
    ("carol", "Who's up for pizza tonight? 🍕", "#E53935"),
    ("carol", "Found it: the best espresso in town ☕", "#6D4C41"),
    ("dave", "New job starts Monday!", "#43A047"),
    ("erin", "Reading list for the weekend 📚", "#8E24AA"),
    ("alice", "Hello from statusd 👋", "#00897B"),
];

/// Demo advertisers: (id, name, short name for the token list, colours of its creatives).
pub const DEMO_ADVERTISERS: [(&str, &str, &str, [[u8; 3]; 2]); 2] = [
    ("demo-acme-coffee", "Acme Coffee", "acme", [[111, 78, 55], [214, 170, 110]]),
    ("demo-bright-books", "Bright Books", "books", [[30, 90, 160], [240, 200, 60]]),
];

/// Each demo advertiser's creatives: (headline, CTA label, CTA URL). The first two are approved
/// and run; the third waits for review, so that the review desk has a queue to show.
const DEMO_CREATIVES: [[(&str, &str, &str); 3]; 2] = [
    [
        ("Fresh beans, roasted daily", "Shop now", "https://acme-coffee.example/beans"),
        ("Chat with our baristas", "Chat", "https://wa.me/15550100100"),
        (
            "Winter menu: try the spiced latte",
            "Learn more",
            "https://acme-coffee.example/winter",
        ),
    ],
    [
        ("Three books for the price of two", "Shop now", "https://bright-books.example/offer"),
        ("Join the reading club", "Sign up", "https://bright-books.example/club"),
        ("Author talk on Friday", "Book now", "https://bright-books.example/events"),
    ],
];

/// How many of a demo advertiser's creatives are approved (the rest wait for review).
const DEMO_APPROVED: usize = 2;

/// What `seed-demo` created: a token per demo user (`alice`, …) and an API key per demo
/// advertiser (`advertiser:acme`, …).
pub struct Seeded {
    pub tokens: Vec<(String, String)>,
}

pub async fn seed(settings: Settings) -> std::result::Result<Seeded, String> {
    let state = build_state(settings).map_err(|e| e.to_string())?;
    run(&state).await.map_err(|e| e.to_string())
}

async fn run(state: &crate::http::AppState) -> Result<Seeded> {
    let store = &state.store;
    // Start from a clean slate, so that running the demo twice shows the same feed.
    let users: Vec<UserId> = DEMO_USERS.iter().filter_map(|u| UserId::parse(u)).collect();
    for user in &users {
        service::erase_user(store, user, Utc::now()).await?;
    }
    for user in &users {
        let others: Vec<UserId> = users.iter().filter(|u| *u != user).cloned().collect();
        let wait = std::time::Duration::from_millis(state.settings.users.contacts_wait_ms);
        store.set_contacts(user, &others, Utc::now().timestamp_millis(), wait).await?;
    }
    let user = |name: &str| UserId::parse(name).ok_or_else(|| crate::error::Error::Internal(format!("demo user {name}")));
    for (author, text, background) in TEXTS {
        let draft = NewTextStory {
            text: text.into(),
            background: Some(background.into()),
            font: Some(1),
            audience: None,
        }
        .parse(700)?;
        service::create(store, &state.settings, &user(author)?, draft, None, Utc::now()).await?;
    }
    let limits = MediaLimits {
        max_upload_bytes: usize::MAX,
        max_pixels: u64::MAX,
        max_side: u32::MAX,
    };
    let photo = crate::media::process(&demo_photo(), &limits, &PipelineSpec::STORY)?;
    let draft = StoryDraft {
        kind: StoryKind::Image,
        text: None,
        background: None,
        font: None,
        caption: Some("Sunset at the lake 🌅".into()),
        audience: None,
    };
    service::create(store, &state.settings, &user("bob")?, draft, Some(photo), Utc::now()).await?;
    let mut tokens: Vec<(String, String)> = DEMO_USERS
        .iter()
        .map(|u| Ok((u.to_string(), state.tokens.issue(u, 7 * 24 * 3600)?)))
        .collect::<Result<_>>()?;
    for (i, (id, name, short, colours)) in DEMO_ADVERTISERS.into_iter().enumerate() {
        let key = seed_advertiser(state, id, name, colours, &DEMO_CREATIVES[i], &limits).await?;
        tokens.push((format!("advertiser:{short}"), key));
    }
    Ok(Seeded { tokens })
}

/// Replaces a demo advertiser: creatives drawn in code (two approved, one waiting for review), and
/// a running campaign for anyone. Returns its new API key.
async fn seed_advertiser(
    state: &crate::http::AppState,
    id: &str,
    name: &str,
    colours: [[u8; 3]; 2],
    creatives: &[(&str, &str, &str); 3],
    limits: &MediaLimits,
) -> Result<String> {
    let store = &state.store;
    let now = Utc::now();
    store.delete_advertiser(id).await?;
    let advertiser = crate::services::advertisers::create_advertiser_with_id(store, id.into(), name.into(), now).await?;
    let labels = &state.settings.ads.cta_labels;
    let mut creative_ids = Vec::new();
    for (n, (headline, label, url)) in creatives.iter().enumerate() {
        // The operator may have configured other labels: fall back to the first of theirs.
        let label = labels.iter().find(|l| l.as_str() == *label).unwrap_or(&labels[0]);
        let draft = CreativeFields {
            headline: Some(headline.to_string()),
            cta_label: Some(label.clone()),
            cta_url: Some(url.to_string()),
        }
        .parse(labels)?;
        let image = crate::media::process(&demo_creative(colours, n), limits, &PipelineSpec::CREATIVE)?;
        let creative = crate::services::advertisers::create_creative(store, id, draft, image, now).await?;
        if n >= DEMO_APPROVED {
            continue;
        }
        let approve = Review {
            decision: Decision::Approve,
            reason: None,
        };
        crate::services::advertisers::review(store, &creative.id, approve, now).await?;
        creative_ids.push(creative.id);
    }
    let campaign = NewCampaign {
        name: format!("{name}: demo"),
        creative_ids,
        targeting: Targeting::default(),
        bid_cpm_micros: 2_000_000,
        budget_micros: 500_000_000,
        daily_budget_micros: Some(50_000_000),
        start_at: (now - chrono::Duration::minutes(1)).to_rfc3339(),
        end_at: (now + chrono::Duration::days(30)).to_rfc3339(),
        frequency_cap: FrequencyCap {
            impressions: 5,
            per_seconds: 3600,
        },
        pacing: Pacing::Asap,
    };
    crate::services::advertisers::create_campaign(store, id, campaign, now).await?;
    Ok(advertiser.api_key.unwrap_or_default())
}

/// A 540×960 poster in two colours (the pipeline scales it to the 1080×1920 canvas): a diagonal
/// split and a disc, different for each creative.
fn demo_creative(colours: [[u8; 3]; 2], n: usize) -> Vec<u8> {
    let [a, b] = colours;
    let img = image::RgbImage::from_fn(540, 960, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let disc = ((fx - 270.0).powi(2) + (fy - 400.0 - 150.0 * n as f32).powi(2)).sqrt() < 130.0;
        let upper = fy < 960.0 - fx * (0.6 + 0.5 * n as f32);
        let c = if disc != upper { a } else { b };
        let shade = 0.85 + 0.15 * (fy / 960.0);
        image::Rgb(c.map(|v| (v as f32 * shade) as u8))
    });
    let mut out = std::io::Cursor::new(Vec::new());
    let _ = img.write_to(&mut out, image::ImageFormat::Png);
    out.into_inner()
}

/// A 1200×1600 sunset gradient, drawn rather than shipped.
fn demo_photo() -> Vec<u8> {
    let img = image::RgbImage::from_fn(1200, 1600, |x, y| {
        let t = y as f32 / 1600.0;
        let sun = (((x as f32 - 600.0).powi(2) + (y as f32 - 900.0).powi(2)).sqrt() < 180.0) as u8;
        image::Rgb([
            (255.0 * (1.0 - t * 0.5)) as u8,
            (120.0 + 100.0 * t) as u8 * (1 - sun) + 230 * sun,
            (60.0 + 160.0 * t) as u8 * (1 - sun) + 80 * sun,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    let _ = img.write_to(&mut out, image::ImageFormat::Png);
    out.into_inner()
}
