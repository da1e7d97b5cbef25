//! `/admin/audit/*`: verify the chain, fetch the newest signed checkpoint, export NDJSON. The
//! chain spans every tenant, so these are server-wide routes (super_admin only in multi-tenant
//! mode). Verifying and exporting are themselves recorded (fail closed).

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt as _;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::audit::checkpoint::{self, Checkpoint};
use crate::audit::export::{self, ExportQuery};
use crate::audit::{VerifyOptions, VerifyReport, verify_database};
use crate::entitlements::names::AUDIT_EXPORT;
use crate::error::Error;
use crate::http::json;
use crate::http::problem::Problem;
use crate::rbac::Caller;
use crate::state::AppState;

/// Media type of the export.
pub const NDJSON: &str = "application/x-ndjson";

/// `POST /admin/audit/verify` body; may be empty.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// A checkpoint kept outside the database (e.g. from the custom resource's status): the
    /// report says `truncated` if the chain no longer reaches it.
    pub checkpoint: Option<Checkpoint>,
}

/// Verifies the whole chain (streaming, one snapshot).
#[utoipa::path(post, path = "/admin/audit/verify", tag = "audit", security(("bearer" = [])),
    request_body(content = Option<VerifyRequest>, description = "Optional external checkpoint"),
    responses(
        (status = 200, description = "What was proven (`verified` false names the failure)", body = VerifyReport),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator (super_admin in multi-tenant mode)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database or audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<VerifyReport>, Error> {
    let request: VerifyRequest = if body.iter().all(u8::is_ascii_whitespace) {
        VerifyRequest::default()
    } else {
        json::parse(&body)?
    };
    let options = VerifyOptions {
        external_checkpoint: request.checkpoint,
    };
    let audit = &state.config.audit;
    let report =
        match verify_database(&state.db, &audit.keys.hmac, &audit.public_keys, &options).await {
            Ok(report) => report,
            Err(e) => {
                state.audit.metrics().observe_verification("error");
                return Err(e);
            }
        };
    state
        .audit
        .metrics()
        .observe_verification(if report.verified {
            "verified"
        } else {
            "failed"
        });
    let failure = report
        .failure
        .as_ref()
        .map(|f| json!({"id": f.id, "kind": f.kind}));
    state
        .audit
        .record(caller.audit_event("audit.verify").with_metadata(json!({
            "verified": report.verified,
            "rows_checked": report.rows_checked,
            "external_checkpoint": options.external_checkpoint.as_ref().map(|c| c.id),
            "failure": failure,
            "peer": caller.ip.to_string(),
        })))
        .await?;
    if !report.verified {
        tracing::warn!(failure = ?report.failure, "audit chain verification failed");
    }
    Ok(Json(report))
}

/// The newest signed checkpoint, to keep outside the database.
#[utoipa::path(get, path = "/admin/audit/checkpoints/latest", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, description = "The newest checkpoint", body = Checkpoint),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator (super_admin in multi-tenant mode)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No checkpoint written yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn latest_checkpoint(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<Checkpoint>, Error> {
    let mut conn = state.db.acquire().await?;
    checkpoint::latest(&mut conn)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound("no audit checkpoint has been written yet".into()))
}

/// One page of the audit log as NDJSON; `Link: rel="next"` resumes after it.
#[utoipa::path(get, path = "/admin/audit/export", tag = "audit", security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "One event per line (gzip with Accept-Encoding: gzip)", content_type = "application/x-ndjson", body = String,
            headers(("Link" = String, description = "`<…?after_id=N&limit=M>; rel=\"next\"`"))),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or the licence lacks `audit_export`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad cursor parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database or audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Error> {
    if !state.entitlements.has(AUDIT_EXPORT) {
        state
            .audit
            .record(
                caller
                    .audit_event("audit.export.denied")
                    .with_metadata(json!({
                        "reason": "entitlement_missing",
                        "entitlement": AUDIT_EXPORT,
                        "peer": caller.ip.to_string(),
                    })),
            )
            .await?;
        return Err(Error::Forbidden(format!(
            "this installation's licence does not include the {AUDIT_EXPORT} entitlement"
        )));
    }
    let Query(query) = query
        .map_err(|rejection| Error::InvalidRequest(format!("query: {}", rejection.body_text())))?;
    let page = export::plan_page(&state.db, &query).await?;
    let limit = query.page_size()?;
    state
        .audit
        .record(caller.audit_event("audit.export").with_metadata(json!({
            "after_id": page.after_id,
            "last_id": page.last_id,
            "rows": page.rows,
            "since": query.since.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
            "peer": caller.ip.to_string(),
        })))
        .await?;
    let body = Body::from_stream(export::stream_page(state.db.clone(), page).map_err(|e| {
        tracing::error!(error = %e, "audit export stream failed");
        std::io::Error::other(e.to_string())
    }));
    let mut next = format!(
        "</admin/audit/export?after_id={}&limit={limit}",
        page.last_id
    );
    if let Some(since) = query.since
        && let Ok(text) = since.format(&time::format_description::well_known::Rfc3339)
    {
        next.push_str("&since=");
        next.push_str(&url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>());
    }
    next.push_str(">; rel=\"next\"");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    if let Ok(link) = HeaderValue::from_str(&next) {
        headers.insert(header::LINK, link);
    }
    Ok(response)
}
