//! `vault exec --mask` and `--nextflow`: run the command as a child (with
//! `--mask`, its stdout and stderr piped through the stream masker),
//! forward signals to it, and leave with its status (re-raising its death
//! signal on ourselves) once the caller has cleaned up.
//!
//! When our stdout and stderr are one file (`2>&1` into a log, a pipe or a
//! terminal), the child gets one pipe for both, read by one masker, so a
//! value written half to each stream is still one occurrence, and the
//! order of its writes is kept. Otherwise each stream has its own pipe and
//! masker.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};

use crate::error::{CliError, Result};
use signal_hook::consts::signal::{
    SIGABRT, SIGALRM, SIGHUP, SIGINT, SIGIO, SIGPROF, SIGQUIT, SIGSYS, SIGTERM, SIGTRAP, SIGUSR1,
    SIGUSR2, SIGVTALRM, SIGXCPU, SIGXFSZ,
};
use signal_hook::iterator::exfiltrator::origin::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;
use vault::exec::Plan;
use vault::mask::{Masker, MIN_LEN};
use zeroize::Zeroizing;

use crate::output::warn;

/// Bytes read from the child per call.
const CHUNK: usize = 128 * 1024;

/// Copies `from` to `to` through `masker` until end of input; output is
/// written as soon as the masker releases it.
fn pump(mut from: impl Read, mut masker: Masker, mut to: impl Write) {
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    // One feed can release the input plus a held-back prefix of up to the
    // longest value (1 MiB), so this never reallocates.
    let mut out = Zeroizing::new(Vec::with_capacity(CHUNK + vault::format::MAX_VALUE_LEN));
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        out.clear();
        masker.feed(&buf[..n], &mut out);
        if !out.is_empty() && to.write_all(&out).and_then(|_| to.flush()).is_err() {
            // Our reader went away: stop reading so the child sees EPIPE.
            return;
        }
    }
    out.clear();
    masker.finish(&mut out);
    let _ = to.write_all(&out).and_then(|_| to.flush());
}

/// Whether our stdout and stderr are the same open file, pipe or terminal
/// (same device and inode); `false` if either cannot be examined.
fn stdout_is_stderr() -> bool {
    fn id(fd: std::os::fd::BorrowedFd<'_>) -> Option<(u64, u64)> {
        let meta = File::from(fd.try_clone_to_owned().ok()?).metadata().ok()?;
        Some((meta.dev(), meta.ino()))
    }
    match (id(std::io::stdout().as_fd()), id(std::io::stderr().as_fd())) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The maskers of the plan's values: one for stdout, and one for stderr
/// unless both go to one place (`shared`).
fn maskers(plan: &Plan, shared: bool) -> (Masker, Option<Masker>) {
    let masked = plan.masked();
    let values: Vec<&[u8]> = masked.values().copied().collect();
    let names: Vec<&str> = masked.keys().copied().collect();
    let (out_masker, short) = Masker::new(&values);
    if !short.is_empty() {
        let list: Vec<&str> = short.iter().map(|i| names[*i]).collect();
        warn(&format!(
            "not masking {} (shorter than {MIN_LEN} bytes: masking them would hide ordinary text)",
            list.join(", ")
        ));
    }
    // One stream, one masker: no second copy of the values.
    let err_masker = (!shared).then(|| Masker::new(&values).0);
    (out_masker, err_masker)
}

/// The signals passed on to the command: every one that can be caught and
/// whose default action ends a process, which would end us at once and
/// leave the command running (with `--nextflow`, its directory in place
/// until a later run). Not among them: SIGKILL and SIGSTOP (they cannot
/// be caught); SIGSEGV, SIGBUS, SIGILL and SIGFPE (a fault in our own code:
/// a handler that returns runs the faulting instruction again); SIGPIPE
/// (Rust's runtime ignores it, so a write to a closed pipe fails with EPIPE
/// and a masker stops reading: it never ends us).
fn forwarded_signals() -> Vec<libc::c_int> {
    let mut signals = vec![
        SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO,
        SIGXCPU, SIGXFSZ, SIGSYS, SIGABRT, SIGTRAP,
    ];
    #[cfg(target_os = "linux")]
    {
        signals.push(libc::SIGPWR);
        #[cfg(not(any(
            target_arch = "mips",
            target_arch = "mips32r6",
            target_arch = "mips64",
            target_arch = "mips64r6",
            target_arch = "sparc64"
        )))]
        signals.push(libc::SIGSTKFLT);
        // The real-time signals the C library leaves to programs.
        signals.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    }
    signals
}

/// Runs `command` as our child until it ends, forwarding signals to it;
/// with `mask`, its output goes through maskers of the plan's values.
/// Returns its status: the caller cleans up, then [`exit_as`].
pub fn supervise(
    mut command: Command,
    program: &OsStr,
    plan: Plan,
    mask: bool,
) -> Result<ExitStatus> {
    let shared = stdout_is_stderr();
    let maskers = mask.then(|| maskers(&plan, shared));
    // The maskers hold what they need; the plan's copies are wiped now.
    drop(plan);
    // Handlers go in before the child starts, so no signal is lost.
    let mut signals = SignalsInfo::<WithOrigin>::new(forwarded_signals())
        .map_err(|e| CliError::Other(format!("installing signal handlers: {e}")))?;
    let handle = signals.handle();
    // With one destination, the child's stdout and stderr are the write
    // end of one pipe; `command` holds our copies of it until dropped below.
    let shared_pipe = if maskers.is_none() {
        None
    } else if shared {
        let (reader, writer) = std::io::pipe()
            .map_err(|e| CliError::Other(format!("creating a pipe for the command: {e}")))?;
        let writer2 = writer
            .try_clone()
            .map_err(|e| CliError::Other(format!("creating a pipe for the command: {e}")))?;
        command.stdout(writer).stderr(writer2);
        Some(reader)
    } else {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        None
    };
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            crate::os::sys::restore_core_limit();
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| spawn_error(program, e))?;
    // Its environment block is std's (freed, not wiped): gone from use at
    // least. Dropping it also closes our write ends of a shared pipe, so
    // the reader sees the end when the child (and its children) close it.
    drop(command);
    let pid = child.id() as libc::pid_t;
    let (t_out, t_err) = match (maskers, shared_pipe) {
        (None, _) => (None, None),
        (Some((out_masker, _)), Some(both)) => (
            Some(std::thread::spawn(move || {
                pump(both, out_masker, std::io::stdout())
            })),
            None,
        ),
        (Some((out_masker, err_masker)), None) => {
            let so = child.stdout.take().expect("piped");
            let se = child.stderr.take().expect("piped");
            let err_masker = err_masker.expect("made when the streams differ");
            (
                Some(std::thread::spawn(move || {
                    pump(so, out_masker, std::io::stdout())
                })),
                Some(std::thread::spawn(move || {
                    pump(se, err_masker, std::io::stderr())
                })),
            )
        }
    };
    let t_sig = std::thread::spawn(move || {
        for origin in signals.forever() {
            // Ctrl-C at a terminal already went to the child's process
            // group; forwarding it would deliver it twice.
            if origin.signal == SIGINT && matches!(origin.cause, Cause::Kernel) {
                continue;
            }
            // One we raised ourselves (abort() on a fatal error) is our
            // own end, not a request to end the command.
            if origin
                .process
                .is_some_and(|p| p.pid == std::process::id() as libc::pid_t)
            {
                continue;
            }
            // SAFETY: kill with our child's pid and a valid signal number.
            unsafe {
                libc::kill(pid, origin.signal);
            }
        }
    });
    let status = child
        .wait()
        .map_err(|e| CliError::Other(format!("waiting for the command: {e}")))?;
    for t in [t_out, t_err].into_iter().flatten() {
        let _ = t.join();
    }
    handle.close();
    let _ = t_sig.join();
    Ok(status)
}

/// Leaves as the child did: with its exit code, or dying of its signal.
pub fn exit_as(status: ExitStatus) -> ! {
    if let Some(code) = status.code() {
        std::process::exit(code);
    }
    let sig = status.signal().unwrap_or(libc::SIGTERM);
    // SAFETY: restore the default action and deliver the same signal to
    // ourselves, so our parent sees the same death.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    std::process::exit(128 + sig);
}

/// The shell's answer to a command that could not be started.
pub fn spawn_error(program: &OsStr, e: std::io::Error) -> CliError {
    let p = program.to_string_lossy();
    match e.kind() {
        std::io::ErrorKind::NotFound => CliError::CommandFailed {
            code: crate::error::NOT_FOUND,
            message: format!("{p}: command not found"),
        },
        _ if e.raw_os_error() == Some(libc::E2BIG) => CliError::CommandFailed {
            code: crate::error::NOT_EXECUTABLE,
            message: format!(
                "{p}: the environment is too large for the OS (argument list too long); give the command fewer secrets with --only, or large ones with --file"
            ),
        },
        std::io::ErrorKind::PermissionDenied => CliError::CommandFailed {
            code: crate::error::NOT_EXECUTABLE,
            message: format!("{p}: permission denied (is it executable?)"),
        },
        _ => CliError::CommandFailed {
            code: crate::error::NOT_EXECUTABLE,
            message: format!("{p}: cannot run it: {e}"),
        },
    }
}
