//! The few raw operating-system calls the CLI needs, each behind `cfg`:
//! turning core dumps off, reading standard input without read-ahead,
//! and reading a passphrase from a numbered file descriptor.

use std::io;
use std::sync::atomic::AtomicBool;

/// Whether [`lock_memory`] succeeded at start (for `vault doctor`).
pub static MEMORY_LOCKED: AtomicBool = AtomicBool::new(false);

/// The core-file limit the process started with, restored for children.
#[cfg(unix)]
static ORIGINAL_CORE_LIMIT: std::sync::OnceLock<libc::rlimit> = std::sync::OnceLock::new();

/// Turns core dumps (and, on Linux, ptrace attach by other processes of the
/// user) off for this process. Best effort: failures are ignored.
#[cfg(unix)]
pub fn harden_process() {
    // SAFETY: getrlimit/setrlimit/prctl with valid arguments and pointers to
    // local values; no memory is shared.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_CORE, &mut lim) == 0 {
            let _ = ORIGINAL_CORE_LIMIT.set(lim);
            let off = libc::rlimit {
                rlim_cur: 0,
                rlim_max: lim.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &off);
        }
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

#[cfg(not(unix))]
pub fn harden_process() {}

/// Whether all of this process's memory was locked (no swapping of keys or
/// values). Only done where the memory-lock limit is unlimited: with a
/// finite limit, locking future allocations would make a large Argon2 run
/// fail, so vault leaves memory unlocked there (`vault doctor` says so).
#[cfg(target_os = "linux")]
pub fn lock_memory() -> bool {
    // SAFETY: getrlimit into a local; mlockall takes only flags.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) != 0
            || lim.rlim_max != libc::RLIM_INFINITY
        {
            return false;
        }
        lim.rlim_cur = libc::RLIM_INFINITY;
        libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim);
        libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) == 0
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lock_memory() -> bool {
    false
}

/// The memory-locking hook given to `vault::secret::set_memory_lock`: locks
/// the pages of a buffer about to hold key material or secret values.
/// Nothing to do when all memory is locked already; after the first
/// failure (the memory-lock limit reached) one warning, and no more tries.
#[cfg(target_os = "linux")]
pub fn lock_secret_memory(ptr: *const u8, len: usize) {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    static GAVE_UP: AtomicBool = AtomicBool::new(false);
    if MEMORY_LOCKED.load(Relaxed) || GAVE_UP.load(Relaxed) {
        return;
    }
    // SAFETY: mlock changes only whether the pages of a live allocation of
    // ours stay in RAM; it reads and writes no memory.
    if unsafe { libc::mlock(ptr.cast(), len) } != 0 && !GAVE_UP.swap(true, Relaxed) {
        crate::output::warn(&format!(
            "could not lock {} of secret memory ({}); it may reach swap: raise `ulimit -l` or use encrypted swap",
            vault::display::format_kib(len.div_ceil(1024) as u64),
            io::Error::last_os_error()
        ));
    }
}

/// A soft resource limit, bytes; `None` for unlimited.
#[cfg(target_os = "linux")]
fn soft_limit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local.
    unsafe { libc::getrlimit(resource, &mut lim) };
    // rlim_t is u64 here but not on every target.
    #[allow(clippy::unnecessary_cast)]
    (lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur as u64)
}

/// The memory-lock limit (soft), bytes; `None` for unlimited.
#[cfg(target_os = "linux")]
pub fn memlock_limit() -> Option<u64> {
    soft_limit(libc::RLIMIT_MEMLOCK)
}

/// The current core-file limit (soft), bytes; `None` for unlimited.
#[cfg(target_os = "linux")]
pub fn core_limit() -> Option<u64> {
    soft_limit(libc::RLIMIT_CORE)
}

/// Whether the process is marked non-dumpable (Linux `PR_GET_DUMPABLE`).
#[cfg(target_os = "linux")]
pub fn dumpable() -> bool {
    // SAFETY: prctl query without pointers.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 }
}

#[cfg(not(target_os = "linux"))]
pub fn dumpable() -> bool {
    true
}

/// Puts the original core-file limit back (for a child about to be exec'd).
/// Async-signal-safe: may run between fork and exec.
#[cfg(unix)]
pub fn restore_core_limit() {
    if let Some(lim) = ORIGINAL_CORE_LIMIT.get() {
        // SAFETY: setrlimit with a pointer to a valid rlimit.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, lim);
        }
    }
}

/// Reads one byte from file descriptor `fd` with no buffering; `Ok(None)` at
/// end of input.
#[cfg(unix)]
fn read_byte(fd: i32) -> io::Result<Option<u8>> {
    let mut b = 0u8;
    loop {
        // SAFETY: reads at most one byte into a valid local.
        let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
        match n {
            1 => return Ok(Some(b)),
            0 => return Ok(None),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// Reads standard input up to and including the first `\n`, one byte at a
/// time so nothing after it is consumed. Fails past `max` bytes.
#[cfg(unix)]
pub fn read_stdin_line(out: &mut Vec<u8>, max: usize) -> io::Result<()> {
    while let Some(b) = read_byte(0)? {
        out.push(b);
        if b == b'\n' {
            break;
        }
        if out.len() > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "longer than the limit",
            ));
        }
    }
    Ok(())
}

/// Reads file descriptor `fd` to its end (at most `max` + 1 bytes) and
/// closes it.
#[cfg(unix)]
pub fn read_fd_to_end(fd: i32, out: &mut Vec<u8>, max: usize) -> io::Result<()> {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: fcntl on any integer is safe; it tells whether fd is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is open (checked above) and the user handed it to us to
    // consume; the File takes ownership and closes it on drop.
    let f = unsafe { std::fs::File::from_raw_fd(fd) };
    f.take(max as u64 + 1).read_to_end(out)?;
    Ok(())
}
