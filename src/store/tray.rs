//! A viewer's tray in Redis: what posting fans out to them, and the index a feed page reads.
//!
//! Posting appends one line per viewer to a tray window (a string per six hours of expiry times,
//! see `Keys::tray`): one `APPEND`, so that posting to a thousand contacts stays cheap. Reading
//! the feed runs one script on the viewer's slot (`scripts/tray_index.lua`) that takes the
//! windows' lines into the viewer's tray index and deletes them, drops the authors whose stories
//! expired since, and answers the page: the index keeps authors in feed order (sorted sets of
//! unseen and seen authors scored by their newest story), so a page reads its own authors and no
//! others, whatever the number of live authors. Views update the index as they are recorded;
//! deleted stories are forgotten by the page that finds their records gone.

use super::viewer_ads::parse_ad_state;
use super::{Batch, Store, decode, keys};
use crate::error::{Error, Result};
use crate::ids::{StoryId, UserId};
use crate::store::viewer_ads::ViewerAdState;
use crate::stories::StoryRecord;
use crate::stories::feed::{AuthorGroup, GroupStory, Position};
use redis::{Script, Value};
use std::sync::LazyLock;

static FAN_OUT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/fan_out.lua")));
/// Viewers per run of the fan-out script on a single Redis (about 0.2 ms of server time).
const FAN_OUT_VIEWERS_PER_RUN: usize = 200;
pub(super) static TRAY_INDEX: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/tray_index.lua")));

/// A story's line in a viewer's tray window: "<expires_at ms> <author>/<story id>\n".
fn tray_line(story: &StoryRecord) -> String {
    format!("{} {}/{}\n", story.expires_at.timestamp_millis(), story.author, story.id)
}

/// What page of the tray to read.
#[derive(Debug, Clone, Copy)]
pub struct TrayQuery<'a> {
    /// The page starts after this position (at the start without one).
    pub after: Option<&'a Position>,
    /// Authors on the page at most.
    pub limit: usize,
    /// Also the muted authors with live stories.
    pub with_muted: bool,
    /// Also the viewer's ad state, with their impressions since this time (ms).
    pub ad_state_since_ms: Option<i64>,
}

/// One page of the tray, in feed order; muted authors and those on either side of a contact
/// removal are left out of `items`.
#[derive(Debug, Default)]
pub struct TrayPage {
    pub items: Vec<AuthorGroup>,
    /// Muted authors with live stories (when asked for), in no particular order.
    pub muted: Vec<AuthorGroup>,
    /// Whether more authors follow the page.
    pub more: bool,
    /// The viewer's ad state (when asked for), or why it could not be read.
    pub ad_state: Option<Result<ViewerAdState>>,
}

impl Store {
    /// Puts the story into the tray of each of `viewers` (found eligible by the caller).
    pub async fn fan_out(&self, story: &StoryRecord, viewers: &[UserId]) -> Result<()> {
        // A script's keys must share a slot on a cluster: one viewer per run there; on a single
        // Redis, runs short enough not to hold the server up for long.
        let per_run = if self.is_cluster() { 1 } else { FAN_OUT_VIEWERS_PER_RUN };
        let line = tray_line(story);
        let window = keys::tray_window(story.expires_at.timestamp_millis());
        let mut batch = Batch::new();
        for chunk in viewers.chunks(per_run) {
            batch.add_script(&FAN_OUT, &self.keys.trays(chunk, window), (&line, keys::tray_window_end(window)));
        }
        self.batch(batch).await?;
        Ok(())
    }

    /// One page of the viewer's tray: one script on the viewer's slot.
    pub async fn tray_page(&self, viewer: &UserId, query: TrayQuery<'_>, now_ms: i64) -> Result<TrayPage> {
        let mut keys: Vec<String> = self.keys.tray_index(viewer).into();
        keys.extend([
            self.keys.seen(viewer),
            self.keys.muted(viewer),
            self.keys.contact_removals(viewer),
            self.keys.settings(viewer),
            self.keys.ad_free(viewer),
            self.keys.ad_hidden(viewer),
            self.keys.ad_blocked(viewer),
            self.keys.ad_impressions(viewer),
        ]);
        keys.extend(self.keys.live_trays(viewer, now_ms, self.story_ttl_ms));
        let (section, score, author) = match query.after {
            None => ("", String::new(), ""),
            Some(p) => (if p.seen { "1" } else { "0" }, (-p.latest_ms).to_string(), p.author.as_str()),
        };
        let args = [
            "page",
            &now_ms.to_string(),
            &(now_ms - self.story_ttl_ms).to_string(),
            section,
            &score,
            author,
            &query.limit.to_string(),
            if query.with_muted { "1" } else { "0" },
            &query.ad_state_since_ms.map_or(String::new(), |ms| ms.to_string()),
        ];
        let mut batch = Batch::new();
        batch.add_script(&TRAY_INDEX, &keys, &args[..]);
        let answers = self.batch(batch).await?;
        parse_page(viewer, answers.into_iter().next().unwrap_or(Value::Nil))
    }

    /// Takes stories that are gone (deleted, found missing by a page) out of the viewer's tray
    /// index, so that their authors take the place of their newest remaining story.
    pub async fn forget_in_tray(&self, viewer: &UserId, gone: &[StoryId], now_ms: i64) -> Result<()> {
        let mut args = vec!["forget".to_owned(), now_ms.to_string()];
        for id in gone {
            args.extend([id.author().to_string(), id.to_string()]);
        }
        let mut batch = Batch::new();
        batch.add_script(&TRAY_INDEX, &self.keys.tray_index(viewer.as_str()), args);
        self.batch(batch).await.map(drop)
    }

    /// Adds to `batch` the marking of a story as seen in the viewer's tray index (which moves its
    /// author behind the unseen ones when it was their last unseen story).
    pub(super) fn add_seen_in_tray(&self, batch: &mut Batch, viewer: &UserId, story: &StoryRecord, now_ms: i64) {
        let args = ["seen", &now_ms.to_string(), story.author.as_str(), story.id.as_str()];
        batch.add_script(&TRAY_INDEX, &self.keys.tray_index(viewer.as_str()), &args[..]);
    }
}

/// The page script's answer: more (0|1); the page's authors, their unseen flags (a string of
/// 0|1, one per author) and their index entries (nil for none); the muted authors as a string of
/// lines "<author> <unseen 0|1> <stories>"; the viewer's ad state (nil when not asked for, an
/// error's text when it could not be read).
fn parse_page(viewer: &UserId, answer: Value) -> Result<TrayPage> {
    let [more, authors, unseen, stories, muted, ad_state]: [Value; 6] = decode::<Vec<Value>>(answer)?
        .try_into()
        .map_err(|_| Error::Internal("tray page: six answers expected".into()))?;
    let more: i64 = decode(more)?;
    let authors: Vec<String> = decode(authors)?;
    let unseen: String = decode(unseen)?;
    let stories: Vec<Option<String>> = decode(stories)?;
    if unseen.len() != authors.len() || stories.len() != authors.len() {
        return Err(Error::Internal("tray page: as many flags and entries as authors expected".into()));
    }
    let items = authors
        .into_iter()
        .zip(unseen.bytes())
        .zip(stories)
        .map(|((author, unseen), stories)| author_group(author, unseen == b'1', stories.as_deref().unwrap_or("")))
        .collect();
    let ad_state = match ad_state {
        Value::Nil => None,
        Value::Array(read) => Some(parse_ad_state(viewer, read)),
        error => Some(Err(Error::Internal(format!("ad state of {viewer}: {error:?}")))),
    };
    Ok(TrayPage {
        items,
        muted: parse_groups(&decode::<String>(muted)?)?,
        more: more == 1,
        ad_state,
    })
}

/// An author's group from their index entry; their place in the order is their newest live story,
/// which its id tells.
fn author_group(author: String, unseen: bool, entry: &str) -> AuthorGroup {
    let stories = parse_stories(entry);
    AuthorGroup {
        author: UserId::from_stored(author),
        unseen,
        latest_ms: stories.iter().map(|s| s.id.created_ms()).max().unwrap_or(0),
        stories,
    }
}

/// Author groups from lines "<author> <unseen 0|1> <stories>".
fn parse_groups(lines: &str) -> Result<Vec<AuthorGroup>> {
    lines
        .split_terminator('\n')
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let (Some(author), Some(unseen), stories) = (parts.next(), parts.next(), parts.next().unwrap_or("")) else {
                return Err(Error::Internal(format!("tray page: line {line:?}")));
            };
            Ok(author_group(author.to_owned(), unseen == "1", stories))
        })
        .collect()
}

/// An author's entry in the tray index: "<story id> <expires_at ms> <seen 0|1>", comma-separated.
fn parse_stories(entry: &str) -> Vec<GroupStory> {
    entry
        .split(',')
        .filter_map(|story| {
            let mut parts = story.split(' ');
            let id = StoryId::parse(parts.next()?)?;
            let _expires = parts.next()?;
            let seen = parts.next()?;
            Some(GroupStory { id, seen: seen == "1" })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_entry_is_its_stories_in_order() {
        let [a, b] = ["01KBA0000000000000000000AA.bob", "01KBA0000000000000000000AB.bob"];
        let stories = parse_stories(&format!("{a} 1000 1,{b} 2000 0,not-a-story 3000 0"));
        assert_eq!(
            stories,
            [
                GroupStory {
                    id: StoryId::parse(a).unwrap(),
                    seen: true
                },
                GroupStory {
                    id: StoryId::parse(b).unwrap(),
                    seen: false
                }
            ]
        );
        assert!(parse_stories("").is_empty());
    }

    #[test]
    fn a_page_answer_is_read_in_order() {
        let s = |v: &str| Value::BulkString(v.as_bytes().to_vec());
        let page = |authors: &[&str], unseen: &str, stories: Vec<Value>, muted: &str, ad_state: Value| {
            let authors = Value::Array(authors.iter().map(|a| s(a)).collect());
            let answer = Value::Array(vec![Value::Int(1), authors, s(unseen), Value::Array(stories), s(muted), ad_state]);
            parse_page(&"v".into(), answer)
        };
        // Made by hand: `StoryId::new` keeps ids increasing within the process.
        let id = format!("{}.bob", ulid::Ulid::from_parts(1_764_000_000_123, 7));
        let read = page(
            &["bob", "carol"],
            "10",
            vec![s(&format!("{id} 1000 0")), Value::Nil],
            "",
            Value::Nil,
        )
        .unwrap();
        assert!(read.more);
        assert_eq!(read.items.len(), 2);
        assert_eq!((read.items[0].latest_ms, read.items[0].unseen), (1_764_000_000_123, true));
        assert_eq!(read.items[0].stories[0].id.as_str(), id);
        assert!(!read.items[1].unseen);
        assert!(read.items[1].stories.is_empty());
        assert!(read.muted.is_empty());
        assert!(read.ad_state.is_none());
        let muted = page(&[], "", vec![], &format!("dave 1 {id} 1000 1"), Value::Nil).unwrap();
        assert_eq!((muted.muted[0].author.as_str(), muted.muted[0].unseen), ("dave", true));
        assert!(muted.muted[0].stories[0].seen);

        assert!(page(&["bob"], "", vec![Value::Nil], "", Value::Nil).is_err(), "a flag per author");
        assert!(page(&["bob"], "1", vec![], "", Value::Nil).is_err(), "an entry per author");
        assert!(page(&[], "", vec![], "bob", Value::Nil).is_err(), "a muted line without its flag");
        assert!(parse_page(&"v".into(), Value::Array(vec![Value::Int(0), s("")])).is_err());

        let broken = page(&[], "", vec![], "", s("WRONGTYPE")).unwrap();
        assert!(matches!(broken.ad_state, Some(Err(_))));
        let imps = Value::Array(vec![s("c1/t1"), s("1000"), s("c2/t2"), s("2000")]);
        let state = vec![Value::Nil, Value::Int(1), Value::Array(vec![s("c3")]), Value::Array(vec![]), imps];
        let read = page(&[], "", vec![], "", Value::Array(state)).unwrap();
        let state = read.ad_state.unwrap().unwrap();
        assert!(state.ad_free);
        assert!(state.hidden_campaigns.contains("c3"));
        assert_eq!(state.impressions, [("c1".to_owned(), 1000), ("c2".to_owned(), 2000)]);
    }
}
