//! Helpers for the advertiser half: accounts, creatives, campaigns, and the viewers' side of ads.

#![allow(dead_code)]

use super::app::{ADMIN_TOKEN, TestApp};
use super::contract::SendChecked;
use super::images;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

impl TestApp {
    /// A request with the admin token.
    pub fn as_admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(ADMIN_TOKEN)
    }

    /// A request with an advertiser's API key.
    pub fn as_advertiser(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(key)
    }

    /// Creates an advertiser; returns (id, API key).
    pub async fn create_advertiser(&self, name: &str) -> (String, String) {
        let r = self
            .as_admin(Method::POST, "/v1/admin/advertisers")
            .json(&json!({ "name": name }))
            .send_checked()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["api_key"].as_str().unwrap().to_owned(),
        )
    }

    /// Uploads a creative with `image` and the given text parts (no defaults).
    pub async fn upload_creative_parts(&self, key: &str, image: Option<Vec<u8>>, fields: &[(&str, &str)]) -> Response {
        let mut form = Form::new();
        if let Some(bytes) = image {
            form = form.part(
                "image",
                Part::bytes(bytes)
                    .file_name("creative")
                    .mime_str("application/octet-stream")
                    .unwrap(),
            );
        }
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        self.as_advertiser(Method::POST, "/v1/creatives", key)
            .multipart(form)
            .send_checked()
            .await
            .expect("upload sent")
    }

    /// Uploads `image` with good text fields.
    pub async fn upload_creative(&self, key: &str, image: Vec<u8>) -> Response {
        self.upload_creative_parts(key, Some(image), &GOOD_FIELDS).await
    }

    /// Uploads a small creative; returns its id (pending review).
    pub async fn new_creative(&self, key: &str) -> String {
        let r = self.upload_creative(key, images::jpeg(270, 480)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    pub async fn review(&self, creative: &str, body: Value) -> Response {
        self.as_admin(Method::POST, &format!("/v1/admin/creatives/{creative}/review"))
            .json(&body)
            .send_checked()
            .await
            .unwrap()
    }

    pub async fn approve(&self, creative: &str) {
        let r = self.review(creative, json!({"decision": "approve"})).await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// Uploads and approves a creative; returns its id.
    pub async fn approved_creative(&self, key: &str) -> String {
        let id = self.new_creative(key).await;
        self.approve(&id).await;
        id
    }

    pub async fn post_campaign(&self, key: &str, body: &Value) -> Response {
        self.as_advertiser(Method::POST, "/v1/campaigns", key)
            .json(body)
            .send_checked()
            .await
            .unwrap()
    }

    /// Creates a campaign; returns it.
    pub async fn create_campaign(&self, key: &str, body: &Value) -> Value {
        let r = self.post_campaign(key, body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "creating {body}");
        r.json().await.unwrap()
    }

    pub async fn patch_campaign(&self, key: &str, id: &str, body: &Value) -> Response {
        self.as_advertiser(Method::PATCH, &format!("/v1/campaigns/{id}"), key)
            .json(body)
            .send_checked()
            .await
            .unwrap()
    }

    pub async fn get_as(&self, key: &str, path: &str) -> Response {
        self.as_advertiser(Method::GET, path, key).send_checked().await.unwrap()
    }

    pub async fn get_json_as(&self, key: &str, path: &str) -> Value {
        let r = self.get_as(key, path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    /// The store this app uses (for producing ad events, which have no endpoint of their own here).
    pub fn store(&self) -> statusd::store::Store {
        statusd::store::Store::new(&self.settings.redis).unwrap()
    }

    /// Every string value this app stored, with its key.
    pub async fn string_values(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for key in self.keys().await {
            let kind: String = self.redis(redis::cmd("TYPE").arg(&key)).await;
            if kind == "string" {
                let value: Vec<u8> = self.redis(redis::cmd("GET").arg(&key)).await;
                out.push((key, value));
            }
        }
        out
    }
}

pub const GOOD_FIELDS: [(&str, &str); 3] = [
    ("headline", "Fresh beans, roasted daily"),
    ("cta_label", "Shop now"),
    ("cta_url", "https://shop.example.com/beans"),
];

/// A valid campaign body: anyone, running from an hour ago for thirty days.
pub fn campaign_body(creatives: &[&str]) -> Value {
    let now = chrono::Utc::now();
    json!({
        "name": "Winter blend",
        "creative_ids": creatives,
        "targeting": {"countries": [], "languages": [], "interests": []},
        "bid_cpm_micros": 2_000_000,
        "budget_micros": 100_000_000,
        "daily_budget_micros": 10_000_000,
        "start_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "end_at": (now + chrono::Duration::days(30)).to_rfc3339(),
        "frequency_cap": {"impressions": 3, "per_seconds": 3600},
        "pacing": "even",
    })
}

/// `base` with `patch`'s top-level fields set (a `null` removes the field).
pub fn with(mut base: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

/// `viewer` and `authors` authors who are mutual contacts, each with one live story.
pub async fn world(app: &TestApp, viewer: &str, authors: usize) {
    let names: Vec<String> = (0..authors).map(|i| format!("{viewer}-author{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    app.set_contacts(viewer, &refs).await;
    for name in &names {
        app.set_contacts(name, &[viewer]).await;
        app.post_text(name, "hello").await;
    }
}

/// An advertiser with one approved creative and a running campaign (`patch` over the default
/// body, pacing asap). Returns (advertiser id, API key, campaign id).
pub async fn running_campaign(app: &TestApp, name: &str, patch: Value) -> (String, String, String) {
    let (id, key) = app.create_advertiser(name).await;
    let creative = app.approved_creative(&key).await;
    let body = with(with(campaign_body(&[&creative]), json!({"pacing": "asap"})), patch);
    let campaign = app.create_campaign(&key, &body).await;
    (id, key, campaign["id"].as_str().unwrap().to_owned())
}

pub fn ads_of(feed: &Value) -> Vec<Value> {
    feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "ad")
        .map(|i| i["ad"].clone())
        .collect()
}

/// Polls the viewer's feed until it carries `n` ads (the index picks campaigns up within
/// `ads.index_refresh_ms`); returns that feed.
pub async fn feed_with_ads(app: &TestApp, viewer: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let feed = app.feed(viewer).await;
        if ads_of(&feed).len() >= n {
            return feed;
        }
        assert!(Instant::now() < deadline, "no {n} ads in {feed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn totals(app: &TestApp, key: &str, campaign: &str) -> Value {
    app.get_json_as(key, &format!("/v1/campaigns/{campaign}/report")).await["total"].clone()
}

pub async fn impress(app: &TestApp, viewer: &str, token: &str) {
    let r = app
        .req(Method::POST, &format!("/v1/ads/{token}/impression"), viewer)
        .send_checked()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// Sends an ad action (`click`, `hide`) for `viewer`; answers its status.
pub async fn ad_action(app: &TestApp, viewer: &str, token: &str, action: &str) -> StatusCode {
    let r = app
        .req(Method::POST, &format!("/v1/ads/{token}/{action}"), viewer)
        .send_checked()
        .await
        .unwrap();
    r.status()
}

/// The token of the first ad in a feed of `viewer` (polled until one comes).
pub async fn ad_token(app: &TestApp, viewer: &str) -> String {
    ads_of(&feed_with_ads(app, viewer, 1).await)[0]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The token of an ad of `advertiser` (an id) in a feed of `viewer` (polled until one comes).
pub async fn ad_token_of(app: &TestApp, viewer: &str, advertiser: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let feed = app.feed(viewer).await;
        if let Some(ad) = ads_of(&feed).into_iter().find(|ad| ad["advertiser"]["id"] == advertiser) {
            return ad["token"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no ad of {advertiser} in {feed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
