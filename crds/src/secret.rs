//! Where the api-server's secrets come from: Secrets in the instance's namespace, optionally
//! kept in sync from an external store by the External Secrets Operator.
//!
//! Every secret is named by a [`SecretKeyRef`] at the place it is used (for example
//! `spec.database.dsnSecretRef`). With `externalSecrets.enabled`, the operator renders one
//! ExternalSecret per referenced Secret, filling the referenced key from the store entry named in
//! [`RemoteKeys`]; a secret without a remote key must then exist as a plain Secret (and the
//! `SecretsExternalized` condition says which ones do).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::pattern;

/// A key in a Secret in the same namespace as the resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), pattern(pattern::OBJECT_NAME))]
    pub name: String,
    /// Key inside the Secret's data.
    #[schemars(length(min = 1, max = 253), pattern(pattern::SECRET_KEY))]
    pub key: String,
}

impl SecretKeyRef {
    /// A reference to `key` in Secret `name`.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            key: key.into(),
        }
    }
}

/// The api-server's own secrets (the database DSN and OIDC client secrets are referenced where
/// they are configured, in `database` and `auth.oidc`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretsSpec {
    /// Key the api-server signs its JWTs with.
    pub jwt_secret_ref: SecretKeyRef,
    /// HMAC keys chaining the audit log rows (several during a key rotation).
    pub audit_hmac_keys_ref: SecretKeyRef,
    /// Initial password of the built-in `admin` user.
    pub admin_password_ref: SecretKeyRef,
    /// Bearer token the identity provider presents on the SCIM provisioning endpoint; SCIM is
    /// off when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_token_ref: Option<SecretKeyRef>,
    /// Keep the Secrets above in sync from an external secret store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secrets: Option<ExternalSecretsSpec>,
}

/// Sync of the referenced Secrets from an external store through the External Secrets Operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!self.enabled || has(self.secretStoreRef)",
    "message": "externalSecrets.secretStoreRef is required when externalSecrets.enabled is true",
    "fieldPath": ".secretStoreRef",
    "reason": "FieldValueRequired",
}]))]
pub struct ExternalSecretsSpec {
    /// Render ExternalSecrets for every secret that has a remote key.
    #[serde(default)]
    pub enabled: bool,
    /// The SecretStore or ClusterSecretStore to read from; required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_store_ref: Option<SecretStoreRef>,
    /// How often the External Secrets Operator re-reads the store.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Duration,
    /// The store entry of each secret.
    #[serde(default)]
    pub remote_keys: RemoteKeys,
}

fn default_refresh_interval() -> Duration {
    Duration::new("1h")
}

/// A SecretStore (same namespace) or ClusterSecretStore of the External Secrets Operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreRef {
    /// Name of the store.
    #[schemars(length(min = 1, max = 253), pattern(pattern::OBJECT_NAME))]
    pub name: String,
    /// Kind of the store.
    #[serde(default)]
    pub kind: SecretStoreKind,
}

/// Kind of an External Secrets store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SecretStoreKind {
    /// A namespaced SecretStore in the instance's namespace.
    #[default]
    SecretStore,
    /// A cluster-wide ClusterSecretStore.
    ClusterSecretStore,
}

/// Store entries (the ExternalSecret `remoteRef.key`) of each secret; a secret left out is not
/// synced and must exist as a plain Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteKeys {
    /// Entry holding the JWT signing key (`secrets.jwtSecretRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub jwt_secret: Option<String>,
    /// Entry holding the audit HMAC keys (`secrets.auditHmacKeysRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub audit_hmac_keys: Option<String>,
    /// Entry holding the admin password (`secrets.adminPasswordRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub admin_password: Option<String>,
    /// Entry holding the database DSN (`database.dsnSecretRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub database_dsn: Option<String>,
    /// Entry holding the SCIM token (`secrets.scimTokenRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub scim_token: Option<String>,
    /// Entry holding each OIDC provider's client secret, keyed by the provider's `name` in
    /// `auth.oidc`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub oidc_client_secrets: BTreeMap<String, String>,
}
