//! Idempotency records in Redis: what an `Idempotency-Key` found, and the response it keeps.

use super::Store;
use crate::auth::Caller;
use crate::error::Result;
use redis::Script;
use std::sync::LazyLock;

static IDEMPOTENCY_BEGIN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/idempotency_begin.lua")));

/// Stored while the key's first request runs.
const IN_PROGRESS: &str = "\u{0}in-progress";

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

impl Store {
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
}
