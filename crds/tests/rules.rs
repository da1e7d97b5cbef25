//! The apply-time rules on hand-built documents: each value is checked against the generated
//! schema and its CEL rules, as the API server would on `kubectl apply`.

#![allow(clippy::unwrap_used)]

mod support;

use alexandria_crds::duration::{Duration, RetentionPeriod};
use serde_json::{Value, json};
use support::{cel_rejections, schema_rejections, schemas};

/// Fields rejected for `document` of `kind`, by the schema and by CEL together.
fn rejected_fields(kind: &str, document: &Value) -> Vec<String> {
    let schema = &schemas()[kind];
    schema_rejections(schema, document)
        .into_iter()
        .chain(cel_rejections(schema, document))
        .map(|r| r.field)
        .collect()
}

fn retention_policy(retain: &str, schedule: &str) -> Value {
    json!({
        "apiVersion": "alexandria.io/v1alpha1",
        "kind": "RetentionPolicy",
        "metadata": {"name": "audit", "namespace": "alexandria"},
        "spec": {"instanceRef": {"name": "alexandria"}, "retain": retain, "schedule": schedule},
    })
}

fn instance(extra_spec: Value) -> Value {
    let mut spec = json!({
        "image": {"repository": "registry.example.com/alexandria/api-server"},
        "database": {"dsnSecretRef": {"name": "db", "key": "dsn"}},
        "secrets": {
            "jwtSecretRef": {"name": "jwt", "key": "secret"},
            "auditHmacKeysRef": {"name": "hmac", "key": "keys"},
            "adminPasswordRef": {"name": "admin", "key": "password"},
        },
    });
    for (k, v) in extra_spec.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "alexandria.io/v1alpha1",
        "kind": "AlexandriaInstance",
        "metadata": {"name": "alexandria", "namespace": "alexandria"},
        "spec": spec,
    })
}

fn isolation(fqdns: Value) -> Value {
    json!({
        "apiVersion": "alexandria.io/v1alpha1",
        "kind": "NetworkIsolation",
        "metadata": {"name": "alexandria", "namespace": "alexandria"},
        "spec": {
            "instanceRef": {"name": "alexandria"},
            "ingress": {"controllerNamespace": "ingress-nginx"},
            "cilium": {"enabled": true, "fqdns": fqdns},
        },
    })
}

#[test]
fn retain_is_accepted_by_the_api_server_exactly_when_the_rust_parser_accepts_it() {
    let values = [
        "365d",
        "1d",
        "2557d",
        "24h",
        "1440m",
        "86400s",
        "23h",
        "23h59m59s",
        "12h",
        "0d",
        "0s",
        "1y",
        "1 year",
        "1d12h",
        "d",
        "-1d",
        "365D",
        "1h30m",
        "48h30m",
        "999999d",
        "1000000d",
        "99999999999999999999d",
        "999999h",
        "9999999h",
        "9999999m59s",
        "999999999s",
        "9999999999s",
    ];
    for retain in values {
        let accepted =
            rejected_fields("RetentionPolicy", &retention_policy(retain, "@daily")).is_empty();
        let parsed = RetentionPeriod::new(retain).to_std().is_ok();
        assert_eq!(
            accepted, parsed,
            "retain {retain:?}: API server {accepted}, parser {parsed}"
        );
    }
    for ok in ["365d", "24h", "1440m"] {
        assert!(
            RetentionPeriod::new(ok).to_std().is_ok(),
            "{ok} must be accepted"
        );
    }
}

#[test]
fn durations_are_accepted_by_the_api_server_exactly_when_the_rust_parser_accepts_it() {
    let values = [
        "15m", "1h30m", "90s", "2h0m5s", "1d", "15", "15 m", "30s1m", "1.5h", "m", "15min", "",
    ];
    for value in values {
        let document = instance(json!({"auth": {"jwtTtl": value}}));
        let accepted = rejected_fields("AlexandriaInstance", &document).is_empty();
        let parsed = Duration::new(value).to_std().is_ok();
        assert_eq!(
            accepted, parsed,
            "jwtTtl {value:?}: API server {accepted}, parser {parsed}"
        );
    }
}

#[test]
fn schedule_accepts_cron_expressions_and_shortcuts() {
    for schedule in [
        "@daily",
        "@hourly",
        "@weekly",
        "0 3 * * *",
        "30 2 * * 1-5",
        "*/15 * * * *",
        "0 0 1,15 * *",
        "0 4 * JAN-MAR MON",
        "5 4 ? * SUN",
        "0 0 31 12 7",
        "0-30/10 8-18 * * *",
    ] {
        let rejected = rejected_fields("RetentionPolicy", &retention_policy("365d", schedule));
        assert!(rejected.is_empty(), "{schedule:?} rejected at {rejected:?}");
    }
}

#[test]
fn schedule_rejects_malformed_and_out_of_range_cron_expressions() {
    for schedule in [
        "daily",
        "@every 1h",
        "0 3 * *",
        "0 3 * * * *",
        "60 * * * *",
        "0 24 * * *",
        "0 0 0 * *",
        "0 0 32 * *",
        "0 0 * 13 *",
        "0 0 * * 8",
        "0 0 * * mon",
        "*/0 * * * *",
        "TZ=UTC 0 3 * * *",
        "",
    ] {
        let rejected = rejected_fields("RetentionPolicy", &retention_policy("365d", schedule));
        assert_eq!(rejected, ["spec.schedule"], "{schedule:?}");
    }
}

#[test]
fn hf_models_need_a_full_lowercase_commit() {
    let model = |commit: Option<&str>| {
        let mut m = json!({"name": "mistral", "sourceType": "hf", "repo": "mistralai/Mistral-7B"});
        if let Some(c) = commit {
            m["hfPinnedCommit"] = json!(c);
        }
        instance(json!({"models": [m]}))
    };
    let good = "e0bc86c23ce5aae1db576c8cca6f06f1f73af2db";
    assert!(rejected_fields("AlexandriaInstance", &model(Some(good))).is_empty());
    for bad in [
        None,
        Some("E0BC86C23CE5AAE1DB576C8CCA6F06F1F73AF2DB"),
        Some("e0bc86c"),
        Some("e0bc86c23ce5aae1db576c8cca6f06f1f73af2dbb"),
        Some("g0bc86c23ce5aae1db576c8cca6f06f1f73af2db"),
    ] {
        let rejected = rejected_fields("AlexandriaInstance", &model(bad));
        assert!(!rejected.is_empty(), "{bad:?} accepted");
        assert!(
            rejected
                .iter()
                .all(|f| f == "spec.models[0].hfPinnedCommit"),
            "{bad:?} rejected at {rejected:?}"
        );
    }
}

#[test]
fn replicas_below_one_are_rejected() {
    for (replicas, ok) in [(0, false), (-1, false), (1, true), (5, true)] {
        let rejected = rejected_fields(
            "AlexandriaInstance",
            &instance(json!({"replicas": replicas})),
        );
        assert_eq!(rejected.is_empty(), ok, "replicas {replicas}: {rejected:?}");
        if !ok {
            assert_eq!(rejected, ["spec.replicas"]);
        }
    }
}

#[test]
fn external_secrets_need_a_store_only_when_enabled() {
    let with = |external: Value| {
        instance(json!({"secrets": {
            "jwtSecretRef": {"name": "jwt", "key": "secret"},
            "auditHmacKeysRef": {"name": "hmac", "key": "keys"},
            "adminPasswordRef": {"name": "admin", "key": "password"},
            "externalSecrets": external,
        }}))
    };
    assert!(rejected_fields("AlexandriaInstance", &with(json!({"enabled": false}))).is_empty());
    assert!(rejected_fields("AlexandriaInstance", &with(json!({}))).is_empty());
    assert_eq!(
        rejected_fields("AlexandriaInstance", &with(json!({"enabled": true}))),
        ["spec.secrets.externalSecrets.secretStoreRef"]
    );
    let store =
        json!({"enabled": true, "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"}});
    assert!(rejected_fields("AlexandriaInstance", &with(store)).is_empty());
    let bad_kind = json!({"enabled": true, "secretStoreRef": {"name": "vault", "kind": "Vault"}});
    assert_eq!(
        rejected_fields("AlexandriaInstance", &with(bad_kind)),
        ["spec.secrets.externalSecrets.secretStoreRef.kind"]
    );
}

#[test]
fn cilium_fqdns_need_exactly_one_of_match_name_and_match_pattern() {
    let ok = isolation(json!([{"matchName": "huggingface.co"}, {"matchPattern": "*.hf.co"}]));
    assert!(rejected_fields("NetworkIsolation", &ok).is_empty());
    for bad in [
        json!([{}]),
        json!([{"matchName": "a.example", "matchPattern": "*.example"}]),
    ] {
        let rejected = rejected_fields("NetworkIsolation", &isolation(bad.clone()));
        assert!(!rejected.is_empty(), "{bad} accepted");
        assert!(
            rejected.iter().all(|f| f == "spec.cilium.fqdns[0]"),
            "{bad}: {rejected:?}"
        );
    }
}

#[test]
fn conditions_with_an_unknown_status_are_rejected() {
    let mut document = retention_policy("365d", "@daily");
    document["status"] = json!({"conditions": [{
        "type": "Ready", "status": "Yes", "reason": "Done", "message": "",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
    }]});
    assert_eq!(
        rejected_fields("RetentionPolicy", &document),
        ["status.conditions[0].status"]
    );
}
