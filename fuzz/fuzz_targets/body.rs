//! `vault::format::decode_body` (the CBOR body plaintext reader) never
//! panics; whatever it accepts is canonical (re-encoding gives the input
//! back), every value is within bounds, and edits merge correctly: deleting
//! the first secret and setting a new one gives what a fresh body with the
//! same secrets encodes to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault::format::{self, Body, Entry, MAX_VALUE_LEN};
use vault::SecretBytes;

fuzz_target!(|data: &[u8]| {
    let Ok(mut body) = format::decode_body(data) else {
        return;
    };
    assert!(body.iter().all(|e| e.len() <= MAX_VALUE_LEN));
    assert!(*body.encode() == *data, "decode → encode changed the bytes");
    assert_eq!(body.encoded_len(), data.len());
    let first = body.iter().next().map(|e| e.name.to_string());
    if let Some(first) = &first {
        assert!(body.remove(first));
    }
    body.insert(
        "ZZZ_FUZZ_NEW",
        Entry {
            value: SecretBytes::copy_from(b"new"),
            created: 3,
            updated: 4,
        },
    );
    let mut fresh = Body::new();
    for e in body.iter() {
        fresh.insert(
            e.name,
            Entry {
                value: e.value_copy(),
                created: e.created,
                updated: e.updated,
            },
        );
    }
    assert!(fresh == body);
    let encoded = body.encode();
    assert!(
        *fresh.encode() == *encoded,
        "merged and fresh bodies differ"
    );
    let again = format::decode_body(&encoded).expect("an encoded body decodes");
    assert!(again == body);
});
