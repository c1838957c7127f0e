//! Use cases that compose the domain and the store: each function is one thing a client asks for.

pub mod ad_actions;
pub mod ads;
pub mod ads_refresh;
pub mod advertisers;
pub mod feed;
pub mod idempotency;
pub mod ops;
pub mod outside_demand;
pub mod stories;
pub mod users;
