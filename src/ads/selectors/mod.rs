//! The selectors, and the one place that maps a configured name to one.
//!
//! To add a selector: write `selectors/<name>.rs` with a type implementing `AdSelector`, declare
//! the module below, and add one line to `by_name`.

pub mod auction;
pub mod none;
pub mod random;

use super::AdSelector;

/// Every selector name `ads.selector` accepts.
pub const NAMES: &[&str] = &["auction", "random", "none"];

pub fn by_name(name: &str, reserve_cpm_micros: i64) -> Option<Box<dyn AdSelector>> {
    match name {
        "auction" => Some(Box::new(auction::Auction { reserve_cpm_micros })),
        "random" => Some(Box::new(random::Random)),
        "none" => Some(Box::new(none::NoAds)),
        _ => None,
    }
}
