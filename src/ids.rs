//! Ids: ULIDs, monotonic within this process, so that things created in the same millisecond
//! still sort in the order they were created.

use chrono::{DateTime, Utc};
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

/// A new story id: a new id, `.`, and the author. Whoever reads a story by id can then ask for the
/// record and check both contact lists in one round trip, instead of waiting for the record to
/// learn whose lists to check.
pub fn new_story_id(now: DateTime<Utc>, author: &str) -> String {
    format!("{}.{author}", new_id(now))
}

/// The author and creation time (ms) a story id names; `None` for anything that is not a story id.
pub fn story_id_parts(id: &str) -> Option<(&str, i64)> {
    let (time, author) = id.split_once('.')?;
    let created_ms = ulid_ms(time)?;
    crate::users::is_valid_user_id(author).then_some((author, created_ms))
}

/// The creation time (ms) of an id made by [`new_id`] or [`new_story_id`]; 0 if it has none.
pub fn created_ms(id: &str) -> i64 {
    let time = id.split_once('.').map_or(id, |(time, _)| time);
    ulid_ms(time).unwrap_or(0)
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
        let id = super::new_story_id(now, "alice_1-x");
        assert_eq!(super::story_id_parts(&id), Some(("alice_1-x", now.timestamp_millis())));
        assert_eq!(super::created_ms(&id), now.timestamp_millis());
        let plain = super::new_id(now);
        assert_eq!(super::story_id_parts(&plain), None, "an id without an author is no story id");
        for bad in ["", ".", "x.alice", "01KB.", "01KBZZZZZZZZZZZZZZZZZZZZZZ.bad id"] {
            assert_eq!(super::story_id_parts(bad), None, "{bad}");
        }
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
