//! The platform keyring behind a small trait: get, create (never
//! overwrite) and delete one 32-byte key-encryption key per keyring slot.
//!
//! Service `vault`, account `<vault id hex>:<slot id hex>` (docs/FORMAT.md).
//! Every call to the platform store runs under a time bound, so a locked
//! collection or a prompt nobody can answer ends in an error, not a hang.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use crate::format::{SlotId, VaultId};
use crate::secret::Key;

/// The keyring service name every vault key is stored under.
pub const KEYRING_SERVICE: &str = "vault";

/// The keyring account of a slot.
pub fn keyring_account(vault_id: &VaultId, slot: SlotId) -> String {
    format!("{}:{}", vault_id.to_hex(), slot.to_hex())
}

/// Why the keyring could not be used, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringError {
    /// No D-Bus session bus to talk to.
    NoSessionBus,
    /// A session bus, but no Secret Service on it.
    NoService,
    /// The collection is locked and unlocking it needs a prompt.
    Locked,
    /// The store did not answer within the time bound.
    Timeout(u64),
    /// There is no entry for this slot.
    NoEntry,
    /// `create` found an entry already there.
    EntryExists,
    /// The entry is not a 32-byte key.
    BadEntry,
    /// The keyring is not available on this platform or was disabled.
    Unavailable(String),
    /// Anything else the platform reported.
    Platform(String),
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyringError::NoSessionBus => f.write_str("no D-Bus session bus here (DBUS_SESSION_BUS_ADDRESS is unset or unreachable), so no Secret Service"),
            KeyringError::NoService => f.write_str("no Secret Service on the session bus (is gnome-keyring or KeePassXC running?)"),
            KeyringError::Locked => f.write_str("the keyring collection is locked (unlock it, e.g. by logging in to the desktop)"),
            KeyringError::Timeout(s) => write!(f, "the keyring did not answer within {s} s (a locked collection waiting for a prompt?)"),
            KeyringError::NoEntry => f.write_str("the keyring has no entry for this vault's keyring slot (was it created on another machine or account?)"),
            KeyringError::EntryExists => f.write_str("the keyring already has an entry under this slot's account; refusing to overwrite it"),
            KeyringError::BadEntry => f.write_str("the keyring entry for this slot is not a vault key"),
            KeyringError::Unavailable(why) => f.write_str(why),
            KeyringError::Platform(why) => write!(f, "the keyring failed: {why}"),
        }
    }
}

/// A store of 32-byte keys by account, under service [`KEYRING_SERVICE`].
pub trait KeyStore {
    /// The key under `account`; [`KeyringError::NoEntry`] when there is none.
    fn get(&self, account: &str) -> Result<Key, KeyringError>;
    /// Stores a new key; [`KeyringError::EntryExists`] if the account is taken.
    fn create(&self, account: &str, key: &Key) -> Result<(), KeyringError>;
    /// Deletes the entry.
    fn delete(&self, account: &str) -> Result<(), KeyringError>;
}

/// An in-memory [`KeyStore`], for tests and for the library's own examples.
#[derive(Default)]
pub struct MemoryKeyStore(Mutex<HashMap<String, Key>>);

impl KeyStore for MemoryKeyStore {
    fn get(&self, account: &str) -> Result<Key, KeyringError> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(account).cloned().ok_or(KeyringError::NoEntry)
    }
    fn create(&self, account: &str, key: &Key) -> Result<(), KeyringError> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.contains_key(account) {
            return Err(KeyringError::EntryExists);
        }
        m.insert(account.to_string(), key.clone());
        Ok(())
    }
    fn delete(&self, account: &str) -> Result<(), KeyringError> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(account).map(drop).ok_or(KeyringError::NoEntry)
    }
}

#[cfg(target_os = "linux")]
pub use secret_service::SecretServiceStore;

#[cfg(target_os = "linux")]
mod secret_service {
    //! The Secret Service (gnome-keyring, KeePassXC) through
    //! `zbus-secret-service-keyring-store`, pure Rust over D-Bus.

    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    use keyring_core::{CredentialStore, Entry, Error as KError};

    use super::{KeyStore, KeyringError, KEYRING_SERVICE};
    use crate::secret::Key;

    /// The Secret Service on the session bus, with a time bound per call.
    pub struct SecretServiceStore {
        store: Arc<CredentialStore>,
        timeout: Duration,
    }

    /// Runs `f` on a helper thread and waits at most `timeout` for it. A call
    /// that does not come back in time is abandoned (its thread ends with the
    /// process).
    fn bounded<T: Send + 'static>(
        timeout: Duration,
        f: impl FnOnce() -> Result<T, KeyringError> + Send + 'static,
    ) -> Result<T, KeyringError> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("keyring".into())
            .spawn(move || {
                let _ = tx.send(f());
            })
            .map_err(|e| KeyringError::Platform(e.to_string()))?;
        rx.recv_timeout(timeout)
            .unwrap_or(Err(KeyringError::Timeout(timeout.as_secs().max(1))))
    }

    /// Turns the store's errors into reasons a user can act on. The shapes
    /// were read off zbus-secret-service-keyring-store 1.0 here: no bus is
    /// `PlatformFailure(Zbus(Connection(..)))` (or `Unavailable` for a bad
    /// address), no service is a `ServiceUnknown` method error, a locked
    /// collection is `NoStorageAccess(Prompt)`.
    fn classify(e: KError) -> KeyringError {
        let text = format!("{e:?}");
        match e {
            KError::NoEntry => KeyringError::NoEntry,
            KError::NoStorageAccess(_) if text.contains("Prompt") => KeyringError::Locked,
            KError::NoStorageAccess(_) => KeyringError::Platform(
                "the Secret Service has no usable default collection to keep keys in".into(),
            ),
            _ if text.contains("ServiceUnknown") || text.contains("NameHasNoOwner") => {
                KeyringError::NoService
            }
            _ if text.contains("Connection(") || text.contains("Unavailable") => {
                KeyringError::NoSessionBus
            }
            _ => KeyringError::Platform(text),
        }
    }

    impl SecretServiceStore {
        /// Connects to the Secret Service, waiting at most `timeout`.
        pub fn connect(timeout: Duration) -> Result<SecretServiceStore, KeyringError> {
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none_or(|v| v.is_empty()) {
                return Err(KeyringError::NoSessionBus);
            }
            let store = bounded(timeout, || {
                zbus_secret_service_keyring_store::Store::new()
                    .map(|s| s as Arc<CredentialStore>)
                    .map_err(classify)
            })?;
            Ok(SecretServiceStore { store, timeout })
        }

        fn entry(&self, account: &str) -> Result<Entry, KeyringError> {
            Entry::new_in_store(&self.store, KEYRING_SERVICE, account).map_err(classify)
        }
    }

    impl KeyStore for SecretServiceStore {
        fn get(&self, account: &str) -> Result<Key, KeyringError> {
            let entry = self.entry(account)?;
            let bytes = bounded(self.timeout, move || {
                entry
                    .get_secret()
                    .map(zeroize::Zeroizing::new)
                    .map_err(classify)
            })?;
            Key::from_slice(&bytes).ok_or(KeyringError::BadEntry)
        }

        fn create(&self, account: &str, key: &Key) -> Result<(), KeyringError> {
            match self.get(account) {
                Err(KeyringError::NoEntry) => {}
                Ok(_) | Err(KeyringError::BadEntry) => return Err(KeyringError::EntryExists),
                Err(e) => return Err(e),
            }
            let entry = self.entry(account)?;
            let key = key.clone();
            bounded(self.timeout, move || {
                entry.set_secret(key.expose()).map_err(classify)
            })
        }

        fn delete(&self, account: &str) -> Result<(), KeyringError> {
            let entry = self.entry(account)?;
            bounded(self.timeout, move || {
                entry.delete_credential().map_err(classify)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_never_overwrites() {
        let s = MemoryKeyStore::default();
        let k = Key::random();
        s.create("a", &k).unwrap();
        assert_eq!(
            s.create("a", &Key::random()),
            Err(KeyringError::EntryExists)
        );
        assert_eq!(s.get("a").unwrap().expose(), k.expose());
        s.delete("a").unwrap();
        assert_eq!(s.get("a").unwrap_err(), KeyringError::NoEntry);
    }

    #[test]
    fn account_is_vault_id_and_slot_id() {
        let a = keyring_account(&VaultId([0xab; 16]), SlotId([1, 2, 3, 4]));
        assert_eq!(a, format!("{}:01020304", "ab".repeat(16)));
    }
}
