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

/// The account of a version-2 keyring slot: `<vault id hex>:<recipient>`.
/// A fresh identity has a new recipient, so it never takes the account of
/// an entry another copy of the file still uses.
pub fn keyring_account_v2(vault_id: &VaultId, recipient: &str) -> String {
    format!("{}:{recipient}", vault_id.to_hex())
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
    /// Every account under [`KEYRING_SERVICE`] (names only: no secret is
    /// read, no collection unlocked), for `vault doctor`.
    fn accounts(&self) -> Result<Vec<String>, KeyringError>;
    /// Whether a new entry could be stored now without a prompt (for the
    /// Secret Service: a default collection exists and is unlocked).
    fn ready(&self) -> Result<(), KeyringError> {
        Ok(())
    }
}

/// An in-memory [`KeyStore`], for tests and for the library's own examples.
#[derive(Default)]
pub struct MemoryKeyStore(Mutex<HashMap<String, Key>>);

impl MemoryKeyStore {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Key>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl KeyStore for MemoryKeyStore {
    fn get(&self, account: &str) -> Result<Key, KeyringError> {
        self.with(|m| m.get(account).cloned().ok_or(KeyringError::NoEntry))
    }
    fn create(&self, account: &str, key: &Key) -> Result<(), KeyringError> {
        self.with(|m| {
            if m.contains_key(account) {
                return Err(KeyringError::EntryExists);
            }
            m.insert(account.to_string(), key.clone());
            Ok(())
        })
    }
    fn delete(&self, account: &str) -> Result<(), KeyringError> {
        self.with(|m| m.remove(account).map(drop).ok_or(KeyringError::NoEntry))
    }
    fn accounts(&self) -> Result<Vec<String>, KeyringError> {
        self.with(|m| Ok(m.keys().cloned().collect()))
    }
}

#[cfg(all(target_os = "linux", feature = "keyring"))]
pub use secret_service::SecretServiceStore;

#[cfg(all(target_os = "linux", feature = "keyring"))]
mod secret_service {
    //! The Secret Service (gnome-keyring, KeePassXC) over D-Bus, through the
    //! `secret-service` crate (pure Rust, zbus), the crate keyring-rs's own
    //! Linux store is built on. Items carry the same attributes and label as
    //! keyring-rs's store (`service`, `username`; `keyring:<account>@vault`),
    //! so entries made by either are found by both.
    //!
    //! The session is opened in `plain` mode, not `dh-ietf1024-sha256-aes128-cbc-pkcs7`:
    //! the transport is the user's own session bus, where any process of the
    //! same user can ask the service for the secret (or become a bus monitor)
    //! anyway, so the Diffie-Hellman exchange protects nothing in our threat
    //! model, and the crate computes it with a textbook modular
    //! exponentiation that cost 5-6 ms of CPU per command (benches/notes.md).

    use std::collections::HashMap;
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use secret_service::blocking::{Item, SecretService};
    use secret_service::{EncryptionType, Error as SsError};
    use zeroize::Zeroizing;

    use super::{KeyStore, KeyringError, KEYRING_SERVICE};
    use crate::secret::Key;

    type Shared = Arc<Mutex<SecretService<'static>>>;

    /// The Secret Service on the session bus, with a time bound per call.
    pub struct SecretServiceStore {
        ss: Shared,
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

    /// Turns the crate's errors into reasons a user can act on: no bus is
    /// `Unavailable` (or a connection I/O error), no service answering is a
    /// `ServiceUnknown`/`NameHasNoOwner` method error, a locked item or
    /// collection is `Locked`, a dismissed prompt `Prompt`.
    fn classify(e: SsError) -> KeyringError {
        let text = format!("{e:?}");
        match e {
            SsError::Locked | SsError::Prompt | SsError::PromptDisconnected => KeyringError::Locked,
            _ if text.contains("ServiceUnknown") || text.contains("NameHasNoOwner") => {
                KeyringError::NoService
            }
            SsError::Unavailable => KeyringError::NoSessionBus,
            SsError::Zbus(_) if text.starts_with("Zbus(InputOutput(") => KeyringError::NoSessionBus,
            _ => KeyringError::Platform(text),
        }
    }

    fn attributes(account: &str) -> HashMap<&str, &str> {
        HashMap::from([("service", KEYRING_SERVICE), ("username", account)])
    }

    /// The one item for `account`, unlocked: `NoEntry` if there is none;
    /// several (never made by vault) is an error, not a guess.
    fn find<'a>(ss: &'a SecretService<'a>, account: &str) -> Result<Item<'a>, KeyringError> {
        let found = ss.search_items(attributes(account)).map_err(classify)?;
        let (unlocked, locked) = (found.unlocked.len(), found.locked.len());
        match (unlocked, locked) {
            (0, 0) => Err(KeyringError::NoEntry),
            (1, 0) => Ok(found.unlocked.into_iter().next().expect("one item")),
            (0, 1) => {
                let item = found.locked.into_iter().next().expect("one item");
                // May show the desktop's unlock prompt; bounded by the caller.
                ss.unlock_all(&[&item]).map_err(classify)?;
                Ok(item)
            }
            _ => Err(KeyringError::Platform(format!(
                "{} keyring entries match service {KEYRING_SERVICE:?} and account {account:?}; remove the extra ones (e.g. with seahorse)",
                unlocked + locked
            ))),
        }
    }

    fn default_collection<'a>(
        ss: &'a SecretService<'a>,
    ) -> Result<secret_service::blocking::Collection<'a>, KeyringError> {
        ss.get_default_collection().map_err(|e| match e {
            SsError::NoResult => KeyringError::Platform(
                "the Secret Service has no default collection to keep keys in".into(),
            ),
            e => classify(e),
        })
    }

    impl SecretServiceStore {
        /// Connects to the Secret Service, waiting at most `timeout`.
        pub fn connect(timeout: Duration) -> Result<SecretServiceStore, KeyringError> {
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none_or(|v| v.is_empty()) {
                return Err(KeyringError::NoSessionBus);
            }
            let ss = bounded(timeout, || {
                SecretService::connect(EncryptionType::Plain)
                    .map(|ss| Arc::new(Mutex::new(ss)))
                    .map_err(classify)
            })?;
            Ok(SecretServiceStore { ss, timeout })
        }

        /// Runs `f` with the service, on a helper thread under the time bound.
        fn call<T: Send + 'static>(
            &self,
            f: impl FnOnce(&SecretService<'static>) -> Result<T, KeyringError> + Send + 'static,
        ) -> Result<T, KeyringError> {
            let ss = Arc::clone(&self.ss);
            bounded(self.timeout, move || {
                let guard = ss.lock().unwrap_or_else(|e| e.into_inner());
                f(&guard)
            })
        }
    }

    impl KeyStore for SecretServiceStore {
        fn get(&self, account: &str) -> Result<Key, KeyringError> {
            let account = account.to_string();
            let bytes = self.call(move |ss| {
                let item = find(ss, &account)?;
                item.get_secret().map(Zeroizing::new).map_err(classify)
            })?;
            Key::from_slice(&bytes).ok_or(KeyringError::BadEntry)
        }

        fn create(&self, account: &str, key: &Key) -> Result<(), KeyringError> {
            let account = account.to_string();
            let key = key.clone();
            self.call(move |ss| {
                match find(ss, &account) {
                    Err(KeyringError::NoEntry) => {}
                    Ok(_) => return Err(KeyringError::EntryExists),
                    Err(e) => return Err(e),
                }
                let collection = default_collection(ss)?;
                if collection.is_locked().map_err(classify)? {
                    collection.unlock().map_err(classify)?;
                }
                let label = format!("keyring:{account}@{KEYRING_SERVICE}");
                collection
                    .create_item(
                        &label,
                        attributes(&account),
                        key.expose(),
                        false, // never replace an entry
                        "application/octet-stream",
                    )
                    .map(drop)
                    .map_err(classify)
            })
        }

        fn delete(&self, account: &str) -> Result<(), KeyringError> {
            let account = account.to_string();
            self.call(move |ss| find(ss, &account)?.delete().map_err(classify))
        }

        fn accounts(&self) -> Result<Vec<String>, KeyringError> {
            self.call(|ss| {
                let found = ss
                    .search_items(HashMap::from([("service", KEYRING_SERVICE)]))
                    .map_err(classify)?;
                let mut out = Vec::new();
                // Attributes are readable on locked items too: nothing is
                // unlocked and no secret is read.
                for item in found.unlocked.iter().chain(found.locked.iter()) {
                    if let Some(a) = item.get_attributes().map_err(classify)?.remove("username") {
                        out.push(a);
                    }
                }
                out.sort();
                out.dedup();
                Ok(out)
            })
        }

        fn ready(&self) -> Result<(), KeyringError> {
            self.call(|ss| match default_collection(ss)?.is_locked() {
                Ok(false) => Ok(()),
                Ok(true) => Err(KeyringError::Locked),
                Err(e) => Err(classify(e)),
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
