//! Advertiser use cases: each function is one thing an advertiser or the admin asks for, written
//! against the store. Another advertiser's creative or campaign is `NotFound`, exactly like a
//! missing one.

use crate::advertisers::campaigns::StoredCampaign;
use crate::advertisers::campaigns::{CampaignPatch, CampaignRecord, CheckContext, NewCampaign};
use crate::advertisers::creatives::{CreativeDraft, CreativeRecord, CreativeStatus, Review};
use crate::advertisers::reports::{Report, ReportRange};
use crate::advertisers::{AdvertiserRecord, AdvertiserWithKey, hash_api_key, is_valid_id, issue_api_key, looks_like_api_key, new_id};
use crate::config::Settings;
use crate::error::{Error, FieldError, Result};
use crate::media::ImageSize;
use crate::media::Processed;
use crate::store::Store;
use crate::store::reports::{AdEvent, Recorded};
use crate::store::stories::MediaBytes;
use chrono::{DateTime, Utc};

/// Creates an advertiser with a new API key; the key is in the answer and nowhere else.
pub async fn create_advertiser(store: &Store, name: String, now: DateTime<Utc>) -> Result<AdvertiserWithKey> {
    create_advertiser_with_id(store, new_id(now), name, now).await
}

/// As [`create_advertiser`], with a chosen id (for demo data).
pub async fn create_advertiser_with_id(store: &Store, id: String, name: String, now: DateTime<Utc>) -> Result<AdvertiserWithKey> {
    let issued = issue_api_key();
    let record = AdvertiserRecord {
        id,
        name,
        created_at: now,
        key_hash: issued.hash,
    };
    store.put_advertiser(&record).await?;
    Ok(with_key(&record, Some(issued.key)))
}

fn with_key(record: &AdvertiserRecord, api_key: Option<String>) -> AdvertiserWithKey {
    AdvertiserWithKey {
        id: record.id.clone(),
        name: record.name.clone(),
        created_at: record.created_at,
        api_key,
    }
}

pub async fn advertiser(store: &Store, id: &str) -> Result<AdvertiserRecord> {
    if !is_valid_id(id) {
        return Err(Error::NotFound);
    }
    store.advertiser(id).await?.ok_or(Error::NotFound)
}

/// Issues a new API key for an advertiser; the old one stops working at once.
pub async fn rotate_api_key(store: &Store, id: &str) -> Result<AdvertiserWithKey> {
    let current = advertiser(store, id).await?;
    let issued = issue_api_key();
    let updated = AdvertiserRecord {
        key_hash: issued.hash,
        ..current.clone()
    };
    store.replace_api_key(&updated, &current.key_hash).await?;
    Ok(with_key(&updated, Some(issued.key)))
}

/// The advertiser holding this API key; `Unauthorized` for anything else. The key is looked up by
/// its SHA-256 and the stored hash compared in constant time.
pub async fn authenticate(store: &Store, key: &str) -> Result<AdvertiserRecord> {
    if !looks_like_api_key(key) {
        return Err(Error::Unauthorized);
    }
    let hash = hash_api_key(key);
    match store.advertiser_by_key_hash(&hash).await? {
        Some(advertiser) if crate::auth::secrets_match(&hash, &advertiser.key_hash) => Ok(advertiser),
        _ => Err(Error::Unauthorized),
    }
}

/// Stores a new creative, pending review.
pub async fn create_creative(
    store: &Store,
    advertiser: &str,
    draft: CreativeDraft,
    image: Processed,
    now: DateTime<Utc>,
) -> Result<CreativeRecord> {
    let record = CreativeRecord {
        id: new_id(now),
        advertiser: advertiser.to_owned(),
        status: CreativeStatus::PendingReview,
        headline: draft.headline,
        cta: draft.cta,
        width: image.full.width,
        height: image.full.height,
        etag: image.full.etag,
        thumb_etag: image.thumb.etag,
        created_at: now,
        review_reason: None,
        reviewed_at: None,
    };
    let media = MediaBytes {
        full: image.full.bytes,
        thumb: image.thumb.bytes,
    };
    store.put_creative(&record, &media).await?;
    Ok(record)
}

/// Any creative by id (the admin's view).
pub async fn creative(store: &Store, id: &str) -> Result<CreativeRecord> {
    if !is_valid_id(id) {
        return Err(Error::NotFound);
    }
    store.creative(id).await?.ok_or(Error::NotFound)
}

/// A creative viewers may be shown (approved), or `NotFound`.
pub async fn approved_creative(store: &Store, id: &str) -> Result<CreativeRecord> {
    Some(creative(store, id).await?).filter(|c| c.is_approved()).ok_or(Error::NotFound)
}

/// One of the advertiser's own creatives.
pub async fn own_creative(store: &Store, advertiser: &str, id: &str) -> Result<CreativeRecord> {
    creative(store, id).await.and_then(|c| owned(c, |c| &c.advertiser, advertiser))
}

fn owned<T>(item: T, owner: impl Fn(&T) -> &String, caller: &str) -> Result<T> {
    if owner(&item) == caller { Ok(item) } else { Err(Error::NotFound) }
}

/// One page of records and the id to continue after.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
}

/// The advertiser's creatives, newest first.
pub async fn list_creatives(store: &Store, advertiser: &str, after: Option<&str>, limit: usize) -> Result<Page<CreativeRecord>> {
    let page = store.advertiser_creative_ids(advertiser, after, limit).await?;
    let next_after = page.more.then(|| page.ids.last().cloned()).flatten();
    let items = store.creatives(&page.ids).await?.into_iter().flatten().collect();
    Ok(Page { items, next_after })
}

/// Creatives in one review state, oldest first (the review queue).
pub async fn creatives_in_review_state(
    store: &Store,
    status: CreativeStatus,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<CreativeRecord>> {
    let page = store.creative_ids_in_review_state(status, after, limit).await?;
    let next_after = page.more.then(|| page.ids.last().cloned()).flatten();
    let items = store.creatives(&page.ids).await?.into_iter().flatten().collect();
    Ok(Page { items, next_after })
}

/// Approves or rejects a creative. A decision may be revised later (an approved creative can be
/// taken down); ad indexes are told either way.
pub async fn review(store: &Store, id: &str, review: Review, now: DateTime<Utc>) -> Result<CreativeRecord> {
    let (status, reason) = review.parse()?;
    let current = creative(store, id).await?;
    let reviewed = CreativeRecord {
        status,
        review_reason: reason,
        reviewed_at: Some(now),
        ..current
    };
    store.save_review(&reviewed).await?;
    Ok(reviewed)
}

/// Image bytes of a creative with their ETag.
pub async fn creative_media(store: &Store, creative: &CreativeRecord, which: ImageSize) -> Result<(Vec<u8>, String)> {
    let bytes = store.creative_media(&creative.id, which).await?.ok_or(Error::NotFound)?;
    let etag = match which {
        ImageSize::Full => creative.etag.clone(),
        ImageSize::Thumb => creative.thumb_etag.clone(),
    };
    Ok((bytes, etag))
}

/// Why each of `ids` cannot run in a campaign of `advertiser`: not theirs (or no such creative),
/// or not approved. Field names are `creative_ids[i]`.
async fn creative_errors(store: &Store, advertiser: &str, ids: &[String]) -> Result<Vec<FieldError>> {
    let valid: Vec<String> = ids.iter().filter(|id| is_valid_id(id)).cloned().collect();
    let found = crate::store::by_id(&valid, store.creatives(&valid).await?);
    let mut errors = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let field = format!("creative_ids[{i}]");
        match found.get(id).filter(|c| c.advertiser == advertiser) {
            None => errors.push(FieldError::new(field, format!("{id:?} is not one of your creatives"))),
            Some(c) if !c.is_approved() => errors.push(FieldError::new(
                field,
                format!("{id:?} is {}; only approved creatives can run", c.status.as_ref()),
            )),
            Some(_) => {}
        }
    }
    Ok(errors)
}

pub async fn create_campaign(store: &Store, advertiser: &str, new: NewCampaign, now: DateTime<Utc>) -> Result<StoredCampaign> {
    let errors = creative_errors(store, advertiser, &new.creative_ids).await?;
    let spec = new.parse(&CheckContext { now, spent_micros: 0 }, errors)?;
    let record = CampaignRecord::new(new_id(now), advertiser.to_owned(), spec, now);
    store.put_campaign(&record).await?;
    Ok(StoredCampaign {
        record,
        totals: Default::default(),
        version: 1,
    })
}

pub async fn own_campaign(store: &Store, advertiser: &str, id: &str) -> Result<StoredCampaign> {
    if !is_valid_id(id) {
        return Err(Error::NotFound);
    }
    let stored = store.campaign(id).await?.ok_or(Error::NotFound)?;
    owned(stored, |s| &s.record.advertiser, advertiser)
}

/// Attempts at a PATCH that races other changes of the same campaign.
const PATCH_ATTEMPTS: usize = 5;

/// Changes a campaign: the patch is applied to the stored campaign and the result validated as a
/// whole, then saved only if nobody changed the campaign meanwhile (else re-applied).
pub async fn patch_campaign(store: &Store, advertiser: &str, id: &str, patch: CampaignPatch, now: DateTime<Utc>) -> Result<StoredCampaign> {
    for _ in 0..PATCH_ATTEMPTS {
        let stored = own_campaign(store, advertiser, id).await?;
        let errors = match &patch.creative_ids {
            Some(ids) => creative_errors(store, advertiser, ids).await?,
            None => Vec::new(),
        };
        let ctx = CheckContext {
            now,
            spent_micros: stored.totals.spent_micros,
        };
        let (spec, paused) = patch.clone().apply(&stored.record, &ctx, errors)?;
        let record = stored.record.with(spec, paused, now);
        if store.update_campaign(&record, stored.version).await? {
            return Ok(StoredCampaign {
                record,
                version: stored.version + 1,
                ..stored
            });
        }
    }
    Err(Error::Conflict(
        "concurrent_update",
        "the campaign is being changed by another request; retry".into(),
    ))
}

/// The advertiser's campaigns, newest first.
pub async fn list_campaigns(store: &Store, advertiser: &str, after: Option<&str>, limit: usize) -> Result<Page<StoredCampaign>> {
    let page = store.advertiser_campaign_ids(advertiser, after, limit).await?;
    let next_after = page.more.then(|| page.ids.last().cloned()).flatten();
    let items = store.campaigns(&page.ids).await?.into_iter().flatten().collect();
    Ok(Page { items, next_after })
}

/// The report of one of the advertiser's campaigns.
pub async fn report(store: &Store, advertiser: &str, id: &str, range: &ReportRange) -> Result<Report> {
    let campaign = own_campaign(store, advertiser, id).await?;
    let starts = range.starts();
    let (counts, reach) = store.report_counts(&campaign.record.id, range.granularity, &starts).await?;
    Ok(Report::build(&campaign.record.id, range, &counts, reach))
}

/// Counts an ad event of a campaign (see [`Store::record_ad_event`]), keeping its report buckets
/// for the configured retention.
pub async fn record_ad_event(
    store: &Store,
    settings: &Settings,
    campaign: &str,
    event: AdEvent<'_>,
    at: DateTime<Utc>,
) -> Result<Recorded> {
    store.record_ad_event(campaign, event, at, settings.reports.retention_days).await
}
