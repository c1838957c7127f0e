//! The browser pages statusd serves itself: `/viewer/` (the story viewer). Their files are in
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

/// A file of a page: its path under the page, its bytes and its content type.
struct Asset {
    path: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

const VIEWER: &[Asset] = &[
    Asset {
        path: "",
        bytes: include_bytes!("../../web/viewer/index.html"),
        content_type: "text/html; charset=utf-8",
    },
    Asset {
        path: "viewer.js",
        bytes: include_bytes!("../../web/viewer/viewer.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        path: "viewer.css",
        bytes: include_bytes!("../../web/viewer/viewer.css"),
        content_type: "text/css; charset=utf-8",
    },
];

/// Images are the API's, read with the bearer token and shown as blob URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/viewer", web::get().to(to_viewer))
        .route("/viewer/{file:.*}", web::get().to(viewer));
}

/// `/viewer` is `/viewer/`, so that the page's relative links resolve under it.
async fn to_viewer() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/viewer/"))
        .finish()
}

async fn viewer(req: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, Error> {
    let asset = VIEWER.iter().find(|a| a.path == file.as_str()).ok_or(Error::NotFound)?;
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
    /// The viewer stays small: a phone on a slow network loads all of it.
    #[test]
    fn the_viewer_is_well_under_200_kb() {
        let total: usize = super::VIEWER.iter().map(|a| a.bytes.len()).sum();
        assert!(total < 100 * 1024, "{total} bytes");
    }
}
