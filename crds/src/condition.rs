//! Status conditions: the `metav1.Condition` shape, the condition types the operator reports,
//! and the list schema (`x-kubernetes-list-type: map` keyed on `type`).

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::{Schema, SchemaGenerator};
use serde_json::json;

/// The resource is reconciled and serving; exactly one per resource, read by `kubectl wait`,
/// Flux and Argo CD.
pub const READY: &str = "Ready";
/// The operator is rolling out a change.
pub const PROGRESSING: &str = "Progressing";
/// The resource was reconciled before but is now impaired.
pub const DEGRADED: &str = "Degraded";
/// The last audit chain verification found every row's HMAC intact.
pub const AUDIT_CHAIN_VERIFIED: &str = "AuditChainVerified";
/// NetworkPolicies (and Cilium policies when enabled) restrict the api-server's traffic.
pub const NETWORK_ISOLATED: &str = "NetworkIsolated";
/// Every secret is synced from an external store rather than kept only in the cluster.
pub const SECRETS_EXTERNALIZED: &str = "SecretsExternalized";
/// A RetentionPolicy covers the instance and its last run succeeded.
pub const RETENTION_ENFORCED: &str = "RetentionEnforced";

/// `status` of a condition that holds.
pub const TRUE: &str = "True";
/// `status` of a condition that does not hold.
pub const FALSE: &str = "False";
/// `status` of a condition the operator cannot determine yet.
pub const UNKNOWN: &str = "Unknown";

/// Inserts or replaces the condition of `new.type_`, keeping one entry per type. When the status
/// is unchanged the existing `lastTransitionTime` is kept, so it records the last transition
/// rather than the last reconcile. Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            let last_transition_time = if existing.status == new.status {
                existing.last_transition_time.clone()
            } else {
                new.last_transition_time.clone()
            };
            let updated = Condition {
                last_transition_time,
                ..new
            };
            let changed = *existing != updated;
            *existing = updated;
            changed
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// The condition of the given type, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of the given type is present with status `True`.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == TRUE)
}

/// Schema of a `conditions` list: the k8s-openapi Condition schema with `status` limited to
/// True/False/Unknown, as a list map keyed on `type` so server-side apply merges per type.
pub(crate) fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), json!("map"));
    schema.insert("x-kubernetes-list-map-keys".into(), json!(["type"]));
    if let Some(status) = schema
        .get_mut("items")
        .and_then(|items| items.get_mut("properties"))
        .and_then(|properties| properties.get_mut("status"))
        .and_then(|status| status.as_object_mut())
    {
        status.insert("enum".into(), json!([TRUE, FALSE, UNKNOWN]));
    }
    schema
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn condition(type_: &str, status: &str, reason: &str, time: Time) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            last_transition_time: time,
            observed_generation: Some(1),
        }
    }

    #[test]
    fn set_condition_keeps_transition_time_when_status_is_unchanged() {
        let mut conditions = vec![condition(READY, TRUE, "Available", at(100))];
        let changed = set_condition(
            &mut conditions,
            condition(READY, TRUE, "StillAvailable", at(200)),
        );
        assert!(changed);
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, at(100));
        assert_eq!(conditions[0].reason, "StillAvailable");
    }

    #[test]
    fn set_condition_moves_transition_time_when_status_changes() {
        let mut conditions = vec![condition(READY, TRUE, "Available", at(100))];
        set_condition(
            &mut conditions,
            condition(READY, FALSE, "Unavailable", at(200)),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].status, FALSE);
        assert_eq!(conditions[0].last_transition_time, at(200));
    }

    #[test]
    fn set_condition_reports_no_change_for_an_identical_condition() {
        let mut conditions = vec![condition(READY, TRUE, "Available", at(100))];
        let changed = set_condition(
            &mut conditions,
            condition(READY, TRUE, "Available", at(300)),
        );
        assert!(!changed);
        assert_eq!(conditions[0].last_transition_time, at(100));
    }

    #[test]
    fn set_condition_appends_new_types_and_finds_them() {
        let mut conditions = vec![condition(READY, TRUE, "Available", at(100))];
        set_condition(
            &mut conditions,
            condition(NETWORK_ISOLATED, FALSE, "PoliciesPending", at(100)),
        );
        assert_eq!(conditions.len(), 2);
        assert!(is_condition_true(&conditions, READY));
        assert!(!is_condition_true(&conditions, NETWORK_ISOLATED));
        assert!(!is_condition_true(&conditions, DEGRADED));
        assert_eq!(
            find_condition(&conditions, NETWORK_ISOLATED).map(|c| c.reason.as_str()),
            Some("PoliciesPending")
        );
    }
}
