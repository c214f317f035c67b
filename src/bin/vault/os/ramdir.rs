//! `exec --nextflow`: the private directory of one run on a RAM-backed
//! filesystem, holding the link Nextflow opens its in-memory store by (and
//! the `.nf-*.secrets` file its `secret` directive writes beside the
//! store), removed when the run ends; and the sweep that removes the
//! directories of runs that died. It never creates anything on a disk.
//!
//! Layout: a per-user parent, `$XDG_RUNTIME_DIR/vault-nextflow` when
//! `XDG_RUNTIME_DIR` is on tmpfs or ramfs, else `/dev/shm/vault-nextflow-UID`
//! (which must be tmpfs); it must be a directory, not a link, owned by us,
//! mode 0700, RAM-backed. In it one `run-*` directory (0700) per run,
//! locked (`flock` on the directory) by the running vault and by the
//! command, which inherits the descriptor: a `run-*` directory whose lock
//! can be taken belongs to no live process. Creating a run directory,
//! sweeping and removing happen under the parent's lock, so a sweep never
//! sees a half-made directory. Only `run-*` entries of the checked parent
//! are ever removed, and removal never follows a symbolic link (std's
//! `remove_dir_all` works through descriptors and unlinks links).

use std::ffi::{CString, OsStr};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{CliError, Result};
use crate::output::warn;

/// `f_type` of tmpfs (and of `/dev/shm`, which is one).
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// `f_type` of ramfs.
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// Where the per-user parent goes when `XDG_RUNTIME_DIR` is not RAM-backed.
const SHM: &str = "/dev/shm";

/// Prefix of the run directories in the parent (nothing else is removed).
const RUN_PREFIX: &str = "run-";

fn ram_backed(f_type: Option<i64>) -> bool {
    matches!(f_type, Some(TMPFS_MAGIC | RAMFS_MAGIC))
}

/// What [`choose_parent`] needs to know of a directory (after links).
#[derive(Clone, Copy, Debug)]
struct Place {
    /// `statfs`'s `f_type`.
    f_type: i64,
    /// Owner.
    uid: u32,
    /// Permission bits (with the sticky bit).
    mode: u32,
}

/// Whether `p` is the user's own and no one else can write to it, as the
/// XDG spec wants `XDG_RUNTIME_DIR`.
fn private_to(p: &Place, uid: u32) -> bool {
    p.uid == uid && p.mode & 0o022 == 0
}

/// Whether no one but `uid` and root can rename or replace what `uid`
/// makes in `p`: it is theirs and not writable by others, or sticky.
fn others_cannot_swap(p: &Place, uid: u32) -> bool {
    (p.uid == uid || p.uid == 0) && (p.mode & 0o022 == 0 || p.mode & 0o1000 != 0)
}

/// The per-user parent directory: `$XDG_RUNTIME_DIR/vault-nextflow` when
/// that variable holds an absolute path to a directory of the user's that
/// no one else can write to, on a RAM-backed filesystem; else
/// `/dev/shm/vault-nextflow-UID` when `/dev/shm` is one and sticky (or no
/// one else can write to it); else the reason there is none. (vault then
/// works in it by path: a directory others can write to would let them
/// swap what vault checked for one of theirs.) `examine` answers `stat` and
/// `statfs` for a path (`None`: no such directory). Pure, for the tests.
fn choose_parent(
    xdg_runtime_dir: Option<&OsStr>,
    uid: u32,
    examine: impl Fn(&Path) -> Option<Place>,
) -> Result<PathBuf, String> {
    let xdg = xdg_runtime_dir
        .filter(|d| !d.is_empty())
        .map(Path::new)
        .filter(|d| d.is_absolute());
    let xdg_why = match xdg.map(|d| (d, examine(d))) {
        Some((d, None)) => format!("$XDG_RUNTIME_DIR ({}) does not exist", d.display()),
        Some((d, Some(p))) if !ram_backed(Some(p.f_type)) => {
            format!("$XDG_RUNTIME_DIR ({}) is not on tmpfs", d.display())
        }
        Some((d, Some(p))) if !private_to(&p, uid) => format!(
            "$XDG_RUNTIME_DIR ({}) is not private to you (owner uid {}, mode {:04o})",
            d.display(),
            p.uid,
            p.mode & 0o7777
        ),
        Some((d, Some(_))) => return Ok(d.join("vault-nextflow")),
        None => "$XDG_RUNTIME_DIR is not set to an absolute path".to_string(),
    };
    let shm = Path::new(SHM);
    let shm_why = match examine(shm) {
        None => format!("{SHM} does not exist"),
        Some(p) if !ram_backed(Some(p.f_type)) => format!("{SHM} is not a tmpfs"),
        Some(p) if !others_cannot_swap(&p, uid) => format!(
            "{SHM} lets others rename what is in it (owner uid {}, mode {:04o}, not sticky)",
            p.uid,
            p.mode & 0o7777
        ),
        Some(_) => return Ok(shm.join(format!("vault-nextflow-{uid}"))),
    };
    Err(format!(
        "no RAM-backed filesystem for the private directory Nextflow's `secret` directive writes into: {xdg_why}, and {shm_why}; vault never puts it on a disk"
    ))
}

/// The directory at `path` (through links), or `None` when it is not one
/// or cannot be examined.
fn examine(path: &Path) -> Option<Place> {
    let meta = fs::metadata(path).ok().filter(|m| m.is_dir())?;
    Some(Place {
        f_type: f_type(path)?,
        uid: meta.uid(),
        mode: meta.mode(),
    })
}

/// `statfs(path).f_type`, or `None` when it cannot be examined.
#[cfg(target_os = "linux")]
fn f_type(path: &Path) -> Option<i64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs into a zeroed local with a valid C string.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        (libc::statfs(c.as_ptr(), &mut st) == 0).then_some(st.f_type as i64)
    }
}

/// `fstatfs(f).f_type`, or `None` when it cannot be examined.
#[cfg(target_os = "linux")]
fn fd_f_type(f: &File) -> Option<i64> {
    // SAFETY: fstatfs into a zeroed local on a descriptor we own.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        (libc::fstatfs(f.as_raw_fd(), &mut st) == 0).then_some(st.f_type as i64)
    }
}

// Elsewhere the filesystem's kind is not known: never RAM-backed.
#[cfg(not(target_os = "linux"))]
fn f_type(_: &Path) -> Option<i64> {
    None
}

#[cfg(not(target_os = "linux"))]
fn fd_f_type(_: &File) -> Option<i64> {
    None
}

/// Opens the directory `path` itself (never through a final symbolic link).
fn open_dir(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
}

fn io_error(what: &str, path: &Path, e: io::Error) -> CliError {
    CliError::Other(format!("{what} {}: {e}", path.display()))
}

/// Makes (0700) or opens the per-user parent and checks it: a directory,
/// not a link, ours, 0700, RAM-backed.
fn open_parent(path: &Path, uid: u32) -> Result<File> {
    let created = match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(io_error("creating", path, e)),
    };
    let dir = open_dir(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP | libc::ENOTDIR) => CliError::Other(format!(
            "{} is not a directory (a link or a file): refusing to put secrets there; remove it",
            path.display()
        )),
        _ => io_error("opening", path, e),
    })?;
    let meta = dir.metadata().map_err(|e| io_error("examining", path, e))?;
    // A umask can only have taken bits away from the fresh directory.
    if created && meta.mode() & 0o7777 != 0o700 {
        dir.set_permissions(fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error("setting the mode of", path, e))?;
    }
    let meta = dir.metadata().map_err(|e| io_error("examining", path, e))?;
    if meta.uid() != uid {
        // Anyone can make it first in /dev/shm; only root can remove it.
        return Err(CliError::Other(format!(
            "{} belongs to another user (uid {}): refusing to put secrets there; ask an administrator to remove it, or set XDG_RUNTIME_DIR to a directory of yours on tmpfs (mode 0700)",
            path.display(),
            meta.uid(),
        )));
    }
    if meta.mode() & 0o7777 != 0o700 {
        return Err(CliError::Other(format!(
            "{} is not a private directory of yours (owner uid {}, mode {:04o}; expected uid {uid}, 0700): refusing to put secrets there; remove it",
            path.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    if !ram_backed(fd_f_type(&dir)) {
        return Err(CliError::Other(format!(
            "{} is not on a RAM-backed filesystem: refusing to put secrets there",
            path.display()
        )));
    }
    Ok(dir)
}

/// Removes the run directory `path` if no process holds its lock (or if
/// it is not a directory at all); `Ok(false)` when one does.
fn remove_if_unused(path: &Path) -> io::Result<bool> {
    let dir = match open_dir(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        // A link or a file where a run directory should be: unlink it.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
            fs::remove_file(path)?;
            return Ok(true);
        }
        Err(e) => return Err(e),
    };
    match dir.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(false),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    fs::remove_dir_all(path)?;
    Ok(true)
}

/// Removes the run directories in `parent` that no live process holds
/// (left by runs that died); the parent's lock is held.
fn sweep(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_name().as_bytes().starts_with(RUN_PREFIX.as_bytes()) {
            continue;
        }
        let path = e.path();
        if let Err(err) = remove_if_unused(&path) {
            warn(&format!(
                "could not remove {}, left by an earlier run: {err}",
                path.display()
            ));
        }
    }
}

/// The per-user parent, found and checked: where a run's directory goes.
pub struct Parent {
    /// Open (its lock serialises create, sweep, remove).
    dir: File,
    /// Its path.
    path: PathBuf,
}

/// The private directory of one run: created locked, removed when dropped
/// (unless a process the command started still holds it: then the next
/// run removes it).
pub struct RunDir {
    /// The per-user parent, open (its lock serialises create, sweep, remove).
    parent: File,
    /// The run directory.
    path: PathBuf,
    /// The run directory, open and locked; inherited by the command.
    dir: Option<File>,
}

impl Parent {
    /// Finds the per-user parent on a RAM-backed filesystem (made if
    /// missing) and checks it, or says why there is none. Nothing of a run
    /// is made yet: this comes before the unlock, so that a refusal comes
    /// first, and [`Parent::create_run`] after it, so that an unlock that
    /// is interrupted or fails leaves nothing behind.
    pub fn open() -> Result<Parent> {
        let uid = crate::os::sys::euid();
        let path = choose_parent(std::env::var_os("XDG_RUNTIME_DIR").as_deref(), uid, examine)
            .map_err(CliError::Other)?;
        let dir = open_parent(&path, uid)?;
        Ok(Parent { dir, path })
    }

    /// Sweeps what dead runs left and creates this run's directory.
    pub fn create_run(self) -> Result<RunDir> {
        let Parent {
            dir: parent,
            path: parent_path,
        } = self;
        parent
            .lock()
            .map_err(|e| io_error("locking", &parent_path, e))?;
        sweep(&parent_path);
        let mut id = [0u8; 8];
        vault::secret::fill_random(&mut id);
        let path = parent_path.join(format!(
            "{RUN_PREFIX}{}-{:016x}",
            std::process::id(),
            u64::from_le_bytes(id)
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| io_error("creating", &path, e))?;
        let mut made = RunDir {
            parent,
            path,
            dir: None,
        };
        let dir = open_dir(&made.path).map_err(|e| io_error("opening", &made.path, e))?;
        // A fresh directory, under the parent's lock: nobody else holds it.
        dir.try_lock()
            .map_err(|e| io_error("locking", &made.path, io::Error::from(e)))?;
        let mode = dir
            .metadata()
            .map_err(|e| io_error("examining", &made.path, e))?
            .mode();
        if mode & 0o7777 != 0o700 {
            dir.set_permissions(fs::Permissions::from_mode(0o700))
                .map_err(|e| io_error("setting the mode of", &made.path, e))?;
        }
        // The command inherits the locked descriptor: the directory stays
        // while the command runs, even if this process is killed.
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let fd = dir.as_raw_fd();
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags == -1 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1 {
                return Err(io_error(
                    "keeping open",
                    &made.path,
                    io::Error::last_os_error(),
                ));
            }
        }
        let _ = made.parent.unlock();
        made.dir = Some(dir);
        Ok(made)
    }
}

impl RunDir {
    /// Makes `name` in the directory a symbolic link to `target`; returns
    /// its path.
    pub fn link(&self, name: &str, target: &str) -> Result<PathBuf> {
        let p = self.path.join(name);
        std::os::unix::fs::symlink(target, &p).map_err(|e| io_error("creating", &p, e))?;
        Ok(p)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let locked = self.parent.lock().is_ok();
        // Our hold on the directory goes; the command's, if it left a
        // process behind that still has it, stays.
        drop(self.dir.take());
        match remove_if_unused(&self.path) {
            Ok(true) => {}
            Ok(false) => warn(&format!(
                "left {} in place: a process the command started still holds it; the next `vault exec --nextflow` removes it once that process has ended",
                self.path.display()
            )),
            Err(e) => warn(&format!("could not remove {}: {e}", self.path.display())),
        }
        if locked {
            let _ = self.parent.unlock();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXT4: i64 = 0xEF53;

    /// `stat` and `statfs` answer from a table: (path, f_type, owner,
    /// mode); `/dev/shm` is root's, 1777.
    fn places(entries: &[(&'static str, i64, u32, u32)]) -> impl Fn(&Path) -> Option<Place> {
        let entries = entries.to_vec();
        move |p: &Path| {
            entries
                .iter()
                .find(|(q, ..)| Path::new(q) == p)
                .map(|&(_, f_type, uid, mode)| Place { f_type, uid, mode })
        }
    }

    /// As [`places`], each directory but `/dev/shm` user 1000's, 0700.
    fn table(entries: &[(&'static str, i64)]) -> impl Fn(&Path) -> Option<Place> {
        let entries: Vec<_> = entries
            .iter()
            .map(|&(p, t)| match p {
                "/dev/shm" => (p, t, 0, 0o1777),
                _ => (p, t, 1000, 0o700),
            })
            .collect();
        places(&entries)
    }

    #[test]
    fn xdg_runtime_dir_on_tmpfs_or_ramfs_is_preferred() {
        let xdg = Some(OsStr::new("/run/user/1000"));
        for t in [TMPFS_MAGIC, RAMFS_MAGIC] {
            let fs = table(&[("/run/user/1000", t), ("/dev/shm", TMPFS_MAGIC)]);
            assert_eq!(
                choose_parent(xdg, 1000, fs),
                Ok(PathBuf::from("/run/user/1000/vault-nextflow"))
            );
        }
    }

    #[test]
    fn dev_shm_when_xdg_runtime_dir_is_unset_relative_missing_or_on_disk() {
        let want = Ok(PathBuf::from("/dev/shm/vault-nextflow-1000"));
        let fs = table(&[
            ("/home/u/rt", EXT4),
            ("rel", TMPFS_MAGIC),
            ("/dev/shm", TMPFS_MAGIC),
        ]);
        for xdg in [
            None,
            Some(""),
            Some("rel"),
            Some("/gone"),
            Some("/home/u/rt"),
        ] {
            assert_eq!(
                choose_parent(xdg.map(OsStr::new), 1000, &fs),
                want,
                "{xdg:?}"
            );
        }
    }

    #[test]
    fn neither_on_a_ram_backed_filesystem_is_refused_saying_why() {
        let xdg = Some(OsStr::new("/home/u/rt"));
        let e = choose_parent(
            xdg,
            1000,
            table(&[("/home/u/rt", EXT4), ("/dev/shm", EXT4)]),
        )
        .unwrap_err();
        assert!(
            e.contains("$XDG_RUNTIME_DIR (/home/u/rt) is not on tmpfs"),
            "{e}"
        );
        assert!(e.contains("/dev/shm is not a tmpfs"), "{e}");
        assert!(e.contains("never puts it on a disk"), "{e}");
        let e = choose_parent(None, 1000, table(&[])).unwrap_err();
        assert!(e.contains("$XDG_RUNTIME_DIR is not set"), "{e}");
        assert!(e.contains("/dev/shm does not exist"), "{e}");
    }

    #[test]
    fn an_xdg_runtime_dir_others_can_write_to_or_not_ours_is_passed_over() {
        let xdg = Some(OsStr::new("/run/user/1000"));
        for (uid, mode) in [(1000, 0o777), (1000, 0o1777), (1000, 0o720), (1001, 0o700)] {
            let fs = places(&[
                ("/run/user/1000", TMPFS_MAGIC, uid, mode),
                ("/dev/shm", TMPFS_MAGIC, 0, 0o1777),
            ]);
            assert_eq!(
                choose_parent(xdg, 1000, fs),
                Ok(PathBuf::from("/dev/shm/vault-nextflow-1000")),
                "{uid} {mode:o}"
            );
        }
        // 0755 is private enough: only its owner writes to it.
        let fs = places(&[("/run/user/1000", TMPFS_MAGIC, 1000, 0o755)]);
        assert_eq!(
            choose_parent(xdg, 1000, fs),
            Ok(PathBuf::from("/run/user/1000/vault-nextflow"))
        );
        // A /dev/shm anyone can rename things in is no place either.
        let fs = places(&[
            ("/run/user/1000", TMPFS_MAGIC, 1001, 0o700),
            ("/dev/shm", TMPFS_MAGIC, 0, 0o777),
        ]);
        let e = choose_parent(xdg, 1000, fs).unwrap_err();
        assert!(
            e.contains("$XDG_RUNTIME_DIR (/run/user/1000) is not private to you (owner uid 1001, mode 0700)"),
            "{e}"
        );
        assert!(e.contains("/dev/shm lets others rename"), "{e}");
    }
}
