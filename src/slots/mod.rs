//! Key slots: making a slot (wrapping the data key under a key-encryption
//! key) and opening one (unwrapping it), for passphrase and keyring slots.
//!
//! The keyring itself sits behind the small [`KeyStore`] trait, so the
//! platform store is picked per target with `cfg` and tests can use an
//! in-memory one. Nothing here reads files or prompts.

pub mod keyring;

#[cfg(all(target_os = "linux", feature = "keyring"))]
pub use keyring::SecretServiceStore;
pub use keyring::{
    keyring_account, keyring_account_v2, KeyStore, KeyringError, MemoryKeyStore, KEYRING_SERVICE,
};

use crate::crypto::{self, KdfRefused, Unauthentic};
use crate::format::v2::{HeaderV2, Label, SlotV2};
use crate::format::{KdfParams, Slot, SlotId, SlotKind, VaultId};
use crate::secret::Key;

/// A slot as a person names it: by its id, the 8 hex digits `key list`
/// shows, or by its label (a label is never 8 hex digits, so the two never
/// meet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotRef {
    /// The slot with this id.
    Id(SlotId),
    /// The slot with this label.
    Label(Label),
}

impl SlotRef {
    /// What was typed: `None` if it names no slot in any form.
    pub fn parse(s: &str) -> Option<SlotRef> {
        SlotId::from_hex(s)
            .map(SlotRef::Id)
            .or_else(|| Label::parse(s).ok().map(SlotRef::Label))
    }

    /// The slot of `header` this names, if there is one.
    pub fn find<'h>(&self, header: &'h HeaderV2) -> Option<&'h SlotV2> {
        match self {
            SlotRef::Id(id) => header.keys.slot(*id),
            SlotRef::Label(l) => header
                .keys
                .slots
                .iter()
                .find(|s| s.label.as_ref() == Some(l)),
        }
    }

    /// The id of the slot of `header` this names; an error naming what
    /// was asked for if there is none.
    pub fn resolve(&self, header: &HeaderV2) -> crate::error::Result<SlotId> {
        self.find(header)
            .map(|s| s.id)
            .ok_or_else(|| self.not_found())
    }

    /// "No such slot", in the form it was asked for.
    pub fn not_found(&self) -> crate::error::Error {
        match self {
            SlotRef::Id(id) => crate::error::Error::SlotNotFound(*id),
            SlotRef::Label(l) => crate::error::Error::NoSuchLabel(l.as_str().to_string()),
        }
    }
}

/// The passphrase slots of `slots` in the order a passphrase is tried on
/// them: cheapest first (memory × passes, the KDF budget's measure), ties
/// in file order. A wrong passphrase costs every run, so the cheap ones go
/// first; the one slot it opens is usually found sooner too.
pub fn passphrase_try_order(slots: &[SlotV2]) -> Vec<&SlotV2> {
    let mut order: Vec<&SlotV2> = slots.iter().filter(|s| s.kind.kdf().is_some()).collect();
    // A stable sort: equal costs keep their file order.
    order.sort_by_key(|s| s.kind.kdf_cost());
    order
}

/// A fresh slot id not used by any of `existing`.
pub fn new_slot_id(existing: &[SlotV2]) -> SlotId {
    loop {
        let mut id = [0u8; 4];
        crypto::fill_random(&mut id);
        if !existing.iter().any(|s| s.id.0 == id) {
            return SlotId(id);
        }
    }
}

/// Wraps `dek` under `kek` into a slot of `kind`, with a fresh nonce.
pub fn make_slot(vault_id: &VaultId, id: SlotId, kind: SlotKind, kek: &Key, dek: &Key) -> Slot {
    let mut slot = Slot {
        id,
        kind,
        nonce: crypto::random_nonce(),
        wrapped: [0; crypto::WRAPPED_LEN],
    };
    let aad = slot.aad(vault_id);
    slot.wrapped = crypto::wrap_key(kek, &slot.nonce, &aad, dek);
    slot
}

/// Unwraps the data key of `slot` with `kek`.
pub fn open_slot(vault_id: &VaultId, slot: &Slot, kek: &Key) -> Result<Key, Unauthentic> {
    crypto::unwrap_key(kek, &slot.nonce, &slot.aad(vault_id), &slot.wrapped)
}

/// A new passphrase slot kind with a fresh 16-byte salt, and its KEK.
pub fn new_passphrase_kek(
    passphrase: &[u8],
    params: KdfParams,
    available_kib: Option<u64>,
) -> Result<(SlotKind, Key), KdfRefused> {
    let mut salt = vec![0u8; 16];
    crypto::fill_random(&mut salt);
    let kek = crypto::derive_kek(passphrase, &salt, params, available_kib)?;
    Ok((SlotKind::Passphrase { salt, params }, kek))
}

/// The KEK of a passphrase slot for `passphrase`; `None` for a keyring slot.
pub fn passphrase_kek(
    slot: &Slot,
    passphrase: &[u8],
    available_kib: Option<u64>,
) -> Option<Result<Key, KdfRefused>> {
    match &slot.kind {
        SlotKind::Passphrase { salt, params } => {
            Some(crypto::derive_kek(passphrase, salt, *params, available_kib))
        }
        SlotKind::Keyring => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::v2::SlotKindV2;
    use crate::format::{NONCE_LEN, WRAPPED_LEN};

    fn slot(n: u8, m: Option<(u32, u32)>) -> SlotV2 {
        SlotV2 {
            id: SlotId([n; 4]),
            label: None,
            kind: match m {
                None => SlotKindV2::LegacyKeyring {
                    nonce: [n; NONCE_LEN],
                    wrapped: [n; WRAPPED_LEN],
                },
                Some((memory_kib, time)) => SlotKindV2::LegacyPassphrase {
                    salt: vec![n; 16],
                    params: KdfParams {
                        memory_kib,
                        time,
                        parallelism: 4,
                    },
                    nonce: [n; NONCE_LEN],
                    wrapped: [n; WRAPPED_LEN],
                },
            },
        }
    }

    #[test]
    fn passphrase_slots_are_tried_cheapest_first_ties_in_file_order() {
        let slots = [
            slot(1, Some((65536, 3))),
            slot(2, None),
            slot(3, Some((16384, 2))),
            slot(4, Some((8192, 1))),
            slot(5, Some((8192, 4))),
            slot(6, Some((32768, 1))),
        ];
        let order: Vec<u8> = passphrase_try_order(&slots)
            .iter()
            .map(|s| s.id.0[0])
            .collect();
        // 8192, then the three of 32768 KiB × passes in file order, then 196608.
        assert_eq!(order, [4, 3, 5, 6, 1]);
        assert!(passphrase_try_order(&[slot(1, None)]).is_empty());
    }

    #[test]
    fn a_slot_is_named_by_its_id() {
        assert_eq!(
            SlotRef::parse("0A0b0c0D"),
            Some(SlotRef::Id(SlotId([10, 11, 12, 13])))
        );
        for label in ["0a0b0c0", "0a0b0c0d0", "xyzxyzxy", "ci", "CI nightly"] {
            assert_eq!(
                SlotRef::parse(label),
                Some(SlotRef::Label(Label::parse(label).unwrap())),
                "{label}"
            );
        }
        for bad in ["", " ci", "a\u{202e}b", &"x".repeat(65)] {
            assert_eq!(SlotRef::parse(bad), None, "{bad:?}");
        }
    }
}
