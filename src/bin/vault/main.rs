//! The `vault` command line: parse flags, harden the process, run one
//! subcommand, print errors with their hint and exit with the documented
//! code. Everything secret-handling lives in the library.

#[cfg(target_os = "linux")]
mod alloc;
mod cli;
mod cmd_cache;
mod cmd_doctor;
mod cmd_exec;
mod cmd_init;
mod cmd_key;
mod cmd_secrets;
mod masked;
mod memfile;
mod sys;
mod unlock;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use vault::error::Error;

use cli::{Cli, Command};
use unlock::Session;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: alloc::VaultAlloc = alloc::VaultAlloc;

fn main() -> ExitCode {
    sys::harden_process();
    MEMORY_LOCKED.store(sys::lock_memory(), std::sync::atomic::Ordering::Relaxed);
    #[cfg(target_os = "linux")]
    vault::secret::set_memory_lock(sys::lock_secret_memory);
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            // A reader that went away (`vault list | head`) is not an error.
            ExitCode::SUCCESS
        }
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Whether `sys::lock_memory` succeeded at start (for `vault doctor`).
pub static MEMORY_LOCKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints an error and its hint on stderr.
pub fn report(e: &Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "vault: {e}");
    if let Some(h) = e.hint() {
        let _ = writeln!(err, "  hint: {h}");
    }
}

/// Prints a warning on stderr.
pub fn warn(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "vault: warning: {msg}");
}

fn run(cli: Cli) -> Result<(), Error> {
    let mut s = Session::new(&cli.global)?;
    match cli.command {
        Command::Init {
            keyring,
            recovery_code,
            kdf,
        } => cmd_init::run(&mut s, keyring, recovery_code, &kdf),
        Command::Set { name, value, raw } => cmd_secrets::set(&mut s, &name, value, raw),
        Command::Get { name, no_newline } => cmd_secrets::get(&mut s, &name, no_newline),
        Command::List { json } => cmd_secrets::list(&mut s, json),
        Command::Delete { names } => cmd_secrets::delete(&mut s, &names),
        Command::Key(k) => {
            s.without_cache();
            cmd_key::run(&mut s, k)
        }
        Command::Rekey {
            drop,
            other_passphrase_file,
        } => {
            s.without_cache();
            cmd_key::rekey(&mut s, &drop, &other_passphrase_file)
        }
        Command::Unlock { timeout } => {
            s.without_cache();
            cmd_cache::unlock(&mut s, &timeout)
        }
        Command::Lock => cmd_cache::lock(&mut s),
        Command::Doctor { json } => cmd_doctor::run(&mut s, json),
        Command::Exec {
            only,
            file,
            mask,
            command,
        } => cmd_exec::exec_cmd(&mut s, &only, &file, mask, &command),
        Command::Render { template } => cmd_exec::render_cmd(&mut s, template.as_deref()),
    }
}

/// Writes to stdout, mapping errors (a closed pipe included) to [`Error`].
pub fn stdout_write(bytes: &[u8]) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("writing to", "standard output", e))
}
