//! Signed checkpoints: what an auditor keeps outside the database to detect truncation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Row as _};
use time::OffsetDateTime;

use super::canonical::CheckpointBody;
use super::keys::{CheckpointKeys, CheckpointSigner};
use super::time_micros::{from_micros, micros};
use crate::error::Error;

/// Periodic checkpoint (every K rows or T minutes).
pub const KIND_PERIODIC: &str = "periodic";
/// Retention checkpoint: its anchor marks where pruning may cut the chain.
pub const KIND_RETENTION: &str = "retention";

/// A signed checkpoint, as stored, served by `GET /admin/audit/checkpoints/latest`, and kept by
/// the operator in the custom resource's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Sequence number of the checkpoint in this database.
    pub id: i64,
    /// Installation whose chain this is.
    pub installation_id: uuid::Uuid,
    /// `periodic` or `retention`.
    pub kind: String,
    /// Chain position covered: the newest row's id (0 for an empty chain).
    pub position: i64,
    /// `hmac` of the row at `position`, hex.
    pub head_hmac: String,
    /// `created_at` of the row at `position`.
    #[serde(with = "time::serde::rfc3339")]
    pub head_created_at: OffsetDateTime,
    /// Retention anchor in force: rows up to its position may have been pruned.
    pub anchor: Option<Anchor>,
    /// When the checkpoint was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Id of the Ed25519 key that signed it.
    pub signing_key_id: String,
    /// Ed25519 signature over the layout in `docs/audit-chain.md`, base64.
    pub signature: String,
}

/// A retention anchor: the last pruned position and its row's hmac.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// Id of the newest row that retention may have removed.
    pub position: i64,
    /// `hmac` of that row, hex; the next row's `prev_hmac`.
    #[serde(with = "hex_32")]
    #[schema(value_type = String)]
    pub hmac: [u8; 32],
}

impl Checkpoint {
    /// The signed fields in their canonical form.
    pub fn body(&self) -> Result<CheckpointBody, String> {
        Ok(CheckpointBody {
            installation_id: self.installation_id,
            kind: self.kind.clone(),
            position: self.position,
            head_hmac: self.head_hmac_bytes()?,
            head_created_at_micros: micros(self.head_created_at),
            anchor_position: self.anchor.map(|a| a.position),
            anchor_hmac: self.anchor.map(|a| a.hmac),
            created_at_micros: micros(self.created_at),
            signing_key_id: self.signing_key_id.clone(),
        })
    }

    /// `head_hmac` as bytes.
    pub fn head_hmac_bytes(&self) -> Result<[u8; 32], String> {
        decode_hex_32(&self.head_hmac).ok_or_else(|| "head_hmac is not 32 bytes of hex".to_owned())
    }

    /// Checks the signature with `keys`: `Err` says why it does not hold.
    pub fn verify_signature(&self, keys: &CheckpointKeys) -> Result<(), SignatureProblem> {
        let body = self.body().map_err(SignatureProblem::Malformed)?;
        let signature: [u8; 64] = BASE64
            .decode(&self.signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                SignatureProblem::Malformed("signature is not 64 bytes of base64".into())
            })?;
        match keys.verify(&self.signing_key_id, &body.signing_input(), &signature) {
            Some(true) => Ok(()),
            Some(false) => Err(SignatureProblem::Invalid),
            None => Err(SignatureProblem::UnknownKey(self.signing_key_id.clone())),
        }
    }

    /// Reads and parses a checkpoint JSON file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("read {}", path.display()),
            source,
        })?;
        serde_json::from_str(&text)
            .map_err(|e| Error::InvalidCheckpoint(format!("{}: {e}", path.display())))
    }
}

/// Why a checkpoint signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    /// A field cannot be decoded.
    #[error("checkpoint is malformed: {0}")]
    Malformed(String),
    /// The signature does not match.
    #[error("checkpoint signature is invalid")]
    Invalid,
    /// No public key with this id is configured.
    #[error("checkpoint is signed with unknown key {0:?}")]
    UnknownKey(String),
}

/// The chain state a checkpoint attests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadState {
    pub position: i64,
    pub hmac: [u8; 32],
    pub created_at_micros: i64,
}

/// Signs and stores a checkpoint of `head` in the caller's transaction. `anchor` overrides the
/// anchor in force (retention writes its new boundary); otherwise the newest one is carried.
pub(crate) async fn write(
    conn: &mut PgConnection,
    signer: &CheckpointSigner,
    kind: &str,
    head: HeadState,
    anchor: Option<Anchor>,
) -> Result<Checkpoint, Error> {
    let installation_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM installation")
        .fetch_one(&mut *conn)
        .await?;
    let anchor = match anchor {
        Some(anchor) => Some(anchor),
        None => latest_anchor(&mut *conn).await?,
    };
    let created_at = from_micros(micros(OffsetDateTime::now_utc()));
    let body = CheckpointBody {
        installation_id,
        kind: kind.to_owned(),
        position: head.position,
        head_hmac: head.hmac,
        head_created_at_micros: head.created_at_micros,
        anchor_position: anchor.map(|a| a.position),
        anchor_hmac: anchor.map(|a| a.hmac),
        created_at_micros: micros(created_at),
        signing_key_id: signer.key_id().to_owned(),
    };
    let signature = signer.sign(&body.signing_input());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_checkpoint (installation_id, kind, position, head_hmac, head_created_at,
             anchor_position, anchor_hmac, created_at, signing_key_id, signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(installation_id)
    .bind(kind)
    .bind(head.position)
    .bind(&head.hmac[..])
    .bind(from_micros(head.created_at_micros))
    .bind(anchor.map(|a| a.position))
    .bind(anchor.map(|a| a.hmac.to_vec()))
    .bind(created_at)
    .bind(signer.key_id())
    .bind(&signature[..])
    .fetch_one(&mut *conn)
    .await?;
    Ok(Checkpoint {
        id,
        installation_id,
        kind: kind.to_owned(),
        position: head.position,
        head_hmac: hex::encode(head.hmac),
        head_created_at: from_micros(head.created_at_micros),
        anchor,
        created_at,
        signing_key_id: signer.key_id().to_owned(),
        signature: BASE64.encode(signature),
    })
}

const SELECT: &str = "SELECT id, installation_id, kind, position, head_hmac, head_created_at,
    anchor_position, anchor_hmac, created_at, signing_key_id, signature FROM audit_checkpoint";

/// The newest checkpoint of any kind.
pub async fn latest(conn: &mut PgConnection) -> Result<Option<Checkpoint>, Error> {
    let row = sqlx::query(&format!("{SELECT} ORDER BY id DESC LIMIT 1"))
        .fetch_optional(conn)
        .await?;
    row.map(|r| from_row(&r)).transpose()
}

/// The newest retention checkpoint (whose anchor verification starts from).
pub async fn latest_retention(conn: &mut PgConnection) -> Result<Option<Checkpoint>, Error> {
    let row = sqlx::query(&format!(
        "{SELECT} WHERE kind = 'retention' ORDER BY id DESC LIMIT 1"
    ))
    .fetch_optional(conn)
    .await?;
    row.map(|r| from_row(&r)).transpose()
}

/// The anchor in force: that of the newest retention checkpoint.
pub(crate) async fn latest_anchor(conn: &mut PgConnection) -> Result<Option<Anchor>, Error> {
    Ok(latest_retention(conn).await?.and_then(|c| c.anchor))
}

fn from_row(row: &sqlx::postgres::PgRow) -> Result<Checkpoint, Error> {
    let bytes32 = |name: &str| -> Result<[u8; 32], Error> {
        let v: Vec<u8> = row.try_get(name)?;
        v.try_into()
            .map_err(|_| Error::InvalidCheckpoint(format!("stored {name} is not 32 bytes")))
    };
    let anchor_position: Option<i64> = row.try_get("anchor_position")?;
    let anchor_hmac: Option<Vec<u8>> = row.try_get("anchor_hmac")?;
    let anchor = match (anchor_position, anchor_hmac) {
        (Some(position), Some(hmac)) => Some(Anchor {
            position,
            hmac: hmac.try_into().map_err(|_| {
                Error::InvalidCheckpoint("stored anchor_hmac is not 32 bytes".into())
            })?,
        }),
        _ => None,
    };
    let signature: Vec<u8> = row.try_get("signature")?;
    Ok(Checkpoint {
        id: row.try_get("id")?,
        installation_id: row.try_get("installation_id")?,
        kind: row.try_get("kind")?,
        position: row.try_get("position")?,
        head_hmac: hex::encode(bytes32("head_hmac")?),
        head_created_at: row.try_get("head_created_at")?,
        anchor,
        created_at: row.try_get("created_at")?,
        signing_key_id: row.try_get("signing_key_id")?,
        signature: BASE64.encode(signature),
    })
}

/// 32 bytes from 64 hex digits.
pub fn decode_hex_32(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

mod hex_32 {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        super::decode_hex_32(&text)
            .ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}
