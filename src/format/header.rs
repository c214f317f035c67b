//! The CBOR header: vault id, generation, key slots, data-key commitment and
//! body nonce. Decoding checks every length and bound and insists on the
//! canonical encoding; nothing here touches keys or files.
//!
//! Read and written with the format's bounded CBOR reader and writer
//! (`cbor.rs`): the layout is fixed (`docs/FORMAT.md`), so keys are
//! expected in their one order and nothing is allocated before its length
//! has been checked. The tests hold it to ciborium's serde encoding, which
//! vault used before.

use super::cbor::{put_bytes, put_head, put_text, Part, Reader, ARRAY, MAP, UINT};
use super::kdf::{KdfParams, BUDGET};
use super::{FormatError, MAX_HEADER_LEN};
use super::{COMMITMENT_LEN, NONCE_LEN, WRAPPED_LEN};

/// At most this many key slots per vault.
pub const MAX_SLOTS: usize = 8;

/// The highest generation a header may carry: 2^62, as in version 2. A
/// write a microsecond for a hundred thousand years stays far below it, so
/// a larger one was never written by vault: it is refused as corrupt, and a
/// write that would pass it is refused, so the counter can never wrap.
pub const MAX_GENERATION: u64 = super::v2::MAX_GENERATION;

/// The generation after `g`, or `None` past [`MAX_GENERATION`].
pub fn next_generation(g: u64) -> Option<u64> {
    g.checked_add(1).filter(|n| *n <= MAX_GENERATION)
}

/// Random 128-bit identifier of a vault, fixed at `init`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct VaultId(pub [u8; 16]);

/// Random 32-bit identifier of a slot, unique within its vault.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SlotId(pub [u8; 4]);

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Exactly `N` bytes from `2 * N` lower-case hex digits.
pub(crate) fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
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
        /// Cost parameters, within the bounds of `format::kdf`.
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

const KIND_KEYRING: u64 = 1;
const KIND_PASSPHRASE: u64 = 2;

impl Header {
    /// Canonical CBOR encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + 160 * self.slots.len());
        put_head(&mut out, MAP, 5);
        put_text(&mut out, "id");
        put_bytes(&mut out, &self.vault_id.0);
        put_text(&mut out, "generation");
        put_head(&mut out, UINT, self.generation);
        put_text(&mut out, "slots");
        put_head(&mut out, ARRAY, self.slots.len() as u64);
        for s in &self.slots {
            let kdf = match &s.kind {
                SlotKind::Keyring => None,
                SlotKind::Passphrase { salt, params } => Some((salt, params)),
            };
            put_head(&mut out, MAP, if kdf.is_some() { 5 } else { 4 });
            put_text(&mut out, "id");
            put_bytes(&mut out, &s.id.0);
            put_text(&mut out, "kind");
            put_head(&mut out, UINT, s.kind_code());
            if let Some((salt, params)) = kdf {
                put_text(&mut out, "kdf");
                put_head(&mut out, MAP, 4);
                put_text(&mut out, "salt");
                put_bytes(&mut out, salt);
                put_text(&mut out, "m");
                put_head(&mut out, UINT, params.memory_kib as u64);
                put_text(&mut out, "t");
                put_head(&mut out, UINT, params.time as u64);
                put_text(&mut out, "p");
                put_head(&mut out, UINT, params.parallelism as u64);
            }
            put_text(&mut out, "nonce");
            put_bytes(&mut out, &s.nonce);
            put_text(&mut out, "wrapped");
            put_bytes(&mut out, &s.wrapped);
        }
        put_text(&mut out, "commitment");
        put_bytes(&mut out, &self.commitment);
        put_text(&mut out, "nonce");
        put_bytes(&mut out, &self.body_nonce);
        out
    }

    /// Decodes and validates a header; `bytes` is exactly the header.
    pub fn decode(bytes: &[u8]) -> Result<Header, FormatError> {
        if bytes.len() > MAX_HEADER_LEN {
            return Err(FormatError::Corrupt("header too long"));
        }
        let r = &mut Reader::new(Part::Header, bytes, 0);
        if r.expect(MAP)? != 5 {
            return Err(r.malformed());
        }
        r.key(b"id")?;
        let vault_id = VaultId(r.byte_array()?);
        r.key(b"generation")?;
        let generation = r.uint()?;
        if generation > MAX_GENERATION {
            return Err(FormatError::Corrupt("generation out of bounds"));
        }
        r.key(b"slots")?;
        let n = r.expect(ARRAY)?;
        if n == 0 || n > MAX_SLOTS as u64 {
            return Err(FormatError::Corrupt("slot count out of bounds"));
        }
        let mut slots: Vec<Slot> = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let slot = read_slot(r)?;
            if slots.iter().any(|o| o.id == slot.id) {
                return Err(FormatError::Corrupt("duplicate slot id"));
            }
            slots.push(slot);
        }
        r.key(b"commitment")?;
        let commitment = r.byte_array()?;
        r.key(b"nonce")?;
        let body_nonce = r.byte_array()?;
        if r.remaining() != 0 {
            return Err(Part::Header.not_canonical());
        }
        let header = Header {
            vault_id,
            generation,
            slots,
            commitment,
            body_nonce,
        };
        // Before any key work: a passphrase may be tried on every slot.
        if header.kdf_cost(None) > BUDGET {
            return Err(FormatError::KdfOverBudget);
        }
        // The reader takes only the one encoding; this keeps the rule
        // "parse(write(x)) == x" true whatever a later change to it does.
        if header.encode() != bytes {
            return Err(Part::Header.not_canonical());
        }
        Ok(header)
    }

    /// The slot with this id.
    pub fn slot(&self, id: SlotId) -> Option<&Slot> {
        self.slots.iter().find(|s| s.id == id)
    }

    /// The Argon2id work of the passphrase slots (memory × passes, summed;
    /// see [`BUDGET`]), slot `except` left out.
    pub fn kdf_cost(&self, except: Option<SlotId>) -> u64 {
        self.slots
            .iter()
            .filter(|s| Some(s.id) != except)
            .map(Slot::kdf_cost)
            .sum()
    }
}

/// One slot map: `id`, `kind`, `kdf` (passphrase slots only), `nonce`,
/// `wrapped`.
fn read_slot(r: &mut Reader<'_>) -> Result<Slot, FormatError> {
    let entries = r.expect(MAP)?;
    if entries != 4 && entries != 5 {
        return Err(r.malformed());
    }
    r.key(b"id")?;
    let id = SlotId(r.byte_array()?);
    r.key(b"kind")?;
    let kind = r.uint()?;
    let kind = match (kind, entries) {
        (KIND_KEYRING, 4) => SlotKind::Keyring,
        (KIND_PASSPHRASE, 5) => {
            r.key(b"kdf")?;
            if r.expect(MAP)? != 4 {
                return Err(r.malformed());
            }
            r.key(b"salt")?;
            // Bounded by the header's length; checked against the salt
            // bounds before it is copied.
            let salt = r.bytes(MAX_HEADER_LEN)?;
            let mut param = |key: &[u8]| -> Result<u32, FormatError> {
                r.key(key)?;
                let v = r.uint()?;
                u32::try_from(v).map_err(|_| Part::Header.malformed())
            };
            let params = KdfParams {
                memory_kib: param(b"m")?,
                time: param(b"t")?,
                parallelism: param(b"p")?,
            };
            KdfParams::check_salt_len(salt.len())
                .map_err(|_| FormatError::Corrupt("salt length out of bounds"))?;
            params.check_bounds().map_err(FormatError::KdfOutOfBounds)?;
            SlotKind::Passphrase {
                salt: salt.to_vec(),
                params,
            }
        }
        _ => return Err(FormatError::Corrupt("unknown slot kind")),
    };
    r.key(b"nonce")?;
    let nonce = r.byte_array()?;
    r.key(b"wrapped")?;
    let wrapped = r.byte_array()?;
    Ok(Slot {
        id,
        kind,
        nonce,
        wrapped,
    })
}

impl Slot {
    /// The kind as written in the header and the slot's AAD.
    fn kind_code(&self) -> u64 {
        match self.kind {
            SlotKind::Keyring => KIND_KEYRING,
            SlotKind::Passphrase { .. } => KIND_PASSPHRASE,
        }
    }

    /// The associated data of this slot's wrap: binds the wrapped key to the
    /// vault id, the slot id, the kind and every KDF parameter, so a changed
    /// parameter makes the unwrap fail instead of being used.
    pub fn aad(&self, vault_id: &VaultId) -> Vec<u8> {
        let mut aad = Vec::with_capacity(128);
        aad.extend_from_slice(b"vault slot v1\0");
        aad.extend_from_slice(&vault_id.0);
        aad.extend_from_slice(&self.id.0);
        aad.push(self.kind_code() as u8);
        match &self.kind {
            SlotKind::Keyring => {}
            SlotKind::Passphrase { salt, params } => {
                aad.extend_from_slice(&params.memory_kib.to_be_bytes());
                aad.extend_from_slice(&params.time.to_be_bytes());
                aad.extend_from_slice(&params.parallelism.to_be_bytes());
                aad.push(salt.len() as u8);
                aad.extend_from_slice(salt);
            }
        }
        aad
    }

    /// The Argon2id work of this slot: 0 for a keyring slot.
    pub fn kdf_cost(&self) -> u64 {
        match &self.kind {
            SlotKind::Keyring => 0,
            SlotKind::Passphrase { params, .. } => params.cost(),
        }
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
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    // The header as vault encoded it with ciborium/serde before `cbor.rs`:
    // the oracle the hand-written reader and writer are held to.
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

    fn raw(h: &Header) -> RawHeader {
        RawHeader {
            id: h.vault_id.0,
            generation: h.generation,
            slots: h
                .slots
                .iter()
                .map(|s| RawSlot {
                    id: s.id.0,
                    kind: s.kind_code() as u8,
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
            commitment: h.commitment,
            nonce: h.body_nonce,
        }
    }

    fn ciborium_encode(h: &Header) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(&raw(h), &mut out).unwrap();
        out
    }

    /// The decoder vault had before `cbor.rs`: ciborium/serde, the bounds,
    /// then "re-encoding gives back the same bytes".
    fn ciborium_decode(bytes: &[u8]) -> Option<Header> {
        let raw: RawHeader = ciborium::from_reader(bytes).ok()?;
        if raw.slots.is_empty() || raw.slots.len() > MAX_SLOTS || raw.generation > MAX_GENERATION {
            return None;
        }
        let mut slots: Vec<Slot> = Vec::new();
        for s in raw.slots {
            let kind = match (s.kind as u64, s.kdf) {
                (KIND_KEYRING, None) => SlotKind::Keyring,
                (KIND_PASSPHRASE, Some(k)) => {
                    let params = KdfParams {
                        memory_kib: k.m,
                        time: k.t,
                        parallelism: k.p,
                    };
                    KdfParams::check_salt_len(k.salt.len()).ok()?;
                    params.check_bounds().ok()?;
                    SlotKind::Passphrase {
                        salt: k.salt,
                        params,
                    }
                }
                _ => return None,
            };
            if slots.iter().any(|o| o.id.0 == s.id) {
                return None;
            }
            slots.push(Slot {
                id: SlotId(s.id),
                kind,
                nonce: s.nonce,
                wrapped: s.wrapped,
            });
        }
        let h = Header {
            vault_id: VaultId(raw.id),
            generation: raw.generation,
            slots,
            commitment: raw.commitment,
            body_nonce: raw.nonce,
        };
        if h.kdf_cost(None) > BUDGET {
            return None;
        }
        (ciborium_encode(&h) == bytes).then_some(h)
    }

    fn slot_strategy() -> impl Strategy<Value = Slot> {
        let kind = prop_oneof![
            Just(SlotKind::Keyring),
            (
                proptest::collection::vec(any::<u8>(), 16..=64),
                MEMORY_RANGE,
                1u32..=16,
                1u32..=16
            )
                .prop_map(|(salt, m, t, p)| SlotKind::Passphrase {
                    salt,
                    params: KdfParams {
                        memory_kib: m,
                        time: t,
                        parallelism: p
                    }
                }),
        ];
        (
            any::<[u8; 4]>(),
            kind,
            any::<[u8; NONCE_LEN]>(),
            proptest::collection::vec(any::<u8>(), WRAPPED_LEN),
        )
            .prop_map(|(id, kind, nonce, wrapped)| Slot {
                id: SlotId(id),
                kind,
                nonce,
                wrapped: wrapped.try_into().unwrap(),
            })
    }

    const MEMORY_RANGE: std::ops::RangeInclusive<u32> = super::super::kdf::MEMORY_KIB;

    fn header_strategy() -> impl Strategy<Value = Header> {
        (
            any::<[u8; 16]>(),
            prop_oneof![
                0u64..30,
                0..=MAX_GENERATION,
                MAX_GENERATION - 3..=MAX_GENERATION
            ],
            proptest::collection::vec(slot_strategy(), 1..=MAX_SLOTS),
            any::<[u8; 32]>(),
            any::<[u8; NONCE_LEN]>(),
        )
            .prop_map(|(id, generation, mut slots, commitment, body_nonce)| {
                // Distinct slot ids and, within the KDF budget, as many
                // passphrase slots as fit (the rest become keyring slots),
                // as every vault has.
                let mut used = 0;
                for (i, s) in slots.iter_mut().enumerate() {
                    s.id.0[0] = i as u8;
                    used += s.kdf_cost();
                    if used > BUDGET {
                        used -= s.kdf_cost();
                        s.kind = SlotKind::Keyring;
                    }
                }
                Header {
                    vault_id: VaultId(id),
                    generation,
                    slots,
                    commitment,
                    body_nonce,
                }
            })
    }

    proptest! {
        #[test]
        fn same_bytes_as_ciborium_and_round_trip(h in header_strategy()) {
            let ours = h.encode();
            prop_assert_eq!(&ours, &ciborium_encode(&h));
            prop_assert_eq!(Header::decode(&ours), Ok(h));
        }

        /// The reader accepts exactly the headers the ciborium decoder
        /// accepted (reading back to the same bytes, within the bounds),
        /// and reads the same header: checked on valid headers with a few
        /// bytes changed, inserted or removed.
        #[test]
        fn accepts_exactly_what_ciborium_round_trips(
            h in header_strategy(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
        ) {
            let mut bytes = h.encode();
            for (at, op, b) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => bytes[i] = b,
                    1 => bytes.insert(i, b),
                    _ if i < bytes.len() => { bytes.remove(i); }
                    _ => bytes.push(b),
                }
            }
            prop_assert_eq!(Header::decode(&bytes).ok(), ciborium_decode(&bytes));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            prop_assert_eq!(Header::decode(&bytes).ok(), ciborium_decode(&bytes));
        }
    }

    #[test]
    fn keys_out_of_order_unknown_or_long_heads_are_refused() {
        let h = crate::format::tests::sample_header();
        let good = h.encode();
        assert_eq!(Header::decode(&good), Ok(h.clone()));
        // "generation" written with a 2-byte head for 7.
        let mut long = good.clone();
        let g = long.windows(10).position(|w| w == b"generation").unwrap() + 10;
        assert_eq!(long[g], 7);
        long.splice(g..g + 1, [0x18, 7]);
        assert_eq!(Header::decode(&long), Err(Part::Header.not_canonical()));
        assert_eq!(ciborium_decode(&long), None);
        // Trailing byte.
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Header::decode(&trailing).is_err());
        // A map with a sixth, unknown key.
        let mut extra = good.clone();
        extra[0] = 0xa6;
        extra.extend_from_slice(b"\x61x\x00");
        assert!(Header::decode(&extra).is_err() && ciborium_decode(&extra).is_none());
        // A slot count claiming 2^32 slots.
        let s = good.windows(5).position(|w| w == b"slots").unwrap() + 5;
        let mut many = good[..s].to_vec();
        many.extend_from_slice(&[0x9a, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            Header::decode(&many),
            Err(FormatError::Corrupt("slot count out of bounds"))
        );
    }

    #[test]
    fn a_generation_past_the_bound_is_corrupt_and_the_next_one_never_wraps() {
        let mut h = crate::format::tests::sample_header();
        h.generation = MAX_GENERATION;
        assert_eq!(Header::decode(&h.encode()), Ok(h.clone()));
        for g in [MAX_GENERATION + 1, 1 << 63, u64::MAX] {
            h.generation = g;
            assert_eq!(
                Header::decode(&h.encode()),
                Err(FormatError::Corrupt("generation out of bounds")),
                "{g}"
            );
        }
        assert_eq!(next_generation(0), Some(1));
        assert_eq!(next_generation(MAX_GENERATION - 1), Some(MAX_GENERATION));
        assert_eq!(next_generation(MAX_GENERATION), None);
        assert_eq!(next_generation(u64::MAX), None);
    }

    #[test]
    fn passphrase_slots_beyond_the_kdf_budget_together_are_refused() {
        let slot = |n: u8, memory_kib: u32, time: u32| Slot {
            id: SlotId([n; 4]),
            kind: SlotKind::Passphrase {
                salt: vec![n; 16],
                params: KdfParams {
                    memory_kib,
                    time,
                    parallelism: 1,
                },
            },
            nonce: [n; NONCE_LEN],
            wrapped: [n; WRAPPED_LEN],
        };
        let mut h = crate::format::tests::sample_header();
        // Two slots of 1 GiB × 16 passes and a keyring slot: the budget exactly.
        h.slots = vec![
            slot(1, 1 << 20, 16),
            h.slots[0].clone(),
            slot(2, 1 << 20, 16),
        ];
        assert_eq!(h.kdf_cost(None), BUDGET);
        assert_eq!(Header::decode(&h.encode()), Ok(h.clone()));
        // One KiB more memory on one slot: 16 KiB × passes over.
        h.slots[2] = slot(2, (1 << 20) + 1, 16);
        assert_eq!(h.kdf_cost(None), BUDGET + 16);
        assert_eq!(Header::decode(&h.encode()), Err(FormatError::KdfOverBudget));
        assert_eq!(h.kdf_cost(Some(SlotId([2; 4]))), BUDGET / 2);
        // The most slots at the per-slot bounds: each alone within them.
        h.slots = (1..=MAX_SLOTS as u8)
            .map(|n| slot(n, 2 << 20, 16))
            .collect();
        assert_eq!(h.kdf_cost(None), 8 * BUDGET);
        assert_eq!(Header::decode(&h.encode()), Err(FormatError::KdfOverBudget));
        assert_eq!(ciborium_decode(&h.encode()), None);
    }

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
