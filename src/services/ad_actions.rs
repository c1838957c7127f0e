//! What a viewer does with an ad they were served, by its token: the impression (counted once,
//! capped, charged), click, hide, report, "why this ad", and the ad preferences page.

use super::ads::{AdServer, IMPRESSION_MEMORY_MS, day_start_ms};
use crate::ads::Match;
use crate::ads::token::{AdToken, token_id};
use crate::advertisers::creatives::{CreativeRecord, CreativeStatus};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::metrics::openrtb::NoticeKind;
use crate::store::Store;
use crate::store::reports::{AdEvent, Recorded};
use crate::store::viewer_ads::{ImpressionCaps, ViewerImpression};
use serde::Serialize;
use utoipa::ToSchema;

/// A token of this viewer's, or `NotFound`.
pub fn open_token(server: &AdServer, viewer: &UserId, token: &str, now_ms: i64) -> Result<AdToken> {
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
pub async fn impression(store: &Store, server: &AdServer, viewer: &UserId, token: &str, now_ms: i64) -> Result<(ImpressionOutcome, i64)> {
    let t = open_token(server, viewer, token, now_ms)?;
    let index = server.index();
    let (cap, window_secs) = match t.is_outside() {
        // An outside ad has no frequency cap of ours; the viewer's daily cap still counts it.
        true => (u32::MAX, 1),
        false => index
            .get(&t.campaign_id)
            .map(|c| (c.frequency_cap, c.frequency_cap_secs))
            .unwrap_or((0, 1)),
    };
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
        // The bidder bills an outside ad (its billing notice); statusd has no campaign to charge.
        ViewerImpression::Counted if t.is_outside() => {
            if let (Some(outside), Some(bidder)) = (server.outside(), t.bidder()) {
                outside.notify(bidder, NoticeKind::Billing, t.billing_url.clone());
            }
            Ok((ImpressionOutcome::Billed, t.price_micros))
        }
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
pub async fn click(store: &Store, server: &AdServer, viewer: &UserId, token: &str, now_ms: i64) -> Result<String> {
    let t = open_token(server, viewer, token, now_ms)?;
    let url = match (&t.click_url, server.index().card(&t.creative_id)) {
        (Some(outside), _) => outside.clone(),
        (None, Some(card)) => card.cta_url.clone(),
        (None, None) => store.creative(&t.creative_id).await?.map(|c| c.cta.url).ok_or(Error::NotFound)?,
    };
    count_once(store, server, viewer, token, &t, AdEvent::Click, now_ms).await?;
    Ok(url)
}

/// Counts a click, hide or report of the ad behind `token` in its campaign's report, once per
/// token; true the first time.
async fn count_once(
    store: &Store,
    server: &AdServer,
    viewer: &UserId,
    token: &str,
    t: &AdToken,
    event: AdEvent<'_>,
    now_ms: i64,
) -> Result<bool> {
    let first = store
        .mark_ad_event_once(viewer, token_id(token), event.as_ref(), t.expires_ms, now_ms)
        .await?;
    // An outside ad has no campaign report of ours to count in.
    if first && !t.is_outside() {
        store
            .record_ad_event(&t.campaign_id, event, at(now_ms), server.retention_days)
            .await?;
    }
    Ok(first)
}

/// No more ads of this campaign for the viewer; counted once per token.
pub async fn hide(store: &Store, server: &AdServer, viewer: &UserId, token: &str, now_ms: i64) -> Result<()> {
    let t = open_token(server, viewer, token, now_ms)?;
    store.hide_campaign(viewer, &t.campaign_id).await?;
    count_once(store, server, viewer, token, &t, AdEvent::Hide, now_ms).await?;
    Ok(())
}

/// Reports an ad, once per token. Reports from `ads.reports_to_review` distinct viewers send the
/// creative back to review, which stops it serving everywhere.
pub async fn report(store: &Store, server: &AdServer, viewer: &UserId, token: &str, reason: &str, now_ms: i64) -> Result<()> {
    let t = open_token(server, viewer, token, now_ms)?;
    if !count_once(store, server, viewer, token, &t, AdEvent::Report, now_ms).await? {
        return Ok(());
    }
    if t.is_outside() {
        // No creative of ours to send back to review: the operator takes it up with the bidder.
        tracing::info!(advertiser = %t.advertiser_id, campaign = %t.campaign_id, reason, "an outside ad was reported");
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

pub fn explain(server: &AdServer, viewer: &UserId, token: &str, now_ms: i64) -> Result<WhyThisAd> {
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

pub async fn preferences(store: &Store, viewer: &UserId) -> Result<AdPreferences> {
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
