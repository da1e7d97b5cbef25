//! The YAML file as written by operators: every field optional here, defaults and checks are
//! applied by [`super::Config::from_file_config`]. Unknown keys are rejected at every level.

use serde::Deserialize;

/// Top level of `api-server.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    /// Socket address to listen on, e.g. `0.0.0.0:8080`.
    pub listen: Option<String>,
    /// Largest accepted request body: bytes, or a size such as `1MiB` / `512KiB`.
    pub body_limit: Option<ByteSize>,
    /// CIDRs of reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Option<Vec<String>>,
    /// Whether principals are partitioned into tenants.
    pub multi_tenant: Option<bool>,
    /// The database.
    pub database: DatabaseSection,
    /// Authentication.
    pub auth: AuthSection,
    /// The audit log.
    pub audit: AuditSection,
    /// Tools.
    pub tools: ToolsSection,
    /// OpenTelemetry export.
    pub otlp: OtlpSection,
}

/// A size: an integer number of bytes or a string with a unit (`KiB`, `MiB`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ByteSize {
    /// Plain bytes.
    Bytes(u64),
    /// Text such as `1MiB`.
    Text(String),
}

/// `database:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// Connection URL (prefer `url_file`: it holds a password).
    pub url: Option<String>,
    /// File holding the connection URL (a mounted Secret).
    pub url_file: Option<String>,
    /// Pool size for request handlers.
    pub max_connections: Option<u32>,
    /// Separate pool for the audit writer, so handlers waiting on audit never starve it.
    pub audit_max_connections: Option<u32>,
}

/// `auth:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// HS256 secret inline (prefer `jwt_secret_file`).
    pub jwt_secret: Option<String>,
    /// File holding the HS256 secret (at least 32 bytes).
    pub jwt_secret_file: Option<String>,
    /// Lifetime of access tokens, e.g. `1h`.
    pub jwt_ttl: Option<String>,
    /// `iss` claim issued and required.
    pub issuer: Option<String>,
    /// `aud` claim issued and required.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp`/`iat`, e.g. `5s` (at most 60s).
    pub leeway: Option<String>,
    /// bcrypt cost of new password hashes (10–16).
    pub bcrypt_cost: Option<u32>,
    /// Brute-force lockout.
    pub lockout: LockoutSection,
}

/// `auth.lockout:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutSection {
    /// Failures within `window` that lock.
    pub max_attempts: Option<u32>,
    /// Window failures are counted in, e.g. `15m`.
    pub window: Option<String>,
    /// How long a lock lasts, e.g. `15m`.
    pub duration: Option<String>,
    /// Also count failures per source IP and lock the IP.
    pub per_ip: Option<bool>,
}

/// `audit:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// HMAC key ring file (required).
    pub hmac_keys_file: Option<String>,
    /// Ed25519 checkpoint signing key file (required).
    pub signing_key_file: Option<String>,
    /// Public keys of retired signing keys (optional).
    pub public_keys_file: Option<String>,
    /// Most events per audit transaction.
    pub max_batch: Option<usize>,
    /// How long a batch waits for more events, e.g. `1ms`.
    pub linger: Option<String>,
    /// Events queued before callers wait.
    pub queue_capacity: Option<usize>,
    /// Longest a request waits for its audit commit, e.g. `10s`.
    pub record_timeout: Option<String>,
    /// Rows between signed checkpoints.
    pub checkpoint_every_rows: Option<i64>,
    /// Time between signed checkpoints when rows were added, e.g. `5m`.
    pub checkpoint_interval: Option<String>,
    /// Months of partitions created ahead.
    pub premake_months: Option<i32>,
}

/// `tools:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsSection {
    /// Server tool ceiling: tool names, or `["*"]` for the whole catalog.
    pub ceiling: Option<Vec<String>>,
}

/// `otlp:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpSection {
    /// Base URL of an OTLP/HTTP collector, e.g. `http://otel-collector:4318`; unset: off.
    pub endpoint: Option<String>,
    /// `service.name` resource attribute.
    pub service_name: Option<String>,
}
