//! `[ads.openrtb]`: the outside bidders the `openrtb` selector asks, and what it tells them.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OpenRtbSettings {
    /// The bidders asked for every page's ad slots, each with one `BidRequest`.
    pub bidders: Vec<BidderSettings>,
    /// Hosts a bid's image may be fetched from (exact names; no redirect to another host).
    pub image_hosts: Vec<String>,
    /// The share of `ads.deadline_ms` the bidders get (`tmax`); the rest is statusd's own work.
    pub timeout_share: f64,
    /// ISO 4217 code of bids and floors; bids in another currency are refused.
    pub currency: String,
    /// Bytes and pixels of a bid's image, before the media pipeline takes it in.
    pub max_image_bytes: usize,
    /// How long a fetched, normalised bid image is kept (by its URL).
    pub image_cache_secs: u64,
    /// Failures in a row (timeouts, errors, answers that are not a `BidResponse`) after which a
    /// bidder is skipped for `pause_secs`, then tried again with one request.
    pub failures_to_pause: u32,
    pub pause_secs: u64,
    /// The operator's app, as bidders see it (`app`).
    pub app: AppSettings,
    /// The regulations in force (`regs`).
    pub regs: RegsSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BidderSettings {
    /// A short name for logs and metrics (and the pseudonyms' salt: each bidder sees its own).
    pub name: String,
    /// Where `BidRequest`s are POSTed.
    pub endpoint: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AppSettings {
    pub name: String,
    /// The app's store id (e.g. `com.example.messenger`).
    pub bundle: String,
    pub domain: Option<String>,
    pub store_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RegsSettings {
    /// Treat every viewer as a child under COPPA.
    pub coppa: bool,
    /// Whether GDPR applies (unset: not said).
    pub gdpr: Option<bool>,
    /// The IAB CCPA string, e.g. `1YNN`.
    pub us_privacy: Option<String>,
    /// The IAB Global Privacy Platform string and its section ids.
    pub gpp: Option<String>,
    pub gpp_sid: Vec<u32>,
}

impl Default for OpenRtbSettings {
    fn default() -> Self {
        OpenRtbSettings {
            bidders: Vec::new(),
            image_hosts: Vec::new(),
            timeout_share: 0.8,
            currency: "USD".into(),
            max_image_bytes: 2 * 1024 * 1024,
            image_cache_secs: 3600,
            failures_to_pause: 5,
            pause_secs: 30,
            app: AppSettings::default(),
            regs: RegsSettings::default(),
        }
    }
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            name: "statusd".into(),
            bundle: "org.statusd.app".into(),
            domain: None,
            store_url: None,
        }
    }
}

impl OpenRtbSettings {
    /// What is wrong with these settings, if anything: (setting, problem).
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if !(self.timeout_share > 0.0 && self.timeout_share <= 1.0) {
            return Some(("ads.openrtb.timeout_share", "must be more than 0 and at most 1"));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Some(("ads.openrtb.currency", "must be an ISO 4217 code such as USD"));
        }
        let url = |s: &str| s.starts_with("http://") || s.starts_with("https://");
        if self.bidders.iter().any(|b| b.name.trim().is_empty() || !url(&b.endpoint)) {
            return Some(("ads.openrtb.bidders", "each needs a name and an http(s) endpoint"));
        }
        if self.max_image_bytes == 0 || self.image_cache_secs == 0 || self.failures_to_pause == 0 || self.pause_secs == 0 {
            return Some((
                "ads.openrtb.max_image_bytes / image_cache_secs / failures_to_pause / pause_secs",
                "must be positive",
            ));
        }
        None
    }
}
