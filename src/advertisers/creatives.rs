//! Creatives: the record, the fields an advertiser uploads with the image, and review decisions.

use crate::error::{Error, FieldError, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::AsRefStr, strum::EnumString, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CreativeStatus {
    PendingReview,
    Approved,
    Rejected,
}

/// The call to action under a creative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cta {
    /// One of the configured labels (`ads.cta_labels`).
    pub label: String,
    /// An `https` URL (a click-to-chat link such as `https://wa.me/15551234567` is one).
    pub url: String,
}

/// A creative as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreativeRecord {
    pub id: String,
    pub advertiser: String,
    pub status: CreativeStatus,
    pub headline: String,
    pub cta: Cta,
    pub width: u32,
    pub height: u32,
    pub etag: String,
    pub thumb_etag: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<DateTime<Utc>>,
}

impl CreativeRecord {
    pub fn view(&self) -> Creative {
        Creative {
            id: self.id.clone(),
            advertiser_id: self.advertiser.clone(),
            status: self.status,
            headline: self.headline.clone(),
            cta: self.cta.clone(),
            width: self.width,
            height: self.height,
            media_url: format!("/v1/creatives/{}/media", self.id),
            thumb_url: format!("/v1/creatives/{}/thumb", self.id),
            created_at: self.created_at,
            review_reason: self.review_reason.clone(),
            reviewed_at: self.reviewed_at,
        }
    }

    pub fn is_approved(&self) -> bool {
        self.status == CreativeStatus::Approved
    }
}

/// A creative as its advertiser (and the admin) sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Creative {
    pub id: String,
    pub advertiser_id: String,
    pub status: CreativeStatus,
    pub headline: String,
    pub cta: Cta,
    pub width: u32,
    pub height: u32,
    pub media_url: String,
    pub thumb_url: String,
    pub created_at: DateTime<Utc>,
    /// Why it was rejected (rejected creatives only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<DateTime<Utc>>,
}

pub const MAX_HEADLINE: usize = 40;
pub const MAX_CTA_URL: usize = 2048;
pub const MAX_REVIEW_REASON: usize = 500;

/// The text parts of a creative upload, as received.
#[derive(Debug, Clone, Default)]
pub struct CreativeFields {
    pub headline: Option<String>,
    pub cta_label: Option<String>,
    pub cta_url: Option<String>,
}

/// Validated text of a creative.
#[derive(Debug, Clone, PartialEq)]
pub struct CreativeDraft {
    pub headline: String,
    pub cta: Cta,
}

impl CreativeFields {
    /// Checks every field (all errors at once); `labels` is the configured CTA list.
    pub fn parse(self, labels: &[String]) -> Result<CreativeDraft> {
        let mut errors = Vec::new();
        let headline = match self.headline.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(FieldError::new("headline", format!("required: 1-{MAX_HEADLINE} characters")));
                None
            }
            Some(h) if h.chars().count() > MAX_HEADLINE => {
                errors.push(FieldError::new("headline", format!("at most {MAX_HEADLINE} characters")));
                None
            }
            Some(h) if h.chars().any(char::is_control) => {
                errors.push(FieldError::new("headline", "must not contain control characters"));
                None
            }
            Some(h) => Some(h.to_owned()),
        };
        let label = match self.cta_label.as_deref().map(str::trim) {
            Some(given) if !given.is_empty() => match labels.iter().find(|l| l.eq_ignore_ascii_case(given)) {
                Some(label) => Some(label.clone()),
                None => {
                    errors.push(FieldError::new("cta_label", format!("one of: {}", labels.join(", "))));
                    None
                }
            },
            _ => {
                errors.push(FieldError::new("cta_label", format!("required: one of {}", labels.join(", "))));
                None
            }
        };
        let url = match self.cta_url.as_deref() {
            None => {
                errors.push(FieldError::new("cta_url", "required: an https URL"));
                None
            }
            Some(u) => match parse_cta_url(u) {
                Ok(u) => Some(u),
                Err(message) => {
                    errors.push(FieldError::new("cta_url", message));
                    None
                }
            },
        };
        match (headline, label, url) {
            (Some(headline), Some(label), Some(url)) if errors.is_empty() => Ok(CreativeDraft {
                headline,
                cta: Cta { label, url },
            }),
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// A call-to-action URL: `https://` with a host name, at most 2048 characters. Refused: any other
/// scheme (`http:`, `javascript:`, `data:`, app schemes), user information (`https://bank@evil`),
/// IP literals, spaces, control and non-ASCII characters (percent-encode them). The scheme and host
/// are lower-cased; the rest is kept as given.
pub fn parse_cta_url(url: &str) -> std::result::Result<String, String> {
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_CTA_URL {
        return Err(format!("an https URL of 1-{MAX_CTA_URL} characters"));
    }
    if url.chars().any(|c| !c.is_ascii() || c.is_ascii_control() || c == ' ') {
        return Err("must not contain spaces, control or non-ASCII characters (percent-encode them)".into());
    }
    let rest = match url.get(..8) {
        Some(scheme) if scheme.eq_ignore_ascii_case("https://") => &url[8..],
        _ => return Err("only https URLs are accepted (not http:, javascript:, data: or app links)".into()),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err("must not contain user information (user@host)".into());
    }
    if authority.starts_with('[') {
        return Err("needs a host name, not an IP address".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if let Some(port) = port
        && !(port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u32>().is_ok_and(|p| (1..=65_535).contains(&p)))
    {
        return Err("has an invalid port".into());
    }
    let host = host.to_ascii_lowercase();
    if !is_host_name(&host) {
        return Err("needs a valid host name such as example.com".into());
    }
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!("https://{host}{port}{tail}"))
}

/// A DNS name of at least two labels whose last label is alphabetic (or an IDN `xn--` label), so
/// that neither IP addresses nor single-label intranet names pass.
fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !l.starts_with('-') && !l.ends_with('-')
    };
    let tld = labels[labels.len() - 1];
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && tld.len() >= 2
        && (tld.bytes().all(|b| b.is_ascii_alphabetic()) || tld.starts_with("xn--"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// `POST /v1/admin/creatives/{id}/review`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    pub decision: Decision,
    /// Required to reject (1–500 characters; the advertiser sees it); not taken with an approval.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: Option<String>,
}

impl Review {
    /// The new status and the reason to store.
    pub fn parse(self) -> Result<(CreativeStatus, Option<String>)> {
        let reason = self.reason.as_deref().map(str::trim);
        match (self.decision, reason) {
            (Decision::Approve, None) => Ok((CreativeStatus::Approved, None)),
            (Decision::Approve, Some(_)) => Err(Error::field("reason", "only a rejection takes a reason")),
            (Decision::Reject, Some(r)) if !r.is_empty() && r.chars().count() <= MAX_REVIEW_REASON => {
                Ok((CreativeStatus::Rejected, Some(r.to_owned())))
            }
            (Decision::Reject, _) => Err(Error::field(
                "reason",
                format!("a rejection needs a reason of 1-{MAX_REVIEW_REASON} characters"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        crate::config::DEFAULT_CTA_LABELS.iter().map(|s| s.to_string()).collect()
    }

    fn fields(h: &str, l: &str, u: &str) -> CreativeFields {
        CreativeFields {
            headline: Some(h.into()),
            cta_label: Some(l.into()),
            cta_url: Some(u.into()),
        }
    }

    #[test]
    fn good_fields() {
        let d = fields(" Fresh beans daily ", "shop now", "HTTPS://Example.COM/path?q=1#x")
            .parse(&labels())
            .unwrap();
        assert_eq!(d.headline, "Fresh beans daily");
        assert_eq!(d.cta.label, "Shop now");
        assert_eq!(d.cta.url, "https://example.com/path?q=1#x");
        assert!(
            fields(&"é".repeat(40), "Chat", "https://wa.me/15551234567")
                .parse(&labels())
                .is_ok()
        );
    }

    #[test]
    fn bad_fields_all_reported() {
        match fields(&"x".repeat(41), "Buy!", "http://example.com").parse(&labels()) {
            Err(Error::Validation(e)) => {
                let f: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(f, ["headline", "cta_label", "cta_url"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(CreativeFields::default().parse(&labels()).is_err());
    }

    #[test]
    fn cta_urls() {
        for ok in [
            "https://example.com",
            "https://wa.me/15551234567?text=Hi%20there",
            "https://shop.example.co.uk:8443/a/b",
            "https://xn--bcher-kva.example/",
        ] {
            assert!(parse_cta_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "whatsapp://send?phone=123",
            "https://",
            "https:///path",
            "https://localhost/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://bank.com@evil.com/",
            "https://exa mple.com/",
            "https://example.com/\u{0}",
            "https://exämple.com/",
            "https://-bad-.com/",
            "https://example.com:0/",
            "https://example.com:99999/",
            "ftp://example.com",
            "//example.com",
            "",
        ] {
            assert!(parse_cta_url(bad).is_err(), "{bad}");
        }
        assert!(parse_cta_url(&format!("https://example.com/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn reviews() {
        let r = |d, reason: Option<&str>| {
            Review {
                decision: d,
                reason: reason.map(String::from),
            }
            .parse()
        };
        assert_eq!(r(Decision::Approve, None).unwrap(), (CreativeStatus::Approved, None));
        assert_eq!(
            r(Decision::Reject, Some("blurry")).unwrap(),
            (CreativeStatus::Rejected, Some("blurry".into()))
        );
        assert!(r(Decision::Reject, None).is_err());
        assert!(r(Decision::Reject, Some("  ")).is_err());
        assert!(r(Decision::Reject, Some(&"x".repeat(501))).is_err());
        assert!(r(Decision::Approve, Some("fine")).is_err());
    }
}
