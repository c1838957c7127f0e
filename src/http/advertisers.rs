//! `/v1/admin/advertisers`: the admin creates advertiser accounts and issues their API keys;
//! `/v1/advertiser`: an advertiser reads their own account.

use super::State;
use super::auth::{Admin, Advertiser as AdvertiserCaller};
use super::idempotency::{idempotent, never_deleted};
use super::json::JsonBody;
use super::problem::Problem;
use crate::advertisers::{Advertiser, AdvertiserWithKey, NewAdvertiser};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::services::advertisers as service;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/admin/advertisers").route(web::post().to(create_advertiser)))
        .service(web::resource("/v1/admin/advertisers/{id}").route(web::get().to(get_advertiser)))
        .service(web::resource("/v1/admin/advertisers/{id}/api-key").route(web::post().to(rotate_api_key)))
        .service(web::resource("/v1/advertiser").route(web::get().to(own_account)));
}

/// The caller's own advertiser account (never its key): what the console shows as its name.
#[utoipa::path(get, path = "/v1/advertiser", tag = "advertisers", security(("advertiser" = [])),
    responses((status = 200, body = Advertiser), (status = 401, body = Problem)))]
pub async fn own_account(advertiser: AdvertiserCaller) -> web::Json<Advertiser> {
    web::Json(advertiser.0.view())
}

/// Creates an advertiser account. The API key is in this answer only: it is stored as a hash, so a
/// replay of the same `Idempotency-Key` answers without it.
#[utoipa::path(post, path = "/v1/admin/advertisers", tag = "advertisers", security(("admin" = [])), request_body = NewAdvertiser,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key within 24 h returns the first response (without the API key)")),
    responses((status = 201, body = AdvertiserWithKey), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 413, body = Problem), (status = 503, body = Problem)))]
pub async fn create_advertiser(state: State, _: Admin, req: HttpRequest, body: JsonBody<NewAdvertiser>) -> Result<HttpResponse> {
    let fingerprint = body.fingerprint();
    let name = body.into_inner().parse()?;
    idempotent(&state, Caller::Admin, &req, fingerprint, &["api_key"], never_deleted, async {
        let created = service::create_advertiser(&state.store, name, Utc::now()).await?;
        Ok((
            StatusCode::CREATED,
            serde_json::to_value(created).map_err(|e| Error::Internal(e.to_string()))?,
        ))
    })
    .await
}

/// An advertiser account (never its key).
#[utoipa::path(get, path = "/v1/admin/advertisers/{id}", tag = "advertisers", security(("admin" = [])),
    responses((status = 200, body = Advertiser), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_advertiser(state: State, _: Admin, id: web::Path<String>) -> Result<web::Json<Advertiser>> {
    Ok(web::Json(service::advertiser(&state.store, &id).await?.view()))
}

/// Issues a new API key for the advertiser; the old key stops working at once.
#[utoipa::path(post, path = "/v1/admin/advertisers/{id}/api-key", tag = "advertisers", security(("admin" = [])),
    responses((status = 200, body = AdvertiserWithKey), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn rotate_api_key(state: State, _: Admin, id: web::Path<String>) -> Result<web::Json<AdvertiserWithKey>> {
    Ok(web::Json(service::rotate_api_key(&state.store, &id).await?))
}
