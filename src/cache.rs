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

use crate::format::VaultId;
use crate::secret::Key;

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
}
