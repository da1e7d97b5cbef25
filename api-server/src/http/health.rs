//! Liveness and readiness probes.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::problem::Problem;
use crate::db;
use crate::state::AppState;

/// Longest a readiness check may take before the database counts as unreachable.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /healthz`: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "observability",
    responses((status = 200, description = "Serving", body = Object)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database is reachable and every embedded migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "observability",
    responses(
        (status = 200, description = "Ready", body = Object),
        (status = 503, description = "Database unreachable or migrations pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, db::pending_migrations(&state.db)).await {
        Ok(Ok(pending)) if pending.is_empty() => {
            Json(json!({ "status": "ready", "database": "ok", "migrations": "applied" }))
                .into_response()
        }
        Ok(Ok(pending)) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "migrations-pending",
            "Migrations pending",
            format!("database migrations not applied: {pending:?}"),
        )
        .into_response(),
        Ok(Err(e)) => unavailable(e.to_string()),
        Err(_) => unavailable(format!("no answer within {READY_TIMEOUT:?}")),
    }
}

fn unavailable(detail: String) -> Response {
    tracing::warn!(%detail, "readiness check failed");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database-unavailable",
        "Database unavailable",
        format!("database unreachable: {detail}"),
    )
    .into_response()
}
