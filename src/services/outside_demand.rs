//! Outside demand for the `openrtb` selector: a feed page's ad slots offered to every configured
//! bidder at once, under the ad deadline, and the images of their bids taken through the media
//! pipeline before a card may show them.
//!
//! - One `BidRequest` per bidder, POSTed concurrently over a keep-alive HTTP/1.1 pool with
//!   `x-openrtb-version: 2.6`; `tmax` is the bidders' share of `ads.deadline_ms`. A bidder that has
//!   not answered by then is dropped for this page (the page never waits for it).
//! - An accepted bid's image is fetched from a listed host (no redirects, at most
//!   `max_image_bytes`), normalised like a creative and kept in Redis by its URL for
//!   `image_cache_secs`. The first page that sees a new image waits for it only until the same
//!   bound; the fetch goes on, and the next page can show the bid.
//! - A bidder that fails `failures_to_pause` times in a row is skipped for `pause_secs`, then tried
//!   again with one request ([`Breaker`]).
//! - Notices: the win notice (`nurl`) when a bid wins a slot, the billing notice (`burl`) when its
//!   impression is billed (once per token, as every impression), loss notices (`lurl`) to the
//!   bids that lost or were refused, with the macros filled. Each is sent once, in the background,
//!   tried again with backoff while the bidder cannot be reached or answers 5xx.

use crate::ads::openrtb::breaker::Breaker;
use crate::ads::openrtb::{self, Ask, IMAGE_NOT_READY, LOST_TO_HIGHER_BID, OutsideBid};
use crate::ads::token::TokenKey;
use crate::ads::{AdRequest, Decision};
use crate::config::{BidderSettings, OpenRtbSettings, Settings};
use crate::error::{Error, Result};
use crate::media::{ImageSize, MediaLimits, PipelineSpec};
use crate::metrics::Metrics;
use crate::metrics::openrtb::{BidderOutcome, NoticeKind, NoticeOutcome};
use crate::store::Store;
use crate::store::stories::MediaBytes;
use futures_util::future::join_all;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};

/// Images fetched and normalised at once, at most; a bid whose image finds no room waits for a
/// later page (outside bids must not take the machine from uploads).
const IMAGE_FETCHES: usize = 2;
/// How long an image that could not be fetched or decoded is not tried again.
const FAILED_IMAGE_PAUSE: Duration = Duration::from_secs(60);
/// A notice is tried again after these waits while the bidder cannot be reached or answers 5xx.
const NOTICE_RETRIES: [Duration; 3] = [Duration::from_millis(100), Duration::from_millis(400), Duration::from_millis(1600)];
const NOTICE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct OutsideDemand {
    client: reqwest::Client,
    settings: OpenRtbSettings,
    reserve_cpm_micros: i64,
    media: MediaLimits,
    images: Arc<Mutex<HashMap<String, Image>>>,
    fetches: Arc<Semaphore>,
    /// One per bidder, in the order of `settings.bidders`.
    breakers: Vec<Breaker>,
    metrics: Arc<Metrics>,
}

/// What is known of a bid's image, by URL.
#[derive(Clone)]
enum Image {
    /// In Redis under this id until `until`.
    Ready {
        id: String,
        until: Instant,
    },
    /// Being fetched; the channel says how it ended (`Some(id)` or `None`).
    Fetching(watch::Receiver<Option<Option<String>>>),
    Failed {
        until: Instant,
    },
}

impl OutsideDemand {
    pub fn new(settings: &Settings, metrics: Arc<Metrics>) -> OutsideDemand {
        let client = reqwest::Client::builder()
            .http1_only()
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let media = &settings.media;
        let rtb = &settings.ads.openrtb;
        let names: Vec<String> = rtb.bidders.iter().map(|b| b.name.clone()).collect();
        metrics.openrtb.prepare(&names);
        let pause = Duration::from_secs(rtb.pause_secs);
        OutsideDemand {
            breakers: rtb.bidders.iter().map(|_| Breaker::new(rtb.failures_to_pause, pause)).collect(),
            metrics,
            client,
            settings: settings.ads.openrtb.clone(),
            reserve_cpm_micros: settings.ads.reserve_cpm_micros,
            media: MediaLimits {
                max_upload_bytes: settings.ads.openrtb.max_image_bytes,
                max_pixels: media.max_pixels,
                max_side: media.max_side,
            },
            images: Arc::default(),
            fetches: Arc::new(Semaphore::new(IMAGE_FETCHES)),
        }
    }

    /// The bidders' share of an ad deadline.
    pub fn time_for_bidders(&self, deadline: Duration) -> Duration {
        deadline.mul_f64(self.settings.timeout_share)
    }

    /// Asks every bidder for `request`'s slots and answers the bids statusd accepts whose images
    /// are ready, within `budget`. Bids refused, or whose image is not ready yet, get their loss
    /// notices.
    pub async fn bids(&self, store: &Store, tokens: &TokenKey, request: &AdRequest, budget: Duration) -> Vec<OutsideBid> {
        let until = Instant::now() + budget;
        let day = request.now_ms.div_euclid(86_400_000);
        let asks = self.settings.bidders.iter().zip(&self.breakers).map(|(bidder, breaker)| {
            let pseudonym = tokens.bidder_pseudonym(&request.viewer, &bidder.name, day);
            self.ask(bidder, breaker, request, pseudonym, until)
        });
        let bids: Vec<OutsideBid> = join_all(asks).await.into_iter().flatten().collect();
        let ready = join_all(bids.iter().map(|bid| self.image(store, &bid.image_url, until))).await;
        bids.into_iter()
            .zip(ready)
            .filter_map(|(mut bid, image)| match image {
                Some(id) => {
                    bid.image_id = Some(id);
                    Some(bid)
                }
                None => {
                    self.notify(
                        &bid.bidder,
                        NoticeKind::Loss,
                        bid.loss_notice(&self.settings.currency, IMAGE_NOT_READY),
                    );
                    None
                }
            })
            .collect()
    }

    /// After the page's auction: the win notice of each outside bid that took a slot, at its
    /// clearing price, and a loss notice to each that did not.
    pub fn settle(&self, offered: &[OutsideBid], decisions: &[Decision]) {
        let currency = &self.settings.currency;
        for bid in offered {
            let won = decisions.iter().find(|d| {
                d.outside.as_deref().is_some_and(|w| {
                    (&w.bidder, &w.auction_id, &w.bid_id, &w.imp_id) == (&bid.bidder, &bid.auction_id, &bid.bid_id, &bid.imp_id)
                })
            });
            match won {
                Some(d) => {
                    self.metrics.openrtb.wins.with_label_values(&[&bid.bidder]).inc();
                    self.notify(&bid.bidder, NoticeKind::Win, bid.win_notice(currency, d.price_micros * 1000));
                }
                None => self.notify(&bid.bidder, NoticeKind::Loss, bid.loss_notice(currency, LOST_TO_HIGHER_BID)),
            }
        }
    }

    pub fn currency(&self) -> &str {
        &self.settings.currency
    }

    /// Sends a notice in the background (never on a request's path), trying again with backoff
    /// while the bidder cannot be reached or answers 5xx; a notice is sent once otherwise.
    pub fn notify(&self, bidder: &str, kind: NoticeKind, url: Option<String>) {
        let Some(url) = url else { return };
        let (client, metrics, bidder) = (self.client.clone(), self.metrics.clone(), bidder.to_owned());
        let count = move |outcome: NoticeOutcome| {
            metrics
                .openrtb
                .notices
                .with_label_values(&[&bidder, kind.as_ref(), outcome.as_ref()])
                .inc()
        };
        tokio::spawn(async move {
            for wait in NOTICE_RETRIES.iter().map(Some).chain([None]) {
                let sent = tokio::time::timeout(NOTICE_TIMEOUT, client.get(&url).send()).await;
                if matches!(&sent, Ok(Ok(response)) if !response.status().is_server_error()) {
                    return count(NoticeOutcome::Sent);
                }
                let Some(wait) = wait else { break };
                count(NoticeOutcome::Retried);
                tokio::time::sleep(*wait).await;
            }
            tracing::info!(url = %url, "a notice to a bidder could not be delivered");
            count(NoticeOutcome::Failed);
        });
    }

    /// One bidder's accepted bids, or none when it fails, is late or is paused.
    async fn ask(
        &self,
        bidder: &BidderSettings,
        breaker: &Breaker,
        request: &AdRequest,
        pseudonym: String,
        until: Instant,
    ) -> Vec<OutsideBid> {
        let requests = &self.metrics.openrtb.requests;
        let count = |outcome: BidderOutcome| requests.with_label_values(&[&bidder.name, outcome.as_ref()]).inc();
        let started = Instant::now();
        if !breaker.admit(started) {
            count(BidderOutcome::Skipped);
            return Vec::new();
        }
        let left = until.saturating_duration_since(started);
        let sent = openrtb::bid_request(&Ask {
            settings: &self.settings,
            request,
            auction_id: ulid::Ulid::new().to_string(),
            pseudonym,
            reserve_cpm_micros: self.reserve_cpm_micros,
            tmax_ms: left.as_millis() as u64,
        });
        let exchange = async {
            let body = serde_json::to_vec(&sent).map_err(|e| e.to_string())?;
            let response = self
                .client
                .post(&bidder.endpoint)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("x-openrtb-version", "2.6")
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            match response.status().as_u16() {
                204 => Ok(None),
                200 => Ok(Some(response.bytes().await.map_err(|e| e.to_string())?)),
                other => Err(format!("status {other}")),
            }
        };
        let answered = tokio::time::timeout(left, exchange).await;
        let finished = Instant::now();
        self.metrics
            .openrtb
            .duration
            .with_label_values(&[&bidder.name])
            .observe((finished - started).as_secs_f64());
        let answer = match answered.map(|r| r.map(|body| body.map(|b| serde_json::from_slice::<openrtb::wire::BidResponse>(&b)))) {
            Err(_) => Err((BidderOutcome::Timeout, "past tmax".to_owned())),
            Ok(Err(e)) => Err((BidderOutcome::Error, e)),
            Ok(Ok(None)) => Ok(None),
            Ok(Ok(Some(Err(e)))) => Err((BidderOutcome::Invalid, e.to_string())),
            Ok(Ok(Some(Ok(answer)))) => Ok(Some(answer)),
        };
        breaker.record(answer.is_ok(), finished);
        let answer = match answer {
            Err((outcome, why)) => {
                tracing::debug!(bidder = %bidder.name, outcome = outcome.as_ref(), why, "bidder failed");
                count(outcome);
                return Vec::new();
            }
            Ok(None) => {
                count(BidderOutcome::NoBid);
                return Vec::new();
            }
            Ok(Some(answer)) => answer,
        };
        let (accepted, refused) = openrtb::accept_bids(&bidder.name, &sent, answer, &self.settings);
        count(match accepted.is_empty() && refused.is_empty() {
            true => BidderOutcome::NoBid,
            false => BidderOutcome::Bids,
        });
        let bids = &self.metrics.openrtb.bids;
        bids.with_label_values(&[&bidder.name, "accepted"]).inc_by(accepted.len() as u64);
        for refused in refused {
            tracing::debug!(bidder = %bidder.name, refusal = <&str>::from(refused.why), "bid refused");
            bids.with_label_values(&[bidder.name.as_str(), refused.why.into()]).inc();
            let lurl = refused
                .lurl
                .map(|url| url.replace("${AUCTION_LOSS}", &refused.why.loss_code().to_string()));
            self.notify(&bidder.name, NoticeKind::Loss, lurl);
        }
        accepted
    }

    /// The id of `url`'s normalised image once it is in Redis; waits for a fetch until `until`.
    async fn image(&self, store: &Store, url: &str, until: Instant) -> Option<String> {
        let now = Instant::now();
        let known = self.images.lock().ok()?.get(url).cloned();
        let mut fetching = match known {
            Some(Image::Ready { id, until: kept }) if kept > now => return Some(id),
            Some(Image::Failed { until: pause }) if pause > now => return None,
            Some(Image::Fetching(rx)) => rx,
            _ => self.start_fetch(store, url)?,
        };
        let left = until.saturating_duration_since(Instant::now());
        let done = tokio::time::timeout(left, fetching.wait_for(Option::is_some)).await.ok()?.ok()?;
        done.clone().flatten()
    }

    /// Starts fetching `url` in the background, if a fetch slot is free.
    fn start_fetch(&self, store: &Store, url: &str) -> Option<watch::Receiver<Option<Option<String>>>> {
        let permit = self.fetches.clone().try_acquire_owned().ok()?;
        let (tx, rx) = watch::channel(None);
        self.images.lock().ok()?.insert(url.to_owned(), Image::Fetching(rx.clone()));
        let (client, store, images, url) = (self.client.clone(), store.clone(), self.images.clone(), url.to_owned());
        let (limits, ttl_secs) = (self.media, self.settings.image_cache_secs);
        tokio::spawn(async move {
            let _permit = permit;
            let id = hex::encode(&Sha256::digest(url.as_bytes())[..16]);
            let outcome = match fetch_and_store(&client, &store, &url, &id, limits, ttl_secs).await {
                Ok(()) => Image::Ready {
                    id: id.clone(),
                    until: Instant::now() + Duration::from_secs(ttl_secs),
                },
                Err(e) => {
                    tracing::info!(url = %url, error = %e, "an outside bid's image was refused");
                    Image::Failed {
                        until: Instant::now() + FAILED_IMAGE_PAUSE,
                    }
                }
            };
            let ready = matches!(outcome, Image::Ready { .. }).then_some(id);
            if let Ok(mut images) = images.lock() {
                images.insert(url, outcome);
            }
            let _ = tx.send(Some(ready));
        });
        Some(rx)
    }
}

/// An outside bid's normalised image, while statusd keeps it; `id` is what the card's URL names.
pub async fn image(store: &Store, id: &str, which: ImageSize) -> Result<Vec<u8>> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::NotFound);
    }
    store.outside_image(id, which).await?.ok_or(Error::NotFound)
}

async fn fetch_and_store(
    client: &reqwest::Client,
    store: &Store,
    url: &str,
    id: &str,
    limits: MediaLimits,
    ttl_secs: u64,
) -> std::result::Result<(), String> {
    let mut response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let max = limits.max_upload_bytes;
    if response.content_length().is_some_and(|n| n as usize > max) {
        return Err("larger than ads.openrtb.max_image_bytes".into());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if bytes.len() + chunk.len() > max {
            return Err("larger than ads.openrtb.max_image_bytes".into());
        }
        bytes.extend_from_slice(&chunk);
    }
    let processed = tokio::task::spawn_blocking(move || crate::media::process(&bytes, &limits, &PipelineSpec::CREATIVE))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let media = MediaBytes {
        full: processed.full.bytes,
        thumb: processed.thumb.bytes,
    };
    store.put_outside_image(id, &media, ttl_secs).await.map_err(|e| e.to_string())
}
