//! The selectors, and the one place that maps a configured name to one.
//!
//! To add a selector: write `selectors/<name>.rs` with a type implementing `AdSelector`, declare
//! the module below, name it in `config::SelectorName`, and add one line to `by_name`.

pub mod auction;
pub mod none;
pub mod openrtb;
pub mod random;

use super::AdSelector;
use crate::config::SelectorName;

pub fn by_name(name: SelectorName, reserve_cpm_micros: i64) -> Box<dyn AdSelector> {
    match name {
        SelectorName::Auction => Box::new(auction::Auction { reserve_cpm_micros }),
        SelectorName::Random => Box::new(random::Random),
        SelectorName::None => Box::new(none::NoAds),
        SelectorName::Openrtb => Box::new(openrtb::OpenRtb {
            auction: auction::Auction { reserve_cpm_micros },
        }),
    }
}
