//! Every answer the tests receive is held against the OpenAPI document that statusd serves: the
//! operation lists its status, the document gives its content type, and a JSON body fits the
//! schema. A generated client trusts exactly these three things.

use reqwest::{RequestBuilder, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| statusd::http::openapi::document(&statusd::config::Settings::default()));

/// One compiled validator per schema the answers have met.
static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = LazyLock::new(Default::default);

/// `send`, and the answer checked against the document (see the module's comment).
pub trait SendChecked {
    fn send_checked(self) -> impl std::future::Future<Output = reqwest::Result<Response>> + Send;
}

impl SendChecked for RequestBuilder {
    async fn send_checked(self) -> reqwest::Result<Response> {
        let (client, request) = self.build_split();
        let request = request?;
        let method = request.method().as_str().to_ascii_lowercase();
        let path = request.url().path().to_owned();
        let response = client.execute(request).await?;
        let (status, version, headers) = (response.status(), response.version(), response.headers().clone());
        let body = response.bytes().await?;
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
        check(&method, &path, status.as_u16(), content_type.as_deref(), &body);
        let mut rebuilt = http::Response::builder().status(status).version(version);
        *rebuilt.headers_mut().expect("a fresh builder") = headers;
        Ok(Response::from(rebuilt.body(body).expect("the parts of a response")))
    }
}

/// Panics, naming the request, when the answer is not one the document describes.
pub fn check(method: &str, path: &str, status: u16, content_type: Option<&str>, body: &[u8]) {
    let what = format!("{} {path} answered {status}", method.to_ascii_uppercase());
    let Some(operation) = operation(method, path) else {
        // No such route or method: the router's own answers.
        assert!(matches!(status, 404 | 405), "{what}, for an operation the document does not have");
        assert_eq!(content_type, Some("application/problem+json"), "{what}");
        return;
    };
    let responses = &operation["responses"];
    let Some(documented) = responses.get(status.to_string()).or_else(|| responses.get("default")) else {
        panic!("{what}, which the document does not list for it");
    };
    if body.is_empty() && content_type.is_none() {
        assert!(
            documented.get("content").is_none(),
            "{what} with no body, where the document gives one"
        );
        return;
    }
    let content_type = content_type.unwrap_or_else(|| panic!("{what} with a body and no content type"));
    let Some(media) = documented["content"].get(content_type) else {
        panic!(
            "{what} as {content_type}, which the document does not give: {}",
            documented["content"]
        );
    };
    if content_type == "application/json" || content_type == "application/problem+json" {
        let instance: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
        let validator = validator(&media["schema"]);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the body does not fit its schema: {errors:#?}\n{instance}"
        );
    }
}

/// The document's operation for a request: a literal path first, then the template with the
/// fewest parameters.
fn operation(method: &str, path: &str) -> Option<&'static Value> {
    let paths = DOCUMENT["paths"].as_object()?;
    paths
        .iter()
        .filter(|(template, item)| statusd::http::openapi::path_matches(template, path) && item.get(method).is_some())
        .min_by_key(|(template, _)| template.matches('{').count())
        .map(|(_, item)| &item[method])
}

/// A validator for `schema`, whose `$ref`s point into the document's components.
fn validator(schema: &Value) -> Arc<jsonschema::Validator> {
    let key = schema.to_string();
    let mut cache = VALIDATORS.lock().unwrap();
    cache
        .entry(key)
        .or_insert_with(|| {
            let mut root = serde_json::json!({ "components": DOCUMENT["components"].clone() });
            root["allOf"] = serde_json::json!([schema]);
            Arc::new(jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("schema {schema}: {e}")))
        })
        .clone()
}
