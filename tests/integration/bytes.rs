//! Offsets in a vault file, for tests and the vector generator that edit
//! its bytes: the fixed prefix, where the CBOR header ends, where a CBOR
//! byte-string field lies (docs/FORMAT.md; src/format/mod.rs). Plain byte
//! searches, no parsing: it must keep working on files the parser refuses.
//!
//! Shared with `examples/make_vectors.rs` (through `#[path]`), so the byte
//! edits of the committed vectors and of the tamper tests find fields the
//! same way.

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find_all(hay, needle).next().is_some()
}

/// The offsets where `needle` occurs in `hay`.
pub fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    hay.windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

/// The offset of the only occurrence of `needle` in `hay`.
#[track_caller]
pub fn find_one(hay: &[u8], needle: &[u8]) -> usize {
    let all: Vec<usize> = find_all(hay, needle).collect();
    assert_eq!(all.len(), 1, "{needle:02x?} occurs {} times", all.len());
    all[0]
}

/// The length of the prefix: magic (8), version (2), header length (4).
pub const PREFIX_LEN: usize = 14;

/// Where the CBOR header ends and the body ciphertext starts, from the
/// header length field (docs/FORMAT.md; src/format/mod.rs).
pub fn header_end(bytes: &[u8]) -> usize {
    PREFIX_LEN + u32::from_be_bytes(bytes[10..14].try_into().unwrap()) as usize
}

/// The range of the value of the CBOR byte-string field `key` (a text
/// string key, then a byte string of `len` bytes with a one- or two-byte
/// head) at its `nth` occurrence in the header.
#[track_caller]
pub fn bstr_field(bytes: &[u8], key: &str, len: usize, nth: usize) -> std::ops::Range<usize> {
    let header_end = header_end(bytes);
    let mut pat = vec![0x60 | key.len() as u8];
    pat.extend_from_slice(key.as_bytes());
    if len < 24 {
        pat.push(0x40 | len as u8);
    } else {
        pat.extend_from_slice(&[0x58, len as u8]);
    }
    let at: Vec<usize> = find_all(&bytes[..header_end], &pat).collect();
    let start = at
        .get(nth)
        .unwrap_or_else(|| panic!("field {key} #{nth} not found ({} found)", at.len()))
        + pat.len();
    start..start + len
}

/// The range of the value of the CBOR byte-string field `key` at its
/// `nth` occurrence in the header, whatever its length (the head read
/// from the file: one, two or three bytes): for fields of varying length,
/// such as a version-2 slot's `"age"` file.
#[track_caller]
pub fn bstr_value(bytes: &[u8], key: &str, nth: usize) -> std::ops::Range<usize> {
    let header_end = header_end(bytes);
    let mut pat = vec![0x60 | key.len() as u8];
    pat.extend_from_slice(key.as_bytes());
    let at: Vec<usize> = find_all(&bytes[..header_end], &pat)
        .filter(|&i| matches!(bytes.get(i + pat.len()), Some(0x40..=0x59)))
        .collect();
    let head = at
        .get(nth)
        .unwrap_or_else(|| panic!("field {key} #{nth} not found ({} found)", at.len()))
        + pat.len();
    let (start, len) = match bytes[head] {
        b @ 0x40..=0x57 => (head + 1, (b - 0x40) as usize),
        0x58 => (head + 2, bytes[head + 1] as usize),
        _ => (
            head + 3,
            u16::from_be_bytes([bytes[head + 1], bytes[head + 2]]) as usize,
        ),
    };
    start..start + len
}

/// The master-key commitment in a version-2 header (the key block's
/// `"master"`): changes exactly when the master key does.
pub fn commitment(bytes: &[u8]) -> Vec<u8> {
    bytes[bstr_field(bytes, "master", 32, 0)].to_vec()
}
