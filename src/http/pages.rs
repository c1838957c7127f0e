//! The browser pages statusd serves itself: `/viewer/` (the story viewer), `/console/` (the
//! advertiser console) and `/console/admin/` (the operator's review desk), with the chart library
//! under `/vendor/`. Their files are in
//! `web/` and built into the binary, so that a page never depends on anything downloaded at build
//! or run time. The pages are clients of the public API only; they are not part of the API, and
//! not in the OpenAPI document.
//!
//! Every page answer carries a strict Content-Security-Policy (scripts and styles from this origin
//! only, no inline script, calls to this origin only, no framing), `nosniff` and no referrer.

use crate::error::Error;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

/// A file of a page: the path it is served at, its bytes and its content type.
struct Asset {
    path: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:expr) => {
        Asset {
            path: $path,
            bytes: include_bytes!(concat!("../../web/", $file)),
            content_type: $content_type,
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("/viewer/", "viewer/index.html", HTML),
    asset!("/viewer/viewer.js", "viewer/viewer.js", JS),
    asset!("/viewer/viewer.css", "viewer/viewer.css", CSS),
    asset!("/console/", "console/index.html", HTML),
    asset!("/console/console.js", "console/console.js", JS),
    asset!("/console/console.css", "console/console.css", CSS),
    asset!("/console/common.js", "console/common.js", JS),
    asset!("/console/admin/", "console/admin/index.html", HTML),
    asset!("/console/admin/admin.js", "console/admin/admin.js", JS),
    asset!("/vendor/uplot/uPlot.iife.min.js", "vendor/uplot/uPlot.iife.min.js", JS),
    asset!("/vendor/uplot/uPlot.min.css", "vendor/uplot/uPlot.min.css", CSS),
    asset!("/vendor/uplot/LICENSE", "vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
];

/// Images are the API's, read with the bearer token and shown as blob URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    for path in [
        "/viewer",
        "/viewer/{file:.*}",
        "/console",
        "/console/{file:.*}",
        "/vendor/{file:.*}",
    ] {
        cfg.route(path, web::get().to(file));
    }
}

async fn file(req: HttpRequest) -> Result<HttpResponse, Error> {
    let Some(asset) = ASSETS.iter().find(|a| a.path == req.path()) else {
        // `/viewer` is `/viewer/`, so that the page's relative links resolve under it.
        let page = format!("{}/", req.path());
        return match ASSETS.iter().any(|a| a.path == page) {
            true => Ok(HttpResponse::PermanentRedirect().insert_header((header::LOCATION, page)).finish()),
            false => Err(Error::NotFound),
        };
    };
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(asset.bytes)[..8]));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((header::ETAG, etag));
    Ok(if fresh {
        response.finish()
    } else {
        response.content_type(asset.content_type).body(asset.bytes)
    })
}

#[cfg(test)]
mod tests {
    fn size_of(page: &str) -> usize {
        super::ASSETS
            .iter()
            .filter(|a| a.path.starts_with(page))
            .map(|a| a.bytes.len())
            .sum()
    }

    /// The pages stay small: a phone on a slow network loads all of them.
    #[test]
    fn the_pages_are_small() {
        assert!(size_of("/viewer/") < 100 * 1024, "viewer: {} bytes", size_of("/viewer/"));
        let console = size_of("/console/") - size_of("/console/admin/") + size_of("/vendor/uplot/");
        assert!(console < 200 * 1024, "console with its chart library: {console} bytes");
        assert!(
            size_of("/console/admin/") < 50 * 1024,
            "review desk: {} bytes",
            size_of("/console/admin/")
        );
    }
}
