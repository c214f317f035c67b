//! The only types that hold key material, passphrases and secret values.
//!
//! Every one of them zeroizes its memory on drop and prints as `[redacted]`
//! in `Debug`; none implements `Display` or `PartialEq` (compare with
//! `ct_eq`, in constant time). Reading the bytes goes through `expose()`,
//! so every place a secret leaves these types can be found with
//! `grep -n expose`. Their memory cannot move: a [`SecretBuf`] has a
//! capacity fixed when it is made and refuses to grow past it, and a [`Key`]
//! is filled in place ([`Key::try_init_with`]), so no reallocation leaves an
//! unwiped copy behind. Each buffer is announced to the memory-locking hooks
//! ([`set_memory_lock`]) when made and again, after it is wiped, when it
//! drops.

use std::convert::Infallible;
use std::fmt;
use std::io::{self, Read};
use std::sync::OnceLock;

use ctutils::{Choice, CtEq};
use zeroize::Zeroize;

/// The binary's memory-locking pair (`mlock`/`munlock`): the library itself
/// has no unsafe code.
#[derive(Clone, Copy)]
struct MemoryHooks {
    lock: fn(*const u8, usize),
    unlock: fn(*const u8, usize),
}

static MEMORY_HOOKS: OnceLock<MemoryHooks> = OnceLock::new();

/// Installs the functions called with the address and length of every
/// buffer meant for key material or secret values: `lock` when it is made,
/// before anything secret is put in it, and `unlock` with the same address
/// and length when it drops, after it is wiped and before it is freed. Two
/// buffers can share a page, so `unlock` must only unlock a page no other
/// locked buffer still uses. The first call wins.
pub fn set_memory_lock(lock: fn(*const u8, usize), unlock: fn(*const u8, usize)) {
    let _ = MEMORY_HOOKS.set(MemoryHooks { lock, unlock });
}

/// One allocation announced to the lock hook; the unlock hook gets the
/// same address and length when this drops. Declared before the buffer it
/// guards in each type, so it drops after the owner's `Drop` wiped the
/// buffer and before the buffer is freed.
struct MemoryLock {
    // An address, not a pointer: the guard never reads the memory, and the
    // types holding it stay `Send`.
    addr: usize,
    len: usize,
    // Whether the lock hook ran (the hooks, once set, never change).
    locked: bool,
}

impl MemoryLock {
    fn new(ptr: *const u8, len: usize) -> MemoryLock {
        let hooks = MEMORY_HOOKS.get().filter(|_| len > 0);
        if let Some(h) = hooks {
            (h.lock)(ptr, len);
        }
        MemoryLock {
            addr: ptr as usize,
            len,
            locked: hooks.is_some(),
        }
    }
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        if let (true, Some(h)) = (self.locked, MEMORY_HOOKS.get()) {
            (h.unlock)(self.addr as *const u8, self.len);
        }
    }
}

/// Announces `buf`'s whole allocation (capacity, not just length) to the
/// lock hook for good: for the few plaintext buffers whose ownership moves
/// on as a plain `Vec` (the vault body, a sealed file, a rendered
/// template), which are zeroized by their owner but never unlocked. New
/// code holds secrets in a [`SecretBuf`] instead.
#[allow(clippy::ptr_arg)] // the capacity, not the length, is what gets locked
pub(crate) fn lock_memory(buf: &Vec<u8>) {
    lock_memory_from(buf, 0);
}

/// [`lock_memory`] of `buf`'s allocation from byte `from` on (the bytes
/// before it are public: a file's header before its decrypted body).
pub(crate) fn lock_memory_from(buf: &Vec<u8>, from: usize) {
    let from = from.min(buf.capacity());
    std::mem::forget(MemoryLock::new(
        buf.as_ptr().wrapping_add(from),
        buf.capacity() - from,
    ));
}

/// A buffer whose bytes from `secret_from` on are secret and the bytes
/// before public: a vault file decrypted in place, its header (the body's
/// associated data) before the plaintext. When it drops only the secret
/// bytes and the spare capacity are wiped: a header with 64 recipient
/// slots is 27 KB, which a whole-buffer wipe spent 40 k instructions on
/// (callgrind, an identity-mode `vault get`), ten times the body's.
#[derive(Default)]
pub(crate) struct TailSecret {
    bytes: Vec<u8>,
    secret_from: usize,
}

impl std::ops::Deref for TailSecret {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl TailSecret {
    /// Takes `buf`'s bytes (leaving it empty); `buf[..secret_from]` must be
    /// public.
    pub(crate) fn new(mut buf: zeroize::Zeroizing<Vec<u8>>, secret_from: usize) -> TailSecret {
        TailSecret {
            bytes: std::mem::take(&mut *buf),
            secret_from,
        }
    }

    /// Where the secret bytes start.
    #[cfg(test)]
    pub(crate) fn secret_from(&self) -> usize {
        self.secret_from
    }

    fn wipe(&mut self) {
        let from = self.secret_from.min(self.bytes.len());
        self.bytes.spare_capacity_mut().zeroize();
        self.bytes[from..].zeroize();
    }
}

impl Drop for TailSecret {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// Fills `buf` from the operating system's random source (`getrandom`):
/// the one source of keys, salts, nonces and ids.
pub fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source failed");
}

/// A 256-bit key (data key or key-encryption key), boxed so that moving it
/// never leaves a copy behind on the stack, and only ever filled in place.
pub struct Key {
    // Held for its drop: declared first, so it unlocks after the wipe in
    // `Drop for Key` and before the box is freed.
    _lock: MemoryLock,
    bytes: Box<[u8; 32]>,
}

impl Key {
    /// Length of every key in bytes.
    pub const LEN: usize = 32;

    /// A key filled in place by `init` (a KDF, an unwrap, the random
    /// source), in memory locked before `init` runs. If `init` fails the
    /// buffer is wiped and no key comes out.
    pub fn try_init_with<E>(init: impl FnOnce(&mut [u8; 32]) -> Result<(), E>) -> Result<Key, E> {
        let bytes = Box::new([0u8; 32]);
        let mut key = Key {
            _lock: MemoryLock::new(bytes.as_ptr(), Key::LEN),
            bytes,
        };
        init(&mut key.bytes)?;
        Ok(key)
    }

    /// A fresh key from the operating system's random source.
    pub fn random() -> Key {
        let Ok(key) = Key::try_init_with(|k| {
            fill_random(k);
            Ok::<(), Infallible>(())
        });
        key
    }

    /// Copies a key out of a slice; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Key> {
        let bytes: &[u8; 32] = bytes.try_into().ok()?;
        let Ok(key) = Key::try_init_with(|k| {
            k.copy_from_slice(bytes);
            Ok::<(), Infallible>(())
        });
        Some(key)
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Whether the two keys are equal, compared in constant time.
    pub fn ct_eq(&self, other: &Key) -> bool {
        CtEq::ct_eq(self, other).into()
    }
}

impl CtEq for Key {
    fn ct_eq(&self, other: &Key) -> Choice {
        self.bytes[..].ct_eq(&other.bytes[..])
    }
}

impl Clone for Key {
    fn clone(&self) -> Key {
        let Ok(key) = Key::try_init_with(|k| {
            k.copy_from_slice(&self.bytes[..]);
            Ok::<(), Infallible>(())
        });
        key
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([redacted])")
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.bytes.zeroize();
        // Then `_lock` drops (unlock), then `bytes` (free).
    }
}

/// [`SecretBuf`] is full: the bytes would not fit in its fixed capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityFull;

impl fmt::Display for CapacityFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the secret buffer is full")
    }
}

impl std::error::Error for CapacityFull {}

/// A buffer for secret bytes being read or assembled (a passphrase from a
/// descriptor, a value from standard input, a line to print), rbw's
/// `locked::Vec`: its capacity is fixed when it is made, so it never
/// reallocates and leaves no copy behind; writing past the capacity is an
/// error, not growth. Locked on creation, wiped (whole capacity) and
/// unlocked on drop. Turn it into [`SecretBytes`] when it is complete.
pub struct SecretBuf {
    // Held for its drop (see `Key`).
    _lock: MemoryLock,
    bytes: Vec<u8>,
    capacity: usize,
}

impl SecretBuf {
    /// An empty buffer that can hold exactly `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> SecretBuf {
        SecretBuf::from_vec(Vec::with_capacity(capacity), capacity)
    }

    /// Takes `bytes` as they are, full at `capacity` bytes (at most the
    /// `Vec`'s own capacity, all of which is locked and wiped).
    fn from_vec(bytes: Vec<u8>, capacity: usize) -> SecretBuf {
        debug_assert!(bytes.len() <= capacity && capacity <= bytes.capacity());
        SecretBuf {
            _lock: MemoryLock::new(bytes.as_ptr(), bytes.capacity()),
            bytes,
            capacity,
        }
    }

    /// Appends one byte; [`CapacityFull`] if there is no room.
    pub fn push(&mut self, b: u8) -> Result<(), CapacityFull> {
        self.extend_from_slice(&[b])
    }

    /// Appends all of `bytes`, or nothing and [`CapacityFull`] if they do
    /// not fit.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), CapacityFull> {
        if bytes.len() > self.remaining() {
            return Err(CapacityFull);
        }
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    /// Reads from `reader` until its end or until `limit` more bytes were
    /// read, whichever comes first, retrying on `Interrupted`; returns how
    /// many bytes were read. A `limit` past the room left is
    /// [`CapacityFull`] (as an `io::Error` of kind `InvalidInput`) before
    /// anything is read. To tell "too long" from "just fits", read one byte
    /// more than the longest accepted input and check the length.
    pub fn fill_from_reader(&mut self, mut reader: impl Read, limit: usize) -> io::Result<usize> {
        if limit > self.remaining() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, CapacityFull));
        }
        let start = self.bytes.len();
        // Within capacity (checked above): zero-fills, never reallocates.
        self.bytes.resize(start + limit, 0);
        let mut filled = start;
        let result = loop {
            if filled == start + limit {
                break Ok(());
            }
            match reader.read(&mut self.bytes[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.bytes.truncate(filled);
        result.map(|()| filled - start)
    }

    /// The bytes written so far.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of bytes written.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The fixed capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Room left.
    pub fn remaining(&self) -> usize {
        self.capacity - self.bytes.len()
    }

    /// Whether the two hold the same bytes, compared in constant time (the
    /// lengths are not secret).
    pub fn ct_eq(&self, other: &SecretBuf) -> bool {
        CtEq::ct_eq(self, other).into()
    }
}

impl CtEq for SecretBuf {
    fn ct_eq(&self, other: &SecretBuf) -> Choice {
        self.bytes[..].ct_eq(&other.bytes[..])
    }
}

impl Drop for SecretBuf {
    fn drop(&mut self) {
        // The whole capacity, not just the length.
        self.bytes.zeroize();
        // Then `_lock` drops (unlock), then `bytes` (free).
    }
}

impl fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBuf([redacted; {} bytes])", self.bytes.len())
    }
}

/// Secret bytes of any length: a passphrase or a secret's value, complete
/// (read or assembled in a [`SecretBuf`], then frozen).
pub struct SecretBytes(SecretBuf);

impl Default for SecretBytes {
    fn default() -> SecretBytes {
        SecretBytes(SecretBuf::with_capacity(0))
    }
}

impl Clone for SecretBytes {
    fn clone(&self) -> SecretBytes {
        SecretBytes::copy_from(self.expose())
    }
}

impl From<SecretBuf> for SecretBytes {
    fn from(buf: SecretBuf) -> SecretBytes {
        SecretBytes(buf)
    }
}

impl SecretBytes {
    /// Takes ownership of `bytes` as they are, e.g. a value another crate
    /// hands over as a plain `Vec` (wrap it at once); they are wiped when
    /// this value drops. To read or assemble a secret, use a [`SecretBuf`].
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        let len = bytes.len();
        SecretBytes(SecretBuf::from_vec(bytes, len))
    }

    /// Copies `bytes` into an exactly sized buffer.
    pub fn copy_from(bytes: &[u8]) -> SecretBytes {
        let mut buf = SecretBuf::with_capacity(bytes.len());
        buf.extend_from_slice(bytes).expect("sized to fit");
        SecretBytes(buf)
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the two hold the same bytes, compared in constant time (the
    /// lengths are not secret).
    pub fn ct_eq(&self, other: &SecretBytes) -> bool {
        self.0.ct_eq(&other.0)
    }

    /// Removes one trailing `\n` or `\r\n`, as for a passphrase read from a
    /// file, a descriptor or standard input. Nothing else is normalised.
    pub fn strip_one_newline(&mut self) {
        let v = &mut self.0.bytes;
        if v.last() == Some(&b'\n') {
            v.pop();
            if v.last() == Some(&b'\r') {
                v.pop();
            }
        }
    }
}

impl CtEq for SecretBytes {
    fn ct_eq(&self, other: &SecretBytes) -> Choice {
        CtEq::ct_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([redacted; {} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let k = Key::from_slice(&[0x41; 32]).unwrap();
        let s = SecretBytes::copy_from(b"hunter2-secret");
        let mut b = SecretBuf::with_capacity(8);
        b.extend_from_slice(b"hunter2").unwrap();
        assert_eq!(format!("{k:?}"), "Key([redacted])");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{b:?}").contains("hunter2"));
    }

    #[test]
    fn a_tail_secret_wipes_from_its_start_on() {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(b"public header|secret body");
        let mut t = TailSecret::new(zeroize::Zeroizing::new(buf), 14);
        assert_eq!(&*t, b"public header|secret body");
        t.wipe();
        assert_eq!(&t[..14], b"public header|");
        assert!(t[14..].iter().all(|&b| b == 0));
        // A start beyond the end wipes nothing and does not panic.
        let mut t = TailSecret::new(zeroize::Zeroizing::new(b"abc".to_vec()), 9);
        t.wipe();
        assert_eq!(&*t, b"abc");
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

    #[test]
    fn buffer_capacity_never_grows() {
        let mut b = SecretBuf::with_capacity(4);
        let at = b.expose().as_ptr();
        b.extend_from_slice(b"abc").unwrap();
        assert_eq!(b.extend_from_slice(b"de"), Err(CapacityFull));
        assert_eq!(b.expose(), b"abc", "a refused extend writes nothing");
        b.push(b'd').unwrap();
        assert_eq!(b.push(b'e'), Err(CapacityFull));
        assert_eq!((b.expose(), b.capacity()), (&b"abcd"[..], 4));
        assert_eq!(b.expose().as_ptr(), at, "never reallocated");
        assert_eq!(SecretBytes::from(b).expose(), b"abcd");
    }

    #[test]
    fn fill_from_reader_stops_at_the_limit_and_refuses_past_capacity() {
        let mut b = SecretBuf::with_capacity(6);
        assert_eq!(b.fill_from_reader(&b"abcdefgh"[..], 4).unwrap(), 4);
        assert_eq!(b.expose(), b"abcd");
        let e = b.fill_from_reader(&b"xyz"[..], 3).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(b.expose(), b"abcd", "nothing read past the capacity");
        assert_eq!(b.fill_from_reader(&b"x"[..], 2).unwrap(), 1, "end of input");
        assert_eq!(b.expose(), b"abcdx");

        // Short reads and interruptions are retried until the end.
        struct Trickle(Vec<u8>, bool);
        impl Read for Trickle {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.1 = !self.1;
                if self.1 {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                if self.0.is_empty() || out.is_empty() {
                    return Ok(0);
                }
                out[0] = self.0.remove(0);
                Ok(1)
            }
        }
        let mut b = SecretBuf::with_capacity(10);
        let n = b
            .fill_from_reader(Trickle(b"pass\n".to_vec(), false), 10)
            .unwrap();
        assert_eq!((n, b.expose()), (5, &b"pass\n"[..]));
    }

    #[test]
    fn secrets_compare_in_constant_time() {
        let a = SecretBytes::copy_from(b"correct horse");
        assert!(a.ct_eq(&SecretBytes::copy_from(b"correct horse")));
        assert!(!a.ct_eq(&SecretBytes::copy_from(b"correct horsf")));
        assert!(!a.ct_eq(&SecretBytes::copy_from(b"correct hors")));
        assert!(SecretBytes::default().ct_eq(&SecretBytes::copy_from(b"")));
        let k = Key::from_slice(&[1; 32]).unwrap();
        assert!(k.ct_eq(&k.clone()));
        assert!(!k.ct_eq(&Key::from_slice(&[2; 32]).unwrap()));
    }

    #[test]
    fn key_init_failure_leaves_no_key() {
        let mut seen = None;
        let r = Key::try_init_with(|k| {
            k.fill(9);
            seen = Some(k.as_ptr() as usize);
            Err("the KDF failed")
        });
        assert_eq!(r.unwrap_err(), "the KDF failed");
        assert!(seen.is_some());
        let k = Key::try_init_with(|k| {
            k.fill(3);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(k.expose(), &[3; 32]);
    }

    // The hooks are process-wide, so each thread records its own calls:
    // the other tests' buffers land in their own threads' logs.
    thread_local! {
        static LOG: std::cell::RefCell<Vec<(bool, usize, usize)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    fn log_lock(ptr: *const u8, len: usize) {
        LOG.with(|l| l.borrow_mut().push((true, ptr as usize, len)));
    }
    fn log_unlock(ptr: *const u8, len: usize) {
        // Called after the wipe and before the free: the bytes are zero.
        // (Only the length is checked here; reading freed-to-be memory
        // would need unsafe code.)
        LOG.with(|l| l.borrow_mut().push((false, ptr as usize, len)));
    }

    #[test]
    fn lock_and_unlock_hooks_come_in_pairs() {
        // The only test that installs hooks (the first call wins).
        set_memory_lock(log_lock, log_unlock);
        LOG.with(|l| l.borrow_mut().clear());
        {
            let k = Key::random();
            let mut b = SecretBuf::with_capacity(100);
            b.extend_from_slice(b"secret").unwrap();
            let s = SecretBytes::from(b);
            let t = SecretBytes::new(b"from a prompt".to_vec());
            let _ = Key::try_init_with(|_| Err(()));
            drop((k, s, t));
        }
        let log = LOG.with(|l| l.borrow().clone());
        let calls = |lock: bool| {
            let mut v: Vec<(usize, usize)> = log
                .iter()
                .filter(|e| e.0 == lock)
                .map(|e| (e.1, e.2))
                .collect();
            v.sort();
            v
        };
        let (locks, unlocks) = (calls(true), calls(false));
        assert_eq!(locks.len(), 4, "{log:?}");
        assert_eq!(
            locks, unlocks,
            "every lock has its unlock, same address and length"
        );
        assert!(locks.iter().any(|l| l.1 == 100) && locks.iter().any(|l| l.1 == 32));
    }
}
