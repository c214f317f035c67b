//! The body plaintext: a CBOR map from secret name to {value, created,
//! updated}. Values are CBOR byte strings, decoded through a zeroizing
//! scratch buffer straight into exactly sized zeroizing buffers.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::FormatError;
use crate::secret::SecretBytes;

/// Largest value accepted, in bytes (1 MiB).
pub const MAX_VALUE_LEN: usize = 1 << 20;

/// One secret in the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: SecretBytes,
    /// Unix seconds when first set.
    pub created: u64,
    /// Unix seconds when last set.
    pub updated: u64,
}

struct ValueBytes(SecretBytes);

impl<'de> Deserialize<'de> for ValueBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValueBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ValueBytes, E> {
                if v.len() > MAX_VALUE_LEN {
                    return Err(E::custom("value too long"));
                }
                Ok(ValueBytes(SecretBytes::copy_from(v)))
            }
        }
        d.deserialize_bytes(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    v: ValueBytes,
    c: u64,
    u: u64,
}

#[derive(Serialize)]
struct RawEntryRef<'a> {
    #[serde(with = "serde_bytes")]
    v: &'a [u8],
    c: u64,
    u: u64,
}

struct Body(BTreeMap<String, Entry>);

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Body;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of secrets")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Body, A::Error> {
                let mut out = BTreeMap::new();
                let mut last: Option<String> = None;
                while let Some(name) = m.next_key::<String>()? {
                    // Names are written sorted; requiring it rejects duplicates.
                    if last.as_ref().is_some_and(|l| *l >= name) {
                        return Err(de::Error::custom("names out of order"));
                    }
                    let e: RawEntry = m.next_value()?;
                    last = Some(name.clone());
                    out.insert(
                        name,
                        Entry {
                            value: e.v.0,
                            created: e.c,
                            updated: e.u,
                        },
                    );
                }
                Ok(Body(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Decodes a body plaintext.
pub fn decode_body(plaintext: &[u8]) -> Result<BTreeMap<String, Entry>, FormatError> {
    // The scratch buffer holds one value at a time: zeroized on drop, and
    // sized so the largest value fits (a longer one is an error, not a
    // growing allocation).
    let mut scratch = Zeroizing::new(vec![0u8; MAX_VALUE_LEN + 1]);
    let body: Body = ciborium::from_reader_with_buffer(plaintext, &mut scratch)
        .map_err(|_| FormatError::Corrupt("body is not valid CBOR of the expected shape"))?;
    Ok(body.0)
}

/// Encodes a body plaintext into a buffer sized up front, so no partial
/// copy of the plaintext is left behind by a reallocation.
pub fn encode_body(secrets: &BTreeMap<String, Entry>) -> Zeroizing<Vec<u8>> {
    // 9 (map header) + per entry: name header 9 + name + 1 (map of 3) +
    // "v" 2 + bytes header 9 + value + "c" 2 + 9 + "u" 2 + 9, plus the tag
    // the caller appends in place.
    let cap = 9
        + 16
        + secrets
            .iter()
            .map(|(n, e)| n.len() + e.value.len() + 43)
            .sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(cap));
    ciborium::into_writer(&BodyRef(secrets), &mut *out).expect("writing CBOR to a Vec cannot fail");
    debug_assert!(out.capacity() == cap, "body buffer reallocated");
    out
}

struct BodyRef<'a>(&'a BTreeMap<String, Entry>);

impl Serialize for BodyRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, e) in self.0 {
            map.serialize_entry(
                k,
                &RawEntryRef {
                    v: e.value.expose(),
                    c: e.created,
                    u: e.updated,
                },
            )?;
        }
        map.end()
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
        }
    }

    #[test]
    fn empty_and_large_values_round_trip() {
        let mut m = BTreeMap::new();
        m.insert("EMPTY".to_string(), entry(b""));
        m.insert("BIG".to_string(), entry(&vec![0xAB; MAX_VALUE_LEN]));
        m.insert("NUL".to_string(), entry(b"a\0b\n$x"));
        let bytes = encode_body(&m);
        assert_eq!(decode_body(&bytes).unwrap(), m);
    }

    #[test]
    fn values_are_byte_strings_not_arrays() {
        let mut m = BTreeMap::new();
        m.insert("A".to_string(), entry(&[0xFF; 100]));
        // A byte string costs 2 header bytes; an integer array 2 per 0xFF byte.
        assert!(encode_body(&m).len() < 130);
    }

    #[test]
    fn over_long_value_is_rejected() {
        let mut m = BTreeMap::new();
        m.insert("BIG".to_string(), entry(&vec![1; MAX_VALUE_LEN + 1]));
        assert!(decode_body(&encode_body(&m)).is_err());
    }

    #[test]
    fn unsorted_or_duplicate_names_are_rejected() {
        // {"B": e, "A": e} written by hand.
        let e = |out: &mut Vec<u8>| {
            ciborium::into_writer(
                &RawEntryRef {
                    v: b"x",
                    c: 0,
                    u: 0,
                },
                out,
            )
            .unwrap()
        };
        for names in [["B", "A"], ["A", "A"]] {
            let mut buf = vec![0xA2];
            for n in names {
                ciborium::into_writer(&n, &mut buf).unwrap();
                e(&mut buf);
            }
            assert!(decode_body(&buf).is_err());
        }
    }

    proptest! {
        #[test]
        fn round_trip(m in proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,20}", proptest::collection::vec(any::<u8>(), 0..64), 0..20)) {
            let m: BTreeMap<String, Entry> = m.into_iter().map(|(k, v)| (k, entry(&v))).collect();
            prop_assert_eq!(decode_body(&encode_body(&m)).unwrap(), m);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_body(&bytes);
        }
    }
}
