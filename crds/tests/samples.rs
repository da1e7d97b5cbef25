//! The samples in `config/samples/` and the broken fixtures in `tests/fixtures/` (workspace root), checked against
//! the Rust types and against the generated schemas (JSON Schema constraints and CEL rules).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use alexandria_crds::instance::PullPolicy;
use alexandria_crds::network_isolation::Protocol;
use alexandria_crds::retention::RetentionMode;
use alexandria_crds::{AlexandriaInstance, NetworkIsolation, RetentionPolicy};
use serde::de::DeserializeOwned;
use serde_json::Value;
use support::{Manifest, Rejection, cel_rejections, fixtures, samples, schema_rejections, schemas};

const KINDS: [&str; 3] = ["AlexandriaInstance", "RetentionPolicy", "NetworkIsolation"];

fn parse<T: DeserializeOwned>(manifest: &Manifest) -> T {
    serde_json::from_value(manifest.value.clone())
        .unwrap_or_else(|e| panic!("{} does not deserialise: {e}", manifest.name()))
}

fn sample(name: &str) -> Manifest {
    samples()
        .into_iter()
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no sample {name}"))
}

fn describe(rejections: &[Rejection]) -> String {
    rejections
        .iter()
        .map(|r| format!("{}: {}", r.field, r.message))
        .collect::<Vec<_>>()
        .join("\n  ")
}

#[test]
fn there_is_a_minimal_and_a_full_sample_of_each_kind() {
    let names: BTreeSet<String> = samples().iter().map(Manifest::name).collect();
    for kind in KINDS {
        for variant in ["minimal", "full"] {
            let name = format!("{}-{variant}.yaml", kind.to_lowercase());
            assert!(names.contains(&name), "missing sample {name}");
        }
    }
    for manifest in samples() {
        let expected_prefix = manifest.kind().to_lowercase();
        assert!(
            manifest.name().starts_with(&expected_prefix),
            "{} holds a {}",
            manifest.name(),
            manifest.kind()
        );
    }
}

#[test]
fn every_sample_deserialises_into_its_rust_type() {
    for manifest in samples() {
        match manifest.kind() {
            "AlexandriaInstance" => drop(parse::<AlexandriaInstance>(&manifest)),
            "RetentionPolicy" => drop(parse::<RetentionPolicy>(&manifest)),
            "NetworkIsolation" => drop(parse::<NetworkIsolation>(&manifest)),
            other => panic!("{}: unexpected kind {other}", manifest.name()),
        }
    }
}

#[test]
fn every_sample_satisfies_the_generated_schema() {
    let schemas = schemas();
    for manifest in samples() {
        let rejections = schema_rejections(&schemas[manifest.kind()], &manifest.value);
        assert!(
            rejections.is_empty(),
            "{} violates the schema:\n  {}",
            manifest.name(),
            describe(&rejections)
        );
    }
}

#[test]
fn every_sample_satisfies_the_cel_rules() {
    let schemas = schemas();
    for manifest in samples() {
        let rejections = cel_rejections(&schemas[manifest.kind()], &manifest.value);
        assert!(
            rejections.is_empty(),
            "{} violates a CEL rule:\n  {}",
            manifest.name(),
            describe(&rejections)
        );
    }
}

#[test]
fn full_samples_set_every_spec_field() {
    // Types borrowed from Kubernetes: the sample sets them, not each of their fields.
    let opaque = ["spec.resources", "spec.ingress.controllerPodSelector"];
    let schemas = schemas();
    for kind in KINDS {
        let manifest = sample(&format!("{}-full.yaml", kind.to_lowercase()));
        let mut declared = BTreeSet::new();
        support::schema_paths(
            &schemas[kind]["properties"]["spec"],
            "spec",
            &opaque,
            &mut declared,
        );
        let mut set = BTreeSet::new();
        support::set_paths(&manifest.value["spec"], "spec", &mut set);
        let missing: Vec<_> = declared.difference(&set).collect();
        assert!(
            missing.is_empty(),
            "{} leaves out {missing:?}",
            manifest.name()
        );
    }
}

#[test]
fn minimal_samples_get_the_documented_defaults() {
    let instance: AlexandriaInstance = parse(&sample("alexandriainstance-minimal.yaml"));
    let spec = &instance.spec;
    assert_eq!(spec.replicas, 2);
    assert_eq!(spec.image.pull_policy, PullPolicy::IfNotPresent);
    assert!(
        spec.network_policy.enabled,
        "networkPolicy.enabled defaults to true"
    );
    assert!(!spec.telemetry.enabled, "telemetry is opt-in");
    assert!(!spec.multi_tenancy.enabled);
    assert!(!spec.vault.enabled);
    assert_eq!(spec.auth.jwt_ttl.as_str(), "15m");
    assert_eq!(spec.auth.lockout.max_attempts, 5);
    assert_eq!(spec.audit.verify_interval.as_str(), "1h");
    assert!(spec.ingress.is_none() && spec.models.is_empty());

    let policy: RetentionPolicy = parse(&sample("retentionpolicy-minimal.yaml"));
    assert_eq!(policy.spec.mode, RetentionMode::Partition);
    assert_eq!(policy.spec.schedule.as_str(), "@daily");
    assert_eq!(policy.spec.premake_partitions, 3);
    assert_eq!(policy.spec.time_zone, "Etc/UTC");
    assert!(!policy.spec.suspend);
    assert_eq!(policy.spec.retain.to_std().unwrap().as_secs(), 365 * 86_400);

    let isolation: NetworkIsolation = parse(&sample("networkisolation-minimal.yaml"));
    let egress = &isolation.spec.egress;
    assert!(egress.dns, "DNS egress is on by default");
    assert!(egress.https && !egress.http);
    assert_eq!(
        (egress.database.port, egress.vault_port, egress.otlp_port),
        (5432, 8200, 4318)
    );
    assert!(!isolation.spec.cilium.enabled);
}

#[test]
fn schema_defaults_equal_the_rust_defaults() {
    // What the API server stores after defaulting must read back as what serde fills in, or the
    // operator and `kubectl get -o yaml` would disagree about a minimal object.
    let schemas = schemas();
    for manifest in samples() {
        let defaulted = kube_cel::apply_defaults(&schemas[manifest.kind()], &manifest.value);
        let (rust, server): (Value, Value) = match manifest.kind() {
            "AlexandriaInstance" => (
                serde_json::to_value(parse::<AlexandriaInstance>(&manifest)).unwrap(),
                serde_json::to_value(
                    serde_json::from_value::<AlexandriaInstance>(defaulted.clone()).unwrap(),
                )
                .unwrap(),
            ),
            "RetentionPolicy" => (
                serde_json::to_value(parse::<RetentionPolicy>(&manifest)).unwrap(),
                serde_json::to_value(
                    serde_json::from_value::<RetentionPolicy>(defaulted.clone()).unwrap(),
                )
                .unwrap(),
            ),
            _ => (
                serde_json::to_value(parse::<NetworkIsolation>(&manifest)).unwrap(),
                serde_json::to_value(
                    serde_json::from_value::<NetworkIsolation>(defaulted.clone()).unwrap(),
                )
                .unwrap(),
            ),
        };
        assert_eq!(
            rust,
            server,
            "{}: schema and serde defaults differ",
            manifest.name()
        );
        // And the defaulting really happened: every default the schema declares is in place.
        assert_eq!(
            serde_json::to_value(&defaulted).unwrap()["spec"],
            server["spec"],
            "{}: a schema default is missing from the Rust serialisation",
            manifest.name()
        );
    }
}

#[test]
fn full_instance_sample_reads_back_its_secret_sources() {
    let instance: AlexandriaInstance = parse(&sample("alexandriainstance-full.yaml"));
    let secrets = &instance.spec.secrets;
    let external = secrets.external_secrets.as_ref().unwrap();
    assert!(external.enabled);
    assert_eq!(
        external.secret_store_ref.as_ref().unwrap().name,
        "vault-backend"
    );
    assert_eq!(
        external
            .remote_keys
            .oidc_client_secrets
            .get("okta")
            .map(String::as_str),
        Some("alexandria/prod/oidc/okta")
    );
    let oidc = &instance.spec.auth.oidc[0];
    assert!(
        external
            .remote_keys
            .oidc_client_secrets
            .contains_key(&oidc.name)
    );
    assert_eq!(instance.spec.database.dsn_secret_ref.key, "dsn");

    let isolation: NetworkIsolation = parse(&sample("networkisolation-full.yaml"));
    assert_eq!(
        isolation.spec.egress.extra[0].ports[1].protocol,
        Protocol::Udp
    );
}

#[test]
fn each_broken_fixture_is_rejected_by_the_schema_at_the_field_it_names() {
    let schemas = schemas();
    for manifest in fixtures("invalid") {
        let expected = manifest.rejected_at();
        let rejections = schema_rejections(&schemas[manifest.kind()], &manifest.value);
        assert!(
            rejections.iter().any(|r| r.field == expected),
            "{}: expected a rejection at {expected}, got:\n  {}",
            manifest.name(),
            describe(&rejections)
        );
        let elsewhere: Vec<_> = rejections
            .iter()
            .filter(|r| !r.field.starts_with(&expected))
            .cloned()
            .collect();
        assert!(
            elsewhere.is_empty(),
            "{}: broken at more than {expected}:\n  {}",
            manifest.name(),
            describe(&elsewhere)
        );
    }
}

#[test]
fn each_cel_fixture_passes_the_schema_but_fails_a_cel_rule_at_the_field_it_names() {
    let schemas = schemas();
    for manifest in fixtures("invalid-cel") {
        let expected = manifest.rejected_at();
        let schema = &schemas[manifest.kind()];
        let structural = schema_rejections(schema, &manifest.value);
        assert!(
            structural.is_empty(),
            "{}: meant to be caught by CEL only, but the schema rejects it:\n  {}",
            manifest.name(),
            describe(&structural)
        );
        let rejections = cel_rejections(schema, &manifest.value);
        assert!(
            rejections.iter().any(|r| r.field == expected),
            "{}: expected a CEL rejection at {expected}, got:\n  {}",
            manifest.name(),
            describe(&rejections)
        );
        let leaf = expected.rsplit('.').next().unwrap();
        assert!(
            rejections.iter().all(|r| r.message.contains(leaf)),
            "{}: the message should name {leaf}:\n  {}",
            manifest.name(),
            describe(&rejections)
        );
    }
}
