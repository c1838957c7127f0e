//! Every metric, named in one place, in one registry.
//!
//! Names follow Prometheus conventions: base units in the name (`_seconds`, `_micros` of money),
//! `_total` on counters, explicit histogram buckets. Labels never take unbounded values: routes are
//! patterns (`/v1/stories/{id}`), never concrete paths, HTTP methods outside the standard set are
//! `other`, and no label ever holds a user, story, advertiser or campaign id. Every label value is
//! listed here, so that the series exist (at zero) from the first scrape and alerts on rates never
//! see a missing series.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use strum::IntoEnumIterator;

pub mod openrtb;

/// Latency buckets in seconds for HTTP requests and ad decisions: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Redis round trips, in seconds: 0.1 ms to 2.5 s (the response timeout is 0.5 s by default).
pub const REDIS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Image decoding, resizing and encoding, in seconds: 5 ms to 30 s.
pub const MEDIA_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Author items on one feed page (the page size is at most 100).
pub const AUTHORS_PER_PAGE_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];

/// The HTTP methods that get their own label value; anything else is `other`.
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

/// What happened to one ad slot of a feed page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum AdSlotOutcome {
    /// An ad was placed in the slot.
    Filled,
    /// The selector was asked and had nothing eligible (targeting, caps, budgets, blocks).
    Unfilled,
    /// The slot was not offered to a selector: ad-free viewer, selector `none`, or the page's
    /// limits (`ads.max_per_page`, one ad per advertiser per page).
    Suppressed,
    /// The selector did not answer in time (or failed); the page went out without this ad.
    TimedOut,
}

/// The shape of one request to Redis, the label of `statusd_redis_command_duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum RedisOp {
    /// One plain command.
    Command,
    /// A pipeline (several commands, one round trip).
    Pipeline,
    /// A `MULTI`/`EXEC` pipeline.
    Transaction,
    /// A Lua script (`EVALSHA`, or `EVAL`/`SCRIPT LOAD` after a script-cache miss).
    Script,
}

/// Why a Redis request failed, the label of `statusd_redis_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum RedisErrorKind {
    /// No reply within the response timeout, or no connection within the connect timeout.
    Timeout,
    /// The connection could not be made or broke (refused, reset, closed).
    Io,
    /// Cluster trouble: redirections the client could not follow, CLUSTERDOWN, TRYAGAIN,
    /// CROSSSLOT, MASTERDOWN, or no connection to the node owning a slot.
    Cluster,
    /// Redis answered with an error (WRONGTYPE, OOM, LOADING, READONLY, a script error, …).
    Server,
    /// Anything else: a reply the client could not parse, authentication, client configuration.
    Other,
}

/// Reasons an image is refused, the label of `statusd_media_rejected_total` (the problem `code`s
/// of the answers).
pub const MEDIA_REJECT_REASONS: [&str; 5] = [
    "payload_too_large",
    "unsupported_media_type",
    "image_too_large",
    "invalid_image",
    "busy",
];

/// Campaign statuses, the label of `statusd_ad_campaigns`.
pub const AD_CAMPAIGN_STATUSES: [&str; 5] = ["scheduled", "active", "paused", "completed", "exhausted"];

pub struct Metrics {
    pub registry: Registry,

    // HTTP
    /// `statusd_http_requests_total{method,route,status}`.
    pub http_requests: IntCounterVec,
    /// `statusd_http_request_duration_seconds{method,route,status}`.
    pub http_duration: HistogramVec,

    // Stories
    /// `statusd_stories_created_total{kind}`; kind is `text` or `image`.
    pub stories_created: IntCounterVec,
    /// `statusd_stories_deleted_total`.
    pub stories_deleted: IntCounter,
    /// `statusd_story_views_total`.
    pub story_views: IntCounter,
    /// `statusd_story_reactions_total`.
    pub story_reactions: IntCounter,
    /// `statusd_story_reports_total`.
    pub story_reports: IntCounter,
    /// `statusd_live_stories`: set from Redis on every scrape (see `Store::live_stories`).
    pub live_stories: IntGauge,

    // Feed
    /// `statusd_feed_pages_total`.
    pub feed_pages: IntCounter,
    /// `statusd_feed_authors_per_page`.
    pub feed_authors_per_page: Histogram,

    // Ads
    /// `statusd_ad_slots_total{outcome}`; use [`Metrics::ad_slot`].
    pub ad_slots: IntCounterVec,
    /// `statusd_ad_decision_duration_seconds`.
    pub ad_decision_duration: Histogram,
    /// `statusd_ad_impressions_total{billable}`; use [`Metrics::ad_impression`].
    pub ad_impressions: IntCounterVec,
    /// `statusd_ad_clicks_total`.
    pub ad_clicks: IntCounter,
    /// `statusd_ad_hides_total`.
    pub ad_hides: IntCounter,
    /// `statusd_ad_reports_total`.
    pub ad_reports: IntCounter,
    /// `statusd_ad_spend_micros_total`.
    pub ad_spend_micros: IntCounter,
    /// `statusd_ad_campaigns{status}`: set on each campaign index refresh.
    pub ad_campaigns: IntGaugeVec,
    /// `statusd_ad_budget_remaining_micros`: set on each campaign index refresh.
    pub ad_budget_remaining_micros: IntGauge,

    // Redis
    /// `statusd_redis_command_duration_seconds{op}`.
    pub redis_duration: HistogramVec,
    /// `statusd_redis_errors_total{kind}`.
    pub redis_errors: IntCounterVec,
    /// `statusd_redis_reconnects_total`.
    pub redis_reconnects: IntCounter,

    // Media
    /// `statusd_media_processing_duration_seconds`.
    pub media_duration: Histogram,
    /// `statusd_media_rejected_total{reason}`.
    pub media_rejected: IntCounterVec,

    // Outside bidders (the `openrtb` selector)
    pub openrtb: openrtb::OpenRtbMetrics,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(registry, IntCounter::with_opts(Opts::new(name, help)).expect("valid metric"))
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    register(registry, Histogram::with_opts(opts).expect("valid metric"))
}

fn histogram_vec(registry: &Registry, name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    register(registry, HistogramVec::new(opts, labels).expect("valid metric"))
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry.register(Box::new(c.clone())).expect("metric names are unique");
    c
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let build_info = register(
            &r,
            IntGaugeVec::new(
                Opts::new("statusd_build_info", "Always 1; the version label tells which statusd is running."),
                &["version"],
            )
            .expect("valid metric"),
        );
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

        let m = Metrics {
            http_requests: counter_vec(
                &r,
                "statusd_http_requests_total",
                "HTTP requests answered, by method, route pattern (unmatched for unknown paths) and status code.",
                &["method", "route", "status"],
            ),
            http_duration: histogram_vec(
                &r,
                "statusd_http_request_duration_seconds",
                "Time from receiving an HTTP request to its response being ready (the body may still stream), by method, route pattern and status code.",
                LATENCY_BUCKETS,
                &["method", "route", "status"],
            ),
            stories_created: counter_vec(
                &r,
                "statusd_stories_created_total",
                "Stories posted (201 answers to POST /v1/stories, idempotent replays not counted), by kind: text or image.",
                &["kind"],
            ),
            stories_deleted: counter(
                &r,
                "statusd_stories_deleted_total",
                "Stories deleted by their author before they expired (DELETE /v1/stories/{id}); expiry and account erasure are not counted.",
            ),
            story_views: counter(
                &r,
                "statusd_story_views_total",
                "Story views reported by clients (204 answers to POST /v1/stories/{id}/view, repeats of a view included).",
            ),
            story_reactions: counter(
                &r,
                "statusd_story_reactions_total",
                "Reactions to stories (204 answers to POST /v1/stories/{id}/reactions, replacements included).",
            ),
            story_reports: counter(
                &r,
                "statusd_story_reports_total",
                "Stories reported to the operator (204 answers to POST /v1/stories/{id}/report).",
            ),
            live_stories: register(
                &r,
                IntGauge::new(
                    "statusd_live_stories",
                    "Stories not yet expired nor deleted, across every instance sharing this Redis (the same value on each instance: aggregate with max, not sum). Read from Redis at scrape time; counted by expiry minute, so stories expiring during the current minute may still be included.",
                )
                .expect("valid metric"),
            ),
            feed_pages: counter(&r, "statusd_feed_pages_total", "Feed pages served (200 answers to GET /v1/feed)."),
            feed_authors_per_page: histogram(
                &r,
                "statusd_feed_authors_per_page",
                "Author items on each feed page served (ads and the muted section not included).",
                AUTHORS_PER_PAGE_BUCKETS,
            ),
            ad_slots: counter_vec(
                &r,
                "statusd_ad_slots_total",
                "Ad slots of feed pages by outcome: filled (an ad placed), unfilled (no eligible ad), suppressed (not offered: ad-free viewer, selector none, or page limits), timed_out (the selector failed or did not answer in time).",
                &["outcome"],
            ),
            ad_decision_duration: histogram(
                &r,
                "statusd_ad_decision_duration_seconds",
                "Time taken to decide the ads of one feed page: reading the viewer's ad state (alongside the page's tray) and the selection, timed-out reads included.",
                LATENCY_BUCKETS,
            ),
            ad_impressions: counter_vec(
                &r,
                "statusd_ad_impressions_total",
                "Ad impressions reported by clients, once per ad token; billable=false when past a frequency cap or the budget (answered but not charged).",
                &["billable"],
            ),
            ad_clicks: counter(&r, "statusd_ad_clicks_total", "Ad clicks reported by clients, once per ad token."),
            ad_hides: counter(&r, "statusd_ad_hides_total", "Ads hidden by viewers (no more ads of that campaign for them)."),
            ad_reports: counter(&r, "statusd_ad_reports_total", "Ads reported by viewers."),
            ad_spend_micros: counter(
                &r,
                "statusd_ad_spend_micros_total",
                "Money charged to campaigns for billable impressions, in micros of the campaign currency (1 unit = 1,000,000 micros).",
            ),
            ad_campaigns: register(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "statusd_ad_campaigns",
                        "Campaigns in this instance's campaign index at its last refresh, by status: scheduled, active, paused, completed, exhausted (the same on every instance: aggregate with max).",
                    ),
                    &["status"],
                )
                .expect("valid metric"),
            ),
            ad_budget_remaining_micros: register(
                &r,
                IntGauge::new(
                    "statusd_ad_budget_remaining_micros",
                    "Budget left to spend across active campaigns at the campaign index's last refresh, in micros (per campaign the smaller of its total and, with a daily budget, today's remainder; the same on every instance: aggregate with max).",
                )
                .expect("valid metric"),
            ),
            redis_duration: histogram_vec(
                &r,
                "statusd_redis_command_duration_seconds",
                "Round trips to Redis, failed ones included, by op: command (one command), pipeline, transaction (MULTI/EXEC) or script (Lua). On a cluster each per-slot pipeline is one round trip.",
                REDIS_BUCKETS,
                &["op"],
            ),
            redis_errors: counter_vec(
                &r,
                "statusd_redis_errors_total",
                "Failed Redis requests by kind: timeout, io (connection refused, reset or closed), cluster (CLUSTERDOWN, TRYAGAIN, CROSSSLOT, MASTERDOWN, unroutable slot), server (an error reply), other. Script-cache misses (NOSCRIPT), which the client answers by loading the script, are not counted.",
                &["kind"],
            ),
            redis_reconnects: counter(
                &r,
                "statusd_redis_reconnects_total",
                "Redis requests that failed in a way that makes the client replace its connection (refused, reset or closed connection, unparsable reply, lost cluster node) and connect anew; while Redis is down, every request counts.",
            ),
            media_duration: histogram(
                &r,
                "statusd_media_processing_duration_seconds",
                "Time to decode, orient, resize and re-encode one uploaded image (story photos and ad creatives), rejected images included, not counting the wait for a decoding slot.",
                MEDIA_BUCKETS,
            ),
            media_rejected: counter_vec(
                &r,
                "statusd_media_rejected_total",
                "Uploaded images refused, by reason (the problem code of the answer).",
                &["reason"],
            ),
            openrtb: openrtb::OpenRtbMetrics::new(&r),
            registry: r,
        };
        for kind in ["text", "image"] {
            m.stories_created.with_label_values(&[kind]);
        }
        for outcome in AdSlotOutcome::iter() {
            m.ad_slots.with_label_values(&[outcome.as_ref()]);
        }
        for status in AD_CAMPAIGN_STATUSES {
            m.ad_campaigns.with_label_values(&[status]);
        }
        for billable in ["true", "false"] {
            m.ad_impressions.with_label_values(&[billable]);
        }
        for op in RedisOp::iter() {
            m.redis_duration.with_label_values(&[op.as_ref()]);
        }
        for kind in RedisErrorKind::iter() {
            m.redis_errors.with_label_values(&[kind.as_ref()]);
        }
        for reason in MEDIA_REJECT_REASONS {
            m.media_rejected.with_label_values(&[reason]);
        }
        m
    }

    /// Counts one answered HTTP request.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [http_method(method), route, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_duration.with_label_values(&labels).observe(seconds);
    }

    /// Counts one ad slot of a feed page.
    pub fn ad_slot(&self, outcome: AdSlotOutcome) {
        self.ad_slots.with_label_values(&[outcome.as_ref()]).inc();
    }

    /// Counts one impression (the first report of an ad token).
    pub fn ad_impression(&self, billable: bool) {
        self.ad_impressions
            .with_label_values(&[if billable { "true" } else { "false" }])
            .inc();
    }

    /// Times one Redis round trip and counts its failure, if any.
    pub fn observe_redis(&self, op: RedisOp, seconds: f64, error: Option<RedisErrorKind>, reconnect: bool) {
        self.redis_duration.with_label_values(&[op.as_ref()]).observe(seconds);
        if let Some(kind) = error {
            self.redis_errors.with_label_values(&[kind.as_ref()]).inc();
        }
        if reconnect {
            self.redis_reconnects.inc();
        }
    }

    /// Counts one refused image; `reason` is the problem code of the answer.
    pub fn reject_media(&self, reason: &'static str) {
        self.media_rejected.with_label_values(&[reason]).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The method label: one of the standard methods, else `other`.
pub fn http_method(method: &str) -> &'static str {
    METHODS.iter().find(|m| **m == method).copied().unwrap_or("other")
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exposed_with_help_and_type() {
        // Vectors without a label value yet (HTTP) only appear once used.
        let text = Metrics::new().render();
        for name in [
            "statusd_stories_created_total",
            "statusd_live_stories",
            "statusd_ad_slots_total",
            "statusd_ad_impressions_total",
            "statusd_redis_errors_total",
            "statusd_redis_command_duration_seconds",
            "statusd_media_rejected_total",
            "statusd_build_info",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name} missing:\n{text}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing:\n{text}");
        }
        assert!(text.contains(r#"statusd_ad_slots_total{outcome="timed_out"} 0"#));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(http_method("GET"), "GET");
        assert_eq!(http_method("BREW"), "other");
    }
}
