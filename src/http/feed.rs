//! `GET /v1/feed`.

use super::auth::User;
use super::problem::Problem;
use super::{PageQuery, State};
use crate::ads::service::{self as ads, AdItem};
use crate::ads::splice::splice;
use crate::error::Result;
use crate::stories::feed::Position;
use crate::stories::service::{self, AuthorItem};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Serialize;
use std::time::Instant;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/feed").route(web::get().to(get_feed)));
}

/// One entry of the feed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedItem {
    Author(AuthorItem),
    Ad { ad: AdItem },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Feed {
    pub items: Vec<FeedItem>,
    /// Muted authors with live stories (first page only).
    pub muted: Vec<FeedItem>,
    pub next_cursor: Option<String>,
}

impl Feed {
    /// The page as JSON: byte for byte what serde writes for it (tested), but written by hand so
    /// that each story's card is copied as stored instead of parsed and written anew.
    pub fn to_json(&self) -> Vec<u8> {
        let cards: usize = self.authors().flat_map(|a| &a.stories).map(|s| s.card.as_str().len() + 16).sum();
        let mut out = Vec::with_capacity(cards + 512 * (self.items.len() + self.muted.len() + 1));
        out.extend_from_slice(br#"{"items":["#);
        write_items(&self.items, &mut out);
        out.extend_from_slice(br#"],"muted":["#);
        write_items(&self.muted, &mut out);
        out.extend_from_slice(br#"],"next_cursor":"#);
        write_json(&self.next_cursor, &mut out);
        out.push(b'}');
        out
    }

    fn authors(&self) -> impl Iterator<Item = &AuthorItem> {
        self.items.iter().chain(&self.muted).filter_map(|item| match item {
            FeedItem::Author(author) => Some(author),
            FeedItem::Ad { .. } => None,
        })
    }
}

fn write_items(items: &[FeedItem], out: &mut Vec<u8>) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match item {
            FeedItem::Author(author) => {
                out.extend_from_slice(br#"{"type":"author","author":"#);
                write_json(&author.author, out);
                out.extend_from_slice(if author.unseen {
                    &br#","unseen":true"#[..]
                } else {
                    br#","unseen":false"#
                });
                out.extend_from_slice(br#","latest_at":"#);
                let _ = crate::timestamp::serialize(&author.latest_at, &mut serde_json::Serializer::new(&mut *out));
                out.extend_from_slice(br#","stories":["#);
                for (j, story) in author.stories.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    story.card.write_seen(story.seen, out);
                }
                out.extend_from_slice(b"]}");
            }
            FeedItem::Ad { ad } => {
                out.extend_from_slice(br#"{"type":"ad","ad":"#);
                write_json(ad, out);
                out.push(b'}');
            }
        }
    }
}

/// Strings and ad items cannot fail to serialise.
fn write_json<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(out, value);
}

/// The caller's contacts' live stories: unseen authors first, each group newest first.
#[utoipa::path(get, path = "/v1/feed", tag = "feed", security(("user" = [])), params(PageQuery),
    responses((status = 200, body = Feed), (status = 400, body = Problem), (status = 401, body = Problem), (status = 503, body = Problem)))]
pub async fn get_feed(state: State, user: User, page: web::Query<PageQuery>) -> Result<HttpResponse> {
    let limit = page.limit()?;
    let cursor = page.cursor.as_deref().map(Position::decode).transpose()?;
    let now = Utc::now();
    let now_ms = now.timestamp_millis();
    // The viewer's ad state is read alongside the tray, not after the page.
    let started = Instant::now();
    let viewer_ads = async {
        let read = ads::read_viewer(&state.store, &state.ads, &user.0, now_ms).await;
        (read, started.elapsed())
    };
    let (page, (viewer_ads, ad_read_time)) =
        futures_util::join!(service::feed(&state.store, &user.0, cursor.as_ref(), limit, now), viewer_ads);
    let page = page?;
    state.metrics.feed_pages.inc();
    state.metrics.feed_authors_per_page.observe(page.items.len() as f64);
    let slots = state.ads.placement.slots(page.items.len());
    let deciding = Instant::now();
    let (ads, outcomes) = ads::ads_for_page(&state.ads, viewer_ads, &user.0, slots.len(), now_ms);
    if !slots.is_empty() {
        let seconds = (ad_read_time + deciding.elapsed()).as_secs_f64();
        state.metrics.ad_decision_duration.observe(seconds);
    }
    for outcome in outcomes {
        state.metrics.ad_slot(outcome);
    }
    let authors = page.items.into_iter().map(FeedItem::Author).collect();
    let ads = ads.into_iter().map(|ad| FeedItem::Ad { ad }).collect();
    let feed = Feed {
        items: splice(authors, ads, &slots),
        muted: page.muted.into_iter().map(FeedItem::Author).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(HttpResponse::Ok().content_type("application/json").body(feed.to_json()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ads::service::{AdAdvertiser, AdCta};
    use crate::stories::service::FeedStory;
    use crate::stories::{StoredMedia, StoryCard, StoryKind, StoryRecord};
    use crate::users::{Audience, AudienceMode};
    use chrono::{DateTime, Duration};

    fn record(id: &str, author: &str, media: bool, at: DateTime<Utc>) -> StoryRecord {
        StoryRecord {
            id: id.into(),
            author: author.into(),
            kind: if media { StoryKind::Image } else { StoryKind::Text },
            text: (!media).then(|| "Quotes \" and \\ and a\nnewline, é and 🙂".into()),
            background: (!media).then(|| "#075E54".into()),
            font: (!media).then_some(3),
            caption: media.then(|| "At the lake </script>".into()),
            media: media.then(|| StoredMedia {
                etag: "\"e1\"".into(),
                thumb_etag: "\"e2\"".into(),
                width: 1080,
                height: 1920,
            }),
            created_at: at,
            expires_at: at + Duration::hours(24),
            audience: Audience {
                mode: AudienceMode::ContactsExcept,
                users: vec!["mallory".into()],
            },
        }
    }

    fn author(name: &str, stories: &[(StoryRecord, bool)]) -> FeedItem {
        FeedItem::Author(AuthorItem {
            author: name.into(),
            unseen: stories.iter().any(|(_, seen)| !seen),
            latest_at: stories.iter().map(|(r, _)| r.created_at).max().unwrap(),
            stories: stories
                .iter()
                .map(|(r, seen)| FeedStory {
                    card: StoryCard::of(r),
                    seen: *seen,
                })
                .collect(),
        })
    }

    fn ad() -> FeedItem {
        FeedItem::Ad {
            ad: AdItem {
                token: "payload.signature".into(),
                advertiser: AdAdvertiser {
                    id: "01ADV".into(),
                    name: "Acme \"Coffee\"".into(),
                },
                headline: "Fresh beans".into(),
                media_url: "/v1/ads/creatives/01CR/media".into(),
                thumb_url: "/v1/ads/creatives/01CR/thumb".into(),
                cta: AdCta {
                    label: "Shop now".into(),
                    url: "https://example.com/?a=1&b=2".into(),
                },
                sponsored: true,
            },
        }
    }

    #[test]
    fn the_hand_written_page_is_what_serde_writes() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T09:05:07.120Z")
            .unwrap()
            .with_timezone(&Utc);
        let pages = [
            Feed {
                items: Vec::new(),
                muted: Vec::new(),
                next_cursor: None,
            },
            Feed {
                items: vec![
                    author(
                        "alice",
                        &[
                            (record("01A.alice", "alice", false, at), false),
                            (record("01B.alice", "alice", true, at + Duration::seconds(1)), true),
                        ],
                    ),
                    ad(),
                    author("bob", &[(record("01C.bob", "bob", true, at), true)]),
                ],
                muted: vec![author("carol", &[(record("01D.carol", "carol", false, at), false)])],
                next_cursor: Some("eyJzIjp0cnVlfQ".into()),
            },
        ];
        for page in pages {
            assert_eq!(String::from_utf8(page.to_json()).unwrap(), serde_json::to_string(&page).unwrap());
        }
    }

    #[test]
    fn a_card_is_the_story_a_viewer_sees() {
        let at = Utc::now();
        let story = record("01A.alice", "alice", true, at);
        let card = StoryCard::of(&story);
        let mut seen = Vec::new();
        card.write_seen(true, &mut seen);
        let expected = crate::stories::Story {
            seen: Some(true),
            ..story.view("bob")
        };
        assert_eq!(String::from_utf8(seen).unwrap(), serde_json::to_string(&expected).unwrap());
        assert!(!card.as_str().contains("mallory"), "no audience on a card: {}", card.as_str());
        assert!(card.is_of("01A.alice", "alice"));
        assert!(!card.is_of("01A.alice", "alic"));
        assert!(!card.is_of("01A.alic", "alice"));
        assert!(!card.is_of("01A.alice", "bob"));
    }
}
