//! The generated CustomResourceDefinitions: committed YAML in sync, structural-schema rules,
//! names, printer columns and conditions.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use alexandria_crds::{all_crds, crd_files, crds_yaml_stream};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;
use support::{schemas, yaml_files};

/// A printer column: name, type, JSONPath.
type Column = (&'static str, &'static str, &'static str);

const REGENERATE: &str = "cargo run -p alexandria-operator -- crd --output-dir crds";

fn crd(kind: &str) -> CustomResourceDefinition {
    all_crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap()
}

/// Calls `f(path, node)` for every schema node below `node`.
fn walk(node: &Value, path: &str, f: &mut dyn FnMut(&str, &serde_json::Map<String, Value>)) {
    let Some(object) = node.as_object() else {
        return;
    };
    f(path, object);
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        for (k, v) in properties {
            walk(v, &format!("{path}.{k}"), f);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = object.get(key) {
            walk(child, &format!("{path}.{key}"), f);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for (i, branch) in object
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            walk(branch, &format!("{path}.{key}[{i}]"), f);
        }
    }
}

#[test]
fn committed_crd_files_equal_the_generated_yaml() {
    let dir = support::workspace_root().join("crds");
    for (name, generated) in crd_files().unwrap() {
        let path = dir.join(&name);
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}; run `{REGENERATE}`", path.display()));
        assert!(
            committed == generated,
            "crds/{name} differs from the types in crds/src; run `{REGENERATE}` and commit it"
        );
    }
}

#[test]
fn crds_directory_holds_exactly_the_generated_files() {
    let generated: BTreeSet<String> = crd_files().unwrap().into_iter().map(|(n, _)| n).collect();
    let committed: BTreeSet<String> = yaml_files(&support::workspace_root().join("crds"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(committed, generated, "stale or missing CRD files in crds/");
}

#[test]
fn yaml_stream_is_the_committed_files_separated_by_document_markers() {
    let expected: String = crd_files()
        .unwrap()
        .into_iter()
        .map(|(_, text)| format!("---\n{text}"))
        .collect();
    let stream = crds_yaml_stream().unwrap();
    assert_eq!(stream, expected);
    assert_eq!(stream.matches("\n---\n").count() + 1, 3);
    assert!(stream.starts_with("---\n"));
}

fn version_name(crd: &CustomResourceDefinition) -> &str {
    &crd.spec.versions[0].name
}

#[test]
fn crds_are_namespaced_v1alpha1_in_alexandria_io_with_status_subresource() {
    let expected = [
        ("AlexandriaInstance", "alexandriainstances", "axi"),
        ("RetentionPolicy", "retentionpolicies", "arp"),
        ("NetworkIsolation", "networkisolations", "ani"),
    ];
    let crds = all_crds();
    assert_eq!(crds.len(), expected.len());
    for (crd, (kind, plural, short)) in crds.iter().zip(expected) {
        assert_eq!(crd.spec.names.kind, kind);
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some(format!("{plural}.alexandria.io").as_str())
        );
        assert_eq!(crd.spec.group, "alexandria.io");
        assert_eq!(crd.spec.group, alexandria_crds::GROUP);
        assert_eq!(version_name(crd), alexandria_crds::VERSION);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.plural, plural);
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&[short.to_owned()][..])
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&[alexandria_crds::CATEGORY.to_owned()][..])
        );
        assert_eq!(crd.spec.versions.len(), 1);
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.served && version.storage);
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{kind} has no status subresource"
        );
    }
}

#[test]
fn printer_columns_are_those_of_the_issue_and_keep_age() {
    let expected: [(&str, &[Column]); 3] = [
        (
            "AlexandriaInstance",
            &[
                (
                    "Ready",
                    "string",
                    r#".status.conditions[?(@.type=="Ready")].status"#,
                ),
                ("Replicas", "string", ".status.replicaSummary"),
                ("Audit", "boolean", ".status.auditChain.verified"),
                (
                    "Isolated",
                    "string",
                    r#".status.conditions[?(@.type=="NetworkIsolated")].status"#,
                ),
                ("Version", "string", ".status.version"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
        (
            "RetentionPolicy",
            &[
                ("Instance", "string", ".spec.instanceRef.name"),
                ("Retain", "string", ".spec.retain"),
                ("Mode", "string", ".spec.mode"),
                ("Last-Success", "date", ".status.lastSuccessfulTime"),
                (
                    "Ready",
                    "string",
                    r#".status.conditions[?(@.type=="Ready")].status"#,
                ),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
        (
            "NetworkIsolation",
            &[
                ("Instance", "string", ".spec.instanceRef.name"),
                ("Cilium", "boolean", ".spec.cilium.enabled"),
                (
                    "Ready",
                    "string",
                    r#".status.conditions[?(@.type=="Ready")].status"#,
                ),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
    ];
    let schemas = schemas();
    for (kind, columns) in expected {
        let crd = crd(kind);
        let actual: Vec<(String, String, String)> = crd.spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.clone(), c.type_.clone(), c.json_path.clone()))
            .collect();
        let expected: Vec<(String, String, String)> = columns
            .iter()
            .map(|(n, t, p)| (n.to_string(), t.to_string(), p.to_string()))
            .collect();
        assert_eq!(actual, expected, "{kind} printer columns");
        // Every column other than Age points at a field the schema declares, with that type.
        for (name, type_, path) in &actual {
            if name == "Age" {
                continue;
            }
            let simple = path.split("[?").next().unwrap();
            let mut node = &schemas[kind];
            for segment in simple.trim_start_matches('.').split('.') {
                node = node["properties"]
                    .get(segment)
                    .unwrap_or_else(|| panic!("{kind} column {name}: {path} is not in the schema"));
                if node["type"] == "array" {
                    node = &node["items"];
                }
            }
            if type_ == "date" {
                assert_eq!(
                    (&node["type"], &node["format"]),
                    (&"string".into(), &"date-time".into())
                );
            } else if !path.contains("[?") {
                assert_eq!(
                    node["type"].as_str(),
                    Some(type_.as_str()),
                    "{kind} column {name}"
                );
            }
        }
    }
}

#[test]
fn schemas_are_structural() {
    for (kind, schema) in schemas() {
        assert_eq!(schema["type"], "object", "{kind}: root must be an object");
        walk(&schema, kind.as_str(), &mut |path, node| {
            for forbidden in [
                "$ref",
                "$schema",
                "definitions",
                "$defs",
                "dependencies",
                "patternProperties",
            ] {
                assert!(
                    !node.contains_key(forbidden),
                    "{path}: {forbidden} is not allowed"
                );
            }
            let in_junctor = path.contains("Of[") || path.contains(".not");
            if in_junctor {
                for key in [
                    "type",
                    "description",
                    "default",
                    "nullable",
                    "additionalProperties",
                ] {
                    assert!(
                        !node.contains_key(key),
                        "{path}: {key} inside allOf/anyOf/oneOf/not"
                    );
                }
            } else {
                assert!(
                    node.contains_key("type") || node.contains_key("x-kubernetes-int-or-string"),
                    "{path}: every node needs a type"
                );
            }
            if node.contains_key("enum") {
                assert_eq!(
                    node["type"], "string",
                    "{path}: enums must be typed strings"
                );
            }
            if let Some(required) = node.get("required").and_then(Value::as_array)
                && !in_junctor
            {
                for field in required {
                    let field = field.as_str().unwrap();
                    let property = &node["properties"][field];
                    assert!(
                        property.is_object(),
                        "{path}: required {field} is not a property"
                    );
                    assert!(
                        property.get("default").is_none() && property.get("nullable").is_none(),
                        "{path}.{field}: optional (defaulted or nullable) yet required"
                    );
                }
            }
        });
    }
}

#[test]
fn every_property_has_a_description_for_kubectl_explain() {
    for (kind, schema) in schemas() {
        walk(&schema, kind.as_str(), &mut |path, node| {
            if let Some(properties) = node.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    let description = property.get("description").and_then(Value::as_str);
                    assert!(
                        description.is_some_and(|d| !d.trim().is_empty()),
                        "{path}.{name} has no description"
                    );
                    // Doc comments wrap at 100 columns; kubectl explain wraps by itself.
                    assert!(
                        !description.unwrap().replace("\n\n", "").contains('\n'),
                        "{path}.{name}: description has a line break inside a paragraph"
                    );
                }
            }
        });
    }
}

#[test]
fn every_conditions_list_is_a_map_keyed_on_type() {
    for (kind, schema) in schemas() {
        let conditions = &schema["properties"]["status"]["properties"]["conditions"];
        assert_eq!(conditions["type"], "array", "{kind}");
        assert_eq!(conditions["x-kubernetes-list-type"], "map", "{kind}");
        assert_eq!(
            conditions["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"]),
            "{kind}"
        );
        let item = &conditions["items"];
        let required: BTreeSet<&str> = item["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for field in ["type", "status", "reason", "message", "lastTransitionTime"] {
            assert!(
                required.contains(field),
                "{kind}: condition {field} must be required"
            );
        }
        assert!(
            item["properties"]["observedGeneration"].is_object(),
            "{kind}"
        );
        assert_eq!(
            item["properties"]["status"]["enum"],
            serde_json::json!(["True", "False", "Unknown"])
        );
        assert!(
            schema["properties"]["status"]["properties"]["observedGeneration"].is_object(),
            "{kind}: status.observedGeneration"
        );
    }
}

#[test]
fn every_cel_rule_compiles_has_a_message_and_stays_within_the_cost_budget() {
    let mut rules = 0;
    for (kind, schema) in schemas() {
        let compiled = kube_cel::compile_schema(&schema);
        check_compiled(&kind, &compiled, &mut rules);
        walk(&schema, kind.as_str(), &mut |path, node| {
            for rule in node
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let message = rule["message"].as_str().unwrap_or_default();
                assert!(
                    !message.is_empty(),
                    "{path}: rule {} has no message",
                    rule["rule"]
                );
            }
        });
    }
    assert!(
        rules >= 8,
        "expected the CEL rules of the issue, found {rules}"
    );
}

/// The API server estimates a rule's cost from the bounds of what it reads: strings a rule reads
/// need `maxLength` (or an `enum`), and lists above a rule need `maxItems`, or the CRD itself can
/// be refused as too expensive.
#[test]
fn cel_rules_only_read_bounded_strings_below_bounded_lists() {
    fn check(node: &Value, path: &str, unbounded_list: Option<&str>) {
        let rules = node
            .get("x-kubernetes-validations")
            .and_then(Value::as_array);
        for rule in rules.into_iter().flatten() {
            let text = rule["rule"].as_str().unwrap();
            assert!(
                unbounded_list.is_none(),
                "{path}: {text:?} sits below unbounded list {unbounded_list:?}"
            );
            let bounded = |n: &Value| {
                n["type"] != "string" || n.get("maxLength").is_some() || n.get("enum").is_some()
            };
            if node["type"] == "string" {
                assert!(bounded(node), "{path}: {text:?} reads an unbounded string");
            }
            for (name, property) in node
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if text.contains(&format!("self.{name}")) {
                    assert!(
                        bounded(property),
                        "{path}.{name}: read by {text:?} without maxLength"
                    );
                }
            }
        }
        for (name, property) in node
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            check(property, &format!("{path}.{name}"), unbounded_list);
        }
        if let Some(items) = node.get("items") {
            let unbounded = if node.get("maxItems").is_none() {
                Some(path)
            } else {
                unbounded_list
            };
            check(items, &format!("{path}[]"), unbounded);
        }
    }
    for (kind, schema) in schemas() {
        check(&schema, &kind, None);
    }
}

fn check_compiled(kind: &str, node: &kube_cel::CompiledSchema, rules: &mut usize) {
    for result in &node.validations {
        let compiled = result.as_ref().unwrap_or_else(|e| panic!("{kind}: {e:?}"));
        *rules += 1;
        let warnings = kube_cel::analyze_rule(
            &compiled.rule.rule,
            node,
            kube_cel::ScopeContext::CrdValidation,
        );
        assert!(
            warnings.is_empty(),
            "{kind}: {:?}: {warnings:?}",
            compiled.rule.rule
        );
    }
    let children = node
        .properties
        .values()
        .chain(node.items.as_deref())
        .chain(node.additional_properties.as_deref())
        .chain(&node.all_of)
        .chain(&node.one_of)
        .chain(&node.any_of);
    for child in children {
        check_compiled(kind, child, rules);
    }
}
