//! `vault exec --mask`: run the command as a child with its stdout and
//! stderr piped through the stream masker, forward signals to it, and
//! leave with its status (re-raising its death signal on ourselves).

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use crate::error::{CliError, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
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

/// Runs `command` masked; never returns on success (exits with the child's
/// status or dies of its signal).
pub fn run(mut command: Command, program: &OsStr, plan: Plan) -> Result<()> {
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
    let (err_masker, _) = Masker::new(&values);
    // The maskers hold what they need; the plan's copies are wiped now.
    drop(values);
    drop(names);
    drop(masked);
    drop(plan);
    // Handlers go in before the child starts, so no signal is lost.
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGTERM, SIGHUP, SIGQUIT, SIGINT])
        .map_err(|e| CliError::Other(format!("installing signal handlers: {e}")))?;
    let handle = signals.handle();
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            crate::os::sys::restore_core_limit();
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| spawn_error(program, e))?;
    // Its environment block is std's (freed, not wiped): gone from use at least.
    drop(command);
    let pid = child.id() as libc::pid_t;
    let so = child.stdout.take().expect("piped");
    let se = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || pump(so, out_masker, std::io::stdout()));
    let t_err = std::thread::spawn(move || pump(se, err_masker, std::io::stderr()));
    let t_sig = std::thread::spawn(move || {
        for origin in signals.forever() {
            // Ctrl-C at a terminal already went to the child's process
            // group; forwarding it would deliver it twice.
            if origin.signal == SIGINT && matches!(origin.cause, Cause::Kernel) {
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
    let _ = t_out.join();
    let _ = t_err.join();
    handle.close();
    let _ = t_sig.join();
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
