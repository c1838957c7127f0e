pub mod advertising;
pub mod app;
pub mod contract;
pub mod images;
pub mod redis;
