//! Identity: user tokens (HS256 JWTs whose `sub` is the user id) and constant-time comparison of
//! configured secrets.

use crate::error::{Error, Result};
use crate::ids::{USER_ID_RULE, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who is calling: a user, an advertiser (by id) or the operator. Records kept per caller (those of
/// an `Idempotency-Key`) live under the caller's own tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    User(&'a UserId),
    Advertiser(&'a str),
    Admin,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

/// Signs and checks user tokens with the configured secret.
#[derive(Clone)]
pub struct UserTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens already verified, with their user and expiry: a client sends the same token with
    /// every request, and checking its signature again costs more than the rest of a small read.
    verified: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (UserId, i64)>>>,
}

/// Verified tokens remembered at most; the memory is cleared when full (a few hundred KB).
const VERIFIED_CAPACITY: usize = 4096;

impl UserTokens {
    pub fn new(secret: &str) -> UserTokens {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        UserTokens {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            verified: Default::default(),
        }
    }

    /// A token for `user` that expires `ttl_secs` from now.
    pub fn issue(&self, user: &str, ttl_secs: i64) -> Result<String> {
        if UserId::parse(user).is_none() {
            return Err(Error::field("user", USER_ID_RULE));
        }
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.to_owned(),
            exp: now + ttl_secs,
            iat: Some(now),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| Error::Internal(e.to_string()))
    }

    /// The user id of a valid token; `Unauthorized` for anything else.
    pub fn verify(&self, token: &str) -> Result<UserId> {
        let now = chrono::Utc::now().timestamp();
        let still_valid = |exp: i64| now <= exp + self.validation.leeway as i64;
        if let Ok(verified) = self.verified.lock()
            && let Some((user, exp)) = verified.get(token)
        {
            return if still_valid(*exp) {
                Ok(user.clone())
            } else {
                Err(Error::Unauthorized)
            };
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| Error::Unauthorized)?;
        let user = UserId::parse(&data.claims.sub).ok_or(Error::Unauthorized)?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
            verified.insert(token.to_owned(), (user.clone(), data.claims.exp));
        }
        Ok(user)
    }
}

/// Compares two secrets in time independent of where they differ (both are hashed first, so
/// their lengths leak nothing either).
pub fn secrets_match(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let tokens = UserTokens::new("0123456789abcdef0123");
        let t = tokens.issue("alice", 60).unwrap();
        assert_eq!(tokens.verify(&t).unwrap(), "alice");
        assert!(UserTokens::new("another-secret-entirely").verify(&t).is_err());
        assert!(tokens.verify(&tokens.issue("alice", -3600).unwrap()).is_err());
        assert!(tokens.verify("not.a.jwt").is_err());
        assert!(tokens.issue("bad id", 60).is_err());
    }

    #[test]
    fn remembered_tokens_still_expire_and_others_are_still_checked() {
        let tokens = UserTokens::new("0123456789abcdef0123");
        let t = tokens.issue("alice", 60).unwrap();
        assert_eq!(tokens.verify(&t).unwrap(), "alice");
        assert_eq!(tokens.verify(&t).unwrap(), "alice", "from the cache");
        let tampered = format!("{t}x");
        assert!(tokens.verify(&tampered).is_err());
        // The remembered token's expiry passes (leeway included): refused, cache or not.
        let past = chrono::Utc::now().timestamp() - 31;
        tokens.verified.lock().unwrap().get_mut(&t).unwrap().1 = past;
        assert!(tokens.verify(&t).is_err());
    }

    #[test]
    fn secrets() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abc", "abd"));
        assert!(!secrets_match("", "abc"));
    }
}
