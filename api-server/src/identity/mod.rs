//! Identities and what they may use: tenants, the tool catalog, users and agents. Each module
//! owns its table and its queries.

pub mod agents;
pub mod provision;
pub mod tenants;
pub mod tools;
pub mod users;

use crate::error::Error;

/// The tenant of single-tenant installations (and the default one in multi-tenant mode).
pub const DEFAULT_TENANT: &str = "default";

/// Checks a login-style name (username, agent name): 1–64 of `A-Z a-z 0-9 . _ @ -`, not
/// starting with punctuation. Matches the table CHECKs, so bad input is a 422 and not a DB error.
pub fn validate_principal_name(field: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "{field}: must be 1-64 characters of A-Z a-z 0-9 . _ @ - starting with a letter or digit"
        )))
    }
}

/// Checks a list of tool names and returns it sorted without duplicates.
pub fn validate_tool_list(field: &str, tools: &[String]) -> Result<Vec<String>, Error> {
    if tools.len() > 1000 {
        return Err(Error::InvalidRequest(format!(
            "{field}: at most 1000 tools"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(tools.len());
    for tool in tools {
        tools::validate_name(tool).map_err(|e| Error::InvalidRequest(format!("{field}: {e}")))?;
        out.push(tool.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Whether a database error is a unique violation (a duplicate name).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// Whether a database error is a foreign-key violation (e.g. an unknown tenant).
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23503"))
}
