//! Users in Redis: contacts, settings, muted authors, idempotency records.

use super::Store;
use super::keys::Caller;
use crate::error::{Error, Result};
use crate::users::UserSettings;
use redis::Script;
use std::sync::LazyLock;

static IDEMPOTENCY_BEGIN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/idempotency_begin.lua")));

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

const IN_PROGRESS: &str = "\u{0}in-progress";

impl Store {
    pub async fn contacts(&self, user: &str) -> Result<Vec<String>> {
        let mut list: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(self.keys.contacts(user))).await?;
        list.sort();
        Ok(list)
    }

    /// Replaces the contact list in one transaction.
    pub async fn set_contacts(&self, user: &str, contacts: &[String]) -> Result<()> {
        let key = self.keys.contacts(user);
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).ignore();
        if !contacts.is_empty() {
            pipe.sadd(&key, contacts).ignore();
        }
        self.pipe::<()>(&pipe).await
    }

    pub async fn settings(&self, user: &str) -> Result<UserSettings> {
        let raw: Option<String> = self.query(redis::cmd("GET").arg(self.keys.settings(user))).await?;
        match raw {
            None => Ok(UserSettings::default()),
            Some(json) => serde_json::from_str(&json).map_err(|e| Error::Internal(format!("settings of {user}: {e}"))),
        }
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
