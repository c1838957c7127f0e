pub mod advertising;
pub mod app;
pub mod images;
pub mod redis;
