//! The part of OpenRTB 2.6 and of Native Ads 1.2 that statusd sends and reads, as serde types.
//!
//! Written here rather than taken from a crate: the crates that cover OpenRTB 2.5 (`openrtb`,
//! `openrtb2`) lack 2.6's `gpp` fields, and the one 2.6 crate (`openrtb26` 0.1) has one release
//! and one author; statusd needs about thirty fields, each of which a test reads back.
//! Unknown fields in answers are ignored, as the standard asks.

use serde::{Deserialize, Serialize};

/// `BidRequest`: one per bidder per feed page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BidRequest {
    pub id: String,
    pub imp: Vec<Imp>,
    pub app: App,
    pub device: Device,
    pub user: User,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regs: Option<Regs>,
    /// Second-price auction.
    pub at: u8,
    /// Milliseconds the bidder has, transport included.
    pub tmax: u64,
    pub cur: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imp {
    pub id: String,
    pub native: Native,
    /// CPM in `bidfloorcur`.
    pub bidfloor: f64,
    pub bidfloorcur: String,
    /// Only `https` markup and images.
    pub secure: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Native {
    /// A [`NativeRequest`] as a JSON string, as OpenRTB carries it.
    pub request: String,
    pub ver: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub name: String,
    pub bundle: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storeurl: Option<String>,
}

/// What a bidder learns of the device: the viewer's country and language, nothing else (no IP,
/// no user agent, no device ids).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Device {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    /// ISO 3166-1 alpha-3.
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// A pseudonym for this bidder, renewed daily; never the user id.
    pub id: String,
    /// The viewer's consented interests, comma-separated; absent without consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Regs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coppa: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gdpr: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub us_privacy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpp_sid: Vec<u32>,
}

/// Native 1.2 request: one story card (title, main image, CTA text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NativeRequest {
    pub ver: String,
    /// 2: social-centric content (a feed of people's statuses).
    pub context: u8,
    /// 1: in the feed of content.
    pub plcmttype: u8,
    pub plcmtcnt: u8,
    pub assets: Vec<AssetRequest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetRequest {
    pub id: u32,
    pub required: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<TitleRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub img: Option<ImageRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataRequest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TitleRequest {
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRequest {
    /// 3: the main image.
    #[serde(rename = "type")]
    pub kind: u8,
    pub w: u32,
    pub h: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRequest {
    /// 12: the call-to-action text.
    #[serde(rename = "type")]
    pub kind: u8,
    pub len: usize,
}

/// `BidResponse`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BidResponse {
    pub id: String,
    #[serde(default)]
    pub seatbid: Vec<SeatBid>,
    /// The standard's default is USD.
    #[serde(default = "usd")]
    pub cur: String,
}

fn usd() -> String {
    "USD".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SeatBid {
    #[serde(default)]
    pub bid: Vec<Bid>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Bid {
    pub id: String,
    pub impid: String,
    /// CPM in the response's currency.
    pub price: f64,
    #[serde(default)]
    pub adm: Option<String>,
    #[serde(default)]
    pub adomain: Vec<String>,
    #[serde(default)]
    pub crid: Option<String>,
    /// Win notice.
    #[serde(default)]
    pub nurl: Option<String>,
    /// Billing notice.
    #[serde(default)]
    pub burl: Option<String>,
    /// Loss notice.
    #[serde(default)]
    pub lurl: Option<String>,
}

/// Native 1.2 response (the bid's `adm`), bare or wrapped in `{"native": …}` as 1.0 had it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum NativeMarkup {
    Wrapped { native: NativeResponse },
    Bare(NativeResponse),
}

impl NativeMarkup {
    pub fn into_response(self) -> NativeResponse {
        match self {
            NativeMarkup::Wrapped { native } | NativeMarkup::Bare(native) => native,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NativeResponse {
    #[serde(default)]
    pub assets: Vec<AssetResponse>,
    pub link: Link,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssetResponse {
    pub id: u32,
    #[serde(default)]
    pub title: Option<TitleResponse>,
    #[serde(default)]
    pub img: Option<ImageResponse>,
    #[serde(default)]
    pub data: Option<DataResponse>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TitleResponse {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImageResponse {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DataResponse {
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Link {
    pub url: String,
}
