//! The JSON body extractor of every route: refuses wrong media types (415), bodies over the
//! limit (413), invalid UTF-8 and malformed JSON (400), and wrong types, missing and unknown
//! fields (422) — each as a problem body naming what is wrong, never a 500.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A JSON request body of type `T` (whose types use `deny_unknown_fields`).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

fn bad(status: u16, slug: &'static str, detail: impl Into<String>) -> Error {
    Error::BadBody {
        status,
        slug,
        detail: detail.into(),
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !is_json(&content_type) {
            return Err(bad(
                415,
                "unsupported-media-type",
                format!(
                    "expected Content-Type: application/json, got {:?}",
                    content_type.chars().take(100).collect::<String>()
                ),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status().as_u16() == 413 {
                    bad(
                        413,
                        "body-too-large",
                        "request body is larger than the server's body_limit",
                    )
                } else {
                    bad(
                        400,
                        "unreadable-body",
                        format!("cannot read the request body: {rejection}"),
                    )
                }
            })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses a JSON document, mapping every failure to a named 4xx problem.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(bad(
            400,
            "invalid-utf8",
            format!(
                "request body is not valid UTF-8 (at byte {})",
                e.valid_up_to()
            ),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => bad(
                422,
                "invalid-field",
                if path == "." {
                    format!("request body: {inner}")
                } else {
                    format!("{path}: {inner}")
                },
            ),
            _ => bad(400, "malformed-json", format!("malformed JSON: {inner}")),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| bad(400, "malformed-json", format!("malformed JSON: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: u32,
    }

    fn detail(bytes: &[u8]) -> (u16, String) {
        match parse::<Body>(bytes).unwrap_err() {
            Error::BadBody { status, detail, .. } => (status, detail),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_kind_of_bad_body_is_named() {
        assert_eq!(detail(b"{\"name\": ").0, 400);
        assert_eq!(detail(b"\xff\xfe").0, 400);
        let (status, message) = detail(br#"{"name": "a", "count": "three"}"#);
        assert_eq!(status, 422);
        assert!(message.starts_with("count:"), "{message}");
        let (status, message) = detail(br#"{"name": "a", "count": 1, "admin": true}"#);
        assert_eq!(status, 422);
        assert!(message.contains("admin"), "{message}");
        let (status, message) = detail(br#"{"name": "a"}"#);
        assert_eq!(status, 422);
        assert!(message.contains("count"), "{message}");
        assert_eq!(detail(br#"{"name": "a", "count": 1} trailing"#).0, 400);
        assert!(is_json("application/json; charset=utf-8"));
        assert!(!is_json("text/plain"));
    }
}
