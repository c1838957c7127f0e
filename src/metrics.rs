//! Every metric, named in one place, in one registry. Labels never take unbounded values: routes
//! are patterns (`/v1/stories/{id}`), never concrete paths.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub stories_created: IntCounterVec,
    pub media_rejected: IntCounterVec,
}

/// Latency buckets in seconds, from 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "statusd_http_requests_total",
                "HTTP requests answered, by method, route pattern and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "statusd_http_request_duration_seconds",
                "Time to answer an HTTP request, by method and route pattern.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("valid metric");
        let stories_created =
            IntCounterVec::new(Opts::new("statusd_stories_created_total", "Stories posted, by kind."), &["kind"]).expect("valid metric");
        let media_rejected = IntCounterVec::new(
            Opts::new("statusd_media_rejected_total", "Uploaded images refused, by reason."),
            &["reason"],
        )
        .expect("valid metric");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(stories_created.clone()),
            Box::new(media_rejected.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            stories_created,
            media_rejected,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
