//! The one error type of the domain and the store. `http::problem` maps it to problem+json; nothing
//! else decides status codes.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("not found")]
    NotFound,
    #[error("{1}")]
    Conflict(&'static str, String),
    /// What an `Idempotency-Key` created has since been deleted.
    #[error("{0}")]
    Gone(String),
    /// An `Idempotency-Key` replayed with another body.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    #[error("payload too large")]
    PayloadTooLarge(String),
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("image too large: {0}")]
    ImageTooLarge(String),
    #[error("invalid image: {0}")]
    InvalidImage(String),
    #[error("at most {0} live stories per author")]
    StoryLimitReached(u32),
    #[error("server busy: {0}")]
    Busy(String),
    /// SIGTERM was received: the instance is draining and will stop.
    #[error("this instance is shutting down")]
    ShuttingDown,
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Validation(vec![FieldError::new(field, message)])
    }
}

/// Whether a Redis error says that the cluster is moving a slot or failing over, so that the same
/// request finds the new owner a moment later: a redirection the client could not follow in time
/// (`MOVED`, `ASK`), `TRYAGAIN`, `CLUSTERDOWN`, a master that is down, a write that reached a
/// replica while its master was failing over (`READONLY`), or a transaction that Redis refused
/// (`EXECABORT`, so nothing of it ran) for one of these.
pub fn is_cluster_in_motion(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind as S};
    let moving = |kind: Option<S>| {
        matches!(
            kind,
            Some(S::ClusterDown | S::TryAgain | S::Moved | S::Ask | S::ReadOnly | S::MasterDown)
        )
    };
    match e.kind() {
        ErrorKind::Server(S::ExecAbort) => e
            .clone()
            .into_server_errors()
            .is_some_and(|errors| !errors.is_empty() && errors.iter().all(|(_, error)| moving(error.kind()))),
        ErrorKind::Server(kind) => moving(Some(kind)),
        _ => false,
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        // Anything that says "Redis is not answering" is a 503 the client may retry; anything else
        // (a wrong type, a script error) is a bug of ours and must not be disguised as an outage.
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
            || is_cluster_in_motion(&e)
            || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
            || e.kind() == redis::ErrorKind::ClusterConnectionNotFound
        {
            Error::StoreUnavailable(e.to_string())
        } else {
            Error::Internal(format!("redis: {e}"))
        }
    }
}

impl From<crate::media::MediaError> for Error {
    fn from(e: crate::media::MediaError) -> Self {
        use crate::media::MediaError as M;
        match e {
            M::TooLarge => Error::PayloadTooLarge("the image is larger than the upload limit".into()),
            M::Unsupported => Error::UnsupportedMediaType("expected a JPEG, PNG or WebP image".into()),
            M::ImageTooLarge { width, height } => Error::ImageTooLarge(format!("{width}x{height} exceeds the pixel limit")),
            M::Invalid(why) => Error::InvalidImage(why),
        }
    }
}
