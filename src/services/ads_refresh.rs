//! Keeps every instance's campaign index current: a change announced on the campaigns channel
//! triggers a reload at once; each `ads.index_refresh_ms` the change counter is polled (in case a
//! message was missed), and the whole index — spend, pacing, click-through estimates — is reloaded
//! at least every `ads.stats_refresh_ms`.

use super::ads::AdServer;
use crate::ads::index::{AdCard, CampaignIndex, IndexedCampaign};
use crate::advertisers::campaigns::{CampaignStatus, LoadedCampaign};
use crate::config::Settings;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::store::Store;
use chrono::Utc;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Builds the index from what the store loaded.
pub fn build_index(loaded: Vec<LoadedCampaign>) -> CampaignIndex {
    let mut cards = Vec::new();
    let campaigns = loaded
        .into_iter()
        .map(|l| {
            let c = l.campaign;
            for creative in &l.creatives {
                cards.push(AdCard {
                    creative_id: creative.id.clone(),
                    advertiser_id: c.advertiser.clone(),
                    advertiser_name: l.advertiser_name.clone(),
                    headline: creative.headline.clone(),
                    cta_label: creative.cta.label.clone(),
                    cta_url: creative.cta.url.clone(),
                });
            }
            IndexedCampaign {
                creative_ids: l.creatives.iter().map(|cr| cr.id.clone()).collect(),
                id: c.id,
                advertiser_id: c.advertiser,
                bid_cpm_micros: c.bid_cpm_micros,
                countries: c.targeting.countries,
                languages: c.targeting.languages,
                interests: c.targeting.interests,
                start_ms: c.start_at.timestamp_millis(),
                end_ms: c.end_at.timestamp_millis(),
                paused: c.paused,
                budget_micros: c.budget_micros,
                spent_micros: l.totals.spent_micros,
                daily_budget_micros: c.daily_budget_micros,
                spent_today_micros: l.spent_today_micros,
                pacing: c.pacing,
                frequency_cap: c.frequency_cap.impressions.clamp(0, i64::from(u32::MAX)) as u32,
                frequency_cap_secs: c.frequency_cap.per_seconds.max(0) as u64,
                impressions: l.totals.impressions,
                clicks: l.totals.clicks,
            }
        })
        .collect();
    CampaignIndex::build(campaigns, cards)
}

/// Loads every campaign, swaps the index in, and sets the campaign gauges.
pub async fn reload(store: &Store, server: &AdServer, metrics: &Metrics) -> Result<()> {
    let now = Utc::now();
    let loaded = store.all_campaigns(now).await?;
    let mut by_status: HashMap<String, i64> = HashMap::new();
    let mut remaining = 0;
    for l in &loaded {
        let status = l.campaign.status(l.totals.spent_micros, now);
        let label = serde_json::to_value(status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        *by_status.entry(label).or_default() += 1;
        if status == CampaignStatus::Active {
            let total_left = l.campaign.budget_micros - l.totals.spent_micros;
            let today_left = l.campaign.daily_budget_micros.map_or(total_left, |d| d - l.spent_today_micros);
            remaining += total_left.min(today_left).max(0);
        }
    }
    for status in crate::metrics::AD_CAMPAIGN_STATUSES {
        metrics
            .ad_campaigns
            .with_label_values(&[status])
            .set(by_status.get(status).copied().unwrap_or(0));
    }
    metrics.ad_budget_remaining_micros.set(remaining);
    server.replace_index(build_index(loaded));
    Ok(())
}

/// Runs for the life of the process.
pub async fn run(store: Store, server: Arc<AdServer>, settings: Arc<Settings>, metrics: Arc<Metrics>) {
    let tick = Duration::from_millis(settings.ads.index_refresh_ms.max(10));
    let full_every = Duration::from_millis(settings.ads.stats_refresh_ms.max(settings.ads.index_refresh_ms));
    let channel = store.keys.campaigns_channel();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut changes = None;
    let mut last_version: Option<i64> = None;
    let mut last_full: Option<Instant> = None;
    loop {
        if changes.is_none() {
            changes = crate::store::pubsub::subscribe(&settings.redis, &channel).await.ok().map(Box::pin);
        }
        let notified = match changes.as_mut() {
            Some(stream) => tokio::select! {
                message = stream.next() => {
                    if message.is_none() {
                        changes = None;
                    }
                    true
                }
                _ = interval.tick() => false,
            },
            None => {
                interval.tick().await;
                false
            }
        };
        let version = match store.campaigns_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "campaign index: store unavailable");
                continue;
            }
        };
        let stale = last_full.is_none_or(|t| t.elapsed() >= full_every);
        if notified || stale || last_version != Some(version) {
            match reload(&store, &server, &metrics).await {
                Ok(()) => {
                    last_version = Some(version);
                    last_full = Some(Instant::now());
                }
                Err(e) => tracing::warn!(error = %e, "campaign index reload failed"),
            }
        }
    }
}
