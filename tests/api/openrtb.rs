//! The `openrtb` selector against a real HTTP bidder (support/bidder.rs): outside bids compete with
//! the house campaigns, bids outside the rules are refused, a late bidder does not hold the page,
//! and what a bidder is told of the viewer is exactly the list the selector promises.

use crate::both_backends;
use crate::support::advertising::{ads_of, feed_with_ads, running_campaign, world};
use crate::support::app::{Backend, TestApp, spawn_app_with};
use crate::support::bidder::{Answer, Bidder};
use crate::support::contract::SendChecked;
use reqwest::Method;
use serde_json::{Value, json};
use statusd::config::{BidderSettings, SelectorName};
use std::time::{Duration, Instant};

both_backends!(
    an_outside_bid_above_the_house_wins_and_pays_the_second_price,
    bids_outside_the_rules_are_refused_and_the_house_ad_is_served,
    a_bidder_past_tmax_does_not_hold_the_page,
    the_bid_request_tells_a_bidder_only_what_the_selector_promises,
    win_billing_and_loss_notices_arrive_once_with_their_macros_filled,
    a_bidder_that_keeps_failing_is_paused_then_tried_again,
);

const OUTSIDE: &str = "rtb_shoes_example";

async fn with_bidder(backend: Backend) -> (TestApp, Bidder) {
    with_bidder_and(backend, |_| {}).await
}

async fn with_bidder_and(backend: Backend, tweak: impl FnOnce(&mut statusd::config::Settings)) -> (TestApp, Bidder) {
    let bidder = Bidder::start();
    let (endpoint, host) = (bidder.endpoint(), bidder.host());
    let app = spawn_app_with(backend, |s| {
        s.ads.selector = SelectorName::Openrtb;
        // Generous for a loaded test machine: the bidders get half, the auction the rest.
        s.ads.deadline_ms = 600;
        s.ads.openrtb.timeout_share = 0.5;
        s.ads.openrtb.bidders = vec![BidderSettings {
            name: "dsp".into(),
            endpoint,
        }];
        s.ads.openrtb.image_hosts = vec![host];
        s.ads.openrtb.app.name = "Chatter".into();
        s.ads.openrtb.app.bundle = "com.example.chatter".into();
        s.ads.openrtb.regs.gdpr = Some(true);
        s.ads.openrtb.regs.us_privacy = Some("1YNN".into());
        tweak(s);
    })
    .await;
    (app, bidder)
}

/// The viewer's feed once it carries an ad of `advertiser` (the first page that sees a new bid
/// image may go without it while the image is fetched); answers that ad.
async fn ad_of(app: &TestApp, viewer: &str, advertiser: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ads = ads_of(&app.feed(viewer).await);
        if let Some(ad) = ads.into_iter().find(|a| a["advertiser"]["id"] == advertiser) {
            return ad;
        }
        assert!(Instant::now() < deadline, "no ad of {advertiser} in {viewer}'s feed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(app: &TestApp, series: &str) -> f64 {
    let metrics = app.get("/metrics", "").await.text().await.unwrap();
    crate::observability::sample(&metrics, series).unwrap_or_else(|| panic!("no {series} in {metrics}"))
}

async fn spend(app: &TestApp) -> f64 {
    metric(app, "statusd_ad_spend_micros_total").await
}

fn requests(outcome: &str) -> String {
    requests_of("dsp", outcome)
}

fn requests_of(bidder: &str, outcome: &str) -> String {
    format!("statusd_openrtb_requests_total{{bidder=\"{bidder}\",outcome=\"{outcome}\"}}")
}

/// Polls `check` until it holds (10 s at most).
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A notice's query parameter.
fn param<'a>(notice: &'a str, name: &str) -> &'a str {
    let query = notice.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_default()
}

/// Reports the impression of `ad`; answers what it cost.
async fn impression(app: &TestApp, viewer: &str, ad: &Value) -> f64 {
    let before = spend(app).await;
    let r = app
        .post(&format!("/v1/ads/{}/impression", ad["token"].as_str().unwrap()), viewer)
        .await;
    assert_eq!(r.status(), 204);
    spend(app).await - before
}

async fn an_outside_bid_above_the_house_wins_and_pays_the_second_price(backend: Backend) {
    let (app, bidder) = with_bidder(backend).await;
    world(&app, "v", 4).await;
    // The house bids 2.00 per thousand; the outside bidder 5.00.
    let (house, _, _) = running_campaign(&app, "Acme", json!({})).await;
    bidder.answer(Answer::default());
    let ad = ad_of(&app, "v", OUTSIDE).await;
    assert_eq!(ad["advertiser"], json!({"id": OUTSIDE, "name": "shoes.example"}));
    assert_eq!(
        (ad["headline"].as_str(), ad["sponsored"].as_bool()),
        (Some("Shoes that last"), Some(true))
    );
    assert_eq!(ad["cta"], json!({"label": "Shop now", "url": "https://shoes.example/buy"}));
    // Its image went through the creative pipeline: statusd serves the 1080×1920 JPEG.
    let media = app.get(ad["media_url"].as_str().unwrap(), "v").await;
    assert_eq!(media.status(), 200);
    let image = image::load_from_memory(&media.bytes().await.unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (1080, 1920));
    assert_eq!(app.get(ad["thumb_url"].as_str().unwrap(), "v").await.status(), 200);

    // Second price: what beats the house's 2.00 (both rank without click history).
    assert_eq!(impression(&app, "v", &ad).await, 2_000.0);
    let click = app.post(&format!("/v1/ads/{}/click", ad["token"].as_str().unwrap()), "v").await;
    assert_eq!(click.status(), 200);
    assert_eq!(click.json::<Value>().await.unwrap()["url"], "https://shoes.example/buy");
    let why = app.get(&format!("/v1/ads/{}/why", ad["token"].as_str().unwrap()), "v").await;
    assert_eq!(why.status(), 200);

    // Under the house, the outside bid sets the house's price: 1.00 per thousand.
    bidder.answer(Answer {
        price: 1.0,
        ..Answer::default()
    });
    let ad = ad_of(&app, "v", &house).await;
    assert_eq!(impression(&app, "v", &ad).await, 1_000.0);
}

async fn bids_outside_the_rules_are_refused_and_the_house_ad_is_served(backend: Backend) {
    let (app, bidder) = with_bidder(backend).await;
    world(&app, "v", 4).await;
    let (house, _, _) = running_campaign(&app, "Acme", json!({})).await;
    // A good bid wins over the house, so that each bad one below is seen refused (its image is
    // already kept, so an accepted bid would show at once).
    bidder.answer(Answer::default());
    ad_of(&app, "v", OUTSIDE).await;
    let not_listed = bidder.base.replace("127.0.0.1", "localhost") + "/image.png";
    for (what, answer) in [
        (
            "under the 0.10 floor",
            Answer {
                price: 0.09,
                ..Answer::default()
            },
        ),
        (
            "for an imp not asked",
            Answer {
                imp: Some("99".into()),
                ..Answer::default()
            },
        ),
        (
            "in another currency",
            Answer {
                currency: "EUR".into(),
                ..Answer::default()
            },
        ),
        (
            "with an image on a host not listed",
            Answer {
                image_url: Some(not_listed.clone()),
                ..Answer::default()
            },
        ),
    ] {
        bidder.answer(answer);
        let asked = bidder.received().len();
        // Long enough for an image on another host to be fetched, were it taken.
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            let feed = feed_with_ads(&app, "v", 1).await;
            let shown: Vec<Value> = ads_of(&feed).iter().map(|a| a["advertiser"]["id"].clone()).collect();
            assert_eq!(shown, [json!(house)], "a bid {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(bidder.received().len() > asked, "the bidder was asked ({what})");
    }
}

async fn a_bidder_past_tmax_does_not_hold_the_page(backend: Backend) {
    // A second bidder is down (nothing listens at its address) all along.
    let (app, bidder) = with_bidder_and(backend, |s| {
        s.ads.openrtb.bidders.push(BidderSettings {
            name: "down".into(),
            endpoint: "http://127.0.0.1:9/bid".into(),
        });
    })
    .await;
    world(&app, "v", 4).await;
    let (house, _, _) = running_campaign(&app, "Acme", json!({})).await;
    // It would win, but answers long after the deadline: the page is served by the deadline,
    // with the house ad (past `ads.deadline_ms` a page goes without any ad).
    bidder.answer(Answer {
        delay: Duration::from_secs(3),
        ..Answer::default()
    });
    let feed = feed_with_ads(&app, "v", 1).await;
    let shown: Vec<Value> = ads_of(&feed).iter().map(|a| a["advertiser"]["id"].clone()).collect();
    assert_eq!(shown, [json!(house)]);
    assert!(!bidder.received().is_empty(), "the bidder was asked");
    assert!(metric(&app, &requests("timeout")).await >= 1.0);
    // One that answers garbage at once is counted as such, and the page has its house ad too.
    bidder.answer(Answer {
        garbage: true,
        ..Answer::default()
    });
    let feed = feed_with_ads(&app, "v", 1).await;
    assert_eq!(ads_of(&feed)[0]["advertiser"]["id"], json!(house));
    assert!(metric(&app, &requests("invalid")).await >= 1.0);
    // One that answers 204, no bid: the same.
    bidder.answer(Answer {
        status: 204,
        ..Answer::default()
    });
    let feed = feed_with_ads(&app, "v", 1).await;
    assert_eq!(ads_of(&feed)[0]["advertiser"]["id"], json!(house));
    assert!(metric(&app, &requests("no_bid")).await >= 1.0);
    assert!(metric(&app, &requests_of("down", "error")).await >= 1.0);
}

async fn the_bid_request_tells_a_bidder_only_what_the_selector_promises(backend: Backend) {
    let (app, bidder) = with_bidder(backend).await;
    let viewer = "viewer-7f3a";
    world(&app, viewer, 4).await;
    let secret = app.post_text(&format!("{viewer}-author0"), "a-secret-story-text").await;
    let settings = json!({"country": "DE", "language": "de", "interests": ["coffee", "books"], "personalized_ads": true});
    let r = app
        .req(Method::PATCH, "/v1/me/settings", viewer)
        .json(&settings)
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    bidder.answer(Answer {
        price: 0.0,
        ..Answer::default()
    });
    app.feed(viewer).await;
    let received = bidder.received();
    let sent = received.last().expect("the bidder was asked");
    assert_eq!(
        (sent.content_type.as_str(), sent.openrtb_version.as_str()),
        ("application/json", "2.6")
    );
    let v = sent.json();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["app", "at", "cur", "device", "id", "imp", "regs", "tmax", "user"]);
    assert_eq!((v["at"].as_u64(), v["cur"].clone()), (Some(2), json!(["USD"])));
    assert!(
        (1..=300).contains(&v["tmax"].as_u64().unwrap()),
        "tmax within the bidders' share: {}",
        v["tmax"]
    );
    assert_eq!(v["app"], json!({"name": "Chatter", "bundle": "com.example.chatter"}));
    assert_eq!(v["device"], json!({"geo": {"country": "DEU"}, "language": "de"}));
    assert_eq!(v["regs"], json!({"gdpr": 1, "us_privacy": "1YNN"}));
    assert_eq!(v["user"]["keywords"], "coffee,books");
    let pseudonym = v["user"]["id"].as_str().unwrap().to_owned();
    assert!(
        pseudonym.len() == 32 && pseudonym.bytes().all(|b| b.is_ascii_hexdigit()),
        "{pseudonym}"
    );
    assert_eq!(v["user"].as_object().unwrap().len(), 2);
    let imps = v["imp"].as_array().unwrap();
    assert_eq!(imps.len(), 1, "one imp per ad slot of the page (4 authors: one slot)");
    assert_eq!(
        (imps[0]["bidfloor"].as_f64(), imps[0]["bidfloorcur"].as_str()),
        (Some(0.1), Some("USD"))
    );
    let native: Value = serde_json::from_str(imps[0]["native"]["request"].as_str().unwrap()).unwrap();
    assert_eq!(native["assets"][1]["img"], json!({"type": 3, "w": 1080, "h": 1920}));
    // Nothing names the viewer, a contact or a story.
    for private in [viewer, "author0", "a-secret-story-text", secret["id"].as_str().unwrap()] {
        assert!(!sent.body.contains(private), "{private} in {}", sent.body);
    }

    // Without consent, no interests; another viewer, another pseudonym; the same one, the same.
    let r = app
        .req(Method::PATCH, "/v1/me/settings", viewer)
        .json(&json!({"personalized_ads": false}))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.feed(viewer).await;
    let again = bidder.received().last().unwrap().json();
    assert!(again["user"].get("keywords").is_none(), "{again}");
    assert_eq!(again["user"]["id"], pseudonym.as_str());
    world(&app, "viewer-other", 4).await;
    app.feed("viewer-other").await;
    let other = bidder.received().last().unwrap().json();
    assert_ne!(other["user"]["id"], pseudonym.as_str());
}

async fn win_billing_and_loss_notices_arrive_once_with_their_macros_filled(backend: Backend) {
    let (app, bidder) = with_bidder(backend).await;
    world(&app, "v", 4).await;
    running_campaign(&app, "Acme", json!({})).await;
    // The first notice is refused with 500: it is tried again, and arrives once.
    bidder.refuse_notices(1);
    bidder.answer(Answer::default());
    let ad = ad_of(&app, "v", OUTSIDE).await;
    impression(&app, "v", &ad).await;
    // A second report of the same impression bills nothing, and sends no second notice.
    impression(&app, "v", &ad).await;
    eventually("the billing notice", async || {
        bidder.notices().iter().any(|n| n.starts_with("/notice/bill"))
    })
    .await;
    eventually("the refused notice tried again", async || {
        metric(
            &app,
            "statusd_openrtb_notices_total{bidder=\"dsp\",kind=\"win\",outcome=\"retried\"}",
        )
        .await
            + metric(
                &app,
                "statusd_openrtb_notices_total{bidder=\"dsp\",kind=\"loss\",outcome=\"retried\"}",
            )
            .await
            >= 1.0
    })
    .await;

    let notices = bidder.notices();
    let bills: Vec<&String> = notices.iter().filter(|n| n.starts_with("/notice/bill")).collect();
    assert_eq!(bills.len(), 1, "{notices:?}");
    let auction = param(bills[0], "a");
    assert_eq!(param(bills[0], "p"), "2", "billed at the second price: 2.00 per thousand");
    let wins: Vec<&String> = notices
        .iter()
        .filter(|n| n.starts_with("/notice/win") && param(n, "a") == auction)
        .collect();
    assert_eq!(wins.len(), 1, "{notices:?}");
    assert_eq!(
        (param(wins[0], "b"), param(wins[0], "i"), param(wins[0], "p"), param(wins[0], "c")),
        ("bid-1", "1", "2", "USD")
    );
    // Every notice once, every macro filled; pages before the image was ready lost it as pending.
    let mut unique = notices.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), notices.len(), "{notices:?}");
    assert!(notices.iter().all(|n| !n.contains("${")), "{notices:?}");
    assert!(
        notices
            .iter()
            .filter(|n| n.starts_with("/notice/loss"))
            .all(|n| param(n, "l") == "201"),
        "{notices:?}"
    );

    // Under the house, the bid loses: a loss notice, lost to a higher bid (102); under the floor,
    // refused: 100.
    for (price, code) in [(1.0, "102"), (0.05, "100")] {
        bidder.answer(Answer {
            price,
            ..Answer::default()
        });
        app.feed("v").await;
        eventually("the loss notice", async || {
            bidder
                .notices()
                .iter()
                .any(|n| n.starts_with("/notice/loss") && param(n, "l") == code)
        })
        .await;
    }
    assert!(metric(&app, "statusd_openrtb_wins_total{bidder=\"dsp\"}").await >= 1.0);
    assert!(metric(&app, "statusd_openrtb_bids_total{bidder=\"dsp\",outcome=\"under_floor\"}").await >= 1.0);
}

async fn a_bidder_that_keeps_failing_is_paused_then_tried_again(backend: Backend) {
    let (app, bidder) = with_bidder_and(backend, |s| {
        s.ads.openrtb.failures_to_pause = 3;
        s.ads.openrtb.pause_secs = 1;
    })
    .await;
    world(&app, "v", 4).await;
    bidder.answer(Answer {
        status: 500,
        ..Answer::default()
    });
    for _ in 0..3 {
        app.feed("v").await;
    }
    assert_eq!(bidder.received().len(), 3);
    // Paused: the next pages do not ask it.
    for _ in 0..3 {
        app.feed("v").await;
    }
    assert_eq!(bidder.received().len(), 3, "skipped while paused");
    assert_eq!(metric(&app, &requests("error")).await, 3.0);
    assert!(metric(&app, &requests("skipped")).await >= 3.0);
    // After the pause one page asks it again; it answers now, and every page asks it.
    bidder.answer(Answer::default());
    eventually("the bidder tried again after its pause", async || {
        app.feed("v").await;
        bidder.received().len() == 4
    })
    .await;
    app.feed("v").await;
    app.feed("v").await;
    assert_eq!(bidder.received().len(), 6, "asked on every page again");
    assert!(metric(&app, &requests("bids")).await >= 3.0);
}
