//! The HTTP surface: one router built from the handler modules.

mod health;
pub mod problem;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// Builds the api-server's router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}
