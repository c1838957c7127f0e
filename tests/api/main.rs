//! One integration test binary: every test talks HTTP to a real statusd on a real Redis.

mod support;

mod ads;
mod advertisers;
mod campaigns;
mod cluster;
mod config;
mod contract;
mod creatives;
mod feed;
mod feed_index;
mod limits;
mod media;
mod observability;
mod openrtb;
mod ops;
mod pages;
mod reports;
mod shutdown;
mod stories;
mod users;
