//! `AlexandriaInstance`: one api-server deployment and the controls around it.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::pattern;
use crate::secret::{SecretKeyRef, SecretsSpec};

/// Desired state of an Alexandria api-server deployment.
// Clippy reads the repeated `type_ = ...` of separate printcolumn(...) entries as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "alexandria.io",
    version = "v1alpha1",
    kind = "AlexandriaInstance",
    plural = "alexandriainstances",
    singular = "alexandriainstance",
    shortname = "axi",
    category = "alexandria",
    namespaced,
    status = "AlexandriaInstanceStatus",
    derive = "PartialEq",
    doc = "An Alexandria api-server deployment with its network isolation, secrets, observability and audit controls.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Status of the Ready condition"
    ),
    printcolumn(
        name = "Replicas",
        type_ = "string",
        json_path = ".status.replicaSummary",
        description = "Ready/desired api-server replicas"
    ),
    printcolumn(
        name = "Audit",
        type_ = "boolean",
        json_path = ".status.auditChain.verified",
        description = "Whether the last audit chain verification passed"
    ),
    printcolumn(
        name = "Isolated",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"NetworkIsolated\")].status",
        description = "Status of the NetworkIsolated condition"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.version",
        description = "api-server version running"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AlexandriaInstanceSpec {
    /// Container image of the api-server.
    pub image: ImageSpec,
    /// Number of api-server pods; two by default so a rollout or node drain keeps it serving.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1))]
    pub replicas: i32,
    /// CPU and memory requests and limits of the api-server container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Ingress exposing the api-server outside the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// PostgreSQL database holding the audit log, identities and lockout state.
    pub database: DatabaseSpec,
    /// Authentication: token lifetime, lockout, WebAuthn and single sign-on providers.
    #[serde(default)]
    pub auth: AuthSpec,
    /// Secrets of the api-server and whether they are synced from an external store.
    pub secrets: SecretsSpec,
    /// Kubernetes NetworkPolicies around the api-server (the NetworkIsolation resource refines
    /// them).
    #[serde(default)]
    pub network_policy: NetworkPolicySpec,
    /// Metrics and tracing.
    #[serde(default)]
    pub observability: ObservabilitySpec,
    /// HashiCorp Vault used by the api-server at run time (transit signing, dynamic credentials).
    #[serde(default)]
    pub vault: VaultSpec,
    /// Serve several tenants from this instance, each with its own users, agents and audit chain.
    #[serde(default)]
    pub multi_tenancy: MultiTenancySpec,
    /// Anonymous product telemetry; off unless opted in.
    #[serde(default)]
    pub telemetry: TelemetrySpec,
    /// Alexandria EE license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<LicenseSpec>,
    /// Models the api-server may serve to agents, pinned to exact commits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub models: Vec<ModelSpec>,
    /// Audit log verification and checkpoint signing.
    #[serde(default)]
    pub audit: AuditSpec,
}

fn default_replicas() -> i32 {
    2
}

/// Container image reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSpec {
    /// Repository without tag, e.g. `registry.example.com/alexandria/api-server`.
    #[schemars(length(min = 1, max = 255), pattern(pattern::IMAGE_REPOSITORY))]
    pub repository: String,
    /// Tag; defaults to the operator's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128), pattern(pattern::IMAGE_TAG))]
    pub tag: Option<String>,
    /// When the kubelet pulls the image.
    #[serde(default)]
    pub pull_policy: PullPolicy,
}

/// Image pull policy, as in a Pod's `imagePullPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    /// Pull only when the image is not on the node.
    #[default]
    IfNotPresent,
    /// Pull on every pod start.
    Always,
    /// Never pull; the image must be on the node.
    Never,
}

/// Ingress for the api-server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!self.enabled || has(self.host)",
    "message": "ingress.host is required when ingress.enabled is true",
    "fieldPath": ".host",
    "reason": "FieldValueRequired",
}]))]
pub struct IngressSpec {
    /// Create an Ingress.
    #[serde(default)]
    pub enabled: bool,
    /// IngressClass to use; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(pattern::OBJECT_NAME))]
    pub class_name: Option<String>,
    /// Host name clients use, e.g. `alexandria.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(pattern::HOST))]
    pub host: Option<String>,
    /// Secret of type `kubernetes.io/tls` with the certificate for `host`; plain HTTP when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(pattern::OBJECT_NAME))]
    pub tls_secret_name: Option<String>,
}

/// Database connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    /// Secret key holding the PostgreSQL DSN (`postgres://user:password@host:5432/db`).
    pub dsn_secret_ref: SecretKeyRef,
}

/// Authentication settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// Lifetime of issued JWTs.
    #[serde(default = "default_jwt_ttl")]
    pub jwt_ttl: Duration,
    /// Account lockout after repeated failed logins.
    #[serde(default)]
    pub lockout: LockoutSpec,
    /// Passkey / security-key login.
    #[serde(default)]
    pub webauthn: WebAuthnSpec,
    /// OpenID Connect identity providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 16),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub oidc: Vec<OidcProvider>,
    /// SAML 2.0 identity providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 16),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub saml: Vec<SamlProvider>,
}

impl Default for AuthSpec {
    fn default() -> Self {
        Self {
            jwt_ttl: default_jwt_ttl(),
            lockout: LockoutSpec::default(),
            webauthn: WebAuthnSpec::default(),
            oidc: Vec::new(),
            saml: Vec::new(),
        }
    }
}

fn default_jwt_ttl() -> Duration {
    Duration::new("15m")
}

/// Lockout policy: `maxAttempts` failures within `window` lock the account for `duration`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockoutSpec {
    /// Failed attempts that trigger a lockout.
    #[serde(default = "default_max_attempts")]
    #[schemars(range(min = 1, max = 100))]
    pub max_attempts: i32,
    /// Sliding window in which failures are counted.
    #[serde(default = "default_lockout_window")]
    pub window: Duration,
    /// How long a locked account stays locked.
    #[serde(default = "default_lockout_duration")]
    pub duration: Duration,
}

impl Default for LockoutSpec {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            window: default_lockout_window(),
            duration: default_lockout_duration(),
        }
    }
}

fn default_max_attempts() -> i32 {
    5
}

fn default_lockout_window() -> Duration {
    Duration::new("15m")
}

fn default_lockout_duration() -> Duration {
    Duration::new("30m")
}

/// WebAuthn relying-party settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!self.enabled || (has(self.rpId) && has(self.origin))",
    "message": "webauthn.rpId and webauthn.origin are required when webauthn.enabled is true",
    "reason": "FieldValueRequired",
}]))]
pub struct WebAuthnSpec {
    /// Allow passkey / security-key login.
    #[serde(default)]
    pub enabled: bool,
    /// Relying-party ID: the domain credentials are bound to, e.g. `example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(pattern::DOMAIN))]
    pub rp_id: Option<String>,
    /// Origin browsers present, e.g. `https://alexandria.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(pattern::HTTP_URL))]
    pub origin: Option<String>,
}

/// An OpenID Connect identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcProvider {
    /// Short name, unique among providers; shown on the login page and used in callback URLs.
    #[schemars(length(min = 1, max = 63), pattern(pattern::DNS_LABEL))]
    pub name: String,
    /// Issuer URL; `/.well-known/openid-configuration` below it must be reachable.
    #[schemars(length(max = 2048), pattern(pattern::HTTPS_URL))]
    pub issuer_url: String,
    /// Client ID registered with the provider.
    #[schemars(length(min = 1, max = 512))]
    pub client_id: String,
    /// Secret key holding the client secret.
    pub client_secret_ref: SecretKeyRef,
}

/// A SAML 2.0 identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamlProvider {
    /// Short name, unique among providers; shown on the login page and used in ACS URLs.
    #[schemars(length(min = 1, max = 63), pattern(pattern::DNS_LABEL))]
    pub name: String,
    /// URL of the identity provider's metadata document.
    #[schemars(length(max = 2048), pattern(pattern::HTTPS_URL))]
    pub metadata_url: String,
    /// Entity ID the api-server presents as service provider; its public URL when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub entity_id: Option<String>,
}

/// Kubernetes NetworkPolicies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Create default-deny NetworkPolicies with the allowances the api-server needs; on by
    /// default.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for NetworkPolicySpec {
    fn default() -> Self {
        Self { enabled: true }
    }
}

fn default_true() -> bool {
    true
}

/// Metrics and tracing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservabilitySpec {
    /// Prometheus metrics on `/metrics`.
    #[serde(default)]
    pub metrics: MetricsSpec,
    /// OpenTelemetry traces over OTLP/HTTP.
    #[serde(default)]
    pub otlp: OtlpSpec,
}

/// Prometheus metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Prometheus Operator ServiceMonitor scraping the api-server.
    #[serde(default)]
    pub service_monitor: ServiceMonitorSpec,
}

/// A Prometheus Operator ServiceMonitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// Create a ServiceMonitor (needs the Prometheus Operator CRDs).
    #[serde(default)]
    pub enabled: bool,
    /// Scrape interval.
    #[serde(default = "default_scrape_interval")]
    pub interval: Duration,
}

impl Default for ServiceMonitorSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: default_scrape_interval(),
        }
    }
}

fn default_scrape_interval() -> Duration {
    Duration::new("30s")
}

/// OTLP trace export.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!self.enabled || has(self.endpoint)",
    "message": "otlp.endpoint is required when otlp.enabled is true",
    "fieldPath": ".endpoint",
    "reason": "FieldValueRequired",
}]))]
pub struct OtlpSpec {
    /// Export traces.
    #[serde(default)]
    pub enabled: bool,
    /// Collector URL, e.g. `http://otel-collector.observability:4318`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(pattern::HTTP_URL))]
    pub endpoint: Option<String>,
}

/// HashiCorp Vault.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!self.enabled || has(self.address)",
    "message": "vault.address is required when vault.enabled is true",
    "fieldPath": ".address",
    "reason": "FieldValueRequired",
}]))]
pub struct VaultSpec {
    /// Use Vault.
    #[serde(default)]
    pub enabled: bool,
    /// Vault address, e.g. `https://vault.vault:8200`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(pattern::HTTP_URL))]
    pub address: Option<String>,
}

/// Multi-tenant mode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultiTenancySpec {
    /// Serve several tenants; off by default (one tenant).
    #[serde(default)]
    pub enabled: bool,
}

/// Product telemetry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelemetrySpec {
    /// Send anonymous usage statistics; off by default.
    #[serde(default)]
    pub enabled: bool,
}

/// License.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenseSpec {
    /// Secret key holding the signed license file.
    pub secret_ref: SecretKeyRef,
}

/// A model served to agents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.sourceType != 'hf' || (has(self.hfPinnedCommit) && self.hfPinnedCommit.matches('^[0-9a-f]{40}$'))",
    "message": "models[].hfPinnedCommit must be a 40-character lowercase hex commit id when sourceType is hf",
    "fieldPath": ".hfPinnedCommit",
}]))]
pub struct ModelSpec {
    /// Name agents use for the model, unique within the instance.
    #[schemars(length(min = 1, max = 63), pattern(pattern::DNS_LABEL))]
    pub name: String,
    /// Where the model comes from.
    #[serde(default)]
    pub source_type: ModelSourceType,
    /// Repository on the source, e.g. `mistralai/Mistral-7B-Instruct-v0.3`.
    #[schemars(length(min = 3, max = 255), pattern(pattern::HF_REPO))]
    pub repo: String,
    /// Branch or tag the pinned commit was taken from (informational; the commit is what is
    /// downloaded).
    #[serde(default = "default_revision")]
    #[schemars(length(min = 1, max = 255), pattern(pattern::GIT_REVISION))]
    pub revision: String,
    /// Exact commit to download (40 lowercase hex digits); required for `hf`, so a moved branch
    /// cannot change the model under the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 40), pattern(pattern::GIT_COMMIT))]
    pub hf_pinned_commit: Option<String>,
}

fn default_revision() -> String {
    "main".into()
}

/// Model source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ModelSourceType {
    /// The Hugging Face Hub.
    #[default]
    #[serde(rename = "hf")]
    Hf,
}

/// Audit log controls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditSpec {
    /// How often the operator verifies the audit chain end to end.
    #[serde(default = "default_verify_interval")]
    pub verify_interval: Duration,
    /// Secret key holding the private key that signs audit checkpoints; checkpoints are unsigned
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_signing_key_ref: Option<SecretKeyRef>,
}

impl Default for AuditSpec {
    fn default() -> Self {
        Self {
            verify_interval: default_verify_interval(),
            checkpoint_signing_key_ref: None,
        }
    }
}

fn default_verify_interval() -> Duration {
    Duration::new("1h")
}

/// Observed state of an AlexandriaInstance, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlexandriaInstanceStatus {
    /// `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Progressing, Degraded and the compliance posture (AuditChainVerified,
    /// NetworkIsolated, SecretsExternalized, RetentionEnforced); one entry per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::condition::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Desired api-server pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// api-server pods passing their readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// `readyReplicas/replicas`, e.g. `2/3`, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_summary: Option<String>,
    /// api-server version the pods report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// URL the api-server is reachable at (the Ingress host, else the Service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Result of the last audit chain verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_chain: Option<AuditChainStatus>,
}

impl AlexandriaInstanceStatus {
    /// Sets `replicas`, `readyReplicas` and the `ready/desired` summary together.
    pub fn set_replicas(&mut self, ready: i32, desired: i32) {
        self.replicas = Some(desired);
        self.ready_replicas = Some(ready);
        self.replica_summary = Some(format!("{ready}/{desired}"));
    }
}

/// Result of an audit chain verification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditChainStatus {
    /// Whether every row's HMAC matched its predecessor chain.
    pub verified: bool,
    /// When the verification ran.
    pub checked_at: Time,
    /// Rows checked.
    pub rows_checked: i64,
    /// Most recent checkpoint covered by the verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_checkpoint: Option<CheckpointStatus>,
}

/// An audit checkpoint: the chain head at a point in time, optionally signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointStatus {
    /// Checkpoint ID.
    pub id: String,
    /// HMAC of the chain head (hex).
    pub head_hmac: String,
    /// Signature over the checkpoint (base64); absent when checkpoints are unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// When the checkpoint was taken.
    pub created_at: Time,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replicas_writes_the_ready_over_desired_summary() {
        let mut status = AlexandriaInstanceStatus::default();
        status.set_replicas(1, 3);
        assert_eq!(status.replicas, Some(3));
        assert_eq!(status.ready_replicas, Some(1));
        assert_eq!(status.replica_summary.as_deref(), Some("1/3"));
    }
}
