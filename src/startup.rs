//! `Application::build(settings)`: the store, metrics, state, routes and middleware, bound to a
//! listener (port 0 in tests). The logs and request ids are `telemetry.rs`.

use crate::auth::UserTokens;
use crate::config::Settings;
use crate::http::wire::ProblemConnection;
use crate::http::{self, AppState, problem};
use crate::metrics::Metrics;
use crate::services::ads::AdServer;
use crate::store::Store;
use crate::telemetry::{REQUEST_ID_HEADER, RequestId, RequestSpan, RoutePattern, route_of};
use actix_http::HttpService;
use actix_http::KeepAlive;
use actix_http::error::DispatchError;
use actix_rt::net::TcpStream;
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::http::ConnectionType;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpMessage, web};
use secrecy::ExposeSecret;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing_actix_web::TracingLogger;

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
        let json_limit = settings.http.json_limit_bytes;
        let request_lines = settings.log.requests;
        let retry_after = problem::RetryAfter(settings.redis.retry_after_secs);
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
                    .app_data(request_lines)
                    .app_data(retry_after)
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
    let secret = settings.auth.jwt_secret.as_ref().ok_or("auth.jwt_secret: required")?;
    Ok(AppState {
        tokens: UserTokens::new(secret.expose_secret()),
        store,
        media_gate: Arc::new(tokio::sync::Semaphore::new(settings.media.max_concurrent)),
        upload_gate: Arc::new(tokio::sync::Semaphore::new(settings.media.max_buffered_uploads)),
        ads: Arc::new(AdServer::new(&settings, metrics.clone())),
        metrics,
        draining: Arc::new(AtomicBool::new(false)),
        settings: Arc::new(settings),
    })
}
