//! A viewer's side of ads in Redis, all under the viewer's own tag: the ad-free entitlement,
//! hidden campaigns, blocked advertisers, recent impressions (for frequency and daily caps),
//! recently seen advertisers, and which token events were already counted. Also viewers' reports
//! of a creative, under the creative's tag.

use super::{Store, decode};
use crate::ads::token::AdToken;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::users::UserSettings;
use redis::{Script, Value};
use std::collections::HashSet;
use std::sync::LazyLock;

static IMPRESSION: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/ad_viewer_impression.lua")));
static ONCE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/ad_viewer_once.lua")));

/// What ad selection needs to know about the viewer: their settings (country, language,
/// interests and consent) and their own ad history.
#[derive(Debug, Clone, Default)]
pub struct ViewerAdState {
    pub settings: UserSettings,
    pub ad_free: bool,
    pub hidden_campaigns: HashSet<String>,
    pub blocked_advertisers: HashSet<String>,
    /// (campaign id, time in ms) of the impressions still inside the longest window.
    pub impressions: Vec<(String, i64)>,
}

/// The viewer's ad state as the tray page script reads it (see `scripts/tray_index.lua`):
/// settings, ad-free (0|1), hidden campaigns, blocked advertisers, impressions as member, time
/// pairs (members are "<campaign>/<token id>").
pub(crate) fn parse_ad_state(viewer: &UserId, read: Vec<Value>) -> Result<ViewerAdState> {
    let malformed = || Error::Internal(format!("ad state of {viewer}: five answers expected"));
    let [settings, ad_free, hidden, blocked, impressions]: [Value; 5] = read.try_into().map_err(|_| malformed())?;
    let ad_free: i64 = decode(ad_free)?;
    let impressions: Vec<String> = decode(impressions)?;
    let impressions = impressions
        .chunks_exact(2)
        .filter_map(|pair| {
            let (campaign, _) = pair[0].split_once('/')?;
            let at: f64 = pair[1].parse().ok()?;
            Some((campaign.to_owned(), at as i64))
        })
        .collect();
    Ok(ViewerAdState {
        settings: super::users::parse_settings(viewer, decode(settings)?)?,
        ad_free: ad_free == 1,
        hidden_campaigns: decode(hidden)?,
        blocked_advertisers: decode(blocked)?,
        impressions,
    })
}

/// The result of counting an impression on the viewer's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerImpression {
    /// First time for this token, within every cap: go on and charge the campaign.
    Counted,
    /// First time for this token, but a cap is reached: not billable.
    Capped,
    /// This token's impression was counted before.
    Duplicate,
}

/// The caps an impression is checked against.
#[derive(Debug, Clone, Copy)]
pub struct ImpressionCaps {
    pub frequency_cap: u32,
    pub frequency_window_ms: i64,
    pub daily_cap: u32,
    pub day_start_ms: i64,
    pub keep_ms: i64,
}

impl Store {
    /// Counts an impression on the viewer's side, atomically with the cap checks.
    pub async fn count_viewer_impression(
        &self,
        viewer: &UserId,
        token_id: &str,
        token: &AdToken,
        caps: ImpressionCaps,
        now_ms: i64,
    ) -> Result<ViewerImpression> {
        let mut conn = self.conn();
        let outcome: String = IMPRESSION
            .key(self.keys.ad_counted(viewer))
            .key(self.keys.ad_impressions(viewer))
            .key(self.keys.ad_recent(viewer))
            .arg(now_ms)
            .arg(token_id)
            .arg(token.expires_ms)
            .arg(&token.campaign_id)
            .arg(&token.advertiser_id)
            .arg(caps.frequency_cap)
            .arg(caps.frequency_window_ms)
            .arg(caps.daily_cap)
            .arg(caps.day_start_ms)
            .arg(caps.keep_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok(match outcome.as_str() {
            "ok" => ViewerImpression::Counted,
            "capped" => ViewerImpression::Capped,
            _ => ViewerImpression::Duplicate,
        })
    }

    /// Takes back an impression that the campaign could not pay for, so that it does not count
    /// towards the viewer's caps.
    pub async fn uncount_viewer_impression(&self, viewer: &UserId, campaign: &str, token_id: &str) -> Result<()> {
        self.query(
            redis::cmd("ZREM")
                .arg(self.keys.ad_impressions(viewer))
                .arg(format!("{campaign}/{token_id}")),
        )
        .await
    }

    /// Records `event` (click, hide, report) of a token; true the first time only.
    pub async fn mark_ad_event_once(
        &self,
        viewer: &UserId,
        token_id: &str,
        event: &str,
        token_expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let mut conn = self.conn();
        let first: i64 = ONCE
            .key(self.keys.ad_counted(viewer))
            .arg(now_ms)
            .arg(format!("{token_id}:{event}"))
            .arg(token_expires_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok(first == 1)
    }

    pub async fn hide_campaign(&self, viewer: &UserId, campaign: &str) -> Result<()> {
        self.query(redis::cmd("SADD").arg(self.keys.ad_hidden(viewer)).arg(campaign)).await
    }

    pub async fn set_advertiser_blocked(&self, viewer: &UserId, advertiser: &str, blocked: bool) -> Result<()> {
        let cmd = if blocked { "SADD" } else { "SREM" };
        self.query(redis::cmd(cmd).arg(self.keys.ad_blocked(viewer)).arg(advertiser)).await
    }

    /// Blocked advertisers, sorted, and up to `limit` advertisers seen most recently first.
    pub async fn ad_preferences(&self, viewer: &UserId, limit: usize) -> Result<(Vec<String>, Vec<String>)> {
        let mut pipe = redis::pipe();
        pipe.cmd("SMEMBERS").arg(self.keys.ad_blocked(viewer));
        pipe.cmd("ZRANGE")
            .arg(self.keys.ad_recent(viewer))
            .arg(0)
            .arg(limit.saturating_sub(1))
            .arg("REV");
        let (mut blocked, recent): (Vec<String>, Vec<String>) = self.pipe(&pipe).await?;
        blocked.sort();
        Ok((blocked, recent))
    }

    pub async fn is_ad_free(&self, user: &UserId) -> Result<bool> {
        self.query(redis::cmd("EXISTS").arg(self.keys.ad_free(user))).await
    }

    pub async fn set_ad_free(&self, user: &UserId, ad_free: bool) -> Result<()> {
        let key = self.keys.ad_free(user);
        let cmd = if ad_free {
            redis::cmd("SET").arg(&key).arg(1).clone()
        } else {
            redis::cmd("DEL").arg(&key).clone()
        };
        let _: Value = self.query(&cmd).await?;
        Ok(())
    }

    /// Records a viewer's report of a creative; returns how many distinct viewers reported it
    /// since its last review.
    pub async fn add_creative_report(&self, creative: &str, viewer_pseudonym: &str, reason: &str) -> Result<u64> {
        let key = self.keys.creative_reports(creative);
        let mut pipe = redis::pipe();
        pipe.atomic().hset(&key, viewer_pseudonym, reason).ignore().hlen(&key);
        let (count,): (u64,) = self.pipe(&pipe).await?;
        Ok(count)
    }

    pub async fn clear_creative_reports(&self, creative: &str) -> Result<()> {
        self.query(redis::cmd("DEL").arg(self.keys.creative_reports(creative))).await
    }
}
