//! One integration test binary: every test talks HTTP to a real statusd on a real Redis.

mod support;

mod config;
mod feed;
mod media;
mod observability;
mod ops;
mod shutdown;
mod stories;
mod users;
