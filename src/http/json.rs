//! The one JSON body extractor: every endpoint's body errors name the field they are about
//! (`pacing`, `audience.mode`, `contacts[3]`), in plain words, so that a client or a form can put
//! the message beside the field.

use super::idempotency::Fingerprint;
use crate::error::{Error, Result};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON request body of type `T`. The size limit and content-type check are actix's
/// (`web::JsonConfig`, with the problem mapping of `problem::json_error`); the shape check is ours.
pub struct JsonBody<T> {
    parsed: T,
    raw: Value,
}

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.parsed
    }

    /// What the body asked for, for `Idempotency-Key` replays.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_json(&self.raw)
    }
}

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.parsed
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, std::result::Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let raw = value.await?.into_inner();
            Ok(JsonBody {
                parsed: from_value(&raw)?,
                raw,
            })
        })
    }
}

/// Parses JSON bytes, with the same errors as [`JsonBody`]; [`from_value`] reads it as a type.
pub fn parse(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::field("body", plain_words(&e.to_string())))
}

/// Reads `T` out of a JSON form part named `part`: its errors are named from the part down
/// (`audience.mode`).
pub fn from_part<T: DeserializeOwned>(part: &str, bytes: &[u8]) -> Result<T> {
    parse(bytes).and_then(|value| from_value(&value)).map_err(|e| match e {
        Error::Validation(errors) => Error::Validation(
            errors
                .into_iter()
                .map(|mut error| {
                    error.field = match error.field.as_str() {
                        "body" => part.to_owned(),
                        field if field.starts_with('[') => format!("{part}{field}"),
                        field => format!("{part}.{field}"),
                    };
                    error
                })
                .collect(),
        ),
        other => other,
    })
}

/// Reads `T` out of a parsed body; an error names the path of the field it is about.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = e.inner().to_string();
        let path = match e.path().to_string() {
            root if root == "." => String::new(),
            path => path,
        };
        let (field, message) = locate(value, path, &message);
        Error::field(if field.is_empty() { "body".to_owned() } else { field }, message)
    })
}

/// Finishes the path where serde stops one level short: a missing field is named by serde only in
/// the message, and an internally tagged value's tag (`audience.mode`) by the
/// value's own key holding the refused word.
fn locate(body: &Value, path: String, message: &str) -> (String, String) {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = quoted_after(message, "missing field ") {
        return (join(name), "is required".into());
    }
    if message.starts_with("unknown field ") {
        // serde's path already ends with the unknown field.
        return (path, "is not a known field".into());
    }
    if let Some(variant) = quoted_after(message, "unknown variant ")
        && let Some(Value::Object(object)) = pointer(body, &path)
        && let Some((key, _)) = object.iter().find(|(_, v)| v.as_str() == Some(variant))
    {
        return (join(key), plain_words(message));
    }
    (path, plain_words(message))
}

/// The first backquoted word after `prefix` in serde's message, e.g. `text` in
/// "missing field `text`".
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split('`').next()
}

/// The value at a serde path such as `targeting.countries[2]`.
fn pointer<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(body);
    }
    let mut current = body;
    for segment in path.split('.') {
        let (name, indexes) = segment.split_once('[').map_or((segment, ""), |(n, i)| (n, i));
        if !name.is_empty() {
            current = current.get(name)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            current = current.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(current)
}

/// serde's message without its code quotes or position: "unknown variant `fast`, expected `even`
/// or `asap`" reads "unknown value "fast", expected one of: even, asap".
fn plain_words(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    let (head, expected) = match message.split_once(", expected ") {
        Some((head, expected)) => (head, Some(expected)),
        None => (message, None),
    };
    let head = head
        .replace("unknown variant", "unknown value")
        .replace("invalid type: ", "")
        .replace("invalid value: ", "");
    let head = head.replace('`', "\"");
    match expected {
        None => head,
        Some(expected) if expected.contains('`') => {
            let words: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            format!("{head}, expected one of: {}", words.join(", "))
        }
        Some(expected) => format!("{head}, expected {expected}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Pacing {
        Even,
        Asap,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        pacing: Pacing,
        font: u8,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        list: Vec<u64>,
    }

    fn error_of(body: Value) -> (String, String) {
        match from_value::<Outer>(&body) {
            Err(Error::Validation(errors)) => (errors[0].field.clone(), errors[0].message.clone()),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_path_of_each_kind_of_error() {
        let ok = serde_json::json!({"inner": {"pacing": "even", "font": 1}, "list": [1]});
        assert!(from_value::<Outer>(&ok).is_ok());
        let (field, message) = error_of(serde_json::json!({"inner": {"pacing": "fast", "font": 1}, "list": []}));
        assert_eq!(field, "inner.pacing");
        assert_eq!(message, "unknown value \"fast\", expected one of: even, asap");
        let (field, message) = error_of(serde_json::json!({"inner": {"pacing": "even", "font": -1}, "list": []}));
        assert_eq!((field.as_str(), message.as_str()), ("inner.font", "integer \"-1\", expected u8"));
        let (field, message) = error_of(serde_json::json!({"inner": {"pacing": "even"}, "list": []}));
        assert_eq!((field.as_str(), message.as_str()), ("inner.font", "is required"));
        let (field, _) = error_of(serde_json::json!({"inner": {"pacing": "even", "font": 1, "size": 2}, "list": []}));
        assert_eq!(field, "inner.size");
        let (field, _) = error_of(serde_json::json!({"inner": {"pacing": "even", "font": 1}, "list": [1, 1.5]}));
        assert_eq!(field, "list[1]");
        let (field, _) = error_of(serde_json::json!([]));
        assert_eq!(field, "body");
    }

    #[test]
    fn a_body_that_is_not_json_is_the_body_s_error() {
        match parse(b"{nope") {
            Err(Error::Validation(errors)) => assert_eq!(errors[0].field, "body"),
            other => panic!("{other:?}"),
        }
    }
}
