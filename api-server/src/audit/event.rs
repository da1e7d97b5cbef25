//! What the rest of the server hands to the audit log, and what it gets back.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::canonical::canonical_json;
use crate::error::Error;

/// Longest principal, agent, session or tenant, in bytes.
pub const MAX_NAME_BYTES: usize = 512;
/// Longest action name, in bytes.
pub const MAX_ACTION_BYTES: usize = 128;
/// Largest canonical metadata, in bytes.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// One action to record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Who acted: a user name, `agent:<id>`, `system`, or the attempted name of a failed login.
    pub principal: String,
    /// Dotted action name, e.g. `auth.login`, `admin.user.create`, `authz.bypass`.
    pub action: String,
    /// The agent acting, if the principal acted through one.
    pub agent: Option<String>,
    /// Session or token id (`jti`).
    pub session: Option<String>,
    /// Tenant in multi-tenant mode.
    pub tenant: Option<String>,
    /// Anything else worth keeping (outcome, target, peer address); a JSON object.
    pub metadata: Value,
}

impl AuditEvent {
    /// An event with no agent, session or tenant and empty metadata.
    pub fn new(principal: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            principal: principal.into(),
            action: action.into(),
            agent: None,
            session: None,
            tenant: None,
            metadata: Value::Object(Default::default()),
        }
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the agent.
    pub fn with_agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// Sets the session.
    pub fn with_session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// Sets the tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Checks limits and canonicalises the metadata; what the writer stores.
    pub(crate) fn validate(self) -> Result<ValidEvent, Error> {
        let invalid = |m: String| Err(Error::InvalidAuditEvent(m));
        if self.principal.is_empty() {
            return invalid("principal is empty".into());
        }
        if self.action.is_empty()
            || self.action.len() > MAX_ACTION_BYTES
            || !self
                .action
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return invalid(format!(
                "action {:?} must be 1-{MAX_ACTION_BYTES} characters of A-Z a-z 0-9 . _ -",
                self.action
            ));
        }
        for (field, value) in [
            ("principal", Some(&self.principal)),
            ("agent", self.agent.as_ref()),
            ("session", self.session.as_ref()),
            ("tenant", self.tenant.as_ref()),
        ] {
            if let Some(value) = value {
                if value.len() > MAX_NAME_BYTES {
                    return invalid(format!("{field} is longer than {MAX_NAME_BYTES} bytes"));
                }
                if value.contains('\0') {
                    return invalid(format!("{field} contains a NUL character"));
                }
            }
        }
        if !self.metadata.is_object() {
            return invalid("metadata must be a JSON object".into());
        }
        let metadata = canonical_json(&self.metadata)?;
        if metadata.len() > MAX_METADATA_BYTES {
            return invalid(format!(
                "metadata is larger than {MAX_METADATA_BYTES} bytes"
            ));
        }
        // Postgres text cannot hold NUL; JSON escapes it, so only the raw strings are at risk.
        Ok(ValidEvent {
            principal: self.principal,
            action: self.action,
            agent: self.agent,
            session: self.session,
            tenant: self.tenant,
            metadata,
        })
    }
}

/// An event that passed validation, metadata in canonical form.
#[derive(Debug, Clone)]
pub(crate) struct ValidEvent {
    pub principal: String,
    pub action: String,
    pub agent: Option<String>,
    pub session: Option<String>,
    pub tenant: Option<String>,
    pub metadata: String,
}

/// Proof that an event is committed: its position and MAC in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReceipt {
    /// Position (`audit_log.id`).
    pub id: i64,
    /// The row's HMAC, hex.
    pub hmac: String,
    /// When the row was written.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_event_carries_canonical_metadata() {
        let event = AuditEvent::new("alice", "auth.login").with_metadata(json!({"b": 2, "a": 1}));
        assert_eq!(event.validate().unwrap().metadata, r#"{"a":1,"b":2}"#);
    }

    #[test]
    fn invalid_events_say_which_field_is_wrong() {
        let cases = [
            (AuditEvent::new("", "auth.login"), "principal"),
            (AuditEvent::new("a", "auth login"), "action"),
            (AuditEvent::new("a", "x".repeat(129)), "action"),
            (AuditEvent::new("a\0b", "auth.login"), "principal"),
            (
                AuditEvent::new("a", "auth.login").with_agent("x".repeat(513)),
                "agent",
            ),
            (
                AuditEvent::new("a", "auth.login").with_metadata(json!([1])),
                "metadata",
            ),
            (
                AuditEvent::new("a", "auth.login").with_metadata(json!({"x": "y".repeat(70_000)})),
                "metadata",
            ),
        ];
        for (event, field) in cases {
            let message = event.validate().unwrap_err().to_string();
            assert!(message.contains(field), "{message} should name {field}");
        }
    }
}
