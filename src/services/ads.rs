//! Ad use cases: fill a feed page's slots, and the viewer's actions on an ad token.

use crate::ads::index::CampaignIndex;
use crate::ads::splice::Placement;
use crate::ads::token::{AdToken, TokenKey, token_id};
use crate::ads::{AdAdvertiser, AdCta, AdItem, AdRequest, AdSelector, Exclusions, Match, selectors};
use crate::advertisers::creatives::{CreativeRecord, CreativeStatus};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::metrics::AdSlotOutcome;
use crate::store::Store;
use crate::store::reports::{AdEvent, Recorded};
use crate::store::viewer_ads::{ImpressionCaps, ViewerAdState, ViewerImpression};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use utoipa::ToSchema;

/// How long a viewer's impressions are kept for frequency caps: the longest window honoured.
pub const IMPRESSION_MEMORY_MS: i64 = 30 * 24 * 3600 * 1000;

/// Per-instance ad serving: the campaign index (swapped whole on reload), the selector and the
/// token key.
pub struct AdServer {
    index: RwLock<Arc<CampaignIndex>>,
    loaded: AtomicBool,
    selector: Box<dyn AdSelector>,
    pub tokens: TokenKey,
    pub placement: Placement,
    pub deadline: Duration,
    pub daily_cap: u32,
    pub token_ttl_ms: i64,
    /// Days report counters are kept (`reports.retention_days`).
    pub retention_days: u32,
    pub reports_to_review: u32,
}

impl AdServer {
    pub fn new(settings: &Settings) -> AdServer {
        let ads = &settings.ads;
        let selector = selectors::by_name(ads.selector, ads.reserve_cpm_micros);
        AdServer {
            index: RwLock::new(Arc::new(CampaignIndex::default())),
            loaded: AtomicBool::new(false),
            selector,
            tokens: TokenKey::new(ads.token_key(settings).as_bytes()),
            placement: Placement {
                first_slot: ads.first_slot,
                interval: ads.interval,
                max_per_page: ads.max_per_page,
            },
            deadline: Duration::from_millis(ads.deadline_ms),
            daily_cap: ads.daily_cap_per_viewer,
            token_ttl_ms: ads.token_ttl_secs as i64 * 1000,
            retention_days: settings.reports.retention_days,
            reports_to_review: ads.reports_to_review,
        }
    }

    pub fn index(&self) -> Arc<CampaignIndex> {
        self.index.read().map(|i| i.clone()).unwrap_or_default()
    }

    pub fn replace_index(&self, index: CampaignIndex) {
        if let Ok(mut slot) = self.index.write() {
            *slot = Arc::new(index);
        }
        self.loaded.store(true, Ordering::Release);
    }

    /// True once the index has been loaded from Redis at least once.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub fn pseudonym(&self, viewer: &str) -> String {
        self.tokens.pseudonym(viewer)
    }
}

/// What the ads of one feed page are chosen from. It is read from Redis by the page's own tray
/// script, so that ads add no round trip of their own to the page's time.
pub enum ViewerAds {
    /// No ads for this viewer now: the ad-free entitlement, the daily cap, or the `none` selector.
    Suppressed,
    /// The viewer's ad state could not be read.
    Failed,
    /// Ads may be shown, this many at most today.
    Eligible { state: Box<ViewerAdState>, left_today: usize },
}

/// How much impression history to read with a page, or `None` when no ads can be served at all:
/// today's (the viewer's daily cap) and as far back as the longest frequency cap of the campaigns
/// that may serve, not the 30 days kept for billing (caps are checked again, exactly, when an
/// impression is billed).
pub fn ad_state_to_read(server: &AdServer, now_ms: i64) -> Option<i64> {
    let today_ms = now_ms - day_start_ms(now_ms);
    (server.selector.name() != "none").then(|| server.index().longest_cap_window_ms().max(today_ms))
}

/// The start of the UTC day of `now_ms`: daily caps and budgets count from it.
fn day_start_ms(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(86_400_000)
}

/// What [`ads_for_page`] chooses from, given the viewer's ad state as read (`None` when it was
/// not read). Never fails: an error is [`ViewerAds::Failed`], which serves the page without ads.
pub fn viewer_ads(server: &AdServer, read: Option<Result<ViewerAdState>>, now_ms: i64) -> ViewerAds {
    let state = match read {
        None => return ViewerAds::Suppressed,
        Some(Ok(state)) => state,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "ad selection failed; serving the page without ads");
            return ViewerAds::Failed;
        }
    };
    let today_start = day_start_ms(now_ms);
    let today = state.impressions.iter().filter(|(_, at)| *at >= today_start).count();
    let cap = server.daily_cap as usize;
    if state.ad_free || today >= cap {
        return ViewerAds::Suppressed;
    }
    ViewerAds::Eligible {
        state: Box::new(state),
        left_today: cap - today,
    }
}

/// Ads for `slots` slots of the viewer's page, and the outcome of each slot.
pub fn ads_for_page(
    server: &AdServer,
    viewer_ads: ViewerAds,
    viewer: &str,
    slots: usize,
    now_ms: i64,
) -> (Vec<AdItem>, Vec<AdSlotOutcome>) {
    if slots == 0 {
        return (Vec::new(), Vec::new());
    }
    let (state, left_today) = match viewer_ads {
        ViewerAds::Suppressed => return (Vec::new(), vec![AdSlotOutcome::Suppressed; slots]),
        ViewerAds::Failed => return (Vec::new(), vec![AdSlotOutcome::TimedOut; slots]),
        ViewerAds::Eligible { state, left_today } => (state, left_today),
    };
    let ads = choose(server, *state, viewer, slots.min(left_today), now_ms);
    let mut outcomes = vec![AdSlotOutcome::Filled; ads.len()];
    outcomes.resize(slots, AdSlotOutcome::Unfilled);
    (ads, outcomes)
}

fn choose(server: &AdServer, state: ViewerAdState, viewer: &str, slots: usize, now_ms: i64) -> Vec<AdItem> {
    let index = server.index();
    let settings = state.settings;
    let request = AdRequest {
        viewer: server.pseudonym(viewer),
        country: settings.country,
        language: settings.language,
        // Interests reach the selector only while the viewer consents.
        interests: settings.personalized_ads.then_some(settings.interests),
        slots,
        exclusions: Exclusions {
            capped_campaigns: index.capped(state.impressions.iter().map(|(c, at)| (c.as_str(), *at)), now_ms),
            blocked_advertisers: state.blocked_advertisers,
            hidden_campaigns: state.hidden_campaigns,
        },
        now_ms,
    };
    let decisions = server.selector.select(&index, &request, &mut rand::rng());
    decisions
        .into_iter()
        .filter_map(|d| {
            let card = index.card(&d.creative_id)?;
            let token = AdToken {
                campaign_id: d.campaign_id,
                creative_id: d.creative_id.clone(),
                advertiser_id: d.advertiser_id.clone(),
                viewer: viewer.to_owned(),
                served_ms: now_ms,
                expires_ms: now_ms + server.token_ttl_ms,
                price_micros: d.price_micros,
                matched: d.matched,
                nonce: rand::random(),
            };
            Some(AdItem {
                token: server.tokens.sign(&token),
                advertiser: AdAdvertiser {
                    id: card.advertiser_id.clone(),
                    name: card.advertiser_name.clone(),
                },
                headline: card.headline.clone(),
                media_url: format!("/v1/ads/creatives/{}/media", d.creative_id),
                thumb_url: format!("/v1/ads/creatives/{}/thumb", d.creative_id),
                cta: AdCta {
                    label: card.cta_label.clone(),
                    url: card.cta_url.clone(),
                },
                sponsored: true,
            })
        })
        .collect()
}

/// A token of this viewer's, or `NotFound`.
pub fn open_token(server: &AdServer, viewer: &str, token: &str, now_ms: i64) -> Result<AdToken> {
    server.tokens.verify(token, viewer, now_ms).ok_or(Error::NotFound)
}

/// What an impression came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpressionOutcome {
    /// Counted and charged at the clearing price.
    Billed,
    /// Past a cap, or the campaign can no longer pay: answered, not billed.
    NotBillable,
    /// This token's impression was already counted.
    Duplicate,
}

/// Counts an impression once per token: caps on the viewer's slot first, then the charge on the
/// campaign's slot; if the campaign cannot pay, the viewer's count is taken back.
pub async fn impression(store: &Store, server: &AdServer, viewer: &str, token: &str, now_ms: i64) -> Result<(ImpressionOutcome, i64)> {
    let t = open_token(server, viewer, token, now_ms)?;
    let index = server.index();
    let (cap, window_secs) = index
        .get(&t.campaign_id)
        .map(|c| (c.frequency_cap, c.frequency_cap_secs))
        .unwrap_or((0, 1));
    let caps = ImpressionCaps {
        frequency_cap: cap,
        frequency_window_ms: window_secs as i64 * 1000,
        daily_cap: server.daily_cap,
        day_start_ms: day_start_ms(now_ms),
        keep_ms: IMPRESSION_MEMORY_MS,
    };
    let id = token_id(token);
    match store.count_viewer_impression(viewer, id, &t, caps, now_ms).await? {
        ViewerImpression::Duplicate => Ok((ImpressionOutcome::Duplicate, 0)),
        ViewerImpression::Capped => Ok((ImpressionOutcome::NotBillable, 0)),
        ViewerImpression::Counted => {
            let event = AdEvent::Impression {
                viewer: &server.pseudonym(viewer),
                price_micros: t.price_micros,
            };
            match store
                .record_ad_event(&t.campaign_id, event, at(now_ms), server.retention_days)
                .await?
            {
                Recorded::Counted => Ok((ImpressionOutcome::Billed, t.price_micros)),
                Recorded::CountedAndSpentOut => {
                    // The script has told every instance; the version is for one that missed it.
                    if let Err(e) = store.bump_campaigns_version().await {
                        tracing::warn!(error = %e, campaign = %t.campaign_id, "campaign spent out; version not bumped");
                    }
                    Ok((ImpressionOutcome::Billed, t.price_micros))
                }
                Recorded::OverBudget | Recorded::NoCampaign => {
                    store.uncount_viewer_impression(viewer, &t.campaign_id, id).await?;
                    Ok((ImpressionOutcome::NotBillable, 0))
                }
            }
        }
    }
}

/// "Why am I seeing this ad": reasons built from the targeting terms that matched.
pub fn why(matched: &Match) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(country) = &matched.country {
        reasons.push(format!(
            "The advertiser wants to reach people in {country}, and your country is set to {country}."
        ));
    }
    if let Some(language) = &matched.language {
        reasons.push(format!(
            "The advertiser wants to reach people who use the language \"{language}\", as you do."
        ));
    }
    if !matched.interests.is_empty() {
        reasons.push(format!(
            "The advertiser wants to reach people interested in {}, which you chose in your interests (personalised ads are on).",
            matched.interests.join(", ")
        ));
    }
    if reasons.is_empty() {
        reasons.push("This ad is not targeted: it may be shown to anyone.".into());
    }
    reasons.push("Ads are never chosen by what you post, who your contacts are, or what you view.".into());
    reasons
}

fn at(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Records a click once per token; answers the URL to open either way.
pub async fn click(store: &Store, server: &AdServer, viewer: &str, token: &str, now_ms: i64) -> Result<String> {
    let t = open_token(server, viewer, token, now_ms)?;
    let url = match server.index().card(&t.creative_id) {
        Some(card) => card.cta_url.clone(),
        None => store.creative(&t.creative_id).await?.map(|c| c.cta.url).ok_or(Error::NotFound)?,
    };
    count_once(store, server, viewer, token, &t, AdEvent::Click, now_ms).await?;
    Ok(url)
}

/// Counts a click, hide or report of the ad behind `token` in its campaign's report, once per
/// token; true the first time.
async fn count_once(
    store: &Store,
    server: &AdServer,
    viewer: &str,
    token: &str,
    t: &AdToken,
    event: AdEvent<'_>,
    now_ms: i64,
) -> Result<bool> {
    let first = store
        .mark_ad_event_once(viewer, token_id(token), event.as_ref(), t.expires_ms, now_ms)
        .await?;
    if first {
        store
            .record_ad_event(&t.campaign_id, event, at(now_ms), server.retention_days)
            .await?;
    }
    Ok(first)
}

/// No more ads of this campaign for the viewer; counted once per token.
pub async fn hide(store: &Store, server: &AdServer, viewer: &str, token: &str, now_ms: i64) -> Result<()> {
    let t = open_token(server, viewer, token, now_ms)?;
    store.hide_campaign(viewer, &t.campaign_id).await?;
    count_once(store, server, viewer, token, &t, AdEvent::Hide, now_ms).await?;
    Ok(())
}

/// Reports an ad, once per token. Reports from `ads.reports_to_review` distinct viewers send the
/// creative back to review, which stops it serving everywhere.
pub async fn report(store: &Store, server: &AdServer, viewer: &str, token: &str, reason: &str, now_ms: i64) -> Result<()> {
    let t = open_token(server, viewer, token, now_ms)?;
    if !count_once(store, server, viewer, token, &t, AdEvent::Report, now_ms).await? {
        return Ok(());
    }
    let reporters = store.add_creative_report(&t.creative_id, &server.pseudonym(viewer), reason).await?;
    if reporters >= u64::from(server.reports_to_review) {
        send_back_to_review(store, &t.creative_id, now_ms).await?;
    }
    Ok(())
}

/// "Why am I seeing this ad?"
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WhyThisAd {
    pub reasons: Vec<String>,
    /// True when the match used the viewer's interests.
    pub personalized: bool,
}

pub fn explain(server: &AdServer, viewer: &str, token: &str, now_ms: i64) -> Result<WhyThisAd> {
    let t = open_token(server, viewer, token, now_ms)?;
    Ok(WhyThisAd {
        reasons: why(&t.matched),
        personalized: t.matched.personalized(),
    })
}

/// An advertiser as the viewer's ad preferences list it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdvertiserRef {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdPreferences {
    /// Advertisers whose ads the viewer saw lately, most recent first.
    pub recent_advertisers: Vec<AdvertiserRef>,
    pub blocked_advertisers: Vec<AdvertiserRef>,
}

pub const RECENT_ADVERTISERS: usize = 20;

pub async fn preferences(store: &Store, viewer: &str) -> Result<AdPreferences> {
    let (blocked, recent) = store.ad_preferences(viewer, RECENT_ADVERTISERS).await?;
    let ids: Vec<String> = recent.iter().chain(blocked.iter()).cloned().collect();
    let names = store.advertisers(&ids).await?;
    let mut refs = ids.into_iter().zip(names).map(|(id, a)| AdvertiserRef {
        id,
        name: a.map(|a| a.name),
    });
    let recent_advertisers = refs.by_ref().take(recent.len()).collect();
    Ok(AdPreferences {
        recent_advertisers,
        blocked_advertisers: refs.collect(),
    })
}

/// Takes a reported creative off the air until the admin reviews it again.
async fn send_back_to_review(store: &Store, creative_id: &str, now_ms: i64) -> Result<()> {
    let Some(creative) = store.creative(creative_id).await? else {
        return Ok(());
    };
    if creative.status != CreativeStatus::Approved {
        return Ok(());
    }
    let pending = CreativeRecord {
        status: CreativeStatus::PendingReview,
        review_reason: Some("reported by viewers; needs another review".into()),
        reviewed_at: Some(at(now_ms)),
        ..creative
    };
    store.save_review(&pending).await?;
    store.clear_creative_reports(creative_id).await
}
