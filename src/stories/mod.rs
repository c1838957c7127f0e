//! Stories: the record, what a client may post, who may see it. Plain Rust: no HTTP, no Redis.

pub mod feed;
pub mod wire;

pub use wire::StoryCard;

use crate::error::{Error, FieldError, Result};
use crate::ids::{StoryId, UserId};
use crate::users::{Audience, ContactLog};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::AsRefStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum StoryKind {
    Text,
    Image,
}

/// What is stored about an image: enough to serve it with the right headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMedia {
    pub etag: String,
    pub thumb_etag: String,
    pub width: u32,
    pub height: u32,
}

/// A story as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryRecord {
    pub id: StoryId,
    pub author: UserId,
    pub kind: StoryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<StoredMedia>,
    #[serde(with = "crate::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::timestamp")]
    pub expires_at: DateTime<Utc>,
    pub audience: Audience,
}

impl StoryRecord {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }

    /// Seconds left, rounded down: the longest a client may cache its media.
    pub fn seconds_left(&self, now: DateTime<Utc>) -> i64 {
        (self.expires_at - now).num_seconds().max(0)
    }

    /// The story as `caller` is shown it: `audience` only for its author, `None` for everyone else.
    pub fn shown_to(&self, caller: Option<&UserId>) -> Story {
        let media_url = self.media.as_ref().map(|_| format!("/v1/stories/{}/media", self.id));
        let thumb_url = self.media.as_ref().map(|_| format!("/v1/stories/{}/thumb", self.id));
        Story {
            id: self.id.to_string(),
            author: self.author.to_string(),
            kind: self.kind,
            text: self.text.clone(),
            background: self.background.clone(),
            font: self.font,
            caption: self.caption.clone(),
            media_url,
            thumb_url,
            created_at: self.created_at,
            expires_at: self.expires_at,
            audience: (Some(&self.author) == caller).then(|| self.audience.clone()),
            seen: None,
            view_count: None,
            reaction_count: None,
        }
    }
}

/// Who may see a story posted at `posted_ms` to `audience`: the audience admits the viewer, and
/// viewer and author each have the other on their contact list now and had when it was posted,
/// as their logs of changes about each other tell (the viewer's, then the author's).
pub fn may_see(audience: &Audience, viewer: &UserId, posted_ms: i64, viewer_log: &ContactLog, author_log: &ContactLog) -> bool {
    audience.admits(viewer) && viewer_log.listed_now_and_at(posted_ms) && author_log.listed_now_and_at(posted_ms)
}

/// A story as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Story {
    pub id: String,
    pub author: String,
    pub kind: StoryKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub font: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
    #[serde(with = "crate::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::timestamp")]
    pub expires_at: DateTime<Utc>,
    /// Shown to the author only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<Audience>,
    /// In the feed: whether the caller has viewed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<bool>,
    /// In `GET /v1/me/stories`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_count: Option<u64>,
    /// In `GET /v1/me/stories`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaction_count: Option<u64>,
}

/// `POST /v1/stories` with a JSON body: a text story.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTextStory {
    /// 1–700 characters.
    pub text: String,
    /// `#RRGGBB`; default `#000000`.
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    pub background: Option<String>,
    /// 0–7; default 0.
    #[schema(minimum = 0, maximum = 7)]
    pub font: Option<u8>,
    /// Default: the author's `default_audience`.
    pub audience: Option<Audience>,
}

/// What every new story, text or image, carries before it is stored.
#[derive(Debug, Clone)]
pub struct StoryDraft {
    pub kind: StoryKind,
    pub text: Option<String>,
    pub background: Option<String>,
    pub font: Option<u8>,
    pub caption: Option<String>,
    pub audience: Option<Audience>,
}

pub const DEFAULT_BACKGROUND: &str = "#000000";
pub const MAX_FONT: u8 = 7;

impl NewTextStory {
    pub fn parse(self, max_chars: usize) -> Result<StoryDraft> {
        let mut errors = Vec::new();
        let chars = self.text.chars().count();
        if chars == 0 || self.text.trim().is_empty() {
            errors.push(FieldError::new("text", "must not be empty"));
        } else if chars > max_chars {
            errors.push(FieldError::new("text", format!("at most {max_chars} characters")));
        }
        let background = self.background.unwrap_or_else(|| DEFAULT_BACKGROUND.into());
        if !is_hex_color(&background) {
            errors.push(FieldError::new("background", "expected a colour like #1A2B3C"));
        }
        let font = self.font.unwrap_or(0);
        if font > MAX_FONT {
            errors.push(FieldError::new("font", format!("expected 0-{MAX_FONT}")));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(StoryDraft {
            kind: StoryKind::Text,
            text: Some(self.text),
            background: Some(background.to_ascii_uppercase()),
            font: Some(font),
            caption: None,
            audience: self.audience,
        })
    }
}

/// Checks an image story's caption.
pub fn parse_caption(caption: Option<String>, max_chars: usize) -> Result<Option<String>> {
    match caption {
        Some(c) if c.chars().count() > max_chars => Err(Error::field("caption", format!("at most {max_chars} characters"))),
        Some(c) if c.is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn is_hex_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `POST /v1/stories/{id}/reactions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReaction {
    pub emoji: String,
}

/// `POST /v1/stories/{id}/report`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// 1–500 characters.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

pub const MAX_REPORT_REASON: usize = 500;

impl NewReport {
    pub fn parse(self) -> Result<String> {
        let n = self.reason.chars().count();
        if self.reason.trim().is_empty() || n > MAX_REPORT_REASON {
            return Err(Error::field("reason", format!("1-{MAX_REPORT_REASON} characters")));
        }
        Ok(self.reason)
    }
}

/// One entry of a story's viewer list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Viewer {
    pub user: String,
    pub viewed_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_story_is_seen_by_contacts_on_both_sides_then_and_now_whom_its_audience_admits() {
        use crate::users::AudienceMode;
        let everyone = Audience::default();
        let except_bob = Audience {
            mode: AudienceMode::ContactsExcept,
            users: vec!["bob".into()],
        };
        let listed_since = |ms: i64| ContactLog::default().record(ms, true, 0);
        let (posted, before, after) = (1_000, 500, 1_500);
        assert!(may_see(
            &everyone,
            &"bob".into(),
            posted,
            &listed_since(before),
            &listed_since(before)
        ));
        assert!(!may_see(
            &except_bob,
            &"bob".into(),
            posted,
            &listed_since(before),
            &listed_since(before)
        ));
        assert!(
            !may_see(&everyone, &"bob".into(), posted, &ContactLog::default(), &listed_since(before)),
            "no log: not listed"
        );
        assert!(
            !may_see(&everyone, &"bob".into(), posted, &listed_since(before), &listed_since(after)),
            "listed only after the post"
        );
        let taken_off = listed_since(before).record(after, false, 0);
        assert!(
            !may_see(&everyone, &"bob".into(), posted, &taken_off, &listed_since(before)),
            "not listed now"
        );
    }

    fn text(t: &str) -> NewTextStory {
        NewTextStory {
            text: t.into(),
            background: None,
            font: None,
            audience: None,
        }
    }

    #[test]
    fn text_story_limits() {
        assert!(text(&"é".repeat(700)).parse(700).is_ok());
        assert!(text(&"é".repeat(701)).parse(700).is_err());
        assert!(text("").parse(700).is_err());
        assert!(text("   ").parse(700).is_err());
        let bad = NewTextStory {
            text: "hi".into(),
            background: Some("red".into()),
            font: Some(8),
            audience: None,
        };
        match bad.parse(700) {
            Err(Error::Validation(e)) => assert_eq!(e.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
