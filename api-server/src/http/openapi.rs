//! `GET /openapi.json`: the API description, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::problem::Problem;
use super::{admin, auth, health, metrics, tools};

/// The api-server's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Alexandria EE api-server", description = "Authentication, authorisation and audit plane. Every error is an RFC 9457 application/problem+json body."),
    paths(
        health::healthz, health::readyz, metrics::scrape, document,
        auth::login, auth::logout, auth::me,
        tools::authorize,
        admin::users::list, admin::users::create, admin::users::get, admin::users::update,
        admin::users::delete, admin::users::unlock,
        admin::agents::list, admin::agents::create, admin::agents::get, admin::agents::update,
        admin::agents::delete, admin::agents::issue_token,
        admin::tenants::list, admin::tenants::create, admin::tenants::get,
        admin::tenants::update, admin::tenants::delete,
        admin::tools::list, admin::tools::create, admin::tools::get, admin::tools::update,
        admin::tools::delete,
        admin::audit::verify, admin::audit::latest_checkpoint, admin::audit::export,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "observability",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
