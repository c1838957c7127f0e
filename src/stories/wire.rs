//! Stories as bytes, and the feed page as served: the card (the JSON every viewer but the author is sent, written once when
//! the story is posted), the record as stored (the card, a newline, the private rest), and the
//! feed page's JSON, which copies each card as stored instead of parsing and writing it anew.
//! What the bytes must be is defined once here: the tests check them against what serde writes.

use super::{StoredMedia, Story, StoryRecord};
use crate::ads::AdItem;
use crate::error::{Error, Result};
use crate::ids::{StoryId, UserId};
use crate::users::Audience;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

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

/// A story as every viewer but its author sees it (a [`Story`] without `audience`, `seen` or
/// counts), already written as JSON. It is written once, when the story is posted, and stored with
/// the record, so that the feed and `GET /v1/stories/{id}` send it as it is: parsing forty records
/// and writing them anew was a third of a feed page's CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryCard(String);

impl StoryCard {
    pub fn of(record: &StoryRecord) -> StoryCard {
        // No user id is empty: this is the view of someone who is not the author.
        StoryCard(serde_json::to_string(&record.shown_to(None)).unwrap_or_default())
    }

    /// A card as the store keeps it: the JSON that [`StoryCard::of`] wrote.
    fn from_stored(json: String) -> StoryCard {
        StoryCard(json)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether this is the card of story `id` by the author it names: a card starts with both
    /// (ids and user ids need no escaping in JSON).
    pub fn is_of(&self, id: &StoryId) -> bool {
        self.0
            .strip_prefix(r#"{"id":""#)
            .and_then(|rest| rest.strip_prefix(id.as_str()))
            .and_then(|rest| rest.strip_prefix(r#"","author":""#))
            .and_then(|rest| rest.strip_prefix(id.author_as_written()))
            .is_some_and(|rest| rest.starts_with("\","))
    }

    /// Appends the card with `"seen"` added, as the feed carries it: byte for byte what serde
    /// writes for the [`Story`] with `seen` set.
    pub fn write_seen(&self, seen: bool, out: &mut Vec<u8>) {
        let open = self.0.strip_suffix('}').unwrap_or(&self.0);
        out.extend_from_slice(open.as_bytes());
        let seen = if seen { r#","seen":true}"# } else { r#","seen":false}"# };
        out.extend_from_slice(seen.as_bytes());
    }

    /// The story the card shows, with `seen` set; `None` if the card is not a story's JSON.
    pub fn to_story(&self, seen: bool) -> Option<Story> {
        let story: Story = serde_json::from_str(&self.0).ok()?;
        Some(Story { seen: Some(seen), ..story })
    }
}

/// What a record holds besides its card: only statusd reads it.
#[derive(Serialize, Deserialize)]
struct Private {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media: Option<StoredMedia>,
    audience: Audience,
}

/// A story record as stored: its card (what viewers are sent), a newline, then the rest as JSON
/// (the image's etags and size, the audience). JSON escapes every newline inside a string, so the
/// first one ends the card.
pub fn encode_record(story: &StoryRecord) -> Result<String> {
    let private = Private {
        media: story.media.clone(),
        audience: story.audience.clone(),
    };
    let private = serde_json::to_string(&private).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(format!("{}\n{private}", StoryCard::of(story).as_str()))
}

/// The record and its card; `None` if the value is not a record.
pub fn decode_record(raw: &str) -> Option<(StoryRecord, StoryCard)> {
    let (card, private) = raw.split_once('\n')?;
    let view: Story = serde_json::from_str(card).ok()?;
    let private: Private = serde_json::from_str(private).ok()?;
    let record = StoryRecord {
        id: StoryId::parse(&view.id)?,
        author: UserId::parse(&view.author)?,
        kind: view.kind,
        text: view.text,
        background: view.background,
        font: view.font,
        caption: view.caption,
        media: private.media,
        created_at: view.created_at,
        expires_at: view.expires_at,
        audience: private.audience,
    };
    Some((record, StoryCard::from_stored(card.to_owned())))
}

/// What a read by id needs of a record to decide who may see it: its times and audience.
pub struct Gist {
    pub created_ms: i64,
    pub expires_ms: i64,
    pub audience: Audience,
}

/// The card's times, read without the rest.
#[derive(Deserialize)]
struct CardTimes {
    #[serde(with = "crate::timestamp")]
    created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "crate::timestamp")]
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// The gist and the card of a record, parsing no more of it than that.
pub fn decode_gist(raw: String) -> Option<(Gist, StoryCard)> {
    let end = raw.find('\n')?;
    let times: CardTimes = serde_json::from_str(&raw[..end]).ok()?;
    let private: Private = serde_json::from_str(&raw[end + 1..]).ok()?;
    let gist = Gist {
        created_ms: times.created_at.timestamp_millis(),
        expires_ms: times.expires_at.timestamp_millis(),
        audience: private.audience,
    };
    Some((gist, card_of(raw)?))
}

/// The card alone, as stored: no parsing.
pub fn card_of(mut raw: String) -> Option<StoryCard> {
    let end = raw.find('\n')?;
    raw.truncate(end);
    Some(StoryCard::from_stored(raw))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ads::{AdAdvertiser, AdCta, AdItem};
    use crate::stories::{StoredMedia, StoryKind};
    use crate::users::AudienceMode;
    use chrono::{DateTime, Duration, Utc};

    fn record(author: &str, media: bool, at: DateTime<Utc>) -> StoryRecord {
        let author = UserId::parse(author).unwrap();
        StoryRecord {
            id: StoryId::new(at, &author),
            author,
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
                users: vec![UserId::parse("mallory").unwrap()],
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
                            (record("alice", false, at), false),
                            (record("alice", true, at + Duration::seconds(1)), true),
                        ],
                    ),
                    ad(),
                    author("bob", &[(record("bob", true, at), true)]),
                ],
                muted: vec![author("carol", &[(record("carol", false, at), false)])],
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
        let story = record("alice", true, at);
        let card = StoryCard::of(&story);
        let mut seen = Vec::new();
        card.write_seen(true, &mut seen);
        let expected = crate::stories::Story {
            seen: Some(true),
            ..story.shown_to(Some(&UserId::parse("bob").unwrap()))
        };
        assert_eq!(String::from_utf8(seen).unwrap(), serde_json::to_string(&expected).unwrap());
        assert!(!card.as_str().contains("mallory"), "no audience on a card: {}", card.as_str());
        assert!(card.is_of(&story.id));
        let time = story.id.as_str().split('.').next().unwrap();
        for other in [
            format!("{time}.alic"),
            format!("{time}.bob"),
            format!("{}.alice", crate::ids::new_id(at)),
        ] {
            assert!(!card.is_of(&StoryId::parse(&other).unwrap()), "{other}");
        }
    }

    fn stored_record(media: bool) -> StoryRecord {
        let at = chrono::DateTime::from_timestamp_millis(1_764_000_000_123).unwrap();
        StoryRecord {
            id: "01KB0000000000000000000000.alice".into(),
            author: "alice".into(),
            kind: if media { StoryKind::Image } else { StoryKind::Text },
            text: (!media).then(|| "two\nlines".into()),
            background: (!media).then(|| "#000000".into()),
            font: (!media).then_some(0),
            caption: media.then(|| "a\ncaption".into()),
            media: media.then(|| StoredMedia {
                etag: "\"a\"".into(),
                thumb_etag: "\"b\"".into(),
                width: 1080,
                height: 810,
            }),
            created_at: at,
            expires_at: at + chrono::Duration::hours(24),
            audience: Audience {
                mode: AudienceMode::Only,
                users: vec!["bob".into()],
            },
        }
    }

    #[test]
    fn a_record_is_its_card_then_the_rest() {
        for media in [false, true] {
            let story = stored_record(media);
            let stored = encode_record(&story).unwrap();
            let (card, rest) = stored.split_once('\n').unwrap();
            assert_eq!(card, StoryCard::of(&story).as_str());
            assert!(rest.contains("bob") && !card.contains("bob"), "the audience stays out of the card");
            assert_eq!(decode_record(&stored), Some((story.clone(), StoryCard::of(&story))));
            assert_eq!(card_of(stored), Some(StoryCard::of(&story)));
        }
    }

    #[test]
    fn a_gist_is_the_times_and_audience_of_a_record() {
        for media in [false, true] {
            let story = stored_record(media);
            let (gist, card) = decode_gist(encode_record(&story).unwrap()).unwrap();
            assert_eq!(
                (gist.created_ms, gist.expires_ms),
                (story.created_at.timestamp_millis(), story.expires_at.timestamp_millis())
            );
            assert_eq!((gist.audience, card), (story.audience.clone(), StoryCard::of(&story)));
        }
        assert!(decode_gist("{}\n{}".into()).is_none());
    }

    #[test]
    fn what_is_not_a_record_is_not_read() {
        // A record is its card, a line break, and the rest: a lone JSON object is not one.
        let lone = serde_json::to_string(&stored_record(true)).unwrap();
        assert_eq!(decode_record(&lone), None);
        assert_eq!(card_of(lone.clone()), None);
        assert!(decode_gist(lone).is_none());
        assert_eq!(decode_record("not a record"), None);
        assert_eq!(decode_record("{}\n{}"), None);
        assert_eq!(card_of("not a record".into()), None);
    }
}
