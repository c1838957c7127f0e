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

/// The author and creation time (ms) a story id names; `None` for ids without an author (made
/// before authors were put in ids) and for anything that is not a story id.
pub fn story_id_parts(id: &str) -> Option<(&str, i64)> {
    let (time, author) = id.split_once('.')?;
    let created_ms = ulid::Ulid::from_string(time).ok()?.timestamp_ms() as i64;
    crate::users::is_valid_user_id(author).then_some((author, created_ms))
}

/// The creation time (ms) of an id made by [`new_id`] or [`new_story_id`]; 0 if it has none.
pub fn created_ms(id: &str) -> i64 {
    let time = id.split_once('.').map_or(id, |(time, _)| time);
    ulid::Ulid::from_string(time).map_or(0, |u| u.timestamp_ms() as i64)
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
        assert_eq!(super::story_id_parts(&plain), None);
        assert_eq!(super::created_ms(&plain), now.timestamp_millis());
        for bad in ["", ".", "x.alice", "01KB.", "01KBZZZZZZZZZZZZZZZZZZZZZZ.bad id"] {
            assert_eq!(super::story_id_parts(bad), None, "{bad}");
        }
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
