//! Story use cases: each function is one thing a client asks for, written against the store.

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::ids::{StoryId, UserId};
use crate::media::ImageSize;
use crate::media::Processed;
use crate::store::Store;
use crate::store::stories::MediaBytes;
use crate::stories::{StoredMedia, Story, StoryCard, StoryDraft, StoryRecord, Viewer};
use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};

/// Posts a story: stores it, claims a live slot (or refuses past the limit) and fans it out to
/// every contact its audience admits who has the author as a contact too (the mutual-contacts
/// rule at posting time; later removals are marked on the viewer's side and hide it again).
pub async fn create(
    store: &Store,
    settings: &Settings,
    author: &UserId,
    draft: StoryDraft,
    media: Option<Processed>,
    now: DateTime<Utc>,
) -> Result<StoryRecord> {
    // The author's mutual contacts are read while the story is stored: neither waits for the other.
    let (stored, mutual) = futures_util::join!(
        store_and_claim(store, settings, author, draft, media, now),
        store.mutual_contacts(author)
    );
    let record = stored?;
    let fanned_out = match mutual {
        Ok(mutual) => {
            let admitted: Vec<UserId> = mutual.into_iter().filter(|c| c != author && record.audience.admits(c)).collect();
            store.fan_out(&record, &admitted).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = fanned_out {
        // The post is answered with the error: take the story back rather than leave it half
        // delivered.
        if let Err(cleanup) = store.delete_story(&record.id).await {
            tracing::warn!(error = %cleanup, story = %record.id, "a story whose fan-out failed was not deleted");
        }
        return Err(e);
    }
    Ok(record)
}

/// Stores the story and claims its live slot; refuses (and deletes it) past the limit.
async fn store_and_claim(
    store: &Store,
    settings: &Settings,
    author: &UserId,
    draft: StoryDraft,
    media: Option<Processed>,
    now: DateTime<Utc>,
) -> Result<StoryRecord> {
    let audience = match draft.audience {
        Some(a) => a.parse("audience", settings.users.max_contacts)?,
        None => store.settings(author).await?.default_audience,
    };
    // A story's time is its id's, to the millisecond, so that the feed can take it from the tray
    // entry. (Ids made within one millisecond stay in order, so an id's time may be a little past
    // `now`.)
    let id = StoryId::new(now, author);
    let now = DateTime::from_timestamp_millis(id.created_ms()).unwrap_or_else(|| now.trunc_subsecs(3));
    let record = StoryRecord {
        id,
        author: author.clone(),
        kind: draft.kind,
        text: draft.text,
        background: draft.background,
        font: draft.font,
        caption: draft.caption,
        media: media.as_ref().map(|p| StoredMedia {
            etag: p.full.etag.clone(),
            thumb_etag: p.thumb.etag.clone(),
            width: p.full.width,
            height: p.full.height,
        }),
        created_at: now,
        expires_at: now + Duration::seconds(settings.stories.ttl_secs as i64),
        audience,
    };
    let bytes = media.map(|p| MediaBytes {
        full: p.full.bytes,
        thumb: p.thumb.bytes,
    });
    store.put_story(&record, bytes.as_ref()).await?;
    if !store
        .claim_live_slot(&record, now.timestamp_millis(), settings.stories.max_active_per_author)
        .await?
    {
        store.delete_story(&record.id).await?;
        return Err(Error::StoryLimitReached(settings.stories.max_active_per_author));
    }
    Ok(record)
}

/// The story if `viewer` may see it now; `NotFound` otherwise, expired or not.
pub async fn visible(store: &Store, viewer: &UserId, id: &StoryId, now: DateTime<Utc>) -> Result<StoryRecord> {
    let (story, _, may_view) = store
        .story_for_viewer(viewer, id)
        .await?
        .filter(|(s, _, _)| s.is_live(now))
        .ok_or(Error::NotFound)?;
    if story.author == *viewer || may_view {
        Ok(story)
    } else {
        Err(Error::NotFound)
    }
}

/// A story as `GET /v1/stories/{id}` answers it.
pub enum StoryRead {
    /// The caller's own, with its audience.
    Own(Box<Story>),
    /// Someone else's, as its card.
    Card(StoryCard),
}

/// The story `viewer` asked for by id, if they may see it now; `NotFound` otherwise.
pub async fn read(store: &Store, viewer: &UserId, id: &StoryId, now: DateTime<Utc>) -> Result<StoryRead> {
    if id.is_by(viewer) {
        return Ok(StoryRead::Own(Box::new(
            visible(store, viewer, id, now).await?.shown_to(Some(viewer)),
        )));
    }
    // Someone else's, by the id: the card alone is read.
    store
        .card_for_viewer(viewer, id, now.timestamp_millis())
        .await?
        .map(StoryRead::Card)
        .ok_or(Error::NotFound)
}

/// A story its author acts on: `NotFound` if the caller cannot see it, `Forbidden` if they can but
/// did not write it.
async fn own_story(store: &Store, caller: &UserId, id: &StoryId, now: DateTime<Utc>) -> Result<StoryRecord> {
    let story = visible(store, caller, id, now).await?;
    if story.author != *caller {
        return Err(Error::Forbidden("forbidden", "only the author may do this".into()));
    }
    Ok(story)
}

pub async fn delete(store: &Store, caller: &UserId, id: &StoryId, now: DateTime<Utc>) -> Result<()> {
    let story = own_story(store, caller, id, now).await?;
    store.delete_story(&story.id).await
}

/// Image bytes for a visible story, with the ETag and how long the client may cache them.
pub struct MediaReply {
    pub bytes: Vec<u8>,
    pub etag: String,
    pub max_age_secs: i64,
}

pub async fn media(store: &Store, viewer: &UserId, id: &StoryId, which: ImageSize, now: DateTime<Utc>) -> Result<MediaReply> {
    let story = visible(store, viewer, id, now).await?;
    let info = story.media.as_ref().ok_or(Error::NotFound)?;
    let bytes = store.media(id, which).await?.ok_or(Error::NotFound)?;
    // Checked again after the read: the story may have expired while the bytes travelled.
    let max_age_secs = story.seconds_left(Utc::now());
    if !story.is_live(Utc::now()) {
        return Err(Error::NotFound);
    }
    let etag = match which {
        ImageSize::Full => info.etag.clone(),
        ImageSize::Thumb => info.thumb_etag.clone(),
    };
    Ok(MediaReply { bytes, etag, max_age_secs })
}

/// Marks the story seen by `viewer` (and lists them among its viewers with read receipts on).
pub async fn mark_seen(store: &Store, viewer: &UserId, id: &StoryId, now: DateTime<Utc>) -> Result<()> {
    let story = visible(store, viewer, id, now).await?;
    if story.author == *viewer {
        return Ok(());
    }
    let listed = store.settings(viewer).await?.read_receipts;
    store.record_view(&story, viewer, now.timestamp_millis(), listed).await
}

pub async fn react(store: &Store, settings: &Settings, viewer: &UserId, id: &StoryId, emoji: &str, now: DateTime<Utc>) -> Result<()> {
    if !settings.stories.reactions.iter().any(|e| e == emoji) {
        return Err(Error::field("emoji", format!("one of {}", settings.stories.reactions.join(" "))));
    }
    let story = visible(store, viewer, id, now).await?;
    if story.author == *viewer {
        return Err(Error::Forbidden("forbidden", "authors do not react to their own stories".into()));
    }
    // Reacting implies having seen it.
    let listed = store.settings(viewer).await?.read_receipts;
    store.record_view(&story, viewer, now.timestamp_millis(), listed).await?;
    store.set_reaction(&story, viewer, emoji).await
}

pub async fn report(store: &Store, reporter: &UserId, id: &StoryId, reason: &str, now: DateTime<Utc>) -> Result<()> {
    let story = visible(store, reporter, id, now).await?;
    if story.author == *reporter {
        return Err(Error::Forbidden("forbidden", "authors do not report their own stories".into()));
    }
    store.add_report(&story, reporter, reason).await
}

/// One page of viewers of the caller's story. Authors with read receipts off see none (403).
pub async fn viewers(
    store: &Store,
    caller: &UserId,
    id: &StoryId,
    offset: usize,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<(Vec<Viewer>, Option<usize>)> {
    let story = own_story(store, caller, id, now).await?;
    if !store.settings(caller).await?.read_receipts {
        return Err(Error::Forbidden(
            "read_receipts_off",
            "turn read receipts on to see who viewed your stories".into(),
        ));
    }
    let page = store.viewers(&story.id, offset, limit + 1).await?;
    let more = page.len() > limit;
    let viewers = page
        .into_iter()
        .take(limit)
        .map(|(user, at, reaction)| Viewer {
            user: user.to_string(),
            viewed_at: Utc.timestamp_millis_opt(at).single().unwrap_or(now),
            reaction,
        })
        .collect();
    Ok((viewers, more.then_some(offset + limit)))
}

/// The caller's live stories, oldest first, with their counts.
pub async fn mine(store: &Store, author: &UserId, now: DateTime<Utc>) -> Result<Vec<Story>> {
    let ids = store.live_story_ids(author, now.timestamp_millis()).await?;
    let ids: Vec<&StoryId> = ids.iter().collect();
    let records = store.stories(&ids).await?;
    let records: Vec<StoryRecord> = records.into_iter().flatten().filter(|s| s.is_live(now)).collect();
    let live_ids: Vec<StoryId> = records.iter().map(|s| s.id.clone()).collect();
    let counts = store.story_counts(&live_ids).await?;
    Ok(records
        .iter()
        .zip(counts)
        .map(|(s, (views, reactions))| Story {
            view_count: Some(views),
            reaction_count: Some(reactions),
            ..s.shown_to(Some(author))
        })
        .collect())
}

/// Erases everything held about a user: their stories and media, their views, reactions and
/// reports on others' stories, their settings, contacts, trays and idempotency records.
pub async fn erase_user(store: &Store, user: &UserId, now: DateTime<Utc>) -> Result<()> {
    let now_ms = now.timestamp_millis();
    for id in store.live_story_ids(user, now_ms).await? {
        store.delete_story(&id).await?;
    }
    let touched = store.touched(user, now_ms).await?;
    store.forget_viewer(user, &touched).await?;
    store.delete_user_keys(user, now_ms).await
}
