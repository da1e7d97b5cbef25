//! State shared by every request handler.

use std::sync::Arc;

use sqlx::PgPool;

use crate::audit::{Audit, AuditMetrics};
use crate::auth::jwt::TokenKeys;
use crate::auth::password::PasswordHasher;
use crate::config::Config;
use crate::entitlements::Entitlements;
use crate::error::Error;
use crate::observability::metrics::Metrics;

/// What handlers need; built once at start-up and shared behind an `Arc`.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Pool for the application's database (handlers).
    pub db: PgPool,
    /// The audit log; every mutating action awaits its `record`.
    pub audit: Audit,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Token signing and validation.
    pub tokens: TokenKeys,
    /// Password hashing.
    pub passwords: PasswordHasher,
    /// Prometheus registry and the server's metrics.
    pub metrics: Metrics,
    /// What this installation is licensed to use.
    pub entitlements: Entitlements,
}

impl AppState {
    /// Builds the state and starts the audit writer on `audit_pool` (a pool of its own, so
    /// handlers holding connections while they wait for their audit row never starve it).
    /// Blocks briefly: the password hasher computes its dummy hash.
    pub fn new(
        config: Config,
        db: PgPool,
        audit_pool: PgPool,
        entitlements: Entitlements,
    ) -> Result<Arc<Self>, Error> {
        let metrics = Metrics::new()?;
        let audit_metrics = AuditMetrics::new();
        metrics.register_audit(&audit_metrics)?;
        let audit = Audit::start_with_metrics(
            audit_pool,
            config.audit.keys.clone(),
            config.audit.settings.clone(),
            audit_metrics,
        );
        Self::with_audit(config, db, audit, metrics, entitlements)
    }

    /// Builds the state around an already running audit writer (tests that control it).
    pub fn with_audit(
        config: Config,
        db: PgPool,
        audit: Audit,
        metrics: Metrics,
        entitlements: Entitlements,
    ) -> Result<Arc<Self>, Error> {
        Ok(Arc::new(Self {
            db,
            audit,
            tokens: TokenKeys::new(&config.auth)?,
            passwords: PasswordHasher::new(config.auth.bcrypt_cost)?,
            config: Arc::new(config),
            metrics,
            entitlements,
        }))
    }
}
