//! Settings: one typed struct, loaded from an optional TOML file and `STATUSD_<SECTION>__<KEY>`
//! environment variables, validated once at start-up so that a bad value never reaches a handler.

mod load;
mod openrtb;

pub use load::ConfigError;
pub use openrtb::{AppSettings, BidderSettings, OpenRtbSettings, RegsSettings};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address the HTTP server binds to.
    pub listen: String,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub http: HttpSettings,
    pub stories: StorySettings,
    pub users: UserLimits,
    pub media: MediaSettings,
    pub ads: AdSettings,
    pub log: LogSettings,
    pub reports: ReportSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    pub url: String,
    /// Non-empty means Redis Cluster; `url` is then ignored.
    #[serde(deserialize_with = "comma_list")]
    pub cluster_nodes: Vec<String>,
    /// Prepended to every key, so several deployments (or tests) can share one Redis.
    pub key_prefix: String,
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
    /// Seconds a client is told to wait (`Retry-After`) when Redis is unavailable.
    pub retry_after_secs: u64,
}

/// Secrets are `SecretString`s: never printed, not even in debug output, and read only through
/// `expose_secret` where they are used.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// HS256 secret for user tokens. Required.
    pub jwt_secret: Option<SecretString>,
    /// Bearer token for `/v1/admin/*`. Absent: admin endpoints answer 403.
    pub admin_token: Option<SecretString>,
    /// Bearer token for `/metrics`. Absent: `/metrics` is open.
    pub metrics_token: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Largest accepted JSON body.
    pub json_limit_bytes: usize,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// On SIGTERM, how long the instance keeps serving while `/readyz` answers 503 and every
    /// answer carries `Connection: close`, so that load balancers and clients move away before the
    /// listener closes. Keep it at least the readiness probe's period × failure threshold.
    pub drain_secs: u64,
    /// After the drain, how long requests in flight may take to finish before they are cut off.
    pub shutdown_timeout_secs: u64,
    /// A request head must arrive within this of the connection's start (slow clients get
    /// `408 request_timeout`).
    pub request_head_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StorySettings {
    pub ttl_secs: u64,
    pub max_active_per_author: u32,
    pub max_text_chars: usize,
    /// Emoji accepted as reactions.
    #[serde(deserialize_with = "comma_list")]
    pub reactions: Vec<String>,
}

/// The `[users]` section: limits on what a user keeps (not their preferences, which are
/// `users::UserSettings`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct UserLimits {
    pub max_contacts: usize,
    pub max_interests: usize,
    /// How long a replacement of a contact list waits for another replacement of the same list
    /// to finish before it answers 409 `contacts_busy` (0: at once).
    pub contacts_wait_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MediaSettings {
    pub max_upload_bytes: usize,
    pub max_pixels: u64,
    pub max_side: u32,
    /// Images decoded at once; further uploads wait for a slot.
    pub max_concurrent: usize,
    /// How long an upload waits for a decoding slot (or a buffering slot) before it is refused
    /// with 503.
    pub queue_timeout_ms: u64,
    /// Uploads held in memory at once, each at most its parts' limits (about `max_upload_bytes`);
    /// further uploads wait for a slot before their body is read. With `max_concurrent`, this
    /// bounds the memory uploads can take, whatever clients send (deploy/SIZING.md).
    pub max_buffered_uploads: usize,
}

/// The ad selector `ads.selector` names: one file each under `src/ads/selectors/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectorName {
    /// Eligible campaigns ranked by eCPM, second-price.
    Auction,
    /// Any eligible campaign, uniformly.
    Random,
    /// No ads.
    None,
    /// The auction, with bids from outside bidders (`[ads.openrtb]`) competing.
    Openrtb,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    /// One JSON object per line, with the fields of the spans it was logged in.
    Json,
}

/// Which finished requests get an info line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestLines {
    /// Status 400 and up; the others at debug.
    Errors,
    All,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AdSettings {
    pub selector: SelectorName,
    pub first_slot: usize,
    pub interval: usize,
    pub max_per_page: usize,
    pub index_refresh_ms: u64,
    /// Labels an advertiser may put on a creative's call to action.
    #[serde(deserialize_with = "comma_list")]
    pub cta_labels: Vec<String>,
    /// The least CPM any ad sells for (the auction's reserve price), in micros.
    pub reserve_cpm_micros: i64,
    /// Ad selection for a feed page must finish within this; past it the page comes without ads.
    pub deadline_ms: u64,
    /// Billable impressions per viewer per UTC day; 0 turns ads off.
    pub daily_cap_per_viewer: u32,
    /// How long an ad token (impression, click, hide, report, why) stays valid.
    pub token_ttl_secs: u64,
    /// HMAC key of ad tokens. Unset: derived from `auth.jwt_secret`.
    pub token_secret: Option<SecretString>,
    /// The whole index (spend, pacing, click-through estimates) is reloaded at least this often.
    pub stats_refresh_ms: u64,
    /// Reports from distinct viewers that send a creative back to review.
    pub reports_to_review: u32,
    /// The outside bidders of the `openrtb` selector.
    pub openrtb: OpenRtbSettings,
}

impl AdSettings {
    /// The key ad tokens are signed with.
    pub fn token_key(&self, settings: &Settings) -> String {
        match &self.token_secret {
            Some(secret) => secret.expose_secret().to_owned(),
            None => format!("ad-tokens:{}", settings.auth.jwt_secret.as_ref().map_or("", |s| s.expose_secret())),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ReportSettings {
    /// Days a campaign's hourly and daily report buckets are kept after they end.
    pub retention_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `statusd=debug,info`.
    pub filter: String,
    /// Which finished requests get an info line. A line per request is a real share of a busy
    /// instance's CPU (BENCHMARKS.md), so the default logs errors only.
    pub requests: RequestLines,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            redis: RedisSettings::default(),
            auth: AuthSettings::default(),
            http: HttpSettings::default(),
            stories: StorySettings::default(),
            users: UserLimits::default(),
            media: MediaSettings::default(),
            ads: AdSettings::default(),
            log: LogSettings::default(),
            reports: ReportSettings::default(),
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: "redis://127.0.0.1:6379".into(),
            cluster_nodes: Vec::new(),
            key_prefix: String::new(),
            connect_timeout_ms: 1000,
            response_timeout_ms: 500,
            retry_after_secs: 1,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            json_limit_bytes: 64 * 1024,
            workers: 0,
            drain_secs: 5,
            shutdown_timeout_secs: 30,
            request_head_timeout_ms: 5_000,
        }
    }
}

pub const DEFAULT_REACTIONS: [&str; 8] = ["😍", "😂", "😮", "😢", "🙏", "👏", "🎉", "💯"];

impl Default for StorySettings {
    fn default() -> Self {
        StorySettings {
            ttl_secs: 86_400,
            max_active_per_author: 50,
            max_text_chars: 700,
            reactions: DEFAULT_REACTIONS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Default for UserLimits {
    fn default() -> Self {
        UserLimits {
            max_contacts: 5_000,
            max_interests: 20,
            contacts_wait_ms: 1_000,
        }
    }
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            max_upload_bytes: 10 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_side: 16_384,
            max_concurrent: 2,
            queue_timeout_ms: 10_000,
            max_buffered_uploads: 8,
        }
    }
}

impl Default for AdSettings {
    fn default() -> Self {
        AdSettings {
            selector: SelectorName::Auction,
            first_slot: 2,
            interval: 4,
            max_per_page: 3,
            index_refresh_ms: 1000,
            cta_labels: DEFAULT_CTA_LABELS.iter().map(|s| s.to_string()).collect(),
            reserve_cpm_micros: 100_000,
            deadline_ms: 20,
            daily_cap_per_viewer: 10,
            token_ttl_secs: 3600,
            token_secret: None,
            stats_refresh_ms: 5000,
            reports_to_review: 3,
            openrtb: OpenRtbSettings::default(),
        }
    }
}

pub const DEFAULT_CTA_LABELS: [&str; 5] = ["Chat", "Learn more", "Shop now", "Sign up", "Book now"];

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings { retention_days: 90 }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Text,
            filter: "info".into(),
            requests: RequestLines::Errors,
        }
    }
}

/// Accepts either a TOML list or one comma-separated string (as environment variables give).
fn comma_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        String(String),
    }
    Ok(match ListOrString::deserialize(d)? {
        ListOrString::List(v) => v,
        ListOrString::String(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let mut settings = Settings::default();
        settings.auth.jwt_secret = Some("jwt-secret-0123456789".into());
        settings.auth.admin_token = Some("admin-token-0123456789".into());
        settings.auth.metrics_token = Some("metrics-token-0123456789".into());
        settings.ads.token_secret = Some("ad-token-secret-0123456789".into());
        let printed = format!("{settings:?}");
        for secret in ["jwt-secret", "admin-token-", "metrics-token-", "ad-token-secret"] {
            assert!(!printed.contains(secret), "{secret} printed in {printed}");
        }
        assert!(printed.contains("REDACTED"), "{printed}");
    }

    fn load_toml(name: &str, toml: &str) -> Result<Settings, ConfigError> {
        let path = std::env::temp_dir().join(format!("statusd-config-{name}-{}.toml", std::process::id()));
        std::fs::write(&path, format!("[auth]\njwt_secret = \"0123456789abcdef0123\"\n{toml}")).unwrap();
        let loaded = Settings::load(Some(&path));
        let _ = std::fs::remove_file(&path);
        loaded
    }

    #[test]
    fn outside_bidders_are_read_and_checked() {
        let settings = load_toml(
            "openrtb",
            r#"
[ads.openrtb]
image_hosts = ["cdn.dsp.example"]
currency = "EUR"
timeout_share = 0.5
[[ads.openrtb.bidders]]
name = "dsp-one"
endpoint = "https://dsp.example/openrtb"
[ads.openrtb.app]
name = "Chatter"
bundle = "com.example.chatter"
[ads.openrtb.regs]
gdpr = true
us_privacy = "1YNN"
"#,
        )
        .unwrap();
        let rtb = &settings.ads.openrtb;
        assert_eq!(
            (rtb.bidders[0].name.as_str(), rtb.bidders[0].endpoint.as_str()),
            ("dsp-one", "https://dsp.example/openrtb")
        );
        assert_eq!((rtb.currency.as_str(), rtb.timeout_share, rtb.image_cache_secs), ("EUR", 0.5, 3600));
        assert_eq!(
            (rtb.app.name.as_str(), rtb.regs.gdpr, rtb.regs.coppa),
            ("Chatter", Some(true), false)
        );

        for (bad, named) in [
            ("[ads.openrtb]\ntimeout_share = 1.5", "ads.openrtb.timeout_share"),
            ("[ads.openrtb]\ncurrency = \"euro\"", "ads.openrtb.currency"),
            (
                "[[ads.openrtb.bidders]]\nname = \"x\"\nendpoint = \"ftp://x\"",
                "ads.openrtb.bidders",
            ),
        ] {
            let e = load_toml("bad-openrtb", bad).unwrap_err();
            assert!(e.to_string().contains(&format!(": {named}: ")), "{bad}: {e}");
        }
    }
}
