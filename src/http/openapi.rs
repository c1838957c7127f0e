//! The OpenAPI document: generated from the handlers' annotations, then finished here in one pass
//! with what the annotations cannot say or would repeat on every operation — the errors each
//! operation can answer (all `application/problem+json`), binary bodies, the feed item union with
//! its discriminator, the configured enums, and `security: []` on the open operations.

use super::State;
use crate::config::Settings;
use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").route(web::get().to(openapi)));
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn openapi(state: State) -> HttpResponse {
    HttpResponse::Ok().json(document(&state.settings))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "statusd", description = "Ephemeral status stories with ad slots."),
    paths(
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
        openapi,
        super::users::get_contacts,
        super::users::put_contacts,
        super::users::get_settings,
        super::users::patch_settings,
        super::users::mute,
        super::users::unmute,
        super::users::erase_me,
        super::stories::create_story,
        super::stories::get_story,
        super::stories::delete_story,
        super::stories::story_media,
        super::stories::story_thumb,
        super::stories::view_story,
        super::stories::story_viewers,
        super::stories::react,
        super::stories::report,
        super::stories::my_stories,
        super::feed::get_feed,
        super::advertisers::create_advertiser,
        super::advertisers::get_advertiser,
        super::advertisers::rotate_api_key,
        super::advertisers::own_account,
        super::creatives::create_creative,
        super::creatives::list_creatives,
        super::creatives::get_creative,
        super::creatives::creative_media,
        super::creatives::creative_thumb,
        super::creatives::admin_list_creatives,
        super::creatives::admin_get_creative,
        super::creatives::admin_creative_media,
        super::creatives::admin_creative_thumb,
        super::creatives::review_creative,
        super::campaigns::create_campaign,
        super::campaigns::list_campaigns,
        super::campaigns::get_campaign,
        super::campaigns::patch_campaign,
        super::campaigns::campaign_report,
        super::campaigns::campaign_report_csv,
        super::ads::impression,
        super::ads::click,
        super::ads::hide,
        super::ads::report,
        super::ads::why,
        super::ads::creative_media,
        super::ads::creative_thumb,
        super::ads::outside_media,
        super::ads::outside_thumb,
        super::ads::preferences,
        super::ads::block,
        super::ads::unblock,
        super::ads::admin_get_user,
        super::ads::admin_patch_user,
    )
)]
struct ApiDoc;

const PROBLEM: &str = "#/components/schemas/Problem";
const OPEN_PATHS: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/openapi.json"];

/// The document as served at `/openapi.json`, for this configuration (its reactions and CTA labels
/// are enums in the schema).
pub fn document(settings: &Settings) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    doc["servers"] = json!([{ "url": "/", "description": "this statusd" }]);
    doc["components"]["securitySchemes"] = ["user", "advertiser", "admin"]
        .into_iter()
        .map(|name| (name.to_owned(), json!({ "type": "http", "scheme": "bearer" })))
        .collect::<Map<_, _>>()
        .into();
    feed_item_union(&mut doc);
    configured_limits(&mut doc, settings);
    links(&mut doc);
    request_examples(&mut doc, settings, chrono::Utc::now());
    for (path, item) in doc["paths"].as_object_mut().expect("paths").iter_mut() {
        for (_, operation) in item.as_object_mut().expect("path item").iter_mut() {
            finish_operation(path, operation);
        }
    }
    doc
}

/// The methods the document gives `path` (a concrete request path), for a 405's `Allow`.
pub fn allowed_methods(doc: &Value, path: &str) -> Option<Vec<String>> {
    let (_, item) = doc["paths"]
        .as_object()?
        .iter()
        .find(|(template, _)| path_matches(template, path))?;
    Some(item.as_object()?.keys().map(|m| m.to_ascii_uppercase()).collect())
}

/// `/v1/stories/{id}/view` matches `/v1/stories/01J…/view`.
pub fn path_matches(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b || (a.starts_with('{') && !b.is_empty()) => {}
            _ => return false,
        }
    }
}

/// Every error an operation can answer, as a problem; binary answers as binary strings; the open
/// operations marked as needing no credential.
fn finish_operation(path: &str, operation: &mut Value) {
    let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
    let has_body = operation.get("requestBody").is_some();
    let has_params = operation["parameters"].as_array().is_some_and(|p| !p.is_empty());
    let idempotent = operation["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
    let takes_image = operation["requestBody"]["content"].get("multipart/form-data").is_some();
    if let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) {
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "Idempotency-Key") {
            parameter["schema"] = json!({ "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$" });
        }
    }
    if OPEN_PATHS.contains(&path) {
        operation["security"] = json!([]);
    }
    let responses = operation["responses"].as_object_mut().expect("responses");
    let mut add = |status: u16, description: &str| {
        responses
            .entry(status.to_string())
            .or_insert_with(|| json!({ "description": description }));
    };
    if secured {
        add(401, "no credential, or one that is not valid here");
    }
    if has_body || has_params {
        add(400, "a parameter or the body is not valid: `errors[]` names each field");
    }
    if has_body {
        add(413, "the body is larger than the limit");
        add(415, "the body's content type is not one this operation takes");
    }
    if path.contains('{') {
        add(404, "no such resource, or not one the caller may see");
    }
    if idempotent {
        add(409, "`idempotency_in_progress`: a request with this key is still running");
        add(410, "`resource_deleted`: what this key created has since been deleted");
    }
    if idempotent || takes_image {
        add(
            422,
            "`idempotency_key_reused` (this key came with another body) or `image_too_large`",
        );
    }
    add(
        500,
        "`internal`: something went wrong on our side (logged with the request id, never sent)",
    );
    if path != "/healthz" {
        add(
            503,
            "the store is unavailable or the service is busy: retry after `Retry-After` seconds",
        );
    }
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if is_error {
            response["content"] = json!({ "application/problem+json": { "schema": { "$ref": PROBLEM } } });
            if status == "503" {
                response["headers"] = json!({ "Retry-After": {
                    "description": "seconds to wait before retrying",
                    "schema": { "type": "integer", "minimum": 0 }
                } });
            }
        } else if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) {
            for (media_type, body) in content.iter_mut() {
                if media_type.starts_with("image/") {
                    body["schema"] = json!({ "type": "string", "format": "binary" });
                }
            }
        }
    }
}

/// A feed item is an author or an ad, told apart by `type`: two named schemas, each with its own
/// `type` enum, and a discriminator, which is what generated clients understand.
fn feed_item_union(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].as_object_mut().expect("schemas");
    let mut author = schemas.remove("AuthorItem").expect("AuthorItem schema");
    author["properties"]["type"] = json!({ "type": "string", "enum": ["author"] });
    author["required"]
        .as_array_mut()
        .expect("AuthorItem.required")
        .insert(0, json!("type"));
    author["description"] = json!("An author with live stories; stories oldest first, the order they play in.");
    let ad = json!({
        "type": "object",
        "description": "An ad card, between authors.",
        "required": ["type", "ad"],
        "properties": {
            "type": { "type": "string", "enum": ["ad"] },
            "ad": { "$ref": "#/components/schemas/AdItem" }
        }
    });
    schemas.insert("AuthorFeedItem".into(), author);
    schemas.insert("AdFeedItem".into(), ad);
    schemas.insert(
        "FeedItem".into(),
        json!({
            "description": "One entry of the feed.",
            "oneOf": [
                { "$ref": "#/components/schemas/AuthorFeedItem" },
                { "$ref": "#/components/schemas/AdFeedItem" }
            ],
            "discriminator": {
                "propertyName": "type",
                "mapping": {
                    "author": "#/components/schemas/AuthorFeedItem",
                    "ad": "#/components/schemas/AdFeedItem"
                }
            }
        }),
    );
}

/// The limits and word lists that come from the configuration, as this instance enforces them.
fn configured_limits(doc: &mut Value, settings: &Settings) {
    let schemas = &mut doc["components"]["schemas"];
    schemas["NewReaction"]["properties"]["emoji"]["enum"] = json!(settings.stories.reactions);
    schemas["NewCreative"]["properties"]["cta_label"]["enum"] = json!(settings.ads.cta_labels);
    let text = &mut schemas["NewTextStory"]["properties"]["text"];
    text["minLength"] = json!(1);
    text["maxLength"] = json!(settings.stories.max_text_chars);
    let contacts = &mut schemas["Contacts"]["properties"]["contacts"];
    contacts["maxItems"] = json!(settings.users.max_contacts);
    contacts["items"] = json!({ "type": "string", "pattern": USER_ID_PATTERN });
}

const USER_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// The ids one operation answers and others take, as OpenAPI links: what a client (or a stateful
/// fuzzer) follows from a created story, creative, campaign or advertiser to its other operations.
const LINKS: [(&str, &str, &str, &[&str]); 4] = [
    (
        "create_story",
        "201",
        "id",
        &[
            "get_story",
            "delete_story",
            "story_media",
            "story_thumb",
            "view_story",
            "story_viewers",
            "react",
            "report",
        ],
    ),
    (
        "create_creative",
        "201",
        "id",
        &["get_creative", "creative_media", "creative_thumb"],
    ),
    (
        "create_campaign",
        "201",
        "id",
        &["get_campaign", "patch_campaign", "campaign_report", "campaign_report_csv"],
    ),
    ("create_advertiser", "201", "id", &["get_advertiser", "rotate_api_key"]),
];

fn links(doc: &mut Value) {
    for (from, status, field, targets) in LINKS {
        let Some(response) = operation_mut(doc, from).map(|op| &mut op["responses"][status]) else {
            continue;
        };
        response["links"] = targets
            .iter()
            .map(|target| {
                let link = json!({ "operationId": target, "parameters": { "id": format!("$response.body#/{field}") } });
                (target.to_string(), link)
            })
            .collect::<Map<_, _>>()
            .into();
    }
}

/// Request bodies that this instance accepts as they are, for the operations whose rules a body
/// generated from the schema alone hardly ever meets: a campaign (its money and times must agree,
/// and it starts from today) and an upload (whose image a client supplies).
fn request_examples(doc: &mut Value, settings: &Settings, now: chrono::DateTime<chrono::Utc>) {
    let today = now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    let campaign = json!({
        "name": "Winter coffee",
        "creative_ids": ["01KB5Z8Q3T4V6W7X8Y9Z0A1B2C"],
        "targeting": { "countries": ["DE"], "languages": ["de"], "interests": ["coffee"] },
        "bid_cpm_micros": 2_500_000,
        "budget_micros": 1_000_000_000,
        "daily_budget_micros": 50_000_000,
        "start_at": today.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "end_at": (today + chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "frequency_cap": { "impressions": 3, "per_seconds": 86_400 },
        "pacing": "even"
    });
    let creative = json!({
        "image": "(the bytes of a JPEG, PNG or WebP image)",
        "headline": "Fresh bread daily",
        "cta_label": settings.ads.cta_labels.first(),
        "cta_url": "https://bakery.example.com/"
    });
    for (id, media_type, example) in [
        ("create_campaign", "application/json", campaign),
        ("create_creative", "multipart/form-data", creative),
    ] {
        if let Some(op) = operation_mut(doc, id) {
            op["requestBody"]["content"][media_type]["example"] = example;
        }
    }
}

/// The operation with this `operationId`.
fn operation_mut<'a>(doc: &'a mut Value, id: &str) -> Option<&'a mut Value> {
    doc["paths"]
        .as_object_mut()?
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .find(|op| op["operationId"] == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique_and_every_error_is_a_problem() {
        let doc = document(&Settings::default());
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "{id} is used twice");
                for (status, response) in op["responses"].as_object().unwrap() {
                    if status.as_str() >= "400" {
                        assert!(
                            response["content"].get("application/problem+json").is_some(),
                            "{method} {path} {status}"
                        );
                    }
                }
                assert!(op.get("security").is_some(), "{method} {path} says what credential it needs");
            }
        }
    }

    #[test]
    fn a_request_path_finds_its_template_and_methods() {
        let doc = document(&Settings::default());
        assert!(path_matches("/v1/stories/{id}/view", "/v1/stories/abc/view"));
        assert!(!path_matches("/v1/stories/{id}/view", "/v1/stories//view"));
        assert!(!path_matches("/v1/stories/{id}", "/v1/stories/abc/view"));
        assert_eq!(allowed_methods(&doc, "/healthz"), Some(vec!["GET".to_owned()]));
        let mut story = allowed_methods(&doc, "/v1/stories/x").unwrap();
        story.sort();
        assert_eq!(story, ["DELETE", "GET"]);
        assert_eq!(allowed_methods(&doc, "/nowhere"), None);
    }
}
