//! `Application::build(settings)`: the store, metrics, state, routes and middleware, bound to a
//! listener (port 0 in tests). Also the logging set-up: every line logged while a request is
//! served carries its request id, which the response carries too (`X-Request-Id`).

use crate::auth::UserTokens;
use crate::config::Settings;
use crate::http::wire::ProblemConnection;
use crate::http::{self, AppState, problem};
use crate::metrics::Metrics;
use crate::services::ads::AdServer;
use crate::store::Store;
use actix_http::HttpService;
use actix_http::KeepAlive;
use actix_http::error::DispatchError;
use actix_rt::net::TcpStream;
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::body::MessageBody;
use actix_web::dev::AppConfig;
use actix_web::dev::{Server, ServerHandle, Service, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpMessage, web};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::Span;
use tracing_actix_web::{RootSpanBuilder, TracingLogger};

pub struct Application {
    port: u16,
    server: Server,
    shutdown: Shutdown,
}

/// Stops an [`Application`] without dropping what clients sent (see [`Shutdown::drain_and_stop`]).
#[derive(Clone)]
pub struct Shutdown {
    server: ServerHandle,
    draining: Arc<AtomicBool>,
    drain: Duration,
}

impl Shutdown {
    /// The graceful stop: `/readyz` answers 503 at once and every answer carries
    /// `Connection: close` while requests are still served for `http.drain_secs`, so that load
    /// balancers take the instance out and clients stop reusing its connections; then the listener
    /// closes and requests in flight get `http.shutdown_timeout_secs` to finish.
    pub async fn drain_and_stop(&self) {
        self.draining.store(true, Ordering::Relaxed);
        tracing::info!(
            drain_secs = self.drain.as_secs_f64(),
            "draining: readiness is 503, connections close after their answer"
        );
        tokio::time::sleep(self.drain).await;
        tracing::info!("drained: closing the listener; what is in flight may finish");
        self.server.stop(true).await;
    }

    /// At once: requests in flight are cut off.
    pub async fn stop_now(&self) {
        self.server.stop(false).await;
    }

    /// Waits for SIGTERM (then [`Self::drain_and_stop`]) or SIGINT/SIGQUIT (then
    /// [`Self::stop_now`]).
    pub async fn on_signals(self) {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::quit()),
        ) else {
            tracing::error!("cannot listen for signals");
            return;
        };
        tokio::select! {
            _ = term.recv() => self.drain_and_stop().await,
            _ = int.recv() => self.stop_now().await,
            _ = quit.recv() => self.stop_now().await,
        }
    }
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, String> {
        let listener = TcpListener::bind(&settings.listen).map_err(|e| format!("listen {}: {e}", settings.listen))?;
        let state = web::Data::new(build_state(settings)?);
        // Keeps this instance's campaign index current for as long as the runtime lives.
        tokio::spawn(crate::services::ads_refresh::run(
            state.store.clone(),
            state.ads.clone(),
            state.settings.clone(),
            state.metrics.clone(),
        ));
        Self::serve(listener, state)
    }

    /// Serves `state` on an already bound listener.
    pub fn serve(listener: TcpListener, state: web::Data<AppState>) -> Result<Application, String> {
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let settings = state.settings.clone();
        problem::RETRY_AFTER_SECS.store(settings.redis.retry_after_secs, std::sync::atomic::Ordering::Relaxed);
        let json_limit = settings.http.json_limit_bytes;
        let routes_settings = settings.clone();
        let draining = state.draining.clone();
        let state_draining = state.draining.clone();
        let head_timeout = Duration::from_millis(settings.http.request_head_timeout_ms);
        let mut server = actix_server::Server::build();
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        // actix-web's HttpServer, but on connections that write actix-http's own error answers as
        // problems (`http::wire`).
        let server = server
            // Signals are ours (`Shutdown::on_signals`): actix would close the listener on SIGTERM
            // at once, before load balancers notice. After the drain, requests in flight get this.
            .disable_signals()
            .shutdown_timeout(settings.http.shutdown_timeout_secs)
            .listen("statusd", listener, move || {
                let draining = draining.clone();
                let metrics = state.metrics.clone();
                let app = App::new()
                    .app_data(state.clone())
                    .app_data(web::JsonConfig::default().limit(json_limit).error_handler(problem::json_error))
                    .app_data(web::QueryConfig::default().error_handler(problem::query_error))
                    .app_data(web::PathConfig::default().error_handler(problem::path_error))
                    .wrap(ErrorHandlers::new().default_handler(problem::ensure_problem))
                    .wrap_fn(move |req, srv| {
                        let started = Instant::now();
                        let method = req.method().as_str().to_owned();
                        let route = route_of(&req);
                        let metrics = metrics.clone();
                        let fut = srv.call(req);
                        async move {
                            let res = fut.await?;
                            metrics.observe_http(&method, &route, res.status().as_u16(), started.elapsed().as_secs_f64());
                            Ok(res)
                        }
                    })
                    .wrap(TracingLogger::<RequestSpan>::new())
                    .wrap_fn(move |req, srv| {
                        let draining = draining.clone();
                        let fut = srv.call(req);
                        async move {
                            let mut res = fut.await?;
                            // While draining, a client learns with each answer to use a new connection.
                            if draining.load(Ordering::Relaxed) {
                                res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
                            }
                            Ok(res)
                        }
                    })
                    .wrap_fn(|req, srv| {
                        let id = RequestId::for_request(&req);
                        req.extensions_mut().insert(id.clone());
                        // Matching the path against every route costs regex runs: once per request.
                        let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
                        req.extensions_mut().insert(RoutePattern(route));
                        let fut = srv.call(req);
                        async move {
                            let mut res = fut.await?;
                            if let Ok(value) = HeaderValue::from_str(&id.0) {
                                res.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
                            }
                            Ok(res)
                        }
                    })
                    .configure(|cfg| http::routes(cfg, &routes_settings))
                    .default_service(web::to(problem::not_found));
                let app = app.into_factory().map_err(|e: actix_web::Error| e.error_response());
                // actix-web's defaults: keep-alive 5 s, disconnect after 1 s.
                let http = HttpService::build()
                    .keep_alive(KeepAlive::Timeout(Duration::from_secs(5)))
                    .client_request_timeout(head_timeout)
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .h1(map_config(app, |_| AppConfig::default()));
                fn_service(|connection: TcpStream| async move {
                    let peer = connection.peer_addr().ok();
                    let _ = connection.set_nodelay(true);
                    Ok::<_, DispatchError>((ProblemConnection::new(connection), peer))
                })
                .and_then(http)
            })
            .map_err(|e| e.to_string())?
            .run();
        let shutdown = Shutdown {
            server: server.handle(),
            draining: state_draining,
            drain: Duration::from_secs(settings.http.drain_secs),
        };
        Ok(Application { port, server, shutdown })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What stops this application gracefully, to be used while it runs.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The shared state every worker uses.
pub fn build_state(settings: Settings) -> Result<AppState, String> {
    let metrics = Arc::new(Metrics::new());
    let store = Store::new(&settings.redis)?
        .with_story_ttl(settings.stories.ttl_secs)
        .instrumented(metrics.clone());
    let secret = settings.auth.jwt_secret.clone().ok_or("auth.jwt_secret: required")?;
    Ok(AppState {
        tokens: UserTokens::new(&secret),
        store,
        metrics,
        media_gate: Arc::new(tokio::sync::Semaphore::new(settings.media.max_concurrent)),
        upload_gate: Arc::new(tokio::sync::Semaphore::new(settings.media.max_buffered_uploads)),
        ads: Arc::new(AdServer::new(&settings)),
        draining: Arc::new(AtomicBool::new(false)),
        settings: Arc::new(settings),
    })
}

/// The response header (and accepted request header) that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of one request: the caller's `X-Request-Id` when it is short and plain (1–128 of
/// `A-Z a-z 0-9 - _ . :`), so that a request can be followed through a proxy that set one;
/// otherwise a new ULID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    fn for_request(req: &ServiceRequest) -> RequestId {
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
struct RoutePattern(String);

fn route_of(req: &ServiceRequest) -> String {
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

/// `log.requests = "all"`, set once at start-up (the span builder has no state of its own).
static LOG_EVERY_REQUEST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

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
        let quiet = request.is_some_and(|r| matches!(r.path(), "/healthz" | "/readyz" | "/metrics"))
            || (status < 400 && !LOG_EVERY_REQUEST.load(std::sync::atomic::Ordering::Relaxed));
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
/// thread of their own, so that a request does not wait on stdout (with the default, an info line
/// per request); when that thread falls behind by 128,000 lines, requests wait for it rather than
/// lose lines. Keep the guard until exit: dropping
/// it writes what is left.
pub fn init_tracing(settings: &Settings) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    LOG_EVERY_REQUEST.store(
        settings.log.requests == crate::config::RequestLines::All,
        std::sync::atomic::Ordering::Relaxed,
    );
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
