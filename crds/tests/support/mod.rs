//! Shared by the integration tests: reading the samples and fixtures, and checking a document
//! against the generated schema (JSON Schema constraints, then CEL rules) the way the API server
//! would.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alexandria_crds::all_crds;
use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use jsonschema::{Draft, PatternOptions};
use serde_json::{Map, Value, json};

/// The workspace root (the crate lives in `crds/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `*.yaml` files of a directory, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML files in {}", dir.display());
    files
}

/// A manifest read from disk, as JSON, with the text it came from.
pub struct Manifest {
    pub path: PathBuf,
    pub text: String,
    pub value: Value,
}

impl Manifest {
    pub fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let value: Value = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
        Self {
            path: path.to_owned(),
            text,
            value,
        }
    }

    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> String {
        self.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// The field path a broken fixture names in its `# rejected at: <path> (why)` first line.
    pub fn rejected_at(&self) -> String {
        let first = self.text.lines().next().unwrap_or_default();
        let rest = first
            .strip_prefix("# rejected at: ")
            .unwrap_or_else(|| panic!("{} lacks a '# rejected at:' line", self.name()));
        rest.split_whitespace().next().unwrap().to_owned()
    }
}

/// The samples under `config/samples/`.
pub fn samples() -> Vec<Manifest> {
    yaml_files(&workspace_root().join("config/samples"))
        .iter()
        .map(|p| Manifest::read(p))
        .collect()
}

/// The broken fixtures in `tests/fixtures/<dir>/` (outside `crds/` and `config/samples/`, which
/// `validate-manifests` walks and must find valid).
pub fn fixtures(dir: &str) -> Vec<Manifest> {
    yaml_files(&workspace_root().join("tests/fixtures").join(dir))
        .iter()
        .map(|p| Manifest::read(p))
        .collect()
}

/// The generated `openAPIV3Schema` of each kind.
pub fn schemas() -> BTreeMap<String, Value> {
    all_crds()
        .into_iter()
        .map(|crd| {
            let schema = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .unwrap();
            (
                crd.spec.names.kind.clone(),
                serde_json::to_value(schema).unwrap(),
            )
        })
        .collect()
}

/// One rejection: the field (`spec.models[0].hfPinnedCommit`) and what was wrong.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub field: String,
    pub message: String,
}

/// Errors of the JSON Schema constraints (type, pattern, enum, range, length, required, oneOf)
/// plus unknown fields, which the API server prunes (and `kubectl apply` rejects).
pub fn schema_rejections(schema: &Value, document: &Value) -> Vec<Rejection> {
    let mut root = to_json_schema(schema);
    // The CRD schema leaves the envelope out; the API server supplies it.
    let properties = root["properties"].as_object_mut().unwrap();
    properties.insert("apiVersion".into(), json!({"type": "string"}));
    properties.insert("kind".into(), json!({"type": "string"}));
    properties.insert("metadata".into(), json!({"type": "object"}));
    let validator = jsonschema::options()
        .with_draft(Draft::Draft7)
        .with_pattern_options(PatternOptions::regex())
        .should_validate_formats(false)
        .build(&root)
        .unwrap();
    validator
        .iter_errors(document)
        .map(|error| {
            let mut field = dotted(error.instance_path().iter());
            match error.kind() {
                ValidationErrorKind::Required { property } => {
                    field = join(&field, property.as_str().unwrap_or_default());
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    field = join(&field, &unexpected.join(","));
                }
                _ => {}
            }
            Rejection {
                field,
                message: error.to_string(),
            }
        })
        .collect()
}

/// Failures of the `x-kubernetes-validations` rules, evaluated with the Kubernetes CEL library
/// after applying the schema defaults, as the API server does. A rule that cannot be compiled or
/// evaluated is a test failure, not a rejection.
pub fn cel_rejections(schema: &Value, document: &Value) -> Vec<Rejection> {
    match kube_cel::Validator::new().validate(schema, document, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| {
                assert_eq!(
                    e.kind,
                    kube_cel::ErrorKind::ValidationFailure,
                    "rule {:?} at {} did not evaluate: {}",
                    e.rule,
                    e.field_path,
                    e.message
                );
                Rejection {
                    field: e.field_path.clone(),
                    message: e.message.clone(),
                }
            })
            .collect(),
    }
}

fn join(base: &str, field: &str) -> String {
    if base.is_empty() {
        field.to_owned()
    } else {
        format!("{base}.{field}")
    }
}

fn dotted<'a>(segments: impl Iterator<Item = LocationSegment<'a>>) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            LocationSegment::Property(p) => out = join(&out, &p),
            LocationSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Translates the OpenAPI-isms of a structural schema into plain JSON Schema: `nullable` becomes
/// a `null` type, `x-kubernetes-int-or-string` a two-type union, and objects with `properties`
/// get `additionalProperties: false` so unknown fields are reported like pruning would.
pub fn to_json_schema(node: &Value) -> Value {
    let Some(object) = node.as_object() else {
        return node.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        match key.as_str() {
            "properties" => {
                let translated = value
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), to_json_schema(v)))
                    .collect();
                out.insert(key.clone(), Value::Object(translated));
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(key.clone(), to_json_schema(value));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let branches = value
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(to_json_schema)
                    .collect();
                out.insert(key.clone(), Value::Array(branches));
            }
            "nullable" | "x-kubernetes-int-or-string" => {}
            k if k.starts_with("x-kubernetes-") => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if object.get("nullable") == Some(&Value::Bool(true))
        && let Some(Value::String(t)) = out.get("type").cloned()
    {
        out.insert("type".into(), json!([t, "null"]));
    }
    if object.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        out.insert("type".into(), json!(["integer", "string"]));
    }
    if out.contains_key("properties")
        && !out.contains_key("additionalProperties")
        && object.get("x-kubernetes-preserve-unknown-fields") != Some(&Value::Bool(true))
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    out.into()
}

/// Every path (`spec.auth.oidc[].name`) a JSON value sets, leaves and objects alike.
pub fn set_paths(value: &Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = join(prefix, k);
                out.insert(path.clone());
                set_paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            let path = format!("{prefix}[]");
            for item in items {
                set_paths(item, &path, out);
            }
        }
        _ => {}
    }
}

/// Every path a schema declares below `prefix`, not descending into the given subtrees (types
/// borrowed from Kubernetes, whose every field a sample need not set).
pub fn schema_paths(
    schema: &Value,
    prefix: &str,
    opaque: &[&str],
    out: &mut std::collections::BTreeSet<String>,
) {
    if opaque.contains(&prefix) {
        return;
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in properties {
            let path = join(prefix, k);
            out.insert(path.clone());
            schema_paths(v, &path, opaque, out);
        }
    }
    if let Some(items) = schema.get("items") {
        schema_paths(items, &format!("{prefix}[]"), opaque, out);
    }
}
