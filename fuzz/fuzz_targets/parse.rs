//! `vault::format::parse` never panics on any bytes, and whatever it
//! accepts is canonical: writing the parsed header and ciphertext back gives
//! exactly the input (`docs/FORMAT.md`: one encoding per header).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault::format;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = format::parse(data) else {
        return;
    };
    // The file is the associated data followed by the ciphertext.
    assert_eq!(f.aad.len() + f.ciphertext.len(), data.len());
    assert_eq!(&data[..f.aad.len()], f.aad);
    assert!(f.ciphertext.len() >= vault::crypto::TAG_LEN);
    // Canonical: parse → write is the identity.
    let written = format::write(&f.header, f.ciphertext);
    assert!(written == data, "parse → write changed the bytes");
    assert_eq!(format::write_prefix(&f.header), f.aad);
    // And the header is within the documented bounds.
    assert!(!f.header.slots.is_empty() && f.header.slots.len() <= format::MAX_SLOTS);
    assert!(f.header.generation <= format::MAX_GENERATION);
    assert!(f.header.kdf_cost(None) <= format::kdf::BUDGET);
    assert!(f.aad.len() - format::PREFIX_LEN <= format::MAX_HEADER_LEN);
    for (i, s) in f.header.slots.iter().enumerate() {
        assert!(
            f.header.slots[..i].iter().all(|o| o.id != s.id),
            "duplicate slot id"
        );
        if let format::SlotKind::Passphrase { salt, params } = &s.kind {
            assert!(format::kdf::SALT_LEN.contains(&salt.len()));
            assert!(params.check_bounds().is_ok());
        }
    }
});
