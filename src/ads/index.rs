//! The in-memory campaign index every instance holds: campaigns bucketed by (country, language)
//! targeting, each bucket sorted by expected revenue, so that a decision reads only the four
//! buckets that can match a viewer and stops as soon as it has enough candidates.

use super::{AdRequest, Match};
pub use crate::advertisers::campaigns::Pacing;
use crate::advertisers::campaigns::one_impression_micros;
use std::collections::HashMap;

/// What the index knows of one campaign: its targeting, money and performance at load time.
#[derive(Debug, Clone)]
pub struct IndexedCampaign {
    pub id: String,
    pub advertiser_id: String,
    /// Approved creatives only.
    pub creative_ids: Vec<String>,
    pub bid_cpm_micros: i64,
    /// Empty: anyone.
    pub countries: Vec<String>,
    pub languages: Vec<String>,
    pub interests: Vec<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub paused: bool,
    pub budget_micros: i64,
    pub spent_micros: i64,
    pub daily_budget_micros: Option<i64>,
    pub spent_today_micros: i64,
    pub pacing: Pacing,
    /// At most this many impressions per viewer within `frequency_cap_secs`.
    pub frequency_cap: u32,
    pub frequency_cap_secs: u64,
    pub impressions: u64,
    pub clicks: u64,
}

/// What an ad item shows: one approved creative and its advertiser.
#[derive(Debug, Clone, PartialEq)]
pub struct AdCard {
    pub creative_id: String,
    pub advertiser_id: String,
    pub advertiser_name: String,
    pub headline: String,
    pub cta_label: String,
    pub cta_url: String,
}

/// Prior of the click-through estimate: one click in a hundred impressions, worth a hundred
/// impressions of evidence, so that new campaigns start at 1% and converge to what they earn.
const PRIOR_CLICKS: f64 = 1.0;
const PRIOR_IMPRESSIONS: f64 = 100.0;
/// The click-through estimate of a campaign without history.
pub const PRIOR_CTR: f64 = PRIOR_CLICKS / PRIOR_IMPRESSIONS;

impl IndexedCampaign {
    /// Smoothed click-through rate: the campaign's quality factor.
    pub fn ctr_estimate(&self) -> f64 {
        (self.clicks as f64 + PRIOR_CLICKS) / (self.impressions as f64 + PRIOR_IMPRESSIONS)
    }

    /// Expected revenue per thousand impressions.
    pub fn ecpm(&self) -> f64 {
        self.bid_cpm_micros as f64 * self.ctr_estimate()
    }

    /// Whether the campaign may serve at all right now, before looking at the viewer.
    pub fn serving(&self, now_ms: i64) -> bool {
        let price = one_impression_micros(self.bid_cpm_micros);
        if self.paused || now_ms < self.start_ms || now_ms >= self.end_ms || self.creative_ids.is_empty() {
            return false;
        }
        if self.budget_micros - self.spent_micros < price {
            return false;
        }
        if let Some(daily) = self.daily_budget_micros
            && daily - self.spent_today_micros < price
        {
            return false;
        }
        match self.pacing {
            Pacing::Asap => true,
            Pacing::Even => {
                let flight = (self.end_ms - self.start_ms).max(1) as f64;
                let elapsed = (now_ms - self.start_ms) as f64 / flight;
                // One impression of slack, so that a campaign can start.
                self.spent_micros as f64 <= self.budget_micros as f64 * elapsed + price as f64
            }
        }
    }

    /// The targeting terms that admit this viewer, or None.
    fn matches(&self, request: &AdRequest) -> Option<Match> {
        let mut matched = Match::default();
        if !self.countries.is_empty() {
            matched.country = Some(request.country.clone().filter(|c| self.countries.contains(c))?);
        }
        if !self.languages.is_empty() {
            matched.language = Some(request.language.clone().filter(|l| self.languages.contains(l))?);
        }
        if !self.interests.is_empty() {
            // Interests count only while the viewer consents: without consent they are None.
            let theirs = request.interests.as_ref()?;
            matched.interests = self.interests.iter().filter(|i| theirs.contains(i)).cloned().collect();
            if matched.interests.is_empty() {
                return None;
            }
        }
        Some(matched)
    }
}

const ANY: &str = "*";

/// Campaigns by targeting bucket; each bucket sorted by eCPM, best first.
#[derive(Debug, Default)]
pub struct CampaignIndex {
    campaigns: Vec<IndexedCampaign>,
    /// The longest frequency-cap window of any indexed campaign (ms).
    longest_cap_window_ms: i64,
    by_id: HashMap<String, u32>,
    buckets: HashMap<(String, String), Vec<u32>>,
    cards: HashMap<String, AdCard>,
}

impl CampaignIndex {
    /// Indexes campaigns that can serve (positive bid, at least one creative with a card).
    pub fn build(campaigns: Vec<IndexedCampaign>, cards: Vec<AdCard>) -> CampaignIndex {
        let cards: HashMap<String, AdCard> = cards.into_iter().map(|c| (c.creative_id.clone(), c)).collect();
        let campaigns: Vec<IndexedCampaign> = campaigns
            .into_iter()
            .map(|mut c| {
                c.creative_ids.retain(|id| cards.contains_key(id));
                c
            })
            .filter(|c| !c.creative_ids.is_empty() && c.bid_cpm_micros > 0)
            .collect();
        let by_id = campaigns.iter().enumerate().map(|(i, c)| (c.id.clone(), i as u32)).collect();
        let mut buckets: HashMap<(String, String), Vec<u32>> = HashMap::new();
        for (i, c) in campaigns.iter().enumerate() {
            let countries: Vec<&str> = if c.countries.is_empty() {
                vec![ANY]
            } else {
                c.countries.iter().map(String::as_str).collect()
            };
            let languages: Vec<&str> = if c.languages.is_empty() {
                vec![ANY]
            } else {
                c.languages.iter().map(String::as_str).collect()
            };
            for country in &countries {
                for language in &languages {
                    buckets
                        .entry((country.to_string(), language.to_string()))
                        .or_default()
                        .push(i as u32);
                }
            }
        }
        for list in buckets.values_mut() {
            list.sort_by(|a, b| campaigns[*b as usize].ecpm().total_cmp(&campaigns[*a as usize].ecpm()));
        }
        let longest_cap_window_ms = campaigns.iter().map(|c| c.frequency_cap_secs as i64 * 1000).max().unwrap_or(0);
        CampaignIndex {
            campaigns,
            longest_cap_window_ms,
            by_id,
            buckets,
            cards,
        }
    }

    /// How far back a viewer's impressions matter to the frequency caps of these campaigns.
    pub fn longest_cap_window_ms(&self) -> i64 {
        self.longest_cap_window_ms
    }

    pub fn len(&self) -> usize {
        self.campaigns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&IndexedCampaign> {
        self.by_id.get(id).map(|&i| &self.campaigns[i as usize])
    }

    pub fn card(&self, creative_id: &str) -> Option<&AdCard> {
        self.cards.get(creative_id)
    }

    /// The campaigns whose frequency cap this viewer has reached, from the viewer's recent
    /// impressions (campaign id, time in ms).
    pub fn capped<'a>(&self, impressions: impl IntoIterator<Item = (&'a str, i64)>, now_ms: i64) -> std::collections::HashSet<String> {
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for (campaign, at) in impressions {
            if let Some(c) = self.get(campaign)
                && now_ms - at < (c.frequency_cap_secs as i64).saturating_mul(1000)
            {
                *counts.entry(campaign).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .filter(|(id, n)| self.get(id).is_some_and(|c| *n >= c.frequency_cap))
            .map(|(id, _)| id.to_owned())
            .collect()
    }

    /// Campaigns that may show this viewer an ad now, best eCPM first, with what matched. Lazy:
    /// a selector that needs three stops after three (plus what it skips).
    pub fn candidates<'a>(&'a self, request: &'a AdRequest) -> impl Iterator<Item = (&'a IndexedCampaign, Match)> + 'a {
        let country = request.country.as_deref();
        let language = request.language.as_deref();
        let mut keys: Vec<(&str, &str)> = vec![(ANY, ANY)];
        if let Some(l) = language {
            keys.push((ANY, l));
        }
        if let Some(c) = country {
            keys.push((c, ANY));
            if let Some(l) = language {
                keys.push((c, l));
            }
        }
        // Each campaign sits in exactly one of these buckets for a given viewer, so merging
        // them never yields one twice.
        let lists: Vec<&[u32]> = keys
            .iter()
            .filter_map(|(c, l)| self.buckets.get(&(c.to_string(), l.to_string())))
            .map(Vec::as_slice)
            .collect();
        Merge {
            index: self,
            lists,
            heads: Vec::new(),
        }
        .map(move |i| &self.campaigns[i as usize])
        .filter(move |c| c.serving(request.now_ms))
        .filter(move |c| {
            let x = &request.exclusions;
            !x.blocked_advertisers.contains(&c.advertiser_id) && !x.hidden_campaigns.contains(&c.id) && !x.capped_campaigns.contains(&c.id)
        })
        .filter_map(move |c| c.matches(request).map(|m| (c, m)))
    }
}

/// Merges buckets sorted by eCPM into one stream, best first.
struct Merge<'a> {
    index: &'a CampaignIndex,
    lists: Vec<&'a [u32]>,
    heads: Vec<usize>,
}

impl Iterator for Merge<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.heads.is_empty() {
            self.heads = vec![0; self.lists.len()];
        }
        let mut best: Option<(usize, f64)> = None;
        for (l, list) in self.lists.iter().enumerate() {
            if let Some(&i) = list.get(self.heads[l]) {
                let ecpm = self.index.campaigns[i as usize].ecpm();
                if best.is_none_or(|(_, b)| ecpm > b) {
                    best = Some((l, ecpm));
                }
            }
        }
        let (l, _) = best?;
        let i = self.lists[l][self.heads[l]];
        self.heads[l] += 1;
        Some(i)
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn campaign(id: &str, advertiser: &str, bid: i64) -> IndexedCampaign {
        IndexedCampaign {
            id: id.into(),
            advertiser_id: advertiser.into(),
            creative_ids: vec![format!("cr-{id}")],
            bid_cpm_micros: bid,
            countries: vec![],
            languages: vec![],
            interests: vec![],
            start_ms: 0,
            end_ms: i64::MAX,
            paused: false,
            budget_micros: 1_000_000_000,
            spent_micros: 0,
            daily_budget_micros: None,
            spent_today_micros: 0,
            pacing: Pacing::Asap,
            frequency_cap: 2,
            frequency_cap_secs: 60,
            impressions: 0,
            clicks: 0,
        }
    }

    pub fn cards_for(campaigns: &[IndexedCampaign]) -> Vec<AdCard> {
        campaigns
            .iter()
            .flat_map(|c| {
                c.creative_ids.iter().map(|id| AdCard {
                    creative_id: id.clone(),
                    advertiser_id: c.advertiser_id.clone(),
                    advertiser_name: format!("{} Inc.", c.advertiser_id),
                    headline: "Try it".into(),
                    cta_label: "Learn more".into(),
                    cta_url: "https://example.com".into(),
                })
            })
            .collect()
    }

    pub fn index_of(campaigns: Vec<IndexedCampaign>) -> CampaignIndex {
        let cards = cards_for(&campaigns);
        CampaignIndex::build(campaigns, cards)
    }

    pub fn request(country: Option<&str>, language: Option<&str>, interests: Option<&[&str]>) -> AdRequest {
        AdRequest {
            viewer: "v".into(),
            country: country.map(String::from),
            language: language.map(String::from),
            interests: interests.map(|i| i.iter().map(|s| s.to_string()).collect()),
            slots: 3,
            exclusions: Default::default(),
            now_ms: 1_000,
        }
    }

    fn ids(index: &CampaignIndex, req: &AdRequest) -> Vec<String> {
        index.candidates(req).map(|(c, _)| c.id.clone()).collect()
    }

    #[test]
    fn targeting_buckets_and_order() {
        let mut de = campaign("de", "a1", 3_000_000);
        de.countries = vec!["DE".into()];
        let mut fr_fr = campaign("fr-fr", "a2", 4_000_000);
        fr_fr.countries = vec!["FR".into()];
        fr_fr.languages = vec!["fr".into()];
        let anyone = campaign("any", "a3", 2_000_000);
        let mut en = campaign("en", "a4", 5_000_000);
        en.languages = vec!["en".into()];
        let index = index_of(vec![de, fr_fr, anyone, en]);
        assert_eq!(ids(&index, &request(Some("DE"), Some("en"), None)), ["en", "de", "any"]);
        assert_eq!(ids(&index, &request(Some("FR"), Some("fr"), None)), ["fr-fr", "any"]);
        assert_eq!(ids(&index, &request(Some("FR"), Some("de"), None)), ["any"]);
        assert_eq!(ids(&index, &request(None, None, None)), ["any"], "unknown country: untargeted only");
    }

    #[test]
    fn interests_need_consent() {
        let mut football = campaign("football", "a1", 1_000_000);
        football.interests = vec!["football".into()];
        let index = index_of(vec![football]);
        assert!(ids(&index, &request(None, None, None)).is_empty(), "no consent: interests unknown");
        assert!(ids(&index, &request(None, None, Some(&["chess"]))).is_empty());
        let req = request(None, None, Some(&["chess", "football"]));
        let (_, m) = index.candidates(&req).next().unwrap();
        assert_eq!(m.interests, ["football"]);
        assert!(m.personalized());
    }

    #[test]
    fn schedule_budget_pacing_and_exclusions() {
        let mut later = campaign("later", "a1", 1_000_000);
        later.start_ms = 5_000;
        let mut over = campaign("over", "a2", 1_000_000);
        over.end_ms = 1_000;
        let mut spent = campaign("spent", "a3", 1_000_000);
        spent.spent_micros = spent.budget_micros - 999;
        let mut daily = campaign("daily", "a4", 1_000_000);
        daily.daily_budget_micros = Some(5_000);
        daily.spent_today_micros = 5_000;
        let mut paused = campaign("paused", "a5", 1_000_000);
        paused.paused = true;
        let mut ahead = campaign("ahead", "a6", 1_000_000);
        ahead.pacing = Pacing::Even;
        ahead.start_ms = 0;
        ahead.end_ms = 10_000;
        ahead.spent_micros = ahead.budget_micros / 2;
        let mut on_pace = ahead.clone();
        on_pace.id = "on-pace".into();
        on_pace.spent_micros = ahead.budget_micros / 20;
        let hidden = campaign("hidden", "a7", 1_000_000);
        let blocked = campaign("blocked", "a8", 1_000_000);
        let capped = campaign("capped", "a9", 1_000_000);
        let ok = campaign("ok", "a10", 1_000_000);
        let index = index_of(vec![later, over, spent, daily, paused, ahead, on_pace, hidden, blocked, capped, ok]);
        let mut req = request(None, None, None);
        req.exclusions.hidden_campaigns.insert("hidden".into());
        req.exclusions.capped_campaigns.insert("capped".into());
        req.exclusions.blocked_advertisers.insert("a8".into());
        let mut got = ids(&index, &req);
        got.sort();
        assert_eq!(got, ["ok", "on-pace"]);
    }

    #[test]
    fn frequency_caps_count_within_the_window() {
        let index = index_of(vec![campaign("c1", "a1", 1_000_000), campaign("c2", "a2", 1_000_000)]);
        // Cap: 2 per 60 s.
        let capped = index.capped(
            [("c1", 50_000), ("c1", 90_000), ("c2", 10_000), ("c2", 95_000), ("gone", 99_000)],
            100_000,
        );
        assert_eq!(capped.into_iter().collect::<Vec<_>>(), ["c1"]);
    }

    #[test]
    fn creatives_without_cards_do_not_serve() {
        let c = campaign("c1", "a1", 1_000_000);
        assert!(CampaignIndex::build(vec![c.clone()], vec![]).is_empty());
        assert_eq!(CampaignIndex::build(vec![c.clone()], cards_for(&[c])).len(), 1);
    }
}
