//! The only types that hold key material, passphrases and secret values.
//!
//! Every one of them zeroizes its memory on drop and prints as `[redacted]`
//! in `Debug`; none implements `Display`. Reading the bytes goes through
//! `expose()`, so every place a secret leaves these types can be found with
//! `grep -n expose`. Their buffers, and the vault's plaintext buffers, are
//! announced to a memory-locking hook ([`set_memory_lock`]) when made.

use std::fmt;
use std::sync::OnceLock;
use zeroize::{Zeroize, Zeroizing};

static MEMORY_LOCK: OnceLock<fn(*const u8, usize)> = OnceLock::new();

/// Installs the function called with the address and length of every new
/// buffer meant for key material or secret values, before anything secret
/// is put in it, so the binary can lock those pages in memory (`mlock`);
/// the library itself has no unsafe code. The first call wins.
pub fn set_memory_lock(lock: fn(*const u8, usize)) {
    let _ = MEMORY_LOCK.set(lock);
}

/// Announces `buf`'s whole allocation (capacity, not just length) to the
/// memory-locking hook, if one is installed.
#[allow(clippy::ptr_arg)] // the capacity, not the length, is what gets locked
pub(crate) fn lock_memory(buf: &Vec<u8>) {
    if buf.capacity() > 0 {
        if let Some(lock) = MEMORY_LOCK.get() {
            lock(buf.as_ptr(), buf.capacity());
        }
    }
}

/// A 256-bit key (data key or key-encryption key), boxed so that moving it
/// never leaves a copy behind on the stack.
pub struct Key(Box<Zeroizing<[u8; 32]>>);

impl Key {
    /// Length of every key in bytes.
    pub const LEN: usize = 32;

    /// A fresh key from the operating system's random source.
    pub fn random() -> Key {
        let mut key = Key::zeroed();
        crate::crypto::fill_random(&mut key.0[..]);
        key
    }

    /// An all-zero key, to be filled in place (e.g. by a KDF or an unwrap).
    pub fn zeroed() -> Key {
        let key = Key(Box::new(Zeroizing::new([0u8; 32])));
        if let Some(lock) = MEMORY_LOCK.get() {
            lock(key.0.as_ptr(), Key::LEN);
        }
        key
    }

    /// Copies a key out of a slice; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Key> {
        if bytes.len() != Self::LEN {
            return None;
        }
        let mut key = Key::zeroed();
        key.0.copy_from_slice(bytes);
        Some(key)
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key bytes, for filling in place.
    pub fn expose_mut(&mut self) -> &mut [u8; 32] {
        &mut self.0
    }
}

impl Clone for Key {
    fn clone(&self) -> Key {
        let mut key = Key::zeroed();
        key.0.copy_from_slice(&self.0[..]);
        key
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// Secret bytes of any length: a passphrase or a secret's value.
#[derive(Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl Clone for SecretBytes {
    fn clone(&self) -> SecretBytes {
        SecretBytes::copy_from(self.expose())
    }
}

impl SecretBytes {
    /// Takes ownership of `bytes`; they are wiped when this value drops.
    /// Give it an empty buffer with the capacity needed and fill it through
    /// [`SecretBytes::expose_vec_mut`], so the memory is announced to the
    /// locking hook before the secret is in it.
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        lock_memory(&bytes);
        SecretBytes(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into an exactly sized buffer (no spare capacity that a
    /// later growth could leave behind unwiped).
    pub fn copy_from(bytes: &[u8]) -> SecretBytes {
        let mut s = SecretBytes::new(Vec::with_capacity(bytes.len()));
        s.0.extend_from_slice(bytes);
        s
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The underlying buffer, for filling in place (reads of a passphrase).
    pub fn expose_vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes one trailing `\n` or `\r\n`, as for a passphrase read from a
    /// file, a descriptor or standard input. Nothing else is normalised.
    pub fn strip_one_newline(&mut self) {
        let v = &mut self.0;
        if v.last() == Some(&b'\n') {
            v.pop();
            if v.last() == Some(&b'\r') {
                v.pop();
            }
        }
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([redacted; {} bytes])", self.0.len())
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // Zeroizing already wipes on drop; this is explicit for readers.
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let k = Key::from_slice(&[0x41; 32]).unwrap();
        let s = SecretBytes::copy_from(b"hunter2-secret");
        assert_eq!(format!("{k:?}"), "Key([redacted])");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn strip_one_newline_only() {
        for (input, want) in [
            (&b"pass\n"[..], &b"pass"[..]),
            (b"pass\r\n", b"pass"),
            (b"pass\n\n", b"pass\n"),
            (b"pass\r", b"pass\r"),
            (b" pass ", b" pass "),
            (b"", b""),
        ] {
            let mut s = SecretBytes::copy_from(input);
            s.strip_one_newline();
            assert_eq!(s.expose(), want);
        }
    }

    #[test]
    fn key_from_slice_checks_length() {
        assert!(Key::from_slice(&[0; 31]).is_none());
        assert!(Key::from_slice(&[0; 33]).is_none());
        assert_eq!(Key::from_slice(&[7; 32]).unwrap().expose(), &[7; 32]);
    }
}
