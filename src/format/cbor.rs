//! The one CBOR reader and writer of the format, shared by the header and
//! the body: the small subset they use (unsigned integers, byte and text
//! strings, maps and arrays, all definite-length), every head in its
//! shortest form, so each value has exactly one encoding. Reads are over a
//! slice and bounds-checked; nothing is allocated here, so a length read
//! from the input can never size an allocation.
//!
//! ciborium (a dev-dependency) is the test oracle: the header's and the
//! body's tests check that this writes what it writes and accepts exactly
//! what it reads back to the same bytes.

use super::FormatError;

/// Major type: unsigned integer.
pub const UINT: u8 = 0;
/// Major type: byte string.
pub const BYTES: u8 = 2;
/// Major type: text string.
pub const TEXT: u8 = 3;
/// Major type: array.
pub const ARRAY: u8 = 4;
/// Major type: map.
pub const MAP: u8 = 5;

/// Which part of the file is read, for the error's text.
#[derive(Clone, Copy)]
pub enum Part {
    Header,
    Body,
}

impl Part {
    /// Not CBOR of the expected shape (or truncated).
    pub fn malformed(self) -> FormatError {
        FormatError::Corrupt(match self {
            Part::Header => "header is not valid CBOR of the expected shape",
            Part::Body => "body is not valid CBOR of the expected shape",
        })
    }

    /// A head not in its shortest form.
    pub fn not_canonical(self) -> FormatError {
        FormatError::Corrupt(match self {
            Part::Header => "header is not in canonical form",
            Part::Body => "body is not in canonical form",
        })
    }
}

/// A cursor over `buf[pos..]`; every read is bounds-checked.
pub struct Reader<'a> {
    part: Part,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `buf` from `pos`.
    pub fn new(part: Part, buf: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { part, buf, pos }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The shape error of this part.
    pub fn malformed(&self) -> FormatError {
        self.part.malformed()
    }

    /// One head: major type and argument, shortest form only.
    #[inline]
    pub fn head(&mut self) -> Result<(u8, u64), FormatError> {
        let b = *self.buf.get(self.pos).ok_or(self.malformed())?;
        self.pos += 1;
        let (major, info) = (b >> 5, b & 0x1f);
        let (len, min) = match info {
            0..=23 => return Ok((major, info as u64)),
            24 => (1, 24),
            25 => (2, 0x100),
            26 => (4, 0x1_0000),
            27 => (8, 0x1_0000_0000),
            _ => return Err(self.malformed()), // indefinite lengths, reserved values
        };
        let bytes = self
            .buf
            .get(self.pos..self.pos + len)
            .ok_or(self.malformed())?;
        self.pos += len;
        let n = bytes.iter().fold(0u64, |n, b| (n << 8) | *b as u64);
        if n < min {
            return Err(self.part.not_canonical());
        }
        Ok((major, n))
    }

    /// A head of major type `major`: its argument.
    pub fn expect(&mut self, major: u8) -> Result<u64, FormatError> {
        match self.head()? {
            (m, n) if m == major => Ok(n),
            _ => Err(self.malformed()),
        }
    }

    /// An unsigned integer.
    #[inline]
    pub fn uint(&mut self) -> Result<u64, FormatError> {
        self.expect(UINT)
    }

    /// A string of major type `major` and at most `max` bytes: its offset
    /// and length. The length is checked against `max` and the input
    /// before it is used.
    #[inline]
    pub fn string(&mut self, major: u8, max: usize) -> Result<(usize, usize), FormatError> {
        let n = self.expect(major)?;
        if n > max as u64 || n > self.remaining() as u64 {
            return Err(self.malformed());
        }
        let at = self.pos;
        self.pos += n as usize;
        Ok((at, n as usize))
    }

    /// `n` bytes at `at`, as returned by [`Reader::string`].
    pub fn slice(&self, at: usize, n: usize) -> &'a [u8] {
        &self.buf[at..at + n]
    }

    /// A byte string of at most `max` bytes, borrowed.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], FormatError> {
        let (at, n) = self.string(BYTES, max)?;
        Ok(&self.buf[at..at + n])
    }

    /// A byte string of exactly `N` bytes.
    pub fn byte_array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        self.bytes(N)?.try_into().map_err(|_| self.malformed())
    }

    /// The text string `want` (a map key).
    #[inline]
    pub fn key(&mut self, want: &[u8]) -> Result<(), FormatError> {
        let (at, n) = self.string(TEXT, want.len())?;
        if &self.buf[at..at + n] != want {
            return Err(self.malformed());
        }
        Ok(())
    }
}

/// Length of a head with argument `n`, in its shortest form.
pub fn head_len(n: u64) -> usize {
    match n {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Where an encoder writes: a buffer, a hash state, or [`Matches`], which
/// compares with bytes already held. So the canonical check and the MAC of
/// a header (27 KB with 64 recipient slots, on every open) need no copy
/// of it.
pub trait Sink {
    /// Takes the next bytes.
    fn put(&mut self, b: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

/// A [`Sink`] that checks that what is written is exactly `expected`.
pub struct Matches<'a> {
    rest: &'a [u8],
    ok: bool,
}

impl<'a> Matches<'a> {
    /// Expects `expected`, from its start.
    pub fn new(expected: &'a [u8]) -> Matches<'a> {
        Matches {
            rest: expected,
            ok: true,
        }
    }

    /// Whether everything written matched and nothing of `expected` is
    /// left over.
    pub fn finish(self) -> bool {
        self.ok && self.rest.is_empty()
    }
}

impl Sink for Matches<'_> {
    fn put(&mut self, b: &[u8]) {
        match self.rest.strip_prefix(b) {
            Some(rest) if self.ok => self.rest = rest,
            _ => self.ok = false,
        }
    }
}

/// Appends a head in its shortest form.
pub fn put_head(out: &mut impl Sink, major: u8, n: u64) {
    let m = major << 5;
    match head_len(n) {
        1 => out.put(&[m | n as u8]),
        2 => out.put(&[m | 24, n as u8]),
        3 => {
            out.put(&[m | 25]);
            out.put(&(n as u16).to_be_bytes());
        }
        5 => {
            out.put(&[m | 26]);
            out.put(&(n as u32).to_be_bytes());
        }
        _ => {
            out.put(&[m | 27]);
            out.put(&n.to_be_bytes());
        }
    }
}

/// Appends a byte string.
pub fn put_bytes(out: &mut impl Sink, b: &[u8]) {
    put_head(out, BYTES, b.len() as u64);
    out.put(b);
}

/// Appends a text string.
pub fn put_text(out: &mut impl Sink, s: &str) {
    put_head(out, TEXT, s.len() as u64);
    out.put(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_accepts_exactly_the_expected_bytes() {
        let put = |expected: &[u8], parts: &[&[u8]]| {
            let mut m = Matches::new(expected);
            for p in parts {
                m.put(p);
            }
            m.finish()
        };
        assert!(put(b"abcd", &[b"ab", b"", b"cd"]));
        assert!(put(b"", &[]));
        assert!(!put(b"abcd", &[b"ab"]), "left over");
        assert!(!put(b"abcd", &[b"ab", b"cde"]), "too long");
        assert!(!put(b"abcd", &[b"ax", b"cd"]), "different");
        assert!(!put(b"abcd", &[b"ax", b"bcd"]), "a mismatch is final");
    }
    use proptest::prelude::*;

    fn ciborium_uint(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(&n, &mut out).unwrap();
        out
    }

    #[test]
    fn long_heads_indefinite_lengths_and_truncation_are_refused() {
        let read = |b: &[u8]| Reader::new(Part::Body, b, 0).head();
        assert_eq!(read(&[0x18, 23]), Err(Part::Body.not_canonical()));
        assert_eq!(read(&[0x19, 0, 0xff]), Err(Part::Body.not_canonical()));
        assert_eq!(
            read(&[0x1a, 0, 0, 0xff, 0xff]),
            Err(Part::Body.not_canonical())
        );
        assert_eq!(
            read(&[0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
            Err(Part::Body.not_canonical())
        );
        for b in [&[0x1f][..], &[0xbf], &[0x5f], &[0x1c], &[0x19, 0], &[]] {
            assert_eq!(read(b), Err(Part::Body.malformed()), "{b:02x?}");
        }
        // A string longer than what is left, or than allowed.
        let mut r = Reader::new(
            Part::Header,
            &[0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            0,
        );
        assert_eq!(r.bytes(usize::MAX), Err(Part::Header.malformed()));
        assert_eq!(
            Reader::new(Part::Header, &[0x42, 1, 2], 0).bytes(1),
            Err(Part::Header.malformed())
        );
        assert_eq!(
            Reader::new(Part::Header, &[0x42, 1], 0).bytes(9),
            Err(Part::Header.malformed())
        );
        assert_eq!(
            Reader::new(Part::Header, &[0x42, 1, 2], 0).byte_array::<3>(),
            Err(Part::Header.malformed())
        );
        assert_eq!(
            Reader::new(Part::Header, &[0x42, 1, 2], 0).byte_array::<2>(),
            Ok([1, 2])
        );
    }

    proptest! {
        #[test]
        fn heads_are_ciboriums_and_read_back(n in prop_oneof![
            0u64..30, 200u64..300, 60_000u64..70_000, any::<u32>().prop_map(u64::from), any::<u64>()
        ]) {
            let mut ours = Vec::new();
            put_head(&mut ours, UINT, n);
            prop_assert_eq!(&ours, &ciborium_uint(n));
            prop_assert_eq!(ours.len(), head_len(n));
            let mut r = Reader::new(Part::Header, &ours, 0);
            prop_assert_eq!(r.uint(), Ok(n));
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn strings_are_ciboriums(b in proptest::collection::vec(any::<u8>(), 0..400), s in "\\PC{0,40}") {
            let mut ours = Vec::new();
            put_bytes(&mut ours, &b);
            put_text(&mut ours, &s);
            let mut theirs = Vec::new();
            ciborium::into_writer(&serde_bytes::Bytes::new(&b), &mut theirs).unwrap();
            ciborium::into_writer(&s, &mut theirs).unwrap();
            prop_assert_eq!(&ours, &theirs);
            let mut r = Reader::new(Part::Body, &ours, 0);
            prop_assert_eq!(r.bytes(b.len()).unwrap(), &b[..]);
            prop_assert!(r.key(s.as_bytes()).is_ok());
            prop_assert_eq!(r.remaining(), 0);
        }
    }
}
