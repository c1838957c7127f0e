//! Logs and request ids: every line logged while a request is served carries its request id,
//! which the response carries too (`X-Request-Id`); a finished request gets its line (errors
//! only, unless `log.requests = "all"`).

use crate::config::{RequestLines, Settings};
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use std::time::Instant;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

/// The response header (and accepted request header) that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of one request: the caller's `X-Request-Id` when it is short and plain (1–128 of
/// `A-Z a-z 0-9 - _ . :`), so that a request can be followed through a proxy that set one;
/// otherwise a new ULID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    pub(crate) fn for_request(req: &ServiceRequest) -> RequestId {
        let given = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_plain_request_id(v));
        RequestId(given.map(str::to_owned).unwrap_or_else(crate::ids::random_id))
    }
}

fn is_plain_request_id(v: &str) -> bool {
    (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// When a request started, for the access log line.
#[derive(Clone, Copy)]
struct Started(Instant);

/// The route pattern the request matched (`unmatched` for unknown paths), for logs and metrics.
pub(crate) struct RoutePattern(pub(crate) String);

pub(crate) fn route_of(req: &ServiceRequest) -> String {
    req.extensions()
        .get::<RoutePattern>()
        .map_or_else(|| "unmatched".into(), |r| r.0.clone())
}

/// The span every request is served in: its request id is on every line logged while it runs.
/// The request's method, route pattern, path and status are on its `request finished` line: a
/// span's fields are written out when it is made, for every request, even when nothing is
/// logged, and that was a visible share of a small read. No header other than the request id is
/// read into either, so credentials never reach the logs; the query string is left out too.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_else(crate::ids::random_id);
        request.extensions_mut().insert(Started(Instant::now()));
        let span = tracing::info_span!("request", request_id = %id);
        span.in_scope(|| tracing::debug!(method = %request.method(), path = %request.path(), "request started"));
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        let (status, request) = match outcome {
            Ok(res) => (res.status().as_u16(), Some(res.request())),
            Err(e) => (e.as_response_error().status_code().as_u16(), None),
        };
        // Probes and scrapes are frequent and uneventful: logged at debug only; so are all
        // successes when only errors are wanted.
        // (`log.requests` is in the app's data: the span builder has no state of its own.)
        let every_request = request.and_then(|r| r.app_data::<RequestLines>()) == Some(&RequestLines::All);
        let quiet = request.is_some_and(|r| matches!(r.path(), "/healthz" | "/readyz" | "/metrics")) || (status < 400 && !every_request);
        let started = request.and_then(|r| r.extensions().get::<Started>().map(|s| s.0));
        let duration_ms = started.map(|s| s.elapsed().as_secs_f64() * 1000.0).unwrap_or_default();
        let (method, path) = (request.map_or("", |r| r.method().as_str()), request.map_or("", |r| r.path()));
        span.in_scope(|| {
            if quiet {
                tracing::debug!(status, duration_ms, method, route = %RouteOf(request), path, "request finished");
            } else {
                tracing::info!(status, duration_ms, method, route = %RouteOf(request), path, "request finished");
            }
        });
    }
}

/// The route pattern of a request, written out only when a line is logged.
struct RouteOf<'a>(Option<&'a actix_web::HttpRequest>);

impl std::fmt::Display for RouteOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extensions = self.0.map(|r| r.extensions());
        let route = extensions.as_ref().and_then(|e| e.get::<RoutePattern>());
        f.write_str(route.map_or("unmatched", |r| r.0.as_str()))
    }
}

/// Logs to stdout as text or JSON lines. JSON lines carry the fields of the spans they were
/// logged in (`span` and `spans`), so the request id is on each of them. Lines are written by a
/// thread of their own, so that a request does not wait on stdout; when that thread falls behind
/// by 128,000 lines, requests wait for it rather than lose lines. Keep the guard until exit:
/// dropping it writes what is left.
pub fn init_tracing(settings: &Settings) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&settings.log.filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let installed = if settings.log.format == crate::config::LogFormat::Json {
        builder.json().with_current_span(true).with_span_list(true).try_init()
    } else {
        builder.try_init()
    };
    installed.ok().map(|()| guard)
}
