//! Ads for the viewer: the campaign index, the pluggable selectors, splicing into the feed, and
//! signed ad tokens. Plain Rust: no HTTP, no Redis.
//!
//! Privacy is enforced by types: a selector receives an [`AdRequest`], which holds a pseudonymous
//! viewer id, country, language, consented interests and the viewer's own ad interactions — and
//! nothing else. Story content, contacts and views cannot reach a selector because nothing that
//! carries them is part of its input.

pub mod index;
pub mod openrtb;
pub mod selectors;
pub mod splice;
pub mod token;

use index::CampaignIndex;
use serde::Serialize;
use std::collections::HashSet;
use utoipa::ToSchema;

/// The viewer's own ad interactions that rule campaigns out.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    pub blocked_advertisers: HashSet<String>,
    pub hidden_campaigns: HashSet<String>,
    /// Campaigns whose frequency cap this viewer has reached.
    pub capped_campaigns: HashSet<String>,
}

/// Everything a selector may know about one request.
#[derive(Debug, Clone)]
pub struct AdRequest {
    /// A pseudonym of the viewer (a keyed hash of the user id), stable per viewer.
    pub viewer: String,
    pub country: Option<String>,
    pub language: Option<String>,
    /// The viewer's interests, present only while they consent to personalised ads.
    pub interests: Option<Vec<String>>,
    /// How many ads the page can hold.
    pub slots: usize,
    pub exclusions: Exclusions,
    /// Milliseconds since the epoch.
    pub now_ms: i64,
}

/// Which targeting terms of a campaign matched the viewer: the answer to "why this ad".
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Match {
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "c")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "l")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "i")]
    pub interests: Vec<String>,
}

impl Match {
    /// True when the match used the viewer's interests.
    pub fn personalized(&self) -> bool {
        !self.interests.is_empty()
    }
}

/// One ad to show: which campaign and creative, and what an impression of it costs.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub campaign_id: String,
    pub advertiser_id: String,
    /// Empty for an outside bid, whose image is known by its URL.
    pub creative_id: String,
    /// The clearing price of one impression, in micros (CPM ÷ 1000, rounded up).
    pub price_micros: i64,
    pub matched: Match,
    /// The winning outside bid, when an outside bidder won the slot.
    pub outside: Option<Box<openrtb::OutsideBid>>,
}

impl Decision {
    /// An impression of `campaign` at `cpm_micros`, with one of its creatives picked at random;
    /// `None` for a campaign without creatives.
    pub fn of(campaign: &index::IndexedCampaign, cpm_micros: i64, matched: Match, rng: &mut dyn rand::RngCore) -> Option<Decision> {
        use rand::seq::IndexedRandom;
        let creative = campaign.creative_ids.choose(rng)?;
        Some(Decision {
            campaign_id: campaign.id.clone(),
            advertiser_id: campaign.advertiser_id.clone(),
            creative_id: creative.clone(),
            price_micros: crate::advertisers::campaigns::one_impression_micros(cpm_micros),
            matched,
            outside: None,
        })
    }

    /// An impression of an outside bid at `cpm_micros`; what matched is what the bidder was told.
    pub fn outside(bid: &openrtb::OutsideBid, cpm_micros: i64, request: &AdRequest) -> Decision {
        Decision {
            campaign_id: bid.campaign_id(),
            advertiser_id: bid.advertiser_id(),
            creative_id: String::new(),
            price_micros: crate::advertisers::campaigns::one_impression_micros(cpm_micros),
            matched: Match {
                country: request.country.clone(),
                language: request.language.clone(),
                interests: request.interests.clone().unwrap_or_default(),
            },
            outside: Some(Box::new(bid.clone())),
        }
    }
}

/// Chooses ads for one request. Implementations live one per file in `selectors/` and are
/// named in [`selectors::by_name`].
pub trait AdSelector: Send + Sync {
    fn name(&self) -> &'static str;

    /// At most `request.slots` decisions, never two of one advertiser.
    fn select(&self, index: &CampaignIndex, request: &AdRequest, rng: &mut dyn rand::RngCore) -> Vec<Decision>;

    /// Whether outside bidders are asked for the page before it is decided (the `openrtb`
    /// selector), their accepted bids then passed to [`Self::select_with_outside`].
    fn asks_outside_bidders(&self) -> bool {
        false
    }

    /// As [`Self::select`], with outside bids competing.
    fn select_with_outside(
        &self,
        index: &CampaignIndex,
        request: &AdRequest,
        outside: &[openrtb::OutsideBid],
        rng: &mut dyn rand::RngCore,
    ) -> Vec<Decision> {
        let _ = outside;
        self.select(index, request, rng)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdAdvertiser {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdCta {
    pub label: String,
    pub url: String,
}

/// An ad card in the feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdItem {
    pub token: String,
    pub advertiser: AdAdvertiser,
    pub headline: String,
    pub media_url: String,
    pub thumb_url: String,
    pub cta: AdCta,
    pub sponsored: bool,
}
