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

use crate::ads::AdRequest;
use crate::ads::openrtb::{self, Ask, OutsideBid};
use crate::ads::token::TokenKey;
use crate::config::{BidderSettings, OpenRtbSettings, Settings};
use crate::error::{Error, Result};
use crate::media::{ImageSize, MediaLimits, PipelineSpec};
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

pub struct OutsideDemand {
    client: reqwest::Client,
    settings: OpenRtbSettings,
    reserve_cpm_micros: i64,
    media: MediaLimits,
    images: Arc<Mutex<HashMap<String, Image>>>,
    fetches: Arc<Semaphore>,
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
    pub fn new(settings: &Settings) -> OutsideDemand {
        let client = reqwest::Client::builder()
            .http1_only()
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let media = &settings.media;
        OutsideDemand {
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
    /// are ready, within `budget`.
    pub async fn bids(&self, store: &Store, tokens: &TokenKey, request: &AdRequest, budget: Duration) -> Vec<OutsideBid> {
        let until = Instant::now() + budget;
        let day = request.now_ms.div_euclid(86_400_000);
        let asks = self.settings.bidders.iter().map(|bidder| {
            let pseudonym = tokens.bidder_pseudonym(&request.viewer, &bidder.name, day);
            self.ask(bidder, request, pseudonym, until)
        });
        let bids: Vec<OutsideBid> = join_all(asks).await.into_iter().flatten().collect();
        let ready = join_all(bids.iter().map(|bid| self.image(store, &bid.image_url, until))).await;
        bids.into_iter()
            .zip(ready)
            .filter_map(|(mut bid, image)| {
                bid.image_id = Some(image?);
                Some(bid)
            })
            .collect()
    }

    /// One bidder's accepted bids, or none when it fails or is late.
    async fn ask(&self, bidder: &BidderSettings, request: &AdRequest, pseudonym: String, until: Instant) -> Vec<OutsideBid> {
        let left = until.saturating_duration_since(Instant::now());
        let sent = openrtb::bid_request(&Ask {
            settings: &self.settings,
            bidder,
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
        let answer = match tokio::time::timeout(left, exchange).await {
            Err(_) => {
                tracing::debug!(bidder = %bidder.name, "bidder past tmax");
                return Vec::new();
            }
            Ok(Err(e)) => {
                tracing::debug!(bidder = %bidder.name, error = %e, "bidder failed");
                return Vec::new();
            }
            Ok(Ok(None)) => return Vec::new(),
            Ok(Ok(Some(bytes))) => bytes,
        };
        let Ok(answer) = serde_json::from_slice(&answer) else {
            tracing::debug!(bidder = %bidder.name, "bidder answered what is not a BidResponse");
            return Vec::new();
        };
        let (accepted, refused) = openrtb::accept_bids(&bidder.name, &sent, answer, &self.settings);
        for why in refused {
            tracing::debug!(bidder = %bidder.name, refusal = <&str>::from(why), "bid refused");
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
