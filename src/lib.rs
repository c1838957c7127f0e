//! statusd: ephemeral status stories with ad slots, on Redis.
//!
//! Layers: `http` (actix) → `services` (use cases) → domain (`stories`, `users`, `media`) →
//! `store` (Redis).

pub mod ads;
pub mod advertisers;
pub mod auth;
pub mod config;
pub mod demo;
pub mod error;
pub mod http;
pub mod ids;
pub mod media;
pub mod metrics;
pub mod services;
pub mod startup;
pub mod store;
pub mod stories;
pub mod timestamp;
pub mod users;
