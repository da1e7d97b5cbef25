//! Environment overrides: every leaf `a.b.c` of the file is overridden by `ALEXANDRIA_A_B_C`.

use serde_yaml::{Mapping, Value};

use crate::error::Error;

/// Prefix of every configuration variable.
pub const PREFIX: &str = "ALEXANDRIA_";

/// How an environment value becomes a YAML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Taken verbatim (durations, URLs, paths, secrets).
    Text,
    /// An integer.
    Integer,
    /// `true` or `false`.
    Bool,
    /// Comma-separated strings.
    List,
    /// An integer number of bytes or a size with a unit.
    Size,
}

/// Every overridable field as its dotted path, with its kind.
pub const LEAVES: &[(&str, Kind)] = &[
    ("listen", Kind::Text),
    ("body_limit", Kind::Size),
    ("trusted_proxies", Kind::List),
    ("multi_tenant", Kind::Bool),
    ("database.url", Kind::Text),
    ("database.url_file", Kind::Text),
    ("database.max_connections", Kind::Integer),
    ("database.audit_max_connections", Kind::Integer),
    ("auth.jwt_secret", Kind::Text),
    ("auth.jwt_secret_file", Kind::Text),
    ("auth.jwt_ttl", Kind::Text),
    ("auth.issuer", Kind::Text),
    ("auth.audience", Kind::Text),
    ("auth.leeway", Kind::Text),
    ("auth.bcrypt_cost", Kind::Integer),
    ("auth.lockout.max_attempts", Kind::Integer),
    ("auth.lockout.window", Kind::Text),
    ("auth.lockout.duration", Kind::Text),
    ("auth.lockout.per_ip", Kind::Bool),
    ("audit.hmac_keys_file", Kind::Text),
    ("audit.signing_key_file", Kind::Text),
    ("audit.public_keys_file", Kind::Text),
    ("audit.max_batch", Kind::Integer),
    ("audit.linger", Kind::Text),
    ("audit.queue_capacity", Kind::Integer),
    ("audit.record_timeout", Kind::Text),
    ("audit.checkpoint_every_rows", Kind::Integer),
    ("audit.checkpoint_interval", Kind::Text),
    ("audit.premake_months", Kind::Integer),
    ("tools.ceiling", Kind::List),
    ("otlp.endpoint", Kind::Text),
    ("otlp.service_name", Kind::Text),
];

/// The variable that overrides `path`: `auth.lockout.window` → `ALEXANDRIA_AUTH_LOCKOUT_WINDOW`.
pub fn variable_for(path: &str) -> String {
    format!("{PREFIX}{}", path.replace('.', "_").to_ascii_uppercase())
}

/// Writes every `ALEXANDRIA_*` override found in `vars` into `tree`. Returns the names of
/// `ALEXANDRIA_*` variables that match no field (the caller warns about them).
pub fn apply(
    tree: &mut Value,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, Error> {
    let mut unknown = Vec::new();
    for (name, raw) in vars {
        if !name.starts_with(PREFIX) {
            continue;
        }
        let Some((path, kind)) = LEAVES.iter().find(|(path, _)| variable_for(path) == name) else {
            unknown.push(name);
            continue;
        };
        let value = parse(path, &name, kind, &raw)?;
        set(tree, path, value);
    }
    Ok(unknown)
}

fn parse(path: &str, name: &str, kind: &Kind, raw: &str) -> Result<Value, Error> {
    let invalid = |what: &str| Error::Config {
        field: (*path).to_owned(),
        message: format!("{raw:?} (from {name}) is not {what}"),
    };
    Ok(match kind {
        Kind::Text => Value::String(raw.to_owned()),
        Kind::Integer => Value::Number(
            raw.trim()
                .parse::<i64>()
                .map_err(|_| invalid("an integer"))?
                .into(),
        ),
        Kind::Bool => Value::Bool(match raw.trim() {
            "true" => true,
            "false" => false,
            _ => return Err(invalid("true or false")),
        }),
        Kind::List => Value::Sequence(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        Kind::Size => match raw.trim().parse::<u64>() {
            Ok(bytes) => Value::Number(bytes.into()),
            Err(_) => Value::String(raw.trim().to_owned()),
        },
    })
}

fn set(tree: &mut Value, path: &str, value: Value) {
    if !tree.is_mapping() {
        *tree = Value::Mapping(Mapping::new());
    }
    let mut node = tree;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Mapping(map) = node else { return };
        let key = Value::String(part.to_owned());
        if parts.peek().is_none() {
            map.insert(key, value);
            return;
        }
        let child = map
            .entry(key)
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !child.is_mapping() {
            *child = Value::Mapping(Mapping::new());
        }
        node = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_are_unique_per_field() {
        let mut names: Vec<String> = LEAVES.iter().map(|(p, _)| variable_for(p)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), LEAVES.len());
        assert_eq!(
            variable_for("auth.lockout.window"),
            "ALEXANDRIA_AUTH_LOCKOUT_WINDOW"
        );
    }

    #[test]
    fn overrides_create_nested_values_and_report_unknown_variables() {
        let mut tree: Value = serde_yaml::from_str("auth:\n  jwt_ttl: 1h\n").unwrap();
        let unknown = apply(
            &mut tree,
            [
                ("ALEXANDRIA_AUTH_JWT_TTL".into(), "5m".into()),
                ("ALEXANDRIA_AUTH_LOCKOUT_MAX_ATTEMPTS".into(), "3".into()),
                ("ALEXANDRIA_TOOLS_CEILING".into(), "search, fetch".into()),
                ("ALEXANDRIA_NOPE".into(), "x".into()),
                ("HOME".into(), "/root".into()),
            ],
        )
        .unwrap();
        assert_eq!(unknown, vec!["ALEXANDRIA_NOPE".to_owned()]);
        assert_eq!(tree["auth"]["jwt_ttl"], Value::String("5m".into()));
        assert_eq!(
            tree["auth"]["lockout"]["max_attempts"],
            Value::Number(3.into())
        );
        assert_eq!(tree["tools"]["ceiling"][1], Value::String("fetch".into()));
    }

    #[test]
    fn a_malformed_override_names_the_field_and_the_variable() {
        let mut tree = Value::Null;
        let err = apply(
            &mut tree,
            [("ALEXANDRIA_AUTH_BCRYPT_COST".into(), "twelve".into())],
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("auth.bcrypt_cost:"), "{err}");
        assert!(err.contains("ALEXANDRIA_AUTH_BCRYPT_COST"), "{err}");
    }
}
