//! The api-server's configuration: a YAML file (`serve --config FILE`), every field overridable
//! by an `ALEXANDRIA_<SECTION>_<FIELD>` variable, secrets also read from files. Everything is
//! checked before the server starts, and the first problem is reported naming its field.

pub mod env;
pub mod file;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::audit::{CheckpointKeys, CheckpointSigner, HmacKeyRing, WriterKeys, WriterSettings};
use crate::error::Error;
use file::{ByteSize, ConfigFile};

/// Shortest accepted HS256 secret, in bytes.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// Lowest bcrypt cost accepted from configuration.
pub const MIN_BCRYPT_COST: u32 = 10;
/// Highest bcrypt cost accepted (cost 17 already takes seconds per login).
pub const MAX_BCRYPT_COST: u32 = 16;
/// Default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// A secret value whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Whether principals are partitioned into tenants (admins then see only their own).
    pub multi_tenant: bool,
    /// The database.
    pub database: DatabaseConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// The server tool ceiling.
    pub tools: ToolsConfig,
    /// OpenTelemetry export; `None`: off.
    pub otlp: Option<OtlpConfig>,
}

/// `database:`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Connection URL (a secret: it holds the password).
    pub url: Secret,
    /// Handler pool size.
    pub max_connections: u32,
    /// Audit writer pool size.
    pub audit_max_connections: u32,
}

impl DatabaseConfig {
    /// The URL as text.
    pub fn url(&self) -> &str {
        std::str::from_utf8(self.url.expose()).unwrap_or_default()
    }
}

/// `auth:`.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// HS256 signing secret, at least 32 bytes.
    pub jwt_secret: Secret,
    /// Access token lifetime.
    pub jwt_ttl: Duration,
    /// `iss` claim.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Clock skew tolerated on `exp`.
    pub leeway: Duration,
    /// bcrypt cost for new hashes.
    pub bcrypt_cost: u32,
    /// Brute-force lockout.
    pub lockout: LockoutPolicy,
}

/// `auth.lockout:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures within `window` that lock.
    pub max_attempts: u32,
    /// Window failures are counted in.
    pub window: Duration,
    /// Lock duration.
    pub duration: Duration,
    /// Whether source IPs are counted and locked too.
    pub per_ip: bool,
}

/// `audit:`.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Writer keys.
    pub keys: WriterKeys,
    /// Public keys of the current and retired signing keys (for verification).
    pub public_keys: CheckpointKeys,
    /// Writer tuning.
    pub settings: WriterSettings,
}

/// `tools:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolsConfig {
    /// Server ceiling.
    pub ceiling: ToolCeiling,
}

/// The most any principal may use on this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolCeiling {
    /// Every tool in the catalog (`["*"]`).
    Catalog,
    /// Only these tools (and only if they are in the catalog).
    Only(BTreeSet<String>),
}

impl ToolCeiling {
    /// Whether `tool` (a catalog tool) is under the ceiling.
    pub fn permits(&self, tool: &str) -> bool {
        match self {
            Self::Catalog => true,
            Self::Only(tools) => tools.contains(tool),
        }
    }
}

/// `otlp:`.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// Collector base URL; `/v1/traces` and `/v1/logs` are appended.
    pub endpoint: url::Url,
    /// `service.name`.
    pub service_name: String,
}

/// What loading produced besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// `ALEXANDRIA_*` variables that name no field.
    pub unknown_variables: Vec<String>,
}

fn config_error(field: &str, message: impl Into<String>) -> Error {
    Error::Config {
        field: field.to_owned(),
        message: message.into(),
    }
}

impl Config {
    /// Reads `path`, applies the `ALEXANDRIA_*` overrides from `vars`, reads the referenced
    /// secret files (relative paths are relative to the file's directory) and validates it all.
    pub fn load(
        path: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, LoadReport), Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("read config file {}", path.display()),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Self::from_yaml(&text, &base, vars)
    }

    /// Like [`Config::load`] from YAML text; relative file paths resolve against `base`.
    pub fn from_yaml(
        text: &str,
        base: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, LoadReport), Error> {
        let mut tree: serde_yaml::Value = if text.trim().is_empty() {
            serde_yaml::Value::Null
        } else {
            serde_yaml::from_str(text).map_err(|e| config_error("(file)", e.to_string()))?
        };
        let unknown_variables = env::apply(&mut tree, vars)?;
        if tree.is_null() {
            tree = serde_yaml::Value::Mapping(Default::default());
        }
        let file: ConfigFile = serde_path_to_error::deserialize(tree).map_err(|e| {
            let path = e.path().to_string();
            config_error(
                if path == "." { "(file)" } else { &path },
                e.into_inner().to_string(),
            )
        })?;
        let config = Self::from_file_config(file, base)?;
        Ok((config, LoadReport { unknown_variables }))
    }

    /// Validates a parsed file and reads its secret files.
    pub fn from_file_config(file: ConfigFile, base: &Path) -> Result<Self, Error> {
        let listen = parse_addr("listen", file.listen.as_deref().unwrap_or("127.0.0.1:8080"))?;
        let body_limit = match &file.body_limit {
            None => DEFAULT_BODY_LIMIT,
            Some(size) => parse_size("body_limit", size)?,
        };
        let trusted_proxies = file
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|cidr| parse_cidr("trusted_proxies", cidr))
            .collect::<Result<_, _>>()?;

        let db = file.database;
        let url = secret_value(
            base,
            "database.url",
            db.url,
            "database.url_file",
            db.url_file,
        )?
        .ok_or_else(|| config_error("database.url", "required (or database.url_file)"))?;
        let url_text = String::from_utf8(url.expose().to_vec())
            .map_err(|_| config_error("database.url", "is not UTF-8"))?;
        url::Url::parse(&url_text)
            .map_err(|e| config_error("database.url", format!("is not a URL: {e}")))?;
        let database = DatabaseConfig {
            url,
            max_connections: in_range(
                "database.max_connections",
                db.max_connections.unwrap_or(20),
                1,
                1000,
            )?,
            audit_max_connections: in_range(
                "database.audit_max_connections",
                db.audit_max_connections.unwrap_or(4),
                1,
                100,
            )?,
        };

        let a = file.auth;
        let jwt_secret = secret_value(
            base,
            "auth.jwt_secret",
            a.jwt_secret,
            "auth.jwt_secret_file",
            a.jwt_secret_file,
        )?
        .ok_or_else(|| config_error("auth.jwt_secret", "required (or auth.jwt_secret_file)"))?;
        if jwt_secret.expose().len() < MIN_JWT_SECRET_BYTES {
            return Err(config_error(
                "auth.jwt_secret",
                format!(
                    "is {} bytes; at least {MIN_JWT_SECRET_BYTES} are required",
                    jwt_secret.expose().len()
                ),
            ));
        }
        let lockout = LockoutPolicy {
            max_attempts: in_range(
                "auth.lockout.max_attempts",
                a.lockout.max_attempts.unwrap_or(5),
                1,
                1000,
            )?,
            window: duration("auth.lockout.window", a.lockout.window.as_deref(), "15m")?,
            duration: duration(
                "auth.lockout.duration",
                a.lockout.duration.as_deref(),
                "15m",
            )?,
            per_ip: a.lockout.per_ip.unwrap_or(false),
        };
        nonzero("auth.lockout.window", lockout.window)?;
        nonzero("auth.lockout.duration", lockout.duration)?;
        let leeway = duration("auth.leeway", a.leeway.as_deref(), "5s")?;
        if leeway > Duration::from_secs(60) {
            return Err(config_error("auth.leeway", "must be at most 60s"));
        }
        let jwt_ttl = duration("auth.jwt_ttl", a.jwt_ttl.as_deref(), "1h")?;
        if jwt_ttl < Duration::from_secs(60) || jwt_ttl > Duration::from_secs(24 * 3600) {
            return Err(config_error("auth.jwt_ttl", "must be between 1m and 24h"));
        }
        let auth = AuthConfig {
            jwt_secret,
            jwt_ttl,
            issuer: non_empty("auth.issuer", a.issuer, "alexandria-api")?,
            audience: non_empty("auth.audience", a.audience, "alexandria")?,
            leeway,
            bcrypt_cost: in_range(
                "auth.bcrypt_cost",
                a.bcrypt_cost.unwrap_or(12),
                MIN_BCRYPT_COST,
                MAX_BCRYPT_COST,
            )?,
            lockout,
        };

        let au = file.audit;
        let hmac_path = au.hmac_keys_file.ok_or_else(|| {
            config_error("audit.hmac_keys_file", "required (the audit HMAC key ring)")
        })?;
        let hmac = HmacKeyRing::from_file(&resolve(base, &hmac_path))
            .map_err(|e| config_error("audit.hmac_keys_file", e.to_string()))?;
        let signing_path = au.signing_key_file.ok_or_else(|| {
            config_error(
                "audit.signing_key_file",
                "required (the checkpoint signing key)",
            )
        })?;
        let signer = CheckpointSigner::from_file(&resolve(base, &signing_path))
            .map_err(|e| config_error("audit.signing_key_file", e.to_string()))?;
        let mut public_keys = signer.public_keys();
        if let Some(path) = au.public_keys_file {
            public_keys.extend(
                CheckpointKeys::from_file(&resolve(base, &path))
                    .map_err(|e| config_error("audit.public_keys_file", e.to_string()))?,
            );
        }
        let defaults = WriterSettings::default();
        let settings = WriterSettings {
            max_batch: in_range(
                "audit.max_batch",
                au.max_batch.unwrap_or(defaults.max_batch),
                1,
                10_000,
            )?,
            linger: duration_or("audit.linger", au.linger.as_deref(), defaults.linger)?,
            queue_capacity: in_range(
                "audit.queue_capacity",
                au.queue_capacity.unwrap_or(defaults.queue_capacity),
                1,
                1_000_000,
            )?,
            record_timeout: duration_or(
                "audit.record_timeout",
                au.record_timeout.as_deref(),
                defaults.record_timeout,
            )?,
            checkpoint_every_rows: in_range(
                "audit.checkpoint_every_rows",
                au.checkpoint_every_rows
                    .unwrap_or(defaults.checkpoint_every_rows),
                1,
                i64::MAX,
            )?,
            checkpoint_interval: duration_or(
                "audit.checkpoint_interval",
                au.checkpoint_interval.as_deref(),
                defaults.checkpoint_interval,
            )?,
            premake_months: in_range(
                "audit.premake_months",
                au.premake_months.unwrap_or(defaults.premake_months),
                0,
                120,
            )?,
            clock: defaults.clock,
        };
        nonzero("audit.record_timeout", settings.record_timeout)?;
        nonzero("audit.checkpoint_interval", settings.checkpoint_interval)?;
        let audit = AuditConfig {
            keys: WriterKeys { hmac, signer },
            public_keys,
            settings,
        };

        let tools = ToolsConfig {
            ceiling: parse_ceiling(file.tools.ceiling.unwrap_or_default())?,
        };

        let otlp = match file.otlp.endpoint {
            None => None,
            Some(endpoint) if endpoint.trim().is_empty() => None,
            Some(endpoint) => {
                let url = url::Url::parse(&endpoint).map_err(|e| {
                    config_error("otlp.endpoint", format!("{endpoint:?} is not a URL: {e}"))
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(config_error("otlp.endpoint", "must be an http(s) URL"));
                }
                Some(OtlpConfig {
                    endpoint: url,
                    service_name: non_empty(
                        "otlp.service_name",
                        file.otlp.service_name,
                        "alexandria-api",
                    )?,
                })
            }
        };

        Ok(Self {
            listen,
            body_limit,
            trusted_proxies,
            multi_tenant: file.multi_tenant.unwrap_or(false),
            database,
            auth,
            audit,
            tools,
            otlp,
        })
    }

    /// Development configuration (`serve --dev`): throwaway secrets and keys, every tool of the
    /// catalog under the ceiling, single tenant.
    pub fn dev(database_url: &str, listen: SocketAddr) -> Self {
        let mut secret = vec![0u8; 48];
        rand::fill(&mut secret[..]);
        let signer = CheckpointSigner::generate("dev");
        Self {
            listen,
            body_limit: DEFAULT_BODY_LIMIT,
            trusted_proxies: Vec::new(),
            multi_tenant: false,
            database: DatabaseConfig {
                url: Secret::new(database_url.as_bytes().to_vec()),
                max_connections: 20,
                audit_max_connections: 4,
            },
            auth: AuthConfig {
                jwt_secret: Secret::new(secret),
                jwt_ttl: Duration::from_secs(3600),
                issuer: "alexandria-api".into(),
                audience: "alexandria".into(),
                leeway: Duration::from_secs(5),
                bcrypt_cost: 12,
                lockout: LockoutPolicy {
                    max_attempts: 5,
                    window: Duration::from_secs(15 * 60),
                    duration: Duration::from_secs(15 * 60),
                    per_ip: false,
                },
            },
            audit: AuditConfig {
                public_keys: signer.public_keys(),
                keys: WriterKeys {
                    hmac: HmacKeyRing::generate("dev"),
                    signer,
                },
                settings: WriterSettings::default(),
            },
            tools: ToolsConfig {
                ceiling: ToolCeiling::Catalog,
            },
            otlp: None,
        }
    }
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Exactly one of an inline value and a file; a file's trailing newline is dropped.
fn secret_value(
    base: &Path,
    inline_field: &str,
    inline: Option<String>,
    file_field: &str,
    file: Option<String>,
) -> Result<Option<Secret>, Error> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(config_error(
            inline_field,
            format!("set either {inline_field} or {file_field}, not both"),
        )),
        (Some(value), None) => Ok(Some(Secret::new(value.into_bytes()))),
        (None, Some(path)) => {
            let path = resolve(base, &path);
            let mut bytes = std::fs::read(&path).map_err(|e| {
                config_error(file_field, format!("cannot read {}: {e}", path.display()))
            })?;
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            Ok(Some(Secret::new(bytes)))
        }
        (None, None) => Ok(None),
    }
}

fn parse_addr(field: &str, text: &str) -> Result<SocketAddr, Error> {
    text.parse().map_err(|_| {
        config_error(
            field,
            format!("{text:?} is not a socket address (host:port)"),
        )
    })
}

fn parse_cidr(field: &str, text: &str) -> Result<IpNet, Error> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| config_error(field, format!("{text:?} is not a CIDR (e.g. 10.0.0.0/8)")))
}

/// Parses a duration such as `15m`, `1h`, `500ms`.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, Error> {
    humantime::parse_duration(text.trim())
        .map_err(|_| config_error(field, format!("{text:?} is not a duration (e.g. 15m, 1h)")))
}

fn duration(field: &str, text: Option<&str>, default: &str) -> Result<Duration, Error> {
    parse_duration(field, text.unwrap_or(default))
}

fn duration_or(field: &str, text: Option<&str>, default: Duration) -> Result<Duration, Error> {
    text.map_or(Ok(default), |t| parse_duration(field, t))
}

fn nonzero(field: &str, value: Duration) -> Result<(), Error> {
    if value.is_zero() {
        return Err(config_error(field, "must be longer than 0s"));
    }
    Ok(())
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    field: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, Error> {
    if value < min || value > max {
        return Err(config_error(
            field,
            format!("{value} is out of range ({min}..={max})"),
        ));
    }
    Ok(value)
}

fn non_empty(field: &str, value: Option<String>, default: &str) -> Result<String, Error> {
    let value = value.unwrap_or_else(|| default.to_owned());
    if value.trim().is_empty() {
        return Err(config_error(field, "must not be empty"));
    }
    Ok(value)
}

fn parse_size(field: &str, size: &ByteSize) -> Result<usize, Error> {
    let bytes = match size {
        ByteSize::Bytes(n) => *n,
        ByteSize::Text(text) => {
            let t = text.trim();
            let (number, unit) = t
                .find(|c: char| !c.is_ascii_digit())
                .map_or((t, ""), |i| t.split_at(i));
            let multiplier = match unit.trim() {
                "" | "B" => 1,
                "KiB" => 1024,
                "MiB" => 1024 * 1024,
                _ => {
                    return Err(config_error(
                        field,
                        format!("{text:?} is not a size (bytes, or e.g. 512KiB, 1MiB)"),
                    ));
                }
            };
            number
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(multiplier))
                .ok_or_else(|| config_error(field, format!("{text:?} is not a size")))?
        }
    };
    let bytes = in_range(field, bytes, 1024, 64 * 1024 * 1024)?;
    usize::try_from(bytes).map_err(|_| config_error(field, "too large"))
}

fn parse_ceiling(names: Vec<String>) -> Result<ToolCeiling, Error> {
    if names.iter().any(|n| n == "*") {
        if names.len() > 1 {
            return Err(config_error(
                "tools.ceiling",
                "\"*\" (the whole catalog) cannot be combined with names",
            ));
        }
        return Ok(ToolCeiling::Catalog);
    }
    let mut tools = BTreeSet::new();
    for name in names {
        crate::identity::tools::validate_name(&name)
            .map_err(|e| config_error("tools.ceiling", e.to_string()))?;
        tools.insert(name);
    }
    Ok(ToolCeiling::Only(tools))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory with the key and secret files a complete config needs.
    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let hmac = serde_yaml::to_string(&HmacKeyRing::generate("k1").to_file()).unwrap();
            std::fs::write(dir.path().join("hmac.yaml"), hmac).unwrap();
            let signer =
                serde_yaml::to_string(&CheckpointSigner::generate("s1").to_file()).unwrap();
            std::fs::write(dir.path().join("signing.yaml"), signer).unwrap();
            std::fs::write(dir.path().join("jwt"), format!("{}\n", "x".repeat(40))).unwrap();
            Self { dir }
        }

        fn load(&self, yaml: &str, vars: &[(&str, &str)]) -> Result<Config, Error> {
            Config::from_yaml(
                yaml,
                self.dir.path(),
                vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
            .map(|(c, _)| c)
        }
    }

    const MINIMAL: &str = "
database:
  url: postgres://u:p@localhost/db
auth:
  jwt_secret_file: jwt
audit:
  hmac_keys_file: hmac.yaml
  signing_key_file: signing.yaml
";

    fn error_of(result: Result<Config, Error>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_file_gets_the_documented_defaults() {
        let config = Files::new().load(MINIMAL, &[]).unwrap();
        assert_eq!(config.body_limit, 1024 * 1024);
        assert_eq!(config.auth.bcrypt_cost, 12);
        assert_eq!(config.auth.jwt_ttl, Duration::from_secs(3600));
        assert_eq!(config.auth.jwt_secret.expose(), "x".repeat(40).as_bytes());
        assert_eq!(config.auth.lockout.max_attempts, 5);
        assert_eq!(config.tools.ceiling, ToolCeiling::Only(BTreeSet::new()));
        assert!(!config.multi_tenant);
        assert!(config.otlp.is_none());
    }

    #[test]
    fn every_mistake_is_reported_naming_its_field() {
        let files = Files::new();
        let cases: &[(&str, &str)] = &[
            (
                "auth:\n  lockout:\n    window: 15x\n",
                "auth.lockout.window: \"15x\" is not a duration",
            ),
            (
                "auth:\n  jwt_ttl: soon\n",
                "auth.jwt_ttl: \"soon\" is not a duration",
            ),
            (
                "auth:\n  bcrypt_cost: 9\n",
                "auth.bcrypt_cost: 9 is out of range",
            ),
            ("auth:\n  jwt_secret: short\n", "auth.jwt_secret: "),
            (
                "auth:\n  lockout:\n    tries: 3\n",
                "auth.lockout.tries: unknown field `tries`",
            ),
            ("colour: blue\n", "unknown field `colour`"),
            (
                "listen: nowhere\n",
                "listen: \"nowhere\" is not a socket address",
            ),
            ("trusted_proxies: [10.0.0.0/33]\n", "trusted_proxies: "),
            ("body_limit: 1GiB\n", "body_limit: "),
            ("multi_tenant: sometimes\n", "multi_tenant: "),
            ("otlp:\n  endpoint: 'not a url'\n", "otlp.endpoint: "),
            ("tools:\n  ceiling: ['*', search]\n", "tools.ceiling: "),
        ];
        for (overlay, expected) in cases {
            let yaml = merge(MINIMAL, overlay);
            let message = error_of(files.load(&yaml, &[]));
            assert!(message.contains(expected), "{overlay:?}: got {message:?}");
        }
    }

    #[test]
    fn missing_required_values_are_named() {
        let files = Files::new();
        let message = error_of(files.load("auth:\n  jwt_secret_file: jwt\n", &[]));
        assert!(message.starts_with("database.url: required"), "{message}");
        let message = error_of(files.load(
            "database:\n  url: postgres://localhost/x\naudit:\n  hmac_keys_file: hmac.yaml\n  signing_key_file: signing.yaml\n",
            &[],
        ));
        assert!(
            message.starts_with("auth.jwt_secret: required"),
            "{message}"
        );
        let message = error_of(files.load(
            "database:\n  url: postgres://localhost/x\nauth:\n  jwt_secret_file: jwt\n",
            &[],
        ));
        assert!(
            message.starts_with("audit.hmac_keys_file: required"),
            "{message}"
        );
    }

    #[test]
    fn an_inline_secret_and_a_secret_file_together_are_refused() {
        let files = Files::new();
        let yaml = MINIMAL.replace(
            "jwt_secret_file: jwt",
            &format!("jwt_secret_file: jwt\n  jwt_secret: {}", "y".repeat(40)),
        );
        assert!(error_of(files.load(&yaml, &[])).contains("not both"));
    }

    #[test]
    fn environment_variables_override_the_file_and_are_validated_too() {
        let files = Files::new();
        let config = files
            .load(
                MINIMAL,
                &[
                    ("ALEXANDRIA_AUTH_JWT_TTL", "15m"),
                    ("ALEXANDRIA_AUTH_LOCKOUT_PER_IP", "true"),
                    ("ALEXANDRIA_TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.1"),
                    ("ALEXANDRIA_BODY_LIMIT", "64KiB"),
                ],
            )
            .unwrap();
        assert_eq!(config.auth.jwt_ttl, Duration::from_secs(900));
        assert!(config.auth.lockout.per_ip);
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(config.body_limit, 64 * 1024);
        let message = error_of(files.load(MINIMAL, &[("ALEXANDRIA_AUTH_LOCKOUT_WINDOW", "15x")]));
        assert!(
            message.starts_with("auth.lockout.window: \"15x\" is not a duration"),
            "{message}"
        );
    }

    #[test]
    fn secret_debug_output_never_shows_the_secret() {
        let config = Files::new().load(MINIMAL, &[]).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains(&"x".repeat(40)));
        assert!(!debug.contains("u:p@"));
    }

    /// Overlays `overlay` (YAML) onto `base` (YAML), merging mappings.
    fn merge(base: &str, overlay: &str) -> String {
        fn merge_values(base: &mut serde_yaml::Value, overlay: serde_yaml::Value) {
            match (base, overlay) {
                (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(o)) => {
                    for (k, v) in o {
                        match b.get_mut(&k) {
                            Some(existing) => merge_values(existing, v),
                            None => {
                                b.insert(k, v);
                            }
                        }
                    }
                }
                (b, o) => *b = o,
            }
        }
        let mut base: serde_yaml::Value = serde_yaml::from_str(base).unwrap();
        merge_values(&mut base, serde_yaml::from_str(overlay).unwrap());
        serde_yaml::to_string(&base).unwrap()
    }
}
