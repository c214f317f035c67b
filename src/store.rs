//! File I/O and nothing else: where the vault lives, reading it with
//! bounds, the sidecar write lock, and the atomic replace (temp file 0600 in
//! the same directory, fsync, rename, fsync of the directory).
//!
//! Only ciphertext passes through here; no plaintext secret is ever written.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::format::MAX_FILE_LEN;
use crate::secret::{SecretBuf, SecretBytes};

/// The default vault path: `$XDG_DATA_HOME/vault/default.vault`, i.e.
/// `~/.local/share/vault/default.vault` on Linux.
pub fn default_path() -> Result<PathBuf> {
    let data = crate::platform::xdg_dir("XDG_DATA_HOME", ".local/share").ok_or(Error::NoHome)?;
    Ok(data.join("vault").join("default.vault"))
}

/// Follows symbolic links so writes land beside the link's target and the
/// link survives. A dangling link resolves to its (missing) target.
///
/// Because the target is then opened by its own path, the kernel's
/// `fs.protected_symlinks` rule never sees these links; so it is applied
/// here, for user `me` (the effective uid): a link in a sticky,
/// world-writable directory (`/tmp`) is followed only if `me` or the
/// directory's owner owns it. Another user's link planted there is refused
/// (it would redirect `init` into their directory, and later writes into
/// their file); one's own links (a dotfile manager's) work as before.
pub fn resolve(path: &Path, me: u32) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                if let Ok(d) = fs::metadata(dir) {
                    let shared = d.mode() & 0o1002 == 0o1002;
                    if shared && m.uid() != me && m.uid() != d.uid() {
                        return Err(Error::UntrustedLink {
                            link: p,
                            owner: m.uid(),
                        });
                    }
                }
                let target = fs::read_link(&p).map_err(|e| Error::io("reading the link", &p, e))?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(Error::TooManyLinks(path.to_path_buf()))
}

/// Reads the whole vault file, refusing anything but a regular file (a FIFO
/// or device would block or never end) and anything over the size bound.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let mut f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NoVault(path.to_path_buf()))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            return Err(Error::NoVault(path.to_path_buf()))
        }
        Err(e) => return Err(Error::io("opening", path, e)),
    };
    let meta = f.metadata().map_err(|e| Error::io("reading", path, e))?;
    if !meta.is_file() {
        return Err(Error::NotAFile(path.to_path_buf()));
    }
    if meta.len() > MAX_FILE_LEN {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{} bytes is over the 1 GiB bound", meta.len()),
        });
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    (&mut f)
        .take(MAX_FILE_LEN + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("reading", path, e))?;
    if buf.len() as u64 > MAX_FILE_LEN {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            detail: "over the 1 GiB bound".into(),
        });
    }
    Ok(buf)
}

/// Reads a small file that holds a secret (a passphrase file; a pipe such
/// as `<(...)` is fine) into a buffer sized up front; more than `max` bytes
/// is a usage error.
///
/// A regular file's buffer is sized from its length, not from `max`: the
/// buffer is locked in memory and wiped, and an identity file is a few
/// hundred bytes against a 64 KiB bound (17 locked pages on every
/// `--identity` command). The file is opened and read once
/// ([`read_bounded`]).
pub fn read_small(path: &Path, max: usize) -> Result<SecretBytes> {
    let f = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    read_bounded(f, len, max)
        .map_err(|e| Error::io("reading", path, e))?
        .ok_or_else(|| Error::FileTooLong {
            path: path.to_path_buf(),
            max,
        })
}

/// Reads `r` to its end into a zeroizing buffer; `None` if it holds more
/// than `max` bytes. The first buffer is sized from `len_hint` (a regular
/// file's length; 0 or none says nothing, as for /proc files and pipes:
/// then 64 KiB). When the content outgrows it (a file that grew, a pipe)
/// it moves into a buffer twice the size, up to the bound, so no copy is
/// left behind in freed memory; reading goes on from the same reader.
pub fn read_bounded(
    mut r: impl Read,
    len_hint: Option<u64>,
    max: usize,
) -> std::io::Result<Option<SecretBytes>> {
    let start = match len_hint {
        Some(n) if n > 0 => n.saturating_add(1),
        _ => 64 << 10,
    };
    let mut buf = SecretBuf::with_capacity(start.min(max as u64 + 1) as usize);
    loop {
        if buf.remaining() == 0 {
            if buf.len() > max {
                return Ok(None);
            }
            let mut bigger = SecretBuf::with_capacity((buf.len() * 2).clamp(1, max + 1));
            bigger
                .extend_from_slice(buf.expose())
                .unwrap_or_else(|_| unreachable!("sized to hold it"));
            buf = bigger;
            continue;
        }
        // At most the spare capacity: the buffer cannot grow.
        let spare = buf.remaining();
        if buf.fill_from_reader(&mut r, spare)? == 0 {
            return Ok(Some(buf.into()));
        }
    }
}

/// Whether something (file, directory, FIFO...) exists at `path`.
pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Creates `dir` and its missing parents with mode 0700 at creation.
pub fn create_dir_private(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("creating the directory", dir, e))
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn temp_prefix(path: &Path) -> OsString {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".tmp-");
    name
}

/// The exclusive write lock on a vault: an advisory lock on the sidecar file
/// `<vault>.lock`, released when dropped. The lock file itself stays (removing
/// it would let two writers lock two different files).
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
}

/// Takes the write lock of the vault at `path` (already resolved), waiting
/// at most `timeout`; `on_wait` is called once if the lock is busy.
pub fn lock(path: &Path, timeout: Duration, on_wait: &mut dyn FnMut()) -> Result<WriteLock> {
    let lock_path = sidecar(path, ".lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(|e| Error::io("opening the lock file", &lock_path, e))?;
    let start = Instant::now();
    let mut told = false;
    let mut pause = Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(WriteLock { _file: file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(Error::io("locking", &lock_path, e)),
        }
        if start.elapsed() >= timeout {
            return Err(Error::LockTimeout {
                path: lock_path,
                waited_secs: timeout.as_secs(),
            });
        }
        if !told && start.elapsed() >= Duration::from_millis(500) {
            on_wait();
            told = true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Replaces the vault at `path` (resolved, lock held) with `bytes`:
/// temp file 0600 in the same directory, write, fsync, rename, fsync the
/// directory. Leftover temp files of crashed writers are removed first.
pub fn write_atomic(path: &Path, bytes: &[u8], _lock: &WriteLock) -> Result<()> {
    replace(path, bytes)
}

/// [`write_atomic`] for a file that no other vault process writes, with no
/// sidecar lock file: git's temporary copy that `vault merge` replaces
/// (`%A`), where a lock file would be left in the work tree.
pub fn write_atomic_unshared(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes)
}

fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    remove_stale_temps(path, &dir);
    let mut rnd = [0u8; 8];
    crate::crypto::fill_random(&mut rnd);
    let mut name = temp_prefix(path);
    name.push(rnd.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let tmp = dir.join(name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("creating", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io("writing", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("syncing", &tmp, e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| Error::io("replacing", path, e))?;
        let d = File::open(&dir).map_err(|e| Error::io("opening the directory", &dir, e))?;
        d.sync_all()
            .map_err(|e| Error::io("syncing the directory", &dir, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a new vault at `path`, which must not exist yet (never overwrites).
pub fn write_new(path: &Path, bytes: &[u8], lock: &WriteLock) -> Result<()> {
    if exists(path) {
        return Err(Error::VaultExists(path.to_path_buf()));
    }
    write_atomic(path, bytes, lock)
}

fn remove_stale_temps(path: &Path, dir: &Path) {
    let prefix = temp_prefix(path);
    let prefix = prefix.as_encoded_bytes();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name().as_encoded_bytes().starts_with(prefix) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn no_wait() -> impl FnMut() {
        || {}
    }

    #[test]
    fn read_small_reads_files_up_to_the_bound_and_refuses_longer_ones() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        for n in [0usize, 1, 99, 100] {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            fs::write(&p, &data).unwrap();
            assert_eq!(
                read_small(&p, 100).unwrap().expose(),
                &data[..],
                "{n} bytes"
            );
        }
        fs::write(&p, [7u8; 101]).unwrap();
        assert!(matches!(
            read_small(&p, 100),
            Err(Error::FileTooLong { max: 100, .. })
        ));
        // A length that undersells the content (a file that grew, /proc):
        // nothing is lost, the bound still holds, one reader throughout.
        for (hint, n) in [
            (Some(3u64), 50usize),
            (Some(0), 50),
            (Some(3), 101),
            (None, 7),
        ] {
            let data = vec![5u8; n];
            match read_bounded(&data[..], hint, 100).unwrap() {
                Some(b) => assert_eq!(b.expose(), &data[..], "{hint:?} {n}"),
                None => assert!(n > 100, "{hint:?} {n}"),
            }
        }
        // Not a regular file: no length to size the buffer from.
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let (reader, mut writer) = std::io::pipe().unwrap();
        writer.write_all(b"from a pipe").unwrap();
        drop(writer);
        let fifo = PathBuf::from(format!("/proc/self/fd/{}", reader.as_raw_fd()));
        assert_eq!(read_small(&fifo, 100).unwrap().expose(), b"from a pipe");
    }

    #[test]
    fn atomic_write_is_0600_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.vault");
        let l = lock(&p, Duration::from_secs(1), &mut no_wait()).unwrap();
        fs::write(d.path().join(".v.vault.tmp-dead"), b"stale").unwrap();
        write_new(&p, b"one", &l).unwrap();
        assert!(matches!(
            write_new(&p, b"two", &l),
            Err(Error::VaultExists(_))
        ));
        write_atomic(&p, b"two", &l).unwrap();
        assert_eq!(read(&p).unwrap(), b"two");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}"); // the vault and its lock file
    }

    #[test]
    fn lock_is_exclusive_and_bounded() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v");
        let _held = lock(&p, Duration::from_secs(1), &mut no_wait()).unwrap();
        let mut waited = false;
        let e = lock(&p, Duration::from_millis(700), &mut || waited = true).unwrap_err();
        assert!(matches!(e, Error::LockTimeout { .. }));
        assert!(waited);
    }

    #[test]
    fn symlink_resolves_to_target_and_fifo_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("real.vault");
        let link = d.path().join("link.vault");
        std::os::unix::fs::symlink("real.vault", &link).unwrap();
        let me = {
            use std::os::unix::fs::MetadataExt;
            fs::symlink_metadata(&link).unwrap().uid()
        };
        assert_eq!(resolve(&link, me).unwrap(), target);
        // In a sticky world-writable directory, one's own link (or one the
        // directory's owner made) is followed, by anyone.
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(resolve(&link, me).unwrap(), target);
        assert_eq!(resolve(&link, me.wrapping_add(1)).unwrap(), target);
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(read(&link), Err(Error::NoVault(_))));
        let dirp = d.path().join("adir");
        fs::create_dir(&dirp).unwrap();
        assert!(matches!(read(&dirp), Err(Error::NotAFile(_))));
        let fifo = d.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(matches!(read(&fifo), Err(Error::NotAFile(_))));
    }

    #[test]
    fn private_dirs_are_0700() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b");
        create_dir_private(&p).unwrap();
        for q in [d.path().join("a"), p] {
            assert_eq!(fs::metadata(q).unwrap().permissions().mode() & 0o777, 0o700);
        }
    }
}
