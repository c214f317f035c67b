//! `vault::format::decode_body` (the CBOR body plaintext decoder) never
//! panics; whatever it accepts re-encodes (`encode_body`) to bytes that
//! decode to the same map, and that encoding is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault::format::{self, MAX_VALUE_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(map) = format::decode_body(data) else {
        return;
    };
    for e in map.values() {
        assert!(e.value.len() <= MAX_VALUE_LEN);
    }
    let encoded = format::encode_body(&map);
    let again = format::decode_body(&encoded).expect("an encoded body decodes");
    assert_eq!(again, map);
    assert!(
        *format::encode_body(&again) == *encoded,
        "encode_body is not deterministic"
    );
});
