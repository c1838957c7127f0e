//! Feed assembly: tray entries → author groups in feed order → one page. Plain Rust.
//!
//! Order: authors with an unseen story first, then the rest; each group newest first; ties by
//! author id so that the order is total and a cursor can point into it.

use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// One story fanned out to the viewer, as the tray holds it (borrowed from the tray as read).
#[derive(Debug, Clone, PartialEq)]
pub struct TrayEntry<'a> {
    pub author: &'a str,
    pub story_id: &'a str,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub seen: bool,
    pub muted: bool,
}

/// An author's live stories for one viewer, oldest first (the order they are played).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorGroup<'a> {
    pub author: &'a str,
    pub unseen: bool,
    pub latest_ms: i64,
    pub muted: bool,
    pub stories: Vec<GroupStory<'a>>,
}

/// One story of an author group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStory<'a> {
    pub id: &'a str,
    pub created_ms: i64,
    pub seen: bool,
}

impl AuthorGroup<'_> {
    /// The group's place in feed order, as `Position::key` orders it.
    fn order_key(&self) -> (bool, std::cmp::Reverse<i64>, &str) {
        (!self.unseen, std::cmp::Reverse(self.latest_ms), self.author)
    }

    fn position(&self) -> Position {
        Position {
            seen: !self.unseen,
            latest_ms: self.latest_ms,
            author: self.author.to_owned(),
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
pub fn group<'a>(entries: Vec<TrayEntry<'a>>, viewer: &str, now_ms: i64) -> Vec<AuthorGroup<'a>> {
    let mut entries: Vec<TrayEntry<'a>> = entries
        .into_iter()
        .filter(|e| e.expires_ms > now_ms && e.author != viewer)
        .collect();
    // The tray is in posting order already, which this sort notices.
    entries.sort_unstable_by(|a, b| (a.created_ms, a.story_id).cmp(&(b.created_ms, b.story_id)));
    // A fan-out repeated after a script-cache miss may have appended an entry twice.
    entries.dedup_by(|a, b| a.story_id == b.story_id);
    let mut index_of: foldhash::HashMap<&str, usize> = foldhash::HashMap::with_capacity_and_hasher(entries.len(), Default::default());
    let mut groups: Vec<AuthorGroup<'a>> = Vec::with_capacity(entries.len());
    for e in entries {
        let story = GroupStory {
            id: e.story_id,
            created_ms: e.created_ms,
            seen: e.seen,
        };
        match index_of.get(e.author) {
            Some(&i) => {
                let g = &mut groups[i];
                g.unseen |= !story.seen;
                g.latest_ms = g.latest_ms.max(story.created_ms);
                g.stories.push(story);
            }
            None => {
                index_of.insert(e.author, groups.len());
                groups.push(AuthorGroup {
                    author: e.author,
                    unseen: !story.seen,
                    latest_ms: story.created_ms,
                    muted: e.muted,
                    stories: {
                        let mut stories = Vec::with_capacity(2);
                        stories.push(story);
                        stories
                    },
                });
            }
        }
    }
    sort(&mut groups);
    groups
}

/// Sorts author groups in feed order.
pub fn sort(groups: &mut [AuthorGroup<'_>]) {
    groups.sort_unstable_by(|a, b| a.order_key().cmp(&b.order_key()));
}

/// The groups that come after `after` (all of them without a cursor), in order.
pub fn after<'g, 'a>(groups: &'g [AuthorGroup<'a>], after: Option<&Position>) -> &'g [AuthorGroup<'a>] {
    match after {
        None => groups,
        Some(p) => {
            let start = groups.partition_point(|g| g.order_key() <= p.key());
            &groups[start..]
        }
    }
}

/// The cursor that continues after `group`.
pub fn cursor_after(group: &AuthorGroup<'_>) -> String {
    group.position().encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(author: &'a str, id: &'a str, created: i64, seen: bool) -> TrayEntry<'a> {
        TrayEntry {
            author,
            story_id: id,
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
        let order: Vec<&str> = groups.iter().map(|g| g.author).collect();
        assert_eq!(order, ["b", "d", "c", "a"]);
        let stories: Vec<(&str, bool)> = groups[0].stories.iter().map(|s| (s.id, s.seen)).collect();
        assert_eq!(stories, [("5", true), ("2", false)]);
        assert!(groups[0].unseen);
    }

    #[test]
    fn an_entry_appended_twice_counts_once() {
        let groups = group(
            vec![entry("a", "1", 10, false), entry("a", "2", 20, true), entry("a", "1", 10, false)],
            "me",
            0,
        );
        let stories: Vec<&str> = groups[0].stories.iter().map(|s| s.id).collect();
        assert_eq!(stories, ["1", "2"]);
    }

    #[test]
    fn expired_and_own_dropped() {
        let groups = group(vec![entry("a", "1", 10, false), entry("me", "2", 20, false)], "me", 1010);
        assert!(groups.is_empty());
    }

    #[test]
    fn cursor_continues_where_the_page_ended() {
        let names: Vec<(String, String)> = (0..10).map(|i| (format!("u{i}"), i.to_string())).collect();
        let entries = names.iter().zip(0..).map(|((a, id), i)| entry(a, id, i, i % 2 == 0)).collect();
        let groups = group(entries, "me", 0);
        let first = &groups[..4];
        let cursor = Position::decode(&cursor_after(&first[3])).unwrap();
        let rest = after(&groups, Some(&cursor));
        assert_eq!(rest.len(), 6);
        assert_eq!(rest[0], groups[4]);
        assert!(Position::decode("garbage").is_err());
    }
}
