//! The count of live stories behind the `statusd_live_stories` gauge, kept cheap to read and right
//! across instances and expiry: one hash, field = the minute a story expires, value = how many
//! live stories expire in that minute. Posting adds one to the story's minute, deleting takes one
//! off; a minute that has passed no longer counts, so expiry needs no bookkeeping and any drift
//! (a crash between a story's write and its count) disappears when that minute passes. Reading
//! costs one HGETALL of at most `ttl / 60 + 1` small fields, and drops the fields that have passed.

use super::Store;
use crate::error::Result;

const MINUTE_MS: i64 = 60_000;

impl Store {
    /// Adds `delta` to the stories expiring in the minute of `expires_ms`.
    pub async fn count_live(&self, expires_ms: i64, delta: i64) -> Result<()> {
        let key = self.keys.live_stories();
        let minute = expires_ms.div_euclid(MINUTE_MS);
        // The hash outlives its latest minute by one minute, never less.
        let until = (minute + 2) * MINUTE_MS;
        let mut pipe = redis::pipe();
        pipe.cmd("HINCRBY").arg(&key).arg(minute).arg(delta).ignore();
        pipe.cmd("PEXPIREAT").arg(&key).arg(until).arg("NX").ignore();
        pipe.cmd("PEXPIREAT").arg(&key).arg(until).arg("GT").ignore();
        self.pipe(&pipe).await
    }

    /// Live stories: those expiring in this minute or later.
    pub async fn live_stories(&self, now_ms: i64) -> Result<i64> {
        let key = self.keys.live_stories();
        let now_minute = now_ms.div_euclid(MINUTE_MS);
        let counts: Vec<(i64, i64)> = self.query(redis::cmd("HGETALL").arg(&key)).await?;
        let (live, gone): (Vec<_>, Vec<_>) = counts.into_iter().partition(|(minute, _)| *minute >= now_minute);
        if !gone.is_empty() {
            let minutes: Vec<i64> = gone.iter().map(|(m, _)| *m).collect();
            self.query::<()>(redis::cmd("HDEL").arg(&key).arg(minutes)).await?;
        }
        Ok(live.iter().map(|(_, n)| n).sum::<i64>().max(0))
    }
}
