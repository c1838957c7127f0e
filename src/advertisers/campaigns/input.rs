//! What an advertiser may create and change: a new campaign or a patch, checked field by field
//! against the contract's rules (every bad field reported at once) and normalised.

use super::{CampaignRecord, CampaignStatus, FrequencyCap, Pacing, Targeting, one_impression_micros};
use crate::error::{Error, FieldError, Result};
use crate::users::{parse_country, parse_interests, parse_language};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

pub const MAX_CAMPAIGN_NAME: usize = 100;
pub const MAX_CREATIVES: usize = 10;
pub const MAX_COUNTRIES: usize = 250;
pub const MAX_LANGUAGES: usize = 50;
pub const MAX_INTERESTS: usize = 50;
/// Keeps every sum of money exact in Redis's Lua (doubles are exact below 2^53).
pub const MAX_BUDGET_MICROS: i64 = 1_000_000_000_000_000;
pub const MAX_BID_CPM_MICROS: i64 = 1_000_000_000_000;
pub const MAX_CAP_IMPRESSIONS: i64 = 1_000_000;
pub const MAX_CAP_SECONDS: i64 = 366 * 24 * 3600;

/// `POST /v1/campaigns`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// 1–10 of the caller's approved creatives.
    #[schema(min_items = 1, max_items = 10)]
    pub creative_ids: Vec<String>,
    /// Absent: anyone.
    #[serde(default)]
    pub targeting: Targeting,
    /// Price per 1,000 impressions, > 0.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub bid_cpm_micros: i64,
    /// At least one impression at the bid.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub budget_micros: i64,
    /// At least one impression at the bid, at most the budget; days are UTC days.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub daily_budget_micros: Option<i64>,
    /// RFC 3339; may be in the past.
    #[schema(value_type = String, format = DateTime)]
    pub start_at: String,
    /// RFC 3339; after `start_at` and in the future.
    #[schema(value_type = String, format = DateTime)]
    pub end_at: String,
    pub frequency_cap: FrequencyCap,
    pub pacing: Pacing,
}

/// Validated, editable fields of a campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSpec {
    pub name: String,
    pub creative_ids: Vec<String>,
    pub targeting: Targeting,
    pub bid_cpm_micros: i64,
    pub budget_micros: i64,
    pub daily_budget_micros: Option<i64>,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub frequency_cap: FrequencyCap,
    pub pacing: Pacing,
}

/// A spec before validation; times are None when they did not parse (already reported).
struct Candidate {
    name: String,
    creative_ids: Vec<String>,
    targeting: Targeting,
    bid_cpm_micros: i64,
    budget_micros: i64,
    daily_budget_micros: Option<i64>,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    frequency_cap: FrequencyCap,
    pacing: Pacing,
}

/// What the rules are checked against.
pub struct CheckContext {
    pub now: DateTime<Utc>,
    /// Money already spent (0 for a new campaign): a budget cannot go below it.
    pub spent_micros: i64,
}

fn parse_time(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(field, "an RFC 3339 time such as 2026-11-25T12:00:00Z"));
            None
        }
    }
}

impl NewCampaign {
    /// Validates every field (all errors at once). `creative_errors` are the ownership and
    /// approval problems the caller found for `creative_ids`.
    pub fn parse(self, ctx: &CheckContext, creative_errors: Vec<FieldError>) -> Result<CampaignSpec> {
        let mut errors = creative_errors;
        let start_at = parse_time("start_at", &self.start_at, &mut errors);
        let end_at = parse_time("end_at", &self.end_at, &mut errors);
        Candidate {
            name: self.name,
            creative_ids: self.creative_ids,
            targeting: self.targeting,
            bid_cpm_micros: self.bid_cpm_micros,
            budget_micros: self.budget_micros,
            daily_budget_micros: self.daily_budget_micros,
            start_at,
            end_at,
            frequency_cap: self.frequency_cap,
            pacing: self.pacing,
        }
        .check(ctx, true, errors)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PatchStatus {
    Paused,
    Active,
}

/// `PATCH /v1/campaigns/{id}`: absent fields stay; `daily_budget_micros: null` removes the daily
/// budget; `status` pauses or resumes.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignPatch {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(min_items = 1, max_items = 10)]
    pub creative_ids: Option<Vec<String>>,
    /// Replaces the whole targeting.
    pub targeting: Option<Targeting>,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub bid_cpm_micros: Option<i64>,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub budget_micros: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub daily_budget_micros: Option<Option<i64>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_at: Option<String>,
    pub frequency_cap: Option<FrequencyCap>,
    pub pacing: Option<Pacing>,
    pub status: Option<PatchStatus>,
}

fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

impl CampaignPatch {
    /// Applies the patch to `current` and validates the result (all errors at once). Returns the
    /// new fields and the new pause flag. A completed campaign cannot be changed.
    pub fn apply(self, current: &CampaignRecord, ctx: &CheckContext, creative_errors: Vec<FieldError>) -> Result<(CampaignSpec, bool)> {
        if current.status(ctx.spent_micros, ctx.now) == CampaignStatus::Completed {
            return Err(Error::Conflict(
                "campaign_completed",
                "the campaign has ended and can no longer be changed".into(),
            ));
        }
        let mut errors = creative_errors;
        let start_at = match &self.start_at {
            Some(s) => parse_time("start_at", s, &mut errors),
            None => Some(current.start_at),
        };
        let end_at = match &self.end_at {
            Some(s) => parse_time("end_at", s, &mut errors),
            None => Some(current.end_at),
        };
        let paused = match self.status {
            Some(PatchStatus::Paused) => true,
            Some(PatchStatus::Active) => false,
            None => current.paused,
        };
        let spec = Candidate {
            name: self.name.unwrap_or_else(|| current.name.clone()),
            creative_ids: self.creative_ids.unwrap_or_else(|| current.creative_ids.clone()),
            targeting: self.targeting.unwrap_or_else(|| current.targeting.clone()),
            bid_cpm_micros: self.bid_cpm_micros.unwrap_or(current.bid_cpm_micros),
            budget_micros: self.budget_micros.unwrap_or(current.budget_micros),
            daily_budget_micros: self.daily_budget_micros.unwrap_or(current.daily_budget_micros),
            start_at,
            end_at,
            frequency_cap: self.frequency_cap.unwrap_or(current.frequency_cap),
            pacing: self.pacing.unwrap_or(current.pacing),
        }
        // An unchanged end is in the future (the campaign is not completed); a new one must be.
        .check(ctx, self.end_at.is_some(), errors)?;
        Ok((spec, paused))
    }
}

impl Candidate {
    fn check(self, ctx: &CheckContext, end_must_be_future: bool, mut errors: Vec<FieldError>) -> Result<CampaignSpec> {
        let name = match crate::advertisers::parse_name(&self.name, MAX_CAMPAIGN_NAME) {
            Ok(n) => n,
            Err(m) => {
                errors.push(FieldError::new("name", m));
                String::new()
            }
        };
        let creative_ids = check_creative_ids(&self.creative_ids, &mut errors);
        let targeting = check_targeting(self.targeting, &mut errors);

        let bid = self.bid_cpm_micros;
        if !(1..=MAX_BID_CPM_MICROS).contains(&bid) {
            errors.push(FieldError::new(
                "bid_cpm_micros",
                format!("a positive amount of at most {MAX_BID_CPM_MICROS}"),
            ));
        }
        let one = one_impression_micros(bid).max(1);
        let budget = self.budget_micros;
        if !(one..=MAX_BUDGET_MICROS).contains(&budget) {
            errors.push(FieldError::new(
                "budget_micros",
                format!("at least one impression at the bid ({one}) and at most {MAX_BUDGET_MICROS}"),
            ));
        } else if budget < ctx.spent_micros {
            errors.push(FieldError::new(
                "budget_micros",
                format!("must not be below what has already been spent ({})", ctx.spent_micros),
            ));
        }
        if let Some(daily) = self.daily_budget_micros
            && !(one..=budget.max(one)).contains(&daily)
        {
            errors.push(FieldError::new(
                "daily_budget_micros",
                format!("at least one impression at the bid ({one}) and at most the budget"),
            ));
        }
        if let (Some(start), Some(end)) = (self.start_at, self.end_at) {
            if end <= start {
                errors.push(FieldError::new("end_at", "must be after start_at"));
            } else if end_must_be_future && end <= ctx.now {
                errors.push(FieldError::new("end_at", "must be in the future"));
            }
        }
        let cap = self.frequency_cap;
        if !(1..=MAX_CAP_IMPRESSIONS).contains(&cap.impressions) {
            errors.push(FieldError::new(
                "frequency_cap.impressions",
                format!("at least 1 and at most {MAX_CAP_IMPRESSIONS}"),
            ));
        }
        if !(1..=MAX_CAP_SECONDS).contains(&cap.per_seconds) {
            errors.push(FieldError::new(
                "frequency_cap.per_seconds",
                format!("at least 1 and at most {MAX_CAP_SECONDS} (366 days)"),
            ));
        }
        match (self.start_at, self.end_at) {
            (Some(start_at), Some(end_at)) if errors.is_empty() => Ok(CampaignSpec {
                name,
                creative_ids,
                targeting,
                bid_cpm_micros: bid,
                budget_micros: budget,
                daily_budget_micros: self.daily_budget_micros,
                start_at,
                end_at,
                frequency_cap: cap,
                pacing: self.pacing,
            }),
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// 1–10 ids, deduplicated in order. Whether they are the caller's approved creatives is checked
/// against the store by the caller.
fn check_creative_ids(ids: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    if out.is_empty() || out.len() > MAX_CREATIVES {
        errors.push(FieldError::new("creative_ids", format!("1-{MAX_CREATIVES} creatives")));
    }
    out
}

fn check_targeting(t: Targeting, errors: &mut Vec<FieldError>) -> Targeting {
    let mut out = Targeting::default();
    if t.countries.len() > MAX_COUNTRIES {
        errors.push(FieldError::new("targeting.countries", format!("at most {MAX_COUNTRIES}")));
    }
    for (i, c) in t.countries.iter().enumerate() {
        match parse_country(c) {
            Ok(c) if !out.countries.contains(&c) => out.countries.push(c),
            Ok(_) => {}
            Err(m) => errors.push(FieldError::new(format!("targeting.countries[{i}]"), m)),
        }
    }
    if t.languages.len() > MAX_LANGUAGES {
        errors.push(FieldError::new("targeting.languages", format!("at most {MAX_LANGUAGES}")));
    }
    for (i, l) in t.languages.iter().enumerate() {
        match parse_language(l) {
            Ok(l) if !out.languages.contains(&l) => out.languages.push(l),
            Ok(_) => {}
            Err(m) => errors.push(FieldError::new(format!("targeting.languages[{i}]"), m)),
        }
    }
    match parse_interests(&t.interests, MAX_INTERESTS) {
        Ok(i) => out.interests = i,
        Err(e) => errors.extend(e.into_iter().map(|e| FieldError::new(format!("targeting.{}", e.field), e.message))),
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    pub(crate) fn ctx() -> CheckContext {
        CheckContext {
            now: now(),
            spent_micros: 0,
        }
    }

    pub(crate) fn new() -> NewCampaign {
        NewCampaign {
            name: "Winter".into(),
            creative_ids: vec!["c1".into(), "c1".into()],
            targeting: Targeting {
                countries: vec!["de".into(), "DE".into()],
                languages: vec!["DE".into()],
                interests: vec!["Coffee".into()],
            },
            bid_cpm_micros: 2_500_000,
            budget_micros: 1_000_000_000,
            daily_budget_micros: Some(10_000_000),
            start_at: "2026-11-20T00:00:00Z".into(),
            end_at: "2026-12-20T00:00:00Z".into(),
            frequency_cap: FrequencyCap {
                impressions: 3,
                per_seconds: 3600,
            },
            pacing: Pacing::Even,
        }
    }

    pub(crate) fn fields(r: Result<CampaignSpec>) -> Vec<String> {
        match r {
            Err(Error::Validation(e)) => e.into_iter().map(|e| e.field).collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    pub(crate) fn record() -> CampaignRecord {
        CampaignRecord::new("k1".into(), "a1".into(), new().parse(&ctx(), vec![]).unwrap(), now())
    }

    #[test]
    fn a_good_campaign_is_normalised() {
        let spec = new().parse(&ctx(), vec![]).unwrap();
        assert_eq!(spec.creative_ids, ["c1"]);
        assert_eq!(spec.targeting.countries, ["DE"]);
        assert_eq!(spec.targeting.languages, ["de"]);
        assert_eq!(spec.targeting.interests, ["coffee"]);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let bad = NewCampaign {
            name: "".into(),
            creative_ids: vec![],
            targeting: Targeting {
                countries: vec!["XX".into()],
                languages: vec!["english".into()],
                interests: vec!["no spaces".into()],
            },
            bid_cpm_micros: 0,
            budget_micros: 0,
            daily_budget_micros: Some(0),
            start_at: "yesterday".into(),
            end_at: "2026-11-01T00:00:00Z".into(),
            frequency_cap: FrequencyCap {
                impressions: 0,
                per_seconds: 0,
            },
            pacing: Pacing::Asap,
        };
        assert_eq!(
            fields(bad.parse(&ctx(), vec![FieldError::new("creative_ids[0]", "x")])),
            [
                "creative_ids[0]",
                "start_at",
                "name",
                "creative_ids",
                "targeting.countries[0]",
                "targeting.languages[0]",
                "targeting.interests[0]",
                "bid_cpm_micros",
                "budget_micros",
                "daily_budget_micros",
                "frequency_cap.impressions",
                "frequency_cap.per_seconds"
            ]
        );
    }

    #[test]
    fn money_and_time_rules() {
        let with = |f: fn(&mut NewCampaign)| {
            let mut c = new();
            f(&mut c);
            c.parse(&ctx(), vec![])
        };
        // Budget below one impression at the bid (2,500,000 CPM = 2,500 per impression).
        let below = with(|c| {
            c.budget_micros = 2_499;
            c.daily_budget_micros = None;
        });
        assert_eq!(fields(below), ["budget_micros"]);
        let exact = with(|c| {
            c.budget_micros = 2_500;
            c.daily_budget_micros = None;
        });
        assert_eq!(exact.unwrap().budget_micros, 2_500);
        assert_eq!(
            fields(with(|c| c.daily_budget_micros = Some(2_000_000_000))),
            ["daily_budget_micros"]
        );
        assert_eq!(fields(with(|c| c.bid_cpm_micros = -5)), ["bid_cpm_micros"]);
        assert_eq!(fields(with(|c| c.end_at = c.start_at.clone())), ["end_at"]);
        assert_eq!(fields(with(|c| c.end_at = "2026-11-25T11:59:59Z".into())), ["end_at"]);
        assert!(with(|c| c.start_at = "2020-01-01T00:00:00+02:00".into()).is_ok());
        assert_eq!(
            fields(with(|c| c.frequency_cap.per_seconds = MAX_CAP_SECONDS + 1)),
            ["frequency_cap.per_seconds"]
        );
    }

    #[test]
    fn patches() {
        let r = record();
        let (spec, paused) = CampaignPatch {
            status: Some(PatchStatus::Paused),
            daily_budget_micros: Some(None),
            ..Default::default()
        }
        .apply(&r, &ctx(), vec![])
        .unwrap();
        assert!(paused);
        assert_eq!(spec.daily_budget_micros, None);
        assert_eq!(spec.name, r.name);
        // Raising the bid makes the daily budget too small for one impression.
        let err = CampaignPatch {
            bid_cpm_micros: Some(20_000_000_000),
            ..Default::default()
        }
        .apply(&r, &ctx(), vec![]);
        assert_eq!(fields(err.map(|(s, _)| s)), ["daily_budget_micros"]);
        // The budget cannot go below what is spent.
        let spent = CheckContext {
            now: now(),
            spent_micros: 50_000_000,
        };
        let err = CampaignPatch {
            budget_micros: Some(40_000_000),
            daily_budget_micros: Some(None),
            ..Default::default()
        }
        .apply(&r, &spent, vec![]);
        assert_eq!(fields(err.map(|(s, _)| s)), ["budget_micros"]);
        // A completed campaign is frozen.
        let late = CheckContext {
            now: r.end_at,
            spent_micros: 0,
        };
        assert!(matches!(
            CampaignPatch::default().apply(&r, &late, vec![]),
            Err(Error::Conflict("campaign_completed", _))
        ));
    }
}
