//! Who is calling: roles and the authenticated principal of a request.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A principal's role; route access is decided on it (`rbac::routes`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, in every tenant; bypasses the tool intersection (recorded).
    SuperAdmin,
    /// Administers users, agents and tools (of their tenant in multi-tenant mode).
    Admin,
    /// A person using tools through agents.
    User,
    /// An agent runtime.
    Agent,
}

impl Role {
    /// Every role, for exhaustive tests and documentation.
    pub const ALL: [Role; 4] = [Role::SuperAdmin, Role::Admin, Role::User, Role::Agent];

    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::Admin => "admin",
            Role::User => "user",
            Role::Agent => "agent",
        }
    }

    /// Parses the wire and database name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller, put into the request by the RBAC layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User or agent id.
    pub id: Uuid,
    /// Username, or `agent:<name>` for agents: what the audit log names.
    pub name: String,
    /// Role (`agent` for agents).
    pub role: Role,
    /// Tenant the principal belongs to.
    pub tenant: String,
    /// Token id.
    pub jti: Uuid,
    /// Token expiry (Unix seconds).
    pub exp: i64,
    /// For agent tokens acting on behalf of a user: that user.
    pub on_behalf_of: Option<Delegation>,
}

/// The user an agent token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// User id.
    pub user_id: Uuid,
    /// Username.
    pub username: String,
    /// The user's role (a super_admin's delegation bypasses the tool intersection).
    pub role: Role,
}

impl Principal {
    /// Whether this principal administers every tenant.
    pub fn is_super_admin(&self) -> bool {
        self.role == Role::SuperAdmin
    }
}
