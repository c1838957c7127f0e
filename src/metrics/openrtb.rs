//! The `openrtb` selector's metrics, per configured bidder (the `bidder` label takes only the names
//! in `[ads.openrtb]`, and every series exists at zero from start-up).

use super::{LATENCY_BUCKETS, counter_vec, histogram_vec};
use prometheus::{HistogramVec, IntCounterVec, Registry};
use strum::IntoEnumIterator;

/// How one bidder's turn on a page ended, the label of `statusd_openrtb_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum BidderOutcome {
    /// It answered with bids (taken or refused).
    Bids,
    /// 204, or a response without bids.
    NoBid,
    /// No answer within `tmax`.
    Timeout,
    /// The connection failed, or a status other than 200 and 204.
    Error,
    /// The body is not a `BidResponse`.
    Invalid,
    /// Not asked: paused after repeated failures.
    Skipped,
}

/// The notices statusd sends, the `kind` label of `statusd_openrtb_notices_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum NoticeKind {
    /// `nurl`: the bid won the page's auction.
    Win,
    /// `burl`: its impression was billed.
    Billing,
    /// `lurl`: the bid lost, or was refused.
    Loss,
}

/// How a notice ended, the `outcome` label of `statusd_openrtb_notices_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum NoticeOutcome {
    Sent,
    /// A try that failed and is tried again.
    Retried,
    /// Every try failed.
    Failed,
}

pub struct OpenRtbMetrics {
    /// `statusd_openrtb_requests_total{bidder, outcome}`.
    pub requests: IntCounterVec,
    /// `statusd_openrtb_bids_total{bidder, outcome}`: `accepted` or the refusal.
    pub bids: IntCounterVec,
    /// `statusd_openrtb_wins_total{bidder}`.
    pub wins: IntCounterVec,
    /// `statusd_openrtb_request_duration_seconds{bidder}`.
    pub duration: HistogramVec,
    /// `statusd_openrtb_notices_total{bidder, kind, outcome}`.
    pub notices: IntCounterVec,
}

impl OpenRtbMetrics {
    pub fn new(r: &Registry) -> OpenRtbMetrics {
        OpenRtbMetrics {
            requests: counter_vec(
                r,
                "statusd_openrtb_requests_total",
                "Bid requests of the openrtb selector, by bidder and how they ended (bids, no_bid, timeout, error, invalid; skipped: not sent, the bidder paused after repeated failures).",
                &["bidder", "outcome"],
            ),
            bids: counter_vec(
                r,
                "statusd_openrtb_bids_total",
                "Bids received from outside bidders, by bidder and outcome: accepted, or the reason it was refused.",
                &["bidder", "outcome"],
            ),
            wins: counter_vec(
                r,
                "statusd_openrtb_wins_total",
                "Outside bids that won a page's auction (a slot), by bidder.",
                &["bidder"],
            ),
            duration: histogram_vec(
                r,
                "statusd_openrtb_request_duration_seconds",
                "Time from sending a bid request to its answer (or to tmax), by bidder.",
                LATENCY_BUCKETS,
                &["bidder"],
            ),
            notices: counter_vec(
                r,
                "statusd_openrtb_notices_total",
                "Win, billing and loss notices to bidders, by bidder, kind and outcome (sent; retried: a failed try tried again; failed: every try failed).",
                &["bidder", "kind", "outcome"],
            ),
        }
    }

    /// Makes every series of these bidders exist at zero.
    pub fn prepare(&self, bidders: &[String]) {
        for bidder in bidders {
            for outcome in BidderOutcome::iter() {
                self.requests.with_label_values(&[bidder, outcome.as_ref()]);
            }
            self.bids.with_label_values(&[bidder, "accepted"]);
            for refusal in crate::ads::openrtb::Refusal::iter() {
                self.bids.with_label_values(&[bidder.as_str(), refusal.into()]);
            }
            self.wins.with_label_values(&[bidder]);
            self.duration.with_label_values(&[bidder]);
            for kind in NoticeKind::iter() {
                for outcome in NoticeOutcome::iter() {
                    self.notices.with_label_values(&[bidder, kind.as_ref(), outcome.as_ref()]);
                }
            }
        }
    }
}
