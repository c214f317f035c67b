//! The CLI's error: the library's [`vault::error::Error`] plus what only
//! the command line knows (a mistake in what was typed, a command that
//! could not be started), each mapped to the one exit-code table and given
//! a line saying what to do next, which may name a flag (rage's CLI error).

use std::fmt;

use vault::error::Error;
use vault::format::kdf::{self, OverBudget};

/// Every exit code and what it means: `--help`, the README (checked by a
/// test) and [`CliError::exit_code`] all come from this table.
pub const EXIT_CODES: [(u8, &str); 8] = [
    (0, "ok"),
    (1, "I/O or other failure (e.g. no vault at the path, value unusable as an environment variable); `merge`: merged with conflicts (written, marked)"),
    (2, "usage: bad flag, bad name, bad parameter, value too large, malformed template; `merge`: cannot merge (nothing written)"),
    (3, "cannot unlock: wrong passphrase or identity, no usable keyring slot, no passphrase or identity given"),
    (4, "the vault file is corrupt, tampered with, of an unsupported version, over the KDF budget, or refused by this path's rollback memory (older, forked, under a retired key, or under a new master key the remembered one did not endorse)"),
    (5, "no such secret"),
    (126, "`exec`: the command is not executable"),
    (127, "`exec`: the command is not found"),
];

/// Exit 1: I/O or other failure.
pub const FAILURE: u8 = 1;
/// Exit 2: usage.
pub const USAGE: u8 = 2;
/// Exit 3: cannot unlock.
pub const UNLOCK: u8 = 3;
/// Exit 4: corrupt, tampered or unsupported vault.
pub const CORRUPT: u8 = 4;
/// Exit 5: no such secret.
pub const NO_SECRET: u8 = 5;
/// Exit 126: found but not executable.
pub const NOT_EXECUTABLE: u8 = 126;
/// Exit 127: command not found.
pub const NOT_FOUND: u8 = 127;

/// The text after `--help`: exit codes and environment.
pub fn help_footer() -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, what) in EXIT_CODES {
        s.push_str(&format!("  {code:>3}  {what}\n"));
    }
    s.push_str(
        "\nEnvironment:
  VAULT_FILE              vault path (like --vault)
  VAULT_PASSPHRASE_FILE   file holding the passphrase (like --passphrase-file)
  VAULT_PASSPHRASE        the passphrase itself (for CI systems that only offer
                          variables; prefer the file); never passed to children
  VAULT_IDENTITY_FILE     an identity file (like --identity)
  VAULT_IDENTITY          the identity itself (AGE-SECRET-KEY-1…, for CI systems
                          that only offer variables); never passed to children
  VAULT_LOCK_TIMEOUT      seconds to wait for another writer (default 30)

Unlock order:
  1. a given passphrase or identity (--passphrase-*, VAULT_PASSPHRASE*,
     --identity, VAULT_IDENTITY*; both tried when both are given)
  2. the cached unlock (`vault unlock`; never for slot management)
  3. this machine's keyring slot
  4. the personal identity (`vault identity new`), ~/.ssh/id_ed25519 and
     ~/.ssh/id_rsa, when one of the vault's recipient slots matches them
  5. a passphrase prompt on a terminal
  6. exit 3, saying what to give",
    );
    s
}

/// `Result` with [`CliError`].
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// Everything a command can fail with.
#[derive(Debug)]
pub enum CliError {
    /// The library's error.
    Vault(Error),
    /// A mistake in what was typed (exit 2).
    Usage(String),
    /// Nothing to read a needed secret from: no terminal, nothing given (exit 3).
    Unlock(String),
    /// A command could not be started: exit 127 (not found) or 126.
    CommandFailed {
        /// 126 or 127.
        code: u8,
        /// What happened.
        message: String,
    },
    /// Any other failure (exit 1).
    Other(String),
    /// `vault merge` wrote its result with conflicts (exit 1: git stops).
    MergeConflicts(String),
    /// `vault merge` cannot merge and wrote nothing (exit 2, or the code
    /// of a side that cannot be opened or is corrupt: 3, 4).
    CannotMerge(String),
    /// The library's error with a hint only the command knows (e.g. "did
    /// you mean GITHUB_TOKEN?").
    Hinted {
        /// The error.
        error: Error,
        /// The hint.
        hint: String,
    },
}

impl From<Error> for CliError {
    fn from(e: Error) -> CliError {
        CliError::Vault(e)
    }
}

impl CliError {
    /// The documented exit code ([`EXIT_CODES`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => USAGE,
            CliError::Unlock(_) => UNLOCK,
            CliError::CommandFailed { code, .. } => *code,
            CliError::Other(_) | CliError::MergeConflicts(_) => FAILURE,
            CliError::CannotMerge(_) => USAGE,
            CliError::Hinted { error, .. } => vault_exit_code(error),
            CliError::Vault(e) => vault_exit_code(e),
        }
    }

    /// The line printed after the message: what to do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::Hinted { hint, .. } => Some(hint.clone()),
            CliError::Vault(e) => vault_hint(e),
            _ => None,
        }
    }

    /// Whether this is a closed standard output (`vault list | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Vault(Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

fn vault_exit_code(e: &Error) -> u8 {
    match e {
        Error::NoHome
        | Error::FileTooLong { .. }
        | Error::KdfParams(_)
        | Error::NewSlotOverKdfBudget(_)
        | Error::InvalidName(_)
        | Error::ValueTooLarge { .. }
        | Error::Template { .. }
        | Error::EmptyPassphrase
        | Error::SlotNotFound(_)
        | Error::NoSuchLabel(_)
        | Error::LabelTaken(_)
        | Error::UnwritableHeader(_)
        | Error::NotAPassphraseSlot(_)
        | Error::LastSlot
        | Error::TooManySlots(_)
        | Error::DroppingEverySlot
        | Error::MissingSlotKeys(_)
        | Error::CannotMerge(_)
        | Error::NoConflict(_) => USAGE,
        Error::BadRecipient(_) | Error::RecipientInUse(_) | Error::BadIdentity { .. } => USAGE,
        Error::NotEnoughMemory { new_slot: true, .. } => USAGE,
        Error::WrongPassphrase(_)
        | Error::NoPassphraseSlot(_)
        | Error::StaleCachedKey(_)
        | Error::ChangedWhileOpening { .. }
        | Error::NoUsableSlot { .. }
        | Error::Keyring(_)
        | Error::SlotChanged { .. } => UNLOCK,
        Error::Corrupt { .. }
        | Error::UnsupportedVersion { .. }
        | Error::Rollback { .. }
        | Error::Fork { .. }
        | Error::RetiredKey { .. }
        | Error::UnendorsedKey { .. }
        | Error::GenerationExhausted { .. }
        | Error::OverKdfBudget { .. } => CORRUPT,
        Error::NoSuchSecret { .. } => NO_SECRET,
        _ => FAILURE,
    }
}

/// What to do next after the library's error `e`, where the CLI knows.
fn vault_hint(e: &Error) -> Option<String> {
    Some(match e {
            Error::NoVault(_) => "create one with `vault init`, or point --vault / VAULT_FILE at an existing vault".into(),
            Error::VaultExists(_) => "choose another path with --vault; an existing vault is never overwritten".into(),
            Error::NoHome => "give the vault's path with --vault or VAULT_FILE".into(),
            Error::Corrupt { .. } | Error::OverKdfBudget { .. } => "restore the file from a backup; `vault doctor` reports what it can still read of the header".into(),
            Error::NewSlotOverKdfBudget(o) => budget_hint(o),
            Error::UnsupportedVersion { .. } => "was it written by a newer vault? upgrade vault to open it".into(),
            Error::Rollback { .. } => "if you restored this file from a backup on purpose, accept it once with --allow-rollback (a copy at another path has a memory of its own)".into(),
            Error::Fork { .. } => "compare the two copies and carry the lost change over by hand; to keep this file as it is, accept it once with --allow-rollback".into(),
            Error::RetiredKey { .. } => "put the rekeyed file back; to read this one anyway, use --allow-rollback (nothing is ever written to it here)".into(),
            Error::UnendorsedKey { .. } => "find out who changed the file (`git log -p` of it, if it is in git) and ask a member whether they rotated it; if you trust it, accept it once with --accept-new-key".into(),
            Error::GenerationExhausted { .. } => "restore the file from a backup, or move the secrets into a new vault (`vault export`, then `vault import` into a new one)".into(),
            Error::LockTimeout { .. } => "another vault process is still writing; retry, or set VAULT_LOCK_TIMEOUT (seconds) to wait longer".into(),
            Error::NotEnoughMemory { new_slot: true, .. } => "choose a smaller --kdf-memory".into(),
            Error::NotEnoughMemory { new_slot: false, .. } => "open the vault on a machine with more free memory, or through another slot".into(),
            Error::NoUsableSlot { has_passphrase_slot: true, .. } => "give the passphrase with --passphrase-stdin, --passphrase-file or VAULT_PASSPHRASE_FILE".into(),
            Error::SlotNotFound(_) | Error::NoSuchLabel(_) => "see `vault key list`".into(),
            Error::LabelTaken(_) => "choose another label, or move it first with `vault key label SLOT NEW`".into(),
            Error::UntrustedLink { .. } => "keep the vault in a directory of your own (the default is ~/.local/share/vault), or give the link's target path if you trust it".into(),
            Error::LastSlot => "add another slot first".into(),
            Error::CannotWrapTo { .. } => "a plugin recipient needs its plugin `age-plugin-NAME` on PATH (install it, or ask its owner for another recipient)".into(),
            Error::BadIdentity { .. } => "give an age identity file (age-keygen makes one; `vault identity new --output FILE`) or an OpenSSH private key (ed25519 or RSA)".into(),
            Error::RecipientInUse(_) => "see `vault key list`; give the existing slot a label with `vault key label ID LABEL`".into(),
            Error::TooManySlots(_) => "remove one first (`vault key remove ID`)".into(),
            Error::MissingSlotKeys(slots) => {
                let ids: Vec<String> = slots.iter().map(|(id, _)| id.to_hex()).collect();
                format!(
                    "give each passphrase slot's passphrase (--other-passphrase-file, or on a terminal), run where the keyring answers, or drop the slot with --drop {}",
                    ids.join(" --drop ")
                )
            }
            Error::NoSuchSecret { context: Some(c), .. } if c.contains("restricted to") => {
                "name it with --only as well, or leave --only out".into()
            }
            Error::NotAnEnvValue { name, .. } => format!(
                "pass it as a file with --file VAR=TEMPLATE (a template containing ${{secrets.{name}}})"
            ),
            Error::NotANextflowValue { .. } => {
                "hand Nextflow only the secrets the pipeline uses with --only NAME..., or change this value".into()
            }
            _ => return None,
        })
}

/// What fits in what is left of the KDF budget: fewer passes at the same
/// memory, or less memory at the same passes, else making room.
fn budget_hint(o: &OverBudget) -> String {
    let (m, t) = (o.params.memory_kib as u64, o.params.time as u64);
    let mut ways = Vec::new();
    let passes = o.left / m;
    if passes >= 1 {
        ways.push(format!("--kdf-time {passes}"));
    }
    // Whole MiB, within the per-slot bounds.
    let mib = (o.left / t / 1024).min(*kdf::MEMORY_KIB.end() as u64 / 1024);
    if mib * 1024 >= *kdf::MEMORY_KIB.start() as u64 {
        ways.push(format!("--kdf-memory {mib}MiB"));
    }
    let room = "remove a passphrase slot first (`vault key remove ID`) or make another one cheaper (`vault key passwd ID --kdf-memory SIZE`)";
    if ways.is_empty() {
        room.to_string()
    } else {
        format!("choose a cheaper slot ({}), or {room}", ways.join(" or "))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Vault(e) => e.fmt(f),
            CliError::Usage(m)
            | CliError::Unlock(m)
            | CliError::Other(m)
            | CliError::MergeConflicts(m)
            | CliError::CannotMerge(m) => f.write_str(m),
            CliError::CommandFailed { message, .. } => f.write_str(message),
            CliError::Hinted { error, .. } => error.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use vault::slots::KeyringError;

    #[test]
    fn exit_codes_follow_the_table() {
        let p = PathBuf::from("v");
        let cases: Vec<(CliError, u8)> = vec![
            (
                Error::io("reading", &p, std::io::Error::other("x")).into(),
                1,
            ),
            (Error::NoVault(p.clone()).into(), 1),
            (Error::VaultExists(p.clone()).into(), 1),
            (CliError::Usage("bad".into()), 2),
            (
                Error::InvalidName(vault::error::NameProblem::Empty).into(),
                2,
            ),
            (Error::WrongPassphrase(p.clone()).into(), 3),
            (Error::Keyring(KeyringError::Locked).into(), 3),
            (
                Error::Corrupt {
                    path: p.clone(),
                    detail: "x".into(),
                }
                .into(),
                4,
            ),
            (
                Error::UnsupportedVersion {
                    path: p.clone(),
                    version: 9,
                }
                .into(),
                4,
            ),
            (
                Error::Rollback {
                    path: p.clone(),
                    found: 1,
                    remembered: 2,
                }
                .into(),
                4,
            ),
            (
                Error::Fork {
                    path: p.clone(),
                    generation: 2,
                }
                .into(),
                4,
            ),
            (
                Error::RetiredKey {
                    path: p.clone(),
                    generation: 2,
                }
                .into(),
                4,
            ),
            (
                Error::UnendorsedKey {
                    path: p.clone(),
                    generation: 2,
                }
                .into(),
                4,
            ),
            (Error::OverKdfBudget { path: p.clone() }.into(), 4),
            (
                Error::GenerationExhausted {
                    path: p.clone(),
                    generation: vault::format::MAX_GENERATION,
                }
                .into(),
                4,
            ),
            (
                Error::NewSlotOverKdfBudget(OverBudget {
                    params: vault::format::KdfParams::DEFAULT,
                    left: 0,
                })
                .into(),
                2,
            ),
            (Error::no_such_secret("A").into(), 5),
            (
                Error::NotANextflowValue {
                    name: "A".into(),
                    why: "x".into(),
                }
                .into(),
                1,
            ),
            (
                CliError::CommandFailed {
                    code: 127,
                    message: "x".into(),
                },
                127,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e}");
            assert!(EXIT_CODES.iter().any(|(c, _)| *c == code));
        }
    }

    #[test]
    fn a_slot_over_the_kdf_budget_is_told_what_fits() {
        use vault::format::KdfParams;
        let over = |memory_kib, time, left| {
            budget_hint(&OverBudget {
                params: KdfParams {
                    memory_kib,
                    time,
                    parallelism: 1,
                },
                left,
            })
        };
        // 64 MiB × 3 passes with 64 MiB × 2 left: 2 passes, or 42 MiB.
        let h = over(65536, 3, 2 * 65536);
        assert!(
            h.starts_with("choose a cheaper slot (--kdf-time 2 or --kdf-memory 42MiB)"),
            "{h}"
        );
        // Nothing fits: make room.
        let h = over(8192, 1, 100);
        assert!(h.starts_with("remove a passphrase slot first"), "{h}");
    }

    /// The README's exit-code table is this table.
    #[test]
    fn readme_lists_the_same_exit_codes() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("## Exit codes")
            .expect("README has an exit-code section");
        let rows: Vec<(u8, String)> = readme[start..]
            .lines()
            .skip_while(|l| !l.starts_with("| 0 "))
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].parse().expect("a code"), cells[2].to_string())
            })
            .collect();
        let want: Vec<(u8, String)> = EXIT_CODES
            .iter()
            .map(|(c, w)| (*c, w.to_string()))
            .collect();
        assert_eq!(
            rows, want,
            "README.md's exit-code table differs from EXIT_CODES"
        );
    }
}
