//! Stories in Redis: records, media, the author's live list, fan-out into trays, views,
//! reactions and reports. Every key of a story expires with it (PXAT = expires_at).

use super::users::contact_log;
use super::{Batch, Store, decode};
use crate::error::{Error, Result};
use crate::ids::{StoryId, UserId};
use crate::media::ImageSize;
use crate::stories::wire::{card_of, decode_gist, decode_record, encode_record};
use crate::stories::{StoryCard, StoryRecord};
use crate::users::Audience;
use redis::Script;
use std::sync::LazyLock;

static CLAIM_LIVE_SLOT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/claim_live_slot.lua")));

/// Image bytes to store with a story.
pub struct MediaBytes {
    pub full: Vec<u8>,
    pub thumb: Vec<u8>,
}

/// Whether `viewer` may see a story posted at `posted_ms` to `audience` (the rule is
/// `stories::may_see`), from the answers of [`Store::add_visibility_checks`]: both contact logs.
fn visibility(answers: Vec<redis::Value>, viewer: &UserId, posted_ms: i64, audience: &Audience) -> Result<bool> {
    let [mine, theirs]: [redis::Value; 2] = answers
        .try_into()
        .map_err(|_| Error::Internal("visibility checks: two answers expected".into()))?;
    Ok(crate::stories::may_see(
        audience,
        viewer,
        posted_ms,
        &contact_log(mine)?,
        &contact_log(theirs)?,
    ))
}

/// Story ids as a sorted set of the store holds them (every member was a parsed id).
fn story_ids(stored: Vec<String>) -> Vec<StoryId> {
    stored.iter().filter_map(|id| StoryId::parse(id)).collect()
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
            .arg(self.keys.story(story.id.as_str()))
            .arg(encode_record(story)?)
            .arg("PXAT")
            .arg(at)
            .ignore();
        if let Some(m) = media {
            pipe.cmd("SET")
                .arg(self.keys.story_media(story.id.as_str()))
                .arg(&m.full)
                .arg("PXAT")
                .arg(at)
                .ignore();
            pipe.cmd("SET")
                .arg(self.keys.story_thumb(story.id.as_str()))
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
            .key(self.keys.authored(story.author.as_str()))
            .arg(now_ms)
            .arg(story.id.as_str())
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
    pub async fn live_story_ids(&self, author: &UserId, now_ms: i64) -> Result<Vec<StoryId>> {
        let key = self.keys.authored(author.as_str());
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE").arg(&key).arg("-inf").arg(now_ms).ignore();
        pipe.cmd("ZRANGE").arg(&key).arg(format!("({now_ms}")).arg("+inf").arg("BYSCORE");
        let (ids,): (Vec<String>,) = self.pipe(&pipe).await?;
        Ok(story_ids(ids))
    }

    /// Story records by id (None for missing), in one batch.
    pub async fn stories(&self, ids: &[&StoryId]) -> Result<Vec<Option<StoryRecord>>> {
        self.records(ids, |raw| decode_record(&raw).map(|(record, _)| record)).await
    }

    /// Story cards by id (None for missing), in one batch: what a feed page needs, without
    /// parsing a record.
    pub async fn cards(&self, ids: &[&StoryId]) -> Result<Vec<Option<StoryCard>>> {
        self.records(ids, card_of).await
    }

    async fn records<T>(&self, ids: &[&StoryId], read: impl Fn(String) -> Option<T>) -> Result<Vec<Option<T>>> {
        let mut batch = Batch::new();
        for id in ids {
            batch.get(self.keys.story(id.as_str()));
        }
        self.batch(batch)
            .await?
            .into_iter()
            .map(|v| decode::<Option<String>>(v).map(|raw| raw.and_then(&read)))
            .collect()
    }

    /// The story (its record and card), and whether `viewer` may see it as far as contacts and
    /// audience go (`false` for the author's own), in one round trip: the id names its author.
    pub async fn story_for_viewer(&self, viewer: &UserId, id: &StoryId) -> Result<Option<(StoryRecord, StoryCard, bool)>> {
        let author = id.author();
        if author == *viewer {
            // One's own story: no contact logs to ask.
            return Ok(self
                .story(id)
                .await?
                .filter(|(s, _)| s.author == author)
                .map(|(s, c)| (s, c, false)));
        }
        let (raw, checks) = self.raw_story_with_checks(viewer, &author, id).await?;
        let Some((story, card)) = raw.as_deref().and_then(decode_record).filter(|(s, _)| s.author == author) else {
            return Ok(None);
        };
        let may_view = visibility(checks, viewer, ms(story.created_at), &story.audience)?;
        Ok(Some((story, card, may_view)))
    }

    /// The card of story `id` by `author` (whom the id names), if `viewer`, someone else, may see
    /// it now: what a read by id sends them, decided without parsing the whole record.
    pub async fn card_for_viewer(&self, viewer: &UserId, id: &StoryId, now_ms: i64) -> Result<Option<StoryCard>> {
        let (raw, checks) = self.raw_story_with_checks(viewer, &id.author(), id).await?;
        let Some((gist, card)) = raw.and_then(decode_gist) else {
            return Ok(None);
        };
        let may_view = card.is_of(id) && gist.expires_ms > now_ms && visibility(checks, viewer, gist.created_ms, &gist.audience)?;
        Ok(may_view.then_some(card))
    }

    /// The stored record of story `id` and the answers of the visibility checks between `viewer`
    /// and `author`, in one round trip.
    async fn raw_story_with_checks(&self, viewer: &UserId, author: &UserId, id: &StoryId) -> Result<(Option<String>, Vec<redis::Value>)> {
        let mut batch = Batch::new();
        batch.get(self.keys.story(id.as_str()));
        self.add_visibility_checks(&mut batch, viewer, author);
        let mut answers = self.batch(batch).await?;
        let checks = answers.split_off(1);
        Ok((decode(answers.pop().unwrap_or(redis::Value::Nil))?, checks))
    }

    /// Adds the reads [`Store::visibility`] needs: each one's log of contact changes about the
    /// other.
    fn add_visibility_checks(&self, batch: &mut Batch, viewer: &UserId, author: &UserId) {
        self.add_contact_log_read(batch, viewer, author);
        self.add_contact_log_read(batch, author, viewer);
    }

    /// The story's record and card.
    pub async fn story(&self, id: &StoryId) -> Result<Option<(StoryRecord, StoryCard)>> {
        let raw: Option<String> = self.query(redis::cmd("GET").arg(self.keys.story(id.as_str()))).await?;
        Ok(raw.as_deref().and_then(decode_record))
    }

    pub async fn media(&self, id: &StoryId, which: ImageSize) -> Result<Option<Vec<u8>>> {
        let key = match which {
            ImageSize::Full => self.keys.story_media(id.as_str()),
            ImageSize::Thumb => self.keys.story_thumb(id.as_str()),
        };
        self.query(redis::cmd("GET").arg(key)).await
    }

    /// Records that `viewer` saw the story: in the viewer's seen set always, in the story's viewer
    /// list only when `listed` (read receipts on). Idempotent: the first view time is kept.
    pub async fn record_view(&self, story: &StoryRecord, viewer: &UserId, now_ms: i64, listed: bool) -> Result<()> {
        let at = ms(story.expires_at);
        let mut batch = Batch::new();
        for key in [self.keys.seen(viewer.as_str()), self.keys.touched(viewer.as_str())] {
            batch.cmd(&key, "ZREMRANGEBYSCORE").arg(&key).arg("-inf").arg(now_ms);
            batch.cmd(&key, "ZADD").arg(&key).arg(at).arg(story.id.as_str());
            batch.extend_expiry(&key, at);
        }
        self.add_seen_in_tray(&mut batch, viewer, story, now_ms);
        if listed {
            let views = self.keys.story_views(story.id.as_str());
            batch.cmd(&views, "ZADD").arg(&views).arg("NX").arg(now_ms).arg(viewer.as_str());
            batch.cmd(&views, "PEXPIREAT").arg(&views).arg(at);
        }
        self.batch(batch).await.map(drop)
    }

    pub async fn set_reaction(&self, story: &StoryRecord, viewer: &UserId, emoji: &str) -> Result<()> {
        let key = self.keys.story_reactions(story.id.as_str());
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(&key, viewer.as_str(), emoji)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(ms(story.expires_at))
            .ignore();
        self.pipe::<()>(&pipe).await
    }

    pub async fn add_report(&self, story: &StoryRecord, reporter: &UserId, reason: &str) -> Result<()> {
        let at = ms(story.expires_at);
        let key = self.keys.story_reports(story.id.as_str());
        let touched = self.keys.touched(reporter.as_str());
        let mut batch = Batch::new();
        batch.cmd(&key, "HSET").arg(&key).arg(reporter.as_str()).arg(reason);
        batch.cmd(&key, "PEXPIREAT").arg(&key).arg(at);
        batch.cmd(&touched, "ZADD").arg(&touched).arg(at).arg(story.id.as_str());
        batch.extend_expiry(&touched, at);
        self.batch(batch).await.map(drop)
    }

    /// One page of a story's viewers, most recent first: (viewer, viewed_at ms, reaction).
    pub async fn viewers(&self, story: &StoryId, offset: usize, limit: usize) -> Result<Vec<(UserId, i64, Option<String>)>> {
        let key = self.keys.story_views(story.as_str());
        let stop = (offset + limit) as i64 - 1;
        let page: Vec<(String, f64)> = self
            .query(redis::cmd("ZRANGE").arg(&key).arg(offset).arg(stop).arg("REV").arg("WITHSCORES"))
            .await?;
        if page.is_empty() {
            return Ok(Vec::new());
        }
        let users: Vec<&str> = page.iter().map(|(u, _)| u.as_str()).collect();
        let reactions: Vec<Option<String>> = self
            .query(redis::cmd("HMGET").arg(self.keys.story_reactions(story.as_str())).arg(&users))
            .await?;
        Ok(page
            .into_iter()
            .zip(reactions)
            .map(|((u, at), r)| (UserId::from_stored(u), at as i64, r))
            .collect())
    }

    /// (view count, reaction count) per story.
    pub async fn story_counts(&self, ids: &[StoryId]) -> Result<Vec<(u64, u64)>> {
        let mut batch = Batch::new();
        for id in ids {
            let views = self.keys.story_views(id.as_str());
            batch.cmd(&views, "ZCARD").arg(&views);
            let reactions = self.keys.story_reactions(id.as_str());
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
    pub async fn delete_story(&self, id: &StoryId) -> Result<()> {
        let mut batch = Batch::new();
        let authored = self.keys.authored(id.author().as_str());
        batch.cmd(&authored, "ZSCORE").arg(&authored).arg(id.as_str());
        batch.cmd(&authored, "ZREM").arg(&authored).arg(id.as_str());
        let keys = self.keys.all_of_story(id.as_str());
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
    pub async fn touched(&self, user: &UserId, now_ms: i64) -> Result<Vec<StoryId>> {
        let ids: Vec<String> = self
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.keys.touched(user.as_str()))
                    .arg(format!("({now_ms}"))
                    .arg("+inf")
                    .arg("BYSCORE"),
            )
            .await?;
        Ok(story_ids(ids))
    }

    /// Removes a user's view, reaction and report from each of `stories`.
    pub async fn forget_viewer(&self, user: &UserId, stories: &[StoryId]) -> Result<()> {
        let mut batch = Batch::new();
        for id in stories {
            let views = self.keys.story_views(id.as_str());
            batch.cmd(&views, "ZREM").arg(&views).arg(user.as_str());
            let reactions = self.keys.story_reactions(id.as_str());
            batch.cmd(&reactions, "HDEL").arg(&reactions).arg(user.as_str());
            let reports = self.keys.story_reports(id.as_str());
            batch.cmd(&reports, "HDEL").arg(&reports).arg(user.as_str());
        }
        self.batch(batch).await.map(drop)
    }
}
