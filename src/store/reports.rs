//! The ad event counters, in one place: [`Store::record_ad_event`] writes them (one script on the
//! campaign's slot), [`Store::report_counts`] reads them (one pipeline on the same slot).
//!
//! Per campaign and per hour *and* per day (UTC) there is a hash of counts and a HyperLogLog of
//! viewer pseudonyms, each expiring `reports.retention_days` after its bucket ends. Days are
//! written rather than summed from hours so that a daily report reads one key per day and the
//! daily budget check reads one field; reach over a range is a PFCOUNT of the buckets' HLLs,
//! which merges them, so a viewer seen on several days counts once.

use super::Store;
use crate::advertisers::reports::{BucketCounts, Granularity};
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use redis::{Script, Value};
use std::collections::HashMap;
use std::sync::LazyLock;

static AD_EVENT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/ad_event.lua")));

/// Something a viewer did with an ad of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr)]
#[strum(serialize_all = "snake_case")]
pub enum AdEvent<'a> {
    /// A billable impression at `price_micros` (> 0). `viewer` is a pseudonym of the viewer (never
    /// a user id): it only feeds the reach estimate.
    Impression {
        viewer: &'a str,
        price_micros: i64,
    },
    Click,
    Hide,
    Report,
}

/// What [`Store::record_ad_event`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Counted (an impression was also charged).
    Counted,
    /// An impression counted and charged that left less than one impression at the bid in the
    /// budget or in today's budget: the campaign can no longer pay, and the script announced it on
    /// the campaigns channel.
    CountedAndSpentOut,
    /// An impression the campaign can no longer pay (see the script): charged nothing, counted
    /// only as `unbilled` in the report.
    OverBudget,
    /// No such campaign: nothing was counted.
    NoCampaign,
}

impl Store {
    /// Counts one event of `campaign` at `at`, atomically: the campaign's totals, its hour and day
    /// buckets and, for an impression, the reach estimates. An impression is charged only while the
    /// budget (and daily budget) stored with the campaign can still pay — checked inside the same
    /// script, so concurrent instances can never overspend — and the charge that spends it out is
    /// announced to every instance by that script.
    pub async fn record_ad_event(&self, campaign: &str, event: AdEvent<'_>, at: DateTime<Utc>, retention_days: u32) -> Result<Recorded> {
        let (name, viewer, price) = match event {
            AdEvent::Impression { viewer, price_micros } if price_micros > 0 => ("impression", viewer, price_micros),
            AdEvent::Impression { .. } => return Err(Error::Internal("an impression needs a positive price".into())),
            AdEvent::Click => ("click", "", 0),
            AdEvent::Hide => ("hide", "", 0),
            AdEvent::Report => ("report", "", 0),
        };
        let retention = Duration::days(i64::from(retention_days));
        let (hour, day) = (Granularity::Hour.floor(at), Granularity::Day.floor(at));
        let (hour_id, day_id) = (Granularity::Hour.bucket_id(hour), Granularity::Day.bucket_id(day));
        let mut conn = self.conn();
        let outcome: i64 = AD_EVENT
            .key(self.keys.campaign(campaign))
            .key(self.keys.campaign_bucket(campaign, &hour_id))
            .key(self.keys.campaign_bucket(campaign, &day_id))
            .key(self.keys.campaign_reach(campaign, &hour_id))
            .key(self.keys.campaign_reach(campaign, &day_id))
            .arg(name)
            .arg(viewer)
            .arg(price)
            .arg((hour + Granularity::Hour.step() + retention).timestamp_millis())
            .arg((day + Granularity::Day.step() + retention).timestamp_millis())
            .arg(self.keys.campaigns_channel())
            .arg(campaign)
            .invoke_async(&mut conn)
            .await?;
        Ok(match outcome {
            1 => Recorded::Counted,
            2 => Recorded::CountedAndSpentOut,
            0 => Recorded::OverBudget,
            _ => Recorded::NoCampaign,
        })
    }

    /// The counts of the buckets of `campaign` starting at `starts`, and the reach over all of
    /// them (each viewer once).
    pub async fn report_counts(
        &self,
        campaign: &str,
        granularity: Granularity,
        starts: &[DateTime<Utc>],
    ) -> Result<(Vec<BucketCounts>, u64)> {
        let mut pipe = redis::pipe();
        let mut reach_keys = Vec::with_capacity(starts.len());
        for start in starts {
            let id = granularity.bucket_id(*start);
            pipe.hgetall(self.keys.campaign_bucket(campaign, &id));
            let reach = self.keys.campaign_reach(campaign, &id);
            pipe.cmd("PFCOUNT").arg(&reach);
            reach_keys.push(reach);
        }
        if reach_keys.is_empty() {
            return Ok((Vec::new(), 0));
        }
        pipe.cmd("PFCOUNT").arg(&reach_keys);
        let mut values: Vec<Value> = self.pipe(&pipe).await?;
        let total_reach: u64 = super::decode(values.pop().unwrap_or(Value::Int(0)))?;
        let counts = values
            .chunks_exact(2)
            .map(|pair| {
                let fields: HashMap<String, i64> = super::decode(pair[0].clone())?;
                let get = |f: &str| fields.get(f).copied().unwrap_or(0);
                Ok(BucketCounts {
                    impressions: get("impressions").max(0) as u64,
                    clicks: get("clicks").max(0) as u64,
                    spend_micros: get("spend_micros"),
                    hides: get("hides").max(0) as u64,
                    reports: get("reports").max(0) as u64,
                    unbilled: get("unbilled").max(0) as u64,
                    unique_reach: super::decode(pair[1].clone())?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((counts, total_reach))
    }
}
