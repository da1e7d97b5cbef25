//! Access tokens: HS256 JWTs with the algorithm pinned, issuer, audience and expiry required.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::principal::Role;
use crate::config::{AuthConfig, MIN_JWT_SECRET_BYTES};
use crate::error::Error;

/// The claims of every token this server issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// User or agent id.
    pub sub: String,
    /// Role at issue time (must still be the principal's role when used).
    pub role: Role,
    /// Tenant.
    pub tenant: String,
    /// Token id (revocation).
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The principal's token generation at issue time; a bump revokes the token.
    pub tgen: i64,
    /// Delegation: the user an agent token acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obo: Option<String>,
    /// That user's token generation at issue time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obo_tgen: Option<i64>,
}

/// Why a presented token was refused; the label is used in logs and metrics only (clients get
/// one generic 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not a JWT, or claims of the wrong shape.
    Malformed,
    /// Signature does not verify.
    BadSignature,
    /// Header names another algorithm than HS256 (including `none`).
    WrongAlgorithm,
    /// Expired beyond the leeway.
    Expired,
    /// Wrong `iss`.
    WrongIssuer,
    /// Wrong `aud`.
    WrongAudience,
    /// Issued in the future.
    NotYetValid,
}

impl TokenRejection {
    /// Metrics/log label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed_token",
            Self::BadSignature => "bad_signature",
            Self::WrongAlgorithm => "wrong_algorithm",
            Self::Expired => "expired",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::NotYetValid => "not_yet_valid",
        }
    }
}

/// Signs and validates tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
    leeway: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys and validation rules from the `auth` configuration.
    pub fn new(auth: &AuthConfig) -> Result<Self, Error> {
        let secret = auth.jwt_secret.expose();
        if secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(Error::Config {
                field: "auth.jwt_secret".into(),
                message: format!("at least {MIN_JWT_SECRET_BYTES} bytes are required"),
            });
        }
        let crypto = |e: jsonwebtoken::errors::Error| Error::Crypto(format!("jwt key: {e}"));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = auth.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = false;
        validation.validate_aud = true;
        validation.set_issuer(&[&auth.issuer]);
        validation.set_audience(&[&auth.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret).map_err(crypto)?,
            decoding: DecodingKey::from_secret(secret).map_err(crypto)?,
            validation,
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            ttl: auth.jwt_ttl,
            leeway: auth.leeway,
        })
    }

    /// Default lifetime of issued tokens.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Claims for a new token for `sub`, valid from now for `ttl`.
    pub fn claims(&self, sub: Uuid, role: Role, tenant: &str, tgen: i64, ttl: Duration) -> Claims {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Claims {
            sub: sub.to_string(),
            role,
            tenant: tenant.to_owned(),
            jti: Uuid::new_v4().to_string(),
            iat: now,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            tgen,
            obo: None,
            obo_tgen: None,
        }
    }

    /// Signs `claims` with HS256.
    pub fn sign(&self, claims: &Claims) -> Result<String, Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| Error::Crypto(format!("sign token: {e}")))
    }

    /// Verifies signature, algorithm, `iss`, `aud`, `exp` (with leeway) and `iat`.
    pub fn validate(&self, token: &str) -> Result<Claims, TokenRejection> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenRejection::BadSignature,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::MissingAlgorithm
                | ErrorKind::UnsupportedAlgorithm => TokenRejection::WrongAlgorithm,
                ErrorKind::ExpiredSignature => TokenRejection::Expired,
                ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
                ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
                ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
                _ => TokenRejection::Malformed,
            })?;
        let claims = data.claims;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(0);
        if claims.iat > now + leeway {
            return Err(TokenRejection::NotYetValid);
        }
        if claims.exp <= claims.iat {
            return Err(TokenRejection::Malformed);
        }
        Ok(claims)
    }

    /// The subject of a token whose signature verifies, even if it is expired or otherwise
    /// refused: what a WARN line names as the caller. Never used to authorise.
    pub fn verified_subject(&self, token: &str) -> Option<String> {
        let mut lenient = self.validation.clone();
        lenient.validate_exp = false;
        lenient.validate_aud = false;
        lenient.iss = None;
        lenient.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Value>(token, &self.decoding, &lenient)
            .ok()
            .and_then(|d| d.claims.get("sub")?.as_str().map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys_with(secret: &[u8]) -> TokenKeys {
        let mut auth =
            crate::config::Config::dev("postgres://x/y", "127.0.0.1:0".parse().unwrap()).auth;
        auth.jwt_secret = crate::config::Secret::new(secret.to_vec());
        TokenKeys::new(&auth).unwrap()
    }

    fn keys() -> TokenKeys {
        keys_with(&[7u8; 32])
    }

    fn token(keys: &TokenKeys) -> (Claims, String) {
        let claims = keys.claims(Uuid::new_v4(), Role::Admin, "default", 0, keys.ttl());
        let token = keys.sign(&claims).unwrap();
        (claims, token)
    }

    fn b64(value: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    #[test]
    fn a_fresh_token_validates_to_its_claims() {
        let keys = keys();
        let (claims, token) = token(&keys);
        assert_eq!(keys.validate(&token).unwrap(), claims);
    }

    #[test]
    fn an_unsigned_none_token_is_refused() {
        let keys = keys();
        let (claims, _) = token(&keys);
        let forged = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(&serde_json::to_value(&claims).unwrap())
        );
        assert!(keys.validate(&forged).is_err());
    }

    #[test]
    fn another_algorithm_in_the_header_is_refused() {
        let keys = keys();
        let (claims, token) = token(&keys);
        let signature = token.rsplit('.').next().unwrap();
        for alg in ["HS384", "HS512", "RS256", "ES256", "EdDSA"] {
            let forged = format!(
                "{}.{}.{signature}",
                b64(&serde_json::json!({"alg": alg, "typ": "JWT"})),
                b64(&serde_json::to_value(&claims).unwrap())
            );
            assert!(keys.validate(&forged).is_err(), "{alg} accepted");
        }
        // Correctly HS512-signed with our own secret: still refused, the algorithm is pinned.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(&[7u8; 32]).unwrap(),
        )
        .unwrap();
        assert_eq!(keys.validate(&hs512), Err(TokenRejection::WrongAlgorithm));
    }

    #[test]
    fn a_tampered_payload_or_another_secret_fails_the_signature() {
        let keys = keys();
        let (mut claims, token) = token(&keys);
        let mut parts: Vec<&str> = token.split('.').collect();
        claims.role = Role::SuperAdmin;
        let payload = b64(&serde_json::to_value(&claims).unwrap());
        parts[1] = &payload;
        assert_eq!(
            keys.validate(&parts.join(".")),
            Err(TokenRejection::BadSignature)
        );
        let other = keys_with(&[8u8; 32]);
        let (_, foreign) = self::token(&other);
        assert_eq!(keys.validate(&foreign), Err(TokenRejection::BadSignature));
    }

    #[test]
    fn wrong_issuer_audience_and_expiry_beyond_leeway_are_refused() {
        let keys = keys();
        let (claims, _) = token(&keys);
        let cases = [
            (
                Claims {
                    iss: "evil".into(),
                    ..claims.clone()
                },
                TokenRejection::WrongIssuer,
            ),
            (
                Claims {
                    aud: "other-service".into(),
                    ..claims.clone()
                },
                TokenRejection::WrongAudience,
            ),
            (
                Claims {
                    iat: claims.iat - 7200,
                    exp: claims.iat - 60,
                    ..claims.clone()
                },
                TokenRejection::Expired,
            ),
            (
                Claims {
                    iat: claims.iat + 3600,
                    exp: claims.iat + 7200,
                    ..claims.clone()
                },
                TokenRejection::NotYetValid,
            ),
        ];
        for (claims, expected) in cases {
            let token = keys.sign(&claims).unwrap();
            assert_eq!(keys.validate(&token), Err(expected));
        }
    }

    #[test]
    fn expiry_within_the_leeway_is_tolerated() {
        let keys = keys();
        let (claims, _) = token(&keys);
        let just_expired = Claims {
            iat: claims.iat - 600,
            exp: claims.iat - 2,
            ..claims
        };
        assert!(keys.validate(&keys.sign(&just_expired).unwrap()).is_ok());
    }

    #[test]
    fn garbage_is_malformed_and_unknown_claims_are_refused() {
        let keys = keys();
        for garbage in ["", "a.b.c", "not a token", "....", "eyJ.eyJ.sig"] {
            assert!(keys.validate(garbage).is_err(), "{garbage:?}");
        }
        let (claims, _) = token(&keys);
        let mut extra = serde_json::to_value(&claims).unwrap();
        extra["admin"] = serde_json::json!(true);
        let extra = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &extra,
            &EncodingKey::from_secret(&[7u8; 32]).unwrap(),
        )
        .unwrap();
        assert_eq!(keys.validate(&extra), Err(TokenRejection::Malformed));
    }
}
