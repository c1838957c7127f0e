//! `random`: picks eligible campaigns at random, weighted by bid (weighted sampling without
//! replacement, one campaign per advertiser). There is no auction: a winner pays its own bid.

use crate::ads::index::{CampaignIndex, IndexedCampaign};
use crate::ads::{AdRequest, AdSelector, Decision, Match};
use rand::Rng;

pub struct Random;

impl AdSelector for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn select(&self, index: &CampaignIndex, request: &AdRequest, rng: &mut dyn rand::RngCore) -> Vec<Decision> {
        // Efraimidis–Spirakis: key = u^(1/weight); the largest keys are a weighted sample.
        let mut keyed: Vec<(f64, &IndexedCampaign, Match)> = index
            .candidates(request)
            .map(|(c, m)| {
                let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                (u.powf(1.0 / c.bid_cpm_micros as f64), c, m)
            })
            .collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut decisions: Vec<Decision> = Vec::new();
        for (_, campaign, matched) in keyed {
            if decisions.len() == request.slots {
                break;
            }
            if decisions.iter().any(|d| d.advertiser_id == campaign.advertiser_id) {
                continue;
            }
            decisions.extend(Decision::of(campaign, campaign.bid_cpm_micros, matched, rng));
        }
        decisions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ads::index::tests::{campaign, index_of, request};
    use rand::SeedableRng;

    #[test]
    fn weighted_by_bid_and_distinct_advertisers() {
        let index = index_of(vec![
            campaign("rich", "a1", 9_000_000),
            campaign("poor", "a2", 1_000_000),
            campaign("rich-2", "a1", 9_000_000),
        ]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let mut req = request(None, None, None);
        req.slots = 1;
        let mut rich = 0;
        for _ in 0..2000 {
            let d = Random.select(&index, &req, &mut rng);
            if d[0].advertiser_id == "a1" {
                rich += 1;
            }
        }
        // a1 has 18 of 19 weight units.
        assert!((1800..2000).contains(&rich), "{rich}");
        req.slots = 3;
        let d = Random.select(&index, &req, &mut rng);
        assert_eq!(d.len(), 2, "one per advertiser");
        assert_eq!(d.iter().find(|d| d.campaign_id == "poor").unwrap().price_micros, 1_000);
    }
}
