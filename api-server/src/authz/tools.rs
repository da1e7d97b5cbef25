//! Tool permission intersection: an agent acting for a user may use
//! `catalog ∩ server_ceiling ∩ agent_allowed ∩ user_allowed`, and `∩ tenant_ceiling` in
//! multi-tenant mode. Pure: the handler gathers the sets, this decides.

use std::collections::BTreeSet;

use crate::config::ToolCeiling;

/// The sets a decision is made from; `None` means "not part of this decision" (no agent, no
/// user, or single-tenant mode), never "everything".
#[derive(Debug, Clone, Copy)]
pub struct Grants<'a> {
    /// Tools in the server's catalog.
    pub catalog: &'a BTreeSet<String>,
    /// The server ceiling from the configuration.
    pub server_ceiling: &'a ToolCeiling,
    /// The tenant's ceiling (multi-tenant mode only).
    pub tenant_ceiling: Option<&'a BTreeSet<String>>,
    /// The agent's allowed tools.
    pub agent: Option<&'a BTreeSet<String>>,
    /// The user's allowed tools.
    pub user: Option<&'a BTreeSet<String>>,
}

/// A decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the tool may be used.
    pub allowed: bool,
    /// Every tool the principal may use (the intersection).
    pub effective_tools: BTreeSet<String>,
    /// Why, in words; names the set that excluded the tool.
    pub reason: String,
}

/// The intersection of every set in `grants`.
pub fn effective_tools(grants: &Grants<'_>) -> BTreeSet<String> {
    grants
        .catalog
        .iter()
        .filter(|tool| grants.server_ceiling.permits(tool))
        .filter(|tool| grants.tenant_ceiling.is_none_or(|c| c.contains(*tool)))
        .filter(|tool| grants.agent.is_none_or(|a| a.contains(*tool)))
        .filter(|tool| grants.user.is_none_or(|u| u.contains(*tool)))
        .cloned()
        .collect()
}

/// Whether `tool` is in the intersection, and if not, the first set that excludes it.
pub fn decide(tool: &str, grants: &Grants<'_>) -> Decision {
    let effective_tools = effective_tools(grants);
    let excluded_by = if !grants.catalog.contains(tool) {
        Some("the tool is not in the server's catalog")
    } else if !grants.server_ceiling.permits(tool) {
        Some("the server tool ceiling excludes it")
    } else if grants.tenant_ceiling.is_some_and(|c| !c.contains(tool)) {
        Some("the tenant's tool ceiling excludes it")
    } else if grants.agent.is_some_and(|a| !a.contains(tool)) {
        Some("the agent is not allowed this tool")
    } else if grants.user.is_some_and(|u| !u.contains(tool)) {
        Some("the user does not allow this tool")
    } else {
        None
    };
    Decision {
        allowed: excluded_by.is_none(),
        reason: excluded_by.map_or_else(
            || "allowed by every grant in the intersection".to_owned(),
            str::to_owned,
        ),
        effective_tools,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_effective_set_is_the_intersection_of_every_grant() {
        let catalog = set(&["search", "fetch", "email", "shell"]);
        let server = ToolCeiling::Only(set(&["search", "fetch", "email"]));
        let tenant = set(&["search", "fetch", "shell"]);
        let agent = set(&["search", "fetch", "email", "shell"]);
        let user = set(&["search", "email", "shell"]);
        let grants = Grants {
            catalog: &catalog,
            server_ceiling: &server,
            tenant_ceiling: Some(&tenant),
            agent: Some(&agent),
            user: Some(&user),
        };
        assert_eq!(effective_tools(&grants), set(&["search"]));
        assert!(decide("search", &grants).allowed);
        let cases = [
            ("email", "tenant"),
            ("fetch", "user"),
            ("shell", "server"),
            ("teleport", "catalog"),
        ];
        for (tool, culprit) in cases {
            let decision = decide(tool, &grants);
            assert!(!decision.allowed, "{tool}");
            assert!(
                decision.reason.contains(culprit),
                "{tool}: {}",
                decision.reason
            );
        }
    }

    #[test]
    fn single_tenant_mode_leaves_the_tenant_ceiling_out_and_star_means_the_catalog() {
        let catalog = set(&["search", "fetch"]);
        let agent = set(&["search", "fetch", "not-in-catalog"]);
        let user = set(&["fetch", "not-in-catalog"]);
        let grants = Grants {
            catalog: &catalog,
            server_ceiling: &ToolCeiling::Catalog,
            tenant_ceiling: None,
            agent: Some(&agent),
            user: Some(&user),
        };
        assert_eq!(effective_tools(&grants), set(&["fetch"]));
        assert!(!decide("not-in-catalog", &grants).allowed);
    }

    #[test]
    fn an_empty_grant_allows_nothing() {
        let catalog = set(&["search"]);
        let empty = BTreeSet::new();
        let grants = Grants {
            catalog: &catalog,
            server_ceiling: &ToolCeiling::Catalog,
            tenant_ceiling: None,
            agent: Some(&empty),
            user: None,
        };
        assert!(effective_tools(&grants).is_empty());
        assert!(!decide("search", &grants).allowed);
        let grants = Grants {
            server_ceiling: &ToolCeiling::Only(BTreeSet::new()),
            agent: None,
            ..grants
        };
        assert!(!decide("search", &grants).allowed);
    }
}
