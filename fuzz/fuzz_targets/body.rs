//! `vault::format::decode_body` (the CBOR body plaintext reader) never
//! panics; whatever it accepts is canonical (re-encoding gives the input
//! back), every value is within bounds, and edits (`vault::body_edit`)
//! merge correctly: deleting the first secret and setting a new one gives
//! what a fresh body with the same secrets encodes to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault::body_edit::{Entry, Secrets};
use vault::format::{self, MAX_VALUE_LEN};
use vault::SecretBytes;

fuzz_target!(|data: &[u8]| {
    let Ok(read) = format::decode_body(data) else {
        return;
    };
    assert!(read.iter().all(|e| e.len() <= MAX_VALUE_LEN));
    assert!(*read.encode() == *data, "decode → encode changed the bytes");
    assert_eq!(format::encoded_len(read.iter()), data.len());
    let mut body = Secrets::parse(read.encode(), 0).expect("a re-encoded body parses");
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
            rotate_pending: false,
        },
    );
    let mut fresh = Secrets::new();
    for e in body.iter() {
        fresh.insert(
            e.name,
            Entry {
                value: e.value_copy(),
                created: e.created,
                updated: e.updated,
                rotate_pending: e.marks.rotate_pending,
            },
        );
    }
    assert!(fresh == body);
    let encoded = body.encode();
    assert!(
        *fresh.encode() == *encoded,
        "merged and fresh bodies differ"
    );
    let again = Secrets::parse(encoded, 0).expect("an encoded body decodes");
    assert!(again == body);
});
