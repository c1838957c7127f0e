//! Campaigns in Redis: one hash per campaign (record, version, budget limits, running totals), the
//! advertiser's index, the registry of all campaigns, and the change announcements an ad index
//! follows. Durable: nothing expires.

use super::creatives::IdPage;
use super::{Batch, Store, by_id, decode};
use super::{from_json, to_json};
use crate::advertisers::campaigns::{CampaignRecord, CampaignTotals, LoadedCampaign, StoredCampaign, one_impression_micros};
use crate::advertisers::reports::Granularity;
use crate::error::Result;
use chrono::{DateTime, Utc};
use redis::Script;
use std::sync::LazyLock;

static SAVE_CAMPAIGN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/save_campaign.lua")));

/// The hash fields read with a campaign, in this order.
const FIELDS: [&str; 5] = ["record", "spent", "impressions", "clicks", "version"];

fn hmget(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("HMGET");
    cmd.arg(key).arg(&FIELDS[..]);
    cmd
}

fn parse_stored(values: Vec<Option<String>>) -> Result<Option<StoredCampaign>> {
    let mut values = values.into_iter();
    let Some(record) = from_json::<CampaignRecord>("campaign", values.next().flatten())? else {
        return Ok(None);
    };
    let mut number = || values.next().flatten().and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let totals = CampaignTotals {
        spent_micros: number(),
        impressions: number().max(0) as u64,
        clicks: number().max(0) as u64,
    };
    Ok(Some(StoredCampaign {
        record,
        totals,
        version: number(),
    }))
}

impl Store {
    /// Stores a new campaign, lists it with its advertiser and in the registry, and announces it.
    pub async fn put_campaign(&self, campaign: &CampaignRecord) -> Result<()> {
        let key = self.keys.campaign(&campaign.id);
        let mut cmd = redis::cmd("HSET");
        cmd.arg(&key)
            .arg("record")
            .arg(to_json(campaign)?)
            .arg("budget")
            .arg(campaign.budget_micros)
            .arg("one_impression")
            .arg(one_impression_micros(campaign.bid_cpm_micros))
            .arg("version")
            .arg(1);
        if let Some(daily) = campaign.daily_budget_micros {
            cmd.arg("daily_budget").arg(daily);
        }
        self.query::<()>(&cmd).await?;
        let mut batch = Batch::new();
        let own = self.keys.advertiser_campaigns(&campaign.advertiser);
        batch.cmd(&own, "ZADD").arg(&own).arg(0).arg(&campaign.id);
        self.add_to_registry(&mut batch, campaign);
        self.batch(batch).await?;
        self.campaigns_changed().await.map(drop)
    }

    fn add_to_registry(&self, batch: &mut Batch, campaign: &CampaignRecord) {
        let registry = self.keys.campaign_registry();
        batch
            .cmd(&registry, "ZADD")
            .arg(&registry)
            .arg(campaign.end_at.timestamp_millis())
            .arg(&campaign.id);
    }

    pub async fn campaign(&self, id: &str) -> Result<Option<StoredCampaign>> {
        let values: Vec<Option<String>> = self.query(&hmget(&self.keys.campaign(id))).await?;
        parse_stored(values)
    }

    /// Campaigns by id, in one batch (None for missing).
    pub async fn campaigns(&self, ids: &[String]) -> Result<Vec<Option<StoredCampaign>>> {
        let mut batch = Batch::new();
        for id in ids {
            let key = self.keys.campaign(id);
            batch.add(&key, hmget(&key));
        }
        self.batch(batch).await?.into_iter().map(|v| parse_stored(decode(v)?)).collect()
    }

    /// Saves a changed campaign if it is still at `version`; false when it changed meanwhile.
    pub async fn update_campaign(&self, campaign: &CampaignRecord, version: i64) -> Result<bool> {
        let mut conn = self.conn();
        let saved: i64 = SAVE_CAMPAIGN
            .key(self.keys.campaign(&campaign.id))
            .arg(version)
            .arg(to_json(campaign)?)
            .arg(campaign.budget_micros)
            .arg(campaign.daily_budget_micros.map(|d| d.to_string()).unwrap_or_default())
            .arg(one_impression_micros(campaign.bid_cpm_micros))
            .invoke_async(&mut conn)
            .await?;
        if saved != 1 {
            return Ok(false);
        }
        let mut batch = Batch::new();
        self.add_to_registry(&mut batch, campaign);
        self.batch(batch).await?;
        self.campaigns_changed().await?;
        Ok(true)
    }

    /// A page of an advertiser's campaign ids, newest first, after the id `after`.
    pub async fn advertiser_campaign_ids(&self, advertiser: &str, after: Option<&str>, limit: usize) -> Result<IdPage> {
        self.id_page(&self.keys.advertiser_campaigns(advertiser), after, limit, true).await
    }

    /// Announces a change that can alter what is served: bumps the version counter and publishes
    /// the new version on the campaigns channel. Returns the new version.
    pub async fn campaigns_changed(&self) -> Result<i64> {
        let version = self.bump_campaigns_version().await?;
        self.query::<i64>(redis::cmd("PUBLISH").arg(self.keys.campaigns_channel()).arg(version))
            .await?;
        Ok(version)
    }

    /// Bumps the version counter alone, for a change already announced on the channel (a budget
    /// spent out, which the charging script announces itself).
    pub async fn bump_campaigns_version(&self) -> Result<i64> {
        self.query(redis::cmd("INCR").arg(self.keys.campaigns_version())).await
    }

    /// The current change counter (0 before any change): an index that missed a message can poll it.
    pub async fn campaigns_version(&self) -> Result<i64> {
        let v: Option<i64> = self.query(redis::cmd("GET").arg(self.keys.campaigns_version())).await?;
        Ok(v.unwrap_or(0))
    }

    /// Every campaign that has not ended by `now`, with its advertiser's name, its approved
    /// creatives, its totals and today's spend: what an ad index is built from. Three round trips
    /// (registry; campaigns with today's spend; creatives and advertisers), each one batch.
    pub async fn all_campaigns(&self, now: DateTime<Utc>) -> Result<Vec<LoadedCampaign>> {
        let ids: Vec<String> = self
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.keys.campaign_registry())
                    .arg(format!("({}", now.timestamp_millis()))
                    .arg("+inf")
                    .arg("BYSCORE"),
            )
            .await?;
        let today = Granularity::Day.bucket_id(Granularity::Day.floor(now));
        let mut batch = Batch::new();
        for id in &ids {
            let key = self.keys.campaign(id);
            batch.add(&key, hmget(&key));
            let bucket = self.keys.campaign_bucket(id, &today);
            batch.cmd(&bucket, "HGET").arg(&bucket).arg("spend_micros");
        }
        let values = self.batch(batch).await?;
        let mut loaded = Vec::with_capacity(ids.len());
        for pair in values.chunks_exact(2) {
            if let Some(stored) = parse_stored(decode(pair[0].clone())?)? {
                let today: Option<i64> = decode(pair[1].clone())?;
                loaded.push((stored, today.unwrap_or(0)));
            }
        }
        let mut creative_ids: Vec<String> = loaded.iter().flat_map(|(s, _)| s.record.creative_ids.clone()).collect();
        creative_ids.sort();
        creative_ids.dedup();
        let mut advertiser_ids: Vec<String> = loaded.iter().map(|(s, _)| s.record.advertiser.clone()).collect();
        advertiser_ids.sort();
        advertiser_ids.dedup();
        let creatives = by_id(&creative_ids, self.creatives(&creative_ids).await?);
        let advertisers = by_id(&advertiser_ids, self.advertisers(&advertiser_ids).await?);
        Ok(loaded
            .into_iter()
            .filter_map(|(stored, spent_today_micros)| {
                let advertiser = advertisers.get(&stored.record.advertiser)?;
                let creatives = stored
                    .record
                    .creative_ids
                    .iter()
                    .filter_map(|id| creatives.get(id))
                    .filter(|c| c.is_approved() && c.advertiser == stored.record.advertiser)
                    .cloned()
                    .collect();
                Some(LoadedCampaign {
                    advertiser_name: advertiser.name.clone(),
                    creatives,
                    totals: stored.totals,
                    spent_today_micros,
                    campaign: stored.record,
                })
            })
            .collect())
    }
}
