//! The exact bytes that are MACed (rows) and signed (checkpoints); see `docs/audit-chain.md`.
//!
//! Every variable-length field is length-prefixed and every optional field carries a presence
//! tag, so no two different rows share an encoding and NULL never equals the empty string.

use serde_json::Value;

use crate::error::Error;

/// Domain separator of the row encoding, version 1.
pub const ROW_DOMAIN: &[u8] = b"alexandria.audit.row.v1";
/// Domain separator of the checkpoint encoding, version 1.
pub const CHECKPOINT_DOMAIN: &[u8] = b"alexandria.audit.checkpoint.v1";
/// `prev_hmac` of the first row of a chain.
pub const GENESIS_HMAC: [u8; 32] = [0; 32];

/// One chain row, as stored and as exported; the input to the MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRow {
    /// Position in the chain (1-based, contiguous).
    pub id: i64,
    /// Microseconds since the Unix epoch, UTC.
    pub created_at_micros: i64,
    /// Id of the HMAC key that MACed the row.
    pub key_id: String,
    /// Who acted.
    pub principal: String,
    /// What was done (`auth.login`, `authz.bypass`, …).
    pub action: String,
    /// The agent acting, if any.
    pub agent: Option<String>,
    /// Session or token id, if any.
    pub session: Option<String>,
    /// Tenant, in multi-tenant mode.
    pub tenant: Option<String>,
    /// RFC 8785 canonical JSON text of the metadata.
    pub metadata: String,
    /// MAC of the previous row ([`GENESIS_HMAC`] for the first).
    pub prev_hmac: [u8; 32],
    /// MAC of this row.
    pub hmac: [u8; 32],
}

impl ChainRow {
    /// The bytes the row's MAC covers: everything but `hmac` itself.
    pub fn mac_input(&self) -> Vec<u8> {
        self.mac_input_at(self.id)
    }

    /// The MAC input as if the row sat at position `id` (used to tell reordering from editing).
    pub fn mac_input_at(&self, id: i64) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_mac_input(id, &mut out);
        out
    }

    /// Writes the MAC input for position `id` into `out` (cleared first), reusing its buffer.
    pub fn write_mac_input(&self, id: i64, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(
            96 + self.key_id.len() + self.principal.len() + self.action.len() + self.metadata.len(),
        );
        put_bytes(out, ROW_DOMAIN);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&self.created_at_micros.to_be_bytes());
        put_bytes(out, self.key_id.as_bytes());
        put_bytes(out, self.principal.as_bytes());
        put_bytes(out, self.action.as_bytes());
        put_optional(out, self.agent.as_deref());
        put_optional(out, self.session.as_deref());
        put_optional(out, self.tenant.as_deref());
        put_bytes(out, self.metadata.as_bytes());
        out.extend_from_slice(&self.prev_hmac);
    }
}

/// The signed content of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBody {
    /// Installation the chain belongs to.
    pub installation_id: uuid::Uuid,
    /// `periodic` or `retention`.
    pub kind: String,
    /// Chain position covered (id of the newest row; 0 for an empty chain).
    pub position: i64,
    /// `hmac` of the row at `position`.
    pub head_hmac: [u8; 32],
    /// `created_at` of the row at `position`, microseconds.
    pub head_created_at_micros: i64,
    /// Retention anchor: rows up to this position may be pruned.
    pub anchor_position: Option<i64>,
    /// `hmac` of the row at `anchor_position`.
    pub anchor_hmac: Option<[u8; 32]>,
    /// When the checkpoint was made, microseconds.
    pub created_at_micros: i64,
    /// Id of the Ed25519 key that signs it.
    pub signing_key_id: String,
}

impl CheckpointBody {
    /// The bytes the Ed25519 signature covers.
    pub fn signing_input(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(192);
        put_bytes(&mut out, CHECKPOINT_DOMAIN);
        out.extend_from_slice(self.installation_id.as_bytes());
        put_bytes(&mut out, self.kind.as_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
        out.extend_from_slice(&self.head_hmac);
        out.extend_from_slice(&self.head_created_at_micros.to_be_bytes());
        match (self.anchor_position, self.anchor_hmac) {
            (Some(position), Some(hmac)) => {
                out.push(1);
                out.extend_from_slice(&position.to_be_bytes());
                out.extend_from_slice(&hmac);
            }
            _ => out.push(0),
        }
        out.extend_from_slice(&self.created_at_micros.to_be_bytes());
        put_bytes(&mut out, self.signing_key_id.as_bytes());
        out
    }
}

/// RFC 8785 canonical JSON of `value`.
pub fn canonical_json(value: &Value) -> Result<String, Error> {
    use canon_json::CanonJsonSerialize as _;
    value
        .to_canon_json_string()
        .map_err(|e| Error::InvalidAuditEvent(format!("metadata is not canonicalisable JSON: {e}")))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Fields are bounded far below 4 GiB by event validation.
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_optional(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put_bytes(out, v.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> ChainRow {
        ChainRow {
            id: 7,
            created_at_micros: 1_764_806_400_000_000,
            key_id: "k1".into(),
            principal: "alice".into(),
            action: "auth.login".into(),
            agent: None,
            session: Some(String::new()),
            tenant: None,
            metadata: "{}".into(),
            prev_hmac: [1; 32],
            hmac: [2; 32],
        }
    }

    #[test]
    fn null_and_empty_string_encode_differently() {
        let with_empty = row();
        let mut with_null = row();
        with_null.session = None;
        assert_ne!(with_empty.mac_input(), with_null.mac_input());
    }

    #[test]
    fn moving_bytes_between_adjacent_fields_changes_the_encoding() {
        let mut a = row();
        a.principal = "ab".into();
        a.action = "c".into();
        let mut b = row();
        b.principal = "a".into();
        b.action = "bc".into();
        assert_ne!(a.mac_input(), b.mac_input());
    }

    #[test]
    fn hmac_is_not_part_of_its_own_input_but_prev_hmac_and_id_are() {
        let base = row();
        let mut other_hmac = row();
        other_hmac.hmac = [9; 32];
        assert_eq!(base.mac_input(), other_hmac.mac_input());
        let mut other_prev = row();
        other_prev.prev_hmac = [9; 32];
        assert_ne!(base.mac_input(), other_prev.mac_input());
        assert_ne!(base.mac_input(), base.mac_input_at(8));
    }

    #[test]
    fn encoding_layout_is_stable() {
        // Pinned byte for byte: a change here breaks verification of every existing chain.
        assert_eq!(row().mac_input(), expected_layout());
    }

    fn expected_layout() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&23u32.to_be_bytes());
        v.extend_from_slice(b"alexandria.audit.row.v1");
        v.extend_from_slice(&7i64.to_be_bytes());
        v.extend_from_slice(&1_764_806_400_000_000i64.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 2]);
        v.extend_from_slice(b"k1");
        v.extend_from_slice(&[0, 0, 0, 5]);
        v.extend_from_slice(b"alice");
        v.extend_from_slice(&[0, 0, 0, 10]);
        v.extend_from_slice(b"auth.login");
        v.push(0); // agent: NULL
        v.extend_from_slice(&[1, 0, 0, 0, 0]); // session: present, empty
        v.push(0); // tenant: NULL
        v.extend_from_slice(&[0, 0, 0, 2]);
        v.extend_from_slice(b"{}");
        v.extend_from_slice(&[1; 32]);
        v
    }

    #[test]
    fn canonical_json_sorts_keys_and_normalises_numbers() {
        let value = json!({"b": 1.0, "a": {"z": [1e2, "é"], "y": null}, "\u{20ac}": true});
        assert_eq!(
            canonical_json(&value).unwrap(),
            r#"{"a":{"y":null,"z":[100,"é"]},"b":1,"€":true}"#
        );
    }

    #[test]
    fn canonical_json_is_a_fixed_point_through_parsing() {
        let value = json!({"n": 0.1, "big": 1e300, "neg": -0.000001, "s": "\u{1f600}\n"});
        let once = canonical_json(&value).unwrap();
        let reparsed: Value = serde_json::from_str(&once).unwrap();
        assert_eq!(canonical_json(&reparsed).unwrap(), once);
    }
}
