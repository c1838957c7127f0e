//! Stories in Redis: records, media, the author's live list, fan-out into trays, views,
//! reactions and reports. Every key of a story expires with it (PXAT = expires_at).

use super::{Batch, Store, decode};
use crate::error::{Error, Result};
use crate::stories::StoryRecord;
use crate::stories::feed::TrayEntry;
use redis::Script;
use std::collections::HashSet;
use std::sync::LazyLock;

static FAN_OUT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/fan_out.lua")));
/// Viewers per run of the fan-out script on a single Redis (about 0.2 ms of server time).
const FAN_OUT_VIEWERS_PER_RUN: usize = 200;
/// Expired entries at the head of a tray that a read trims (fewer are left for posting to trim).
const TRIM_ON_READ_AT: usize = 16;
static CLAIM_LIVE_SLOT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/claim_live_slot.lua")));

/// Image bytes to store with a story.
pub struct MediaBytes {
    pub full: Vec<u8>,
    pub thumb: Vec<u8>,
}

/// Which rendition of a story's image.
#[derive(Debug, Clone, Copy)]
pub enum Rendition {
    Full,
    Thumb,
}

/// The answers of [`Store::add_visibility_checks`]: (in the tray, each other's contacts).
fn visibility(answers: Vec<redis::Value>) -> Result<(bool, bool)> {
    let [position, mine, theirs]: [redis::Value; 3] = answers
        .try_into()
        .map_err(|_| Error::Internal("visibility checks: three answers expected".into()))?;
    let position: Option<i64> = decode(position)?;
    Ok((position.is_some(), decode::<bool>(mine)? && decode::<bool>(theirs)?))
}

/// A story's entry in a viewer's tray: "<expires_at ms> <author>/<story id>".
fn tray_entry(story: &StoryRecord) -> String {
    tray_entry_of(ms(story.expires_at), &story.author, &story.id)
}

fn tray_entry_of(expires_ms: i64, author: &str, id: &str) -> String {
    format!("{expires_ms} {author}/{id}")
}

/// A tray entry as stored, borrowed from its line.
struct StoredTrayEntry<'a> {
    author: &'a str,
    story_id: &'a str,
    created_ms: i64,
    expires_ms: i64,
}

/// Parses "<expires_at ms> <author>/<story id>".
fn parse_tray_entry(line: &str) -> Option<StoredTrayEntry<'_>> {
    let (expires, member) = line.split_once(' ')?;
    let (author, story_id) = member.split_once('/')?;
    let created_ms = crate::ids::created_ms(story_id);
    Some(StoredTrayEntry {
        author,
        story_id,
        created_ms,
        expires_ms: expires.parse().ok()?,
    })
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// Sets a key's expiry to `at_ms` unless it already lives longer: Redis 7's NX and GT together.
fn extend_expiry(batch: &mut Batch, key: &str, at_ms: i64) {
    batch.add(key, redis::cmd("PEXPIREAT").arg(key).arg(at_ms).arg("NX").clone());
    batch.add(key, redis::cmd("PEXPIREAT").arg(key).arg(at_ms).arg("GT").clone());
}

impl Store {
    /// Writes the story record and its media, each with the story's expiry.
    pub async fn put_story(&self, story: &StoryRecord, media: Option<&MediaBytes>) -> Result<()> {
        let json = serde_json::to_string(story).map_err(|e| Error::Internal(e.to_string()))?;
        let at = ms(story.expires_at);
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("SET")
            .arg(self.keys.story(&story.id))
            .arg(json)
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

    /// Puts the story into the tray of each viewer in `viewers` whose contact list holds the author
    /// right now (the mutual-contacts rule at posting time). Returns the viewers reached.
    pub async fn fan_out(&self, story: &StoryRecord, viewers: &[String], now_ms: i64) -> Result<Vec<String>> {
        // A script's keys must share a slot on a cluster: one viewer per run there; on a single
        // Redis, runs short enough not to hold the server up for long.
        let per_run = if self.is_cluster() { 1 } else { FAN_OUT_VIEWERS_PER_RUN };
        let entry = tray_entry(story);
        let mut batch = Batch::new();
        for chunk in viewers.chunks(per_run) {
            let keys: Vec<String> = chunk.iter().flat_map(|v| [self.keys.contacts(v), self.keys.tray(v)]).collect();
            batch.add_script(&FAN_OUT, &keys, (&story.author, &entry, ms(story.expires_at), now_ms));
        }
        let flags = self.batch(batch).await?;
        let mut reached = Vec::new();
        for (chunk, flags) in viewers.chunks(per_run).zip(flags) {
            let flags: Vec<u8> = decode(flags)?;
            reached.extend(chunk.iter().zip(flags).filter(|(_, f)| *f == b'1').map(|(v, _)| v.clone()));
        }
        Ok(reached)
    }

    /// The viewer's live tray, with what the viewer muted and has seen: one pipeline on the
    /// viewer's slot. Not yet filtered by contact lists; [`Store::stories_and_mutuality`] checks
    /// both directions for the authors of a page.
    pub async fn tray(&self, viewer: &str, now_ms: i64) -> Result<Vec<TrayEntry>> {
        let (tray, seen) = (self.keys.tray(viewer), self.keys.seen(viewer));
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE").arg(&seen).arg("-inf").arg(now_ms).ignore();
        pipe.cmd("LRANGE").arg(&tray).arg(0).arg(-1);
        pipe.cmd("SMEMBERS").arg(self.keys.muted(viewer));
        pipe.cmd("ZRANGE").arg(&seen).arg(format!("({now_ms}")).arg("+inf").arg("BYSCORE");
        let (lines, muted, seen): (Vec<String>, HashSet<String>, HashSet<String>) = self.pipe(&pipe).await?;
        let mut listed = HashSet::with_capacity(lines.len());
        let mut entries = Vec::with_capacity(lines.len());
        let mut expired_at_head = 0;
        for line in &lines {
            match parse_tray_entry(line).filter(|e| e.expires_ms > now_ms) {
                None if entries.is_empty() => expired_at_head += 1,
                None => {}
                // A fan-out repeated after a script-cache miss may have appended an entry twice.
                Some(e) if !listed.insert(e.story_id) => {}
                Some(e) => entries.push(TrayEntry {
                    author: e.author.to_owned(),
                    story_id: e.story_id.to_owned(),
                    created_ms: e.created_ms,
                    expires_ms: e.expires_ms,
                    seen: seen.contains(e.story_id),
                    muted: muted.contains(e.author),
                }),
            }
        }
        // Entries are in posting order, so expired ones gather at the head; posting trims them
        // too, so only a long run is worth a round trip here.
        if expired_at_head >= TRIM_ON_READ_AT {
            self.query::<()>(redis::cmd("LTRIM").arg(&tray).arg(expired_at_head).arg(-1))
                .await?;
        }
        Ok(entries)
    }

    /// Story records by id (None for missing), and for each author in `authors` whether author
    /// and `viewer` are still each other's contacts — in one batch.
    pub async fn stories_and_mutuality(
        &self,
        ids: &[String],
        authors: &[String],
        viewer: &str,
    ) -> Result<(Vec<Option<StoryRecord>>, Vec<bool>)> {
        let mut batch = Batch::new();
        for id in ids {
            let key = self.keys.story(id);
            batch.add(&key, redis::cmd("GET").arg(&key).clone());
        }
        for author in authors {
            let key = self.keys.contacts(author);
            batch.add(&key, redis::cmd("SISMEMBER").arg(&key).arg(viewer).clone());
        }
        let mine = self.keys.contacts(viewer);
        if !authors.is_empty() {
            batch.add(&mine, redis::cmd("SMISMEMBER").arg(&mine).arg(authors).clone());
        }
        let mut values = self.batch(batch).await?;
        let mut answers = values.split_off(ids.len());
        let in_mine: Vec<bool> = match answers.pop() {
            Some(v) if !authors.is_empty() => decode(v)?,
            _ => Vec::new(),
        };
        let theirs = answers.into_iter().map(decode).collect::<Result<Vec<bool>>>()?;
        let mutual = theirs.into_iter().zip(in_mine).map(|(t, m)| t && m).collect();
        let stories = values
            .into_iter()
            .map(|v| decode::<Option<String>>(v).map(|raw| raw.and_then(|json| serde_json::from_str(&json).ok())))
            .collect::<Result<_>>()?;
        Ok((stories, mutual))
    }

    /// The story, and whether `viewer` may see it as far as fan-out and contacts go: the story
    /// reached the viewer's tray when it was posted, and viewer and author are each other's
    /// contacts now (`false` for the author's own). One round trip when the id names its author:
    /// the tray entry is guessed from the id's time and the usual lifetime, and looked up again in
    /// the rare case the record says otherwise. Two for ids without an author.
    pub async fn story_for_viewer(&self, viewer: &str, id: &str) -> Result<Option<(StoryRecord, bool)>> {
        let Some((author, created_ms)) = crate::ids::story_id_parts(id).filter(|(author, _)| *author != viewer) else {
            let Some(story) = self.story(id).await? else {
                return Ok(None);
            };
            if story.author == viewer {
                return Ok(Some((story, false)));
            }
            let mut batch = Batch::new();
            self.add_visibility_checks(&mut batch, viewer, &story.author, &tray_entry(&story));
            let (in_tray, mutual) = visibility(self.batch(batch).await?)?;
            return Ok(Some((story, in_tray && mutual)));
        };
        let guess = tray_entry_of(created_ms + self.story_ttl_ms, author, id);
        let mut batch = Batch::new();
        let key = self.keys.story(id);
        batch.add(&key, redis::cmd("GET").arg(&key).clone());
        self.add_visibility_checks(&mut batch, viewer, author, &guess);
        let mut answers = self.batch(batch).await?;
        let checks = answers.split_off(1);
        let raw: Option<String> = decode(answers.pop().unwrap_or(redis::Value::Nil))?;
        let Some(story) = raw.and_then(|json| serde_json::from_str::<StoryRecord>(&json).ok()) else {
            return Ok(None);
        };
        let (guessed_in_tray, mutual) = visibility(checks)?;
        if story.author != author {
            return Ok(Some((story, false)));
        }
        let entry = tray_entry(&story);
        let in_tray = if entry == guess {
            guessed_in_tray
        } else {
            let found: Option<i64> = self.query(&self.tray_position(viewer, &entry)).await?;
            found.is_some()
        };
        Ok(Some((story, in_tray && mutual)))
    }

    /// Adds the checks that [`visibility`] reads: `entry` in the viewer's tray, the author in the
    /// viewer's contacts, the viewer in the author's.
    fn add_visibility_checks(&self, batch: &mut Batch, viewer: &str, author: &str, entry: &str) {
        batch.add(&self.keys.tray(viewer), self.tray_position(viewer, entry));
        let mine = self.keys.contacts(viewer);
        batch.add(&mine, redis::cmd("SISMEMBER").arg(&mine).arg(author).clone());
        let theirs = self.keys.contacts(author);
        batch.add(&theirs, redis::cmd("SISMEMBER").arg(&theirs).arg(viewer).clone());
    }

    /// Where `entry` is in the viewer's tray, searched from the tail, where recent stories are.
    fn tray_position(&self, viewer: &str, entry: &str) -> redis::Cmd {
        redis::cmd("LPOS")
            .arg(self.keys.tray(viewer))
            .arg(entry)
            .arg("RANK")
            .arg(-1)
            .clone()
    }

    pub async fn story(&self, id: &str) -> Result<Option<StoryRecord>> {
        let raw: Option<String> = self.query(redis::cmd("GET").arg(self.keys.story(id))).await?;
        Ok(raw.and_then(|json| serde_json::from_str(&json).ok()))
    }

    pub async fn media(&self, id: &str, which: Rendition) -> Result<Option<Vec<u8>>> {
        let key = match which {
            Rendition::Full => self.keys.story_media(id),
            Rendition::Thumb => self.keys.story_thumb(id),
        };
        self.query(redis::cmd("GET").arg(key)).await
    }

    /// Records that `viewer` saw the story: in the viewer's seen set always, in the story's viewer
    /// list only when `listed` (read receipts on). Idempotent: the first view time is kept.
    pub async fn record_view(&self, story: &StoryRecord, viewer: &str, now_ms: i64, listed: bool) -> Result<()> {
        let at = ms(story.expires_at);
        let mut batch = Batch::new();
        for key in [self.keys.seen(viewer), self.keys.touched(viewer)] {
            batch.add(&key, redis::cmd("ZADD").arg(&key).arg(at).arg(&story.id).clone());
            extend_expiry(&mut batch, &key, at);
        }
        if listed {
            let views = self.keys.story_views(&story.id);
            batch.add(&views, redis::cmd("ZADD").arg(&views).arg("NX").arg(now_ms).arg(viewer).clone());
            batch.add(&views, redis::cmd("PEXPIREAT").arg(&views).arg(at).clone());
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
        batch.add(&key, redis::cmd("HSET").arg(&key).arg(reporter).arg(reason).clone());
        batch.add(&key, redis::cmd("PEXPIREAT").arg(&key).arg(at).clone());
        batch.add(&touched, redis::cmd("ZADD").arg(&touched).arg(at).arg(&story.id).clone());
        extend_expiry(&mut batch, &touched, at);
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
            batch.add(&views, redis::cmd("ZCARD").arg(&views).clone());
            let reactions = self.keys.story_reactions(id);
            batch.add(&reactions, redis::cmd("HLEN").arg(&reactions).clone());
        }
        let values = self.batch(batch).await?;
        values
            .chunks_exact(2)
            .map(|c| Ok((decode(c[0].clone())?, decode(c[1].clone())?)))
            .collect()
    }

    /// Deletes a story and everything under its tag, and removes it from its author's list.
    /// Trays are not touched: their entries point at a record that no longer exists.
    pub async fn delete_story(&self, author: &str, id: &str) -> Result<()> {
        let mut batch = Batch::new();
        let authored = self.keys.authored(author);
        batch.add(&authored, redis::cmd("ZSCORE").arg(&authored).arg(id).clone());
        batch.add(&authored, redis::cmd("ZREM").arg(&authored).arg(id).clone());
        let keys = self.keys.all_of_story(id);
        batch.add(&keys[0], redis::cmd("DEL").arg(&keys[..]).clone());
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
            batch.add(&views, redis::cmd("ZREM").arg(&views).arg(user).clone());
            let reactions = self.keys.story_reactions(id);
            batch.add(&reactions, redis::cmd("HDEL").arg(&reactions).arg(user).clone());
            let reports = self.keys.story_reports(id);
            batch.add(&reports, redis::cmd("HDEL").arg(&reports).arg(user).clone());
        }
        self.batch(batch).await.map(drop)
    }
}
