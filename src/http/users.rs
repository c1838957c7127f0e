//! `/v1/me`: contacts, settings, muted authors, erasure.

use super::State;
use super::auth::User;
use super::json::JsonBody;
use super::problem::{self, Problem};
use crate::error::Result;
use crate::users::{SettingsLimits, SettingsPatch, UserSettings, parse_user_id, parse_user_list};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `list_body_limit`: contact lists and audiences may be larger than other JSON bodies.
pub fn routes(cfg: &mut web::ServiceConfig, list_body_limit: usize) {
    let lists = || web::JsonConfig::default().limit(list_body_limit).error_handler(problem::json_error);
    cfg.service(
        web::resource("/v1/me/contacts")
            .app_data(lists())
            .route(web::get().to(get_contacts))
            .route(web::put().to(put_contacts)),
    )
    .service(
        web::resource("/v1/me/settings")
            .app_data(lists())
            .route(web::get().to(get_settings))
            .route(web::patch().to(patch_settings)),
    )
    .service(
        web::resource("/v1/me/muted/{user_id}")
            .route(web::put().to(mute))
            .route(web::delete().to(unmute)),
    )
    .service(web::resource("/v1/me").route(web::delete().to(erase_me)));
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contacts {
    pub contacts: Vec<String>,
}

/// The caller's contact list.
#[utoipa::path(get, path = "/v1/me/contacts", tag = "users", security(("user" = [])),
    responses((status = 200, body = Contacts), (status = 401, body = Problem), (status = 503, body = Problem)))]
pub async fn get_contacts(state: State, user: User) -> Result<web::Json<Contacts>> {
    Ok(web::Json(Contacts {
        contacts: state.store.contacts(&user.0).await?,
    }))
}

/// Replaces the caller's contact list (duplicates and the caller's own id are dropped).
#[utoipa::path(put, path = "/v1/me/contacts", tag = "users", security(("user" = [])), request_body = Contacts,
    responses((status = 200, body = Contacts), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 409, description = "`contacts_busy`: another replacement of this list is running", body = Problem),
        (status = 413, body = Problem), (status = 503, body = Problem)))]
pub async fn put_contacts(state: State, user: User, body: JsonBody<Contacts>) -> Result<web::Json<Contacts>> {
    let mut contacts = parse_user_list("contacts", &body.contacts, state.settings.users.max_contacts)?;
    contacts.retain(|c| *c != user.0);
    let wait = std::time::Duration::from_millis(state.settings.users.contacts_wait_ms);
    state
        .store
        .set_contacts(&user.0, &contacts, Utc::now().timestamp_millis(), wait)
        .await?;
    contacts.sort();
    Ok(web::Json(Contacts { contacts }))
}

/// The caller's settings.
#[utoipa::path(get, path = "/v1/me/settings", tag = "users", security(("user" = [])),
    responses((status = 200, body = UserSettings), (status = 401, body = Problem)))]
pub async fn get_settings(state: State, user: User) -> Result<web::Json<UserSettings>> {
    Ok(web::Json(state.store.settings(&user.0).await?))
}

/// Changes some settings; answers with all of them.
#[utoipa::path(patch, path = "/v1/me/settings", tag = "users", security(("user" = [])), request_body = SettingsPatch,
    responses((status = 200, body = UserSettings), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn patch_settings(state: State, user: User, body: JsonBody<SettingsPatch>) -> Result<web::Json<UserSettings>> {
    let current = state.store.settings(&user.0).await?;
    let limits = SettingsLimits {
        max_audience_users: state.settings.users.max_contacts,
        max_interests: state.settings.users.max_interests,
    };
    let next = body.into_inner().apply(&current, &limits)?;
    state.store.save_settings(&user.0, &next).await?;
    Ok(web::Json(next))
}

/// Mutes an author: their stories move to the feed's `muted` section.
#[utoipa::path(put, path = "/v1/me/muted/{user_id}", tag = "users", security(("user" = [])),
    params(("user_id" = String, Path, description = "the author to mute")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn mute(state: State, user: User, path: web::Path<String>) -> Result<HttpResponse> {
    let author = parse_user_id("user_id", &path)?;
    state.store.set_muted(&user.0, &author, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Unmutes an author.
#[utoipa::path(delete, path = "/v1/me/muted/{user_id}", tag = "users", security(("user" = [])),
    params(("user_id" = String, Path, description = "the author to unmute")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn unmute(state: State, user: User, path: web::Path<String>) -> Result<HttpResponse> {
    let author = parse_user_id("user_id", &path)?;
    state.store.set_muted(&user.0, &author, false).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Erases everything held about the caller: stories, media, views, reactions, settings, contacts.
#[utoipa::path(delete, path = "/v1/me", tag = "users", security(("user" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 503, body = Problem)))]
pub async fn erase_me(state: State, user: User) -> Result<HttpResponse> {
    crate::services::stories::erase_user(&state.store, &user.0, chrono::Utc::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
