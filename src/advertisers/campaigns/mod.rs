//! Campaigns: the record and the lifecycle derived from the clock, the pause flag and the money
//! spent. What an advertiser may create and change is checked in [`input`].

mod input;

pub use input::{CampaignPatch, CampaignSpec, CheckContext, NewCampaign, PatchStatus};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A campaign as read, with the version a later save must match.
#[derive(Debug, Clone)]
pub struct StoredCampaign {
    pub record: CampaignRecord,
    pub totals: CampaignTotals,
    pub version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pacing {
    /// Spend spread evenly over the flight.
    Even,
    /// Spend as fast as impressions come.
    Asap,
}

/// Who may see the campaign. An empty (or absent) list means anyone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Targeting {
    /// ISO 3166-1 alpha-2 codes.
    #[serde(default)]
    #[schema(max_items = 250)]
    pub countries: Vec<String>,
    /// BCP 47 primary language subtags.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub languages: Vec<String>,
    /// Interest tags (matched only for viewers who consent to personalised ads).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub interests: Vec<String>,
}

/// At most `impressions` counted impressions per viewer in any `per_seconds` window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub impressions: i64,
    /// 1 second to 366 days.
    #[schema(minimum = 1, maximum = 31_622_400)]
    pub per_seconds: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Before `start_at`.
    Scheduled,
    Active,
    /// Paused by the advertiser.
    Paused,
    /// After `end_at`.
    Completed,
    /// The budget left is less than one impression at the bid.
    Exhausted,
}

/// A campaign as stored (the money spent lives next to it, in counters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignRecord {
    pub id: String,
    pub advertiser: String,
    pub name: String,
    pub creative_ids: Vec<String>,
    pub targeting: Targeting,
    pub bid_cpm_micros: i64,
    pub budget_micros: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget_micros: Option<i64>,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub frequency_cap: FrequencyCap,
    pub pacing: Pacing,
    pub paused: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Running totals of a campaign, kept by the event counters (`store::reports`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignTotals {
    pub spent_micros: i64,
    pub impressions: u64,
    pub clicks: u64,
}

/// A campaign with everything an ad index needs: its advertiser's name, its creatives that may
/// serve (approved only), its totals and today's (UTC) spend.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCampaign {
    pub campaign: CampaignRecord,
    pub advertiser_name: String,
    pub creatives: Vec<crate::advertisers::creatives::CreativeRecord>,
    pub totals: CampaignTotals,
    pub spent_today_micros: i64,
}

/// The price of one impression at a CPM, in micros, rounded up (a CPM buys 1,000 impressions).
pub fn one_impression_micros(bid_cpm_micros: i64) -> i64 {
    (bid_cpm_micros.max(0) + 999) / 1000
}

impl CampaignRecord {
    /// The lifecycle state at `now`. The end of the flight wins over everything, then a spent
    /// budget, then the pause flag, then the start.
    pub fn status(&self, spent_micros: i64, now: DateTime<Utc>) -> CampaignStatus {
        if now >= self.end_at {
            CampaignStatus::Completed
        } else if self.budget_micros - spent_micros < one_impression_micros(self.bid_cpm_micros) {
            CampaignStatus::Exhausted
        } else if self.paused {
            CampaignStatus::Paused
        } else if now < self.start_at {
            CampaignStatus::Scheduled
        } else {
            CampaignStatus::Active
        }
    }

    pub fn view(&self, totals: &CampaignTotals, now: DateTime<Utc>) -> Campaign {
        Campaign {
            id: self.id.clone(),
            advertiser_id: self.advertiser.clone(),
            name: self.name.clone(),
            creative_ids: self.creative_ids.clone(),
            targeting: self.targeting.clone(),
            bid_cpm_micros: self.bid_cpm_micros,
            budget_micros: self.budget_micros,
            daily_budget_micros: self.daily_budget_micros,
            start_at: self.start_at,
            end_at: self.end_at,
            frequency_cap: self.frequency_cap,
            pacing: self.pacing,
            status: self.status(totals.spent_micros, now),
            spent_micros: totals.spent_micros,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The record with validated fields applied.
    pub fn with(&self, spec: CampaignSpec, paused: bool, now: DateTime<Utc>) -> CampaignRecord {
        CampaignRecord {
            id: self.id.clone(),
            advertiser: self.advertiser.clone(),
            created_at: self.created_at,
            updated_at: now,
            paused,
            ..CampaignRecord::new(String::new(), String::new(), spec, now)
        }
    }

    pub fn new(id: String, advertiser: String, spec: CampaignSpec, now: DateTime<Utc>) -> CampaignRecord {
        CampaignRecord {
            id,
            advertiser,
            name: spec.name,
            creative_ids: spec.creative_ids,
            targeting: spec.targeting,
            bid_cpm_micros: spec.bid_cpm_micros,
            budget_micros: spec.budget_micros,
            daily_budget_micros: spec.daily_budget_micros,
            start_at: spec.start_at,
            end_at: spec.end_at,
            frequency_cap: spec.frequency_cap,
            pacing: spec.pacing,
            paused: false,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A campaign as its advertiser sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Campaign {
    pub id: String,
    pub advertiser_id: String,
    pub name: String,
    pub creative_ids: Vec<String>,
    pub targeting: Targeting,
    pub bid_cpm_micros: i64,
    pub budget_micros: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_budget_micros: Option<i64>,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub frequency_cap: FrequencyCap,
    pub pacing: Pacing,
    pub status: CampaignStatus,
    /// Money spent so far.
    pub spent_micros: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::input::tests::{now, record};
    use super::*;
    use chrono::Duration;

    #[test]
    fn lifecycle() {
        let r = record();
        assert_eq!(r.status(0, now()), CampaignStatus::Active);
        assert_eq!(r.status(0, r.start_at - Duration::seconds(1)), CampaignStatus::Scheduled);
        assert_eq!(r.status(0, r.end_at), CampaignStatus::Completed);
        assert_eq!(r.status(r.budget_micros, now()), CampaignStatus::Exhausted);
        assert_eq!(r.status(r.budget_micros - 2_499, now()), CampaignStatus::Exhausted);
        assert_eq!(r.status(r.budget_micros - 2_500, now()), CampaignStatus::Active);
        let paused = CampaignRecord { paused: true, ..r.clone() };
        assert_eq!(paused.status(0, now()), CampaignStatus::Paused);
        assert_eq!(paused.status(r.budget_micros, now()), CampaignStatus::Exhausted);
        assert_eq!(paused.status(0, r.end_at), CampaignStatus::Completed);
    }
}
