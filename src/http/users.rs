//! `/v1/me`: contacts, settings, muted authors, erasure.

use super::State;
use super::auth::User;
use super::json::JsonBody;
use super::problem::{self, Problem};
use crate::error::Result;
use crate::services::users;
use crate::users::{SettingsPatch, UserSettings, parse_user_id};
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
        contacts: users::contacts(&state.store, &user.0)
            .await?
            .into_iter()
            .map(String::from)
            .collect(),
    }))
}

/// Replaces the caller's contact list (duplicates and the caller's own id are dropped).
#[utoipa::path(put, path = "/v1/me/contacts", tag = "users", security(("user" = [])), request_body = Contacts,
    responses((status = 200, body = Contacts), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 409, description = "`contacts_busy`: another replacement of this list is running", body = Problem),
        (status = 413, body = Problem), (status = 503, body = Problem)))]
pub async fn put_contacts(state: State, user: User, body: JsonBody<Contacts>) -> Result<web::Json<Contacts>> {
    let contacts = users::replace_contacts(&state.store, &state.settings, &user.0, &body.contacts, Utc::now()).await?;
    Ok(web::Json(Contacts {
        contacts: contacts.into_iter().map(String::from).collect(),
    }))
}

/// The caller's settings.
#[utoipa::path(get, path = "/v1/me/settings", tag = "users", security(("user" = [])),
    responses((status = 200, body = UserSettings), (status = 401, body = Problem)))]
pub async fn get_settings(state: State, user: User) -> Result<web::Json<UserSettings>> {
    Ok(web::Json(users::settings(&state.store, &user.0).await?))
}

/// Changes some settings; answers with all of them.
#[utoipa::path(patch, path = "/v1/me/settings", tag = "users", security(("user" = [])), request_body = SettingsPatch,
    responses((status = 200, body = UserSettings), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn patch_settings(state: State, user: User, body: JsonBody<SettingsPatch>) -> Result<web::Json<UserSettings>> {
    let changed = users::change_settings(&state.store, &state.settings, &user.0, body.into_inner()).await?;
    Ok(web::Json(changed))
}

/// Mutes an author: their stories move to the feed's `muted` section.
#[utoipa::path(put, path = "/v1/me/muted/{user_id}", tag = "users", security(("user" = [])),
    params(("user_id" = String, Path, description = "the author to mute")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn mute(state: State, user: User, path: web::Path<String>) -> Result<HttpResponse> {
    let author = parse_user_id("user_id", &path)?;
    users::set_muted(&state.store, &user.0, &author, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Unmutes an author.
#[utoipa::path(delete, path = "/v1/me/muted/{user_id}", tag = "users", security(("user" = [])),
    params(("user_id" = String, Path, description = "the author to unmute")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn unmute(state: State, user: User, path: web::Path<String>) -> Result<HttpResponse> {
    let author = parse_user_id("user_id", &path)?;
    users::set_muted(&state.store, &user.0, &author, false).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Erases everything held about the caller: stories, media, views, reactions, settings, contacts.
#[utoipa::path(delete, path = "/v1/me", tag = "users", security(("user" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 503, body = Problem)))]
pub async fn erase_me(state: State, user: User) -> Result<HttpResponse> {
    crate::services::stories::erase_user(&state.store, &user.0, Utc::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
