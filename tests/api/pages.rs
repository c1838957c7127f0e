//! The pages statusd serves (`/viewer/`, `/console/`, `/console/admin/`): the files built into the binary, with their security
//! headers. What they do in a browser is tested in tests/browser (scripts/browser-tests.sh).

use crate::both_backends;
use crate::support::app::{Backend, TestApp, assert_problem, spawn_app};
use reqwest::header;

both_backends!(the_pages_are_served_with_their_security_headers, an_unknown_page_file_is_a_problem);

/// A page, which is not an operation of the API document (`get` would hold it against it).
async fn page(app: &TestApp, path: &str) -> reqwest::Response {
    app.req(reqwest::Method::GET, path, "").send().await.unwrap()
}

async fn the_pages_are_served_with_their_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    for page_path in ["/viewer", "/console", "/console/admin"] {
        let r = page(&app, page_path).await;
        assert_eq!(r.status(), 308, "{page_path}");
        assert_eq!(r.headers()[header::LOCATION].to_str().unwrap(), format!("{page_path}/"));
    }

    for (path, content_type, marker) in [
        ("/viewer/", "text/html; charset=utf-8", "<script type=\"module\" src=\"viewer.js\">"),
        ("/viewer/viewer.js", "text/javascript; charset=utf-8", "sessionStorage"),
        ("/viewer/viewer.css", "text/css; charset=utf-8", ".phone"),
        (
            "/console/",
            "text/html; charset=utf-8",
            "<script type=\"module\" src=\"console.js\">",
        ),
        ("/console/console.js", "text/javascript; charset=utf-8", "from \"./common.js\""),
        ("/console/common.js", "text/javascript; charset=utf-8", "sessionStorage"),
        ("/console/console.css", "text/css; charset=utf-8", ".field-error"),
        (
            "/console/admin/",
            "text/html; charset=utf-8",
            "<script type=\"module\" src=\"admin.js\">",
        ),
        ("/console/admin/admin.js", "text/javascript; charset=utf-8", "from \"../common.js\""),
        ("/vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8", "uPlot"),
        ("/vendor/uplot/uPlot.min.css", "text/css; charset=utf-8", ".uplot"),
        ("/vendor/uplot/LICENSE", "text/plain; charset=utf-8", "MIT"),
    ] {
        let r = page(&app, path).await;
        assert_eq!(r.status(), 200, "{path}");
        let headers = r.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(r.text().await.unwrap().contains(marker), "{path}");

        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        let again = app
            .req(reqwest::Method::GET, path, "")
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} unchanged");
    }
}

async fn an_unknown_page_file_is_a_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/viewer/nope.js",
        "/viewer/../Cargo.toml",
        "/viewer/index.html/x",
        "/console/nope.js",
        "/console/admin/nope",
        "/console/viewer.js",
        "/vendor/uplot",
        "/vendor/",
    ] {
        assert_problem(app.get(path, "").await, 404, "not_found").await;
    }
}
