//! Stories in Redis: records, media, the author's live list, fan-out into trays, views,
//! reactions and reports. Every key of a story expires with it (PXAT = expires_at).

use super::users::listed_now_and_at;
use super::{Batch, Store, decode};
use crate::error::{Error, Result};
use crate::media::ImageSize;
use crate::stories::{StoredMedia, Story, StoryCard, StoryRecord};
use crate::users::Audience;
use redis::Script;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

static CLAIM_LIVE_SLOT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/claim_live_slot.lua")));

/// Image bytes to store with a story.
pub struct MediaBytes {
    pub full: Vec<u8>,
    pub thumb: Vec<u8>,
}

/// What a record holds besides its card: only statusd reads it.
#[derive(Serialize, Deserialize)]
struct Private {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media: Option<StoredMedia>,
    audience: Audience,
}

/// Whether a story posted at `posted_ms` to `audience` may be seen by `viewer`: the audience
/// admits them, and viewer and author are each other's contacts now and were then, as the answers
/// of [`Store::add_visibility_checks`] (both contact logs) tell.
fn visibility(answers: Vec<redis::Value>, viewer: &str, posted_ms: i64, audience: &Audience) -> Result<bool> {
    let [mine, theirs]: [redis::Value; 2] = answers
        .try_into()
        .map_err(|_| Error::Internal("visibility checks: two answers expected".into()))?;
    Ok(audience.admits(viewer) && listed_now_and_at(mine, posted_ms)? && listed_now_and_at(theirs, posted_ms)?)
}

/// A story record as stored: its card (what viewers are sent), a newline, then the rest as JSON
/// (the image's etags and size, the audience). JSON escapes every newline inside a string, so the
/// first one ends the card.
fn encode_record(story: &StoryRecord) -> Result<String> {
    let private = Private {
        media: story.media.clone(),
        audience: story.audience.clone(),
    };
    let private = serde_json::to_string(&private).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(format!("{}\n{private}", StoryCard::of(story).as_str()))
}

/// The record and its card; `None` if the value is not a record.
fn decode_record(raw: &str) -> Option<(StoryRecord, StoryCard)> {
    let (card, private) = raw.split_once('\n')?;
    let view: Story = serde_json::from_str(card).ok()?;
    let private: Private = serde_json::from_str(private).ok()?;
    let record = StoryRecord {
        id: view.id,
        author: view.author,
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
struct Gist {
    created_ms: i64,
    expires_ms: i64,
    audience: Audience,
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
fn decode_gist(raw: String) -> Option<(Gist, StoryCard)> {
    let end = raw.find('\n')?;
    let times: CardTimes = serde_json::from_str(&raw[..end]).ok()?;
    let private: Private = serde_json::from_str(&raw[end + 1..]).ok()?;
    let gist = Gist {
        created_ms: ms(times.created_at),
        expires_ms: ms(times.expires_at),
        audience: private.audience,
    };
    Some((gist, card_of(raw)?))
}

/// The card alone, as stored: no parsing.
fn card_of(mut raw: String) -> Option<StoryCard> {
    let end = raw.find('\n')?;
    raw.truncate(end);
    Some(StoryCard::from_stored(raw))
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

impl Store {
    /// Writes the story record and its media, each with the story's expiry.
    pub async fn put_story(&self, story: &StoryRecord, media: Option<&MediaBytes>) -> Result<()> {
        let at = ms(story.expires_at);
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("SET")
            .arg(self.keys.story(&story.id))
            .arg(encode_record(story)?)
            .arg("PXAT")
            .arg(at)
            .ignore();
        if let Some(m) = media {
            pipe.cmd("SET")
                .arg(self.keys.story_media(&story.id))
                .arg(&m.full)
                .arg("PXAT")
                .arg(at)
                .ignore();
            pipe.cmd("SET")
                .arg(self.keys.story_thumb(&story.id))
                .arg(&m.thumb)
                .arg("PXAT")
                .arg(at)
                .ignore();
        }
        self.pipe::<()>(&pipe).await
    }

    /// Adds the story to its author's live list; false when the author is at `max_live`.
    pub async fn claim_live_slot(&self, story: &StoryRecord, now_ms: i64, max_live: u32) -> Result<bool> {
        let mut conn = self.conn();
        let added: i64 = CLAIM_LIVE_SLOT
            .key(self.keys.authored(&story.author))
            .arg(now_ms)
            .arg(&story.id)
            .arg(ms(story.expires_at))
            .arg(max_live)
            .invoke_async(&mut conn)
            .await?;
        if added == 1 {
            self.count_live_quietly(ms(story.expires_at), 1).await;
        }
        Ok(added == 1)
    }

    /// The author's live story ids, oldest first.
    pub async fn authored(&self, author: &str, now_ms: i64) -> Result<Vec<String>> {
        let key = self.keys.authored(author);
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE").arg(&key).arg("-inf").arg(now_ms).ignore();
        pipe.cmd("ZRANGE").arg(&key).arg(format!("({now_ms}")).arg("+inf").arg("BYSCORE");
        let (ids,): (Vec<String>,) = self.pipe(&pipe).await?;
        Ok(ids)
    }

    /// Story records by id (None for missing), in one batch.
    pub async fn stories(&self, ids: &[&str]) -> Result<Vec<Option<StoryRecord>>> {
        self.records(ids, |raw| decode_record(&raw).map(|(record, _)| record)).await
    }

    /// Story cards by id (None for missing), in one batch: what a feed page needs, without
    /// parsing a record.
    pub async fn cards(&self, ids: &[&str]) -> Result<Vec<Option<StoryCard>>> {
        self.records(ids, card_of).await
    }

    async fn records<T>(&self, ids: &[&str], read: impl Fn(String) -> Option<T>) -> Result<Vec<Option<T>>> {
        let mut batch = Batch::new();
        for id in ids {
            batch.get(self.keys.story(id));
        }
        self.batch(batch)
            .await?
            .into_iter()
            .map(|v| decode::<Option<String>>(v).map(|raw| raw.and_then(&read)))
            .collect()
    }

    /// The story (its record and card), and whether `viewer` may see it as far as contacts and
    /// audience go (`false` for the author's own), in one round trip: the id names its author.
    pub async fn story_for_viewer(&self, viewer: &str, id: &str) -> Result<Option<(StoryRecord, StoryCard, bool)>> {
        let Some((author, _)) = crate::ids::story_id_parts(id) else {
            return Ok(None);
        };
        if author == viewer {
            // One's own story: no contact logs to ask.
            return Ok(self
                .story(id)
                .await?
                .filter(|(s, _)| s.author == author)
                .map(|(s, c)| (s, c, false)));
        }
        let (raw, checks) = self.raw_story_with_checks(viewer, author, id).await?;
        let Some((story, card)) = raw.as_deref().and_then(decode_record).filter(|(s, _)| s.author == author) else {
            return Ok(None);
        };
        let may_view = visibility(checks, viewer, ms(story.created_at), &story.audience)?;
        Ok(Some((story, card, may_view)))
    }

    /// The card of story `id` by `author` (whom the id names), if `viewer`, someone else, may see
    /// it now: what a read by id sends them, decided without parsing the whole record.
    pub async fn card_for_viewer(&self, viewer: &str, author: &str, id: &str, now_ms: i64) -> Result<Option<StoryCard>> {
        let (raw, checks) = self.raw_story_with_checks(viewer, author, id).await?;
        let Some((gist, card)) = raw.and_then(decode_gist) else {
            return Ok(None);
        };
        let may_view = card.is_of(id, author) && gist.expires_ms > now_ms && visibility(checks, viewer, gist.created_ms, &gist.audience)?;
        Ok(may_view.then_some(card))
    }

    /// The stored record of story `id` and the answers of the visibility checks between `viewer`
    /// and `author`, in one round trip.
    async fn raw_story_with_checks(&self, viewer: &str, author: &str, id: &str) -> Result<(Option<String>, Vec<redis::Value>)> {
        let mut batch = Batch::new();
        batch.get(self.keys.story(id));
        self.add_visibility_checks(&mut batch, viewer, author);
        let mut answers = self.batch(batch).await?;
        let checks = answers.split_off(1);
        Ok((decode(answers.pop().unwrap_or(redis::Value::Nil))?, checks))
    }

    /// Adds the reads [`Store::visibility`] needs: each one's log of contact changes about the
    /// other.
    fn add_visibility_checks(&self, batch: &mut Batch, viewer: &str, author: &str) {
        self.add_contact_log_read(batch, viewer, author);
        self.add_contact_log_read(batch, author, viewer);
    }

    /// The story's record and card.
    pub async fn story(&self, id: &str) -> Result<Option<(StoryRecord, StoryCard)>> {
        let raw: Option<String> = self.query(redis::cmd("GET").arg(self.keys.story(id))).await?;
        Ok(raw.as_deref().and_then(decode_record))
    }

    pub async fn media(&self, id: &str, which: ImageSize) -> Result<Option<Vec<u8>>> {
        let key = match which {
            ImageSize::Full => self.keys.story_media(id),
            ImageSize::Thumb => self.keys.story_thumb(id),
        };
        self.query(redis::cmd("GET").arg(key)).await
    }

    /// Records that `viewer` saw the story: in the viewer's seen set always, in the story's viewer
    /// list only when `listed` (read receipts on). Idempotent: the first view time is kept.
    pub async fn record_view(&self, story: &StoryRecord, viewer: &str, now_ms: i64, listed: bool) -> Result<()> {
        let at = ms(story.expires_at);
        let mut batch = Batch::new();
        for key in [self.keys.seen(viewer), self.keys.touched(viewer)] {
            batch.cmd(&key, "ZREMRANGEBYSCORE").arg(&key).arg("-inf").arg(now_ms);
            batch.cmd(&key, "ZADD").arg(&key).arg(at).arg(&story.id);
            batch.extend_expiry(&key, at);
        }
        self.add_seen_in_tray(&mut batch, viewer, story, now_ms);
        if listed {
            let views = self.keys.story_views(&story.id);
            batch.cmd(&views, "ZADD").arg(&views).arg("NX").arg(now_ms).arg(viewer);
            batch.cmd(&views, "PEXPIREAT").arg(&views).arg(at);
        }
        self.batch(batch).await.map(drop)
    }

    pub async fn set_reaction(&self, story: &StoryRecord, viewer: &str, emoji: &str) -> Result<()> {
        let key = self.keys.story_reactions(&story.id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(&key, viewer, emoji)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(ms(story.expires_at))
            .ignore();
        self.pipe::<()>(&pipe).await
    }

    pub async fn add_report(&self, story: &StoryRecord, reporter: &str, reason: &str) -> Result<()> {
        let at = ms(story.expires_at);
        let key = self.keys.story_reports(&story.id);
        let touched = self.keys.touched(reporter);
        let mut batch = Batch::new();
        batch.cmd(&key, "HSET").arg(&key).arg(reporter).arg(reason);
        batch.cmd(&key, "PEXPIREAT").arg(&key).arg(at);
        batch.cmd(&touched, "ZADD").arg(&touched).arg(at).arg(&story.id);
        batch.extend_expiry(&touched, at);
        self.batch(batch).await.map(drop)
    }

    /// One page of a story's viewers, most recent first: (viewer, viewed_at ms, reaction).
    pub async fn viewers(&self, story: &str, offset: usize, limit: usize) -> Result<Vec<(String, i64, Option<String>)>> {
        let key = self.keys.story_views(story);
        let stop = (offset + limit) as i64 - 1;
        let page: Vec<(String, f64)> = self
            .query(redis::cmd("ZRANGE").arg(&key).arg(offset).arg(stop).arg("REV").arg("WITHSCORES"))
            .await?;
        if page.is_empty() {
            return Ok(Vec::new());
        }
        let users: Vec<&str> = page.iter().map(|(u, _)| u.as_str()).collect();
        let reactions: Vec<Option<String>> = self
            .query(redis::cmd("HMGET").arg(self.keys.story_reactions(story)).arg(&users))
            .await?;
        Ok(page.into_iter().zip(reactions).map(|((u, at), r)| (u, at as i64, r)).collect())
    }

    /// (view count, reaction count) per story.
    pub async fn story_counts(&self, ids: &[String]) -> Result<Vec<(u64, u64)>> {
        let mut batch = Batch::new();
        for id in ids {
            let views = self.keys.story_views(id);
            batch.cmd(&views, "ZCARD").arg(&views);
            let reactions = self.keys.story_reactions(id);
            batch.cmd(&reactions, "HLEN").arg(&reactions);
        }
        let values = self.batch(batch).await?;
        values
            .chunks_exact(2)
            .map(|c| Ok((decode(c[0].clone())?, decode(c[1].clone())?)))
            .collect()
    }

    /// Deletes a story and everything under its tag, and removes it from its author's list.
    /// Trays are not touched: the feed page that finds the record gone takes it out of the
    /// viewer's tray index (see `services::feed`).
    pub async fn delete_story(&self, author: &str, id: &str) -> Result<()> {
        let mut batch = Batch::new();
        let authored = self.keys.authored(author);
        batch.cmd(&authored, "ZSCORE").arg(&authored).arg(id);
        batch.cmd(&authored, "ZREM").arg(&authored).arg(id);
        let keys = self.keys.all_of_story(id);
        batch.cmd(&keys[0], "DEL").arg(&keys[..]);
        let values = self.batch(batch).await?;
        // Only the request that took the story off its author's list uncounts it.
        let expires: Option<f64> = decode(values[0].clone())?;
        let removed: i64 = decode(values[1].clone())?;
        if let (Some(expires), 1) = (expires, removed) {
            self.count_live_quietly(expires as i64, -1).await;
        }
        Ok(())
    }

    /// The live-story count is for the operator's gauge: a failure to update it never fails the
    /// request it belongs to.
    async fn count_live_quietly(&self, expires_ms: i64, delta: i64) {
        if let Err(e) = self.count_live(expires_ms, delta).await {
            tracing::debug!(error = %e, "live story count not updated");
        }
    }

    /// The stories a user viewed, reacted to or reported (still live).
    pub async fn touched(&self, user: &str, now_ms: i64) -> Result<Vec<String>> {
        self.query(
            redis::cmd("ZRANGE")
                .arg(self.keys.touched(user))
                .arg(format!("({now_ms}"))
                .arg("+inf")
                .arg("BYSCORE"),
        )
        .await
    }

    /// Removes a user's view, reaction and report from each of `stories`.
    pub async fn forget_viewer(&self, user: &str, stories: &[String]) -> Result<()> {
        let mut batch = Batch::new();
        for id in stories {
            let views = self.keys.story_views(id);
            batch.cmd(&views, "ZREM").arg(&views).arg(user);
            let reactions = self.keys.story_reactions(id);
            batch.cmd(&reactions, "HDEL").arg(&reactions).arg(user);
            let reports = self.keys.story_reports(id);
            batch.cmd(&reports, "HDEL").arg(&reports).arg(user);
        }
        self.batch(batch).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stories::StoryKind;
    use crate::users::AudienceMode;

    fn record(media: bool) -> StoryRecord {
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
            let story = record(media);
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
            let story = record(media);
            let (gist, card) = decode_gist(encode_record(&story).unwrap()).unwrap();
            assert_eq!((gist.created_ms, gist.expires_ms), (ms(story.created_at), ms(story.expires_at)));
            assert_eq!((gist.audience, card), (story.audience.clone(), StoryCard::of(&story)));
        }
        assert!(decode_gist("{}\n{}".into()).is_none());
    }

    #[test]
    fn what_is_not_a_record_is_not_read() {
        // A record is its card, a line break, and the rest: a lone JSON object is not one.
        let lone = serde_json::to_string(&record(true)).unwrap();
        assert_eq!(decode_record(&lone), None);
        assert_eq!(card_of(lone.clone()), None);
        assert!(decode_gist(lone).is_none());
        assert_eq!(decode_record("not a record"), None);
        assert_eq!(decode_record("{}\n{}"), None);
        assert_eq!(card_of("not a record".into()), None);
    }
}
