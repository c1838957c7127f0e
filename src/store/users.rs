//! Users in Redis: contacts, settings, muted authors.

use super::{Batch, Store, decode};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::users::{ContactLog, UserSettings};
use redis::Script;
use std::collections::HashSet;
use std::sync::LazyLock;

static RELEASE_LOCK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/release_lock.lua")));
/// How long a contact list lock lives at most: far longer than replacing 5,000 contacts takes,
/// short enough that a crashed replacement does not hold the list up for long.
const LOCK_MS: u64 = 10_000;
/// How far apart a replacement tries to take the lock while it waits for another.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(25);

/// A mark in a user's `contact_removals`: about the other user's list or the user's own.
#[derive(Debug, Clone, Copy)]
enum Removal<'a> {
    /// The other user took this one off their list.
    By(&'a str),
    /// This user took the other off their own list.
    Of(&'a str),
}

impl Removal<'_> {
    fn member(self) -> String {
        match self {
            Removal::By(other) => format!("removed-by:{other}"),
            Removal::Of(other) => format!("removed:{other}"),
        }
    }
}

/// A user's settings as stored (the defaults when none are).
pub(crate) fn parse_settings(user: &UserId, raw: Option<String>) -> Result<UserSettings> {
    match raw {
        None => Ok(UserSettings::default()),
        Some(json) => serde_json::from_str(&json).map_err(|e| Error::Internal(format!("settings of {user}: {e}"))),
    }
}

/// User ids as a set of the store holds them (every member was a parsed id).
fn user_ids(stored: Vec<String>) -> Vec<UserId> {
    stored.into_iter().map(UserId::from_stored).collect()
}

/// A user's log of changes about another, from the answer of [`Store::add_contact_log_read`]
/// (no log: empty).
pub(crate) fn contact_log(answer: redis::Value) -> Result<ContactLog> {
    let stored: Option<String> = decode(answer)?;
    Ok(stored.map_or_else(ContactLog::default, |s| ContactLog::parse(&s)))
}

impl Store {
    /// The users on `user`'s contact list who have `user` on theirs too.
    pub async fn mutual_contacts(&self, user: &UserId) -> Result<Vec<UserId>> {
        let user = user.as_str();
        let mutual: Vec<String> = self
            .query(redis::cmd("SINTER").arg(self.keys.contacts(user)).arg(self.keys.listed_by(user)))
            .await?;
        Ok(user_ids(mutual))
    }

    /// The user's contact list, sorted.
    pub async fn contacts(&self, user: &UserId) -> Result<Vec<UserId>> {
        let mut list: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(self.keys.contacts(user.as_str()))).await?;
        list.sort();
        Ok(user_ids(list))
    }

    /// Replaces the contact list, one replacement of a list at a time (`Conflict` when another
    /// still runs after `wait`), and marks each removal on both sides (see
    /// `Keys::contact_removals`): on each removed contact's slot first, so that the stories of
    /// `user` already in their tray are hidden from them from then on, and on the user's own slot
    /// together with the list. Removed contacts' `listed_by` loses the user first too, so that
    /// their posts stop reaching the user. Contacts put (back) on the list are unmarked, and every
    /// listed contact's `listed_by` holds the user, on their side last.
    /// Should a step fail, contacts see less, never more, and the next replacement finishes what
    /// this one left.
    pub async fn set_contacts(&self, user: &UserId, contacts: &[UserId], now_ms: i64, wait: std::time::Duration) -> Result<()> {
        let lock = self.keys.contacts_lock(user.as_str());
        let token = crate::ids::random_id();
        self.acquire(&lock, &token, wait).await?;
        let contacts: Vec<&str> = contacts.iter().map(UserId::as_str).collect();
        let replaced = self.replace_contacts(user.as_str(), &contacts, now_ms).await;
        if let Err(e) = self.release(&lock, &token).await {
            // It expires by itself.
            tracing::debug!(error = %e, "contact list lock not released");
        }
        replaced
    }

    /// (Works on ids as the sets of the store hold them: a replacement compares thousands.)
    async fn replace_contacts(&self, user: &str, contacts: &[&str], now_ms: i64) -> Result<()> {
        let (key, pending_key) = (self.keys.contacts(user), self.keys.contacts_pending(user));
        let mut pipe = redis::pipe();
        pipe.cmd("SMEMBERS").arg(&key).cmd("SMEMBERS").arg(&pending_key);
        let (old, pending): (HashSet<String>, HashSet<String>) = self.pipe(&pipe).await?;
        let new: HashSet<&str> = contacts.iter().copied().collect();
        // Contacts a replacement that failed midway was changing are changed again.
        let removed: Vec<&str> = old.union(&pending).map(String::as_str).filter(|c| !new.contains(c)).collect();
        let added: Vec<&str> = new.iter().copied().filter(|c| !old.contains(*c) || pending.contains(*c)).collect();
        if !removed.is_empty() || !added.is_empty() {
            let mut pipe = redis::pipe();
            pipe.cmd("SADD").arg(&pending_key).arg(&removed).arg(&added).ignore();
            pipe.cmd("PEXPIRE").arg(&pending_key).arg(self.story_ttl_ms).ignore();
            self.pipe::<()>(&pipe).await?;
        }
        let mut theirs = Batch::new();
        for contact in &removed {
            self.mark_removal(&mut theirs, contact, Removal::By(user), now_ms);
            let listed_by = self.keys.listed_by(contact);
            theirs.cmd(&listed_by, "SREM").arg(&listed_by).arg(user);
        }
        self.batch(theirs).await?;
        // The list, the user's own marks and their log of changes change together.
        let mut own = Batch::new();
        own.cmd(&key, "DEL").arg(&key);
        if !contacts.is_empty() {
            own.cmd(&key, "SADD").arg(&key).arg(contacts);
        }
        self.log_changes(&mut own, user, &old, &new, now_ms).await?;
        for contact in &removed {
            self.mark_removal(&mut own, user, Removal::Of(contact), now_ms);
        }
        for contact in &added {
            self.unmark_removal(&mut own, user, Removal::Of(contact));
        }
        self.transaction(own).await?;
        let mut theirs = Batch::new();
        for contact in &added {
            self.unmark_removal(&mut theirs, contact, Removal::By(user));
        }
        // Every contact's, not only the added ones': each replacement rewrites the whole mirror,
        // so that a mirror missing an entry (a restored backup, a step lost with its node) is
        // whole again after the user's next replacement.
        for contact in &new {
            let listed_by = self.keys.listed_by(contact);
            theirs.cmd(&listed_by, "SADD").arg(&listed_by).arg(user);
        }
        self.batch(theirs).await?;
        self.query(redis::cmd("DEL").arg(&pending_key)).await
    }

    /// Adds to `batch` the changes of `user`'s contact log: the contacts on `old` but not `new`
    /// (taken off) and on `new` but not `old` (put on) at `now_ms`, and the forgetting of removals
    /// no live story needs.
    /// (Only this user's own replacements, one at a time, write this log, so reading it first is
    /// safe.)
    async fn log_changes(&self, batch: &mut Batch, user: &str, old: &HashSet<String>, new: &HashSet<&str>, now_ms: i64) -> Result<()> {
        let key = self.keys.contact_log(user);
        let stored: std::collections::HashMap<String, String> = self.query(redis::cmd("HGETALL").arg(&key)).await?;
        let since_ms = now_ms - self.story_ttl_ms;
        let log_of = |other: &str| ContactLog::parse(stored.get(other).map_or("", String::as_str));
        let taken_off = old.iter().map(String::as_str).filter(|c| !new.contains(c));
        let mut writes: Vec<(&str, ContactLog)> = taken_off.map(|c| (c, log_of(c).record(now_ms, false, since_ms))).collect();
        for &contact in new {
            if !old.contains(contact) {
                writes.push((contact, log_of(contact).record(now_ms, true, since_ms)));
            }
        }
        let forgotten: Vec<&str> = stored
            .iter()
            .filter(|(other, log)| {
                !new.contains(other.as_str()) && !old.contains(*other) && ContactLog::parse(log).is_settled_off(since_ms)
            })
            .map(|(other, _)| other.as_str())
            .collect();
        if !writes.is_empty() {
            let cmd = batch.cmd(&key, "HSET").arg(&key);
            for (other, log) in &writes {
                cmd.arg(*other).arg(log.to_stored());
            }
        }
        if !forgotten.is_empty() {
            batch.cmd(&key, "HDEL").arg(&key).arg(&forgotten);
        }
        Ok(())
    }

    /// Adds the read of `user`'s log of changes about `other` (see [`contact_log`]).
    pub(super) fn add_contact_log_read(&self, batch: &mut Batch, user: &UserId, other: &UserId) {
        let log = self.keys.contact_log(user);
        batch.cmd(&log, "HGET").arg(&log).arg(other.as_str());
    }

    /// Adds to `batch` the mark of `removal` in `user`'s contact removals, at `now_ms`; marks
    /// older than a story's lifetime go.
    fn mark_removal(&self, batch: &mut Batch, user: &str, removal: Removal, now_ms: i64) {
        let key = self.keys.contact_removals(user);
        batch
            .cmd(&key, "ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now_ms - self.story_ttl_ms);
        batch.cmd(&key, "ZADD").arg(&key).arg(now_ms).arg(removal.member());
        batch.extend_expiry(&key, now_ms + self.story_ttl_ms);
    }

    fn unmark_removal(&self, batch: &mut Batch, user: &str, removal: Removal) {
        let key = self.keys.contact_removals(user);
        batch.cmd(&key, "ZREM").arg(&key).arg(removal.member());
    }

    /// Takes `lock` for `token`, waiting up to `wait` while another holds it.
    async fn acquire(&self, lock: &str, token: &str, wait: std::time::Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let taken: Option<String> = self
                .query(redis::cmd("SET").arg(lock).arg(token).arg("NX").arg("PX").arg(LOCK_MS))
                .await?;
            if taken.is_some() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(LOCK_RETRY.min(deadline - tokio::time::Instant::now())).await;
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

    pub async fn settings(&self, user: &UserId) -> Result<UserSettings> {
        let raw: Option<String> = self.query(redis::cmd("GET").arg(self.keys.settings(user.as_str()))).await?;
        parse_settings(user, raw)
    }

    pub async fn save_settings(&self, user: &UserId, settings: &UserSettings) -> Result<()> {
        let json = serde_json::to_string(settings).map_err(|e| Error::Internal(e.to_string()))?;
        self.query(redis::cmd("SET").arg(self.keys.settings(user.as_str())).arg(json)).await
    }

    pub async fn set_muted(&self, user: &UserId, author: &UserId, muted: bool) -> Result<()> {
        let cmd = if muted { "SADD" } else { "SREM" };
        self.query(redis::cmd(cmd).arg(self.keys.muted(user.as_str())).arg(author.as_str()))
            .await
    }

    /// The authors the user muted, sorted.
    pub async fn muted(&self, user: &UserId) -> Result<Vec<UserId>> {
        let mut list: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(self.keys.muted(user.as_str()))).await?;
        list.sort();
        Ok(user_ids(list))
    }

    /// Deletes every key of the user (their own tag only; their stories are deleted separately),
    /// having taken the user out of their contacts' `listed_by` first.
    pub async fn delete_user_keys(&self, user_id: &UserId, now_ms: i64) -> Result<()> {
        let user = user_id.as_str();
        let mut mirrors = Batch::new();
        for contact in self.contacts(user_id).await? {
            let listed_by = self.keys.listed_by(contact.as_str());
            mirrors.cmd(&listed_by, "SREM").arg(&listed_by).arg(user);
        }
        self.batch(mirrors).await?;
        let index: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(self.keys.idempotency_index(user))).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        let trays = self.keys.live_trays(user, now_ms, self.story_ttl_ms);
        for key in self.keys.all_of_user(user).iter().chain(&trays).chain(&index) {
            pipe.del(key).ignore();
        }
        self.pipe::<()>(&pipe).await
    }
}
