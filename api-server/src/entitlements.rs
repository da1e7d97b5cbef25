//! What this installation is licensed to use. The licensing issue fills this from a licence;
//! until then only `serve --dev` grants anything (everything, for development) and every other
//! installation is granted nothing: features behind an entitlement fail closed.

use std::collections::BTreeSet;

/// Names of the entitlements features check.
pub mod names {
    /// Exporting the audit log (`/admin/audit/export`).
    pub const AUDIT_EXPORT: &str = "audit_export";
    /// Multi-tenant mode.
    pub const MULTI_TENANT: &str = "multi_tenant";
}

/// The granted entitlements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entitlements {
    everything: bool,
    granted: BTreeSet<String>,
}

impl Entitlements {
    /// Nothing granted (the default outside development mode).
    pub fn none() -> Self {
        Self::default()
    }

    /// Everything granted: development mode only.
    pub fn development() -> Self {
        Self {
            everything: true,
            granted: BTreeSet::new(),
        }
    }

    /// Exactly `names` granted (what a licence will carry).
    pub fn of<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Self {
            everything: false,
            granted: names.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether `name` is granted.
    pub fn has(&self, name: &str) -> bool {
        self.everything || self.granted.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_granted_unless_licensed_or_in_development() {
        assert!(!Entitlements::none().has(names::AUDIT_EXPORT));
        assert!(Entitlements::development().has(names::AUDIT_EXPORT));
        let some = Entitlements::of(["audit_export"]);
        assert!(some.has(names::AUDIT_EXPORT));
        assert!(!some.has(names::MULTI_TENANT));
    }
}
