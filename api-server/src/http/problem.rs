//! RFC 9457 problem details: every HTTP error leaves as `application/problem+json`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Media type of problem bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details body with its status.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem (`urn:alexandria:problem:<slug>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What happened in this instance.
    pub detail: String,
}

impl Problem {
    /// A problem of kind `slug` with the given status, title and detail.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:alexandria:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
    }
}

impl IntoResponse for crate::error::Error {
    fn into_response(self) -> Response {
        use crate::error::Error;
        let problem = match &self {
            Error::Unauthenticated { .. } => {
                let problem = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "Unauthenticated",
                    "authentication required: missing, invalid, expired or revoked credentials",
                );
                let mut response = problem.into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                return response;
            }
            Error::Forbidden(detail) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
            }
            Error::NotFound(detail) => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
            }
            Error::Conflict(detail) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
            }
            Error::BadBody {
                status,
                slug,
                detail,
            } => Problem::new(
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
                slug,
                "Bad request body",
                detail,
            ),
            Error::InvalidRequest(detail) | Error::InvalidAuditEvent(detail) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request",
                "Invalid request",
                detail,
            ),
            Error::AuditUnavailable(detail) => {
                tracing::error!(%detail, "audit log unavailable: failing the request");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit-unavailable",
                    "Audit log unavailable",
                    "the action was not performed because the audit log could not record it",
                )
            }
            Error::Database(e) => {
                tracing::error!(error = %e, "database error: failing the request");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database-unavailable",
                    "Database unavailable",
                    "the database could not complete the request; nothing was changed",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "the server could not complete the request; nothing was changed",
                )
            }
        };
        problem.into_response()
    }
}
