pub mod advertising;
pub mod app;
pub mod bidder;
pub mod contract;
pub mod images;
pub mod redis;
