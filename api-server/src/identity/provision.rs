//! Creating users outside the HTTP API: `serve --dev`'s accounts and the `users create` command
//! (the first super_admin of an installation). Recorded in the audit log like any creation.

use serde_json::json;

use super::users::{self, NewUser, User};
use super::validate_principal_name;
use crate::audit::AuditEvent;
use crate::audited::commit_with_audit;
use crate::auth::password::validate_new_password;
use crate::auth::principal::Role;
use crate::error::Error;
use crate::state::AppState;

/// Creates `username` with `role` in `tenant`, recorded as done by `actor` (e.g. `system`).
pub async fn provision_user(
    state: &AppState,
    actor: &str,
    username: &str,
    password: &str,
    role: Role,
    tenant: &str,
) -> Result<User, Error> {
    validate_principal_name("username", username)?;
    validate_new_password(password)?;
    let hash = state.passwords.hash(password).await?;
    let mut tx = state.db.begin().await?;
    let user = users::create(
        &mut tx,
        &NewUser {
            tenant,
            username,
            password_hash: &hash,
            role,
            allowed_tools: &[],
        },
    )
    .await?;
    let event = AuditEvent::new(actor, "admin.user.create").with_metadata(json!({
        "user_id": user.id,
        "username": user.username,
        "role": user.role.as_str(),
        "target_tenant": user.tenant,
        "via": "cli",
    }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(user)
}
