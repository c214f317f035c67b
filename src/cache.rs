//! The cached unlock: a vault's data key kept in the Linux kernel keyring
//! (the user keyring `@u`, readable only by this user) with the kernel's own
//! expiry, so `get`/`exec`/... skip the Argon2 work until it expires or
//! `vault lock` removes it. Like ssh-agent, any process of the same user can
//! use it while it lasts (SECURITY.md).
//!
//! Entry: type `user`, description `vault:body:<vault id hex>`, payload the
//! 32-byte body key (never the master key: a reader of the cache can read
//! and rewrite the body until the next write with the master key draws a
//! new body key, and can never change a slot) followed by the expiry as u64 big-endian Unix seconds
//! (for display; the kernel's timeout is what enforces it). Elsewhere than
//! Linux every function reports that caching is not available.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use crate::format::{hex, unhex, VaultId, COMMITMENT_LEN};
use crate::secret::Key;
use crate::store;

/// Longest cache lifetime, seconds (24 hours).
pub const MAX_TIMEOUT_SECS: u64 = 24 * 3600;

/// A cached body key and when it expires (Unix seconds).
#[derive(Debug)]
pub struct Cached {
    /// The body key.
    pub key: Key,
    /// Unix seconds.
    pub expires_at: u64,
}

/// The description of a vault's entry.
pub fn description(id: &VaultId) -> String {
    format!("vault:body:{}", id.to_hex())
}

/// The description of a version-1 entry (the long-term data key), never
/// used again and removed by [`remove`].
pub fn legacy_description(id: &VaultId) -> String {
    format!("vault:dek:{}", id.to_hex())
}

#[cfg(target_os = "linux")]
mod imp {
    use linux_keyutils::{KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};
    use zeroize::Zeroizing;

    use super::{description, legacy_description, Cached, MAX_TIMEOUT_SECS};
    use crate::format::VaultId;
    use crate::secret::Key;

    fn keyring() -> Result<KeyRing, String> {
        KeyRing::from_special_id(KeyRingIdentifier::User, true)
            .map_err(|e| format!("the kernel user keyring is not available: {e:?}"))
    }

    /// Caches `dek` for `timeout_secs` (1 ..= 24 h); returns the expiry.
    pub fn put(id: &VaultId, dek: &Key, timeout_secs: u64) -> Result<u64, String> {
        if timeout_secs == 0 || timeout_secs > MAX_TIMEOUT_SECS {
            return Err("the timeout must be between 1 second and 24 hours".into());
        }
        let ring = keyring()?;
        // A version-1 entry (the long-term data key) is never used again.
        let _ = remove_described(&ring, &legacy_description(id));
        // Built in this process's own keyring first (it dies with the
        // process), given its permissions and expiry, and only then linked
        // into the user keyring: a crash at any point can never leave a key
        // cached without its timeout. (Updating a user key's payload resets
        // its expiry, so the payload goes in at creation.)
        let staging = KeyRing::from_special_id(KeyRingIdentifier::Process, true)
            .map_err(|e| format!("the kernel process keyring is not available: {e:?}"))?;
        let expires_at = crate::platform::unix_now() + timeout_secs;
        let mut payload = Zeroizing::new([0u8; 40]);
        payload[..32].copy_from_slice(dek.expose());
        payload[32..].copy_from_slice(&expires_at.to_be_bytes());
        let key = staging
            .add_key(&description(id), &*payload)
            .map_err(|e| format!("adding the key to the kernel keyring: {e:?}"))?;
        let perms = KeyPermissionsBuilder::builder()
            .posessor(Permission::ALL)
            .user(Permission::VIEW | Permission::READ | Permission::SEARCH)
            .build();
        let setup = key
            .set_timeout(timeout_secs as usize)
            .and_then(|_| key.set_perms(perms))
            .and_then(|_| ring.link_key(key))
            .and_then(|_| staging.unlink_key(key));
        if let Err(e) = setup {
            let _ = key.invalidate();
            return Err(format!("caching the key in the kernel keyring: {e:?}"));
        }
        Ok(expires_at)
    }

    /// The cached key of vault `id`, if there is a live one.
    pub fn get(id: &VaultId) -> Option<Cached> {
        let key = keyring().ok()?.search(&description(id)).ok()?;
        let mut buf = Zeroizing::new([0u8; 41]);
        let n = key.read(&mut *buf).ok()?;
        if n != 40 {
            return None;
        }
        let key = Key::from_slice(&buf[..32])?;
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&buf[32..40]);
        Some(Cached {
            key,
            expires_at: u64::from_be_bytes(exp),
        })
    }

    /// Removes the cached key of vault `id` (and a version-1 entry of it,
    /// if one is left); whether there was one.
    pub fn remove(id: &VaultId) -> Result<bool, String> {
        let ring = keyring()?;
        let legacy = remove_described(&ring, &legacy_description(id))?;
        Ok(remove_described(&ring, &description(id))? || legacy)
    }

    fn remove_described(ring: &KeyRing, description: &str) -> Result<bool, String> {
        match ring.search(description) {
            Ok(key) => {
                key.invalidate()
                    .map_err(|e| format!("removing the cached key: {e:?}"))?;
                Ok(true)
            }
            Err(KeyError::KeyDoesNotExist)
            | Err(KeyError::KeyExpired)
            | Err(KeyError::KeyRevoked) => Ok(false),
            Err(e) => Err(format!("searching the kernel keyring: {e:?}")),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Cached;
    use crate::format::VaultId;
    use crate::secret::Key;

    const UNAVAILABLE: &str = "the cached unlock is available on Linux only (kernel keyring)";

    pub fn put(_: &VaultId, _: &Key, _: u64) -> Result<u64, String> {
        Err(UNAVAILABLE.into())
    }
    pub fn get(_: &VaultId) -> Option<Cached> {
        None
    }
    pub fn remove(_: &VaultId) -> Result<bool, String> {
        Err(UNAVAILABLE.into())
    }
}

pub use imp::{get, put, remove};

/// The body keys this machine has put in the cache before, remembered by
/// their commitments (`keyblock::body_commitment`: in the file's header
/// anyway, so nothing here is secret), one small text file per vault id
/// under `$XDG_STATE_HOME/vault/cached/`, beside the rollback memory.
/// `vault unlock` asks it: a body key cached before may have been read
/// from the kernel keyring by another process of this user, so it is not
/// cached again; a fresh one is drawn first. Best effort, like the rollback
/// memory: where the state directory cannot be written nothing is
/// remembered.
#[derive(Debug, Clone)]
pub struct CachedBefore {
    dir: Option<PathBuf>,
}

/// The first line of a record.
const CACHED_MAGIC: &str = "vault cached body keys v1";
/// How many commitments a vault's record keeps (the oldest are forgotten
/// first; only the current body key's matters).
pub const MAX_REMEMBERED: usize = 16;

impl CachedBefore {
    /// `$XDG_STATE_HOME/vault/cached` (or `~/.local/state/...`); nothing
    /// remembered where no home can be found.
    pub fn default_location() -> CachedBefore {
        CachedBefore {
            dir: crate::platform::xdg_dir("XDG_STATE_HOME", ".local/state")
                .map(|d| d.join("vault").join("cached")),
        }
    }

    /// A record in `dir` (tests).
    pub fn at(dir: PathBuf) -> CachedBefore {
        CachedBefore { dir: Some(dir) }
    }

    fn file(&self, id: &VaultId) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(id.to_hex()))
    }

    fn read(&self, id: &VaultId) -> Vec<[u8; COMMITMENT_LEN]> {
        let Some(f) = self.file(id).and_then(|p| std::fs::File::open(p).ok()) else {
            return Vec::new();
        };
        let mut text = String::new();
        // Bounded: a record is the magic line and MAX_REMEMBERED lines.
        if f.take(4096).read_to_string(&mut text).is_err() {
            return Vec::new();
        }
        let mut lines = text.lines();
        if lines.next() != Some(CACHED_MAGIC) {
            return Vec::new();
        }
        lines.filter_map(unhex::<COMMITMENT_LEN>).collect()
    }

    /// Whether the body key committed to by `commitment` was cached before
    /// on this machine.
    pub fn contains(&self, id: &VaultId, commitment: &[u8; COMMITMENT_LEN]) -> bool {
        self.read(id).iter().any(|c| c == commitment)
    }

    /// Remembers that the body key committed to by `commitment` went into
    /// the cache. Never an error.
    pub fn remember(&self, id: &VaultId, commitment: &[u8; COMMITMENT_LEN]) {
        let (Some(dir), Some(path)) = (self.dir.as_ref(), self.file(id)) else {
            return;
        };
        if store::create_dir_private(dir).is_err() {
            return;
        }
        let Ok(lock) = store::lock(&path, Duration::from_secs(5), &mut || {}) else {
            return;
        };
        let mut all = self.read(id);
        all.retain(|c| c != commitment);
        all.push(*commitment);
        let skip = all.len().saturating_sub(MAX_REMEMBERED);
        let mut text = format!("{CACHED_MAGIC}\n");
        for c in &all[skip..] {
            text.push_str(&hex(c));
            text.push('\n');
        }
        let _ = store::write_atomic(&path, text.as_bytes(), &lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn put_get_remove_and_bounds() {
        let id = VaultId([0x5a; 16]);
        let dek = Key::random();
        assert!(put(&id, &dek, 0).is_err());
        assert!(put(&id, &dek, MAX_TIMEOUT_SECS + 1).is_err());
        let exp = put(&id, &dek, 60).expect("kernel keyring usable in tests");
        let got = get(&id).expect("cached");
        assert_eq!(got.key.expose(), dek.expose());
        assert_eq!(got.expires_at, exp);
        assert!(remove(&id).unwrap());
        assert!(get(&id).is_none());
        assert!(!remove(&id).unwrap());
    }

    #[test]
    fn cached_before_remembers_commitments_per_vault_the_last_few() {
        let dir = tempfile::tempdir().unwrap();
        let mem = CachedBefore::at(dir.path().join("cached"));
        let (a, b) = (VaultId([1; 16]), VaultId([2; 16]));
        assert!(!mem.contains(&a, &[7; 32]));
        mem.remember(&a, &[7; 32]);
        assert!(mem.contains(&a, &[7; 32]));
        assert!(!mem.contains(&b, &[7; 32]), "per vault id");
        for i in 0..MAX_REMEMBERED as u8 {
            mem.remember(&a, &[100 + i; 32]);
        }
        assert!(!mem.contains(&a, &[7; 32]), "the oldest forgotten");
        assert!(mem.contains(&a, &[100; 32]));
        // Nowhere to remember: nothing, and no error.
        let none = CachedBefore { dir: None };
        none.remember(&a, &[7; 32]);
        assert!(!none.contains(&a, &[7; 32]));
    }
}
