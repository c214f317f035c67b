//! `vault::format::parse` (version 1) and `vault::format::parse_any`
//! (versions 1 and 2, what `vault` opens) never panic on any bytes, and
//! whatever they accept is canonical: writing the parsed header back gives
//! exactly the input (`docs/FORMAT.md`: one encoding per header), within
//! the documented bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault::format::{self, v2, FileHeader};

fuzz_target!(|data: &[u8]| {
    check_any(data);
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

/// `parse_any`: a version-1 file exactly as `parse` reads it; a version-2
/// file canonical and within the bounds of docs/FORMAT.md "Version 2".
fn check_any(data: &[u8]) {
    let Ok(f) = format::parse_any(data) else {
        return;
    };
    assert_eq!(f.aad.len() + f.ciphertext.len(), data.len());
    assert_eq!(&data[..f.aad.len()], f.aad);
    assert!(f.ciphertext.len() >= vault::crypto::TAG_LEN);
    assert_eq!(format::write_prefix_any(&f.header), f.aad, "not canonical");
    let h = match f.header {
        FileHeader::V1(h) => {
            let one = format::parse(data).expect("parse_any and parse agree on version 1");
            assert_eq!(one.header, h);
            return;
        }
        FileHeader::V2(h) => h,
    };
    assert_eq!(&data[8..10], &[0, 2]);
    assert!(f.aad.len() - format::PREFIX_LEN <= v2::MAX_HEADER_LEN_V2);
    assert!(h.generation <= v2::MAX_GENERATION);
    assert!(h.keys.epoch <= h.generation);
    let slots = &h.keys.slots;
    assert!(!slots.is_empty() && slots.len() <= v2::MAX_SLOTS_V2);
    assert!(h.keys.kdf_cost(None) <= v2::KDF_BUDGET);
    for (i, s) in slots.iter().enumerate() {
        assert!(slots[..i].iter().all(|o| o.id != s.id), "duplicate slot id");
        if let Some((salt, params)) = s.kind.kdf() {
            assert!(format::kdf::SALT_LEN.contains(&salt.len()));
            assert!(params.check_bounds().is_ok());
        }
        if let Some(w) = s.kind.wrap() {
            assert!(w.age.starts_with(v2::AGE_MAGIC) && w.age.len() <= v2::MAX_AGE_LEN);
        }
    }
}
