//! The contract as a generated client sees it: body errors that name their field, and 405s that
//! say what is allowed.

use crate::both_backends;
use crate::support::advertising::campaign_body;
use crate::support::app::{ADMIN_TOKEN, Backend, assert_problem, spawn_app};
use crate::support::contract::SendChecked;
use crate::support::images;
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    every_json_body_error_names_its_field,
    a_405_says_what_is_allowed,
    the_documents_examples_are_accepted_and_its_links_lead_somewhere
);

/// For each JSON endpoint a wrong type, a missing required field and an unknown enum value (where
/// it has one): each is `400 validation_failed` naming the field's path, and nothing changes.
async fn every_json_body_error_names_its_field(backend: Backend) {
    let app = spawn_app(backend).await;
    app.befriend_all(&["alice", "bob"]).await;
    let story = app.post_text("alice", "hello").await;
    let story_id = story["id"].as_str().unwrap();
    let (_, key) = app.create_advertiser("Acme").await;
    let creative = app.approved_creative(&key).await;
    let campaign = app.create_campaign(&key, &campaign_body(&[&creative])).await;
    let campaign_id = campaign["id"].as_str().unwrap();
    let good_campaign = campaign_body(&[&creative]);
    let without = |field: &str| {
        let mut body = good_campaign.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let with = |field: &str, value: Value| {
        let mut body = good_campaign.clone();
        body[field] = value;
        body
    };
    enum As {
        User,
        Advertiser,
        Admin,
    }
    let reactions = format!("/v1/stories/{story_id}/reactions");
    let story_report = format!("/v1/stories/{story_id}/report");
    let campaign_path = format!("/v1/campaigns/{campaign_id}");
    let review = format!("/v1/admin/creatives/{creative}/review");
    let cases: Vec<(As, Method, &str, Value, &str, &str)> = vec![
        (
            As::User,
            Method::PUT,
            "/v1/me/contacts",
            json!({"contacts": "bob"}),
            "contacts",
            "sequence",
        ),
        (
            As::User,
            Method::PUT,
            "/v1/me/contacts",
            json!({"contacts": ["bob", 7]}),
            "contacts[1]",
            "string",
        ),
        (As::User, Method::PUT, "/v1/me/contacts", json!({}), "contacts", "required"),
        (
            As::User,
            Method::PATCH,
            "/v1/me/settings",
            json!({"read_receipts": "yes"}),
            "read_receipts",
            "boolean",
        ),
        (
            As::User,
            Method::PATCH,
            "/v1/me/settings",
            json!({"default_audience": {"mode": "everyone"}}),
            "default_audience.mode",
            "contacts, contacts_except, only",
        ),
        (
            As::User,
            Method::PATCH,
            "/v1/me/settings",
            json!({"default_audience": {}}),
            "default_audience.mode",
            "required",
        ),
        (
            As::User,
            Method::POST,
            "/v1/stories",
            json!({"background": "#000000"}),
            "text",
            "required",
        ),
        (
            As::User,
            Method::POST,
            "/v1/stories",
            json!({"text": "hi", "font": "big"}),
            "font",
            "u8",
        ),
        (
            As::User,
            Method::POST,
            "/v1/stories",
            json!({"text": "hi", "font": -1}),
            "font",
            "u8",
        ),
        (
            As::User,
            Method::POST,
            "/v1/stories",
            json!({"text": "hi", "audience": {"mode": "everyone"}}),
            "audience.mode",
            "contacts_except",
        ),
        (
            As::User,
            Method::POST,
            "/v1/stories",
            json!({"text": "hi", "colour": "red"}),
            "colour",
            "not a known field",
        ),
        (As::User, Method::POST, &reactions, json!({"emoji": 1}), "emoji", "string"),
        (As::User, Method::POST, &reactions, json!({}), "emoji", "required"),
        (
            As::User,
            Method::POST,
            &story_report,
            json!({"reason": ["spam"]}),
            "reason",
            "string",
        ),
        (As::User, Method::POST, &story_report, json!({}), "reason", "required"),
        (
            As::User,
            Method::POST,
            "/v1/ads/some-token/report",
            json!({"reason": 5}),
            "reason",
            "string",
        ),
        (As::User, Method::POST, "/v1/ads/some-token/report", json!({}), "reason", "required"),
        (
            As::Advertiser,
            Method::POST,
            "/v1/campaigns",
            with("pacing", json!("fast")),
            "pacing",
            "even, asap",
        ),
        (
            As::Advertiser,
            Method::POST,
            "/v1/campaigns",
            with("bid_cpm_micros", json!(1.5)),
            "bid_cpm_micros",
            "i64",
        ),
        (
            As::Advertiser,
            Method::POST,
            "/v1/campaigns",
            without("budget_micros"),
            "budget_micros",
            "required",
        ),
        (
            As::Advertiser,
            Method::POST,
            "/v1/campaigns",
            with("frequency_cap", json!({"impressions": 3})),
            "frequency_cap.per_seconds",
            "required",
        ),
        (
            As::Advertiser,
            Method::POST,
            "/v1/campaigns",
            with("targeting", json!({"countries": "DE"})),
            "targeting.countries",
            "sequence",
        ),
        (
            As::Advertiser,
            Method::PATCH,
            &campaign_path,
            json!({"status": "done"}),
            "status",
            "paused, active",
        ),
        (
            As::Advertiser,
            Method::PATCH,
            &campaign_path,
            json!({"budget_micros": "a lot"}),
            "budget_micros",
            "i64",
        ),
        (
            As::Admin,
            Method::POST,
            "/v1/admin/advertisers",
            json!({"name": 7}),
            "name",
            "string",
        ),
        (As::Admin, Method::POST, "/v1/admin/advertisers", json!({}), "name", "required"),
        (
            As::Admin,
            Method::POST,
            &review,
            json!({"decision": "maybe"}),
            "decision",
            "approve, reject",
        ),
        (As::Admin, Method::POST, &review, json!({}), "decision", "required"),
        (
            As::Admin,
            Method::PATCH,
            "/v1/admin/users/alice",
            json!({"ad_free": "yes"}),
            "ad_free",
            "boolean",
        ),
        (As::Admin, Method::PATCH, "/v1/admin/users/alice", json!({}), "ad_free", "required"),
    ];
    let before = app.snapshot().await;
    for (who, method, path, body, field, words) in cases {
        let request = match who {
            As::User => app.req(method.clone(), path, "alice"),
            As::Advertiser => app.as_advertiser(method.clone(), path, &key),
            As::Admin => app.client.request(method.clone(), app.url(path)).bearer_auth(ADMIN_TOKEN),
        };
        let r = request.json(&body).send_checked().await.unwrap();
        let problem = assert_problem(r, 400, "validation_failed").await;
        let errors = problem["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} {body}: {problem}"));
        assert_eq!(errors.len(), 1, "{method} {path} {body}: {problem}");
        assert_eq!(errors[0]["field"], field, "{method} {path} {body}: {problem}");
        let message = errors[0]["message"].as_str().unwrap();
        assert!(message.contains(words), "{method} {path} {body}: {message:?} says {words:?}");
        assert!(!message.contains('`'), "plain words: {message}");
    }
    let after = app.snapshot().await;
    let changed: Vec<&String> = after
        .iter()
        .filter(|entry| !before.contains(entry))
        .chain(before.iter().filter(|entry| !after.contains(entry)))
        .map(|(key, _)| key)
        .collect();
    assert!(
        changed.is_empty(),
        "a refused body changed nothing, but these keys changed: {changed:?}"
    );
}

/// A method a path does not take is `405` with `Allow`, as a problem.
async fn a_405_says_what_is_allowed(backend: Backend) {
    let app = spawn_app(backend).await;
    let trace = app.req(Method::TRACE, "/healthz", "").send_checked().await.unwrap();
    assert_eq!(trace.headers().get("allow").unwrap(), "GET");
    assert_problem(trace, 405, "method_not_allowed").await;
    let put = app
        .req(Method::PUT, "/v1/stories/01ABC.alice", "alice")
        .send_checked()
        .await
        .unwrap();
    let allow = put.headers().get("allow").unwrap().to_str().unwrap().to_owned();
    let mut methods: Vec<&str> = allow.split(", ").collect();
    methods.sort();
    assert_eq!(methods, ["DELETE", "GET"]);
    assert_problem(put, 405, "method_not_allowed").await;
}

/// The check that every test's answers go through refuses what a generated client could not read.
#[test]
fn the_answer_check_refuses_what_the_document_does_not_say() {
    use crate::support::contract::check;
    let refused = |method: &'static str, path: &'static str, status: u16, content_type: Option<&'static str>, body: &'static str| {
        std::panic::catch_unwind(|| check(method, path, status, content_type, body.as_bytes())).is_err()
    };
    let feed = r#"{"items": [], "muted": [], "next_cursor": null}"#;
    assert!(!refused("get", "/v1/feed", 200, Some("application/json"), feed));
    // A status the operation does not list, a content type it does not give, a body off its schema.
    assert!(refused("get", "/v1/feed", 418, Some("application/problem+json"), "{}"));
    assert!(refused("get", "/v1/feed", 200, Some("text/plain"), feed));
    assert!(refused(
        "get",
        "/v1/feed",
        200,
        Some("application/json"),
        r#"{"items": 5, "muted": []}"#
    ));
    let odd_item = r#"{"items": [{"type": "poll"}], "muted": [], "next_cursor": null}"#;
    assert!(refused("get", "/v1/feed", 200, Some("application/json"), odd_item));
    // An error that is not a problem.
    assert!(refused("get", "/v1/feed", 401, Some("application/json"), r#"{"error": "no"}"#));
    assert!(refused(
        "get",
        "/v1/feed",
        401,
        Some("application/problem+json"),
        r#"{"error": "no"}"#
    ));
    // A route that does not exist answers only 404 or 405.
    assert!(refused("get", "/v2/nothing", 200, Some("application/json"), "{}"));
}

/// Sends `raw` on a new connection and returns everything answered until the server closes it.
async fn raw_exchange(app: &crate::support::app::TestApp, raw: &[u8], then_wait: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(raw).await.unwrap();
    if !then_wait {
        let _ = stream.shutdown().await;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The answers the HTTP layer gives before any route is found are problems too: a head that comes
/// too slowly (408), one too large (431), and bytes that are not HTTP (400).
async fn protocol_errors_are_problems(backend: Backend) {
    let app = crate::support::app::spawn_app_with(backend, |s| s.http.request_head_timeout_ms = 3000).await;
    let cases: [(Vec<u8>, bool, &str, &str); 3] = [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec(), true, "408", "request_timeout"),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n", "X-Many: header\r\n".repeat(120)).into_bytes(),
            false,
            "431",
            "headers_too_large",
        ),
        (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), false, "400", "bad_request"),
    ];
    for (raw, wait, status, code) in cases {
        let answer = raw_exchange(&app, &raw, wait).await;
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{code}: {answer}");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.to_ascii_lowercase().contains("content-type: application/problem+json"),
            "{head}"
        );
        let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
        assert_eq!((body["code"].as_str(), body["status"].to_string().as_str()), (Some(code), status));
    }
    // The connection itself still serves ordinary requests.
    assert_eq!(app.get("/healthz", "").await.status(), 200);
}

both_backends!(protocol_errors_are_problems);

/// The request examples in /openapi.json are bodies the service takes as they are (with a real
/// creative id and a real image where the example can only say what goes there), and each link
/// names an operation of the document whose path takes the parameter it fills.
async fn the_documents_examples_are_accepted_and_its_links_lead_somewhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.get_json("/openapi.json", "").await;
    let operation = |id: &str| {
        doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| item.as_object().unwrap().values().map(move |op| (path.clone(), op.clone())))
            .find(|(_, op)| op["operationId"] == id)
            .unwrap_or_else(|| panic!("no operation {id}"))
    };
    let (_, key) = app.create_advertiser("Acme").await;

    let (_, upload) = operation("create_creative");
    let example = &upload["requestBody"]["content"]["multipart/form-data"]["example"];
    let fields: Vec<(&str, &str)> = ["headline", "cta_label", "cta_url"]
        .into_iter()
        .map(|field| (field, example[field].as_str().unwrap()))
        .collect();
    let r = app.upload_creative_parts(&key, Some(images::jpeg(540, 960)), &fields).await;
    assert_eq!(r.status(), 201, "the creative example is accepted");
    let creative = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    app.approve(&creative).await;

    let (_, create) = operation("create_campaign");
    let mut campaign = create["requestBody"]["content"]["application/json"]["example"].clone();
    campaign["creative_ids"] = json!([creative]);
    let r = app.post_campaign(&key, &campaign).await;
    assert_eq!(r.status(), 201, "the campaign example is accepted: {}", r.text().await.unwrap());

    let mut links = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            for response in op["responses"].as_object().unwrap().values() {
                for link in response["links"].as_object().into_iter().flat_map(|l| l.values()) {
                    let (target_path, _) = operation(link["operationId"].as_str().unwrap());
                    for parameter in link["parameters"].as_object().unwrap().keys() {
                        assert!(
                            target_path.contains(&format!("{{{parameter}}}")),
                            "{path} → {target_path} {parameter}"
                        );
                    }
                    links += 1;
                }
            }
        }
    }
    assert!(links >= 4, "links from stories, creatives, campaigns and advertisers: {links}");
}
