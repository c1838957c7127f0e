//! Ids: ULIDs, monotonic within this process, so that things created in the same millisecond
//! still sort in the order they were created.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::{LazyLock, Mutex};

static GENERATOR: LazyLock<Mutex<ulid::Generator>> = LazyLock::new(|| Mutex::new(ulid::Generator::new()));

/// A new id whose time part is `now` (or, within one millisecond, just after the previous id).
pub fn new_id(now: DateTime<Utc>) -> String {
    let at: std::time::SystemTime = now.into();
    let generated = GENERATOR.lock().ok().and_then(|mut g| g.generate_from_datetime(at).ok());
    generated.unwrap_or_else(|| ulid::Ulid::from_datetime(at)).to_string()
}

/// A new id for something that needs no order, such as a request: the time now and 80 random bits
/// from the thread's generator (`Ulid::new` asks the kernel for randomness on every call).
pub fn random_id() -> String {
    let now_ms = Utc::now().timestamp_millis().max(0) as u64;
    ulid::Ulid::from_parts(now_ms, rand::random::<u128>()).to_string()
}

/// A user: 1–64 characters of `[A-Za-z0-9_-]`, as the identity token carries them. Made only by
/// [`UserId::parse`] at the edge (token, path, body) or from what the store holds, which was
/// parsed on its way in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct UserId(String);

/// The longest user id, in bytes.
pub const MAX_USER_ID_LEN: usize = 64;

impl UserId {
    pub fn parse(id: &str) -> Option<UserId> {
        is_plain_id(id).then(|| UserId(id.to_owned()))
    }

    /// An id read back from the store, which only ever holds parsed ids.
    pub fn from_stored(id: String) -> UserId {
        UserId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 1–64 characters of `[A-Za-z0-9_-]`: a user id, and the ids of advertisers, creatives and
/// campaigns.
pub fn is_plain_id(id: &str) -> bool {
    (1..=MAX_USER_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl TryFrom<String> for UserId {
    type Error = &'static str;

    fn try_from(id: String) -> Result<UserId, Self::Error> {
        if is_plain_id(&id) { Ok(UserId(id)) } else { Err(USER_ID_RULE) }
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> String {
        id.0
    }
}

/// What a user id must be, as errors say it.
pub const USER_ID_RULE: &str = "a user id is 1-64 characters of A-Z, a-z, 0-9, _ and -";

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// For the key schema (`store::keys`), which names keys by id.
impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for StoryId {
    fn as_ref(&self) -> &str {
        &self.id
    }
}

impl PartialEq<str> for UserId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for UserId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Ids written out in tests; a bad one fails the test.
#[cfg(test)]
impl From<&str> for UserId {
    fn from(id: &str) -> UserId {
        UserId::parse(id).unwrap_or_else(|| panic!("not a user id: {id}"))
    }
}

#[cfg(test)]
impl From<&str> for StoryId {
    fn from(id: &str) -> StoryId {
        StoryId::parse(id).unwrap_or_else(|| panic!("not a story id: {id}"))
    }
}

/// A story: a new id, `.`, and the author, so that whoever reads a story by id can ask for the
/// record and check both contact lists in one round trip instead of waiting for the record to
/// learn whose lists to check. Parsed once: the author and the creation time come with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoryId {
    id: String,
    /// Where the author starts in `id`.
    author_at: usize,
    created_ms: i64,
}

impl StoryId {
    pub fn new(now: DateTime<Utc>, author: &UserId) -> StoryId {
        let time = new_id(now);
        let created_ms = ulid_ms(&time).unwrap_or_else(|| now.timestamp_millis());
        StoryId {
            author_at: time.len() + 1,
            id: format!("{time}.{author}"),
            created_ms,
        }
    }

    /// `None` for anything that is not a story id.
    pub fn parse(id: &str) -> Option<StoryId> {
        let (time, author) = id.split_once('.')?;
        let created_ms = ulid_ms(time)?;
        is_plain_id(author).then(|| StoryId {
            id: id.to_owned(),
            author_at: time.len() + 1,
            created_ms,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.id
    }

    pub fn author(&self) -> UserId {
        UserId(self.author_as_written().to_owned())
    }

    /// The author's part of the id, for comparing bytes without making a [`UserId`].
    pub fn author_as_written(&self) -> &str {
        &self.id[self.author_at..]
    }

    /// Whether `user` wrote this story.
    pub fn is_by(&self, user: &UserId) -> bool {
        self.author_as_written() == user.0
    }

    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }
}

impl std::fmt::Display for StoryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

impl Serialize for StoryId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id)
    }
}

impl<'de> Deserialize<'de> for StoryId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StoryId, D::Error> {
        let id = String::deserialize(d)?;
        StoryId::parse(&id).ok_or_else(|| serde::de::Error::custom("not a story id"))
    }
}

/// The time part of a ULID (its first 10 of 26 Crockford base32 characters), decoded without
/// decoding the rest: every tray entry of a feed page needs it, and the whole decode was a visible
/// share of a page. `None` unless `ulid` is 26 characters of the ULID alphabet.
fn ulid_ms(ulid: &str) -> Option<i64> {
    let bytes = ulid.as_bytes();
    if bytes.len() != 26 || !bytes.iter().all(|&b| crockford(b).is_some()) {
        return None;
    }
    let ms = bytes[..10]
        .iter()
        .try_fold(0u64, |ms, &b| Some(ms << 5 | u64::from(crockford(b)?)))?;
    // Ten characters hold 50 bits, a ULID's time 48: a larger first digit is no ULID.
    (ms < 1 << 48).then_some(ms as i64)
}

/// The value of one character of Crockford's base32 as ULIDs write it (either case).
fn crockford(b: u8) -> Option<u8> {
    const NONE: u8 = u8::MAX;
    const VALUES: [u8; 256] = {
        let alphabet = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let mut values = [NONE; 256];
        let mut i = 0;
        while i < alphabet.len() {
            values[alphabet[i] as usize] = i as u8;
            values[alphabet[i].to_ascii_lowercase() as usize] = i as u8;
            i += 1;
        }
        values
    };
    Some(VALUES[b as usize]).filter(|&v| v != NONE)
}

#[cfg(test)]
mod tests {
    use super::{StoryId, UserId};

    #[test]
    fn random_ids_are_distinct_ulids_of_now() {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| super::random_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            let at = ulid::Ulid::from_string(id).unwrap().timestamp_ms() as i64;
            assert!((now_ms..now_ms + 60_000).contains(&at), "{id}");
        }
    }

    #[test]
    fn story_ids_name_their_author_and_time() {
        let now = chrono::Utc::now();
        let alice = UserId::parse("alice_1-x").unwrap();
        let id = StoryId::new(now, &alice);
        let parsed = StoryId::parse(id.as_str()).unwrap();
        assert_eq!(parsed, id);
        assert_eq!((parsed.author(), parsed.created_ms()), (alice.clone(), now.timestamp_millis()));
        assert!(parsed.is_by(&alice) && !parsed.is_by(&UserId::parse("alice_1").unwrap()));
        let plain = super::new_id(now);
        assert_eq!(StoryId::parse(&plain), None, "an id without an author is no story id");
        for bad in ["", ".", "x.alice", "01KB.", "01KBZZZZZZZZZZZZZZZZZZZZZZ.bad id"] {
            assert_eq!(StoryId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn user_ids_are_checked_when_made() {
        assert!(UserId::parse("alice_01-x").is_some());
        for bad in ["", "al ice", "al/ice", &"a".repeat(65)] {
            assert_eq!(UserId::parse(bad), None, "{bad}");
            assert!(serde_json::from_value::<UserId>(serde_json::json!(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::to_value(UserId::parse("bob").unwrap()).unwrap(),
            serde_json::json!("bob")
        );
    }

    #[test]
    fn the_time_of_a_ulid_is_what_the_ulid_crate_reads() {
        for _ in 0..1000 {
            let id = ulid::Ulid::from_parts(rand::random::<u64>() >> 16, rand::random());
            assert_eq!(super::ulid_ms(&id.to_string()), Some(id.timestamp_ms() as i64), "{id}");
            assert_eq!(super::ulid_ms(&id.to_string().to_lowercase()), Some(id.timestamp_ms() as i64));
        }
        let largest = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ";
        assert_eq!(
            super::ulid_ms(largest),
            Some(ulid::Ulid::from_string(largest).unwrap().timestamp_ms() as i64)
        );
        for bad in ["", "01KB", "01KBZZZZZZZZZZZZZZZZZZZZZU", "01KBZZZZZZZZZZZZZZZZZZZZZZZ"] {
            assert_eq!(super::ulid_ms(bad), None, "{bad}");
            assert!(ulid::Ulid::from_string(bad).is_err(), "{bad}");
        }
        // Past the largest ULID: no time at all rather than a wrapped one.
        assert_eq!(super::ulid_ms("8ZZZZZZZZZZZZZZZZZZZZZZZZZ"), None);
    }

    #[test]
    fn ids_of_one_millisecond_sort_in_creation_order() {
        let now = chrono::Utc::now();
        let ids: Vec<String> = (0..100).map(|_| super::new_id(now)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
