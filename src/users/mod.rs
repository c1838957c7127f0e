//! Users: ids, audiences, settings and the rules on them. Plain Rust: no HTTP, no Redis.

use crate::error::{Error, FieldError, Result};
use crate::ids::{USER_ID_RULE, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod countries;

/// Checks a path parameter that names a user.
pub fn parse_user_id(field: &str, id: &str) -> Result<UserId> {
    UserId::parse(id).ok_or_else(|| Error::field(field, USER_ID_RULE))
}

/// Checks a list of user ids, reporting every bad one; duplicates are dropped, order kept.
pub fn parse_user_list(field: &str, ids: &[String], max: usize) -> Result<Vec<UserId>> {
    if ids.len() > max {
        return Err(Error::field(field, format!("at most {max} users")));
    }
    let mut errors = Vec::new();
    let mut parsed = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        match UserId::parse(id) {
            Some(id) => parsed.push(id),
            None => errors.push(FieldError::new(format!("{field}[{i}]"), USER_ID_RULE)),
        }
    }
    if errors.is_empty() {
        Ok(without_duplicates(parsed))
    } else {
        Err(Error::Validation(errors))
    }
}

/// The ids in their order, each once.
fn without_duplicates(ids: Vec<UserId>) -> Vec<UserId> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.into_iter().filter(|id| seen.insert(id.clone())).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum AudienceMode {
    /// All contacts.
    #[default]
    Contacts,
    /// All contacts but `users`.
    ContactsExcept,
    /// Just `users` (who must also be contacts).
    Only,
}

/// Who a story is posted to. Only mutual contacts ever see a story, whatever the mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    pub mode: AudienceMode,
    #[serde(default)]
    pub users: Vec<UserId>,
}

impl Audience {
    /// Validates and normalises (deduplicated users; none kept for `contacts`).
    pub fn parse(self, field: &str, max_users: usize) -> Result<Audience> {
        if self.users.len() > max_users {
            return Err(Error::field(format!("{field}.users"), format!("at most {max_users} users")));
        }
        let users = without_duplicates(self.users);
        match self.mode {
            AudienceMode::Contacts => Ok(Audience {
                mode: self.mode,
                users: Vec::new(),
            }),
            AudienceMode::Only if users.is_empty() => Err(Error::field(format!("{field}.users"), "`only` needs at least one user")),
            _ => Ok(Audience { mode: self.mode, users }),
        }
    }

    /// Whether this audience admits `viewer`, a contact of the author.
    pub fn admits(&self, viewer: &UserId) -> bool {
        let listed = self.users.contains(viewer);
        match self.mode {
            AudienceMode::Contacts => true,
            AudienceMode::ContactsExcept => !listed,
            AudienceMode::Only => listed,
        }
    }
}

/// Everything a user can set about themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserSettings {
    pub default_audience: Audience,
    pub read_receipts: bool,
    pub personalized_ads: bool,
    pub country: Option<String>,
    pub language: Option<String>,
    pub interests: Vec<String>,
}

impl Default for UserSettings {
    fn default() -> Self {
        UserSettings {
            default_audience: Audience::default(),
            read_receipts: true,
            personalized_ads: false,
            country: None,
            language: None,
            interests: Vec::new(),
        }
    }
}

/// `PATCH /v1/me/settings`: absent fields stay as they are; `null` clears `country`/`language`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub default_audience: Option<Audience>,
    pub read_receipts: Option<bool>,
    pub personalized_ads: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub country: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
    pub interests: Option<Vec<String>>,
}

fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Limits that settings are checked against.
pub struct SettingsLimits {
    pub max_audience_users: usize,
    pub max_interests: usize,
}

impl SettingsPatch {
    /// Validates every field (all errors at once) and applies them to `current`.
    pub fn apply(self, current: &UserSettings, limits: &SettingsLimits) -> Result<UserSettings> {
        let mut next = current.clone();
        let mut errors = Vec::new();
        if let Some(audience) = self.default_audience {
            match audience.parse("default_audience", limits.max_audience_users) {
                Ok(a) => next.default_audience = a,
                Err(Error::Validation(e)) => errors.extend(e),
                Err(e) => return Err(e),
            }
        }
        if let Some(v) = self.read_receipts {
            next.read_receipts = v;
        }
        if let Some(v) = self.personalized_ads {
            next.personalized_ads = v;
        }
        if let Some(country) = self.country {
            match country.map(|c| parse_country(&c)).transpose() {
                Ok(c) => next.country = c,
                Err(message) => errors.push(FieldError::new("country", message)),
            }
        }
        if let Some(language) = self.language {
            match language.map(|l| parse_language(&l)).transpose() {
                Ok(l) => next.language = l,
                Err(message) => errors.push(FieldError::new("language", message)),
            }
        }
        if let Some(interests) = self.interests {
            match parse_interests(&interests, limits.max_interests) {
                Ok(i) => next.interests = i,
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(next)
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// An ISO 3166-1 alpha-2 code, upper-cased.
pub fn parse_country(code: &str) -> std::result::Result<String, String> {
    let upper = code.to_ascii_uppercase();
    if countries::is_iso3166_alpha2(&upper) {
        Ok(upper)
    } else {
        Err(format!("{code:?} is not an ISO 3166-1 alpha-2 country code"))
    }
}

/// A BCP 47 primary language subtag (2–3 letters), lower-cased.
pub fn parse_language(tag: &str) -> std::result::Result<String, String> {
    if (2..=3).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(tag.to_ascii_lowercase())
    } else {
        Err(format!(
            "{tag:?} is not a BCP 47 primary language subtag (2-3 letters, e.g. \"en\")"
        ))
    }
}

/// Interest tags: 1–32 characters of `[a-z0-9_-]`, deduplicated.
pub fn parse_interests(tags: &[String], max: usize) -> std::result::Result<Vec<String>, Vec<FieldError>> {
    if tags.len() > max {
        return Err(vec![FieldError::new("interests", format!("at most {max} interests"))]);
    }
    let mut errors = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let tag = tag.to_ascii_lowercase();
        if !(1..=32).contains(&tag.len()) || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            errors.push(FieldError::new(
                format!("interests[{i}]"),
                "an interest is 1-32 characters of a-z, 0-9, _ and -",
            ));
        } else if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// One user's changes of their own contact list about one other user, oldest first, as far back
/// as a story lives and never fewer than the last: what tells whether the other is on the list
/// now and was when a story was posted. Stored as "<ms><+|->,…" (+ put on the list, - taken off).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactLog {
    changes: Vec<(i64, bool)>,
}

impl ContactLog {
    /// A stored log; parts that do not read are skipped.
    pub fn parse(stored: &str) -> ContactLog {
        let changes = stored
            .split(',')
            .filter_map(|change| {
                let (at, added) = match change.strip_suffix('+') {
                    Some(at) => (at, true),
                    None => (change.strip_suffix('-')?, false),
                };
                Some((at.parse().ok()?, added))
            })
            .collect();
        ContactLog { changes }
    }

    pub fn to_stored(&self) -> String {
        let changes: Vec<String> = self
            .changes
            .iter()
            .map(|(at, added)| format!("{at}{}", if *added { '+' } else { '-' }))
            .collect();
        changes.join(",")
    }

    /// Whether the other is on the list now, as the last change left it (None without changes).
    pub fn listed_now(&self) -> Option<bool> {
        self.changes.last().map(|(_, added)| *added)
    }

    /// Whether the log says nothing that a live story could need: the other was taken off at or
    /// before `since_ms` and not put back.
    pub fn is_settled_off(&self, since_ms: i64) -> bool {
        self.changes.last().is_none_or(|(at, added)| !added && *at <= since_ms)
    }

    /// The log with a change at `at_ms` added (`added`: put on the list), and changes at or
    /// before `since_ms` dropped: no story posted then still lives.
    pub fn record(mut self, at_ms: i64, added: bool, since_ms: i64) -> ContactLog {
        self.changes.retain(|(at, _)| *at > since_ms);
        self.changes.push((at_ms, added));
        self
    }

    /// Whether the other is on the list now and was at `at_ms`. Every replacement of a list logs
    /// every contact on it, so a log without changes means "not listed".
    pub fn listed_now_and_at(&self, at_ms: i64) -> bool {
        self.listed_now() == Some(true) && self.listed_at(at_ms, true)
    }

    /// Whether the other was on the list at `at_ms`, given whether they are on it now: as the last
    /// change up to then left it, or before the first change as that change found it.
    pub fn listed_at(&self, at_ms: i64, listed_now: bool) -> bool {
        match self.changes.iter().rev().find(|(at, _)| *at <= at_ms) {
            Some((_, added)) => *added,
            None => self.changes.first().map_or(listed_now, |(_, added)| !added),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_contact_log_tells_who_was_listed_when() {
        use super::ContactLog;
        let log = ContactLog::default().record(100, false, 0).record(200, true, 0);
        assert_eq!(log.to_stored(), "100-,200+");
        assert_eq!(ContactLog::parse(&log.to_stored()), log);
        // Listed before the removal, not between, listed again after.
        assert!(log.listed_at(50, true) && !log.listed_at(150, true) && log.listed_at(250, true));
        // Without changes, as now; changes older than a story's life are dropped.
        assert!(ContactLog::default().listed_at(50, true) && !ContactLog::default().listed_at(50, false));
        assert_eq!(log.clone().record(300, false, 150).to_stored(), "200+,300-");
        assert_eq!(ContactLog::parse("x,100+,7"), ContactLog::default().record(100, true, 0));
        // The last change tells the state now; an old removal can be forgotten.
        assert_eq!((log.listed_now(), ContactLog::default().listed_now()), (Some(true), None));
        let removed = ContactLog::default().record(100, false, 0);
        assert!(removed.is_settled_off(100) && !removed.is_settled_off(99) && !log.is_settled_off(1000));
    }
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn audiences_admit() {
        let except = Audience {
            mode: AudienceMode::ContactsExcept,
            users: vec![user("bob")],
        };
        assert!(!except.admits(&user("bob")));
        assert!(except.admits(&user("carol")));
        let only = Audience {
            mode: AudienceMode::Only,
            users: vec![user("bob")],
        };
        assert!(only.admits(&user("bob")));
        assert!(!only.admits(&user("carol")));
        assert!(Audience::default().admits(&user("anyone")));
    }

    #[test]
    fn country_and_language() {
        assert_eq!(parse_country("de").unwrap(), "DE");
        assert!(parse_country("XX").is_err());
        assert!(parse_country("DEU").is_err());
        assert_eq!(parse_language("EN").unwrap(), "en");
        assert!(parse_language("english").is_err());
        assert!(parse_language("e1").is_err());
    }
}
