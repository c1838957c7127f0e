//! `auction` (the default): a second-price auction on eCPM = bid × smoothed CTR.
//!
//! Eligible campaigns (targeting, status, schedule, budget, pacing, caps — see the index) are
//! ranked by eCPM, ties broken at random. Slots are filled best first, one winner per slot and
//! never two of one advertiser. A winner pays the least bid that would still have beaten the
//! next-ranked eligible campaign of another advertiser (runner-up eCPM ÷ winner's CTR), at least
//! the reserve and never more than its own bid; a lone bidder pays the reserve. With the `openrtb`
//! selector, outside bids compete here by the same rules.

use crate::ads::index::{CampaignIndex, IndexedCampaign, PRIOR_CTR};
use crate::ads::openrtb::OutsideBid;
use crate::ads::{AdRequest, AdSelector, Decision, Match};
use rand::Rng;

pub struct Auction {
    pub reserve_cpm_micros: i64,
}

impl AdSelector for Auction {
    fn name(&self) -> &'static str {
        "auction"
    }

    fn select(&self, index: &CampaignIndex, request: &AdRequest, rng: &mut dyn rand::RngCore) -> Vec<Decision> {
        self.run(index, request, &[], rng)
    }
}

/// One competitor for a page's slots.
struct Bidder<'a> {
    advertiser_id: String,
    bid_cpm_micros: i64,
    /// The quality factor: a campaign's smoothed click-through rate, or for an outside bid the
    /// prior a campaign without history starts at (statusd cannot measure outside demand's).
    ctr: f64,
    tie: u64,
    kind: Kind<'a>,
}

enum Kind<'a> {
    House(&'a IndexedCampaign, Match),
    Outside(&'a OutsideBid),
}

impl Bidder<'_> {
    fn ecpm(&self) -> f64 {
        self.bid_cpm_micros as f64 * self.ctr
    }
}

impl Auction {
    /// The auction over the house campaigns and `outside` bids (from the `openrtb` selector), by
    /// the same rules: an outside bid is ranked as a campaign of its CPM without history.
    pub fn run(&self, index: &CampaignIndex, request: &AdRequest, outside: &[OutsideBid], rng: &mut dyn rand::RngCore) -> Vec<Decision> {
        if request.slots == 0 {
            return Vec::new();
        }
        // Enough house bidders to fill every slot with distinct advertisers plus one runner-up,
        // and every campaign tied with the last of them.
        let mut bidders: Vec<Bidder> = Vec::new();
        let mut advertisers: Vec<&str> = Vec::new();
        for (campaign, matched) in index
            .candidates(request)
            .filter(|(c, _)| c.bid_cpm_micros >= self.reserve_cpm_micros)
        {
            let enough = advertisers.len() > request.slots;
            if enough && bidders.last().is_some_and(|last| campaign.ecpm() < last.ecpm()) {
                break;
            }
            if !advertisers.contains(&campaign.advertiser_id.as_str()) {
                advertisers.push(&campaign.advertiser_id);
            }
            bidders.push(Bidder {
                advertiser_id: campaign.advertiser_id.clone(),
                bid_cpm_micros: campaign.bid_cpm_micros,
                ctr: campaign.ctr_estimate(),
                tie: rng.random(),
                kind: Kind::House(campaign, matched),
            });
        }
        let excluded = &request.exclusions;
        for bid in outside.iter().filter(|b| b.price_cpm_micros >= self.reserve_cpm_micros) {
            let advertiser_id = bid.advertiser_id();
            if excluded.blocked_advertisers.contains(&advertiser_id) || excluded.hidden_campaigns.contains(&bid.campaign_id()) {
                continue;
            }
            bidders.push(Bidder {
                advertiser_id,
                bid_cpm_micros: bid.price_cpm_micros,
                ctr: PRIOR_CTR,
                tie: rng.random(),
                kind: Kind::Outside(bid),
            });
        }
        // Best eCPM first; equal eCPM in random order.
        bidders.sort_by(|a, b| b.ecpm().total_cmp(&a.ecpm()).then(a.tie.cmp(&b.tie)));

        let mut decisions: Vec<Decision> = Vec::new();
        for (i, winner) in bidders.iter().enumerate() {
            if decisions.len() == request.slots {
                break;
            }
            if decisions.iter().any(|d| d.advertiser_id == winner.advertiser_id) {
                continue;
            }
            let runner_up = bidders[i + 1..]
                .iter()
                .find(|r| r.advertiser_id != winner.advertiser_id && !decisions.iter().any(|d| d.advertiser_id == r.advertiser_id));
            let cpm = match runner_up {
                None => self.reserve_cpm_micros,
                Some(r) => ((r.ecpm() / winner.ctr).ceil() as i64).max(self.reserve_cpm_micros),
            }
            .min(winner.bid_cpm_micros);
            match &winner.kind {
                Kind::House(campaign, matched) => decisions.extend(Decision::of(campaign, cpm, matched.clone(), rng)),
                Kind::Outside(bid) => decisions.push(Decision::outside(bid, cpm, request)),
            }
        }
        decisions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ads::index::tests::{campaign, index_of, request};
    use rand::SeedableRng;

    fn run(campaigns: Vec<IndexedCampaign>, slots: usize, reserve: i64, seed: u64) -> Vec<Decision> {
        let index = index_of(campaigns);
        let mut req = request(None, None, None);
        req.slots = slots;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        Auction {
            reserve_cpm_micros: reserve,
        }
        .select(&index, &req, &mut rng)
    }

    #[test]
    fn second_price_with_quality() {
        let mut good = campaign("good", "a1", 4_000_000);
        good.impressions = 900;
        good.clicks = 19; // ctr (19+1)/(900+100) = 2%
        let plain = campaign("plain", "a2", 3_000_000); // ctr 1%, eCPM 30,000
        let d = run(vec![good, plain], 1, 100_000, 1);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].campaign_id, "good");
        // Runner-up eCPM 3,000,000 × 0.01 ÷ winner's 0.02 = 1,500,000 CPM → 1,500 per impression.
        assert_eq!(d[0].price_micros, 1_500);
    }

    #[test]
    fn lone_bidder_pays_reserve_and_nobody_below_it() {
        let d = run(vec![campaign("only", "a1", 2_000_000)], 1, 100_000, 1);
        assert_eq!(d[0].price_micros, 100);
        assert!(run(vec![campaign("cheap", "a1", 99_999)], 1, 100_000, 1).is_empty());
    }

    #[test]
    fn price_never_above_own_bid() {
        // Equal eCPM: the runner-up's price equals the winner's bid, never more.
        let d = run(vec![campaign("x", "a1", 1_000_000), campaign("y", "a2", 1_000_000)], 1, 100_000, 7);
        assert_eq!(d[0].price_micros, 1_000);
    }

    #[test]
    fn one_advertiser_per_page_and_one_winner_per_slot() {
        let campaigns = vec![
            campaign("a-1", "a", 9_000_000),
            campaign("a-2", "a", 8_000_000),
            campaign("b-1", "b", 7_000_000),
            campaign("c-1", "c", 6_000_000),
            campaign("d-1", "d", 5_000_000),
        ];
        let d = run(campaigns, 3, 100_000, 3);
        let ids: Vec<&str> = d.iter().map(|d| d.campaign_id.as_str()).collect();
        assert_eq!(ids, ["a-1", "b-1", "c-1"]);
        // a-1 competes against b-1 (a-2 is the same advertiser), b-1 against c-1, c-1 against d-1.
        let prices: Vec<i64> = d.iter().map(|d| d.price_micros).collect();
        assert_eq!(prices, [7_000, 6_000, 5_000]);
    }

    #[test]
    fn ties_are_broken_at_random() {
        let winners: std::collections::HashSet<String> = (0..64)
            .map(|seed| {
                run(
                    vec![campaign("x", "a1", 1_000_000), campaign("y", "a2", 1_000_000)],
                    1,
                    100_000,
                    seed,
                )[0]
                .campaign_id
                .clone()
            })
            .collect();
        assert_eq!(winners.len(), 2);
    }
}
