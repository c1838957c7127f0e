//! The advertiser half: accounts and their API keys, creatives and their review, campaigns and
//! their lifecycle, reports. Plain Rust: no HTTP, no Redis (`service` is written against the store).

pub mod campaigns;
pub mod creatives;
pub mod reports;

use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// An advertiser as stored. The API key itself is never stored: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvertiserRecord {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Hex SHA-256 of the current API key.
    pub key_hash: String,
}

impl AdvertiserRecord {
    pub fn view(&self) -> Advertiser {
        Advertiser {
            id: self.id.clone(),
            name: self.name.clone(),
            created_at: self.created_at,
        }
    }
}

/// An advertiser account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Advertiser {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// An advertiser with its API key: answered once, when the key is issued.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdvertiserWithKey {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// `sk_` + 43 characters; shown only in this answer, stored only as a hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// `POST /v1/admin/advertisers`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdvertiser {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

pub const MAX_ADVERTISER_NAME: usize = 100;

impl NewAdvertiser {
    pub fn parse(self) -> Result<String> {
        parse_name(&self.name, MAX_ADVERTISER_NAME).map_err(|m| Error::field("name", m))
    }
}

/// A display name: trimmed, 1–`max` characters, no control characters.
pub fn parse_name(name: &str, max: usize) -> std::result::Result<String, String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > max {
        Err(format!("1-{max} characters"))
    } else if name.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(name.to_owned())
    }
}

/// A new API key and the hash that is stored in its place.
pub struct IssuedKey {
    pub key: String,
    pub hash: String,
}

pub const API_KEY_PREFIX: &str = "sk_";
/// 32 random bytes: 256 bits of entropy.
const API_KEY_BYTES: usize = 32;

/// A fresh API key from the operating system's CSPRNG (via `rand`'s thread-local ChaCha).
pub fn issue_api_key() -> IssuedKey {
    let bytes: [u8; API_KEY_BYTES] = rand::random();
    let key = format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_api_key(&key);
    IssuedKey { key, hash }
}

/// Hex SHA-256 of an API key: what is stored and looked up.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether a bearer token has the shape of an API key (so user tokens and the admin token are
/// refused without a lookup).
pub fn looks_like_api_key(token: &str) -> bool {
    token.strip_prefix(API_KEY_PREFIX).is_some_and(|rest| {
        rest.len() == API_KEY_BYTES.div_ceil(3) * 4 - 1 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Ids of advertisers, creatives and campaigns: 1–64 characters of `[A-Za-z0-9_-]` (ULIDs when
/// generated). Anything else in a path is simply not found.
pub fn is_valid_id(id: &str) -> bool {
    crate::ids::is_plain_id(id)
}

/// A new id, sortable by creation time.
pub fn new_id(now: DateTime<Utc>) -> String {
    crate::ids::new_id(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_random_prefixed_and_hashed() {
        let a = issue_api_key();
        let b = issue_api_key();
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with("sk_"));
        assert_eq!(a.key.len(), 3 + 43);
        assert!(looks_like_api_key(&a.key), "{}", a.key);
        assert_eq!(a.hash, hash_api_key(&a.key));
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(&a.key[3..]));
        assert!(!looks_like_api_key("sk_short"));
        assert!(!looks_like_api_key("eyJhbGciOiJIUzI1NiJ9.e30.x"));
        assert!(!looks_like_api_key(&format!("sk_{}", "a+".repeat(21) + "a")));
    }

    #[test]
    fn names() {
        assert_eq!(NewAdvertiser { name: "  Acme  ".into() }.parse().unwrap(), "Acme");
        assert!(NewAdvertiser { name: " ".into() }.parse().is_err());
        assert!(NewAdvertiser { name: "x".repeat(101) }.parse().is_err());
        assert!(NewAdvertiser { name: "é".repeat(100) }.parse().is_ok());
        assert!(NewAdvertiser { name: "a\nb".into() }.parse().is_err());
    }
}
