//! `NetworkIsolation`: the network perimeter of one AlexandriaInstance.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::InstanceRef;
use crate::pattern;

/// Desired network isolation of one AlexandriaInstance.
// Clippy reads the repeated `type_ = ...` of separate printcolumn(...) entries as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "alexandria.io",
    version = "v1alpha1",
    kind = "NetworkIsolation",
    plural = "networkisolations",
    singular = "networkisolation",
    shortname = "ani",
    category = "alexandria",
    namespaced,
    status = "NetworkIsolationStatus",
    derive = "PartialEq",
    doc = "Network perimeter of an AlexandriaInstance: which traffic may reach it and where it may connect, rendered as NetworkPolicies and optionally CiliumNetworkPolicies.",
    printcolumn(
        name = "Instance",
        type_ = "string",
        json_path = ".spec.instanceRef.name",
        description = "AlexandriaInstance the policies protect"
    ),
    printcolumn(
        name = "Cilium",
        type_ = "boolean",
        json_path = ".spec.cilium.enabled",
        description = "Whether CiliumNetworkPolicies with FQDN rules are rendered"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Status of the Ready condition"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct NetworkIsolationSpec {
    /// AlexandriaInstance (same namespace) whose pods the policies select.
    pub instance_ref: InstanceRef,
    /// Traffic allowed to reach the api-server; everything else is denied.
    pub ingress: IngressRules,
    /// Connections the api-server may open; everything else is denied.
    #[serde(default)]
    pub egress: EgressRules,
    /// Cilium policies restricting HTTPS egress to named domains.
    #[serde(default)]
    pub cilium: CiliumSpec,
}

/// Allowed sources of traffic to the api-server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressRules {
    /// Namespace of the ingress controller that forwards client traffic.
    #[schemars(length(min = 1, max = 63), pattern(pattern::DNS_LABEL))]
    pub controller_namespace: String,
    /// Labels of the ingress controller pods; all pods of `controllerNamespace` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_pod_selector: Option<LabelSelector>,
    /// Namespace of the Prometheus that scrapes `/metrics`; no scraping allowed when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(pattern::DNS_LABEL))]
    pub monitoring_namespace: Option<String>,
}

/// Allowed destinations of the api-server's connections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EgressRules {
    /// DNS (UDP and TCP 53) to the cluster resolver; on by default, since nothing resolves
    /// without it.
    #[serde(default = "default_true")]
    pub dns: bool,
    /// HTTPS (TCP 443) to any address, for identity providers and the model hub (narrowed to
    /// `cilium.fqdns` when Cilium is enabled); on by default.
    #[serde(default = "default_true")]
    pub https: bool,
    /// Plain HTTP (TCP 80 and 8080) to any address; off by default.
    #[serde(default)]
    pub http: bool,
    /// PostgreSQL.
    #[serde(default)]
    pub database: DatabaseEgress,
    /// TCP port of Vault, opened only when the instance has `vault.enabled`.
    #[serde(default = "default_vault_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub vault_port: i32,
    /// TCP port of the OTLP collector, opened only when the instance has
    /// `observability.otlp.enabled`.
    #[serde(default = "default_otlp_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub otlp_port: i32,
    /// Further destinations, each a CIDR block with ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub extra: Vec<EgressRule>,
}

impl Default for EgressRules {
    fn default() -> Self {
        Self {
            dns: true,
            https: true,
            http: false,
            database: DatabaseEgress::default(),
            vault_port: default_vault_port(),
            otlp_port: default_otlp_port(),
            extra: Vec::new(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_vault_port() -> i32 {
    8200
}

fn default_otlp_port() -> i32 {
    4318
}

/// Egress to the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseEgress {
    /// TCP port of PostgreSQL.
    #[serde(default = "default_database_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Address blocks the database lives in; any address when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 43), pattern(pattern::CIDR)))]
    pub cidrs: Vec<String>,
}

impl Default for DatabaseEgress {
    fn default() -> Self {
        Self {
            port: default_database_port(),
            cidrs: Vec::new(),
        }
    }
}

fn default_database_port() -> i32 {
    5432
}

/// One extra egress destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EgressRule {
    /// Destination address block, e.g. `10.20.0.0/16`.
    #[schemars(length(max = 43), pattern(pattern::CIDR))]
    pub cidr: String,
    /// Destination ports.
    #[schemars(length(min = 1, max = 64))]
    pub ports: Vec<PortRule>,
}

/// A destination port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortRule {
    /// Port number.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Transport protocol.
    #[serde(default)]
    pub protocol: Protocol,
}

/// Transport protocol of a port rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Protocol {
    /// TCP.
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
}

/// CiliumNetworkPolicies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CiliumSpec {
    /// Render CiliumNetworkPolicies (needs Cilium as the CNI).
    #[serde(default)]
    pub enabled: bool,
    /// Domains HTTPS egress is limited to when Cilium is enabled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub fqdns: Vec<FqdnSelector>,
}

/// A domain, by exact name or by pattern; exactly one of the two is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend(
    "oneOf" = [{"required": ["matchName"]}, {"required": ["matchPattern"]}],
    "x-kubernetes-validations" = [{
        "rule": "has(self.matchName) != has(self.matchPattern)",
        "message": "cilium.fqdns[] must set exactly one of matchName or matchPattern",
    }],
))]
pub struct FqdnSelector {
    /// Exact domain name, e.g. `huggingface.co`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), pattern(pattern::FQDN_NAME))]
    pub match_name: Option<String>,
    /// Domain pattern where `*` matches within a label, e.g. `*.hf.co`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), pattern(pattern::FQDN_PATTERN))]
    pub match_pattern: Option<String>,
}

/// Observed state of a NetworkIsolation, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkIsolationStatus {
    /// `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Progressing and Degraded; one entry per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::condition::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Names of the NetworkPolicies rendered from this resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_policies: Vec<String>,
    /// Names of the CiliumNetworkPolicies rendered from this resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cilium_network_policies: Vec<String>,
}
