//! The vault file format: pure functions over bytes, no I/O, no crypto.
//!
//! `docs/FORMAT.md` is the specification of what this module reads and
//! writes; keep the two in step. Every length is bounded before anything is
//! allocated for it, and the header must be in canonical form (re-encoding
//! the parsed header gives back the same bytes), so there is exactly one
//! encoding of each header and `parse(write(x)) == x`.
//!
//! - `cbor.rs`: the one bounded CBOR reader and writer (shortest-form heads).
//! - `header.rs`: the header (ids, slots, commitment, nonce).
//! - [`kdf`]: a passphrase slot's Argon2id parameters and their bounds.
//! - `body.rs`: the body map, indexed in place, and its encoding.

mod body;
pub(crate) mod cbor;
mod header;
pub mod kdf;
pub mod v2;

pub use body::{
    decode_body, encode_into, encode_v2_into, encoded_len, encoded_len_v2, Body, BodyV2, Conflict,
    EntryRef, Marks, EXPOSED_DIGEST_LEN, FINGERPRINT_KEY_LEN, MAX_EXPOSED, MAX_VALUE_LEN,
};
pub(crate) use header::{hex, unhex};
pub use header::{
    next_generation, Header, Slot, SlotId, SlotKind, VaultId, MAX_GENERATION, MAX_SLOTS,
};
pub use kdf::KdfParams;

/// The first eight bytes of every vault file.
pub const MAGIC: &[u8; 8] = b"\x89vault\r\n";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Longest header accepted, in bytes.
pub const MAX_HEADER_LEN: usize = 64 * 1024;
/// Largest vault file accepted, in bytes (1 GiB).
pub const MAX_FILE_LEN: u64 = 1 << 30;
/// Bytes before the header: magic, version, header length.
pub const PREFIX_LEN: usize = 8 + 2 + 4;

/// Nonce length of XChaCha20-Poly1305 (slot and body nonces).
pub const NONCE_LEN: usize = 24;
/// Authentication tag length of Poly1305.
pub const TAG_LEN: usize = 16;
/// A wrapped 32-byte key: its ciphertext and a tag.
pub const WRAPPED_LEN: usize = 32 + TAG_LEN;
/// Length of the data-key commitment.
pub const COMMITMENT_LEN: usize = 32;

/// Longest secret name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// The rule for secret names (they become environment variable names):
/// `[A-Za-z_][A-Za-z0-9_]*`, at most [`MAX_NAME_LEN`] bytes, not starting
/// with `VAULT_` (reserved). A body holding any other name is corrupt.
#[inline]
pub fn is_valid_name(name: &[u8]) -> bool {
    name.len() <= MAX_NAME_LEN && is_env_name(name) && !name.starts_with(b"VAULT_")
}

/// Whether `name` is a portable environment variable name:
/// `[A-Za-z_][A-Za-z0-9_]*`.
#[inline]
pub fn is_env_name(name: &[u8]) -> bool {
    name.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Why a file could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// Not a vault file, truncated, malformed or not canonical. The text is a
    /// short internal reason for `vault doctor` and debugging.
    Corrupt(&'static str),
    /// A version this build does not know.
    UnsupportedVersion(u16),
    /// A passphrase slot's KDF parameters are outside the bounds.
    KdfOutOfBounds(String),
    /// The passphrase slots together ask for more Argon2id work (memory ×
    /// passes, summed) than [`kdf::BUDGET`], the same as [`v2::KDF_BUDGET`].
    KdfOverBudget,
}

/// A parsed vault file, borrowing the bytes it came from.
#[derive(Debug)]
pub struct VaultFile<'a> {
    /// The decoded header.
    pub header: Header,
    /// Every byte before the body ciphertext: the body's associated data.
    pub aad: &'a [u8],
    /// The body ciphertext with its tag.
    pub ciphertext: &'a [u8],
}

/// The header of a file of either version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileHeader {
    /// Version 1.
    V1(Header),
    /// Version 2.
    V2(v2::HeaderV2),
}

/// A parsed vault file of either version, borrowing the bytes it came from.
#[derive(Debug)]
pub struct AnyFile<'a> {
    /// The decoded header.
    pub header: FileHeader,
    /// Every byte before the body ciphertext: the body's associated data.
    pub aad: &'a [u8],
    /// The body ciphertext with its tag.
    pub ciphertext: &'a [u8],
}

/// Parses a vault file of version 1 or 2 (what `vault` opens). Never
/// panics; every bound of the header is checked here.
pub fn parse_any(bytes: &[u8]) -> Result<AnyFile<'_>, FormatError> {
    let (version, end) = prefix(bytes, |v| match v {
        1 => Some(MAX_HEADER_LEN),
        2 => Some(v2::MAX_HEADER_LEN_V2),
        _ => None,
    })?;
    let h = &bytes[PREFIX_LEN..end];
    let header = if version == 1 {
        FileHeader::V1(Header::decode(h)?)
    } else {
        FileHeader::V2(v2::HeaderV2::decode(h)?)
    };
    Ok(AnyFile {
        header,
        aad: &bytes[..end],
        ciphertext: &bytes[end..],
    })
}

/// Checks magic, version (`max_header` gives the longest header of each
/// known version) and header length; returns the version and where the
/// header ends.
fn prefix(
    bytes: &[u8],
    max_header: impl Fn(u16) -> Option<usize>,
) -> Result<(u16, usize), FormatError> {
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(FormatError::Corrupt("not a vault file (bad magic bytes)"));
    }
    if bytes.len() < 10 {
        return Err(FormatError::Corrupt("truncated before the version"));
    }
    let version = u16::from_be_bytes([bytes[8], bytes[9]]);
    let max = max_header(version).ok_or(FormatError::UnsupportedVersion(version))?;
    if bytes.len() < PREFIX_LEN {
        return Err(FormatError::Corrupt("truncated before the header length"));
    }
    let hlen = u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
    if hlen == 0 || hlen > max {
        return Err(FormatError::Corrupt("header length out of bounds"));
    }
    let end = PREFIX_LEN + hlen;
    if bytes.len() < end + TAG_LEN {
        return Err(FormatError::Corrupt("truncated header or body"));
    }
    Ok((version, end))
}

/// The bytes before the ciphertext for a version-2 `header`.
pub fn write_prefix_v2(header: &v2::HeaderV2) -> Vec<u8> {
    let h = header.encode();
    let mut out = Vec::with_capacity(PREFIX_LEN + h.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&2u16.to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    out.extend_from_slice(&h);
    out
}

/// The bytes before the ciphertext for `header`, of its version.
pub fn write_prefix_any(header: &FileHeader) -> Vec<u8> {
    match header {
        FileHeader::V1(h) => write_prefix(h),
        FileHeader::V2(h) => write_prefix_v2(h),
    }
}

/// Parses a version-1 vault file (vectors, tests and tools that craft
/// version-1 files; `vault` itself reads with [`parse_any`]). Never
/// panics; rejects trailing or missing bytes only through authentication
/// (the ciphertext runs to the end of the file).
pub fn parse(bytes: &[u8]) -> Result<VaultFile<'_>, FormatError> {
    let (_, end) = prefix(bytes, |v| (v == VERSION).then_some(MAX_HEADER_LEN))?;
    let header = Header::decode(&bytes[PREFIX_LEN..end])?;
    Ok(VaultFile {
        header,
        aad: &bytes[..end],
        ciphertext: &bytes[end..],
    })
}

/// The bytes before the ciphertext for `header`: the body's associated data.
pub fn write_prefix(header: &Header) -> Vec<u8> {
    let h = header.encode();
    let mut out = Vec::with_capacity(PREFIX_LEN + h.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    out.extend_from_slice(&h);
    out
}

/// A whole vault file: the prefix for `header` followed by `ciphertext`.
pub fn write(header: &Header, ciphertext: &[u8]) -> Vec<u8> {
    let mut out = write_prefix(header);
    out.extend_from_slice(ciphertext);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::{NONCE_LEN, WRAPPED_LEN};
    use proptest::prelude::*;

    pub(crate) fn sample_header() -> Header {
        Header {
            vault_id: VaultId([1; 16]),
            generation: 7,
            slots: vec![
                Slot {
                    id: SlotId([1, 2, 3, 4]),
                    kind: SlotKind::Keyring,
                    nonce: [5; NONCE_LEN],
                    wrapped: [6; WRAPPED_LEN],
                },
                Slot {
                    id: SlotId([9, 9, 9, 9]),
                    kind: SlotKind::Passphrase {
                        salt: vec![3; 16],
                        params: KdfParams::DEFAULT,
                    },
                    nonce: [7; NONCE_LEN],
                    wrapped: [8; WRAPPED_LEN],
                },
            ],
            commitment: [2; 32],
            body_nonce: [4; NONCE_LEN],
        }
    }

    #[test]
    fn round_trip() {
        let h = sample_header();
        let bytes = write(&h, &[0xAA; 20]);
        let f = parse(&bytes).unwrap();
        assert_eq!(f.header, h);
        assert_eq!(f.ciphertext, &[0xAA; 20]);
        assert_eq!(write(&f.header, f.ciphertext), bytes);
    }

    #[test]
    fn unknown_version_is_named() {
        let mut bytes = write(&sample_header(), &[0; 16]);
        bytes[9] = 2;
        assert_eq!(
            parse(&bytes).unwrap_err(),
            FormatError::UnsupportedVersion(2)
        );
    }

    #[test]
    fn every_truncation_fails_or_loses_only_ciphertext() {
        let bytes = write(&sample_header(), &[0; 16]);
        for n in 0..bytes.len() {
            assert!(parse(&bytes[..n]).is_err(), "truncated to {n}");
        }
    }

    #[test]
    fn header_out_of_bounds_kdf_is_refused() {
        let mut h = sample_header();
        if let SlotKind::Passphrase { params, .. } = &mut h.slots[1].kind {
            params.memory_kib = 4 * 1024 * 1024;
        }
        let bytes = write(&h, &[0; 16]);
        assert!(matches!(parse(&bytes), Err(FormatError::KdfOutOfBounds(_))));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_mutated_valid_file(pos in 0usize..400, val in any::<u8>()) {
            let mut bytes = write(&sample_header(), &[0; 16]);
            let pos = pos % bytes.len();
            bytes[pos] = val;
            if let Ok(f) = parse(&bytes) {
                // Canonical: whatever parses re-encodes to the same bytes.
                prop_assert_eq!(write(&f.header, f.ciphertext), bytes.clone());
            }
        }
    }
}
