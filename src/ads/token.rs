//! Ad tokens: what the client sends back for impressions, clicks, hides, reports and "why".
//! Signed with HMAC-SHA256 under the configured key and expiring; a forged, foreign or expired
//! token is indistinguishable from a missing one.

use super::Match;
use crate::ids::UserId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a token carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdToken {
    #[serde(rename = "c")]
    pub campaign_id: String,
    #[serde(rename = "r")]
    pub creative_id: String,
    #[serde(rename = "a")]
    pub advertiser_id: String,
    /// The user it was served to.
    #[serde(rename = "v")]
    pub viewer: UserId,
    #[serde(rename = "t")]
    pub served_ms: i64,
    #[serde(rename = "x")]
    pub expires_ms: i64,
    /// What one impression costs (the clearing price).
    #[serde(rename = "p")]
    pub price_micros: i64,
    #[serde(rename = "m")]
    pub matched: Match,
    /// Makes every serve's token distinct, so that "once per token" means once per serve.
    #[serde(rename = "n")]
    pub nonce: u64,
    /// Where an outside ad's CTA leads (house ads have theirs in their creative).
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub click_url: Option<String>,
    /// An outside ad's billing notice, filled when it was served, sent when it is billed.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub billing_url: Option<String>,
}

impl AdToken {
    /// Whether the ad came from an outside bidder (`openrtb`), not a house campaign.
    pub fn is_outside(&self) -> bool {
        self.click_url.is_some()
    }

    /// The bidder of an outside ad (its campaign id is `rtb:<bidder>:<domain>`).
    pub fn bidder(&self) -> Option<&str> {
        self.campaign_id.strip_prefix("rtb:")?.rsplit_once(':').map(|(bidder, _)| bidder)
    }
}

#[derive(Clone)]
pub struct TokenKey {
    /// The HMAC with the key already taken in: cloned per use, which spares hashing the key again
    /// for each of a page's tokens.
    keyed: Hmac<Sha256>,
}

impl TokenKey {
    pub fn new(key: &[u8]) -> TokenKey {
        TokenKey {
            keyed: Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length"),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.keyed.clone()
    }

    /// A stable pseudonym of a user (a keyed hash): what selectors and reach counters see.
    pub fn pseudonym(&self, user: &UserId) -> String {
        let mut mac = self.mac();
        mac.update(b"viewer\0");
        mac.update(user.as_str().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..12])
    }

    /// What an outside bidder calls the viewer (`user.id`): a keyed hash of the viewer's
    /// pseudonym, the bidder's name and the UTC day, so that no two bidders can match their
    /// viewers with each other, and none can follow a viewer from one day to the next.
    pub fn bidder_pseudonym(&self, viewer_pseudonym: &str, bidder: &str, day: i64) -> String {
        let mut mac = self.mac();
        mac.update(b"bidder\0");
        mac.update(bidder.as_bytes());
        mac.update(b"\0");
        mac.update(&day.to_be_bytes());
        mac.update(viewer_pseudonym.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    pub fn sign(&self, token: &AdToken) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(token).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// The token if its signature is ours, it has not expired at `now_ms`, and it was served to
    /// `viewer`; None otherwise.
    pub fn verify(&self, token: &str, viewer: &UserId, now_ms: i64) -> Option<AdToken> {
        let (payload, signature) = token.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let decoded: AdToken = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (decoded.expires_ms > now_ms && decoded.viewer == *viewer).then_some(decoded)
    }
}

/// A short stable id of a token (for "counted once per token").
pub fn token_id(token: &str) -> &str {
    token.rsplit_once('.').map(|(_, sig)| sig).unwrap_or(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn token() -> AdToken {
        AdToken {
            campaign_id: "c1".into(),
            creative_id: "cr1".into(),
            advertiser_id: "a1".into(),
            viewer: user("alice"),
            served_ms: 1_000,
            expires_ms: 2_000,
            price_micros: 1_500,
            matched: Match {
                country: Some("DE".into()),
                ..Default::default()
            },
            nonce: 7,
            click_url: None,
            billing_url: None,
        }
    }

    #[test]
    fn bidder_pseudonyms_differ_per_bidder_and_per_day() {
        let key = TokenKey::new(b"key-one");
        let viewer = key.pseudonym(&user("alice"));
        let today = key.bidder_pseudonym(&viewer, "dsp-one", 20_000);
        assert_eq!(today, key.bidder_pseudonym(&viewer, "dsp-one", 20_000), "stable within a day");
        assert_eq!(today.len(), 32);
        for other in [
            key.bidder_pseudonym(&viewer, "dsp-two", 20_000),
            key.bidder_pseudonym(&viewer, "dsp-one", 20_001),
            key.bidder_pseudonym(&key.pseudonym(&user("bob")), "dsp-one", 20_000),
            TokenKey::new(b"key-two").bidder_pseudonym(&viewer, "dsp-one", 20_000),
            viewer.clone(),
        ] {
            assert_ne!(today, other);
        }
        assert!(!today.contains("alice"));
    }

    #[test]
    fn signed_expiring_and_bound_to_the_viewer() {
        let key = TokenKey::new(b"key-one");
        let signed = key.sign(&token());
        assert_eq!(key.verify(&signed, &user("alice"), 1_500), Some(token()));
        assert_eq!(key.verify(&signed, &user("bob"), 1_500), None, "foreign");
        assert_eq!(key.verify(&signed, &user("alice"), 2_000), None, "expired");
        assert_eq!(TokenKey::new(b"key-two").verify(&signed, &user("alice"), 1_500), None, "other key");
        let (payload, sig) = signed.split_once('.').unwrap();
        let mut forged = token();
        forged.price_micros = 1;
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            key.verify(&format!("{forged_payload}.{sig}"), &user("alice"), 1_500),
            None,
            "forged"
        );
        assert_eq!(key.verify(payload, &user("alice"), 1_500), None);
        assert_eq!(key.verify("", &user("alice"), 1_500), None);
        assert_eq!(key.verify("a.b.c", &user("alice"), 1_500), None);
    }
}
