use crate::both_backends;
use crate::support::advertising::{ad_token, ad_token_of, campaign_body, impress, with, world};
use crate::support::app::{Backend, TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::support::contract::SendChecked;
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    campaign_round_trip,
    every_bad_field_is_refused_and_changes_nothing,
    lifecycle,
    patch_changes_fields_and_bad_patches_change_nothing,
    advertisers_see_only_their_own_campaigns,
    changes_are_announced_and_saves_never_cross,
);

async fn campaign_count(app: &TestApp) -> usize {
    app.keys()
        .await
        .iter()
        .filter(|k| k.contains("{c:") && k.ends_with(":campaign"))
        .count()
}

async fn campaign_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let (acme_id, key) = app.create_advertiser("Acme").await;
    let creative = app.approved_creative(&key).await;
    let body = with(
        campaign_body(&[&creative, &creative]),
        json!({"targeting": {"countries": ["de", "AT"], "languages": ["DE"], "interests": ["Coffee", "coffee"]}}),
    );
    let c = app.create_campaign(&key, &body).await;
    assert_eq!(c["status"], "active");
    assert_eq!(c["advertiser_id"], acme_id.as_str());
    assert_eq!(c["creative_ids"], json!([creative]));
    assert_eq!(
        c["targeting"],
        json!({"countries": ["DE", "AT"], "languages": ["de"], "interests": ["coffee"]})
    );
    for field in [
        "name",
        "bid_cpm_micros",
        "budget_micros",
        "daily_budget_micros",
        "frequency_cap",
        "pacing",
    ] {
        assert_eq!(c[field], body[field], "{field}");
    }
    assert_eq!(c["spent_micros"], 0);
    let id = c["id"].as_str().unwrap();
    assert_eq!(app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await, c);
    let list = app.get_json_as(&key, "/v1/campaigns").await;
    assert_eq!(list["campaigns"], json!([c]));
    assert!(list["next_cursor"].is_null());
    // Absent targeting means anyone; the daily budget is optional.
    let anyone = app
        .create_campaign(
            &key,
            &with(campaign_body(&[&creative]), json!({"targeting": null, "daily_budget_micros": null})),
        )
        .await;
    assert_eq!(anyone["targeting"], json!({"countries": [], "languages": [], "interests": []}));
    assert!(anyone.get("daily_budget_micros").is_none());
    // Newest first, paginated.
    let page = app.get_json_as(&key, "/v1/campaigns?limit=1").await;
    assert_eq!(page["campaigns"][0]["id"], anyone["id"]);
    let next = app
        .get_json_as(
            &key,
            &format!("/v1/campaigns?limit=1&cursor={}", page["next_cursor"].as_str().unwrap()),
        )
        .await;
    assert_eq!(next["campaigns"][0]["id"], c["id"]);
    // Campaigns are not ephemeral.
    for k in app
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains("{c:") || k.contains("{campaigns}"))
    {
        let ttl: i64 = app.redis(redis::cmd("PTTL").arg(&k)).await;
        assert_eq!(ttl, -1, "{k} expires");
    }
}

async fn every_bad_field_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key) = app.create_advertiser("Acme").await;
    let (_, other_key) = app.create_advertiser("Books").await;
    let approved = app.approved_creative(&key).await;
    let pending = app.new_creative(&key).await;
    let rejected = app.new_creative(&key).await;
    let r = app.review(&rejected, json!({"decision": "reject", "reason": "no"})).await;
    assert_eq!(r.status(), 200);
    let theirs = app.approved_creative(&other_key).await;
    let now = Utc::now();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": ""}), "name"),
        (json!({"name": "n".repeat(101)}), "name"),
        (json!({"creative_ids": []}), "creative_ids"),
        (json!({"creative_ids": [pending]}), "creative_ids[0]"),
        (json!({"creative_ids": [approved, rejected]}), "creative_ids[1]"),
        (json!({"creative_ids": [theirs]}), "creative_ids[0]"),
        (json!({"creative_ids": ["no-such-creative"]}), "creative_ids[0]"),
        (json!({"creative_ids": ["{bad}"]}), "creative_ids[0]"),
        (json!({"targeting": {"countries": ["XX"]}}), "targeting.countries[0]"),
        (json!({"targeting": {"countries": ["DE", "DEU"]}}), "targeting.countries[1]"),
        (json!({"targeting": {"languages": ["english"]}}), "targeting.languages[0]"),
        (json!({"targeting": {"interests": ["no spaces"]}}), "targeting.interests[0]"),
        (json!({"bid_cpm_micros": 0}), "bid_cpm_micros"),
        (json!({"bid_cpm_micros": -5}), "bid_cpm_micros"),
        // One impression at a 2,000,000 CPM costs 2,000.
        (json!({"budget_micros": 1_999, "daily_budget_micros": null}), "budget_micros"),
        (json!({"daily_budget_micros": 1_999}), "daily_budget_micros"),
        (json!({"daily_budget_micros": 200_000_000}), "daily_budget_micros"),
        (json!({"start_at": "tomorrow"}), "start_at"),
        (json!({"end_at": "2026-13-01T00:00:00Z"}), "end_at"),
        (
            json!({"end_at": (now - Duration::minutes(1)).to_rfc3339(), "start_at": (now - Duration::days(2)).to_rfc3339()}),
            "end_at",
        ),
        (json!({"start_at": (now + Duration::days(40)).to_rfc3339()}), "end_at"),
        (
            json!({"frequency_cap": {"impressions": 0, "per_seconds": 60}}),
            "frequency_cap.impressions",
        ),
        (
            json!({"frequency_cap": {"impressions": 1, "per_seconds": 0}}),
            "frequency_cap.per_seconds",
        ),
    ];
    for (patch, field) in cases {
        let body = with(campaign_body(&[&approved]), patch.clone());
        let p = assert_problem(app.post_campaign(&key, &body).await, 400, "validation_failed").await;
        let fields: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{patch}: {p}");
    }
    // Wrong shapes and missing fields.
    for patch in [
        json!({"pacing": "fast"}),
        json!({"pacing": null}),
        json!({"frequency_cap": null}),
        json!({"bid_cpm_micros": 1.5}),
        json!({"budget_micros": "lots"}),
        json!({"status": "paused"}),
        json!({"colour": "red"}),
        json!({"targeting": {"cities": ["Berlin"]}}),
        json!({"frequency_cap": {"impressions": 1}}),
    ] {
        let body = with(campaign_body(&[&approved]), patch);
        assert_problem(app.post_campaign(&key, &body).await, 400, "validation_failed").await;
    }
    // Every error at once.
    let all = json!({"name": "", "creative_ids": [], "bid_cpm_micros": 0, "budget_micros": 0, "daily_budget_micros": 0,
        "start_at": "x", "end_at": "y", "frequency_cap": {"impressions": 0, "per_seconds": 0}, "pacing": "asap"});
    let p = assert_problem(app.post_campaign(&key, &all).await, 400, "validation_failed").await;
    assert!(p["errors"].as_array().unwrap().len() >= 8, "{p}");
    // Not the advertiser.
    let r = app.post_json("/v1/campaigns", "alice", &campaign_body(&[&approved])).await;
    assert_problem(r, 401, "unauthorized").await;
    assert_eq!(campaign_count(&app).await, 0);
    assert_eq!(app.get_json_as(&key, "/v1/campaigns").await["campaigns"], json!([]));
    assert_eq!(app.store().all_campaigns(Utc::now()).await.unwrap(), vec![]);
}

/// Campaigns here bid the reserve, 2,000,000 CPM: every impression costs 2,000 micros.
async fn spawn_at_reserve(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.ads.reserve_cpm_micros = 2_000_000).await
}

async fn lifecycle(backend: Backend) {
    let app = spawn_at_reserve(backend).await;
    let (_, key) = app.create_advertiser("Acme").await;
    let creative = app.approved_creative(&key).await;
    let now = Utc::now();
    let later = app
        .create_campaign(
            &key,
            &with(
                campaign_body(&[&creative]),
                json!({"start_at": (now + Duration::days(1)).to_rfc3339()}),
            ),
        )
        .await;
    assert_eq!(later["status"], "scheduled");

    let c = app.create_campaign(&key, &campaign_body(&[&creative])).await;
    let id = c["id"].as_str().unwrap();
    let r = app.patch_campaign(&key, id, &json!({"status": "paused"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "paused");
    assert_eq!(app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await["status"], "paused");
    let r = app.patch_campaign(&key, id, &json!({"status": "active"})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "active");

    // Exhausted once what is left cannot buy one impression at the bid (2,000 micros, the reserve).
    let (bolt_id, bolt) = app.create_advertiser("Bolt").await;
    let small_creative = app.approved_creative(&bolt).await;
    let small = app
        .create_campaign(
            &bolt,
            &with(
                campaign_body(&[&small_creative]),
                json!({"budget_micros": 5_000, "daily_budget_micros": null, "pacing": "asap"}),
            ),
        )
        .await;
    let small_id = small["id"].as_str().unwrap();
    // Three viewers hold its ads; the third impression finds the budget spent.
    let mut tokens = Vec::new();
    for viewer in ["v0", "v1", "v2"] {
        world(&app, viewer, 7).await;
        tokens.push(ad_token_of(&app, viewer, &bolt_id).await);
    }
    for (viewer, token) in ["v0", "v1", "v2"].iter().zip(&tokens) {
        impress(&app, viewer, token).await;
    }
    let report = app.get_json_as(&bolt, &format!("/v1/campaigns/{small_id}/report")).await;
    assert_eq!(
        (report["total"]["impressions"].as_i64(), report["total"]["unbilled"].as_i64()),
        (Some(2), Some(1))
    );
    let small = app.get_json_as(&bolt, &format!("/v1/campaigns/{small_id}")).await;
    assert_eq!(
        (small["status"].as_str(), small["spent_micros"].as_i64()),
        (Some("exhausted"), Some(4_000))
    );
    // More budget brings it back.
    let r = app.patch_campaign(&bolt, small_id, &json!({"budget_micros": 50_000})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "active");

    // Completed after end_at, and then frozen.
    let brief = app
        .create_campaign(
            &key,
            &with(
                campaign_body(&[&creative]),
                json!({"end_at": (Utc::now() + Duration::seconds(2)).to_rfc3339()}),
            ),
        )
        .await;
    let brief_id = brief["id"].as_str().unwrap();
    assert_eq!(brief["status"], "active");
    let path = format!("/v1/campaigns/{brief_id}");
    let completed = || async { app.get_json_as(&key, &path).await["status"] == "completed" };
    crate::support::app::eventually(std::time::Duration::from_secs(10), "the campaign completes", completed).await;
    for patch in [
        json!({"status": "active"}),
        json!({"end_at": (Utc::now() + Duration::days(3)).to_rfc3339()}),
    ] {
        assert_problem(app.patch_campaign(&key, brief_id, &patch).await, 409, "campaign_completed").await;
    }
    // An ended campaign is no longer loaded for serving.
    let serving: Vec<String> = app
        .store()
        .all_campaigns(Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.campaign.id)
        .collect();
    assert!(!serving.contains(&brief_id.to_owned()));
    assert!(serving.contains(&id.to_owned()));
}

async fn patch_changes_fields_and_bad_patches_change_nothing(backend: Backend) {
    let app = spawn_at_reserve(backend).await;
    let (_, key) = app.create_advertiser("Acme").await;
    let creative = app.approved_creative(&key).await;
    let second = app.approved_creative(&key).await;
    let pending = app.new_creative(&key).await;
    let c = app.create_campaign(&key, &campaign_body(&[&creative])).await;
    let id = c["id"].as_str().unwrap();
    // One impression at 2,000 micros (the reserve, which a lone bidder pays).
    world(&app, "v", 3).await;
    let token = ad_token(&app, "v").await;
    impress(&app, "v", &token).await;
    let before = app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await;
    let bad: Vec<(Value, &str)> = vec![
        (json!({"name": " "}), "name"),
        (json!({"creative_ids": [pending]}), "creative_ids[0]"),
        (json!({"creative_ids": []}), "creative_ids"),
        (json!({"targeting": {"countries": ["ZZ"]}}), "targeting.countries[0]"),
        (json!({"bid_cpm_micros": 0}), "bid_cpm_micros"),
        // The daily budget of 10,000,000 cannot buy one impression at this bid.
        (json!({"bid_cpm_micros": 20_000_000_000i64}), "daily_budget_micros"),
        (json!({"budget_micros": 1_000, "daily_budget_micros": null}), "budget_micros"),
        (json!({"end_at": (Utc::now() - Duration::hours(2)).to_rfc3339()}), "end_at"),
        (json!({"start_at": (Utc::now() + Duration::days(60)).to_rfc3339()}), "end_at"),
        (
            json!({"frequency_cap": {"impressions": 0, "per_seconds": 1}}),
            "frequency_cap.impressions",
        ),
    ];
    for (patch, field) in bad {
        let p = assert_problem(app.patch_campaign(&key, id, &patch).await, 400, "validation_failed").await;
        let fields: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{patch}: {p}");
    }
    // Spent 2,000 already: the budget cannot drop below it.
    let p = assert_problem(
        app.patch_campaign(
            &key,
            id,
            &json!({"budget_micros": 1_999, "bid_cpm_micros": 1_000, "daily_budget_micros": null}),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "budget_micros");
    for patch in [
        json!({"status": "completed"}),
        json!({"status": "exhausted"}),
        json!({"id": "other"}),
        json!({"spent_micros": 0}),
        json!({"pacing": "later"}),
    ] {
        assert_problem(app.patch_campaign(&key, id, &patch).await, 400, "validation_failed").await;
    }
    assert_eq!(
        app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await,
        before,
        "nothing changed"
    );

    // Good patches: only what is named changes; null removes the daily budget.
    let r = app
        .patch_campaign(
            &key,
            id,
            &json!({"name": "Spring blend", "creative_ids": [second, creative], "targeting": {"countries": ["fr"]},
                    "daily_budget_micros": null, "pacing": "asap"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["name"], "Spring blend");
    assert_eq!(after["creative_ids"], json!([second, creative]));
    assert_eq!(after["targeting"], json!({"countries": ["FR"], "languages": [], "interests": []}));
    assert!(after.get("daily_budget_micros").is_none());
    assert_eq!(after["pacing"], "asap");
    assert_eq!(after["budget_micros"], before["budget_micros"]);
    assert_eq!(after["spent_micros"], 2_000);
    assert_eq!(after["created_at"], before["created_at"]);
    assert_ne!(after["updated_at"], before["updated_at"]);
    // An empty patch changes nothing but is fine.
    let r = app.patch_campaign(&key, id, &json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Spring blend");
    // A creative rejected after the campaign started does not block other changes.
    let r = app.review(&second, json!({"decision": "reject", "reason": "expired offer"})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "rejected");
    let r = app.patch_campaign(&key, id, &json!({"name": "Summer"})).await;
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["name"], "Summer");
    assert_eq!(
        after["creative_ids"],
        json!([second, creative]),
        "the rejected creative stays listed"
    );
}

async fn advertisers_see_only_their_own_campaigns(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, acme) = app.create_advertiser("Acme").await;
    let (_, books) = app.create_advertiser("Books").await;
    let creative = app.approved_creative(&acme).await;
    let c = app.create_campaign(&acme, &campaign_body(&[&creative])).await;
    let id = c["id"].as_str().unwrap();
    assert_problem(app.get_as(&books, &format!("/v1/campaigns/{id}")).await, 404, "not_found").await;
    assert_problem(app.get_as(&books, &format!("/v1/campaigns/{id}/report")).await, 404, "not_found").await;
    assert_problem(app.patch_campaign(&books, id, &json!({"status": "paused"})).await, 404, "not_found").await;
    assert_problem(app.patch_campaign(&books, id, &json!({"name": ""})).await, 404, "not_found").await;
    assert_eq!(app.get_json_as(&books, "/v1/campaigns").await["campaigns"], json!([]));
    assert_eq!(app.get_json_as(&acme, &format!("/v1/campaigns/{id}")).await, c, "unchanged");
    assert_problem(app.get_as(&acme, "/v1/campaigns/none-such").await, 404, "not_found").await;
    let r = app
        .req(Method::GET, &format!("/v1/campaigns/{id}"), "alice")
        .send_checked()
        .await
        .unwrap();
    assert_problem(r, 401, "unauthorized").await;
}

async fn changes_are_announced_and_saves_never_cross(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key) = app.create_advertiser("Acme").await;
    let creative = app.approved_creative(&key).await;
    let store = app.store();
    let start = store.campaigns_version().await.unwrap();
    let c = app.create_campaign(&key, &campaign_body(&[&creative])).await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(store.campaigns_version().await.unwrap(), start + 1);
    app.patch_campaign(&key, id, &json!({"status": "paused"})).await;
    assert_eq!(store.campaigns_version().await.unwrap(), start + 2);
    // A refused change announces nothing.
    app.patch_campaign(&key, id, &json!({"name": ""})).await;
    assert_eq!(store.campaigns_version().await.unwrap(), start + 2);

    // A save based on a stale read is refused, so concurrent PATCHes never undo each other.
    let stored = store.campaign(id).await.unwrap().unwrap();
    let mut renamed = stored.record.clone();
    renamed.name = "first".into();
    assert!(store.update_campaign(&renamed, stored.version).await.unwrap());
    renamed.name = "second, from a stale read".into();
    assert!(!store.update_campaign(&renamed, stored.version).await.unwrap());
    assert_eq!(store.campaign(id).await.unwrap().unwrap().record.name, "first");
    // Concurrent PATCHes of different fields all land.
    let patches = [
        json!({"name": "Concurrent"}),
        json!({"pacing": "asap"}),
        json!({"budget_micros": 90_000_000}),
        json!({"frequency_cap": {"impressions": 5, "per_seconds": 60}}),
    ];
    let answers = futures_util::future::join_all(patches.iter().map(|p| app.patch_campaign(&key, id, p))).await;
    assert!(answers.iter().all(|r| r.status() == 200));
    let after = app.get_json_as(&key, &format!("/v1/campaigns/{id}")).await;
    assert_eq!(after["name"], "Concurrent");
    assert_eq!(after["pacing"], "asap");
    assert_eq!(after["budget_micros"], 90_000_000);
    assert_eq!(after["frequency_cap"]["impressions"], 5);

    // Announcements also go out on the pub/sub channel (on a cluster, PUBLISH reaches every node).
    {
        let node = app.settings.redis.cluster_nodes.first().unwrap_or(&app.settings.redis.url);
        let client = redis::Client::open(node.as_str()).unwrap();
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        let channel = format!("{}statusd:campaigns", app.settings.redis.key_prefix);
        pubsub.subscribe(&channel).await.unwrap();
        app.patch_campaign(&key, id, &json!({"status": "active"})).await;
        let current = store.campaigns_version().await.unwrap();
        // On a cluster, the announcements of the patches above may still be crossing the cluster
        // bus: read until this patch's own comes.
        let mut messages = pubsub.on_message();
        let announced = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(message) = futures_util::StreamExt::next(&mut messages).await {
                if message.get_payload::<i64>().ok() == Some(current) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(announced, Ok(true), "version {current} was announced");
    }
}
