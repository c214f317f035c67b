//! The CBOR header: vault id, generation, key slots, data-key commitment and
//! body nonce. Decoding checks every length and bound and insists on the
//! canonical encoding; nothing here touches keys or files.

use serde::{Deserialize, Serialize};

use super::{FormatError, MAX_HEADER_LEN};
use crate::crypto::{bounds, KdfParams, COMMITMENT_LEN, NONCE_LEN, WRAPPED_LEN};

/// At most this many key slots per vault.
pub const MAX_SLOTS: usize = 8;

/// Random 128-bit identifier of a vault, fixed at `init`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct VaultId(pub [u8; 16]);

/// Random 32-bit identifier of a slot, unique within its vault.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SlotId(pub [u8; 4]);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl VaultId {
    /// Lower-case hex, 32 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl SlotId {
    /// Lower-case hex, 8 characters: what `vault key list` shows.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses the 8 hex characters `vault key list` shows.
    pub fn from_hex(s: &str) -> Option<SlotId> {
        unhex::<4>(&s.to_ascii_lowercase()).map(SlotId)
    }
}

/// What kind of key-encryption key a slot uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// 32 random bytes kept in the platform keyring.
    Keyring,
    /// Argon2id of a passphrase.
    Passphrase {
        /// Random salt, 16 to 64 bytes.
        salt: Vec<u8>,
        /// Cost parameters, within [`bounds`].
        params: KdfParams,
    },
}

/// One key slot: the data key wrapped under this slot's key-encryption key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Identifier, unique within the vault.
    pub id: SlotId,
    /// Kind and parameters.
    pub kind: SlotKind,
    /// Nonce of the wrap.
    pub nonce: [u8; NONCE_LEN],
    /// The wrapped data key.
    pub wrapped: [u8; WRAPPED_LEN],
}

/// The decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Random identifier of this vault.
    pub vault_id: VaultId,
    /// Incremented on every write.
    pub generation: u64,
    /// One to [`MAX_SLOTS`] key slots.
    pub slots: Vec<Slot>,
    /// Keyed BLAKE2b-256 of the data key, see `crypto::commitment`.
    pub commitment: [u8; COMMITMENT_LEN],
    /// Nonce of the body encryption, fresh on every write.
    pub body_nonce: [u8; NONCE_LEN],
}

const KIND_KEYRING: u8 = 1;
const KIND_PASSPHRASE: u8 = 2;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    #[serde(with = "serde_bytes")]
    id: [u8; 16],
    generation: u64,
    slots: Vec<RawSlot>,
    #[serde(with = "serde_bytes")]
    commitment: [u8; COMMITMENT_LEN],
    #[serde(with = "serde_bytes")]
    nonce: [u8; NONCE_LEN],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlot {
    #[serde(with = "serde_bytes")]
    id: [u8; 4],
    kind: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<RawKdf>,
    #[serde(with = "serde_bytes")]
    nonce: [u8; NONCE_LEN],
    #[serde(with = "serde_bytes")]
    wrapped: [u8; WRAPPED_LEN],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKdf {
    #[serde(with = "serde_bytes")]
    salt: Vec<u8>,
    m: u32,
    t: u32,
    p: u32,
}

impl Header {
    /// Canonical CBOR encoding.
    pub fn encode(&self) -> Vec<u8> {
        let raw = RawHeader {
            id: self.vault_id.0,
            generation: self.generation,
            slots: self
                .slots
                .iter()
                .map(|s| RawSlot {
                    id: s.id.0,
                    kind: match s.kind {
                        SlotKind::Keyring => KIND_KEYRING,
                        SlotKind::Passphrase { .. } => KIND_PASSPHRASE,
                    },
                    kdf: match &s.kind {
                        SlotKind::Keyring => None,
                        SlotKind::Passphrase { salt, params } => Some(RawKdf {
                            salt: salt.clone(),
                            m: params.memory_kib,
                            t: params.time,
                            p: params.parallelism,
                        }),
                    },
                    nonce: s.nonce,
                    wrapped: s.wrapped,
                })
                .collect(),
            commitment: self.commitment,
            nonce: self.body_nonce,
        };
        let mut out = Vec::with_capacity(256);
        ciborium::into_writer(&raw, &mut out).expect("writing CBOR to a Vec cannot fail");
        out
    }

    /// Decodes and validates a header; `bytes` is exactly the header.
    pub fn decode(bytes: &[u8]) -> Result<Header, FormatError> {
        if bytes.len() > MAX_HEADER_LEN {
            return Err(FormatError::Corrupt("header too long"));
        }
        let raw: RawHeader = ciborium::from_reader(bytes)
            .map_err(|_| FormatError::Corrupt("header is not valid CBOR of the expected shape"))?;
        if raw.slots.is_empty() || raw.slots.len() > MAX_SLOTS {
            return Err(FormatError::Corrupt("slot count out of bounds"));
        }
        let mut slots: Vec<Slot> = Vec::with_capacity(raw.slots.len());
        for s in raw.slots {
            let kind = match (s.kind, s.kdf) {
                (KIND_KEYRING, None) => SlotKind::Keyring,
                (KIND_PASSPHRASE, Some(k)) => {
                    if !bounds::SALT_LEN.contains(&k.salt.len()) {
                        return Err(FormatError::Corrupt("salt length out of bounds"));
                    }
                    let params = KdfParams {
                        memory_kib: k.m,
                        time: k.t,
                        parallelism: k.p,
                    };
                    params.check_bounds().map_err(FormatError::KdfOutOfBounds)?;
                    SlotKind::Passphrase {
                        salt: k.salt,
                        params,
                    }
                }
                _ => return Err(FormatError::Corrupt("unknown slot kind")),
            };
            if slots.iter().any(|o| o.id.0 == s.id) {
                return Err(FormatError::Corrupt("duplicate slot id"));
            }
            slots.push(Slot {
                id: SlotId(s.id),
                kind,
                nonce: s.nonce,
                wrapped: s.wrapped,
            });
        }
        let header = Header {
            vault_id: VaultId(raw.id),
            generation: raw.generation,
            slots,
            commitment: raw.commitment,
            body_nonce: raw.nonce,
        };
        if header.encode() != bytes {
            return Err(FormatError::Corrupt("header is not in canonical form"));
        }
        Ok(header)
    }

    /// The slot with this id.
    pub fn slot(&self, id: SlotId) -> Option<&Slot> {
        self.slots.iter().find(|s| s.id == id)
    }
}

impl Slot {
    /// The associated data of this slot's wrap: binds the wrapped key to the
    /// vault id, the slot id, the kind and every KDF parameter, so a changed
    /// parameter makes the unwrap fail instead of being used.
    pub fn aad(&self, vault_id: &VaultId) -> Vec<u8> {
        let mut aad = Vec::with_capacity(128);
        aad.extend_from_slice(b"vault slot v1\0");
        aad.extend_from_slice(&vault_id.0);
        aad.extend_from_slice(&self.id.0);
        match &self.kind {
            SlotKind::Keyring => aad.push(KIND_KEYRING),
            SlotKind::Passphrase { salt, params } => {
                aad.push(KIND_PASSPHRASE);
                aad.extend_from_slice(&params.memory_kib.to_be_bytes());
                aad.extend_from_slice(&params.time.to_be_bytes());
                aad.extend_from_slice(&params.parallelism.to_be_bytes());
                aad.push(salt.len() as u8);
                aad.extend_from_slice(salt);
            }
        }
        aad
    }

    /// `keyring` or `passphrase`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            SlotKind::Keyring => "keyring",
            SlotKind::Passphrase { .. } => "passphrase",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_id_hex_round_trip() {
        let id = SlotId([0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(id.to_hex(), "deadbeef");
        assert_eq!(SlotId::from_hex("DEADBEEF"), Some(id));
        assert_eq!(SlotId::from_hex("deadbee"), None);
        assert_eq!(SlotId::from_hex("deadbeeg"), None);
        assert_eq!(SlotId::from_hex("dé1234"), None);
    }

    #[test]
    fn aad_changes_with_every_parameter() {
        let base = Slot {
            id: SlotId([1; 4]),
            kind: SlotKind::Passphrase {
                salt: vec![0; 16],
                params: KdfParams::DEFAULT,
            },
            nonce: [0; NONCE_LEN],
            wrapped: [0; WRAPPED_LEN],
        };
        let vid = VaultId([0; 16]);
        let a = base.aad(&vid);
        let mut variants = vec![];
        let mut s = base.clone();
        s.id = SlotId([2; 4]);
        variants.push(s.aad(&vid));
        variants.push(base.aad(&VaultId([1; 16])));
        for f in 0..4 {
            let mut s = base.clone();
            if let SlotKind::Passphrase { salt, params } = &mut s.kind {
                match f {
                    0 => params.memory_kib += 1,
                    1 => params.time += 1,
                    2 => params.parallelism += 1,
                    _ => salt[0] = 1,
                }
            }
            variants.push(s.aad(&vid));
        }
        let mut k = base.clone();
        k.kind = SlotKind::Keyring;
        variants.push(k.aad(&vid));
        for v in variants {
            assert_ne!(v, a);
        }
    }
}
