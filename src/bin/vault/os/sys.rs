//! The few raw operating-system calls the CLI needs, each behind `cfg`:
//! turning core dumps off, locking secret memory (counted per page),
//! reading standard input without read-ahead, and reading a passphrase
//! from a numbered file descriptor.

use std::io;
use std::sync::atomic::AtomicBool;

use vault::secret::SecretBuf;

/// What Rust's runtime does before `main` that vault needs: standard
/// descriptors 0 to 2 open (on /dev/null if closed, so no file vault opens
/// takes their place and receives output meant for them), and SIGPIPE
/// ignored (a write to a closed pipe fails with EPIPE).
#[cfg(target_os = "linux")]
#[cfg_attr(test, allow(dead_code))] // the test harness starts the usual runtime
pub fn runtime_init() {
    // SAFETY: poll on a local array; open of a constant path; signal with
    // a constant disposition. Nothing is shared.
    unsafe {
        let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        });
        let closed: [bool; 3] = if libc::poll(fds.as_mut_ptr(), 3, 0) != -1 {
            fds.map(|f| f.revents & libc::POLLNVAL != 0)
        } else {
            // poll can fail for want of memory; ask each descriptor.
            [0, 1, 2].map(|fd| {
                libc::fcntl(fd, libc::F_GETFD) == -1
                    && io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
            })
        };
        // The lowest free number is taken: each closed one, in order.
        for _ in closed.iter().filter(|&&c| c) {
            if libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) == -1 {
                libc::abort();
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

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

/// How many live secret buffers use each locked page. The kernel does not
/// count locks (one `munlock` unlocks a page whatever number of `mlock`s
/// it had) and small buffers often share a page, so a page is unlocked
/// only when the last buffer on it is gone.
#[cfg(target_os = "linux")]
static PAGE_USERS: std::sync::Mutex<std::collections::BTreeMap<usize, u32>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

#[cfg(target_os = "linux")]
fn page_size() -> usize {
    // SAFETY: sysconf with a valid name.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096).max(1)
}

/// Counts (`up`) or uncounts the users of each page of `[ptr, ptr + len)`
/// and returns, as (address, length) runs of consecutive pages, those whose
/// count went from 0 to 1 (to lock) or from 1 to 0 (to unlock).
#[cfg(target_os = "linux")]
fn count_pages(ptr: *const u8, len: usize, up: bool) -> Vec<(usize, usize)> {
    let page = page_size();
    let first = ptr as usize / page * page;
    let end = (ptr as usize).saturating_add(len);
    let mut users = PAGE_USERS.lock().unwrap_or_else(|e| e.into_inner());
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for p in (first..end).step_by(page) {
        let edge = if up {
            let n = users.entry(p).or_insert(0);
            *n += 1;
            *n == 1
        } else {
            match users.get_mut(&p) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    users.remove(&p);
                    true
                }
                None => false,
            }
        };
        if edge {
            match runs.last_mut() {
                Some((at, l)) if *at + *l == p => *l += page,
                _ => runs.push((p, page)),
            }
        }
    }
    runs
}

#[cfg(target_os = "linux")]
static GAVE_UP: AtomicBool = AtomicBool::new(false);

/// The lock half of the hooks given to `vault::secret::set_memory_lock`:
/// locks the pages of a buffer about to hold key material or secret values
/// (those no other live buffer holds locked already). Nothing to do when
/// all memory is locked already; after the first failure (the memory-lock
/// limit reached) one warning, and no more tries.
#[cfg(target_os = "linux")]
pub fn lock_secret_memory(ptr: *const u8, len: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    if MEMORY_LOCKED.load(Relaxed) {
        return;
    }
    // Counted even after giving up, so the unlocks stay paired.
    let new = count_pages(ptr, len, true);
    if GAVE_UP.load(Relaxed) {
        return;
    }
    for (at, len) in new {
        // SAFETY: mlock changes only whether these pages, which hold a live
        // allocation of ours, stay in RAM; it reads and writes no memory.
        if unsafe { libc::mlock(at as *const libc::c_void, len) } != 0 {
            if !GAVE_UP.swap(true, Relaxed) {
                crate::output::warn(&format!(
                    "could not lock {} of secret memory ({}); it may reach swap: raise `ulimit -l` or use encrypted swap",
                    vault::display::format_kib(len.div_ceil(1024) as u64),
                    io::Error::last_os_error()
                ));
            }
            return;
        }
    }
}

/// The unlock half: called with the same address and length as
/// [`lock_secret_memory`] once the buffer is wiped, before it is freed;
/// unlocks the pages no other live buffer uses (munlock of a page that
/// was never locked, e.g. after a failure, is harmless).
#[cfg(target_os = "linux")]
pub fn unlock_secret_memory(ptr: *const u8, len: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    if MEMORY_LOCKED.load(Relaxed) {
        // mlockall(MCL_FUTURE): munlock would take pages out of it.
        return;
    }
    for (at, len) in count_pages(ptr, len, false) {
        // SAFETY: munlock only lets these pages be swapped again; it reads
        // and writes no memory. Pages that were never locked are no error.
        unsafe { libc::munlock(at as *const libc::c_void, len) };
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

/// Reads standard input up to and including the first `\n` into `out`,
/// one byte at a time so nothing after it is consumed. A line that does
/// not fit in `out`'s capacity is an `InvalidData` error.
#[cfg(unix)]
pub fn read_stdin_line(out: &mut SecretBuf) -> io::Result<()> {
    while let Some(b) = read_byte(0)? {
        out.push(b)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "longer than the limit"))?;
        if b == b'\n' {
            break;
        }
    }
    Ok(())
}

/// Reads file descriptor `fd` into `out` until its end or until `out` is
/// full, and closes it.
#[cfg(unix)]
pub fn read_fd_to_end(fd: i32, out: &mut SecretBuf) -> io::Result<()> {
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
    out.fill_from_reader(f, out.remaining())?;
    Ok(())
}

/// This process's effective user id.
#[cfg(unix)]
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Takes variable `name` (e.g. `VAULT_PASSPHRASE`) out of the environment
/// for good: its value is copied into a zeroizing buffer, every
/// `name=value` entry of the process's environment block is overwritten in
/// place (so neither this process's memory nor `/proc/PID/environ` keeps
/// the secret for the rest of the run, e.g. in a `--mask` parent), and the
/// variable is unset. The first entry wins, as for `getenv`. Call it first
/// thing in `main`, before any thread exists.
#[cfg(unix)]
pub fn take_env_secret(name: &str) -> Option<vault::SecretBytes> {
    use std::ffi::{CStr, CString};
    extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    let cname = CString::new(name).ok()?;
    let mut taken = None;
    // SAFETY: single-threaded at this point (called first in main); every
    // pointer walked is a NUL-terminated entry of the live environment
    // block, and only bytes inside an entry's value are written.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let entry = CStr::from_ptr(*p).to_bytes();
            if entry.len() > name.len()
                && entry.starts_with(name.as_bytes())
                && entry[name.len()] == b'='
            {
                let value_ptr = (*p).add(name.len() + 1) as *mut u8;
                let value_len = entry.len() - name.len() - 1;
                if taken.is_none() {
                    let value = std::slice::from_raw_parts(value_ptr, value_len);
                    taken = Some(vault::SecretBytes::copy_from(value));
                }
                for i in 0..value_len {
                    std::ptr::write_volatile(value_ptr.add(i), 0);
                }
            }
            p = p.add(1);
        }
        // An entry `NAME=` (empty value) is still a set variable.
        if taken.is_none() && !libc::getenv(cname.as_ptr()).is_null() {
            taken = Some(vault::SecretBytes::copy_from(b""));
        }
        libc::unsetenv(cname.as_ptr());
    }
    taken
}

#[cfg(not(unix))]
pub fn take_env_secret(name: &str) -> Option<vault::SecretBytes> {
    let v = std::env::var_os(name)?;
    std::env::remove_var(name);
    Some(vault::SecretBytes::copy_from(v.as_encoded_bytes()))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_shared_page_is_unlocked_only_by_its_last_user() {
        let page = page_size();
        // Made-up addresses far from this process's heap: only the
        // counting is exercised, no system call.
        let base = usize::MAX / 2 / page * page;
        let (a, b) = (base as *const u8, (base + 100) as *const u8);
        assert_eq!(count_pages(a, 50, true), [(base, page)]);
        assert_eq!(
            count_pages(b, page, true),
            [(base + page, page)],
            "only the new page"
        );
        assert_eq!(count_pages(a, 50, false), [], "b still uses the first page");
        assert_eq!(
            count_pages(b, page, false),
            [(base, 2 * page)],
            "one run, both pages"
        );
        assert_eq!(
            count_pages(b, page, false),
            [],
            "an unpaired unlock changes nothing"
        );
    }
}
