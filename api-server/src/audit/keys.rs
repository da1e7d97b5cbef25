//! Key material: the HMAC key ring that chains rows, and the Ed25519 keys that sign checkpoints.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::Error;

/// Shortest HMAC key accepted, in bytes (the SHA-256 block-size guidance: at least the output).
pub const MIN_HMAC_KEY_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// HMAC keys by id: one active key MACs new rows; the others only verify (rotation).
#[derive(Clone)]
pub struct HmacKeyRing {
    active: String,
    keys: BTreeMap<String, Vec<u8>>,
    keyed: BTreeMap<String, HmacSha256>,
}

/// On-disk form of an [`HmacKeyRing`] (YAML or JSON): `active: ID` and `keys: {ID: base64}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacKeyRingFile {
    /// Id of the key that MACs new rows.
    pub active: String,
    /// Every key, base64-encoded, by id.
    pub keys: BTreeMap<String, String>,
}

impl HmacKeyRing {
    /// A ring of `keys` with `active` the key for new rows.
    pub fn new(active: &str, keys: BTreeMap<String, Vec<u8>>) -> Result<Self, Error> {
        for (id, key) in &keys {
            validate_key_id(id)?;
            if key.len() < MIN_HMAC_KEY_BYTES {
                return Err(Error::InvalidKey(format!(
                    "audit HMAC key {id:?} is {} bytes; at least {MIN_HMAC_KEY_BYTES} are required",
                    key.len()
                )));
            }
        }
        if !keys.contains_key(active) {
            return Err(Error::InvalidKey(format!(
                "active audit HMAC key {active:?} is not among the configured keys"
            )));
        }
        Ok(Self::from_parts(active.to_owned(), keys))
    }

    fn from_parts(active: String, keys: BTreeMap<String, Vec<u8>>) -> Self {
        let keyed = keys
            .iter()
            .filter_map(|(id, key)| Some((id.clone(), HmacSha256::new_from_slice(key).ok()?)))
            .collect();
        Self {
            active,
            keys,
            keyed,
        }
    }

    /// A ring with one freshly generated key (development and tests).
    pub fn generate(id: &str) -> Self {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self::from_parts(id.to_owned(), BTreeMap::from([(id.to_owned(), key)]))
    }

    /// Parses the YAML/JSON key-ring file format.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        let file: HmacKeyRingFile = serde_yaml::from_str(text)
            .map_err(|e| Error::InvalidKey(format!("audit HMAC key file: {e}")))?;
        let mut keys = BTreeMap::new();
        for (id, encoded) in file.keys {
            let key = BASE64.decode(encoded.trim()).map_err(|e| {
                Error::InvalidKey(format!("audit HMAC key {id:?} is not valid base64: {e}"))
            })?;
            keys.insert(id, key);
        }
        Self::new(&file.active, keys)
    }

    /// Reads a key-ring file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        Self::from_text(&read_secret_file(path)?)
    }

    /// The file form of this ring (for `audit keygen`).
    pub fn to_file(&self) -> HmacKeyRingFile {
        HmacKeyRingFile {
            active: self.active.clone(),
            keys: self
                .keys
                .iter()
                .map(|(id, key)| (id.clone(), BASE64.encode(key)))
                .collect(),
        }
    }

    /// Id of the key that MACs new rows.
    pub fn active_id(&self) -> &str {
        &self.active
    }

    /// Whether `key_id` is in the ring.
    pub fn contains(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// HMAC-SHA256 of `input` under `key_id`; `None` for an unknown key.
    pub fn mac(&self, key_id: &str, input: &[u8]) -> Option<[u8; 32]> {
        let mut mac = self.keyed(key_id)?;
        mac.update(input);
        Some(mac.finalize().into_bytes().into())
    }

    /// Constant-time check of `tag`; `None` for an unknown key.
    pub fn verify(&self, key_id: &str, input: &[u8], tag: &[u8; 32]) -> Option<bool> {
        let mut mac = self.keyed(key_id)?;
        mac.update(input);
        Some(mac.verify_slice(tag).is_ok())
    }

    /// A MAC already keyed with `key_id` (the keyed state is computed once per key).
    fn keyed(&self, key_id: &str) -> Option<HmacSha256> {
        self.keyed.get(key_id).cloned()
    }
}

impl fmt::Debug for HmacKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKeyRing")
            .field("active", &self.active)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The Ed25519 key that signs checkpoints, with its id.
#[derive(Clone)]
pub struct CheckpointSigner {
    key_id: String,
    key: SigningKey,
}

/// On-disk form of a [`CheckpointSigner`]: `key_id` and the 32-byte secret key, base64.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyFile {
    /// Id recorded in every checkpoint it signs.
    pub key_id: String,
    /// Ed25519 secret key (32-byte seed), base64.
    pub secret_key: String,
}

impl CheckpointSigner {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn new(key_id: &str, seed: [u8; 32]) -> Result<Self, Error> {
        validate_key_id(key_id)?;
        Ok(Self {
            key_id: key_id.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// A freshly generated key (development and tests).
    pub fn generate(key_id: &str) -> Self {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        Self {
            key_id: key_id.to_owned(),
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// Parses the YAML/JSON signing-key file format.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        let file: SigningKeyFile = serde_yaml::from_str(text)
            .map_err(|e| Error::InvalidKey(format!("checkpoint signing key file: {e}")))?;
        let seed: [u8; 32] = BASE64
            .decode(file.secret_key.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                Error::InvalidKey(
                    "checkpoint signing key: secret_key must be 32 bytes, base64".into(),
                )
            })?;
        Self::new(&file.key_id, seed)
    }

    /// Reads a signing-key file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        Self::from_text(&read_secret_file(path)?)
    }

    /// The file form of this key (for `audit keygen`).
    pub fn to_file(&self) -> SigningKeyFile {
        SigningKeyFile {
            key_id: self.key_id.clone(),
            secret_key: BASE64.encode(self.key.to_bytes()),
        }
    }

    /// Id of this key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The public half, for auditors.
    pub fn public_keys(&self) -> CheckpointKeys {
        CheckpointKeys {
            keys: BTreeMap::from([(self.key_id.clone(), self.key.verifying_key())]),
        }
    }
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Ed25519 public keys by id: what an auditor needs to check checkpoints (no secret).
#[derive(Debug, Clone, Default)]
pub struct CheckpointKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

/// On-disk form of [`CheckpointKeys`]: `keys: {ID: base64 public key}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeysFile {
    /// Ed25519 public keys (32 bytes, base64) by id.
    pub keys: BTreeMap<String, String>,
}

impl CheckpointKeys {
    /// Parses the YAML/JSON public-keys file format.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        let file: PublicKeysFile = serde_yaml::from_str(text)
            .map_err(|e| Error::InvalidKey(format!("checkpoint public keys file: {e}")))?;
        let mut keys = BTreeMap::new();
        for (id, encoded) in file.keys {
            validate_key_id(&id)?;
            let key = BASE64
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
                .ok_or_else(|| {
                    Error::InvalidKey(format!(
                        "checkpoint public key {id:?} is not a valid Ed25519 key"
                    ))
                })?;
            keys.insert(id, key);
        }
        Ok(Self { keys })
    }

    /// Reads a public-keys file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        Self::from_text(&read_secret_file(path)?)
    }

    /// The file form of these keys.
    pub fn to_file(&self) -> PublicKeysFile {
        PublicKeysFile {
            keys: self
                .keys
                .iter()
                .map(|(id, key)| (id.clone(), BASE64.encode(key.as_bytes())))
                .collect(),
        }
    }

    /// Adds the keys of `other` (e.g. retired signing keys).
    pub fn extend(&mut self, other: CheckpointKeys) {
        self.keys.extend(other.keys);
    }

    /// Whether `signature` by `key_id` over `message` is valid (strict Ed25519); `None` for an
    /// unknown key.
    pub fn verify(&self, key_id: &str, message: &[u8], signature: &[u8; 64]) -> Option<bool> {
        let key = self.keys.get(key_id)?;
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        Some(key.verify_strict(message, &signature).is_ok())
    }
}

fn validate_key_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidKey(format!(
            "key id {id:?} must be 1-64 characters of A-Z a-z 0-9 . _ -"
        )))
    }
}

fn read_secret_file(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        context: format!("read {}", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_rejects_short_keys_unknown_active_and_bad_ids() {
        let short = BTreeMap::from([("k1".to_owned(), vec![0u8; 16])]);
        assert!(
            HmacKeyRing::new("k1", short)
                .unwrap_err()
                .to_string()
                .contains("at least 32")
        );
        let ok = BTreeMap::from([("k1".to_owned(), vec![0u8; 32])]);
        assert!(
            HmacKeyRing::new("k2", ok.clone())
                .unwrap_err()
                .to_string()
                .contains("\"k2\"")
        );
        let bad_id = BTreeMap::from([("k 1".to_owned(), vec![0u8; 32])]);
        assert!(HmacKeyRing::new("k 1", bad_id).is_err());
        assert!(HmacKeyRing::new("k1", ok).is_ok());
    }

    #[test]
    fn retired_keys_verify_but_only_the_active_key_is_reported_for_new_rows() {
        let text = format!(
            "active: new\nkeys:\n  old: {}\n  new: {}\n",
            BASE64.encode([1u8; 32]),
            BASE64.encode([2u8; 32])
        );
        let ring = HmacKeyRing::from_text(&text).unwrap();
        assert_eq!(ring.active_id(), "new");
        let tag = ring.mac("old", b"row").unwrap();
        assert_eq!(ring.verify("old", b"row", &tag), Some(true));
        assert_eq!(ring.verify("new", b"row", &tag), Some(false));
        assert_eq!(ring.verify("gone", b"row", &tag), None);
    }

    #[test]
    fn key_ring_file_round_trips_and_rejects_unknown_fields() {
        let ring = HmacKeyRing::generate("k1");
        let text = serde_yaml::to_string(&ring.to_file()).unwrap();
        let back = HmacKeyRing::from_text(&text).unwrap();
        assert_eq!(back.mac("k1", b"x"), ring.mac("k1", b"x"));
        assert!(HmacKeyRing::from_text(&format!("{text}extra: 1\n")).is_err());
    }

    #[test]
    fn checkpoint_signatures_verify_with_the_public_key_only() {
        let signer = CheckpointSigner::generate("s1");
        let public_text = serde_yaml::to_string(&signer.public_keys().to_file()).unwrap();
        let public = CheckpointKeys::from_text(&public_text).unwrap();
        let signature = signer.sign(b"checkpoint");
        assert_eq!(public.verify("s1", b"checkpoint", &signature), Some(true));
        assert_eq!(public.verify("s1", b"checkpoinT", &signature), Some(false));
        assert_eq!(public.verify("s2", b"checkpoint", &signature), None);
        let reloaded =
            CheckpointSigner::from_text(&serde_yaml::to_string(&signer.to_file()).unwrap())
                .unwrap();
        assert_eq!(reloaded.sign(b"m"), signer.sign(b"m"));
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let ring = HmacKeyRing::generate("k1");
        let secret = ring.to_file().keys["k1"].clone();
        assert!(!format!("{ring:?}").contains(&secret));
        let signer = CheckpointSigner::generate("s1");
        assert!(!format!("{signer:?}").contains(&signer.to_file().secret_key));
    }
}
