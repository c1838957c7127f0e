//! Reports count what viewers did with the ads in their feeds: every event here is sent as a viewer
//! sends it (`/v1/ads/{token}/impression|click|hide|report`), at the present time.

use crate::both_backends;
use crate::support::advertising::{ad_action, ad_token, impress, running_campaign, world};
use crate::support::app::{Backend, TestApp, assert_problem, spawn_app, spawn_app_with};
use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

both_backends!(
    hourly_and_daily_buckets,
    csv_has_a_header_and_a_row_per_bucket,
    spend_never_exceeds_the_daily_budget,
    spend_never_exceeds_the_budget,
    daily_budgets_are_per_utc_day_at_the_store,
    bad_report_queries_are_refused,
    buckets_expire_after_the_retention,
);

/// The price of an impression: the campaigns here bid the reserve, 2,500,000 CPM, which is what a
/// lone bidder pays; a budget is spent out once what is left cannot pay one impression at the bid.
const PRICE_MICROS: i64 = 2_500;

/// A deployment where a lone campaign pays [`PRICE_MICROS`] per impression, with `viewers` who
/// each see its ads, and that campaign (`patch` over the default, bidding the reserve, asap).
/// Returns (app, API key, campaign id).
async fn campaign_with_viewers(backend: Backend, viewers: &[&str], patch: Value) -> (TestApp, String, String) {
    let app = spawn_app_with(backend, |s| s.ads.reserve_cpm_micros = PRICE_MICROS * 1_000).await;
    for viewer in viewers {
        world(&app, viewer, 3).await;
    }
    let mut patch = patch;
    patch["bid_cpm_micros"] = json!(PRICE_MICROS * 1_000);
    let (_, key, id) = running_campaign(&app, "Acme", patch).await;
    (app, key, id)
}

/// Waits, if the current hour ends within the next 20 s, until it has: a test's events then fall
/// in one hour (and one day), so that its buckets can be checked exactly.
async fn clear_of_the_hour_end() -> DateTime<Utc> {
    let now = Utc::now();
    let hour_end = now.duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(1);
    if hour_end - now < Duration::seconds(20) {
        tokio::time::sleep((hour_end - now + Duration::milliseconds(100)).to_std().unwrap()).await;
    }
    Utc::now()
}

fn secs(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn enc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn hourly_and_daily_buckets(backend: Backend) {
    let (app, key, id) = campaign_with_viewers(backend, &["ann", "bob"], json!({})).await;
    let now = clear_of_the_hour_end().await;
    // ann sees the ad twice (two feeds), bob once; ann taps it, bob hides it, ann reports it.
    let ann_first = ad_token(&app, "ann").await;
    impress(&app, "ann", &ann_first).await;
    let ann_second = ad_token(&app, "ann").await;
    impress(&app, "ann", &ann_second).await;
    let bob = ad_token(&app, "bob").await;
    impress(&app, "bob", &bob).await;
    assert_eq!(ad_action(&app, "ann", &ann_second, "click").await, StatusCode::OK);
    assert_eq!(ad_action(&app, "bob", &bob, "hide").await, StatusCode::NO_CONTENT);
    let reported = app
        .post_json(&format!("/v1/ads/{ann_first}/report"), "ann", &json!({"reason": "misleading"}))
        .await;
    assert_eq!(reported.status(), StatusCode::NO_CONTENT);

    let expected = json!({"impressions": 3, "clicks": 1, "ctr": 1.0 / 3.0, "unique_reach": 2,
        "spend_micros": 3 * PRICE_MICROS, "hides": 1, "reports": 1, "unbilled": 0});
    let hour = now.duration_trunc(Duration::hours(1)).unwrap();
    let (from, to) = (secs(hour - Duration::hours(1)), secs(hour + Duration::hours(1)));
    let url = format!("/v1/campaigns/{id}/report?granularity=hour&from={}&to={}", enc(&from), enc(&to));
    let r = app.get_json_as(&key, &url).await;
    assert_eq!(
        (r["campaign_id"].as_str(), r["granularity"].as_str()),
        (Some(id.as_str()), Some("hour"))
    );
    let mut this_hour = expected.clone();
    this_hour["start"] = json!(secs(hour));
    let mut hour_before = json!({"impressions": 0, "clicks": 0, "ctr": 0.0, "unique_reach": 0,
        "spend_micros": 0, "hides": 0, "reports": 0, "unbilled": 0});
    hour_before["start"] = json!(from);
    assert_eq!(r["buckets"], json!([hour_before, this_hour]), "{r}");
    assert_eq!(r["total"], expected);

    // The default: the last 7 days by day, today included.
    let days = app.get_json_as(&key, &format!("/v1/campaigns/{id}/report")).await;
    assert_eq!(days["granularity"], "day");
    let buckets = days["buckets"].as_array().unwrap();
    let starts: Vec<String> = (0..8)
        .rev()
        .map(|d| secs(now.duration_trunc(Duration::days(1)).unwrap() - Duration::days(d)))
        .collect();
    let got: Vec<&str> = buckets.iter().map(|b| b["start"].as_str().unwrap()).collect();
    assert_eq!(got, starts);
    assert!(buckets[..7].iter().all(|b| b["impressions"] == 0), "{days}");
    assert_eq!(buckets[7]["unique_reach"], 2);
    assert_eq!(days["total"], expected);
    // The campaign shows the money spent.
    let c = app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await;
    assert_eq!(c["spent_micros"], 3 * PRICE_MICROS);
}

async fn csv_has_a_header_and_a_row_per_bucket(backend: Backend) {
    let (app, key, id) = campaign_with_viewers(backend, &["ann"], json!({})).await;
    let now = clear_of_the_hour_end().await;
    let token = ad_token(&app, "ann").await;
    impress(&app, "ann", &token).await;
    assert_eq!(ad_action(&app, "ann", &token, "click").await, StatusCode::OK);
    let today = now.date_naive();
    let (day, next) = (today.to_string(), (today + Duration::days(2)).to_string());
    let r = app
        .get_as(&key, &format!("/v1/campaigns/{id}/report?format=csv&from={day}&to={next}"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let tomorrow = today + Duration::days(1);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "start,impressions,clicks,ctr,unique_reach,spend_micros,hides,reports,unbilled".to_owned(),
            format!("{day}T00:00:00Z,1,1,1,1,{PRICE_MICROS},0,0,0"),
            format!("{tomorrow}T00:00:00Z,0,0,0,0,0,0,0,0"),
        ]
    );
    // `report.csv` is the same answer, for clients that type an operation's answer by one content type.
    let r = app
        .get_as(&key, &format!("/v1/campaigns/{id}/report.csv?from={day}&to={next}"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(r.text().await.unwrap(), text);
    let r = app.get_as(&key, &format!("/v1/campaigns/{id}/report.csv?format=json")).await;
    assert_problem(r, 400, "validation_failed").await;
}

/// Six viewers, each holding a token of the campaign, send their impressions at once: the ones
/// the budget pays for are billed, the rest are counted as shown but unbilled.
async fn impressions_at_once(app: &TestApp, viewers: &[&str]) {
    let mut tokens = Vec::new();
    for viewer in viewers {
        tokens.push(ad_token(app, viewer).await);
    }
    let sent = viewers.iter().zip(&tokens).map(|(viewer, token)| impress(app, viewer, token));
    futures_util::future::join_all(sent).await;
}

const SIX: [&str; 6] = ["v0", "v1", "v2", "v3", "v4", "v5"];

async fn spend_never_exceeds_the_daily_budget(backend: Backend) {
    // The daily budget buys 2 impressions, the budget 4.
    let budgets = json!({"budget_micros": 4 * PRICE_MICROS, "daily_budget_micros": 2 * PRICE_MICROS});
    let (app, key, id) = campaign_with_viewers(backend, &SIX, budgets).await;
    clear_of_the_hour_end().await;
    impressions_at_once(&app, &SIX).await;
    let c = app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await;
    assert_eq!(c["spent_micros"], 2 * PRICE_MICROS);
    assert_eq!(c["status"], "active", "the budget still pays for tomorrow");
    let report = app.get_json_as(&key, &format!("/v1/campaigns/{id}/report")).await;
    assert_eq!(
        (
            report["total"]["impressions"].as_i64(),
            report["total"]["spend_micros"].as_i64(),
            report["total"]["unbilled"].as_i64()
        ),
        (Some(2), Some(2 * PRICE_MICROS), Some(4)),
        "{report}"
    );
}

async fn spend_never_exceeds_the_budget(backend: Backend) {
    let budgets = json!({"budget_micros": 4 * PRICE_MICROS, "daily_budget_micros": null});
    let (app, key, id) = campaign_with_viewers(backend, &SIX, budgets).await;
    impressions_at_once(&app, &SIX).await;
    let c = app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await;
    assert_eq!(
        (c["spent_micros"].as_i64(), c["status"].as_str()),
        (Some(4 * PRICE_MICROS), Some("exhausted"))
    );
    let report = app.get_json_as(&key, &format!("/v1/campaigns/{id}/report")).await;
    assert_eq!(
        (
            report["total"]["impressions"].as_i64(),
            report["total"]["spend_micros"].as_i64(),
            report["total"]["unbilled"].as_i64()
        ),
        (Some(4), Some(4 * PRICE_MICROS), Some(2)),
        "{report}"
    );
}

/// A daily budget is spent per UTC day and the budget over all days. Events are recorded at the
/// present time through HTTP, so this one rule, which needs other days, is checked where it is
/// kept: the store's counting script, given the event's time.
async fn daily_budgets_are_per_utc_day_at_the_store(backend: Backend) {
    use statusd::store::reports::{AdEvent, Recorded};
    let budgets = json!({"budget_micros": 4 * PRICE_MICROS, "daily_budget_micros": 2 * PRICE_MICROS});
    let (app, key, id) = campaign_with_viewers(backend, &[], budgets).await;
    let store = app.store();
    let day = Utc::now().duration_trunc(Duration::days(1)).unwrap();
    let impression = AdEvent::Impression {
        viewer: "v",
        price_micros: PRICE_MICROS,
    };
    let record = |at: DateTime<Utc>| store.record_ad_event(&id, impression, at, 90);
    let two_days_ago = day - Duration::days(2) + Duration::hours(23);
    assert_eq!(record(two_days_ago).await.unwrap(), Recorded::Counted);
    assert_eq!(
        record(two_days_ago).await.unwrap(),
        Recorded::CountedAndSpentOut,
        "the daily budget buys two"
    );
    assert_eq!(record(two_days_ago).await.unwrap(), Recorded::OverBudget);
    let yesterday = day - Duration::days(1);
    assert_eq!(record(yesterday).await.unwrap(), Recorded::Counted, "a new day, a new daily budget");
    assert_eq!(
        record(yesterday).await.unwrap(),
        Recorded::CountedAndSpentOut,
        "and the budget four"
    );
    assert_eq!(record(day).await.unwrap(), Recorded::OverBudget);
    let c = app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await;
    assert_eq!(
        (c["spent_micros"].as_i64(), c["status"].as_str()),
        (Some(4 * PRICE_MICROS), Some("exhausted"))
    );
    // Events of a campaign that does not exist change nothing.
    let unknown = store.record_ad_event("no-such-campaign", impression, day, 90).await.unwrap();
    assert_eq!(unknown, Recorded::NoCampaign);
    assert!(app.keys().await.iter().all(|k| !k.contains("{c:no-such-campaign}")));
}

async fn bad_report_queries_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key, id) = running_campaign(&app, "Acme", json!({})).await;
    for q in [
        "from=2026-11-25&to=2026-11-24",
        "from=2026-11-25&to=2026-11-25",
        "granularity=week",
        "format=xml",
        "from=yesterday",
        "to=2026-02-30",
        "from=2024-01-01&to=2026-01-01",
        "granularity=hour&from=2026-01-01&to=2026-06-01",
    ] {
        let r = app.get_as(&key, &format!("/v1/campaigns/{id}/report?{q}")).await;
        assert_problem(r, 400, "validation_failed").await;
    }
    let (_, other) = app.create_advertiser("Books").await;
    assert_problem(app.get_as(&other, &format!("/v1/campaigns/{id}/report")).await, 404, "not_found").await;
    assert_problem(app.get(&format!("/v1/campaigns/{id}/report"), "alice").await, 401, "unauthorized").await;
    assert_problem(app.get_as(&key, "/v1/campaigns/none/report").await, 404, "not_found").await;
}

async fn buckets_expire_after_the_retention(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.reports.retention_days = 2).await;
    world(&app, "ann", 3).await;
    let (_, key, id) = running_campaign(&app, "Acme", json!({})).await;
    let at = clear_of_the_hour_end().await;
    let token = ad_token(&app, "ann").await;
    impress(&app, "ann", &token).await;
    assert_eq!(app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await["spent_micros"], 100);
    let hour_end = at.duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(1);
    let day_end = at.duration_trunc(Duration::days(1)).unwrap() + Duration::days(1);
    let mut checked = 0;
    for k in app.keys().await.into_iter().filter(|k| k.contains(&format!("{{c:{id}}}"))) {
        let expires: i64 = app.redis(redis::cmd("PEXPIRETIME").arg(&k)).await;
        if k.contains(":b:h") || k.contains(":r:h") {
            assert_eq!(expires, (hour_end + Duration::days(2)).timestamp_millis(), "{k}");
            checked += 1;
        } else if k.contains(":b:d") || k.contains(":r:d") {
            assert_eq!(expires, (day_end + Duration::days(2)).timestamp_millis(), "{k}");
            checked += 1;
        } else {
            assert_eq!(expires, -1, "{k}: the campaign itself never expires");
        }
    }
    assert_eq!(checked, 4);
}
