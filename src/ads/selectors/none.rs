//! `none`: never shows an ad.

use crate::ads::index::CampaignIndex;
use crate::ads::{AdRequest, AdSelector, Decision};

pub struct NoAds;

impl AdSelector for NoAds {
    fn name(&self) -> &'static str {
        "none"
    }

    fn select(&self, _: &CampaignIndex, _: &AdRequest, _: &mut dyn rand::RngCore) -> Vec<Decision> {
        Vec::new()
    }
}
