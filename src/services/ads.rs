//! Ads on a feed page: the per-instance ad server and the filling of a page's slots. What a
//! viewer does with an ad afterwards is in `ad_actions`.

use crate::ads::index::CampaignIndex;
use crate::ads::splice::Placement;
use crate::ads::token::{AdToken, TokenKey};
use crate::ads::{AdAdvertiser, AdCta, AdItem, AdRequest, AdSelector, Exclusions, selectors};
use crate::config::Settings;
use crate::error::Result;
use crate::ids::UserId;
use crate::metrics::AdSlotOutcome;
use crate::services::outside_demand::OutsideDemand;
use crate::store::Store;
use crate::store::viewer_ads::ViewerAdState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long a viewer's impressions are kept for frequency caps: the longest window honoured.
pub const IMPRESSION_MEMORY_MS: i64 = 30 * 24 * 3600 * 1000;

/// Per-instance ad serving: the campaign index (swapped whole on reload), the selector and the
/// token key.
pub struct AdServer {
    index: RwLock<Arc<CampaignIndex>>,
    loaded: AtomicBool,
    selector: Box<dyn AdSelector>,
    /// The outside bidders, when the selector asks them (`openrtb`).
    outside: Option<OutsideDemand>,
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
    pub fn new(settings: &Settings, metrics: Arc<crate::metrics::Metrics>) -> AdServer {
        let ads = &settings.ads;
        let selector = selectors::by_name(ads.selector, ads.reserve_cpm_micros);
        AdServer {
            index: RwLock::new(Arc::new(CampaignIndex::default())),
            loaded: AtomicBool::new(false),
            outside: selector.asks_outside_bidders().then(|| OutsideDemand::new(settings, metrics)),
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

    /// The outside bidders, with the `openrtb` selector.
    pub fn outside(&self) -> Option<&OutsideDemand> {
        self.outside.as_ref()
    }

    pub fn pseudonym(&self, viewer: &UserId) -> String {
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
pub(super) fn day_start_ms(now_ms: i64) -> i64 {
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
pub async fn ads_for_page(
    store: &Store,
    server: &AdServer,
    viewer_ads: ViewerAds,
    viewer: &UserId,
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
    let ads = choose(store, server, *state, viewer, slots.min(left_today), now_ms).await;
    let mut outcomes = vec![AdSlotOutcome::Filled; ads.len()];
    outcomes.resize(slots, AdSlotOutcome::Unfilled);
    (ads, outcomes)
}

async fn choose(store: &Store, server: &AdServer, state: ViewerAdState, viewer: &UserId, slots: usize, now_ms: i64) -> Vec<AdItem> {
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
    let decisions = match &server.outside {
        Some(outside) => {
            let bids = outside
                .bids(store, &server.tokens, &request, outside.time_for_bidders(server.deadline))
                .await;
            let decisions = server.selector.select_with_outside(&index, &request, &bids, &mut rand::rng());
            outside.settle(&bids, &decisions);
            decisions
        }
        None => server.selector.select(&index, &request, &mut rand::rng()),
    };
    decisions
        .into_iter()
        .filter_map(|d| card(server, &index, d, viewer, now_ms))
        .collect()
}

/// The ad item of a decision: a house creative's card, or an outside bid's.
fn card(server: &AdServer, index: &CampaignIndex, d: crate::ads::Decision, viewer: &UserId, now_ms: i64) -> Option<AdItem> {
    let (advertiser, headline, images, cta) = match &d.outside {
        None => {
            let card = index.card(&d.creative_id)?;
            let advertiser = AdAdvertiser {
                id: card.advertiser_id.clone(),
                name: card.advertiser_name.clone(),
            };
            let cta = AdCta {
                label: card.cta_label.clone(),
                url: card.cta_url.clone(),
            };
            (
                advertiser,
                card.headline.clone(),
                format!("/v1/ads/creatives/{}", d.creative_id),
                cta,
            )
        }
        Some(bid) => {
            let advertiser = AdAdvertiser {
                id: d.advertiser_id.clone(),
                name: bid.advertiser_domain.clone(),
            };
            let cta = AdCta {
                label: bid.cta_text.clone(),
                url: bid.click_url.clone(),
            };
            (
                advertiser,
                bid.title.clone(),
                format!("/v1/ads/outside/{}", bid.image_id.as_deref()?),
                cta,
            )
        }
    };
    let billing_url = d.outside.as_deref().and_then(|bid| {
        let currency = server.outside.as_ref()?.currency();
        bid.billing_notice(currency, d.price_micros * 1000)
    });
    let token = AdToken {
        click_url: d.outside.as_ref().map(|_| cta.url.clone()),
        billing_url,
        campaign_id: d.campaign_id,
        creative_id: d.creative_id,
        advertiser_id: d.advertiser_id,
        viewer: viewer.clone(),
        served_ms: now_ms,
        expires_ms: now_ms + server.token_ttl_ms,
        price_micros: d.price_micros,
        matched: d.matched,
        nonce: rand::random(),
    };
    Some(AdItem {
        token: server.tokens.sign(&token),
        advertiser,
        headline,
        media_url: format!("{images}/media"),
        thumb_url: format!("{images}/thumb"),
        cta,
        sponsored: true,
    })
}
