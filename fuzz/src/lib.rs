//! Shared by the fuzz targets and the seed generator (`examples/gen_seeds.rs`):
//! a deterministic vault fixture (fixed keys, ids and nonces, so a corpus
//! entry means the same thing on every run and a crash reproduces), and
//! plain reference implementations of the template syntax and of masking,
//! written from the module docs, that the targets compare against.

use vault::body_edit::{Entry, Secrets};
use vault::crypto::{self, NONCE_LEN, WRAPPED_LEN};
use vault::format::{self, Header, KdfParams, Slot, SlotId, SlotKind, VaultId};
use vault::render::{
    RenderError, RenderErrorKind, EMPTY_NAME, INVALID_CHAR, MAX_NAME_LEN, NAME_TOO_LONG, UNCLOSED,
};
use vault::{Key, SecretBytes};

// ---------------------------------------------------------------- fixture

/// The fixture's data key. Fixed, so sealed seeds stay valid across runs.
pub const DATA_KEY: [u8; 32] = *b"vault-fuzz fixed data key 32 B!!";
/// The key-encryption key of the fixture's keyring slot.
pub const KEYRING_KEK: [u8; 32] = *b"vault-fuzz keyring slot kek 32B!";
/// A key that no passphrase derives to: wraps the fixture's passphrase slot
/// (that slot is never opened, it is there so the header has both kinds).
const PASSPHRASE_KEK: [u8; 32] = *b"vault-fuzz passphrase kek, 32 B!";
/// The fixture's keyring slot id.
pub const KEYRING_SLOT: SlotId = SlotId(*b"kr01");
/// Path used in messages only; nothing is read or written.
pub const FIXTURE_PATH: &str = "/nonexistent/vault-fuzz.vault";

/// The fixture's data key as a [`Key`].
pub fn data_key() -> Key {
    Key::from_slice(&DATA_KEY).expect("32 bytes")
}

/// The fixture's keyring KEK as a [`Key`].
pub fn keyring_kek() -> Key {
    Key::from_slice(&KEYRING_KEK).expect("32 bytes")
}

/// A header with a keyring slot (opened by [`KEYRING_KEK`]) and a passphrase
/// slot at the lowest KDF bounds, committing to [`DATA_KEY`].
pub fn fixture_header() -> Header {
    let dek = data_key();
    let vault_id = VaultId(*b"vault-fuzz-id-16");
    let mut keyring = Slot {
        id: KEYRING_SLOT,
        kind: SlotKind::Keyring,
        nonce: [0x31; NONCE_LEN],
        wrapped: [0; WRAPPED_LEN],
    };
    keyring.wrapped = crypto::wrap_key(
        &keyring_kek(),
        &keyring.nonce,
        &keyring.aad(&vault_id),
        &dek,
    );
    let mut pass = Slot {
        id: SlotId(*b"pw01"),
        kind: SlotKind::Passphrase {
            salt: vec![0x44; 16],
            params: KdfParams {
                memory_kib: 8192,
                time: 1,
                parallelism: 1,
            },
        },
        nonce: [0x32; NONCE_LEN],
        wrapped: [0; WRAPPED_LEN],
    };
    pass.wrapped = crypto::wrap_key(
        &Key::from_slice(&PASSPHRASE_KEK).expect("32 bytes"),
        &pass.nonce,
        &pass.aad(&vault_id),
        &dek,
    );
    Header {
        vault_id,
        generation: 1,
        slots: vec![keyring, pass],
        commitment: crypto::commitment(&dek),
        body_nonce: [0x33; NONCE_LEN],
    }
}

/// A whole vault file: `plaintext` sealed as the body under `header` with
/// [`DATA_KEY`], exactly as `Vault::seal` lays it out.
pub fn seal(header: &Header, plaintext: &[u8]) -> Vec<u8> {
    let prefix = format::write_prefix(header);
    let mut buf = plaintext.to_vec();
    crypto::seal_in_place(&data_key(), &header.body_nonce, &prefix, &mut buf);
    let mut out = prefix;
    out.extend_from_slice(&buf);
    out
}

/// The body plaintext holding `entries` (created 1, updated 2).
pub fn body(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Secrets::new();
    for (n, v) in entries {
        body.insert(
            n,
            Entry {
                value: SecretBytes::copy_from(v),
                created: 1,
                updated: 2,
                rotate_pending: false,
            },
        );
    }
    body.encode().to_vec()
}

// ------------------------------------------------------ render reference

enum RefPiece<'a> {
    Literal(&'a [u8]),
    Secret(&'a str, usize, usize),
}

/// The template syntax of `vault::render`, implemented naively from its
/// module doc: left to right, `$${` is a literal `${`, `${secrets.NAME}` a
/// placeholder, anything else verbatim; parse errors first (the first
/// malformed placeholder), then the first unknown name. The 64 MiB cap on
/// the output (`render::MAX_OUTPUT`) is not modelled: no fuzz input comes
/// near it (unit tests in `render.rs` pin it).
pub fn reference_render(
    t: &[u8],
    lookup: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, RenderError> {
    let mut pieces = Vec::new();
    let mut line = 1;
    let mut line_start = 0;
    let mut i = 0;
    while i < t.len() {
        let rest = &t[i..];
        if rest.starts_with(b"$${") {
            pieces.push(RefPiece::Literal(b"${"));
            i += 3;
        } else if rest.starts_with(b"${secrets.") {
            let column = i - line_start + 1;
            let err = |what| RenderError {
                kind: RenderErrorKind::Malformed(what),
                line,
                column,
            };
            let name_start = i + 10;
            let mut j = name_start;
            while j < t.len() && (t[j].is_ascii_alphanumeric() || t[j] == b'_') {
                j += 1;
            }
            let name = &t[name_start..j];
            if name.first().is_some_and(|b| b.is_ascii_digit()) {
                return Err(err(INVALID_CHAR));
            }
            match t.get(j) {
                Some(b'}') => {}
                None | Some(b'\n') | Some(b'\r') => return Err(err(UNCLOSED)),
                Some(_) => return Err(err(INVALID_CHAR)),
            }
            if name.is_empty() {
                return Err(err(EMPTY_NAME));
            }
            if name.len() > MAX_NAME_LEN {
                return Err(err(NAME_TOO_LONG));
            }
            pieces.push(RefPiece::Secret(
                std::str::from_utf8(name).expect("ASCII"),
                line,
                column,
            ));
            i = j + 1;
        } else {
            if t[i] == b'\n' {
                line += 1;
                line_start = i + 1;
            }
            pieces.push(RefPiece::Literal(&t[i..i + 1]));
            i += 1;
        }
    }
    let mut out = Vec::new();
    for p in pieces {
        match p {
            RefPiece::Literal(b) => out.extend_from_slice(b),
            RefPiece::Secret(name, line, column) => match lookup(name) {
                Some(v) => out.extend_from_slice(&v),
                None => {
                    return Err(RenderError {
                        kind: RenderErrorKind::UnknownSecret(name.to_owned()),
                        line,
                        column,
                    })
                }
            },
        }
    }
    Ok(out)
}

/// Names referenced by `t` (assumed to parse), in order of first
/// appearance, deduplicated.
pub fn reference_names(t: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let rest = &t[i..];
        if rest.starts_with(b"$${") {
            i += 3;
        } else if rest.starts_with(b"${secrets.") {
            let end = i + rest.iter().position(|&b| b == b'}').expect("parsed");
            let name = String::from_utf8(t[i + 10..end].to_vec()).expect("ASCII");
            if !names.contains(&name) {
                names.push(name);
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    names
}

// -------------------------------------------------------- mask reference

/// The patterns `vault::mask::Masker` searches for, from its module doc:
/// each value of at least 4 bytes, and for a value containing `\n` each
/// line (a trailing `\r` stripped) of at least 8 bytes that is not a PEM
/// armour line; sorted and deduplicated.
pub fn mask_patterns(values: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for v in values {
        if v.len() < vault::mask::MIN_LEN {
            continue;
        }
        out.push(v.to_vec());
        if v.contains(&b'\n') {
            for line in v.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.len() >= vault::mask::MIN_LINE_LEN
                    && !line.starts_with(b"-----BEGIN ")
                    && !line.starts_with(b"-----END ")
                {
                    out.push(line.to_vec());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The union of all matches, by definition: mark every byte of every
/// occurrence of every pattern, then write each run of marked bytes
/// (overlapping or touching occurrences) as one replacement.
pub fn reference_mask(patterns: &[Vec<u8>], input: &[u8]) -> Vec<u8> {
    let mut covered = vec![false; input.len()];
    for i in 0..input.len() {
        for p in patterns {
            if input[i..].starts_with(p) {
                covered[i..i + p.len()].fill(true);
            }
        }
    }
    let mut out = Vec::with_capacity(input.len());
    for (i, &byte) in input.iter().enumerate() {
        if !covered[i] {
            out.push(byte);
        } else if i == 0 || !covered[i - 1] {
            out.extend_from_slice(vault::mask::REPLACEMENT);
        }
    }
    out
}

/// Whether `needle` (non-empty) occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
