//! Users in Redis: contacts, settings, muted authors, idempotency records.

use super::keys::Caller;
use super::{Batch, Store};
use crate::error::{Error, Result};
use crate::users::UserSettings;
use redis::Script;
use std::collections::HashSet;
use std::sync::LazyLock;

static IDEMPOTENCY_BEGIN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/idempotency_begin.lua")));
static RELEASE_LOCK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/release_lock.lua")));
/// How long a contact list lock lives at most: far longer than replacing 5,000 contacts takes,
/// short enough that a crashed replacement does not hold the list up for long.
const LOCK_MS: u64 = 10_000;
/// How often, and how far apart, a replacement tries to take the lock before answering 409.
const LOCK_ATTEMPTS: usize = 40;
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(25);

/// What an `Idempotency-Key` found.
#[derive(Debug, PartialEq)]
pub enum IdempotencyClaim {
    /// First use: this request goes ahead and must `finish` or `release` the key.
    Claimed,
    /// A request with this key is still running.
    InProgress,
    /// A request with this key already finished; this is what it answered.
    Done(String),
}

/// A user's settings as stored (the defaults when none are).
pub(crate) fn parse_settings(user: &str, raw: Option<String>) -> Result<UserSettings> {
    match raw {
        None => Ok(UserSettings::default()),
        Some(json) => serde_json::from_str(&json).map_err(|e| Error::Internal(format!("settings of {user}: {e}"))),
    }
}

const IN_PROGRESS: &str = "\u{0}in-progress";

impl Store {
    pub async fn contacts(&self, user: &str) -> Result<Vec<String>> {
        let mut list: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(self.keys.contacts(user))).await?;
        list.sort();
        Ok(list)
    }

    /// Replaces the contact list, one replacement of a list at a time (`Conflict` while another
    /// runs for longer than a moment). Each contact taken off the list is first marked, on their
    /// own slot, as removed by `user` (see `Keys::removed_by`), so that the stories of `user`
    /// already in their tray are hidden from them from then on; contacts put (back) on it are
    /// unmarked after. Should a step fail, the removed contacts see less, never more, and the next
    /// replacement finishes what this one left.
    pub async fn set_contacts(&self, user: &str, contacts: &[String], now_ms: i64) -> Result<()> {
        let lock = self.keys.contacts_lock(user);
        let token = crate::ids::random_id();
        self.acquire(&lock, &token).await?;
        let replaced = self.replace_contacts(user, contacts, now_ms).await;
        if let Err(e) = self.release(&lock, &token).await {
            // It expires by itself.
            tracing::debug!(error = %e, "contact list lock not released");
        }
        replaced
    }

    async fn replace_contacts(&self, user: &str, contacts: &[String], now_ms: i64) -> Result<()> {
        let (key, pending_key) = (self.keys.contacts(user), self.keys.contacts_pending(user));
        let mut pipe = redis::pipe();
        pipe.cmd("SMEMBERS").arg(&key).cmd("SMEMBERS").arg(&pending_key);
        let (old, pending): (HashSet<String>, HashSet<String>) = self.pipe(&pipe).await?;
        let new: HashSet<&str> = contacts.iter().map(String::as_str).collect();
        let to_mark: Vec<&str> = old.union(&pending).map(String::as_str).filter(|c| !new.contains(c)).collect();
        let to_unmark: Vec<&str> = new.iter().copied().filter(|c| !old.contains(*c) || pending.contains(*c)).collect();
        if !to_mark.is_empty() || !to_unmark.is_empty() {
            let mut pipe = redis::pipe();
            pipe.cmd("SADD").arg(&pending_key).arg(&to_mark).arg(&to_unmark).ignore();
            pipe.cmd("PEXPIRE").arg(&pending_key).arg(self.story_ttl_ms).ignore();
            self.pipe::<()>(&pipe).await?;
        }
        self.mark_removed(user, &to_mark, now_ms).await?;
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).ignore();
        if !contacts.is_empty() {
            pipe.sadd(&key, contacts).ignore();
        }
        self.pipe::<()>(&pipe).await?;
        self.unmark_removed(user, &to_unmark).await?;
        self.query(redis::cmd("DEL").arg(&pending_key)).await
    }

    /// Takes `lock` for `token`, waiting a little while another holds it.
    async fn acquire(&self, lock: &str, token: &str) -> Result<()> {
        for _ in 0..LOCK_ATTEMPTS {
            let taken: Option<String> = self
                .query(redis::cmd("SET").arg(lock).arg(token).arg("NX").arg("PX").arg(LOCK_MS))
                .await?;
            if taken.is_some() {
                return Ok(());
            }
            tokio::time::sleep(LOCK_RETRY).await;
        }
        Err(Error::Conflict(
            "contacts_busy",
            "the contact list is being replaced by another request; try again".into(),
        ))
    }

    async fn release(&self, lock: &str, token: &str) -> Result<()> {
        let mut conn = self.conn();
        RELEASE_LOCK.key(lock).arg(token).invoke_async::<i64>(&mut conn).await?;
        Ok(())
    }

    /// Marks that `author` took each of `contacts` off their list at `now_ms`; a mark lasts as long
    /// as a story, the longest an earlier story of the author can still be in their tray.
    async fn mark_removed(&self, author: &str, contacts: &[&str], now_ms: i64) -> Result<()> {
        let mut batch = Batch::new();
        for contact in contacts {
            let key = self.keys.removed_by(contact);
            batch
                .cmd(&key, "ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(now_ms - self.story_ttl_ms);
            batch.cmd(&key, "ZADD").arg(&key).arg(now_ms).arg(author);
            batch.extend_expiry(&key, now_ms + self.story_ttl_ms);
        }
        self.batch(batch).await.map(drop)
    }

    async fn unmark_removed(&self, author: &str, contacts: &[&str]) -> Result<()> {
        let mut batch = Batch::new();
        for contact in contacts {
            let key = self.keys.removed_by(contact);
            batch.cmd(&key, "ZREM").arg(&key).arg(author);
        }
        self.batch(batch).await.map(drop)
    }

    pub async fn settings(&self, user: &str) -> Result<UserSettings> {
        let raw: Option<String> = self.query(redis::cmd("GET").arg(self.keys.settings(user))).await?;
        parse_settings(user, raw)
    }

    pub async fn save_settings(&self, user: &str, settings: &UserSettings) -> Result<()> {
        let json = serde_json::to_string(settings).map_err(|e| Error::Internal(e.to_string()))?;
        self.query(redis::cmd("SET").arg(self.keys.settings(user)).arg(json)).await
    }

    pub async fn set_muted(&self, user: &str, author: &str, muted: bool) -> Result<()> {
        let cmd = if muted { "SADD" } else { "SREM" };
        self.query(redis::cmd(cmd).arg(self.keys.muted(user)).arg(author)).await
    }

    pub async fn muted(&self, user: &str) -> Result<Vec<String>> {
        let mut list: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(self.keys.muted(user))).await?;
        list.sort();
        Ok(list)
    }

    pub async fn idempotency_begin(&self, caller: Caller<'_>, key_hash: &str, claim_ms: u64, keep_ms: u64) -> Result<IdempotencyClaim> {
        let record = self.keys.idempotency_of(caller, key_hash);
        let mut conn = self.conn();
        let found: Option<String> = IDEMPOTENCY_BEGIN
            .key(&record)
            .key(self.keys.idempotency_index_of(caller))
            .arg(IN_PROGRESS)
            .arg(claim_ms)
            .arg(keep_ms)
            .arg(&record)
            .invoke_async(&mut conn)
            .await?;
        Ok(match found {
            None => IdempotencyClaim::Claimed,
            Some(v) if v == IN_PROGRESS => IdempotencyClaim::InProgress,
            Some(v) => IdempotencyClaim::Done(v),
        })
    }

    pub async fn idempotency_finish(&self, caller: Caller<'_>, key_hash: &str, response: &str, keep_ms: u64) -> Result<()> {
        self.query(
            redis::cmd("SET")
                .arg(self.keys.idempotency_of(caller, key_hash))
                .arg(response)
                .arg("PX")
                .arg(keep_ms),
        )
        .await
    }

    pub async fn idempotency_release(&self, caller: Caller<'_>, key_hash: &str) -> Result<()> {
        self.query(redis::cmd("DEL").arg(self.keys.idempotency_of(caller, key_hash))).await
    }

    /// Deletes every key of the user (their own tag only; their stories are deleted separately).
    pub async fn delete_user_keys(&self, user: &str) -> Result<()> {
        let index: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(self.keys.idempotency_index(user))).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in self.keys.all_of_user(user).iter().chain(index.iter()) {
            pipe.del(key).ignore();
        }
        self.pipe::<()>(&pipe).await
    }
}
