//! Advertisers in Redis: the record (with the SHA-256 of its API key) and the index from key hash
//! to advertiser. Nothing here expires: advertisers, like creatives and campaigns, are durable.

use super::{Batch, Store, from_json, to_json};
use crate::advertisers::AdvertiserRecord;
use crate::advertisers::creatives::CreativeStatus;
use crate::auth::Caller;
use crate::error::Result;
use strum::IntoEnumIterator;

impl Store {
    /// Stores a new advertiser, then indexes its key hash (so a key never points at nothing).
    pub async fn put_advertiser(&self, advertiser: &AdvertiserRecord) -> Result<()> {
        self.query::<()>(
            redis::cmd("SET")
                .arg(self.keys.advertiser(&advertiser.id))
                .arg(to_json(advertiser)?),
        )
        .await?;
        self.query(redis::cmd("SET").arg(self.keys.api_key(&advertiser.key_hash)).arg(&advertiser.id))
            .await
    }

    pub async fn advertiser(&self, id: &str) -> Result<Option<AdvertiserRecord>> {
        let raw: Option<String> = self.query(redis::cmd("GET").arg(self.keys.advertiser(id))).await?;
        from_json("advertiser", raw)
    }

    /// Advertiser records by id, in one batch (None for missing).
    pub async fn advertisers(&self, ids: &[String]) -> Result<Vec<Option<AdvertiserRecord>>> {
        self.json_records("advertiser", ids.iter().map(|id| self.keys.advertiser(id))).await
    }

    /// The advertiser whose API key hashes to `key_hash`, if any.
    pub async fn advertiser_by_key_hash(&self, key_hash: &str) -> Result<Option<AdvertiserRecord>> {
        let id: Option<String> = self.query(redis::cmd("GET").arg(self.keys.api_key(key_hash))).await?;
        match id {
            Some(id) => self.advertiser(&id).await,
            None => Ok(None),
        }
    }

    /// Swaps an advertiser's key: the record carries the new hash, which is indexed, and the old
    /// hash stops opening anything.
    pub async fn replace_api_key(&self, updated: &AdvertiserRecord, old_hash: &str) -> Result<()> {
        self.put_advertiser(updated).await?;
        self.query(redis::cmd("DEL").arg(self.keys.api_key(old_hash))).await
    }

    /// Deletes an advertiser with its key, creatives (and their images) and campaigns. Report
    /// counters are left to expire with the retention period. Used to replace demo data.
    pub async fn delete_advertiser(&self, id: &str) -> Result<()> {
        let Some(advertiser) = self.advertiser(id).await? else {
            return Ok(());
        };
        let creatives: Vec<String> = self
            .query(redis::cmd("ZRANGE").arg(self.keys.advertiser_creatives(id)).arg(0).arg(-1))
            .await?;
        let campaigns: Vec<String> = self
            .query(redis::cmd("ZRANGE").arg(self.keys.advertiser_campaigns(id)).arg(0).arg(-1))
            .await?;
        let idem: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(self.keys.idempotency_index_of(Caller::Advertiser(id))))
            .await?;
        let mut batch = Batch::new();
        for creative in &creatives {
            let keys = [
                self.keys.creative(creative),
                self.keys.creative_media(creative),
                self.keys.creative_thumb(creative),
            ];
            batch.cmd(&keys[0], "DEL").arg(&keys[..]);
        }
        if !creatives.is_empty() {
            for status in CreativeStatus::iter() {
                let key = self.keys.creatives_in_review_state(status.as_ref());
                batch.cmd(&key, "ZREM").arg(&key).arg(&creatives);
            }
        }
        for campaign in &campaigns {
            let key = self.keys.campaign(campaign);
            batch.cmd(&key, "DEL").arg(&key);
        }
        if !campaigns.is_empty() {
            let registry = self.keys.campaign_registry();
            batch.cmd(&registry, "ZREM").arg(&registry).arg(&campaigns);
        }
        let api_key = self.keys.api_key(&advertiser.key_hash);
        batch.cmd(&api_key, "DEL").arg(&api_key);
        let mut own = vec![
            self.keys.advertiser(id),
            self.keys.advertiser_creatives(id),
            self.keys.advertiser_campaigns(id),
            self.keys.idempotency_index_of(Caller::Advertiser(id)),
        ];
        own.extend(idem);
        batch.cmd(&own[0], "DEL").arg(&own[..]);
        self.batch(batch).await?;
        self.campaigns_changed().await.map(drop)
    }
}
