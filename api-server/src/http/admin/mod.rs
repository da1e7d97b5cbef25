//! The admin API: users, agents, tenants, the tool catalog and the audit log. Admins are confined to their own
//! tenant in multi-tenant mode; objects of other tenants answer 404 and the attempt is recorded.

pub mod agents;
pub mod audit;
pub mod tenants;
pub mod tools;
pub mod users;

use crate::error::Error;
use crate::identity::DEFAULT_TENANT;
use crate::rbac::Caller;
use crate::rbac::enforce::{deny_forbidden, deny_other_tenant};
use crate::state::AppState;

/// Fails (recorded, 404) unless the caller may see objects of `tenant`.
pub(crate) async fn ensure_tenant(
    state: &AppState,
    caller: &Caller,
    what: &str,
    tenant: &str,
) -> Result<(), Error> {
    match caller.tenant_scope(state.config.multi_tenant) {
        Some(own) if own != tenant => Err(deny_other_tenant(state, caller, what, tenant).await),
        _ => Ok(()),
    }
}

/// The tenant a new object goes to: the requested one if the caller may create there, else the
/// caller's own; in single-tenant mode always `default`.
pub(crate) async fn tenant_for_new(
    state: &AppState,
    caller: &Caller,
    action: &str,
    requested: Option<&str>,
) -> Result<String, Error> {
    if !state.config.multi_tenant {
        return match requested {
            None | Some(DEFAULT_TENANT) => Ok(DEFAULT_TENANT.to_owned()),
            Some(_) => Err(Error::InvalidRequest(
                "tenant: multi_tenant is off; only \"default\" exists".into(),
            )),
        };
    }
    let own = caller.principal.tenant.as_str();
    match requested {
        None => Ok(own.to_owned()),
        Some(t) if t == own || caller.principal.is_super_admin() => Ok(t.to_owned()),
        Some(_) => Err(deny_forbidden(
            state,
            caller,
            action,
            "admins create objects only in their own tenant",
        )
        .await),
    }
}
