//! Opening a vault with a known key: `LockedVault::parse` then `unlock`
//! never panics and fails only with exit code 3 or 4 (no partial vault).
//!
//! Two modes, chosen by the input:
//! - it starts with the magic bytes: it is a whole vault file, tried with the
//!   version-1 fixture's keyring slot key and the version-2 fixture's body
//!   key (seeds: the fixture sealed with a few bodies, and
//!   `tests/vectors/*.vault`);
//! - anything else is a body *plaintext*, sealed twice: under the version-1
//!   fixture header with its data key, and under the version-2 fixture
//!   header with its body key, so both CBOR body decoders (version 2's with
//!   its fingerprint key and marks) and the name checks run behind a passing
//!   AEAD. Each unlock must succeed exactly when that version's body decoder
//!   accepts the bytes and every name is valid, with the same secrets and
//!   marks. The version-1 file is opened with the keyring slot key (a
//!   version-1 file never opens through a cached key); the version-2 file
//!   with its body key, as the cached unlock opens it (its slots are never
//!   tried, so the fixture, made once per process with a random age file,
//!   does not make a crash irreproducible).
//!
//! Whenever unlock succeeds, sealing the vault again and reopening it gives
//! the same secrets.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vault::crypto;
use vault::format::{self, Body, Conflict, EntryRef, Header, KdfParams, MAGIC};
use vault::vault::{validate_name, NewSlot};
use vault::{Credential, Error, Key, LockedVault, SecretBytes, Vault};
use vault_fuzz::{fixture_header, keyring_kek, seal, FIXTURE_PATH, KEYRING_SLOT};
use zeroize::Zeroizing;

struct Fixture {
    header: Header,
    v1: Credential,
    /// The version-2 fixture: the bytes before its body, its body nonce
    /// and body key.
    v2_prefix: Vec<u8>,
    v2_nonce: [u8; crypto::NONCE_LEN],
    v2_body_key: Key,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let pass = SecretBytes::copy_from(b"vault-fuzz v2 fixture");
        let mut v = Vault::create(
            Path::new(FIXTURE_PATH),
            &[NewSlot::Passphrase(&pass, KdfParams::CHEAPEST)],
        )
        .expect("the version-2 fixture is made");
        let file = v.seal().expect("the version-2 fixture seals");
        let f = format::parse_any(&file).expect("the version-2 fixture parses");
        let nonce = match &f.header {
            format::FileHeader::V2(h) => h.body_nonce,
            format::FileHeader::V1(_) => unreachable!("every write is version 2"),
        };
        Fixture {
            header: fixture_header(),
            v1: Credential::SlotKey {
                slot: KEYRING_SLOT,
                kek: keyring_kek(),
            },
            v2_prefix: f.aad.to_vec(),
            v2_nonce: nonce,
            v2_body_key: v.body_key().clone(),
        }
    })
}

/// `plaintext` sealed as the body of the version-2 fixture.
fn seal_v2(fx: &Fixture, plaintext: &[u8]) -> Vec<u8> {
    let mut body = plaintext.to_vec();
    crypto::seal_in_place(&fx.v2_body_key, &fx.v2_nonce, &fx.v2_prefix, &mut body);
    [fx.v2_prefix.clone(), body].concat()
}

/// A secret as plain data, to compare: name, value, created, updated,
/// rotate pending, conflict (`Some(None)`: the other side deleted it).
type Snap = (String, Vec<u8>, u64, u64, bool, Option<Option<Vec<u8>>>);

/// The secrets as plain data, to compare.
fn snapshot<'a>(entries: impl Iterator<Item = EntryRef<'a>>) -> Vec<Snap> {
    entries
        .map(|e| {
            (
                e.name.to_string(),
                e.expose_value().to_vec(),
                e.created,
                e.updated,
                e.marks.rotate_pending,
                e.marks.conflict.map(|c| match c {
                    Conflict::OtherDeleted => None,
                    Conflict::Other(v) => Some(v.to_vec()),
                }),
            )
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let v2_cred = Credential::BodyKey(fx.v2_body_key.clone());
    if !data.starts_with(MAGIC) {
        let v1 = format::decode_body(data).ok().map(|b| snapshot(b.iter()));
        check(&seal(&fx.header, data), &fx.v1, Some(valid(v1)));
        let v2 = Body::parse_v2(Zeroizing::new(data.to_vec()), 0)
            .ok()
            .map(|v2| snapshot(v2.body.iter()));
        check(&seal_v2(fx, data), &v2_cred, Some(valid(v2)));
    } else {
        check(data, &fx.v1, None);
        check(data, &v2_cred, None);
    }
});

/// What a body decoder accepted, if every name in it is valid.
fn valid(decoded: Option<Vec<Snap>>) -> Option<Vec<Snap>> {
    decoded.filter(|b| b.iter().all(|e| validate_name(&e.0).is_ok()))
}

/// Opens `file` with `cred`; `expected` (for a body sealed here): the
/// secrets it must open to, or `None` if it must be refused as corrupt.
fn check(file: &[u8], cred: &Credential, expected: Option<Option<Vec<Snap>>>) {
    let path = Path::new(FIXTURE_PATH);
    let sealed_by_us = expected.is_some();
    let creds = std::slice::from_ref(cred);
    let file = file.to_vec();
    let locked = match LockedVault::parse(path, file) {
        Ok(l) => l,
        Err(e) => {
            assert!(!sealed_by_us, "the fixture header failed to parse: {e:?}");
            assert!(corrupt(&e), "{e:?}");
            return;
        }
    };
    for cred in creds {
        match locked.clone().unlock(cred) {
            Ok(mut v) => {
                let entries = snapshot(v.entries());
                if let Some(expected) = &expected {
                    assert_eq!(Some(&entries), expected.as_ref());
                }
                assert!(v.entries().all(|e| validate_name(e.name).is_ok()));
                // A file at the highest generation cannot be written again.
                let Ok(resealed) = v.seal() else {
                    assert_eq!(v.header().generation, format::MAX_GENERATION);
                    continue;
                };
                let reopened = LockedVault::parse(path, resealed)
                    .expect("a sealed vault parses")
                    .unlock(cred)
                    .expect("a sealed vault opens with the same key");
                assert_eq!(snapshot(reopened.entries()), entries);
            }
            Err(e) => {
                if let Some(expected) = &expected {
                    assert!(expected.is_none(), "a valid body did not open: {e:?}");
                    assert!(corrupt(&e), "{e:?}");
                }
                assert!(
                    corrupt(&e)
                        || matches!(
                            e,
                            Error::WrongPassphrase(_)
                                | Error::NoPassphraseSlot(_)
                                | Error::ChangedWhileOpening { .. }
                                | Error::StaleCachedKey(_)
                        ),
                    "{e:?}"
                );
            }
        }
    }
}

/// The errors of a corrupt, tampered or unknown file (the CLI's exit 4).
fn corrupt(e: &Error) -> bool {
    matches!(
        e,
        Error::Corrupt { .. } | Error::UnsupportedVersion { .. } | Error::OverKdfBudget { .. }
    )
}
