//! The body plaintext: a CBOR map from secret name to {v: value, c:
//! created, u: updated}, names sorted, values as CBOR byte strings.
//!
//! [`Body`] is the decrypted plaintext (in a zeroizing buffer) plus an index
//! of where each name and value sits in it: opening a vault of 100 000
//! secrets parses headers and records offsets, but copies no name or value
//! and allocates nothing per secret; a value is copied out only when asked
//! for. [`encode_into`] writes a body from any sorted run of entries; the
//! edits of an open vault (set, delete) and their merge with what was read
//! are not the format's business: see `src/body_edit.rs`.
//!
//! The shape is fixed and small (a map of text keys to maps of three known
//! keys), so it is read by the format's bounded reader of a subset of CBOR
//! (`cbor.rs`), over a slice: ciborium's serde path allocates a `String`, a
//! `Vec` and a struct per secret, and its low-level `ciborium-ll` decoder
//! copies every item out of the input through `Read`, byte by byte, so
//! neither can index in place. Only the shortest encoding of every head is
//! accepted (what ciborium writes, and what vault wrote before this reader
//! existed: the tests check both against ciborium), so each body has one
//! encoding.

use std::fmt;

use zeroize::Zeroizing;

use super::cbor::{head_len, put_head, Part, Reader, ARRAY, BYTES, MAP, TEXT, UINT};
use super::{is_valid_name, FormatError, MAX_NAME_LEN};
use crate::secret::{SecretBytes, TailSecret};

/// Largest value accepted, in bytes (1 MiB).
pub const MAX_VALUE_LEN: usize = 1 << 20;

/// The smallest encoding of one entry: a 1-byte name, an empty value and
/// small times. A count the input cannot hold is refused up front.
const MIN_ENTRY_LEN: usize = 2 + 1 + 2 + 1 + 2 + 1 + 2 + 1;

/// One secret as stored, borrowed from the [`Body`].
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    /// The name.
    pub name: &'a str,
    value: &'a [u8],
    /// Unix seconds when first set.
    pub created: u64,
    /// Unix seconds when last set.
    pub updated: u64,
    /// Marks a version-2 body can carry.
    pub marks: Marks<'a>,
}

/// What a version-2 body records about a secret besides its value.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks<'a> {
    /// A removed member could read this value: change it (`"p"`).
    pub rotate_pending: bool,
    /// A merge found different changes on both sides (`"x"`).
    pub conflict: Option<Conflict<'a>>,
}

/// The side of a merge conflict this entry's value did not take.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Conflict<'a> {
    /// The other side deleted the secret.
    OtherDeleted,
    /// The other side's value.
    Other(&'a [u8]),
}

impl fmt::Debug for Marks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let conflict = match self.conflict {
            None => "none".to_string(),
            Some(Conflict::OtherDeleted) => "other side deleted".to_string(),
            Some(Conflict::Other(v)) => format!("other value [redacted; {} bytes]", v.len()),
        };
        f.debug_struct("Marks")
            .field("rotate_pending", &self.rotate_pending)
            .field("conflict", &format_args!("{conflict}"))
            .finish()
    }
}

impl Marks<'_> {
    /// How many optional keys these marks add to an entry's map.
    fn keys(&self) -> u64 {
        self.rotate_pending as u64 + self.conflict.is_some() as u64
    }
}

impl<'a> EntryRef<'a> {
    /// An entry `name` holding `value`.
    pub fn new(name: &'a str, value: &'a [u8], created: u64, updated: u64) -> EntryRef<'a> {
        EntryRef {
            name,
            value,
            created,
            updated,
            marks: Marks::default(),
        }
    }

    /// The same entry with `marks`.
    pub fn with_marks(self, marks: Marks<'a>) -> EntryRef<'a> {
        EntryRef { marks, ..self }
    }

    /// The value. Copy it only into a zeroizing type.
    pub fn expose_value(&self) -> &'a [u8] {
        self.value
    }

    /// Length of the value in bytes.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// The value in its own zeroizing buffer.
    pub fn value_copy(&self) -> SecretBytes {
        SecretBytes::copy_from(self.value)
    }
}

impl fmt::Debug for EntryRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntryRef")
            .field("name", &self.name)
            .field(
                "value",
                &format_args!("[redacted; {} bytes]", self.value.len()),
            )
            .field("created", &self.created)
            .field("updated", &self.updated)
            .field("marks", &self.marks)
            .finish()
    }
}

/// Where one entry of the plaintext sits: 16 bytes a secret (the times and
/// marks are read again from the plaintext when asked for). Offsets fit in
/// `u32`: a vault file is at most 1 GiB; a name is at most 128 bytes.
#[derive(Clone, Copy)]
struct Span {
    name: u32,
    name_len: u16,
    /// Optional keys (marks) after the times: 0 to 2.
    marks: u16,
    value: u32,
    value_len: u32,
}

/// A decrypted body: the plaintext and the index of its entries (sorted by
/// name).
#[derive(Default)]
pub struct Body {
    /// Public before the body's start (a file decrypted in place keeps its
    /// header in front): only the rest is wiped.
    plain: TailSecret,
    index: Vec<Span>,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Body([redacted; {} secrets])", self.len())
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        self.iter().map(key).eq(other.iter().map(key))
    }
}

fn key<'a>(e: EntryRef<'a>) -> (&'a str, &'a [u8], u64, u64, Marks<'a>) {
    (e.name, e.value, e.created, e.updated, e.marks)
}

/// The `n` optional keys after an entry's times, in their one order:
/// `"p": 1` (rotate pending), then `"x": [other value]` or `"x": []`
/// (conflict).
fn marks<'a>(r: &mut Reader<'a>, n: u64) -> Result<Marks<'a>, FormatError> {
    let mut m = Marks::default();
    let mut left = n;
    let next_key = |r: &mut Reader<'a>| -> Result<&'a [u8], FormatError> {
        let (at, len) = r.string(TEXT, 1)?;
        Ok(r.slice(at, len))
    };
    let mut key = if left > 0 { Some(next_key(r)?) } else { None };
    if key == Some(b"p") {
        if r.uint()? != 1 {
            return Err(r.malformed());
        }
        m.rotate_pending = true;
        left -= 1;
        key = if left > 0 { Some(next_key(r)?) } else { None };
    }
    if key == Some(b"x") {
        m.conflict = Some(match r.expect(ARRAY)? {
            0 => Conflict::OtherDeleted,
            1 => Conflict::Other(r.bytes(MAX_VALUE_LEN)?),
            _ => return Err(r.malformed()),
        });
        left -= 1;
    } else if key.is_some() {
        return Err(r.malformed());
    }
    if left != 0 {
        return Err(r.malformed());
    }
    Ok(m)
}

/// `"c": created, "u": updated`, after an entry's value.
fn times(r: &mut Reader<'_>) -> Result<(u64, u64), FormatError> {
    r.key(b"c")?;
    let created = r.uint()?;
    r.key(b"u")?;
    Ok((created, r.uint()?))
}

impl Body {
    /// An empty body.
    pub fn new() -> Body {
        Body::default()
    }

    /// Indexes the plaintext `plain[start..]` in place. Names must follow
    /// the name rule ([`is_valid_name`]) and be strictly increasing (as
    /// written), which also rejects duplicates; no byte may follow the map.
    /// `plain[..start]` is not secret: it is not wiped when the body
    /// drops.
    pub fn parse(plain: Zeroizing<Vec<u8>>, start: usize) -> Result<Body, FormatError> {
        Body::parse_entries(TailSecret::new(plain, start), start, false)
    }

    /// Indexes a version-2 body plaintext `plain[start..]`:
    /// `{"fp": fingerprint key, "s": entries}`, or with `"e": [digest, …]`
    /// (1 to [`MAX_EXPOSED`] exposed-value digests, strictly increasing)
    /// between the two; an entry may carry marks ([`Marks`]). Returns the
    /// body, the fingerprint key and the exposed-value digests.
    /// `plain[..start]` is not secret: it is not wiped when the body drops.
    pub fn parse_v2(plain: Zeroizing<Vec<u8>>, start: usize) -> Result<BodyV2, FormatError> {
        let plain = TailSecret::new(plain, start);
        if start > plain.len() {
            return Err(FormatError::Corrupt("body too long"));
        }
        let mut r = Reader::new(Part::Body, &plain, start);
        let keys = r.expect(MAP)?;
        if keys != 2 && keys != 3 {
            return Err(r.malformed());
        }
        r.key(b"fp")?;
        let fp = Zeroizing::new(r.byte_array()?);
        let mut exposed = Vec::new();
        if keys == 3 {
            r.key(b"e")?;
            let n = r.expect(ARRAY)?;
            if n == 0 || n > MAX_EXPOSED as u64 {
                return Err(r.malformed());
            }
            exposed.reserve_exact(n as usize);
            for _ in 0..n {
                let d: [u8; EXPOSED_DIGEST_LEN] = r.byte_array()?;
                if exposed.last().is_some_and(|last| *last >= d) {
                    return Err(FormatError::Corrupt("exposed digests out of order"));
                }
                exposed.push(d);
            }
        }
        r.key(b"s")?;
        let at = plain.len() - r.remaining();
        Ok(BodyV2 {
            body: Body::parse_entries(plain, at, true)?,
            fingerprint_key: fp,
            exposed,
        })
    }

    fn parse_entries(
        plain: TailSecret,
        start: usize,
        with_marks: bool,
    ) -> Result<Body, FormatError> {
        if plain.len() > u32::MAX as usize || start > plain.len() {
            return Err(FormatError::Corrupt("body too long"));
        }
        let mut r = Reader::new(Part::Body, &plain, start);
        let n = r.expect(MAP)?;
        if n > (r.remaining() / MIN_ENTRY_LEN) as u64 {
            return Err(r.malformed());
        }
        let mut index = Vec::with_capacity(n as usize);
        let mut last: &[u8] = &[];
        for i in 0..n {
            let (name, name_len) = r.string(TEXT, MAX_NAME_LEN)?;
            let name_bytes = &plain[name..name + name_len];
            // ASCII by the rule, so also UTF-8.
            if !is_valid_name(name_bytes) {
                return Err(FormatError::Corrupt("invalid secret name in body"));
            }
            if i > 0 && last >= name_bytes {
                return Err(FormatError::Corrupt("body names out of order"));
            }
            last = name_bytes;
            let keys = r.expect(MAP)?;
            let extra = keys.wrapping_sub(3);
            if keys < 3 || extra > 2 || (extra > 0 && !with_marks) {
                return Err(r.malformed());
            }
            r.key(b"v")?;
            let (value, value_len) = r.string(BYTES, MAX_VALUE_LEN)?;
            times(&mut r)?;
            marks(&mut r, extra)?;
            index.push(Span {
                name: name as u32,
                name_len: name_len as u16,
                marks: extra as u16,
                value: value as u32,
                value_len: value_len as u32,
            });
        }
        if r.remaining() != 0 {
            return Err(FormatError::Corrupt("trailing bytes after the body"));
        }
        Ok(Body { plain, index })
    }

    fn name_bytes(&self, s: &Span) -> &[u8] {
        &self.plain[s.name as usize..s.name as usize + s.name_len as usize]
    }

    fn entry_ref(&self, s: &Span) -> EntryRef<'_> {
        let value_end = (s.value + s.value_len) as usize;
        // Checked at parse, so this cannot fail; zeros rather than a panic.
        let r = &mut Reader::new(Part::Body, &self.plain, value_end);
        let (created, updated) = times(r).unwrap_or((0, 0));
        let marks = if s.marks == 0 {
            Marks::default()
        } else {
            marks(r, s.marks as u64).unwrap_or_default()
        };
        EntryRef {
            name: std::str::from_utf8(self.name_bytes(s)).unwrap_or_default(),
            value: &self.plain[s.value as usize..value_end],
            created,
            updated,
            marks,
        }
    }

    fn find(&self, name: &str) -> Option<&Span> {
        self.index
            .binary_search_by(|s| self.name_bytes(s).cmp(name.as_bytes()))
            .ok()
            .map(|i| &self.index[i])
    }

    /// The secret `name`.
    pub fn get(&self, name: &str) -> Option<EntryRef<'_>> {
        self.find(name).map(|s| self.entry_ref(s))
    }

    /// Whether there is a secret `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Every secret, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> + '_ {
        self.index.iter().map(|s| self.entry_ref(s))
    }

    /// The number of secrets.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no secrets.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The plaintext this body was read from, in its one encoding.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(encoded_len(self.iter())));
        encode_into(&mut out, self.len(), self.iter());
        out
    }
}

/// Parses a body plaintext held in `bytes` (copied into a zeroizing buffer).
pub fn decode_body(bytes: &[u8]) -> Result<Body, FormatError> {
    Body::parse(Zeroizing::new(bytes.to_vec()), 0)
}

/// The exact length of the encoding of a body holding `entries`.
pub fn encoded_len<'a>(entries: impl Iterator<Item = EntryRef<'a>>) -> usize {
    let mut n = 0;
    let mut total = 0;
    for e in entries {
        n += 1;
        total += entry_len(&e);
    }
    head_len(n) + total
}

/// Appends the encoding of a body holding the `len` `entries` to `out`.
/// Give `out` the capacity ([`encoded_len`]) up front when it must hold
/// plaintext: a reallocation would leave a partial copy behind, unwiped.
///
/// # Panics
/// If the names are not strictly increasing or there are not `len` of
/// them: the body would not read back, and a vault is better not written.
pub fn encode_into<'a>(out: &mut Vec<u8>, len: usize, entries: impl Iterator<Item = EntryRef<'a>>) {
    put_head(out, MAP, len as u64);
    let mut count = 0;
    let mut last: Option<&str> = None;
    for e in entries {
        assert!(last < Some(e.name), "body entries out of order");
        last = Some(e.name);
        count += 1;
        put_head(out, TEXT, e.name.len() as u64);
        out.extend_from_slice(e.name.as_bytes());
        put_head(out, MAP, 3 + e.marks.keys());
        out.extend_from_slice(b"\x61v");
        put_head(out, BYTES, e.value.len() as u64);
        out.extend_from_slice(e.value);
        out.extend_from_slice(b"\x61c");
        put_head(out, UINT, e.created);
        out.extend_from_slice(b"\x61u");
        put_head(out, UINT, e.updated);
        if e.marks.rotate_pending {
            out.extend_from_slice(b"\x61p\x01");
        }
        match e.marks.conflict {
            None => {}
            Some(Conflict::OtherDeleted) => out.extend_from_slice(b"\x61x\x80"),
            Some(Conflict::Other(v)) => {
                out.extend_from_slice(b"\x61x\x81");
                put_head(out, BYTES, v.len() as u64);
                out.extend_from_slice(v);
            }
        }
    }
    assert_eq!(count, len, "body entry count");
}

/// Length of a fingerprint key (`"fp"` in a version-2 body).
pub const FINGERPRINT_KEY_LEN: usize = 32;

/// Length of an exposed-value digest (`"e"` in a version-2 body).
pub const EXPOSED_DIGEST_LEN: usize = 32;

/// Most exposed-value digests a body holds (`body_edit` forgets an
/// arbitrary other one, the smallest, to record a new one beyond it).
pub const MAX_EXPOSED: usize = 1024;

/// A version-2 body as read: the entries, the fingerprint key and the
/// digests of values a removed member could read that no secret holds now
/// (changed or deleted since), sorted.
pub struct BodyV2 {
    /// The entries.
    pub body: Body,
    /// The fingerprint key (`"fp"`).
    pub fingerprint_key: Zeroizing<[u8; FINGERPRINT_KEY_LEN]>,
    /// The exposed-value digests (`"e"`), strictly increasing.
    pub exposed: Vec<[u8; EXPOSED_DIGEST_LEN]>,
}

/// The bytes a version-2 body puts before its entries' map, with `exposed`
/// digests.
fn v2_prefix_len(exposed: usize) -> usize {
    let e = if exposed == 0 {
        0
    } else {
        2 + head_len(exposed as u64) + exposed * (2 + EXPOSED_DIGEST_LEN)
    };
    1 + 3 + 2 + FINGERPRINT_KEY_LEN + e + 2
}

/// The exact length of the encoding of a version-2 body holding `exposed`
/// digests and `entries`.
pub fn encoded_len_v2<'a>(exposed: usize, entries: impl Iterator<Item = EntryRef<'a>>) -> usize {
    v2_prefix_len(exposed) + encoded_len(entries)
}

/// Appends a version-2 body: `{"fp": fp, "s": entries}`, or with `"e":
/// exposed` between them when there are any ([`encode_into`] for the
/// entries, which may carry marks).
///
/// # Panics
/// If `exposed` is not strictly increasing or longer than [`MAX_EXPOSED`]
/// (it would not read back).
pub fn encode_v2_into<'a>(
    out: &mut Vec<u8>,
    fp: &[u8; FINGERPRINT_KEY_LEN],
    exposed: &[[u8; EXPOSED_DIGEST_LEN]],
    len: usize,
    entries: impl Iterator<Item = EntryRef<'a>>,
) {
    assert!(exposed.len() <= MAX_EXPOSED, "too many exposed digests");
    assert!(
        exposed.windows(2).all(|w| w[0] < w[1]),
        "exposed digests out of order"
    );
    put_head(out, MAP, if exposed.is_empty() { 2 } else { 3 });
    out.extend_from_slice(b"\x62fp");
    put_head(out, BYTES, FINGERPRINT_KEY_LEN as u64);
    out.extend_from_slice(fp);
    if !exposed.is_empty() {
        out.extend_from_slice(b"\x61e");
        put_head(out, ARRAY, exposed.len() as u64);
        for d in exposed {
            put_head(out, BYTES, EXPOSED_DIGEST_LEN as u64);
            out.extend_from_slice(d);
        }
    }
    out.extend_from_slice(b"\x61s");
    encode_into(out, len, entries);
}

fn entry_len(e: &EntryRef<'_>) -> usize {
    let name = e.name.len();
    let value = e.value.len();
    head_len(name as u64)
        + name
        + 1
        + 2
        + head_len(value as u64)
        + value
        + 2
        + head_len(e.created)
        + 2
        + head_len(e.updated)
        + marks_len(&e.marks)
}

fn marks_len(m: &Marks<'_>) -> usize {
    let p = if m.rotate_pending { 3 } else { 0 };
    let x = match m.conflict {
        None => 0,
        Some(Conflict::OtherDeleted) => 3,
        Some(Conflict::Other(v)) => 3 + head_len(v.len() as u64) + v.len(),
    };
    p + x
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Our encoding of `entries` (sorted by name).
    fn encode_entries(entries: &[(&str, &[u8], u64, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        let refs = entries
            .iter()
            .map(|(n, v, c, u)| EntryRef::new(n, v, *c, *u));
        encode_into(&mut out, entries.len(), refs);
        assert_eq!(
            out.len(),
            encoded_len(
                entries
                    .iter()
                    .map(|(n, v, c, u)| EntryRef::new(n, v, *c, *u))
            )
        );
        out
    }

    /// A body of `entries` (any order), created 1, updated 2.
    fn body_of(entries: &[(&str, &[u8])]) -> Body {
        let mut sorted: Vec<(&str, &[u8], u64, u64)> =
            entries.iter().map(|(n, v)| (*n, *v, 1, 2)).collect();
        sorted.sort();
        decode_body(&encode_entries(&sorted)).unwrap()
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct E {
        #[serde(with = "serde_bytes")]
        v: Vec<u8>,
        c: u64,
        u: u64,
    }

    /// `{name: {v, c, u}, ...}` written with ciborium's serde encoder, the
    /// one vault used before this module had its own writer.
    fn ciborium_encoding(entries: &[(&str, &[u8], u64, u64)]) -> Vec<u8> {
        struct M<'a>(&'a [(&'a str, &'a [u8], u64, u64)]);
        impl serde::Serialize for M<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (n, v, c, u) in self.0 {
                    m.serialize_entry(
                        n,
                        &E {
                            v: v.to_vec(),
                            c: *c,
                            u: *u,
                        },
                    )?;
                }
                m.end()
            }
        }
        let mut buf = Vec::new();
        ciborium::into_writer(&M(entries), &mut buf).unwrap();
        buf
    }

    /// An entry as plain data: name, value, created, updated.
    type Owned = (String, Vec<u8>, u64, u64);

    /// What ciborium reads from `bytes` and writes back to the same bytes,
    /// with names that follow the rule: the bodies this module must accept.
    fn ciborium_canonical(bytes: &[u8]) -> Option<Vec<Owned>> {
        let m: BTreeMap<String, E> = ciborium::from_reader(bytes).ok()?;
        let entries: Vec<(&str, &[u8], u64, u64)> = m
            .iter()
            .map(|(n, e)| (n.as_str(), e.v.as_slice(), e.c, e.u))
            .collect();
        let ok = ciborium_encoding(&entries) == bytes
            && entries
                .iter()
                .all(|e| is_valid_name(e.0.as_bytes()) && e.1.len() <= MAX_VALUE_LEN);
        ok.then(|| m.into_iter().map(|(n, e)| (n, e.v, e.c, e.u)).collect())
    }

    fn snapshot(b: &Body) -> Vec<Owned> {
        b.iter()
            .map(|e| (e.name.to_string(), e.value.to_vec(), e.created, e.updated))
            .collect()
    }

    #[test]
    fn empty_and_large_values_round_trip() {
        let big = vec![0xAB; MAX_VALUE_LEN];
        let b = body_of(&[("EMPTY", b""), ("BIG", &big), ("NUL", b"a\0b\n$x")]);
        let bytes = b.encode();
        let again = decode_body(&bytes).unwrap();
        assert_eq!(again, b);
        assert_eq!(again.get("BIG").unwrap().expose_value(), &big[..]);
        assert!(again.contains("NUL") && !again.contains("NONE"));
        assert_eq!(again.len(), 3);
        assert!(decode_body(&encode_entries(&[])).unwrap().is_empty());
    }

    #[test]
    fn values_are_byte_strings_not_arrays() {
        // A byte string costs 2 header bytes; an integer array 2 per 0xFF byte.
        assert!(body_of(&[("A", &[0xFF; 100])]).encode().len() < 130);
    }

    #[test]
    fn over_long_value_is_rejected() {
        let big = vec![1; MAX_VALUE_LEN + 1];
        assert!(decode_body(&encode_entries(&[("BIG", &big, 1, 2)])).is_err());
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn encoding_unsorted_entries_panics() {
        encode_entries(&[("B", b"x", 0, 0), ("A", b"x", 0, 0)]);
    }

    #[test]
    fn unsorted_or_duplicate_names_are_rejected() {
        for names in [["B", "A"], ["A", "A"]] {
            let bytes = ciborium_encoding(&[(names[0], b"x", 0, 0), (names[1], b"x", 0, 0)]);
            assert!(decode_body(&bytes).is_err());
        }
    }

    #[test]
    fn trailing_bytes_counts_lengths_and_long_heads_are_rejected() {
        let good = ciborium_encoding(&[("A", b"x", 0, 0)]);
        assert!(decode_body(&good).is_ok());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_body(&trailing).is_err());
        for n in 0..good.len() {
            assert!(decode_body(&good[..n]).is_err(), "truncated to {n}");
        }
        // A map claiming 2^32 entries in a few bytes: refused before allocating.
        assert!(decode_body(&[0xBA, 0xFF, 0xFF, 0xFF, 0xFF, 0x61, 0x41]).is_err());
        // A name claiming 2^63 bytes.
        assert!(
            decode_body(&[0xA1, 0x7B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_err()
        );
        // Indefinite-length map; a one-entry map count written in two bytes.
        assert!(decode_body(&[0xBF, 0xFF]).is_err());
        let mut long_head = vec![0xB8, 0x01];
        long_head.extend_from_slice(&good[1..]);
        assert_eq!(
            decode_body(&long_head).unwrap_err(),
            FormatError::Corrupt("body is not in canonical form")
        );
        // Names outside the rule: not UTF-8, not a variable name, reserved.
        for name in [&b"\xFF"[..], b"9", b"-", b"VAULT_X"] {
            let mut bytes = vec![0xA1, 0x60 + name.len() as u8];
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(&good[3..]);
            assert_eq!(
                decode_body(&bytes).unwrap_err(),
                FormatError::Corrupt("invalid secret name in body")
            );
        }
    }

    #[test]
    fn debug_shows_no_value() {
        let b = body_of(&[("A", b"hunter2-secret")]);
        assert!(!format!("{b:?} {:?}", b.get("A").unwrap()).contains("hunter2"));
    }

    fn v2_sample() -> Vec<u8> {
        let fp = [7u8; FINGERPRINT_KEY_LEN];
        let other = b"theirs".to_vec();
        let entries = [
            EntryRef::new("A", b"plain", 1, 2),
            EntryRef::new("B", b"", 3, 4).with_marks(Marks {
                rotate_pending: true,
                conflict: None,
            }),
            EntryRef::new("C", b"ours", 5, 6).with_marks(Marks {
                rotate_pending: false,
                conflict: Some(Conflict::Other(&other)),
            }),
            EntryRef::new("D", b"kept", 7, 8).with_marks(Marks {
                rotate_pending: true,
                conflict: Some(Conflict::OtherDeleted),
            }),
        ];
        let exposed = [[1u8; EXPOSED_DIGEST_LEN], [2u8; EXPOSED_DIGEST_LEN]];
        let mut out = Vec::new();
        encode_v2_into(
            &mut out,
            &fp,
            &exposed,
            entries.len(),
            entries.iter().copied(),
        );
        assert_eq!(out.len(), encoded_len_v2(2, entries.iter().copied()));
        out
    }

    #[test]
    fn a_body_after_a_public_prefix_is_wiped_from_the_prefix_on() {
        // A file decrypted in place: the header, then the plaintext. The
        // fingerprint key sits between the body's start and its entries;
        // the wipe must start at the body's start, not at the entries.
        let header = b"public header bytes".to_vec();
        let bytes = [header.clone(), v2_sample()].concat();
        let parsed = Body::parse_v2(Zeroizing::new(bytes.clone()), header.len()).unwrap();
        assert_eq!(parsed.body.plain.secret_from(), header.len());
        let alone = Body::parse_v2(Zeroizing::new(v2_sample()), 0).unwrap();
        assert_eq!(parsed.body, alone.body);
        assert_eq!(*parsed.fingerprint_key, *alone.fingerprint_key);
        let v1 = [header.clone(), encode_entries(&[("A", b"x", 1, 2)])].concat();
        let b = Body::parse(Zeroizing::new(v1), header.len()).unwrap();
        assert_eq!(b.plain.secret_from(), header.len());
        assert_eq!(b.get("A").unwrap().value, b"x");
    }

    #[test]
    fn v2_marks_round_trip_and_re_encode_to_the_same_bytes() {
        let bytes = v2_sample();
        let BodyV2 {
            body: b,
            fingerprint_key: fp,
            exposed,
        } = Body::parse_v2(Zeroizing::new(bytes.clone()), 0).unwrap();
        assert_eq!(*fp, [7u8; FINGERPRINT_KEY_LEN]);
        assert_eq!(exposed, [[1u8; 32], [2u8; 32]]);
        let marks: Vec<_> = b.iter().map(|e| (e.name, e.marks)).collect();
        assert_eq!(marks[0].1, Marks::default());
        assert!(marks[1].1.rotate_pending && marks[1].1.conflict.is_none());
        assert!(marks[2].1.conflict == Some(Conflict::Other(b"theirs")));
        assert!(marks[3].1.rotate_pending);
        assert!(marks[3].1.conflict == Some(Conflict::OtherDeleted));
        let mut again = Vec::new();
        encode_v2_into(&mut again, &fp, &exposed, b.len(), b.iter());
        assert_eq!(again, bytes);
        assert!(!format!("{:?}", b.get("C").unwrap()).contains("theirs"));
    }

    /// Exposed digests: none is no `"e"` key at all; present, 1 to
    /// MAX_EXPOSED of them, strictly increasing (one encoding).
    #[test]
    fn exposed_digests_are_bounded_and_in_order() {
        let fp = [0u8; FINGERPRINT_KEY_LEN];
        let body = |exposed: &[[u8; 32]]| {
            let mut out = Vec::new();
            encode_v2_into(&mut out, &fp, exposed, 0, std::iter::empty());
            assert_eq!(out.len(), encoded_len_v2(exposed.len(), std::iter::empty()));
            out
        };
        let none = body(&[]);
        assert!(!none.windows(2).any(|w| w == b"\x61e"));
        assert!(Body::parse_v2(Zeroizing::new(none), 0)
            .unwrap()
            .exposed
            .is_empty());
        let many: Vec<[u8; 32]> = (0..MAX_EXPOSED as u16)
            .map(|i| {
                let mut d = [0u8; 32];
                d[..2].copy_from_slice(&i.to_be_bytes());
                d
            })
            .collect();
        let full = body(&many);
        assert_eq!(
            Body::parse_v2(Zeroizing::new(full.clone()), 0)
                .unwrap()
                .exposed,
            many
        );
        // One more than the bound: the array head says 1025.
        let e = full.windows(2).position(|w| w == b"\x61e").unwrap() + 2;
        let mut over = full.clone();
        over[e..e + 3].copy_from_slice(&[0x99, 0x04, 0x01]);
        assert!(Body::parse_v2(Zeroizing::new(over), 0).is_err());
        // Two equal digests (out of order).
        let mut dup = body(&[[1u8; 32], [2u8; 32]]);
        let second = dup.len() - 3 - 32;
        dup[second..second + 32].copy_from_slice(&[1u8; 32]);
        assert!(Body::parse_v2(Zeroizing::new(dup), 0).is_err());
        // An empty array is not the encoding of "none".
        let mut empty = body(&[[1u8; 32]]);
        let e = empty.windows(2).position(|w| w == b"\x61e").unwrap() + 2;
        empty.splice(e..e + 1 + 2 + 32, [0x80]);
        assert!(Body::parse_v2(Zeroizing::new(empty), 0).is_err());
    }

    #[test]
    fn marks_are_refused_in_a_v1_body_and_out_of_order_in_v2() {
        let v2 = v2_sample();
        // The entries' map alone, read as a version-1 body.
        let pos = v2.windows(2).position(|w| w == b"\x61s").unwrap() + 2;
        assert!(Body::parse(Zeroizing::new(v2[pos..].to_vec()), 0).is_err());
        // "x" before "p" is not the one encoding.
        let mut swapped = Vec::new();
        let fp = [0u8; FINGERPRINT_KEY_LEN];
        encode_v2_into(
            &mut swapped,
            &fp,
            &[],
            1,
            [EntryRef::new("A", b"v", 1, 2).with_marks(Marks {
                rotate_pending: true,
                conflict: Some(Conflict::OtherDeleted),
            })]
            .into_iter(),
        );
        let p = swapped.windows(3).position(|w| w == b"\x61p\x01").unwrap();
        let x = swapped.windows(3).position(|w| w == b"\x61x\x80").unwrap();
        swapped[p..p + 3].copy_from_slice(b"\x61x\x80");
        swapped[x..x + 3].copy_from_slice(b"\x61p\x01");
        assert!(Body::parse_v2(Zeroizing::new(swapped), 0).is_err());
    }

    proptest! {
        #[test]
        fn same_bytes_as_ciborium_and_round_trip(
            m in proptest::collection::btree_map(
                // Lower-case first: never the reserved VAULT_ prefix.
                "[a-z_][A-Za-z0-9_]{0,40}",
                (proptest::collection::vec(any::<u8>(), 0..300), any::<u64>(), any::<u64>()),
                0..30)
        ) {
            let entries: Vec<(&str, &[u8], u64, u64)> =
                m.iter().map(|(n, (v, c, u))| (n.as_str(), v.as_slice(), *c, *u)).collect();
            let ours = encode_entries(&entries);
            // Vaults written before this module had its own writer used ciborium.
            prop_assert_eq!(&ours, &ciborium_encoding(&entries));
            let again = decode_body(&ours).unwrap();
            prop_assert_eq!(&*again.encode(), &ours[..]);
            let want: Vec<_> = entries.iter().map(|(n, v, c, u)| (n.to_string(), v.to_vec(), *c, *u)).collect();
            prop_assert_eq!(snapshot(&again), want);
        }

        #[test]
        fn v2_decode_never_panics_and_re_encodes(pos in 0usize..200, val in any::<u8>()) {
            let mut bytes = v2_sample();
            let pos = pos % bytes.len();
            bytes[pos] = val;
            if let Ok(v2) = Body::parse_v2(Zeroizing::new(bytes.clone()), 0) {
                let mut again = Vec::new();
                encode_v2_into(&mut again, &v2.fingerprint_key, &v2.exposed, v2.body.len(), v2.body.iter());
                prop_assert_eq!(again, bytes);
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(b) = decode_body(&bytes) {
                // Canonical: whatever parses re-encodes to the same bytes.
                prop_assert_eq!(&*b.encode(), &bytes);
            }
        }

        /// Our reader accepts exactly the bodies ciborium reads and writes
        /// back unchanged (with valid names), and reads the same secrets:
        /// checked on valid bodies with a few bytes changed, inserted or
        /// removed.
        #[test]
        fn accepts_exactly_what_ciborium_round_trips(
            m in proptest::collection::btree_map("[a-z_][A-Za-z0-9_]{0,6}", (proptest::collection::vec(any::<u8>(), 0..30), 0u64..100_000, any::<u64>()), 0..4),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
        ) {
            let entries: Vec<(&str, &[u8], u64, u64)> =
                m.iter().map(|(n, (v, c, u))| (n.as_str(), v.as_slice(), *c, *u)).collect();
            let mut bytes = encode_entries(&entries);
            for (at, op, b) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => bytes[i] = b,
                    1 => bytes.insert(i, b),
                    _ if i < bytes.len() => { bytes.remove(i); }
                    _ => bytes.push(b),
                }
            }
            let ours = decode_body(&bytes).ok().map(|b| snapshot(&b));
            prop_assert_eq!(ours, ciborium_canonical(&bytes));
        }
    }
}
