//! The feed use case: one page of the viewer's tray with ads spliced in, and the page's JSON.
//!
//! A page costs one script on the viewer's slot (the tray index answers the page's authors, in
//! order, and the viewer's ad state) and one read of the page's story cards: in proportion to the
//! page, not to the viewer's contacts or live authors.

use crate::ads::splice::splice;
use crate::error::Result;
use crate::ids::{StoryId, UserId};
use crate::metrics::{AdSlotOutcome, Metrics};
use crate::services::ads::{self as ads, AdServer};
use crate::store::Store;
use crate::store::tray::{TrayPage, TrayQuery};
use crate::store::viewer_ads::ViewerAdState;
use crate::stories::StoryCard;
use crate::stories::feed::{AuthorGroup, Position, muted_order};
use crate::stories::wire::{AuthorItem, Feed, FeedItem, FeedStory};
use chrono::{DateTime, Utc};
use std::time::Instant;

/// Reads of a page that find stories gone (deleted since they reached the tray) before the page is
/// served as it is: each read forgets what it found gone, so that its authors take their places.
const READS_PER_PAGE: usize = 3;

/// One page of the viewer's feed: `limit` authors after `cursor` (and the muted authors, on the
/// first page), with ads spliced in.
pub async fn page(
    store: &Store,
    ad_server: &AdServer,
    metrics: &Metrics,
    viewer: &UserId,
    cursor: Option<&Position>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Feed> {
    let now_ms = now.timestamp_millis();
    // The viewer's ad state is read by the page's own script, so that ads add no round trip; a
    // broken one costs the page its ads, not the page.
    let query = TrayQuery {
        after: cursor,
        limit,
        with_muted: cursor.is_none(),
        ad_state_since_ms: ads::ad_state_to_read(ad_server, now_ms).map(|keep_ms| now_ms - keep_ms),
    };
    let page = read_page(store, viewer, query, now_ms).await?;
    metrics.feed_pages.inc();
    metrics.feed_authors_per_page.observe(page.items.len() as f64);

    let slots = ad_server.placement.slots(page.items.len());
    let deciding = Instant::now();
    let viewer_ads = ads::viewer_ads(ad_server, page.ad_state, now_ms);
    let (mut ads, mut outcomes) = ads::ads_for_page(store, ad_server, viewer_ads, viewer, slots.len(), now_ms).await;
    let decided_in = deciding.elapsed();
    if !slots.is_empty() {
        metrics.ad_decision_duration.observe(decided_in.as_secs_f64());
    }
    if decided_in > ad_server.deadline {
        // Past `ads.deadline_ms` the page goes without its ads, whatever the selector found.
        ads.clear();
        outcomes = vec![AdSlotOutcome::TimedOut; slots.len()];
    }
    for outcome in outcomes {
        metrics.ad_slot(outcome);
    }
    let mut muted = page.muted;
    muted.sort_by(|a, b| muted_order(&a.group, &b.group));
    let authors = page.items.into_iter().filter_map(author_item).map(FeedItem::Author).collect();
    let ads = ads.into_iter().map(|ad| FeedItem::Ad { ad }).collect();
    Ok(Feed {
        items: splice(authors, ads, &slots),
        muted: muted.into_iter().filter_map(author_item).map(FeedItem::Author).collect(),
        next_cursor: page.next_cursor,
    })
}

/// An author group of the page, with the cards of its stories.
struct LoadedGroup {
    group: AuthorGroup,
    cards: Vec<StoryCard>,
}

/// A tray page with its cards.
struct LoadedPage {
    items: Vec<LoadedGroup>,
    muted: Vec<LoadedGroup>,
    next_cursor: Option<String>,
    ad_state: Option<Result<ViewerAdState>>,
}

/// Reads a tray page and its cards. A story whose record is gone (deleted since it reached the
/// tray) is forgotten by the tray index and the page read again, so that its author takes the
/// place of their newest remaining story.
async fn read_page(store: &Store, viewer: &UserId, mut query: TrayQuery<'_>, now_ms: i64) -> Result<LoadedPage> {
    let mut reads = 1;
    let mut ad_state = None;
    loop {
        let mut tray = store.tray_page(viewer, query, now_ms).await?;
        // The ad state is read once, with the first read.
        ad_state = ad_state.or(tray.ad_state.take());
        query.ad_state_since_ms = None;
        let (mut page, gone) = load_cards(store, tray).await?;
        if gone.is_empty() || reads == READS_PER_PAGE {
            page.ad_state = ad_state;
            return Ok(page);
        }
        store.forget_in_tray(viewer, &gone, now_ms).await?;
        reads += 1;
    }
}

/// Reads the cards of a tray page's stories. Answers the page without the stories whose records
/// are gone, and those stories.
async fn load_cards(store: &Store, tray: TrayPage) -> Result<(LoadedPage, Vec<StoryId>)> {
    let next_cursor = tray
        .more
        .then(|| tray.items.last().map(|g| crate::cursor::feed(&g.position())))
        .flatten();
    let ids: Vec<&StoryId> = tray
        .items
        .iter()
        .chain(&tray.muted)
        .flat_map(|g| g.stories.iter().map(|s| &s.id))
        .collect();
    let mut cards = store.cards(&ids).await?.into_iter();
    let mut gone = Vec::new();
    let mut load = |groups: Vec<AuthorGroup>| -> Vec<LoadedGroup> {
        groups
            .into_iter()
            .filter_map(|mut group| {
                let mut loaded = Vec::with_capacity(group.stories.len());
                let author = &group.author;
                group.stories.retain(|story| match cards.next().flatten() {
                    Some(card) if story.id.is_by(author) && card.is_of(&story.id) => {
                        loaded.push(card);
                        true
                    }
                    _ => {
                        gone.push(story.id.clone());
                        false
                    }
                });
                (!loaded.is_empty()).then_some(LoadedGroup { group, cards: loaded })
            })
            .collect()
    };
    let items = load(tray.items);
    let muted = load(tray.muted);
    let page = LoadedPage {
        items,
        muted,
        next_cursor,
        ad_state: None,
    };
    Ok((page, gone))
}

/// The feed's item for an author group: `latest_at` is their newest story shown.
fn author_item(loaded: LoadedGroup) -> Option<AuthorItem> {
    let LoadedGroup { group, cards } = loaded;
    let latest_ms = group.stories.iter().map(|s| s.id.created_ms()).max()?;
    let stories: Vec<FeedStory> = group
        .stories
        .into_iter()
        .zip(cards)
        .map(|(story, card)| FeedStory { card, seen: story.seen })
        .collect();
    Some(AuthorItem {
        author: group.author.into(),
        unseen: stories.iter().any(|s| !s.seen),
        latest_at: DateTime::from_timestamp_millis(latest_ms)?,
        stories,
    })
}
