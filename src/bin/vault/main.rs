//! The `vault` command line: parse flags, harden the process, run one
//! subcommand, print errors with their hint and exit with the documented
//! code. Everything secret-handling lives in the library.

mod cli;
mod cmd;
mod os;
mod output;
mod unlock;

use std::process::ExitCode;

use clap::Parser;
use vault::error::Error;

use cli::{Cli, Command};
use unlock::Session;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: os::alloc::VaultAlloc = os::alloc::VaultAlloc;

fn main() -> ExitCode {
    os::sys::harden_process();
    os::sys::MEMORY_LOCKED.store(os::sys::lock_memory(), std::sync::atomic::Ordering::Relaxed);
    #[cfg(target_os = "linux")]
    vault::secret::set_memory_lock(os::sys::lock_secret_memory, os::sys::unlock_secret_memory);
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            // A reader that went away (`vault list | head`) is not an error.
            ExitCode::SUCCESS
        }
        Err(e) => {
            output::report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Whether `os::sys::lock_memory` succeeded at start (for `vault doctor`).
pub static MEMORY_LOCKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn run(cli: Cli) -> Result<(), Error> {
    let mut s = Session::new(&cli.global)?;
    match cli.command {
        Command::Init {
            keyring,
            recovery_code,
            kdf,
        } => cmd::init::run(&mut s, keyring, recovery_code, &kdf),
        Command::Set { name, value, raw } => cmd::secrets::set(&mut s, &name, value, raw),
        Command::Get { name, no_newline } => cmd::secrets::get(&mut s, &name, no_newline),
        Command::List { json } => cmd::secrets::list(&mut s, json),
        Command::Delete { names } => cmd::secrets::delete(&mut s, &names),
        Command::Key(k) => {
            s.without_cache();
            cmd::key::run(&mut s, k)
        }
        Command::Rekey {
            drop,
            other_passphrase_file,
        } => {
            s.without_cache();
            cmd::key::rekey(&mut s, &drop, &other_passphrase_file)
        }
        Command::Unlock { timeout } => {
            s.without_cache();
            cmd::cache::unlock(&mut s, &timeout)
        }
        Command::Lock => cmd::cache::lock(&mut s),
        Command::Doctor { json } => cmd::doctor::run(&mut s, json),
        Command::Exec {
            only,
            file,
            mask,
            command,
        } => cmd::exec::exec_cmd(&mut s, &only, &file, mask, &command),
        Command::Render { template } => cmd::exec::render_cmd(&mut s, template.as_deref()),
    }
}
