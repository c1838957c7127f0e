//! `statusd seed-demo`: demo users who are each other's contacts, with live text and photo
//! stories, so that a fresh install has a feed to look at.

use crate::config::Settings;
use crate::error::Result;
use crate::media::{MediaLimits, PipelineSpec};
use crate::startup::build_state;
use crate::stories::{NewTextStory, StoryDraft, StoryKind, service};
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

/// What `seed-demo` created: a token per demo user.
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
    for user in DEMO_USERS {
        service::erase_user(store, user, Utc::now()).await?;
    }
    for user in DEMO_USERS {
        let others: Vec<String> = DEMO_USERS.iter().filter(|u| **u != user).map(|u| u.to_string()).collect();
        store.set_contacts(user, &others).await?;
    }
    for (author, text, background) in TEXTS {
        let draft = NewTextStory {
            text: text.into(),
            background: Some(background.into()),
            font: Some(1),
            audience: None,
        }
        .parse(700)?;
        service::create(store, &state.settings, author, draft, None, Utc::now()).await?;
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
    service::create(store, &state.settings, "bob", draft, Some(photo), Utc::now()).await?;
    let tokens = DEMO_USERS
        .iter()
        .map(|u| Ok((u.to_string(), state.tokens.issue(u, 7 * 24 * 3600)?)))
        .collect::<Result<_>>()?;
    Ok(Seeded { tokens })
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
