//! What the command line means, resolved once before any command runs: the
//! vault path (links followed), where a passphrase would come from, and the
//! environment knobs. Nothing secret is read here, and nothing in it changes
//! afterwards (ripgrep's `HiArgs`).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{CliError, Result};
use vault::slots::SlotRef;
use vault::store;

use crate::cli::Global;

/// Where a passphrase comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// The first line of standard input.
    Stdin,
    /// A file (one trailing newline removed).
    File(PathBuf),
    /// An inherited file descriptor, 3 or above.
    Fd(i32),
    /// `VAULT_PASSPHRASE` (for CI systems that only offer variables).
    Env,
}

/// The resolved invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The vault path as given (for messages).
    pub path: PathBuf,
    /// The path with symbolic links followed: where reads and writes go.
    pub resolved: PathBuf,
    /// Where a passphrase comes from, if one is given.
    pub passphrase: Option<PassphraseSource>,
    /// `--no-keyring`.
    pub no_keyring: bool,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--allow-rollback`.
    pub allow_rollback: bool,
    /// `--accept-new-key`.
    pub accept_new_key: bool,
    /// `--slot`: the one passphrase slot to try.
    pub slot: Option<SlotRef>,
    /// `VAULT_LOCK_TIMEOUT` (seconds), default 30 s.
    pub lock_timeout: Duration,
    /// Identity files: every `--identity`, then `VAULT_IDENTITY_FILE`.
    pub identity_files: Vec<PathBuf>,
}

impl Invocation {
    /// Resolves flags and environment. Flags win over
    /// `VAULT_PASSPHRASE_FILE`, which wins over `VAULT_PASSPHRASE`; two
    /// passphrase flags at once are a usage error.
    /// `env_passphrase` says whether `VAULT_PASSPHRASE` was set (its value
    /// was taken out of the environment at start-up, see `os::sys`).
    pub fn resolve(global: &Global, env_passphrase: bool) -> Result<Invocation> {
        let path = match &global.vault {
            Some(p) => p.clone(),
            None => match std::env::var_os("VAULT_FILE").filter(|v| !v.is_empty()) {
                Some(p) => PathBuf::from(p),
                None => store::default_path()?,
            },
        };
        let resolved = store::resolve(&path, crate::os::sys::euid())?;
        let flags = [
            global.passphrase_stdin,
            global.passphrase_file.is_some(),
            global.passphrase_fd.is_some(),
        ];
        if flags.iter().filter(|f| **f).count() > 1 {
            return Err(CliError::Usage(
                "give the passphrase one way only: --passphrase-stdin, --passphrase-file or --passphrase-fd".into(),
            ));
        }
        let passphrase = if global.passphrase_stdin {
            Some(PassphraseSource::Stdin)
        } else if let Some(f) = &global.passphrase_file {
            Some(PassphraseSource::File(f.clone()))
        } else if let Some(fd) = global.passphrase_fd {
            Some(PassphraseSource::Fd(fd))
        } else if let Some(f) = std::env::var_os("VAULT_PASSPHRASE_FILE").filter(|v| !v.is_empty())
        {
            Some(PassphraseSource::File(PathBuf::from(f)))
        } else if env_passphrase {
            Some(PassphraseSource::Env)
        } else {
            None
        };
        let lock_timeout = std::env::var("VAULT_LOCK_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(30));
        let mut identity_files = global.identity.clone();
        if let Some(f) = std::env::var_os("VAULT_IDENTITY_FILE").filter(|v| !v.is_empty()) {
            identity_files.push(PathBuf::from(f));
        }
        Ok(Invocation {
            identity_files,
            path,
            resolved,
            passphrase,
            no_keyring: global.no_keyring,
            no_cache: global.no_cache,
            allow_rollback: global.allow_rollback,
            accept_new_key: global.accept_new_key,
            slot: global.slot.clone(),
            lock_timeout,
        })
    }
}
