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

#[cfg(test)]
mod tests {
    #[test]
    fn ids_of_one_millisecond_sort_in_creation_order() {
        let now = chrono::Utc::now();
        let ids: Vec<String> = (0..100).map(|_| super::new_id(now)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
