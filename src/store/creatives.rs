//! Creatives in Redis: record and images under the creative's tag, listed in their advertiser's
//! index and in the review queue of their state. Durable: nothing expires.

use super::stories::MediaBytes;
use super::{Batch, Store};
use super::{from_json, to_json};
use crate::advertisers::creatives::{CreativeRecord, CreativeStatus};
use crate::error::Result;
use crate::media::ImageSize;
use strum::IntoEnumIterator;

/// One page of ids from an id-ordered index, and whether more follow.
pub struct IdPage {
    pub ids: Vec<String>,
    pub more: bool,
}

impl Store {
    /// Stores a new creative and its images, then lists it with its advertiser and in the queue of
    /// its review state.
    pub async fn put_creative(&self, creative: &CreativeRecord, media: &MediaBytes) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set(self.keys.creative(&creative.id), to_json(creative)?)
            .ignore()
            .set(self.keys.creative_media(&creative.id), &media.full)
            .ignore()
            .set(self.keys.creative_thumb(&creative.id), &media.thumb)
            .ignore();
        self.pipe::<()>(&pipe).await?;
        let mut batch = Batch::new();
        let own = self.keys.advertiser_creatives(&creative.advertiser);
        batch.cmd(&own, "ZADD").arg(&own).arg(0).arg(&creative.id);
        let queue = self.keys.creatives_in_review_state(creative.status.as_ref());
        batch.cmd(&queue, "ZADD").arg(&queue).arg(0).arg(&creative.id);
        self.batch(batch).await.map(drop)
    }

    pub async fn creative(&self, id: &str) -> Result<Option<CreativeRecord>> {
        let raw: Option<String> = self.query(redis::cmd("GET").arg(self.keys.creative(id))).await?;
        from_json("creative", raw)
    }

    /// Creative records by id, in one batch (None for missing).
    pub async fn creatives(&self, ids: &[String]) -> Result<Vec<Option<CreativeRecord>>> {
        self.json_records("creative", ids.iter().map(|id| self.keys.creative(id))).await
    }

    /// The image bytes of a creative (for its advertiser, the reviewer, and serving ads).
    pub async fn creative_media(&self, id: &str, which: ImageSize) -> Result<Option<Vec<u8>>> {
        let key = match which {
            ImageSize::Full => self.keys.creative_media(id),
            ImageSize::Thumb => self.keys.creative_thumb(id),
        };
        self.query(redis::cmd("GET").arg(key)).await
    }

    /// Stores an outside bid's normalised image (both sizes under one tag) for `ttl_secs`.
    pub async fn put_outside_image(&self, id: &str, media: &MediaBytes, ttl_secs: u64) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set_ex(self.keys.outside_image(id), &media.full, ttl_secs)
            .ignore()
            .set_ex(self.keys.outside_thumb(id), &media.thumb, ttl_secs)
            .ignore();
        self.pipe::<()>(&pipe).await
    }

    /// An outside bid's image, while it is kept.
    pub async fn outside_image(&self, id: &str, which: ImageSize) -> Result<Option<Vec<u8>>> {
        let key = match which {
            ImageSize::Full => self.keys.outside_image(id),
            ImageSize::Thumb => self.keys.outside_thumb(id),
        };
        self.query(redis::cmd("GET").arg(key)).await
    }

    /// Saves a reviewed creative and moves it to the queue of its new state.
    pub async fn save_review(&self, creative: &CreativeRecord) -> Result<()> {
        self.query::<()>(redis::cmd("SET").arg(self.keys.creative(&creative.id)).arg(to_json(creative)?))
            .await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for status in CreativeStatus::iter() {
            let key = self.keys.creatives_in_review_state(status.as_ref());
            if status == creative.status {
                pipe.zadd(key, &creative.id, 0).ignore();
            } else {
                pipe.zrem(key, &creative.id).ignore();
            }
        }
        self.pipe::<()>(&pipe).await?;
        self.campaigns_changed().await.map(drop)
    }

    /// A page of an advertiser's creative ids, newest first, after the id `after`.
    pub async fn advertiser_creative_ids(&self, advertiser: &str, after: Option<&str>, limit: usize) -> Result<IdPage> {
        self.id_page(&self.keys.advertiser_creatives(advertiser), after, limit, true).await
    }

    /// A page of the creatives in one review state, oldest first (a queue), after the id `after`.
    pub async fn creative_ids_in_review_state(&self, status: CreativeStatus, after: Option<&str>, limit: usize) -> Result<IdPage> {
        self.id_page(&self.keys.creatives_in_review_state(status.as_ref()), after, limit, false)
            .await
    }

    /// Pages through a ZSET whose members all score 0, in id order: stable under inserts, since
    /// the cursor is the last id seen rather than an offset.
    pub(crate) async fn id_page(&self, key: &str, after: Option<&str>, limit: usize, newest_first: bool) -> Result<IdPage> {
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(key);
        match (newest_first, after) {
            (true, Some(id)) => cmd.arg(format!("({id}")).arg("-").arg("BYLEX").arg("REV"),
            (true, None) => cmd.arg("+").arg("-").arg("BYLEX").arg("REV"),
            (false, Some(id)) => cmd.arg(format!("({id}")).arg("+").arg("BYLEX"),
            (false, None) => cmd.arg("-").arg("+").arg("BYLEX"),
        };
        cmd.arg("LIMIT").arg(0).arg(limit + 1);
        let mut ids: Vec<String> = self.query(&cmd).await?;
        let more = ids.len() > limit;
        ids.truncate(limit);
        Ok(IdPage { ids, more })
    }
}
