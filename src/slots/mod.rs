//! Key slots: making a slot (wrapping the data key under a key-encryption
//! key) and opening one (unwrapping it), for passphrase and keyring slots.
//!
//! The keyring itself sits behind the small [`KeyStore`] trait, so the
//! platform store is picked per target with `cfg` and tests can use an
//! in-memory one. Nothing here reads files or prompts.

pub mod keyring;

#[cfg(all(target_os = "linux", feature = "keyring"))]
pub use keyring::SecretServiceStore;
pub use keyring::{keyring_account, KeyStore, KeyringError, MemoryKeyStore, KEYRING_SERVICE};

use crate::crypto::{self, KdfRefused, Unauthentic};
use crate::format::{KdfParams, Slot, SlotId, SlotKind, VaultId};
use crate::secret::Key;

/// A fresh slot id not used by any of `existing`.
pub fn new_slot_id(existing: &[Slot]) -> SlotId {
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
