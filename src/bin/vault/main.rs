//! The `vault` command line: parse flags, harden the process, run one
//! subcommand, print errors with their hint and exit with the documented
//! code. Everything secret-handling lives in the library.

// Not in the unit-test build, whose harness brings its own `main`.
#![cfg_attr(all(target_os = "linux", not(test)), no_main)]

mod cli;
mod cmd;
mod error;
mod invocation;
mod os;
mod output;
mod prompt;
mod unlock;

#[cfg(not(all(target_os = "linux", not(test))))]
use std::process::ExitCode;

use clap::FromArgMatches;

use cli::{Cli, Command};
use invocation::Invocation;
use unlock::{Ctx, Stores};

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: os::alloc::VaultAlloc = os::alloc::VaultAlloc;

/// The process entry on Linux, in place of Rust's runtime start-up, which
/// costs a short command about 7 % of its time: it reads and parses
/// `/proc/self/maps` to place a stack-overflow guard and sets up a signal
/// stack (callgrind: 0.2 M of 2.5 M instructions of an identity-mode
/// `vault get`, and five system calls; in interleaved runs the
/// whole `get` went from 1.0x to 0.93x `rage -d`). vault does the two parts
/// of it that matter to it in `os::sys::runtime_init`; a stack overflow
/// (none is expected: parsing is bounded and not recursive) still ends
/// the process, with SIGSEGV instead of a message. Arguments and the
/// environment reach std as usual (glibc passes them to initialisers).
#[cfg(all(target_os = "linux", not(test)))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    os::sys::runtime_init();
    // Not a return: `exit` flushes standard output first.
    std::process::exit(vault_main().into())
}

#[cfg(not(all(target_os = "linux", not(test))))]
fn main() -> ExitCode {
    ExitCode::from(vault_main())
}

/// Runs the command; its exit status.
fn vault_main() -> u8 {
    os::sys::harden_process();
    // Before anything else (no thread exists yet): the passphrase leaves
    // the environment block, wiped in place, for the whole run.
    let env_passphrase = os::sys::take_env_secret("VAULT_PASSPHRASE");
    // The identity itself (CI systems that only offer variables): the same.
    let env_identity = os::sys::take_env_secret("VAULT_IDENTITY");
    os::sys::MEMORY_LOCKED.store(os::sys::lock_memory(), std::sync::atomic::Ordering::Relaxed);
    #[cfg(target_os = "linux")]
    vault::secret::set_memory_lock(os::sys::lock_secret_memory, os::sys::unlock_secret_memory);
    // The exit-code table comes from the one definition in error.rs.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = cli::command_for(&args);
    let matches = command
        .try_get_matches_from_mut(args)
        .unwrap_or_else(|e| e.exit());
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Neither is used again. Freeing clap's tree (the typed subcommand's,
    // `cli::command_for`) costs a few instructions, but its pages are then
    // reused by what the command allocates next instead of fresh ones
    // faulted in (with the whole tree: 24 fewer page faults of 271, and an
    // identity-mode `get` 1.5 % faster in interleaved runs). The matches
    // are small. Nothing secret is in either (argv is visible to other
    // processes).
    drop(command);
    std::mem::forget(matches);
    match run(cli, env_passphrase, env_identity) {
        Ok(()) => 0,
        // A reader that went away (`vault list | head`) is not an error.
        Err(e) if e.is_broken_pipe() => 0,
        Err(e) => {
            output::report(&e);
            e.exit_code()
        }
    }
}

/// Whether `os::sys::lock_memory` succeeded at start (for `vault doctor`).
pub static MEMORY_LOCKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn run(
    cli: Cli,
    env_passphrase: Option<vault::SecretBytes>,
    env_identity: Option<vault::SecretBytes>,
) -> error::Result<()> {
    // Generated from the one definition of the flags; no vault is involved.
    match &cli.command {
        Command::Completions { shell } => return cmd::help::completions(*shell),
        Command::Git(cli::GitCommand::Setup {
            global,
            absolute_path,
        }) => return cmd::git::setup(*global, *absolute_path),
        Command::Man => return cmd::help::man(),
        _ => {}
    }
    let inv = Invocation::resolve(&cli.global, env_passphrase.is_some())?;
    let stores = Stores::new(&inv);
    let mut ctx = Ctx::new(&inv, &stores, env_passphrase, env_identity);
    let ctx = &mut ctx;
    match cli.command {
        Command::Init {
            keyring,
            recovery_code,
            label,
            weak_passphrase_ok,
            kdf,
        } => cmd::init::run(ctx, keyring, recovery_code, label, weak_passphrase_ok, &kdf),
        Command::Set {
            name,
            value,
            raw,
            allow_empty,
        } => cmd::secrets::set(ctx, &name, value, raw, allow_empty),
        Command::Get { name, no_newline } => cmd::secrets::get(ctx, &name, no_newline),
        Command::List { json } => cmd::secrets::list(ctx, json),
        Command::Delete { names } => cmd::secrets::delete(ctx, &names),
        Command::Key(k) => cmd::key::run(ctx, k),
        Command::Identity(i) => cmd::identity::run(ctx, i),
        Command::Rekey {
            drop,
            other_passphrase_file,
            delete_keyring_entry,
            no_rotate_pending,
        } => cmd::key::rekey(
            ctx,
            &drop,
            &other_passphrase_file,
            delete_keyring_entry,
            !no_rotate_pending,
        ),
        Command::Unlock { timeout } => cmd::cache::unlock(ctx, timeout),
        Command::Lock => cmd::cache::lock(ctx),
        Command::Doctor {
            json,
            delete_unused_keyring_entries,
        } => cmd::doctor::run(ctx, json, delete_unused_keyring_entries),
        Command::Exec {
            only,
            file,
            mask,
            nextflow,
            command,
        } => cmd::exec::exec_cmd(ctx, &only, &file, mask, nextflow, &command),
        Command::Render { template } => cmd::exec::render_cmd(ctx, template.as_deref()),
        Command::Completions { .. } | Command::Man | Command::Git(_) => {
            unreachable!("handled above")
        }
        Command::Import(args) => cmd::import::run(ctx, &args),
        Command::Export(args) => cmd::export::run(ctx, &args),
        Command::Textconv { file } => cmd::git::textconv(ctx, &file),
        Command::Merge { base, ours, theirs } => cmd::git::merge(ctx, &base, &ours, &theirs),
        Command::Resolve { name, other, .. } => cmd::git::resolve(ctx, &name, other),
    }
}
