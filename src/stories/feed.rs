//! The feed's order and the position a cursor holds (written by `cursor`). Plain Rust.
//!
//! Order: authors with an unseen story first, then the rest; each group newest first (by their
//! newest live story); ties by author id, byte by byte, so that the order is total and a cursor
//! can point into it. The tray index keeps authors in this order (see `store::tray`), so that a
//! page reads what it shows.

use crate::ids::{StoryId, UserId};
use serde::{Deserialize, Serialize};

/// An author's live stories for one viewer, oldest first (the order they are played), as the tray
/// index holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorGroup {
    pub author: UserId,
    pub unseen: bool,
    /// When the author's newest live story was posted.
    pub latest_ms: i64,
    pub stories: Vec<GroupStory>,
}

/// One story of an author group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStory {
    pub id: StoryId,
    pub seen: bool,
}

impl AuthorGroup {
    /// The group's place in feed order.
    pub fn position(&self) -> Position {
        Position {
            seen: !self.unseen,
            latest_ms: self.latest_ms,
            author: self.author.clone(),
        }
    }
}

/// A place in the feed order; the cursor is the position of the last item of a page, and the
/// next page starts with the first author after it. An author who did not move between two pages
/// is therefore on exactly one of them, whoever else posts, is seen or expires in between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// In the section of authors seen in full.
    #[serde(rename = "s")]
    pub seen: bool,
    #[serde(rename = "t")]
    pub latest_ms: i64,
    #[serde(rename = "a")]
    pub author: UserId,
}

/// The muted section's order: newest first, then by author.
pub fn muted_order(a: &AuthorGroup, b: &AuthorGroup) -> std::cmp::Ordering {
    b.latest_ms.cmp(&a.latest_ms).then_with(|| a.author.cmp(&b.author))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(author: &str, latest_ms: i64) -> AuthorGroup {
        AuthorGroup {
            author: UserId::parse(author).unwrap(),
            unseen: false,
            latest_ms,
            stories: Vec::new(),
        }
    }

    #[test]
    fn muted_authors_newest_first_then_by_name() {
        let mut groups = [group("b", 1), group("c", 2), group("a", 1)];
        groups.sort_by(muted_order);
        let order: Vec<&str> = groups.iter().map(|g| g.author.as_str()).collect();
        assert_eq!(order, ["c", "a", "b"]);
    }
}
