//! statusd: ephemeral status stories with ad slots, on Redis.
//!
//! Layers, each importing only from those below it (docs/ARCHITECTURE.md): `http` (actix) →
//! `services` (use cases) → `store` (Redis) → the domain: plain types and rules (`stories`,
//! `users`, `advertisers`, `ads`, `media`) and the shared basics (`config`, `error`, `auth`, `ids`,
//! `timestamp`, `metrics`).

pub mod ads;
pub mod advertisers;
pub mod auth;
pub mod config;
pub mod cursor;
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
pub mod telemetry;
pub mod timestamp;
pub mod users;
