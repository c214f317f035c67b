//! The secrets of an open vault as edited: the body read from the file
//! (`format::Body`, indexed in place) plus the secrets set or deleted since,
//! merged by name when they are listed or written. Owns the edit overlay;
//! must not parse or encode CBOR itself (that is `format::body`) nor do I/O.
//!
//! Keeping the changes beside the index, instead of copying the body into
//! a map, is what lets a vault of 100 000 secrets open, change one secret
//! and seal again without a copy of every name and value.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::iter::Peekable;

use zeroize::Zeroizing;

use crate::format::{
    self, Body, BodyV2, EntryRef, FormatError, EXPOSED_DIGEST_LEN, FINGERPRINT_KEY_LEN, MAX_EXPOSED,
};
use crate::secret::SecretBytes;

/// A secret given to [`Secrets::insert`].
#[derive(Clone, Debug)]
pub struct Entry {
    /// The value.
    pub value: SecretBytes,
    /// Unix seconds when first set.
    pub created: u64,
    /// Unix seconds when last set.
    pub updated: u64,
    /// A removed member could read this value (kept while the bytes stay
    /// the same).
    pub rotate_pending: bool,
}

impl Entry {
    fn as_ref<'a>(&'a self, name: &'a str) -> EntryRef<'a> {
        EntryRef::new(name, self.value.expose(), self.created, self.updated).with_marks(
            format::Marks {
                rotate_pending: self.rotate_pending,
                conflict: None,
            },
        )
    }
}

/// The body as read, and the changes made since.
#[derive(Default)]
pub struct Secrets {
    read: Body,
    /// Set (`Some`) or deleted (`None`) since reading.
    changes: BTreeMap<String, Option<Entry>>,
    /// The fingerprint key of a version-2 body (`vault textconv`).
    fingerprint_key: Zeroizing<[u8; FINGERPRINT_KEY_LEN]>,
    /// Every secret read is rotate pending ([`Secrets::mark_all_rotate_pending`]):
    /// applied as the body is listed or written, so marking copies no value.
    read_rotate_pending: bool,
    /// Digests of values a removed member could read that no secret holds
    /// any more (changed or deleted since): sorted, at most
    /// [`MAX_EXPOSED`].
    exposed: Vec<[u8; EXPOSED_DIGEST_LEN]>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets([redacted; {} secrets])", self.len())
    }
}

impl PartialEq for Secrets {
    fn eq(&self, other: &Secrets) -> bool {
        fn key(e: EntryRef<'_>) -> (&str, &[u8], u64, u64) {
            (e.name, e.expose_value(), e.created, e.updated)
        }
        self.iter().map(key).eq(other.iter().map(key))
    }
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// No secrets, and a fresh fingerprint key.
    pub fn empty() -> Secrets {
        let mut s = Secrets::default();
        crate::secret::fill_random(&mut s.fingerprint_key[..]);
        s
    }

    /// Reads a version-1 body plaintext `plain[start..]` ([`Body::parse`]);
    /// it gets a fresh fingerprint key (version 1 has none).
    pub fn parse(plain: Zeroizing<Vec<u8>>, start: usize) -> Result<Secrets, FormatError> {
        let mut s = Secrets::empty();
        s.read = Body::parse(plain, start)?;
        Ok(s)
    }

    /// Reads a version-2 body plaintext `plain[start..]` ([`Body::parse_v2`]).
    pub fn parse_v2(plain: Zeroizing<Vec<u8>>, start: usize) -> Result<Secrets, FormatError> {
        let BodyV2 {
            body: read,
            fingerprint_key,
            exposed,
        } = Body::parse_v2(plain, start)?;
        Ok(Secrets {
            read,
            changes: BTreeMap::new(),
            fingerprint_key,
            read_rotate_pending: false,
            exposed,
        })
    }

    /// The digests of exposed values no secret holds now, sorted.
    pub fn exposed(&self) -> &[[u8; EXPOSED_DIGEST_LEN]] {
        &self.exposed
    }

    /// Whether `digest` is of an exposed value.
    pub fn is_exposed(&self, digest: &[u8; EXPOSED_DIGEST_LEN]) -> bool {
        self.exposed.binary_search(digest).is_ok()
    }

    /// Records the digest of a value a removed member could read, which
    /// the secret that held it no longer does. Beyond [`MAX_EXPOSED`] the
    /// smallest other digest is forgotten (digests are uniform: an
    /// arbitrary one; the list is kept sorted, so age is not known).
    pub fn record_exposed(&mut self, digest: [u8; EXPOSED_DIGEST_LEN]) {
        let Err(at) = self.exposed.binary_search(&digest) else {
            return;
        };
        self.exposed.insert(at, digest);
        if self.exposed.len() > MAX_EXPOSED {
            self.exposed.remove(if at == 0 { 1 } else { 0 });
        }
    }

    /// Replaces the exposed digests (a merge: the union of its sides).
    pub fn set_exposed(&mut self, digests: impl IntoIterator<Item = [u8; EXPOSED_DIGEST_LEN]>) {
        self.exposed.clear();
        for d in digests {
            self.record_exposed(d);
        }
    }

    /// The fingerprint key.
    pub fn fingerprint_key(&self) -> &[u8; FINGERPRINT_KEY_LEN] {
        &self.fingerprint_key
    }

    /// A new fingerprint key (after a member removal).
    pub fn new_fingerprint_key(&mut self) {
        crate::secret::fill_random(&mut self.fingerprint_key[..]);
    }

    /// Marks every secret rotate pending (a member who could read them
    /// was removed). A secret set afterwards keeps or clears the mark as
    /// its own entry says.
    pub fn mark_all_rotate_pending(&mut self) {
        self.read_rotate_pending = true;
        for e in self.changes.values_mut().flatten() {
            e.rotate_pending = true;
        }
    }

    /// The secret `name`.
    pub fn get(&self, name: &str) -> Option<EntryRef<'_>> {
        match self.changes.get_key_value(name) {
            Some((name, Some(e))) => Some(e.as_ref(name)),
            Some((_, None)) => None,
            None => self
                .read
                .get(name)
                .map(|e| with_rotate_pending(e, self.read_rotate_pending)),
        }
    }

    /// Whether there is a secret `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `entry`, replacing any secret of that name.
    pub fn insert(&mut self, name: &str, entry: Entry) {
        self.changes.insert(name.to_string(), Some(entry));
    }

    /// Deletes `name`; whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let was = self.contains(name);
        if self.read.contains(name) {
            self.changes.insert(name.to_string(), None);
        } else {
            self.changes.remove(name);
        }
        was
    }

    /// Every secret, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> + '_ {
        Merge {
            read: self.read.iter().peekable(),
            changes: self.changes.iter().peekable(),
            read_rotate_pending: self.read_rotate_pending,
        }
    }

    /// The number of secrets.
    pub fn len(&self) -> usize {
        let mut n = self.read.len();
        for (name, c) in &self.changes {
            match (self.read.contains(name), c.is_some()) {
                (false, true) => n += 1,
                (true, false) => n -= 1,
                _ => {}
            }
        }
        n
    }

    /// Whether there are no secrets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The exact length of the encoding.
    pub fn encoded_len(&self) -> usize {
        format::encoded_len(self.iter())
    }

    /// Appends the (version-1) body plaintext to `out`. Give `out` the
    /// capacity ([`Secrets::encoded_len`]) up front when it must hold
    /// plaintext: a reallocation would leave a partial copy behind, unwiped.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        format::encode_into(out, self.len(), self.iter());
    }

    /// The exact length of the version-2 encoding.
    pub fn encoded_len_v2(&self) -> usize {
        format::encoded_len_v2(self.exposed.len(), self.iter())
    }

    /// Appends the version-2 body plaintext to `out` (the same capacity
    /// rule as [`Secrets::encode_into`], with [`Secrets::encoded_len_v2`]).
    pub fn encode_v2_into(&self, out: &mut Vec<u8>) {
        format::encode_v2_into(
            out,
            &self.fingerprint_key,
            &self.exposed,
            self.len(),
            self.iter(),
        );
    }

    /// The body plaintext, in an exactly sized zeroizing buffer.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(self.encoded_len()));
        self.encode_into(&mut out);
        out
    }
}

/// What was read and the changes, merged by name; a change wins.
struct Merge<
    'a,
    R: Iterator<Item = EntryRef<'a>>,
    C: Iterator<Item = (&'a String, &'a Option<Entry>)>,
> {
    read: Peekable<R>,
    changes: Peekable<C>,
    read_rotate_pending: bool,
}

/// `e` with its rotate-pending mark set when `pending` (its other marks kept).
fn with_rotate_pending(mut e: EntryRef<'_>, pending: bool) -> EntryRef<'_> {
    e.marks.rotate_pending |= pending;
    e
}

impl<'a, R, C> Iterator for Merge<'a, R, C>
where
    R: Iterator<Item = EntryRef<'a>>,
    C: Iterator<Item = (&'a String, &'a Option<Entry>)>,
{
    type Item = EntryRef<'a>;

    fn next(&mut self) -> Option<EntryRef<'a>> {
        loop {
            let order = match (self.read.peek(), self.changes.peek()) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(e), Some((name, _))) => e.name.cmp(name.as_str()),
            };
            if order != Ordering::Greater {
                let e = self.read.next().expect("peeked");
                if order == Ordering::Less {
                    return Some(with_rotate_pending(e, self.read_rotate_pending));
                }
            }
            if order != Ordering::Less {
                if let (name, Some(e)) = self.changes.next().expect("peeked") {
                    return Some(e.as_ref(name));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(v: &[u8]) -> Entry {
        Entry {
            value: SecretBytes::copy_from(v),
            created: 1,
            updated: 2,
            rotate_pending: false,
        }
    }

    fn secrets_of(entries: &[(&str, &[u8])]) -> Secrets {
        let mut b = Secrets::new();
        for (n, v) in entries {
            b.insert(n, entry(v));
        }
        b
    }

    fn reread(s: &Secrets) -> Secrets {
        Secrets::parse(s.encode(), 0).unwrap()
    }

    #[test]
    fn changes_merge_with_what_was_read() {
        let mut b = reread(&secrets_of(&[("A", b"1"), ("C", b"3"), ("E", b"5")]));
        b.insert("B", entry(b"2"));
        b.insert("C", entry(b"33"));
        assert!(b.remove("E"));
        assert!(!b.remove("Z"));
        b.insert("F", entry(b"6"));
        assert!(b.remove("F"));
        let names: Vec<_> = b.iter().map(|e| (e.name, e.expose_value())).collect();
        assert_eq!(names, [("A", &b"1"[..]), ("B", b"2"), ("C", b"33")]);
        assert_eq!(b.len(), 3);
        assert_eq!(b.encode().len(), b.encoded_len());
        assert!(!b.contains("E") && !b.contains("F"));
        assert_eq!(reread(&b), b);
    }

    #[test]
    fn delete_then_set_again_and_set_then_delete() {
        let mut b = reread(&secrets_of(&[("A", b"1")]));
        assert!(b.remove("A"));
        assert!(b.is_empty());
        b.insert("A", entry(b"again"));
        assert_eq!(b.get("A").unwrap().expose_value(), b"again");
        assert_eq!(b.len(), 1);
        assert_eq!(reread(&b), b);
    }

    #[test]
    fn marking_every_secret_rotate_pending_keeps_other_marks_and_spares_later_sets() {
        // A version-2 body read with a conflict mark on B.
        let fp = [1u8; FINGERPRINT_KEY_LEN];
        let read = [
            EntryRef::new("A", b"1", 1, 2),
            EntryRef::new("B", b"2", 1, 2).with_marks(format::Marks {
                rotate_pending: false,
                conflict: Some(format::Conflict::Other(b"theirs")),
            }),
        ];
        let mut plain = Vec::new();
        format::encode_v2_into(&mut plain, &fp, &[], 2, read.into_iter());
        let mut s = Secrets::parse_v2(Zeroizing::new(plain), 0).unwrap();
        s.insert("C", entry(b"3"));
        s.mark_all_rotate_pending();
        s.insert("D", entry(b"4"));
        let marks = |s: &Secrets| -> Vec<(String, bool, bool)> {
            s.iter()
                .map(|e| {
                    let m = e.marks;
                    (e.name.to_string(), m.rotate_pending, m.conflict.is_some())
                })
                .collect()
        };
        let want = [
            ("A".to_string(), true, false),
            ("B".to_string(), true, true),
            ("C".to_string(), true, false),
            ("D".to_string(), false, false),
        ];
        assert_eq!(marks(&s), want);
        assert!(s.get("A").unwrap().marks.rotate_pending);
        assert!(!s.get("D").unwrap().marks.rotate_pending);
        // Written and read again: the same marks.
        let mut out = Vec::with_capacity(s.encoded_len_v2());
        s.encode_v2_into(&mut out);
        assert_eq!(out.len(), s.encoded_len_v2());
        let again = Secrets::parse_v2(Zeroizing::new(out), 0).unwrap();
        assert_eq!(marks(&again), want);
    }

    #[test]
    fn debug_shows_no_value() {
        let b = secrets_of(&[("A", b"hunter2-secret")]);
        assert!(!format!("{b:?} {:?}", b.get("A").unwrap()).contains("hunter2"));
    }

    proptest! {
        /// Editing what was read gives what a fresh set of the same secrets
        /// gives, byte for byte.
        #[test]
        fn edits_equal_a_fresh_body(
            before in proptest::collection::btree_map("[a-e]", proptest::collection::vec(any::<u8>(), 0..8), 0..5),
            ops in proptest::collection::vec(("[a-f]", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8))), 0..10),
        ) {
            let mut edited = Secrets::new();
            for (n, v) in &before {
                edited.insert(n, entry(v));
            }
            let mut edited = reread(&edited);
            let mut model = before.clone();
            for (n, v) in &ops {
                match v {
                    Some(v) => { edited.insert(n, entry(v)); model.insert(n.clone(), v.clone()); }
                    None => { prop_assert_eq!(edited.remove(n), model.remove(n).is_some()); }
                }
            }
            let mut fresh = Secrets::new();
            for (n, v) in &model {
                fresh.insert(n, entry(v));
            }
            prop_assert_eq!(edited.len(), model.len());
            prop_assert!(edited == fresh);
            prop_assert_eq!(&*edited.encode(), &*fresh.encode());
            prop_assert!(reread(&edited) == fresh);
        }
    }
}
