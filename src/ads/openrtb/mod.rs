//! OpenRTB 2.6 for the `openrtb` selector: the `BidRequest` a page's ad slots make for one
//! bidder, and the bids of its `BidResponse` that statusd accepts. Plain Rust: the HTTP exchange
//! is the services' (`services::outside_demand`).
//!
//! Privacy: a request is built from an [`AdRequest`] only — the viewer's country, language and
//! consented interests — plus a pseudonym that differs per bidder and per day. No user id, contact,
//! story, view, IP address or device id can reach a bidder, because none is in the input.

pub mod breaker;
pub mod wire;

use super::AdRequest;
use crate::config::OpenRtbSettings;
use wire::*;

/// The Native 1.2 asset ids of a story card.
const TITLE: u32 = 1;
const MAIN_IMAGE: u32 = 2;
const CTA_TEXT: u32 = 3;

/// The story canvas every ad fills.
pub const CANVAS: (u32, u32) = (1080, 1920);
/// The longest title a card shows (as a creative's headline).
pub const MAX_TITLE: usize = crate::advertisers::creatives::MAX_HEADLINE;
/// The longest CTA text a card shows (as a configured CTA label).
pub const MAX_CTA: usize = 30;
/// The longest advertiser domain taken, so that its advertiser id stays an id.
const MAX_DOMAIN: usize = crate::ids::MAX_USER_ID_LEN - 4;

/// What one bidder is asked for one page: `slots` story cards, each at or above the reserve.
pub struct Ask<'a> {
    pub settings: &'a OpenRtbSettings,
    pub request: &'a AdRequest,
    /// Unique per page and bidder.
    pub auction_id: String,
    /// The bidder's pseudonym of the viewer (see [`super::token::TokenKey::bidder_pseudonym`]).
    pub pseudonym: String,
    pub reserve_cpm_micros: i64,
    /// What is left of the ad deadline for the bidder.
    pub tmax_ms: u64,
}

/// The `imp` id of slot `n` (0-based).
pub fn imp_id(n: usize) -> String {
    (n + 1).to_string()
}

pub fn bid_request(ask: &Ask) -> BidRequest {
    let settings = ask.settings;
    let native = NativeRequest {
        ver: "1.2".into(),
        context: 2,
        plcmttype: 1,
        plcmtcnt: 1,
        assets: vec![
            asset(TITLE, |a| a.title = Some(TitleRequest { len: MAX_TITLE })),
            asset(MAIN_IMAGE, |a| {
                a.img = Some(ImageRequest {
                    kind: 3,
                    w: CANVAS.0,
                    h: CANVAS.1,
                })
            }),
            asset(CTA_TEXT, |a| a.data = Some(DataRequest { kind: 12, len: MAX_CTA })),
        ],
    };
    let native = serde_json::to_string(&native).unwrap_or_default();
    let imp = (0..ask.request.slots)
        .map(|n| Imp {
            id: imp_id(n),
            native: Native {
                request: native.clone(),
                ver: "1.2".into(),
            },
            bidfloor: ask.reserve_cpm_micros as f64 / 1e6,
            bidfloorcur: settings.currency.clone(),
            secure: 1,
        })
        .collect();
    let regs = &settings.regs;
    let regs = Regs {
        coppa: regs.coppa.then_some(1),
        gdpr: regs.gdpr.map(u8::from),
        us_privacy: regs.us_privacy.clone(),
        gpp: regs.gpp.clone(),
        gpp_sid: regs.gpp_sid.clone(),
    };
    BidRequest {
        id: ask.auction_id.clone(),
        imp,
        app: App {
            name: settings.app.name.clone(),
            bundle: settings.app.bundle.clone(),
            domain: settings.app.domain.clone(),
            storeurl: settings.app.store_url.clone(),
        },
        device: Device {
            geo: ask
                .request
                .country
                .as_deref()
                .and_then(crate::users::countries::alpha3)
                .map(|country| Geo { country: country.into() }),
            language: ask.request.language.clone(),
        },
        user: User {
            id: ask.pseudonym.clone(),
            // Interests are in the request only while the viewer consents.
            keywords: ask.request.interests.as_ref().filter(|i| !i.is_empty()).map(|i| i.join(",")),
        },
        regs: (regs != Regs::default()).then_some(regs),
        at: 2,
        tmax: ask.tmax_ms,
        cur: vec![settings.currency.clone()],
    }
}

fn asset(id: u32, fill: impl FnOnce(&mut AssetRequest)) -> AssetRequest {
    let mut asset = AssetRequest {
        id,
        required: 1,
        title: None,
        img: None,
        data: None,
    };
    fill(&mut asset);
    asset
}

/// A bid statusd accepted: a story card an outside advertiser pays `price_cpm_micros` for.
#[derive(Debug, Clone, PartialEq)]
pub struct OutsideBid {
    pub bidder: String,
    /// The `BidRequest`'s id.
    pub auction_id: String,
    pub imp_id: String,
    pub bid_id: String,
    pub price_cpm_micros: i64,
    pub title: String,
    pub cta_text: String,
    /// Where the CTA leads (an https URL, as a creative's).
    pub click_url: String,
    /// Fetched and normalised before the card is shown.
    pub image_url: String,
    /// The normalised image's id, once statusd holds it (`/v1/ads/outside/{id}/media`).
    pub image_id: Option<String>,
    /// The advertiser's domain, shown on the card.
    pub advertiser_domain: String,
    pub nurl: Option<String>,
    pub burl: Option<String>,
    pub lurl: Option<String>,
}

impl OutsideBid {
    /// The advertiser, for blocking and "one ad per advertiser per page": its domain, as an id
    /// the API takes (`rtb_` and the domain with `_` for `.`; a domain has no `_`).
    pub fn advertiser_id(&self) -> String {
        format!("rtb_{}", self.advertiser_domain.replace('.', "_"))
    }

    /// What a viewer hides with "hide this ad": the advertiser's ads through this bidder.
    pub fn campaign_id(&self) -> String {
        format!("rtb:{}:{}", self.bidder, self.advertiser_domain)
    }

    /// The win notice (`nurl`), at the clearing price.
    pub fn win_notice(&self, currency: &str, price_cpm_micros: i64) -> Option<String> {
        self.fill(self.nurl.as_deref()?, currency, Some(price_cpm_micros), None)
    }

    /// The billing notice (`burl`), at the clearing price.
    pub fn billing_notice(&self, currency: &str, price_cpm_micros: i64) -> Option<String> {
        self.fill(self.burl.as_deref()?, currency, Some(price_cpm_micros), None)
    }

    /// The loss notice (`lurl`), with its reason code.
    pub fn loss_notice(&self, currency: &str, code: u32) -> Option<String> {
        self.fill(self.lurl.as_deref()?, currency, None, Some(code))
    }

    fn fill(&self, template: &str, currency: &str, price_cpm_micros: Option<i64>, loss: Option<u32>) -> Option<String> {
        Some(notice(
            template,
            &Macros {
                auction_id: &self.auction_id,
                bid_id: &self.bid_id,
                imp_id: &self.imp_id,
                currency,
                price_cpm_micros,
                loss,
            },
        ))
    }
}

/// Why a bid was refused (its name is a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum Refusal {
    /// The answer is for another request.
    OtherAuction,
    /// The bid is for an `imp` that was not asked.
    UnknownImp,
    UnderFloor,
    OtherCurrency,
    /// No `adm`, or not a Native 1.2 story card (title, main image, CTA text, link).
    BadMarkup,
    /// The image is not on one of `ads.openrtb.image_hosts`.
    ImageHostNotAllowed,
    /// No advertiser domain to show on the card.
    NoAdvertiserDomain,
}

impl Refusal {
    /// The OpenRTB loss reason code a loss notice carries (`${AUCTION_LOSS}`).
    pub fn loss_code(self) -> u32 {
        match self {
            Refusal::OtherAuction => 5,
            Refusal::UnknownImp | Refusal::OtherCurrency => 3,
            Refusal::UnderFloor => 100,
            Refusal::BadMarkup => 204,
            Refusal::ImageHostNotAllowed => 200,
            Refusal::NoAdvertiserDomain => 6,
        }
    }
}

/// Loss reason codes for bids that were taken in but did not win.
pub const LOST_TO_HIGHER_BID: u32 = 102;
/// The bid's image was still being fetched and normalised ("pending processing").
pub const IMAGE_NOT_READY: u32 = 201;

/// A refused bid, and its loss notice if the bidder gave one.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub why: Refusal,
    /// `lurl` with every macro but `${AUCTION_LOSS}` filled.
    pub lurl: Option<String>,
}

/// The bids of `answer` that statusd accepts for `sent`, and why the others were refused.
pub fn accept_bids(bidder: &str, sent: &BidRequest, answer: BidResponse, settings: &OpenRtbSettings) -> (Vec<OutsideBid>, Vec<Refused>) {
    let bids = answer.seatbid.into_iter().flat_map(|seat| seat.bid);
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for bid in bids {
        let lurl = bid.lurl.as_deref().map(|url| {
            notice(
                url,
                &Macros {
                    auction_id: &sent.id,
                    bid_id: &bid.id,
                    imp_id: &bid.impid,
                    currency: &settings.currency,
                    price_cpm_micros: None,
                    loss: None,
                },
            )
        });
        let outcome = match answer.id == sent.id {
            true => accept(bidder, sent, &answer.cur, bid, settings),
            false => Err(Refusal::OtherAuction),
        };
        match outcome {
            Ok(bid) => accepted.push(bid),
            Err(why) => refused.push(Refused { why, lurl }),
        }
    }
    (accepted, refused)
}

/// The values of a notice URL's macros.
pub struct Macros<'a> {
    pub auction_id: &'a str,
    pub bid_id: &'a str,
    pub imp_id: &'a str,
    pub currency: &'a str,
    /// The clearing price (CPM), for win and billing notices.
    pub price_cpm_micros: Option<i64>,
    /// The loss reason code, for loss notices.
    pub loss: Option<u32>,
}

/// A notice URL with the OpenRTB macros it holds filled in; a macro without a value is left as it
/// is (a loss notice's `${AUCTION_LOSS}` is filled once the auction is over).
pub fn notice(template: &str, m: &Macros) -> String {
    let price = m.price_cpm_micros.map(|p| format!("{}", p as f64 / 1e6));
    let loss = m.loss.map(|l| l.to_string());
    let mut url = template.to_owned();
    for (name, value) in [
        ("${AUCTION_ID}", Some(m.auction_id)),
        ("${AUCTION_BID_ID}", Some(m.bid_id)),
        ("${AUCTION_IMP_ID}", Some(m.imp_id)),
        ("${AUCTION_CURRENCY}", Some(m.currency)),
        ("${AUCTION_PRICE}", price.as_deref()),
        ("${AUCTION_LOSS}", loss.as_deref()),
    ] {
        if let Some(value) = value {
            url = url.replace(name, value);
        }
    }
    url
}

fn accept(bidder: &str, sent: &BidRequest, currency: &str, bid: Bid, settings: &OpenRtbSettings) -> Result<OutsideBid, Refusal> {
    let imp = sent.imp.iter().find(|i| i.id == bid.impid).ok_or(Refusal::UnknownImp)?;
    if currency != settings.currency {
        return Err(Refusal::OtherCurrency);
    }
    if !(bid.price.is_finite() && bid.price >= imp.bidfloor) {
        return Err(Refusal::UnderFloor);
    }
    let markup: NativeMarkup = serde_json::from_str(bid.adm.as_deref().ok_or(Refusal::BadMarkup)?).map_err(|_| Refusal::BadMarkup)?;
    let native = markup.into_response();
    let asset = |id: u32| native.assets.iter().find(|a| a.id == id);
    let title = asset(TITLE).and_then(|a| a.title.as_ref()).map(|t| t.text.trim().to_owned());
    let image = asset(MAIN_IMAGE).and_then(|a| a.img.as_ref()).map(|i| i.url.clone());
    let cta = asset(CTA_TEXT).and_then(|a| a.data.as_ref()).map(|d| d.value.trim().to_owned());
    let (Some(title), Some(image_url), Some(cta_text)) = (title, image, cta) else {
        return Err(Refusal::BadMarkup);
    };
    let fits = |text: &str, max: usize| !text.is_empty() && text.chars().count() <= max && !text.chars().any(char::is_control);
    if !fits(&title, MAX_TITLE) || !fits(&cta_text, MAX_CTA) {
        return Err(Refusal::BadMarkup);
    }
    let click_url = crate::advertisers::creatives::parse_cta_url(&native.link.url).map_err(|_| Refusal::BadMarkup)?;
    if !image_host_allowed(&image_url, settings) {
        return Err(Refusal::ImageHostNotAllowed);
    }
    let advertiser_domain = bid
        .adomain
        .first()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty() && d.len() <= MAX_DOMAIN && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
        .ok_or(Refusal::NoAdvertiserDomain)?;
    Ok(OutsideBid {
        bidder: bidder.to_owned(),
        auction_id: sent.id.clone(),
        imp_id: bid.impid,
        bid_id: bid.id,
        price_cpm_micros: (bid.price * 1e6).round() as i64,
        title,
        cta_text,
        click_url,
        image_url,
        image_id: None,
        advertiser_domain,
        nurl: bid.nurl,
        burl: bid.burl,
        lurl: bid.lurl,
    })
}

/// Whether an image URL is on a configured host (`host` or `host:port`): `https`, or `http` for a
/// host the operator listed with its port (a bidder on the operator's own network).
pub fn image_host_allowed(image_url: &str, settings: &OpenRtbSettings) -> bool {
    let Ok(url) = url::Url::parse(image_url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    let with_port = url.port().map(|p| format!("{host}:{p}"));
    settings.image_hosts.iter().any(|allowed| match url.scheme() {
        "https" => allowed == host || with_port.as_deref() == Some(allowed.as_str()),
        "http" => with_port.as_deref() == Some(allowed.as_str()),
        _ => false,
    })
}

#[cfg(test)]
mod tests;
