use super::*;
use crate::ads::index::tests::request;
use crate::config::OpenRtbSettings;
use serde_json::{Value, json};

fn settings() -> OpenRtbSettings {
    let mut s = OpenRtbSettings {
        image_hosts: vec!["cdn.bidder.example".into(), "127.0.0.1:4000".into()],
        currency: "EUR".into(),
        ..Default::default()
    };
    s.app.name = "Chatter".into();
    s.app.bundle = "com.example.chatter".into();
    s.regs.gdpr = Some(true);
    s.regs.gpp = Some("DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA".into());
    s.regs.gpp_sid = vec![2];
    s
}

fn sent(settings: &OpenRtbSettings, interests: Option<&[&str]>) -> BidRequest {
    let mut req = request(Some("DE"), Some("de"), interests);
    req.slots = 2;
    bid_request(&Ask {
        settings,
        request: &req,
        auction_id: "auction-1".into(),
        pseudonym: "p-123".into(),
        reserve_cpm_micros: 250_000,
        tmax_ms: 45,
    })
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    keys
}

#[test]
fn the_request_says_what_the_standard_asks_and_nothing_else_of_the_viewer() {
    let settings = settings();
    let sent = sent(&settings, Some(&["coffee", "books"]));
    let v = serde_json::to_value(&sent).unwrap();
    assert_eq!(keys(&v), ["app", "at", "cur", "device", "id", "imp", "regs", "tmax", "user"]);
    assert_eq!(
        (v["id"].as_str(), v["at"].as_u64(), v["tmax"].as_u64()),
        (Some("auction-1"), Some(2), Some(45))
    );
    assert_eq!(v["cur"], json!(["EUR"]));
    assert_eq!(v["app"], json!({"name": "Chatter", "bundle": "com.example.chatter"}));
    assert_eq!(v["device"], json!({"geo": {"country": "DEU"}, "language": "de"}));
    assert_eq!(v["user"], json!({"id": "p-123", "keywords": "coffee,books"}));
    assert_eq!(
        v["regs"],
        json!({"gdpr": 1, "gpp": "DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA", "gpp_sid": [2]})
    );

    let imps = v["imp"].as_array().unwrap();
    assert_eq!(imps.len(), 2, "one imp per slot");
    for (n, imp) in imps.iter().enumerate() {
        assert_eq!(keys(imp), ["bidfloor", "bidfloorcur", "id", "native", "secure"]);
        assert_eq!(imp["id"], (n + 1).to_string());
        assert_eq!((imp["bidfloor"].as_f64(), imp["bidfloorcur"].as_str()), (Some(0.25), Some("EUR")));
        assert_eq!(imp["native"]["ver"], "1.2");
        let native: Value = serde_json::from_str(imp["native"]["request"].as_str().unwrap()).unwrap();
        assert_eq!(
            native,
            json!({"ver": "1.2", "context": 2, "plcmttype": 1, "plcmtcnt": 1, "assets": [
                {"id": 1, "required": 1, "title": {"len": 40}},
                {"id": 2, "required": 1, "img": {"type": 3, "w": 1080, "h": 1920}},
                {"id": 3, "required": 1, "data": {"type": 12, "len": 30}},
            ]})
        );
    }
    // The stable pseudonym the in-process selectors see is not what a bidder gets.
    assert!(!serde_json::to_string(&sent).unwrap().contains("\"v\""));
}

#[test]
fn interests_go_out_only_with_consent_and_regs_only_when_set() {
    let mut settings = settings();
    settings.regs = Default::default();
    let v = serde_json::to_value(sent(&settings, None)).unwrap();
    assert_eq!(v["user"], json!({"id": "p-123"}), "no consent, no keywords");
    assert!(v.get("regs").is_none());
    let v = serde_json::to_value(sent(&settings, Some(&[]))).unwrap();
    assert_eq!(v["user"], json!({"id": "p-123"}));
    settings.regs.coppa = true;
    settings.regs.us_privacy = Some("1YNN".into());
    let v = serde_json::to_value(sent(&settings, None)).unwrap();
    assert_eq!(v["regs"], json!({"coppa": 1, "us_privacy": "1YNN"}));
}

fn native(title: &str, image: &str, cta: &str, link: &str) -> String {
    json!({"ver": "1.2", "assets": [
        {"id": 1, "title": {"text": title}},
        {"id": 2, "img": {"url": image, "w": 1080, "h": 1920}},
        {"id": 3, "data": {"value": cta}},
    ], "link": {"url": link}})
    .to_string()
}

fn good_adm() -> String {
    native(
        "Shoes that last",
        "https://cdn.bidder.example/a.jpg",
        "Shop now",
        "https://shoes.example/buy",
    )
}

fn answer(id: &str, cur: &str, bids: Vec<Value>) -> BidResponse {
    serde_json::from_value(json!({"id": id, "cur": cur, "seatbid": [{"seat": "s1", "bid": bids}]})).unwrap()
}

fn bid(impid: &str, price: f64, adm: &str) -> Value {
    json!({"id": format!("b-{impid}"), "impid": impid, "price": price, "adm": adm, "adomain": ["Shoes.example"],
        "nurl": "https://dsp.example/win?p=${AUCTION_PRICE}", "burl": "https://dsp.example/bill", "crid": "c9"})
}

#[test]
fn a_good_bid_is_accepted_with_its_card() {
    let settings = settings();
    let sent = sent(&settings, None);
    let (accepted, refused) = accept_bids(
        "dsp-one",
        &sent,
        answer("auction-1", "EUR", vec![bid("2", 1.5, &good_adm())]),
        &settings,
    );
    assert_eq!(refused, []);
    assert_eq!(
        accepted,
        [OutsideBid {
            bidder: "dsp-one".into(),
            auction_id: "auction-1".into(),
            imp_id: "2".into(),
            bid_id: "b-2".into(),
            price_cpm_micros: 1_500_000,
            title: "Shoes that last".into(),
            cta_text: "Shop now".into(),
            click_url: "https://shoes.example/buy".into(),
            image_url: "https://cdn.bidder.example/a.jpg".into(),
            image_id: None,
            advertiser_domain: "shoes.example".into(),
            nurl: Some("https://dsp.example/win?p=${AUCTION_PRICE}".into()),
            burl: Some("https://dsp.example/bill".into()),
            lurl: None,
        }]
    );
    // Native 1.0's wrapping is read too.
    let wrapped = format!("{{\"native\": {}}}", good_adm());
    let (accepted, _) = accept_bids(
        "dsp-one",
        &sent,
        answer("auction-1", "EUR", vec![bid("1", 0.25, &wrapped)]),
        &settings,
    );
    assert_eq!(accepted.len(), 1, "a bid at the floor is accepted");
}

#[test]
fn bids_outside_the_rules_are_refused_each_for_its_reason() {
    let settings = settings();
    let sent = sent(&settings, None);
    let refusal = |answer: BidResponse| {
        let (accepted, refused) = accept_bids("dsp-one", &sent, answer, &settings);
        assert_eq!(accepted, []);
        assert_eq!(refused.len(), 1);
        refused[0].why
    };
    let one = |b: Value| answer("auction-1", "EUR", vec![b]);
    assert_eq!(
        refusal(answer("auction-2", "EUR", vec![bid("1", 2.0, &good_adm())])),
        Refusal::OtherAuction
    );
    assert_eq!(refusal(one(bid("3", 2.0, &good_adm()))), Refusal::UnknownImp);
    assert_eq!(refusal(one(bid("1", 0.2499, &good_adm()))), Refusal::UnderFloor);
    assert_eq!(
        refusal(answer("auction-1", "USD", vec![bid("1", 2.0, &good_adm())])),
        Refusal::OtherCurrency
    );
    // No currency said is USD, as the standard has it.
    let mut no_cur: Value = json!({"id": "auction-1", "seatbid": [{"bid": [bid("1", 2.0, &good_adm())]}]});
    assert_eq!(refusal(serde_json::from_value(no_cur.take()).unwrap()), Refusal::OtherCurrency);

    let mut without_adm = bid("1", 2.0, "");
    without_adm.as_object_mut().unwrap().remove("adm");
    assert_eq!(refusal(one(without_adm)), Refusal::BadMarkup);
    let long_title = "x".repeat(41);
    for adm in [
        "<div>banner</div>".to_owned(),
        native(
            &long_title,
            "https://cdn.bidder.example/a.jpg",
            "Shop now",
            "https://shoes.example/buy",
        ),
        native("Shoes", "https://cdn.bidder.example/a.jpg", "", "https://shoes.example/buy"),
        native("Shoes", "https://cdn.bidder.example/a.jpg", "Shop now", "javascript:alert(1)"),
        native("Shoes", "https://cdn.bidder.example/a.jpg", "Shop now", "http://shoes.example/buy"),
    ] {
        assert_eq!(refusal(one(bid("1", 2.0, &adm))), Refusal::BadMarkup, "{adm}");
    }
    for image in [
        "https://evil.example/a.jpg",
        "http://cdn.bidder.example/a.jpg",
        "https://user@cdn.bidder.example/a.jpg",
        "http://127.0.0.1:4001/a.jpg",
        "data:image/png;base64,AAAA",
    ] {
        let adm = native("Shoes", image, "Shop now", "https://shoes.example/buy");
        assert_eq!(refusal(one(bid("1", 2.0, &adm))), Refusal::ImageHostNotAllowed, "{image}");
    }
    let mut no_domain = bid("1", 2.0, &good_adm());
    no_domain["adomain"] = json!([]);
    assert_eq!(refusal(one(no_domain)), Refusal::NoAdvertiserDomain);
    let mut odd_domain = bid("1", 2.0, &good_adm());
    odd_domain["adomain"] = json!(["<b>shoes</b>"]);
    assert_eq!(refusal(one(odd_domain)), Refusal::NoAdvertiserDomain);
}

#[test]
fn notices_have_their_macros_filled() {
    let settings = settings();
    let sent = sent(&settings, None);
    let mut b = bid("2", 1.5, &good_adm());
    b["nurl"] =
        json!("https://dsp.example/win?a=${AUCTION_ID}&b=${AUCTION_BID_ID}&i=${AUCTION_IMP_ID}&p=${AUCTION_PRICE}&c=${AUCTION_CURRENCY}");
    b["burl"] = json!("https://dsp.example/bill?p=${AUCTION_PRICE}");
    b["lurl"] = json!("https://dsp.example/loss?l=${AUCTION_LOSS}&a=${AUCTION_ID}");
    let (accepted, _) = accept_bids("dsp-one", &sent, answer("auction-1", "EUR", vec![b.clone()]), &settings);
    let won = &accepted[0];
    assert_eq!(
        won.win_notice("EUR", 1_250_000).unwrap(),
        "https://dsp.example/win?a=auction-1&b=b-2&i=2&p=1.25&c=EUR"
    );
    assert_eq!(won.billing_notice("EUR", 2_000_000).unwrap(), "https://dsp.example/bill?p=2");
    assert_eq!(
        won.loss_notice("EUR", LOST_TO_HIGHER_BID).unwrap(),
        "https://dsp.example/loss?l=102&a=auction-1"
    );
    // A refused bid's loss notice is filled but for its reason, which the refusal gives.
    b["price"] = json!(0.1);
    let (_, refused) = accept_bids("dsp-one", &sent, answer("auction-1", "EUR", vec![b]), &settings);
    assert_eq!(refused[0].why.loss_code(), 100);
    assert_eq!(
        refused[0].lurl.as_deref(),
        Some("https://dsp.example/loss?l=${AUCTION_LOSS}&a=auction-1")
    );
    let plain = OutsideBid { nurl: None, ..won.clone() };
    assert_eq!(plain.win_notice("EUR", 1), None);
}

#[test]
fn an_image_on_a_listed_host_and_port_may_be_http() {
    let settings = settings();
    assert!(image_host_allowed("http://127.0.0.1:4000/a.png", &settings));
    assert!(image_host_allowed("https://cdn.bidder.example/x/y.jpg?z=1", &settings));
    assert!(!image_host_allowed("https://cdn.bidder.example.evil.example/a.jpg", &settings));
}
