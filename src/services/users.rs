//! A user's own data: their contact list, settings and mutes.

use crate::config::Settings;
use crate::error::Result;
use crate::ids::UserId;
use crate::store::Store;
use crate::users::{SettingsLimits, SettingsPatch, UserSettings, parse_user_list};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The user's contact list, sorted.
pub async fn contacts(store: &Store, user: &UserId) -> Result<Vec<UserId>> {
    store.contacts(user).await
}

/// Replaces the user's contact list with `requested` (checked; duplicates and the user's own id
/// dropped), waiting up to `users.contacts_wait_ms` for another replacement of it to end.
/// Answers the list as stored, sorted.
pub async fn replace_contacts(
    store: &Store,
    settings: &Settings,
    user: &UserId,
    requested: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<UserId>> {
    let mut contacts = parse_user_list("contacts", requested, settings.users.max_contacts)?;
    contacts.retain(|c| c != user);
    let wait = Duration::from_millis(settings.users.contacts_wait_ms);
    store.set_contacts(user, &contacts, now.timestamp_millis(), wait).await?;
    contacts.sort();
    Ok(contacts)
}

pub async fn settings(store: &Store, user: &UserId) -> Result<UserSettings> {
    store.settings(user).await
}

/// Applies `patch` to the user's settings; answers all of them.
pub async fn change_settings(store: &Store, settings: &Settings, user: &UserId, patch: SettingsPatch) -> Result<UserSettings> {
    let current = store.settings(user).await?;
    let limits = SettingsLimits {
        max_audience_users: settings.users.max_contacts,
        max_interests: settings.users.max_interests,
    };
    let next = patch.apply(&current, &limits)?;
    store.save_settings(user, &next).await?;
    Ok(next)
}

/// Mutes (or unmutes) `author` for `user`: their stories move to (or leave) the feed's `muted`.
pub async fn set_muted(store: &Store, user: &UserId, author: &UserId, muted: bool) -> Result<()> {
    store.set_muted(user, author, muted).await
}

/// Whether a user has the ad-free entitlement (admin).
pub async fn is_ad_free(store: &Store, user: &UserId) -> Result<bool> {
    store.is_ad_free(user).await
}

/// Grants or takes back a user's ad-free entitlement (admin).
pub async fn set_ad_free(store: &Store, user: &UserId, ad_free: bool) -> Result<()> {
    store.set_ad_free(user, ad_free).await
}
