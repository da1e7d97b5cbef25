//! Regular expressions used as `pattern` constraints in the schemas.
//!
//! They are written in the subset that RE2 (the API server), Python `re` (offline validators) and
//! the Rust `regex` crate (our tests) read the same way: no look-around, no back-references.

/// A Kubernetes object name (RFC 1123 subdomain), e.g. a Secret or an AlexandriaInstance.
pub const OBJECT_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A Kubernetes namespace name or another RFC 1123 label.
pub const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A key inside a Secret's `data`.
pub const SECRET_KEY: &str = r"^[-._a-zA-Z0-9]+$";

/// A DNS host name, optionally with a leading `*.` wildcard label (Ingress hosts).
pub const HOST: &str = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A DNS domain without wildcard (WebAuthn relying-party ID).
pub const DOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// An `https://` URL (OIDC issuers, SAML metadata).
pub const HTTPS_URL: &str = r"^https://[^\s/?#]+(/\S*)?$";

/// An `http://` or `https://` URL (Vault, OTLP collector, WebAuthn origin).
pub const HTTP_URL: &str = r"^https?://[^\s/?#]+(/\S*)?$";

/// An image repository without tag or digest, e.g. `registry.example.com:5000/alexandria/api`.
pub const IMAGE_REPOSITORY: &str =
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$";

/// An image tag.
pub const IMAGE_TAG: &str = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$";

/// A Hugging Face repository, `owner/name`.
pub const HF_REPO: &str = r"^[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*$";

/// A git revision name (branch or tag) on the model hub.
pub const GIT_REVISION: &str = r"^[-A-Za-z0-9_./]+$";

/// A full git commit id as the Hugging Face Hub reports it: 40 lowercase hex digits.
pub const GIT_COMMIT: &str = r"^[0-9a-f]{40}$";

/// An IANA time zone name such as `Etc/UTC` or `Europe/Berlin`.
pub const TIME_ZONE: &str = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$";

/// A fully qualified domain name for a Cilium `toFQDNs` rule.
pub const FQDN_NAME: &str = r"^[-A-Za-z0-9_]+(\.[-A-Za-z0-9_]+)*\.?$";

/// A Cilium `toFQDNs` pattern: a domain name in which `*` matches within labels.
pub const FQDN_PATTERN: &str = r"^[-A-Za-z0-9_*]+(\.[-A-Za-z0-9_*]+)*\.?$";

/// An IPv4 or IPv6 address block in CIDR notation, e.g. `10.0.0.0/8` or `fd00::/8` (the shape
/// only; the API server does not check that octets are below 256).
pub const CIDR: &str = r"^(([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])|[0-9a-fA-F]*:[0-9a-fA-F:.]*/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))$";
