//! Opening a vault with a known key: `LockedVault::parse` then `unlock`
//! never panics and fails only with exit code 3 or 4 (no partial vault).
//!
//! Two modes, chosen by the input:
//! - it starts with the magic bytes: it is a whole vault file, tried with the
//!   fixture's keyring slot key (seeds: the fixture sealed with a few bodies,
//!   and `tests/vectors/*.vault`);
//! - anything else is a body *plaintext*, sealed under the (version-1)
//!   fixture header with the fixture's data key, so the CBOR body decoder
//!   and the name checks run behind a passing AEAD. Here unlock must succeed
//!   exactly when `decode_body` accepts the bytes and every name is valid,
//!   with the same secrets. It is opened with the keyring slot key: a
//!   version-1 file never opens through a cached key (version 2 caches only
//!   a body key, `Credential::BodyKey`, which a version-1 file has none of).
//!
//! Whenever unlock succeeds, sealing the vault again and reopening it gives
//! the same secrets.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vault::format::{self, EntryRef, Header, MAGIC};
use vault::vault::validate_name;
use vault::{Credential, Error, LockedVault};
use vault_fuzz::{fixture_header, keyring_kek, seal, FIXTURE_PATH, KEYRING_SLOT};

struct Fixture {
    header: Header,
    creds: [Credential; 1],
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        header: fixture_header(),
        creds: [Credential::SlotKey {
            slot: KEYRING_SLOT,
            kek: keyring_kek(),
        }],
    })
}

/// The secrets as plain data, to compare.
fn snapshot<'a>(entries: impl Iterator<Item = EntryRef<'a>>) -> Vec<(String, Vec<u8>, u64, u64)> {
    entries
        .map(|e| {
            (
                e.name.to_string(),
                e.expose_value().to_vec(),
                e.created,
                e.updated,
            )
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let path = Path::new(FIXTURE_PATH);
    let sealed_by_us = !data.starts_with(MAGIC);
    let file = if sealed_by_us {
        seal(&fx.header, data)
    } else {
        data.to_vec()
    };
    let locked = match LockedVault::parse(path, file) {
        Ok(l) => l,
        Err(e) => {
            assert!(!sealed_by_us, "the fixture header failed to parse: {e:?}");
            assert!(corrupt(&e), "{e:?}");
            return;
        }
    };
    let expected = sealed_by_us.then(|| {
        format::decode_body(data)
            .ok()
            .filter(|b| b.iter().all(|e| validate_name(e.name).is_ok()))
            .map(|b| snapshot(b.iter()))
    });
    for cred in &fx.creds {
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
});

/// The errors of a corrupt, tampered or unknown file (the CLI's exit 4).
fn corrupt(e: &Error) -> bool {
    matches!(
        e,
        Error::Corrupt { .. } | Error::UnsupportedVersion { .. } | Error::OverKdfBudget { .. }
    )
}
