//! The `statusd` command: serve (default), token, openapi, seed-demo.

use clap::{Parser, Subcommand};
use statusd::config::Settings;
use statusd::startup::Application;
use statusd::telemetry::init_tracing;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: a feed page makes thousands of small allocations, and
/// glibc's malloc and free were a fifth of the CPU under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "statusd", version, about = "Ephemeral status stories with ad slots, on Redis")]
struct Cli {
    /// TOML configuration file (optional: environment variables alone suffice).
    #[arg(long, env = "STATUSD_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Print a user token signed with the configured secret.
    Token {
        #[arg(long)]
        user: String,
        #[arg(long, default_value_t = 86_400)]
        ttl_secs: i64,
    },
    /// Print the OpenAPI document that `/openapi.json` serves with this configuration.
    Openapi,
    /// Fill the configured Redis with demo users, contacts and stories; print their tokens.
    SeedDemo,
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("statusd: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Token { user, ttl_secs } => statusd::startup::build_state(settings)
            .and_then(|s| s.tokens.issue(&user, ttl_secs).map_err(|e| e.to_string()))
            .map(|t| println!("{t}")),
        Command::Openapi => {
            println!("{:#}", statusd::http::openapi::document(&settings));
            Ok(())
        }
        Command::SeedDemo => statusd::demo::seed(settings).await.map(|seeded| {
            for (user, token) in seeded.tokens {
                println!("{user}\t{token}");
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("statusd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until SIGTERM (graceful: `/readyz` turns 503 and answers close their connections for
/// `http.drain_secs`, then the listener closes, requests in flight get `http.shutdown_timeout_secs`
/// to finish, and the process exits 0) or SIGINT/SIGQUIT (at once).
async fn serve(settings: Settings) -> Result<(), String> {
    let _log_writer = init_tracing(&settings);
    tracing::info!(
        listen = %settings.listen,
        cluster = !settings.redis.cluster_nodes.is_empty(),
        log_format = ?settings.log.format,
        drain_secs = settings.http.drain_secs,
        shutdown_timeout_secs = settings.http.shutdown_timeout_secs,
        "starting statusd"
    );
    let app = Application::build(settings).await?;
    tokio::spawn(app.shutdown().on_signals());
    app.run_until_stopped().await.map_err(|e| e.to_string())?;
    tracing::info!("statusd stopped");
    Ok(())
}
