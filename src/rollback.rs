//! Rollback memory: the highest generation of each vault seen on this
//! machine, behind the small [`RollbackMemory`] trait, so the rule "refuse
//! a file older than one already seen" is written once (in `open.rs`) and
//! tested with [`InMemory`].
//!
//! Two memories exist: [`StateDir`], a file per vault under
//! `$XDG_STATE_HOME/vault/generations/` (default `~/.local/state/...`), and
//! [`KeyringMemory`], an attribute of the keyring entry that opened the
//! vault (it survives a deleted state directory). Neither is secret; both
//! are best effort: a machine that cannot write them simply has no memory,
//! and a fresh CI runner cannot detect a rollback (SECURITY.md says so).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use crate::format::{SlotId, VaultId};
use crate::slots::{keyring_account, KeyStore};
use crate::store;

/// Under which name a vault's generation is remembered. Opaque: made by
/// the opener from what it authenticated (today the vault id and the
/// keyring slot that opened it, if one did), so a later change can key the
/// memory differently without touching the memories.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryKey {
    vault_id: VaultId,
    keyring_slot: Option<SlotId>,
}

impl MemoryKey {
    /// The key of vault `vault_id`, opened through keyring slot
    /// `keyring_slot` if one opened it.
    pub(crate) fn new(vault_id: VaultId, keyring_slot: Option<SlotId>) -> MemoryKey {
        MemoryKey {
            vault_id,
            keyring_slot,
        }
    }

    /// The vault id's hex, for reports (`vault doctor`).
    pub fn vault_hex(&self) -> String {
        self.vault_id.to_hex()
    }
}

/// A place that remembers the highest generation seen of a vault.
pub trait RollbackMemory {
    /// The generation remembered under `key`, if any.
    fn remembered(&self, key: &MemoryKey) -> Option<u64>;
    /// Raises the memory to `generation`, or sets it to exactly that when
    /// `force` (accepting a restored backup). Best effort, never an error.
    fn remember(&self, key: &MemoryKey, generation: u64, force: bool);
}

/// The state-directory memory: `<dir>/<vault id hex>`, the generation in
/// decimal. Raised under the file's own write lock (`store::lock`,
/// `store::write_atomic`), so two processes remembering at once can never
/// lower it.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: Option<PathBuf>,
}

impl StateDir {
    /// `$XDG_STATE_HOME/vault/generations` (or `~/.local/state/...`); no
    /// memory at all where no home can be found.
    pub fn default_location() -> StateDir {
        StateDir {
            dir: crate::platform::xdg_dir("XDG_STATE_HOME", ".local/state")
                .map(|d| d.join("vault").join("generations")),
        }
    }

    /// A memory in `dir` (tests).
    pub fn at(dir: PathBuf) -> StateDir {
        StateDir { dir: Some(dir) }
    }

    fn file(&self, key: &MemoryKey) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(key.vault_id.to_hex()))
    }

    fn read(&self, key: &MemoryKey) -> Option<u64> {
        let text = fs::read_to_string(self.file(key)?).ok()?;
        text.trim().parse().ok()
    }
}

impl RollbackMemory for StateDir {
    fn remembered(&self, key: &MemoryKey) -> Option<u64> {
        self.read(key)
    }

    fn remember(&self, key: &MemoryKey, generation: u64, force: bool) {
        let (Some(dir), Some(path)) = (self.dir.as_ref(), self.file(key)) else {
            return;
        };
        if !force && self.read(key).is_some_and(|g| g >= generation) {
            return; // the common case: nothing to write, no lock needed
        }
        if store::create_dir_private(dir).is_err() {
            return;
        }
        let Ok(lock) = store::lock(&path, Duration::from_secs(5), &mut || {}) else {
            return;
        };
        if !force && self.read(key).is_some_and(|g| g >= generation) {
            return;
        }
        let _ = store::write_atomic(&path, format!("{generation}\n").as_bytes(), &lock);
    }
}

/// The memory kept with the keyring entry of the slot that opened the
/// vault (an item attribute). Only a vault opened through a keyring slot
/// has one; the store is the one that fetched the key, so nothing new is
/// connected for it.
pub struct KeyringMemory<'a>(pub &'a dyn KeyStore);

impl KeyringMemory<'_> {
    fn account(key: &MemoryKey) -> Option<String> {
        key.keyring_slot.map(|s| keyring_account(&key.vault_id, s))
    }
}

impl KeyringMemory<'_> {
    /// Sets the generation kept with the entry (no read first: the caller
    /// knows it is a change), if a keyring slot opened the vault.
    pub fn set(&self, key: &MemoryKey, generation: u64) {
        if let Some(account) = Self::account(key) {
            let _ = self.0.set_generation(&account, generation);
        }
    }
}

impl RollbackMemory for KeyringMemory<'_> {
    fn remembered(&self, key: &MemoryKey) -> Option<u64> {
        // An entry without the attribute yet counts as generation 0.
        self.0
            .generation(&Self::account(key)?)
            .ok()
            .map(|g| g.unwrap_or(0))
    }

    fn remember(&self, key: &MemoryKey, generation: u64, force: bool) {
        let Some(account) = Self::account(key) else {
            return;
        };
        let current = self.0.generation(&account).ok().flatten();
        if force || current.is_none_or(|g| g < generation) {
            let _ = self.0.set_generation(&account, generation);
        }
    }
}

/// A memory in process memory, for tests.
#[derive(Debug, Default)]
pub struct InMemory(RefCell<HashMap<MemoryKey, u64>>);

impl RollbackMemory for InMemory {
    fn remembered(&self, key: &MemoryKey) -> Option<u64> {
        self.0.borrow().get(key).copied()
    }

    fn remember(&self, key: &MemoryKey, generation: u64, force: bool) {
        let mut m = self.0.borrow_mut();
        let e = m.entry(key.clone()).or_insert(generation);
        if force || *e < generation {
            *e = generation;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Key;
    use crate::slots::MemoryKeyStore;

    #[test]
    fn state_dir_only_rises_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let m = StateDir::at(dir.path().join("generations"));
        let k = MemoryKey::new(VaultId([7; 16]), None);
        assert_eq!(m.remembered(&k), None);
        m.remember(&k, 5, false);
        m.remember(&k, 3, false);
        assert_eq!(m.remembered(&k), Some(5));
        m.remember(&k, 3, true);
        assert_eq!(m.remembered(&k), Some(3));
    }

    #[test]
    fn keyring_memory_needs_a_keyring_slot() {
        let store = MemoryKeyStore::default();
        let slot = SlotId([1, 2, 3, 4]);
        let id = VaultId([9; 16]);
        store
            .create(&keyring_account(&id, slot), &Key::random())
            .unwrap();
        let m = KeyringMemory(&store);
        let none = MemoryKey::new(id, None);
        m.remember(&none, 4, false);
        assert_eq!(m.remembered(&none), None);
        let k = MemoryKey::new(id, Some(slot));
        assert_eq!(m.remembered(&k), Some(0));
        m.remember(&k, 4, false);
        m.remember(&k, 2, false);
        assert_eq!(m.remembered(&k), Some(4));
    }
}
