//! The feed use case: one page of the viewer's tray with ads spliced in, and the page's JSON.
//!
//! A page costs one script on the viewer's slot (the tray index answers the page's authors, in
//! order, and the viewer's ad state) and one read of the page's story cards: in proportion to the
//! page, not to the viewer's contacts or live authors.

use crate::ads::splice::splice;
use crate::error::Result;
use crate::metrics::{AdSlotOutcome, Metrics};
use crate::services::ads::{self as ads, AdItem, AdServer};
use crate::store::Store;
use crate::store::tray::{TrayPage, TrayQuery};
use crate::store::viewer_ads::ViewerAdState;
use crate::stories::feed::{AuthorGroup, Position, muted_order};
use crate::stories::{Story, StoryCard};
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use std::time::Instant;
use utoipa::ToSchema;

/// Reads of a page that find stories gone (deleted since they reached the tray) before the page is
/// served as it is: each read forgets what it found gone, so that its authors take their places.
const READS_PER_PAGE: usize = 3;

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

/// One author in the feed; stories oldest first, the order they play in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthorItem {
    pub author: String,
    pub unseen: bool,
    #[serde(with = "crate::timestamp")]
    pub latest_at: DateTime<Utc>,
    #[schema(value_type = Vec<Story>)]
    pub stories: Vec<FeedStory>,
}

/// A story in the feed: its card and whether the viewer has seen it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedStory {
    pub card: StoryCard,
    pub seen: bool,
}

/// As the [`Story`] it shows, with `seen`. The feed itself is written without serde (see
/// [`Feed::to_json`]), which copies the card instead; this is what that is checked against.
impl Serialize for FeedStory {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let story = self
            .card
            .to_story(self.seen)
            .ok_or_else(|| serde::ser::Error::custom("not a story card"))?;
        story.serialize(s)
    }
}

/// One page of the viewer's feed: `limit` authors after `cursor` (and the muted authors, on the
/// first page), with ads spliced in.
pub async fn page(
    store: &Store,
    ad_server: &AdServer,
    metrics: &Metrics,
    viewer: &str,
    cursor: Option<&Position>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Feed> {
    let now_ms = now.timestamp_millis();
    // The viewer's ad state is read by the page's own script, so that ads add no round trip; a
    // broken one costs the page its ads, not the page.
    let query = TrayQuery {
        after: cursor,
        limit,
        with_muted: cursor.is_none(),
        ad_state_since_ms: ads::ad_state_to_read(ad_server, now_ms).map(|keep_ms| now_ms - keep_ms),
    };
    let page = read_page(store, viewer, query, now_ms).await?;
    metrics.feed_pages.inc();
    metrics.feed_authors_per_page.observe(page.items.len() as f64);

    let slots = ad_server.placement.slots(page.items.len());
    let deciding = Instant::now();
    let viewer_ads = ads::viewer_ads(ad_server, page.ad_state, now_ms);
    let (mut ads, mut outcomes) = ads::ads_for_page(ad_server, viewer_ads, viewer, slots.len(), now_ms);
    let decided_in = deciding.elapsed();
    if !slots.is_empty() {
        metrics.ad_decision_duration.observe(decided_in.as_secs_f64());
    }
    if decided_in > ad_server.deadline {
        // Past `ads.deadline_ms` the page goes without its ads, whatever the selector found.
        ads.clear();
        outcomes = vec![AdSlotOutcome::TimedOut; slots.len()];
    }
    for outcome in outcomes {
        metrics.ad_slot(outcome);
    }
    let mut muted = page.muted;
    muted.sort_by(|a, b| muted_order(&a.group, &b.group));
    let authors = page.items.into_iter().filter_map(author_item).map(FeedItem::Author).collect();
    let ads = ads.into_iter().map(|ad| FeedItem::Ad { ad }).collect();
    Ok(Feed {
        items: splice(authors, ads, &slots),
        muted: muted.into_iter().filter_map(author_item).map(FeedItem::Author).collect(),
        next_cursor: page.next_cursor,
    })
}

/// An author group of the page, with the cards of its stories.
struct LoadedGroup {
    group: AuthorGroup,
    cards: Vec<StoryCard>,
}

/// A tray page with its cards.
struct LoadedPage {
    items: Vec<LoadedGroup>,
    muted: Vec<LoadedGroup>,
    next_cursor: Option<String>,
    ad_state: Option<Result<ViewerAdState>>,
}

/// Reads a tray page and its cards. A story whose record is gone (deleted since it reached the
/// tray) is forgotten by the tray index and the page read again, so that its author takes the
/// place of their newest remaining story.
async fn read_page(store: &Store, viewer: &str, mut query: TrayQuery<'_>, now_ms: i64) -> Result<LoadedPage> {
    let mut reads = 1;
    let mut ad_state = None;
    loop {
        let mut tray = store.tray_page(viewer, query, now_ms).await?;
        // The ad state is read once, with the first read.
        ad_state = ad_state.or(tray.ad_state.take());
        query.ad_state_since_ms = None;
        let (mut page, gone) = load_cards(store, tray).await?;
        if gone.is_empty() || reads == READS_PER_PAGE {
            page.ad_state = ad_state;
            return Ok(page);
        }
        let gone: Vec<(&str, &str)> = gone.iter().map(|(a, id)| (a.as_str(), id.as_str())).collect();
        store.forget_in_tray(viewer, &gone, now_ms).await?;
        reads += 1;
    }
}

/// Reads the cards of a tray page's stories. Answers the page without the stories whose records
/// are gone, and those stories as (author, id).
async fn load_cards(store: &Store, tray: TrayPage) -> Result<(LoadedPage, Vec<(String, String)>)> {
    let next_cursor = tray.more.then(|| tray.items.last().map(|g| g.position().encode())).flatten();
    let ids: Vec<&str> = tray
        .items
        .iter()
        .chain(&tray.muted)
        .flat_map(|g| g.stories.iter().map(|s| s.id.as_str()))
        .collect();
    let mut cards = store.cards(&ids).await?.into_iter();
    let mut gone = Vec::new();
    let mut load = |groups: Vec<AuthorGroup>| -> Vec<LoadedGroup> {
        groups
            .into_iter()
            .filter_map(|mut group| {
                let mut loaded = Vec::with_capacity(group.stories.len());
                let author = group.author.clone();
                group.stories.retain(|story| match cards.next().flatten() {
                    Some(card) if card.is_of(&story.id, &author) => {
                        loaded.push(card);
                        true
                    }
                    _ => {
                        gone.push((author.clone(), story.id.clone()));
                        false
                    }
                });
                (!loaded.is_empty()).then_some(LoadedGroup { group, cards: loaded })
            })
            .collect()
    };
    let items = load(tray.items);
    let muted = load(tray.muted);
    let page = LoadedPage {
        items,
        muted,
        next_cursor,
        ad_state: None,
    };
    Ok((page, gone))
}

/// The feed's item for an author group: `latest_at` is their newest story shown.
fn author_item(loaded: LoadedGroup) -> Option<AuthorItem> {
    let LoadedGroup { group, cards } = loaded;
    let latest_ms = group.stories.iter().map(|s| crate::ids::created_ms(&s.id)).max()?;
    let stories: Vec<FeedStory> = group
        .stories
        .into_iter()
        .zip(cards)
        .map(|(story, card)| FeedStory { card, seen: story.seen })
        .collect();
    Some(AuthorItem {
        author: group.author,
        unseen: stories.iter().any(|s| !s.seen),
        latest_at: DateTime::from_timestamp_millis(latest_ms)?,
        stories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ads::{AdAdvertiser, AdCta};
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
