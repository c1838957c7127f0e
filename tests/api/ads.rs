//! Ads in the feed and the viewer's actions on them, end to end through HTTP on real Redis.

use crate::both_backends;
use crate::support::advertising::{ads_of, campaign_body, feed_with_ads, impress, running_campaign, totals, with, world};
use crate::support::app::{Backend, TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::support::contract::SendChecked;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

both_backends!(
    ads_are_spliced_between_authors,
    ad_free_and_selector_none_serve_no_ads,
    an_admin_reads_a_users_entitlements,
    impressions_are_billed_once_at_the_clearing_price,
    tokens_must_be_ours_and_the_callers,
    frequency_caps_hold,
    daily_cap_per_viewer_holds,
    hide_block_and_preferences,
    interest_targeting_needs_consent,
    clicks_and_why,
    reports_send_a_creative_back_to_review,
    paused_campaigns_stop_serving,
);

async fn ads_are_spliced_between_authors(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, "v", 12).await;
    let mut keys = Vec::new();
    for name in ["Acme", "Bolt", "Cora", "Dune"] {
        keys.push(running_campaign(&app, name, json!({})).await.1);
    }
    // A second, richer campaign of Acme's: still never two Acme ads on one page.
    let creative = app.approved_creative(&keys[0]).await;
    app.create_campaign(
        &keys[0],
        &with(campaign_body(&[&creative]), json!({"pacing": "asap", "bid_cpm_micros": 9_000_000})),
    )
    .await;
    let feed = feed_with_ads(&app, "v", 3).await;
    let kinds: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    let mut expected = vec!["author"; 12];
    for at in [10, 6, 2] {
        expected.insert(at, "ad");
    }
    assert_eq!(
        kinds, expected,
        "first after 2 authors, then every 4, at most 3, an author on both sides"
    );
    let ads = ads_of(&feed);
    let mut by: Vec<&str> = ads.iter().map(|a| a["advertiser"]["id"].as_str().unwrap()).collect();
    by.sort();
    by.dedup();
    assert_eq!(by.len(), 3, "never one advertiser twice on a page");
    for ad in &ads {
        assert_eq!(ad["sponsored"], true);
        assert!(ad["token"].as_str().unwrap().len() > 20);
        assert!(["Acme", "Bolt", "Cora", "Dune"].contains(&ad["advertiser"]["name"].as_str().unwrap()));
        assert_eq!(ad["headline"], "Fresh beans, roasted daily");
        assert_eq!(ad["cta"], json!({"label": "Shop now", "url": "https://shop.example.com/beans"}));
        let media = app.get(ad["media_url"].as_str().unwrap(), "v").await;
        assert_eq!(media.status(), 200);
        assert_eq!(media.headers()["content-type"], "image/jpeg");
        assert_eq!(app.get(ad["thumb_url"].as_str().unwrap(), "v").await.status(), 200);
    }
    // Muted authors carry no ads, and a short page has none.
    let mute = app.req(Method::PUT, "/v1/me/muted/v-author0", "v").send_checked().await.unwrap();
    assert_eq!(mute.status(), StatusCode::NO_CONTENT);
    let feed = app.feed("v").await;
    assert_eq!(crate::support::app::authors(&feed["muted"]), ["v-author0"]);
    assert_eq!(feed["muted"].as_array().unwrap().len(), 1, "no ad among the muted: {feed}");
    assert!(!crate::support::app::authors(&feed["items"]).contains(&"v-author0".to_owned()));
    let small = app.get_json("/v1/feed?limit=2", "v").await;
    assert!(ads_of(&small).is_empty());
    let three = app.get_json("/v1/feed?limit=3", "v").await;
    let kinds: Vec<&str> = three["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["author", "author", "ad", "author"]);
}

async fn ad_free_and_selector_none_serve_no_ads(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, "v", 4).await;
    world(&app, "w", 4).await;
    running_campaign(&app, "Acme", json!({})).await;
    feed_with_ads(&app, "v", 1).await;
    let r = app
        .as_admin(Method::PATCH, "/v1/admin/users/v")
        .json(&json!({"ad_free": true}))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"id": "v", "ad_free": true}));
    assert!(ads_of(&app.feed("v").await).is_empty());
    assert_eq!(ads_of(&feed_with_ads(&app, "w", 1).await).len(), 1, "others still see ads");
    // Bad entitlement requests change nothing.
    for body in [json!({"ad_free": "yes"}), json!({}), json!({"ad_free": true, "x": 1})] {
        let r = app
            .as_admin(Method::PATCH, "/v1/admin/users/w")
            .json(&body)
            .send_checked()
            .await
            .unwrap();
        assert_problem(r, 400, "validation_failed").await;
    }
    let r = app
        .as_admin(Method::PATCH, "/v1/admin/users/bad%20id")
        .json(&json!({"ad_free": true}))
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 400, "validation_failed").await;
    let r = app
        .req(Method::PATCH, "/v1/admin/users/w", "w")
        .json(&json!({"ad_free": true}))
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 401, "unauthorized").await;
    assert_eq!(ads_of(&app.feed("w").await).len(), 1);
    let r = app
        .as_admin(Method::PATCH, "/v1/admin/users/v")
        .json(&json!({"ad_free": false}))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    feed_with_ads(&app, "v", 1).await;

    let none = spawn_app_with(backend, |s| s.ads.selector = statusd::config::SelectorName::None).await;
    world(&none, "v", 4).await;
    running_campaign(&none, "Acme", json!({})).await;
    // The same data served with the auction selector shows the ad: the campaign is eligible.
    let mut auction_settings = none.settings.clone();
    auction_settings.ads.selector = statusd::config::SelectorName::Auction;
    let auction = crate::support::app::spawn_with_settings(backend, auction_settings).await;
    auction.wait_ready().await;
    feed_with_ads(&auction, "v", 1).await;
    assert!(ads_of(&none.feed("v").await).is_empty());
    let metrics = none.get("/metrics", "").await.text().await.unwrap();
    let suppressed: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"statusd_ad_slots_total{outcome="suppressed"} "#))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(suppressed >= 1.0, "the slot was offered and suppressed: {metrics}");
}

async fn an_admin_reads_a_users_entitlements(backend: Backend) {
    let app = spawn_app(backend).await;
    let entitlements = |id: &'static str| {
        let app = &app;
        async move {
            let r = app
                .as_admin(Method::GET, &format!("/v1/admin/users/{id}"))
                .send_checked()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    // A user nobody granted anything, known to the service or not, has no entitlement.
    assert_eq!(entitlements("v").await, json!({"id": "v", "ad_free": false}));
    for ad_free in [true, false] {
        let r = app
            .as_admin(Method::PATCH, "/v1/admin/users/v")
            .json(&json!({ "ad_free": ad_free }))
            .send_checked()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(entitlements("v").await, json!({"id": "v", "ad_free": ad_free}));
    }
    let r = app.as_admin(Method::GET, "/v1/admin/users/bad%20id").send_checked().await.unwrap();
    assert_problem(r, 400, "validation_failed").await;
    let r = app.req(Method::GET, "/v1/admin/users/v", "v").send_checked().await.unwrap();
    assert_problem(r, 401, "unauthorized").await;
}

async fn impressions_are_billed_once_at_the_clearing_price(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, "v", 3).await;
    // A lone bidder pays the reserve: 100,000 CPM → 100 micros per impression.
    let (_, key, campaign) = running_campaign(&app, "Acme", json!({})).await;
    let ad = ads_of(&feed_with_ads(&app, "v", 1).await).remove(0);
    let token = ad["token"].as_str().unwrap();
    for _ in 0..3 {
        impress(&app, "v", token).await;
    }
    let total = totals(&app, &key, &campaign).await;
    assert_eq!(
        (total["impressions"].as_u64(), total["spend_micros"].as_i64()),
        (Some(1), Some(100)),
        "{total}"
    );
    assert_eq!(total["unique_reach"], 1);
    assert_eq!(
        ads_of(&app.feed("v").await).len(),
        1,
        "the token was spent, the campaign still serves"
    );

    // Two bidders (a fresh deployment, so that no click-through history skews the quality factors):
    // the winner pays what beats the runner-up, the runner-up (alone in the next slot) the reserve.
    let app = spawn_app(backend).await;
    world(&app, "v", 7).await;
    let (_, key_a, campaign_a) = running_campaign(&app, "Acme", json!({"bid_cpm_micros": 2_000_000})).await;
    let (_, key_b, campaign_b) = running_campaign(&app, "Bolt", json!({"bid_cpm_micros": 1_000_000})).await;
    let ads = ads_of(&feed_with_ads(&app, "v", 2).await);
    assert_eq!(
        (ads[0]["advertiser"]["name"].as_str(), ads[1]["advertiser"]["name"].as_str()),
        (Some("Acme"), Some("Bolt"))
    );
    for ad in &ads {
        impress(&app, "v", ad["token"].as_str().unwrap()).await;
    }
    assert_eq!(
        totals(&app, &key_a, &campaign_a).await["spend_micros"],
        1_000,
        "1,000,000 CPM: Bolt's bid at equal quality"
    );
    assert_eq!(totals(&app, &key_b, &campaign_b).await["spend_micros"], 100, "the reserve");
}

async fn tokens_must_be_ours_and_the_callers(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.ads.token_ttl_secs = 1).await;
    world(&app, "v", 3).await;
    let (_, key, campaign) = running_campaign(&app, "Acme", json!({})).await;
    let token = ads_of(&feed_with_ads(&app, "v", 1).await)[0]["token"].as_str().unwrap().to_owned();
    let (payload, signature) = token.split_once('.').unwrap();
    let forged = format!("{payload}.{}", signature.chars().rev().collect::<String>());
    for action in ["impression", "click", "hide"] {
        for (user, t) in [("mallory", token.as_str()), ("v", forged.as_str()), ("v", "garbage"), ("v", "a.b")] {
            assert_problem(
                app.req(Method::POST, &format!("/v1/ads/{t}/{action}"), user)
                    .send_checked()
                    .await
                    .unwrap(),
                404,
                "not_found",
            )
            .await;
        }
    }
    assert_problem(app.get(&format!("/v1/ads/{token}/why"), "mallory").await, 404, "not_found").await;
    assert_problem(
        app.req(Method::POST, &format!("/v1/ads/{token}/impression"), "")
            .send_checked()
            .await
            .unwrap(),
        401,
        "unauthorized",
    )
    .await;
    let why = format!("/v1/ads/{token}/why");
    let expired = || async { app.get(&why, "v").await.status() == StatusCode::NOT_FOUND };
    crate::support::app::eventually(Duration::from_secs(5), "the token expires", expired).await;
    assert_problem(
        app.req(Method::POST, &format!("/v1/ads/{token}/impression"), "v")
            .send_checked()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let total = totals(&app, &key, &campaign).await;
    assert_eq!(
        (total["impressions"].as_u64(), total["clicks"].as_u64(), total["hides"].as_u64()),
        (Some(0), Some(0), Some(0))
    );
}

async fn frequency_caps_hold(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, "v", 3).await;
    let (_, key, campaign) = running_campaign(&app, "Acme", json!({"frequency_cap": {"impressions": 2, "per_seconds": 3600}})).await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(ads_of(&feed_with_ads(&app, "v", 1).await)[0]["token"].as_str().unwrap().to_owned());
    }
    for t in &tokens {
        impress(&app, "v", t).await;
    }
    assert_eq!(
        totals(&app, &key, &campaign).await["impressions"],
        2,
        "the third is past the cap: answered, not counted"
    );
    assert!(
        ads_of(&app.feed("v").await).is_empty(),
        "a capped campaign no longer serves to this viewer"
    );
    world(&app, "w", 3).await;
    feed_with_ads(&app, "w", 1).await;
}

async fn daily_cap_per_viewer_holds(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.ads.daily_cap_per_viewer = 2).await;
    world(&app, "v", 3).await;
    let (_, key_a, campaign_a) = running_campaign(&app, "Acme", json!({"frequency_cap": {"impressions": 100, "per_seconds": 60}})).await;
    for _ in 0..2 {
        let t = ads_of(&feed_with_ads(&app, "v", 1).await)[0]["token"].as_str().unwrap().to_owned();
        impress(&app, "v", &t).await;
    }
    assert_eq!(totals(&app, &key_a, &campaign_a).await["impressions"], 2);
    let feed = app.feed("v").await;
    assert!(ads_of(&feed).is_empty(), "daily cap reached");
}

async fn hide_block_and_preferences(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, "v", 3).await;
    let (acme, key, campaign) = running_campaign(&app, "Acme", json!({})).await;
    let token = ads_of(&feed_with_ads(&app, "v", 1).await)[0]["token"].as_str().unwrap().to_owned();
    impress(&app, "v", &token).await;
    let prefs = app.get_json("/v1/me/ad-preferences", "v").await;
    assert_eq!(
        prefs,
        json!({"recent_advertisers": [{"id": acme, "name": "Acme"}], "blocked_advertisers": []})
    );
    // Block: no Acme ads; unblock: back.
    assert_eq!(
        app.req(Method::PUT, &format!("/v1/me/blocked-advertisers/{acme}"), "v")
            .send_checked()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(ads_of(&app.feed("v").await).is_empty());
    assert_eq!(
        app.get_json("/v1/me/ad-preferences", "v").await["blocked_advertisers"],
        json!([{"id": acme, "name": "Acme"}])
    );
    assert_eq!(app.delete(&format!("/v1/me/blocked-advertisers/{acme}"), "v").await.status(), 204);
    feed_with_ads(&app, "v", 1).await;
    assert_problem(
        app.req(Method::PUT, "/v1/me/blocked-advertisers/bad%20id", "v")
            .send_checked()
            .await
            .unwrap(),
        400,
        "validation_failed",
    )
    .await;
    // Hide: this campaign never again for this viewer; counted once.
    for _ in 0..2 {
        assert_eq!(app.post(&format!("/v1/ads/{token}/hide"), "v").await.status(), 204);
    }
    assert!(ads_of(&app.feed("v").await).is_empty());
    assert_eq!(totals(&app, &key, &campaign).await["hides"], 1);
    // Erasing the viewer erases their ad history too.
    assert_eq!(app.delete("/v1/me", "v").await.status(), 204);
    assert!(app.keys().await.iter().all(|k| !k.contains("{u:v}")));
}

async fn interest_targeting_needs_consent(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, "v", 3).await;
    app.send_json(
        Method::PATCH,
        "/v1/me/settings",
        "v",
        &json!({"interests": ["football"], "country": "DE"}),
    )
    .await;
    running_campaign(
        &app,
        "Acme",
        json!({"targeting": {"countries": ["DE"], "languages": [], "interests": ["football"]}}),
    )
    .await;
    // Give the index time to load the campaign, then check that it never reaches "v".
    let (_, _, _) = running_campaign(
        &app,
        "Probe",
        json!({"targeting": {"countries": ["FR"], "languages": [], "interests": []}}),
    )
    .await;
    world(&app, "fr", 3).await;
    app.send_json(Method::PATCH, "/v1/me/settings", "fr", &json!({"country": "FR"}))
        .await;
    feed_with_ads(&app, "fr", 1).await;
    for _ in 0..5 {
        assert!(ads_of(&app.feed("v").await).is_empty(), "no consent: interests are not used");
    }
    app.send_json(Method::PATCH, "/v1/me/settings", "v", &json!({"personalized_ads": true}))
        .await;
    let ad = ads_of(&feed_with_ads(&app, "v", 1).await).remove(0);
    assert_eq!(ad["advertiser"]["name"], "Acme");
    let why = app.get_json(&format!("/v1/ads/{}/why", ad["token"].as_str().unwrap()), "v").await;
    assert_eq!(why["personalized"], true);
    let reasons = why["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(reasons.contains("DE") && reasons.contains("football"), "{reasons}");
    app.send_json(Method::PATCH, "/v1/me/settings", "v", &json!({"personalized_ads": false}))
        .await;
    assert!(ads_of(&app.feed("v").await).is_empty());
}

async fn clicks_and_why(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, "v", 3).await;
    let (_, key, campaign) = running_campaign(&app, "Acme", json!({})).await;
    let token = ads_of(&feed_with_ads(&app, "v", 1).await)[0]["token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let r = app.post(&format!("/v1/ads/{token}/click"), "v").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"url": "https://shop.example.com/beans"}));
    }
    assert_eq!(totals(&app, &key, &campaign).await["clicks"], 1, "counted once per token");
    let why = app.get_json(&format!("/v1/ads/{token}/why"), "v").await;
    assert_eq!(why["personalized"], false);
    assert!(why["reasons"][0].as_str().unwrap().contains("not targeted"));
}

async fn reports_send_a_creative_back_to_review(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.ads.reports_to_review = 2).await;
    let (_, key, _) = running_campaign(&app, "Acme", json!({})).await;
    let mut tokens = Vec::new();
    for viewer in ["v1", "v2"] {
        world(&app, viewer, 3).await;
        tokens.push(
            ads_of(&feed_with_ads(&app, viewer, 1).await)[0]["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for bad in [json!({}), json!({"reason": ""}), json!({"reason": "x".repeat(501)})] {
        assert_problem(
            app.post_json(&format!("/v1/ads/{}/report", tokens[0]), "v1", &bad).await,
            400,
            "validation_failed",
        )
        .await;
    }
    // One viewer reporting twice counts once.
    for _ in 0..2 {
        assert_eq!(
            app.post_json(&format!("/v1/ads/{}/report", tokens[0]), "v1", &json!({"reason": "misleading"}))
                .await
                .status(),
            204
        );
    }
    let creatives = app.get_json_as(&key, "/v1/creatives").await;
    assert_eq!(creatives["creatives"][0]["status"], "approved");
    assert_eq!(
        app.post_json(&format!("/v1/ads/{}/report", tokens[1]), "v2", &json!({"reason": "spam"}))
            .await
            .status(),
        204
    );
    let creatives = app.get_json_as(&key, "/v1/creatives").await;
    assert_eq!(creatives["creatives"][0]["status"], "pending_review");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ads_of(&app.feed("v1").await).is_empty() {
        assert!(Instant::now() < deadline, "creative under review still serving");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn paused_campaigns_stop_serving(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, "v", 3).await;
    let (_, key, campaign) = running_campaign(&app, "Acme", json!({})).await;
    feed_with_ads(&app, "v", 1).await;
    let r = app.patch_campaign(&key, &campaign, &json!({"status": "paused"})).await;
    assert_eq!(r.status(), 200);
    // Served by this instance within ads.index_refresh_ms (100 ms here) — allow for a busy machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ads_of(&app.feed("v").await).is_empty() {
        assert!(Instant::now() < deadline, "paused campaign still serving");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.patch_campaign(&key, &campaign, &json!({"status": "active"})).await;
    feed_with_ads(&app, "v", 1).await;
}

/// Two statusd instances on one Redis (the same key prefix), both ready.
async fn two_instances(backend: Backend) -> (TestApp, TestApp) {
    two_instances_with(backend, |_| {}).await
}

async fn two_instances_with(backend: Backend, tweak: impl FnOnce(&mut statusd::config::Settings)) -> (TestApp, TestApp) {
    let mut settings = crate::support::app::test_settings(backend);
    tweak(&mut settings);
    let one = crate::support::app::spawn_with_settings(backend, settings.clone()).await;
    let two = crate::support::app::spawn_with_settings(backend, settings).await;
    one.wait_ready().await;
    two.wait_ready().await;
    (one, two)
}

/// Reports every (viewer, token) impression at once, alternating between the two instances; each
/// is answered 204, billable or not.
async fn impress_all_at_once(one: &TestApp, two: &TestApp, tokens: &[(String, String)]) {
    let requests = tokens.iter().enumerate().map(|(i, (viewer, token))| {
        let app = if i % 2 == 0 { one } else { two };
        async move {
            app.req(Method::POST, &format!("/v1/ads/{token}/impression"), viewer)
                .send_checked()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::NO_CONTENT), "{statuses:?}");
}

/// Two instances on one Redis, many concurrent impressions: budgets and caps hold exactly.
async fn two_instances_hold_budgets_and_caps(backend: Backend) {
    let (one, two) = two_instances(backend).await;
    // 57 viewers with a token each, and 7 more tokens for viewer0: 64 impressions at once.
    let viewers: Vec<String> = (0..57).map(|i| format!("viewer{i}")).collect();
    let viewer_refs: Vec<&str> = viewers.iter().map(String::as_str).collect();
    for author in ["a0", "a1", "a2"] {
        one.set_contacts(author, &viewer_refs).await;
    }
    for v in &viewers {
        one.set_contacts(v, &["a0", "a1", "a2"]).await;
    }
    for author in ["a0", "a1", "a2"] {
        one.post_text(author, "hi").await;
    }
    // Budget: 10 impressions at the reserve (100 micros each).
    let (_, key, campaign) =
        running_campaign(&one, "Acme", json!({"bid_cpm_micros": 100_000, "budget_micros": 1_000, "daily_budget_micros": null, "frequency_cap": {"impressions": 3, "per_seconds": 3600}})).await;
    // Tokens first (nothing is spent yet, so every feed carries the ad), from both instances.
    let mut tokens = Vec::new();
    for (i, v) in viewers.iter().enumerate() {
        let app = if i % 2 == 0 { &one } else { &two };
        tokens.push((
            v.clone(),
            ads_of(&feed_with_ads(app, v, 1).await)[0]["token"].as_str().unwrap().to_owned(),
        ));
    }
    // One viewer holds 8 tokens for the same campaign: their cap is 3.
    for _ in 0..7 {
        tokens.push((
            "viewer0".into(),
            ads_of(&feed_with_ads(&two, "viewer0", 1).await)[0]["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    impress_all_at_once(&one, &two, &tokens).await;
    let total = totals(&one, &key, &campaign).await;
    assert_eq!(
        (total["impressions"].as_u64(), total["spend_micros"].as_i64()),
        (Some(10), Some(1_000)),
        "{total}"
    );
    // Shown past the budget, charged nothing: all but the 10 billed and viewer0's capped ones (≤ 5).
    let unbilled = total["unbilled"].as_u64().unwrap();
    assert!((64 - 10 - 5..=64 - 10).contains(&unbilled), "{total}");
    // Viewer0's cap held too: among the billed impressions, at most 3 are theirs.
    let counted: Vec<(String, f64)> = one
        .redis(
            redis::cmd("ZRANGE")
                .arg(format!("{}{{u:viewer0}}:ads:impressions", one.settings.redis.key_prefix))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES"),
        )
        .await;
    assert!(counted.len() <= 3, "{counted:?}");
    // The exhausted campaign stops serving on both instances.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ads_of(&one.feed("viewer5").await).is_empty() || !ads_of(&two.feed("viewer6").await).is_empty() {
        assert!(Instant::now() < deadline, "an exhausted campaign still serves");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two instances, one viewer, eight tokens fired at once: exactly the frequency cap is counted.
async fn two_instances_hold_frequency_caps(backend: Backend) {
    let (one, two) = two_instances(backend).await;
    world(&one, "v", 3).await;
    let (_, key, campaign) = running_campaign(&one, "Acme", json!({"frequency_cap": {"impressions": 3, "per_seconds": 3600}})).await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        let app = if i % 2 == 0 { &one } else { &two };
        tokens.push(ads_of(&feed_with_ads(app, "v", 1).await)[0]["token"].as_str().unwrap().to_owned());
    }
    let tokens: Vec<(String, String)> = tokens.into_iter().map(|t| ("v".to_string(), t)).collect();
    impress_all_at_once(&one, &two, &tokens).await;
    let total = totals(&one, &key, &campaign).await;
    assert_eq!(
        (total["impressions"].as_u64(), total["spend_micros"].as_i64()),
        (Some(3), Some(300)),
        "{total}"
    );
}

/// Polls both instances' feeds until neither carries an ad; panics after `within`.
async fn no_ads_on_either(one: &TestApp, two: &TestApp, viewer: &str, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while !ads_of(&one.feed(viewer).await).is_empty() || !ads_of(&two.feed(viewer).await).is_empty() {
        assert!(Instant::now() < deadline, "{what}: still served after {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Instances that would not notice a change for a minute by themselves (no poll, no reload): what
/// they stop serving within seconds, they stopped because they were told.
fn deaf(settings: &mut statusd::config::Settings) {
    settings.ads.index_refresh_ms = 60_000;
    settings.ads.stats_refresh_ms = 60_000;
}

/// The impression that spends a campaign's budget is announced: neither instance serves it again,
/// its status reads `exhausted` on both, and a card handed out before is shown unbilled.
async fn a_spent_budget_leaves_every_instance_at_once(backend: Backend) {
    let (one, two) = two_instances_with(backend, deaf).await;
    world(&one, "v", 3).await;
    world(&one, "w", 3).await;
    // One impression at the bid costs 2,000; a lone bidder pays the reserve, 100: after the first
    // impression less than one impression at the bid is left.
    let (_, key, campaign) = running_campaign(
        &one,
        "Acme",
        json!({"bid_cpm_micros": 2_000_000, "budget_micros": 2_000, "daily_budget_micros": null}),
    )
    .await;
    let token = ads_of(&feed_with_ads(&one, "v", 1).await)[0]["token"].as_str().unwrap().to_owned();
    let handed_out = ads_of(&feed_with_ads(&two, "w", 1).await)[0]["token"].as_str().unwrap().to_owned();
    feed_with_ads(&one, "w", 1).await;
    impress(&two, "v", &token).await;
    no_ads_on_either(&one, &two, "w", Duration::from_secs(5), "a spent campaign").await;
    for instance in [&one, &two] {
        let c = instance.get_json_as(&key, &format!("/v1/campaigns/{campaign}")).await;
        assert_eq!(
            (c["status"].as_str(), c["spent_micros"].as_i64()),
            (Some("exhausted"), Some(100)),
            "{c}"
        );
    }
    // The card handed out before is still answered, and counted as given away.
    impress(&one, "w", &handed_out).await;
    let total = totals(&one, &key, &campaign).await;
    assert_eq!(
        (
            total["impressions"].as_u64(),
            total["spend_micros"].as_i64(),
            total["unbilled"].as_u64()
        ),
        (Some(1), Some(100), Some(1)),
        "{total}"
    );
}

/// The same for today's budget: the campaign stays `active` (it serves again the next UTC day),
/// but no instance serves it today.
async fn a_spent_daily_budget_leaves_every_instance_at_once(backend: Backend) {
    let (one, two) = two_instances_with(backend, deaf).await;
    world(&one, "v", 3).await;
    let (_, key, campaign) = running_campaign(&one, "Acme", json!({"bid_cpm_micros": 2_000_000, "daily_budget_micros": 2_000})).await;
    let token = ads_of(&feed_with_ads(&two, "v", 1).await)[0]["token"].as_str().unwrap().to_owned();
    feed_with_ads(&one, "v", 1).await;
    impress(&one, "v", &token).await;
    no_ads_on_either(&one, &two, "v", Duration::from_secs(5), "a campaign with today's budget spent").await;
    let c = two.get_json_as(&key, &format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(
        (c["status"].as_str(), c["spent_micros"].as_i64()),
        (Some("active"), Some(100)),
        "{c}"
    );
}

/// A campaign whose `end_at` passes leaves every index at that instant, without a reload.
async fn an_ended_campaign_leaves_every_instance_at_once(backend: Backend) {
    let (one, two) = two_instances_with(backend, deaf).await;
    world(&one, "v", 3).await;
    let end = chrono::Utc::now() + chrono::Duration::seconds(3);
    let (_, key, campaign) = running_campaign(&one, "Acme", json!({"end_at": end.to_rfc3339()})).await;
    feed_with_ads(&one, "v", 1).await;
    feed_with_ads(&two, "v", 1).await;
    let left = (end - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left).await;
    // Any feed served from now on is past end_at: none may carry the campaign.
    assert!(ads_of(&one.feed("v").await).is_empty());
    assert!(ads_of(&two.feed("v").await).is_empty());
    let c = two.get_json_as(&key, &format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(c["status"], "completed");
}

/// An instance that never hears the announcements (its Redis user may not subscribe to any
/// channel) still follows every change within `ads.index_refresh_ms` (here 1 s; the bound allows
/// one more second for a loaded machine), by the campaigns version it polls.
async fn an_instance_that_hears_nothing_follows_within_the_refresh(backend: Backend) {
    const REFRESH: Duration = Duration::from_millis(1_000);
    let mut settings = crate::support::app::test_settings(backend);
    settings.ads.index_refresh_ms = REFRESH.as_millis() as u64;
    settings.ads.stats_refresh_ms = 60_000;
    let one = crate::support::app::spawn_with_settings(backend, settings.clone()).await;
    // The same Redis user on every node (ACLs are per node): anything but channels.
    let nodes = if settings.redis.cluster_nodes.is_empty() {
        vec![settings.redis.url.clone()]
    } else {
        settings.redis.cluster_nodes.clone()
    };
    for node in &nodes {
        let mut conn = redis::Client::open(node.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "statusd-deaf", "on", ">deaf-password", "~*", "resetchannels", "+@all"])
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let as_deaf = |url: &str| url.replacen("redis://", "redis://statusd-deaf:deaf-password@", 1);
    settings.redis.url = as_deaf(&settings.redis.url);
    settings.redis.cluster_nodes = settings.redis.cluster_nodes.iter().map(|u| as_deaf(u)).collect();
    let deaf = crate::support::app::spawn_with_settings(backend, settings).await;
    one.wait_ready().await;
    deaf.wait_ready().await;
    world(&one, "v", 3).await;
    assert!(ads_of(&deaf.feed("v").await).is_empty());

    let (_, key, campaign) = running_campaign(&one, "Acme", json!({})).await;
    let created = Instant::now();
    feed_with_ads(&deaf, "v", 1).await;
    assert!(
        created.elapsed() < REFRESH * 2,
        "a new campaign served after {:?}",
        created.elapsed()
    );

    let r = one.patch_campaign(&key, &campaign, &json!({"status": "paused"})).await;
    assert_eq!(r.status(), 200);
    let paused = Instant::now();
    while !ads_of(&deaf.feed("v").await).is_empty() {
        assert!(
            paused.elapsed() < REFRESH * 2,
            "a paused campaign still served after {:?}",
            paused.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

both_backends!(
    an_instance_that_hears_nothing_follows_within_the_refresh,
    two_instances_hold_budgets_and_caps,
    two_instances_hold_frequency_caps,
    a_spent_budget_leaves_every_instance_at_once,
    a_spent_daily_budget_leaves_every_instance_at_once,
    an_ended_campaign_leaves_every_instance_at_once,
);

/// Ad selection failing never fails the feed: the page comes without ads, and the metric says so.
async fn a_failing_selection_serves_the_page_without_ads(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, "v", 3).await;
    running_campaign(&app, "Acme", json!({})).await;
    feed_with_ads(&app, "v", 1).await;
    // Break the viewer's ad state in Redis (a string where a set belongs): reading it now fails.
    let _: () = app
        .redis(
            redis::cmd("SET")
                .arg(format!("{}{{u:v}}:ads:hidden", app.settings.redis.key_prefix))
                .arg("not a set"),
        )
        .await;
    let feed = app.feed("v").await;
    assert_eq!(crate::support::app::authors(&feed["items"]).len(), 3, "the stories are all there");
    assert!(ads_of(&feed).is_empty());
    let metrics = app.get("/metrics", "").await.text().await.unwrap();
    assert!(metrics.contains(r#"statusd_ad_slots_total{outcome="timed_out"} 1"#), "{metrics}");
}

both_backends!(a_failing_selection_serves_the_page_without_ads);
