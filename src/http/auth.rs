//! Who is calling: extractors for users (JWT), advertisers (API key) and the admin (configured
//! token).

use super::State;
use crate::advertisers::AdvertiserRecord;
use crate::auth::secrets_match;
use crate::error::Error;
use crate::ids::UserId;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use secrecy::ExposeSecret;
use std::future::{Ready, ready};

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn state(req: &HttpRequest) -> Result<&State, Error> {
    req.app_data::<State>()
        .ok_or_else(|| Error::Internal("application state missing".into()))
}

/// A mobile client, identified by the `sub` of a valid user token.
#[derive(Debug, Clone)]
pub struct User(pub UserId);

impl FromRequest for User {
    type Error = Error;
    type Future = Ready<Result<User, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let token = bearer(req).ok_or(Error::Unauthorized)?;
            Ok(User(state(req)?.tokens.verify(token)?))
        })())
    }
}

/// The operator, holding the configured admin token.
#[derive(Debug, Clone)]
pub struct Admin;

impl FromRequest for Admin {
    type Error = Error;
    type Future = Ready<Result<Admin, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let token = bearer(req).ok_or(Error::Unauthorized)?;
            let Some(expected) = state(req)?.settings.auth.admin_token.as_ref().map(|t| t.expose_secret()) else {
                return Err(Error::Forbidden("admin_disabled", "no admin token is configured".into()));
            };
            if secrets_match(token, expected) {
                Ok(Admin)
            } else {
                Err(Error::Unauthorized)
            }
        })())
    }
}

/// An advertiser, identified by an API key (`sk_…`). User tokens and the admin token are not API
/// keys, so they are refused here without a lookup, just as an API key is refused by `User` and
/// `Admin`.
#[derive(Debug, Clone)]
pub struct Advertiser(pub AdvertiserRecord);

impl FromRequest for Advertiser {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Advertiser, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req).map(str::to_owned);
        let state = state(req).cloned();
        Box::pin(async move {
            let token = token.ok_or(Error::Unauthorized)?;
            let state = state?;
            Ok(Advertiser(crate::services::advertisers::authenticate(&state.store, &token).await?))
        })
    }
}

/// Access to `/metrics`: open unless a metrics token is configured.
pub fn metrics_allowed(req: &HttpRequest, expected: Option<&str>) -> bool {
    match expected {
        None => true,
        Some(expected) => bearer(req).is_some_and(|t| secrets_match(t, expected)),
    }
}
