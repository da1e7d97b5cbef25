//! The HTTP surface: one router built from the route table (`rbac::routes::ROUTES`).

pub mod admin;
pub mod auth;
pub mod health;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod tools;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use tower_http::trace::TraceLayer;

use crate::observability::{metrics as request_metrics, telemetry};
use crate::rbac::enforce::enforce;
use crate::rbac::routes::ROUTES;
use crate::state::AppState;
use problem::{PROBLEM_JSON, Problem};

/// Builds the api-server's router: every route of the table behind the RBAC middleware, the
/// body limit, problem-body fallbacks for unknown routes (404) and methods (405), request
/// metrics and the request span.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new();
    for spec in ROUTES {
        let handler =
            (spec.handler)().route_layer(from_fn_with_state((state.clone(), spec), enforce));
        router = router.route(spec.path, handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(map_response(problem_for_bare_errors))
        .layer(from_fn_with_state(
            state.metrics.clone(),
            request_metrics::track,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(telemetry::request_span))
        .with_state(state)
}

async fn not_found(uri: Uri) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        format!(
            "no route for {}",
            uri.path().chars().take(200).collect::<String>()
        ),
    )
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this route does not support the request's method",
    )
}

/// Errors produced below the handlers (e.g. a path parameter that does not parse) come as
/// plain text; turn any 4xx/5xx that is not already a problem body into one.
async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&text)
        .chars()
        .take(500)
        .collect::<String>();
    let slug = match status.as_u16() {
        400 => "bad-request",
        404 => "not-found",
        405 => "method-not-allowed",
        413 => "body-too-large",
        415 => "unsupported-media-type",
        422 => "invalid-request",
        _ if status.is_server_error() => "internal",
        _ => "bad-request",
    };
    let mut problem = Problem::new(
        status,
        slug,
        status.canonical_reason().unwrap_or("Error"),
        if detail.is_empty() {
            status.to_string()
        } else {
            detail
        },
    )
    .into_response();
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}
