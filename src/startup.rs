//! `Application::build(settings)`: the store, metrics, state, routes and middleware, bound to a
//! listener (port 0 in tests).

use crate::auth::UserTokens;
use crate::config::Settings;
use crate::http::{self, AppState, problem};
use crate::metrics::Metrics;
use crate::store::Store;
use actix_web::dev::{Server, Service};
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, String> {
        let listener = TcpListener::bind(&settings.listen).map_err(|e| format!("listen {}: {e}", settings.listen))?;
        let state = web::Data::new(build_state(settings)?);
        Self::serve(listener, state)
    }

    /// Serves `state` on an already bound listener.
    pub fn serve(listener: TcpListener, state: web::Data<AppState>) -> Result<Application, String> {
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let settings = state.settings.clone();
        problem::RETRY_AFTER_SECS.store(settings.redis.retry_after_secs, std::sync::atomic::Ordering::Relaxed);
        let json_limit = settings.http.json_limit_bytes;
        let mut server = HttpServer::new(move || {
            let metrics = state.metrics.clone();
            App::new()
                .app_data(state.clone())
                .app_data(web::JsonConfig::default().limit(json_limit).error_handler(problem::json_error))
                .app_data(web::QueryConfig::default().error_handler(problem::query_error))
                .app_data(web::PathConfig::default().error_handler(problem::path_error))
                .wrap(ErrorHandlers::new().default_handler(problem::ensure_problem))
                .wrap_fn(move |req, srv| {
                    let started = Instant::now();
                    let method = req.method().as_str().to_owned();
                    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
                    let metrics = metrics.clone();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        let status = res.status().as_u16().to_string();
                        metrics.http_requests.with_label_values(&[&method, &route, &status]).inc();
                        metrics
                            .http_duration
                            .with_label_values(&[&method, &route])
                            .observe(started.elapsed().as_secs_f64());
                        Ok(res)
                    }
                })
                .wrap(tracing_actix_web::TracingLogger::default())
                .configure(http::routes)
                .default_service(web::to(problem::not_found))
        })
        .listen(listener)
        .map_err(|e| e.to_string())?;
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The shared state every worker uses.
pub fn build_state(settings: Settings) -> Result<AppState, String> {
    let store = Store::new(&settings.redis)?;
    let secret = settings.auth.jwt_secret.clone().ok_or("auth.jwt_secret: required")?;
    Ok(AppState {
        tokens: UserTokens::new(&secret),
        store,
        metrics: Arc::new(Metrics::new()),
        media_gate: Arc::new(tokio::sync::Semaphore::new(settings.media.max_concurrent)),
        settings: Arc::new(settings),
    })
}

/// Logs to stdout as text or JSON lines.
pub fn init_tracing(settings: &Settings) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&settings.log.filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if settings.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
