//! `openrtb`: the auction, with bids from outside bidders (OpenRTB 2.6, `[ads.openrtb]`)
//! competing with the house campaigns by its rules (second price on eCPM, the reserve, one ad per
//! advertiser per page). The bidders are asked by `services::outside_demand` before the auction,
//! within `ads.deadline_ms`; what they answer in time, and what statusd accepts of it
//! (`ads::openrtb::accept_bids`), reaches [`AdSelector::select_with_outside`].

use super::auction::Auction;
use crate::ads::index::CampaignIndex;
use crate::ads::openrtb::OutsideBid;
use crate::ads::{AdRequest, AdSelector, Decision};

pub struct OpenRtb {
    pub auction: Auction,
}

impl AdSelector for OpenRtb {
    fn name(&self) -> &'static str {
        "openrtb"
    }

    fn select(&self, index: &CampaignIndex, request: &AdRequest, rng: &mut dyn rand::RngCore) -> Vec<Decision> {
        self.auction.run(index, request, &[], rng)
    }

    fn asks_outside_bidders(&self) -> bool {
        true
    }

    fn select_with_outside(
        &self,
        index: &CampaignIndex,
        request: &AdRequest,
        outside: &[OutsideBid],
        rng: &mut dyn rand::RngCore,
    ) -> Vec<Decision> {
        self.auction.run(index, request, outside, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ads::index::tests::{campaign, index_of, request};
    use rand::SeedableRng;

    fn outside(domain: &str, cpm_micros: i64) -> OutsideBid {
        OutsideBid {
            bidder: "dsp".into(),
            auction_id: "a1".into(),
            imp_id: "1".into(),
            bid_id: format!("bid-{domain}"),
            price_cpm_micros: cpm_micros,
            title: "Shoes".into(),
            cta_text: "Shop now".into(),
            click_url: "https://shoes.example/".into(),
            image_url: "https://cdn.example/a.jpg".into(),
            image_id: Some("img".into()),
            advertiser_domain: domain.into(),
            nurl: None,
            burl: None,
            lurl: None,
        }
    }

    fn run(slots: usize, house: Vec<crate::ads::index::IndexedCampaign>, bids: &[OutsideBid], req: Option<AdRequest>) -> Vec<Decision> {
        let index = index_of(house);
        let mut req = req.unwrap_or_else(|| request(Some("DE"), Some("de"), None));
        req.slots = slots;
        let selector = OpenRtb {
            auction: Auction {
                reserve_cpm_micros: 100_000,
            },
        };
        selector.select_with_outside(&index, &req, bids, &mut rand::rngs::StdRng::seed_from_u64(1))
    }

    #[test]
    fn an_outside_bid_above_the_house_wins_and_pays_the_second_price() {
        // The house campaign (no history: 1% CTR) bids 3.00; the outside bid 5.00 is ranked as
        // a campaign of that CPM without history, wins, and pays what beats 3.00.
        let d = run(
            1,
            vec![campaign("house", "a1", 3_000_000)],
            &[outside("shoes.example", 5_000_000)],
            None,
        );
        assert_eq!(d.len(), 1);
        let won = d[0].outside.as_deref().expect("the outside bid wins");
        assert_eq!(won.advertiser_domain, "shoes.example");
        assert_eq!(
            (d[0].advertiser_id.as_str(), d[0].campaign_id.as_str()),
            ("rtb_shoes_example", "rtb:dsp:shoes.example")
        );
        assert_eq!(d[0].price_micros, 3_000, "3.00 CPM: 3,000 micros an impression");
        assert_eq!(d[0].matched.country.as_deref(), Some("DE"));

        // Under the house campaign it loses, and sets the house's price.
        let d = run(
            1,
            vec![campaign("house", "a1", 3_000_000)],
            &[outside("shoes.example", 2_000_000)],
            None,
        );
        assert_eq!(
            (d[0].campaign_id.as_str(), d[0].outside.is_none(), d[0].price_micros),
            ("house", true, 2_000)
        );
    }

    #[test]
    fn outside_bids_fill_slots_the_house_leaves_and_keep_the_viewers_blocks() {
        let bids = [outside("shoes.example", 5_000_000), outside("hats.example", 4_000_000)];
        let d = run(3, vec![campaign("house", "a1", 3_000_000)], &bids, None);
        let who: Vec<&str> = d.iter().map(|d| d.advertiser_id.as_str()).collect();
        assert_eq!(who, ["rtb_shoes_example", "rtb_hats_example", "a1"]);
        assert_eq!(d[2].price_micros, 100, "the last pays the reserve");

        let mut req = request(Some("DE"), Some("de"), None);
        req.exclusions.blocked_advertisers.insert("rtb_shoes_example".into());
        req.exclusions.hidden_campaigns.insert("rtb:dsp:hats.example".into());
        let d = run(3, vec![campaign("house", "a1", 3_000_000)], &bids, Some(req));
        assert_eq!(d.iter().map(|d| d.campaign_id.as_str()).collect::<Vec<_>>(), ["house"]);
        // Under the reserve, never.
        assert!(run(1, vec![], &[outside("cheap.example", 99_999)], None).is_empty());
    }

    #[test]
    fn without_outside_bids_it_is_the_auction() {
        let d = run(1, vec![campaign("house", "a1", 3_000_000)], &[], None);
        assert_eq!((d[0].campaign_id.as_str(), d[0].price_micros), ("house", 100));
        let index = index_of(vec![campaign("house", "a1", 3_000_000)]);
        let mut req = request(None, None, None);
        req.slots = 1;
        let selector = OpenRtb {
            auction: Auction {
                reserve_cpm_micros: 100_000,
            },
        };
        assert_eq!(selector.select(&index, &req, &mut rand::rngs::StdRng::seed_from_u64(1)).len(), 1);
    }
}
