//! Feed assembly: tray entries → author groups in feed order → one page. Plain Rust.
//!
//! Order: authors with an unseen story first, then the rest; each group newest first; ties by
//! author id so that the order is total and a cursor can point into it.

use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// One story fanned out to the viewer, as the tray holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrayEntry {
    pub author: String,
    pub story_id: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub seen: bool,
    pub muted: bool,
}

/// An author's live stories for one viewer, oldest first (the order they are played).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorGroup {
    pub author: String,
    pub unseen: bool,
    pub latest_ms: i64,
    pub muted: bool,
    pub stories: Vec<(String, bool)>,
}

impl AuthorGroup {
    /// The group's place in feed order, as `Position::key` orders it.
    fn order_key(&self) -> (bool, std::cmp::Reverse<i64>, &str) {
        (!self.unseen, std::cmp::Reverse(self.latest_ms), &self.author)
    }

    fn position(&self) -> Position {
        Position {
            seen: !self.unseen,
            latest_ms: self.latest_ms,
            author: self.author.clone(),
        }
    }
}

/// A place in the feed order; the cursor is the position of the last item of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "s")]
    seen: bool,
    #[serde(rename = "t")]
    latest_ms: i64,
    #[serde(rename = "a")]
    author: String,
}

impl Position {
    /// Feed order as a sort key: unseen before seen, newer before older, then by author.
    fn key(&self) -> (bool, std::cmp::Reverse<i64>, &str) {
        (self.seen, std::cmp::Reverse(self.latest_ms), &self.author)
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(cursor: &str) -> Result<Position> {
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| Error::field("cursor", "not a cursor this service issued"))
    }
}

/// Groups live tray entries by author (dropping the viewer's own and anything expired at `now_ms`)
/// and sorts them in feed order. Muted authors are kept, flagged, for the `muted` section.
pub fn group(entries: Vec<TrayEntry>, viewer: &str, now_ms: i64) -> Vec<AuthorGroup> {
    let mut entries: Vec<TrayEntry> = entries
        .into_iter()
        .filter(|e| e.expires_ms > now_ms && e.author != viewer)
        .collect();
    entries.sort_unstable_by(|a, b| (a.created_ms, &a.story_id).cmp(&(b.created_ms, &b.story_id)));
    let mut index_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut groups: Vec<AuthorGroup> = Vec::new();
    for e in entries {
        let g = match index_of.get(&e.author) {
            Some(&i) => &mut groups[i],
            None => {
                index_of.insert(e.author.clone(), groups.len());
                groups.push(AuthorGroup {
                    author: e.author,
                    unseen: false,
                    latest_ms: 0,
                    muted: e.muted,
                    stories: Vec::new(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        g.unseen |= !e.seen;
        g.latest_ms = g.latest_ms.max(e.created_ms);
        g.stories.push((e.story_id, e.seen));
    }
    sort(&mut groups);
    groups
}

/// Sorts author groups in feed order.
pub fn sort(groups: &mut [AuthorGroup]) {
    groups.sort_unstable_by(|a, b| a.order_key().cmp(&b.order_key()));
}

/// The groups that come after `after` (all of them without a cursor), in order.
pub fn after<'a>(groups: &'a [AuthorGroup], after: Option<&Position>) -> &'a [AuthorGroup] {
    match after {
        None => groups,
        Some(p) => {
            let start = groups.partition_point(|g| g.order_key() <= p.key());
            &groups[start..]
        }
    }
}

/// The cursor that continues after `group`.
pub fn cursor_after(group: &AuthorGroup) -> String {
    group.position().encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(author: &str, id: &str, created: i64, seen: bool) -> TrayEntry {
        TrayEntry {
            author: author.into(),
            story_id: id.into(),
            created_ms: created,
            expires_ms: created + 1000,
            seen,
            muted: false,
        }
    }

    #[test]
    fn unseen_first_then_newest() {
        let groups = group(
            vec![
                entry("a", "1", 10, true),
                entry("b", "2", 20, false),
                entry("c", "3", 30, true),
                entry("d", "4", 5, false),
                entry("b", "5", 8, true),
            ],
            "me",
            0,
        );
        let order: Vec<&str> = groups.iter().map(|g| g.author.as_str()).collect();
        assert_eq!(order, ["b", "d", "c", "a"]);
        assert_eq!(groups[0].stories, vec![("5".to_string(), true), ("2".to_string(), false)]);
        assert!(groups[0].unseen);
    }

    #[test]
    fn expired_and_own_dropped() {
        let groups = group(vec![entry("a", "1", 10, false), entry("me", "2", 20, false)], "me", 1010);
        assert!(groups.is_empty());
    }

    #[test]
    fn cursor_continues_where_the_page_ended() {
        let groups = group(
            (0..10).map(|i| entry(&format!("u{i}"), &i.to_string(), i, i % 2 == 0)).collect(),
            "me",
            0,
        );
        let first = &groups[..4];
        let cursor = Position::decode(&cursor_after(&first[3])).unwrap();
        let rest = after(&groups, Some(&cursor));
        assert_eq!(rest.len(), 6);
        assert_eq!(rest[0], groups[4]);
        assert!(Position::decode("garbage").is_err());
    }
}
