//! Reports read the counters that ad events write. The viewer-facing ad endpoints are not part of
//! this suite, so events are produced through the store function those endpoints call.

use crate::both_backends;
use crate::support::advertising::{campaign_body, with};
use crate::support::app::{Backend, TestApp, assert_problem, spawn_app, spawn_app_with};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{Value, json};
use statusd::store::reports::{AdEvent, Recorded};

both_backends!(
    hourly_and_daily_buckets,
    csv_has_a_header_and_a_row_per_bucket,
    spend_never_exceeds_the_budgets,
    bad_report_queries_are_refused,
    buckets_expire_after_the_retention,
);

/// An advertiser with a running campaign; returns (key, campaign id).
async fn running_campaign(app: &TestApp, patch: Value) -> (String, String) {
    let (_, key) = app.create_advertiser("Acme").await;
    let creative = app.approved_creative(&key).await;
    let body = with(
        campaign_body(&[&creative]),
        json!({"start_at": (Utc::now() - Duration::days(3)).to_rfc3339()}),
    );
    let c = app.create_campaign(&key, &with(body, patch)).await;
    (key, c["id"].as_str().unwrap().to_owned())
}

async fn event(app: &TestApp, campaign: &str, event: AdEvent<'_>, at: DateTime<Utc>) -> Recorded {
    app.store().record_ad_event(campaign, event, at, 90).await.unwrap()
}

fn impression(viewer: &str) -> AdEvent<'_> {
    AdEvent::Impression {
        viewer,
        price_micros: 2_500,
    }
}

fn yesterday_at(hour: i64, minute: i64) -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::days(1)).unwrap() - Duration::days(1) + Duration::hours(hour) + Duration::minutes(minute)
}

async fn hourly_and_daily_buckets(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, id) = running_campaign(&app, json!({})).await;
    // Yesterday 10:xx: ann twice, bob once, a click, a hide; 11:xx: ann again, a report.
    for (e, at) in [
        (impression("ann"), yesterday_at(10, 5)),
        (impression("ann"), yesterday_at(10, 20)),
        (impression("bob"), yesterday_at(10, 40)),
        (AdEvent::Click, yesterday_at(10, 41)),
        (AdEvent::Hide, yesterday_at(10, 50)),
        (impression("ann"), yesterday_at(11, 0)),
        (AdEvent::Report, yesterday_at(11, 30)),
        (impression("cat"), Utc::now()),
    ] {
        assert_eq!(event(&app, &id, e, at).await, Recorded::Counted);
    }
    let from = yesterday_at(10, 0).to_rfc3339();
    let to = yesterday_at(12, 0).to_rfc3339();
    let url = format!("/v1/campaigns/{id}/report?granularity=hour&from={}&to={}", enc(&from), enc(&to));
    let r = app.get_json_as(&key, &url).await;
    assert_eq!(r["campaign_id"], id.as_str());
    assert_eq!(r["granularity"], "hour");
    let buckets = r["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 2, "{r}");
    assert_eq!(
        buckets[0],
        json!({"start": yesterday_at(10, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "impressions": 3,
               "clicks": 1, "ctr": 1.0 / 3.0, "unique_reach": 2, "spend_micros": 7_500, "hides": 1, "reports": 0, "unbilled": 0})
    );
    assert_eq!(buckets[1]["impressions"], 1);
    assert_eq!(buckets[1]["unique_reach"], 1);
    assert_eq!(buckets[1]["reports"], 1);
    assert_eq!(buckets[1]["ctr"], 0.0);
    // Over the range each viewer counts once.
    assert_eq!(
        r["total"],
        json!({"impressions": 4, "clicks": 1, "ctr": 0.25, "unique_reach": 2, "spend_micros": 10_000, "hides": 1, "reports": 1, "unbilled": 0})
    );
    // The default: the last 7 days by day, today included.
    let days = app.get_json_as(&key, &format!("/v1/campaigns/{id}/report")).await;
    assert_eq!(days["granularity"], "day");
    let buckets = days["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 8);
    assert_eq!(buckets[6]["impressions"], 4);
    assert_eq!(buckets[6]["unique_reach"], 2);
    assert_eq!(buckets[7]["impressions"], 1);
    assert_eq!(days["total"]["impressions"], 5);
    assert_eq!(days["total"]["unique_reach"], 3);
    assert_eq!(days["total"]["spend_micros"], 12_500);
    // The campaign shows the money spent.
    let c = app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await;
    assert_eq!(c["spent_micros"], 12_500);
}

fn enc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn csv_has_a_header_and_a_row_per_bucket(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, id) = running_campaign(&app, json!({})).await;
    event(&app, &id, impression("ann"), yesterday_at(9, 0)).await;
    event(&app, &id, AdEvent::Click, yesterday_at(9, 1)).await;
    let day = yesterday_at(0, 0).format("%Y-%m-%d").to_string();
    let next = (yesterday_at(0, 0) + Duration::days(2)).format("%Y-%m-%d").to_string();
    let r = app
        .get_as(&key, &format!("/v1/campaigns/{id}/report?format=csv&from={day}&to={next}"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[0],
        "start,impressions,clicks,ctr,unique_reach,spend_micros,hides,reports,unbilled"
    );
    assert_eq!(lines[1], format!("{day}T00:00:00Z,1,1,1,1,2500,0,0,0"));
    assert!(lines[2].ends_with(",0,0,0,0,0,0,0,0"), "{}", lines[2]);
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

async fn spend_never_exceeds_the_budgets(backend: Backend) {
    let app = spawn_app(backend).await;
    // 2,500 per impression: the budget buys 4, the daily budget 2 a day.
    let (key, id) = running_campaign(&app, json!({"budget_micros": 10_000, "daily_budget_micros": 5_000})).await;
    let store = app.store();
    let today = Utc::now();
    let viewers: Vec<String> = (0..6).map(|i| format!("v{i}")).collect();
    let burst = viewers.iter().map(|v| store.record_ad_event(&id, impression(v), today, 90));
    let outcomes: Vec<Recorded> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // The second charge leaves less than one impression at the bid in today's budget: it says so.
    assert_eq!(outcomes.iter().filter(|o| **o == Recorded::Counted).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == Recorded::CountedAndSpentOut).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| **o == Recorded::OverBudget).count(), 4);
    // Yesterday's budget is its own.
    for _ in 0..3 {
        event(&app, &id, impression("w"), yesterday_at(8, 0)).await;
    }
    // Total budget: 4 impressions in all, whatever the day.
    assert_eq!(
        event(&app, &id, impression("x"), yesterday_at(0, 0) - Duration::days(1)).await,
        Recorded::OverBudget
    );
    let c = app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await;
    assert_eq!(c["spent_micros"], 10_000);
    assert_eq!(c["status"], "exhausted");
    let report = app.get_json_as(&key, &format!("/v1/campaigns/{id}/report")).await;
    assert_eq!(report["total"]["impressions"], 4);
    assert_eq!(report["total"]["spend_micros"], 10_000);
    // Shown but not paid for: four today, one yesterday and one the day before.
    assert_eq!(report["total"]["unbilled"], 6);
    // Events of a campaign that does not exist change nothing.
    assert_eq!(event(&app, "no-such-campaign", impression("v"), today).await, Recorded::NoCampaign);
    assert!(app.keys().await.iter().all(|k| !k.contains("{c:no-such-campaign}")));
}

async fn bad_report_queries_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, id) = running_campaign(&app, json!({})).await;
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
    let (_, key) = app.create_advertiser("Acme").await;
    let creative = app.approved_creative(&key).await;
    let c = app.create_campaign(&key, &campaign_body(&[&creative])).await;
    let id = c["id"].as_str().unwrap();
    let at = Utc::now();
    let state = statusd::startup::build_state(app.settings.clone()).unwrap();
    let outcome = statusd::advertisers::service::record_ad_event(&state.store, &state.settings, id, impression("ann"), at)
        .await
        .unwrap();
    assert_eq!(outcome, Recorded::Counted);
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
