//! The one error type of the crate, and the exit code each variant maps to.
//!
//! Exit codes (README, `--help`): 0 ok · 1 I/O or other failure · 2 usage ·
//! 3 cannot unlock · 4 corrupt, tampered or unsupported vault · 5 no such
//! secret. Messages say what happened and which file or secret; none ever
//! contains a secret value or a passphrase, and a rejected name is not
//! repeated (it may be a token typed in the wrong place).

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::slots::KeyringError;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, each with its exit code.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on `path` while doing `action` (exit 1).
    Io {
        /// What was being done, e.g. "reading".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// No vault file at the path (exit 1).
    NoVault(PathBuf),
    /// `init` found a vault already there (exit 1).
    VaultExists(PathBuf),
    /// The vault path is not a regular file (exit 1).
    NotAFile(PathBuf),
    /// Another process held the write lock for too long (exit 1).
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited, seconds.
        waited_secs: u64,
    },
    /// Not enough memory for a KDF (exit 1 on open, exit 2 when making a slot).
    NotEnoughMemory {
        /// What the slot asks for, KiB.
        needed_kib: u64,
        /// Available, KiB.
        available_kib: u64,
        /// Whether the parameters came from the command line.
        usage: bool,
    },
    /// A value cannot be passed on as asked (exit 1), e.g. as an environment
    /// variable; the text names the secret and the alternative.
    Unusable(String),
    /// Any other failure (exit 1).
    Other(String),
    /// A command could not be started: exit 127 (not found) or 126 (not
    /// executable), as shells do.
    CommandFailed {
        /// 126 or 127.
        code: u8,
        /// What happened.
        message: String,
    },
    /// Bad usage: flag, parameter, name or size (exit 2).
    Usage(String),
    /// Cannot unlock (exit 3). The text is the whole reason; a wrong
    /// passphrase and a tampered passphrase slot give the same text.
    Unlock(String),
    /// The keyring could not be used (exit 3).
    Keyring(KeyringError),
    /// Corrupt or tampered vault (exit 4); the detail is for debugging.
    Corrupt {
        /// The vault file.
        path: PathBuf,
        /// Short internal reason.
        detail: String,
    },
    /// A format version this build does not know (exit 4).
    UnsupportedVersion {
        /// The vault file.
        path: PathBuf,
        /// The version found.
        version: u16,
    },
    /// The file is older than one this machine has already seen (exit 4).
    Rollback {
        /// The vault file.
        path: PathBuf,
        /// Generation in the file.
        found: u64,
        /// Highest generation remembered.
        remembered: u64,
    },
    /// No secret by that name (exit 5).
    NoSuchSecret(String),
}

/// The message for a wrong passphrase or a tampered passphrase slot: the two
/// cannot be told apart, and must not be.
pub const WRONG_PASSPHRASE: &str =
    "wrong passphrase (or the vault's passphrase slots have been tampered with)";

impl Error {
    /// The process exit code documented for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Io { .. }
            | Error::NoVault(_)
            | Error::VaultExists(_)
            | Error::NotAFile(_)
            | Error::LockTimeout { .. }
            | Error::Unusable(_)
            | Error::Other(_) => 1,
            Error::NotEnoughMemory { usage, .. } => {
                if *usage {
                    2
                } else {
                    1
                }
            }
            Error::Usage(_) => 2,
            Error::Unlock(_) | Error::Keyring(_) => 3,
            Error::Corrupt { .. } | Error::UnsupportedVersion { .. } | Error::Rollback { .. } => 4,
            Error::NoSuchSecret(_) => 5,
            Error::CommandFailed { code, .. } => *code,
        }
    }

    /// Shorthand for an I/O error with its path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The one-line hint printed after the message, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoVault(_) => Some("create one with `vault init`, or point --vault / VAULT_FILE at an existing vault".into()),
            Error::VaultExists(_) => Some("choose another path with --vault; an existing vault is never overwritten".into()),
            Error::Corrupt { .. } => Some("restore the file from a backup; `vault doctor` reports what it can still read of the header".into()),
            Error::UnsupportedVersion { .. } => Some("was it written by a newer vault? upgrade vault to open it".into()),
            Error::Rollback { .. } => Some("if you restored this file from a backup on purpose, accept it once with --allow-rollback".into()),
            Error::LockTimeout { .. } => Some("another vault process is still writing; retry, or set VAULT_LOCK_TIMEOUT (seconds) to wait longer".into()),
            Error::NotEnoughMemory { usage: true, .. } => Some("choose a smaller --kdf-memory".into()),
            Error::NotEnoughMemory { usage: false, .. } => Some("open the vault on a machine with more free memory, or through another slot".into()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io {
                action,
                path,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            Error::NoVault(p) => write!(f, "no vault at {}", p.display()),
            Error::VaultExists(p) => write!(f, "a vault already exists at {}", p.display()),
            Error::NotAFile(p) => write!(f, "{} is not a regular file", p.display()),
            Error::LockTimeout { path, waited_secs } => write!(
                f,
                "gave up after {waited_secs} s waiting for the write lock {}",
                path.display()
            ),
            Error::NotEnoughMemory {
                needed_kib,
                available_kib,
                ..
            } => write!(
                f,
                "the key derivation needs {} of memory but only {} is available",
                crate::display::format_kib(*needed_kib),
                crate::display::format_kib(*available_kib)
            ),
            Error::Unusable(m) | Error::Other(m) | Error::Usage(m) | Error::Unlock(m) => {
                f.write_str(m)
            }
            Error::CommandFailed { message, .. } => f.write_str(message),
            Error::Keyring(e) => write!(f, "keyring: {e}"),
            Error::Corrupt { path, detail } => write!(
                f,
                "the vault file {} is corrupt or has been tampered with ({detail})",
                path.display()
            ),
            Error::UnsupportedVersion { path, version } => write!(
                f,
                "{} has format version {version}, which this vault does not know (written by a newer vault?)",
                path.display()
            ),
            Error::NoSuchSecret(name) => write!(f, "no secret named {name}"),
            Error::Rollback {
                path,
                found,
                remembered,
            } => write!(
                f,
                "{} is generation {found}, older than generation {remembered} already seen on this machine: it may have been rolled back to an older copy",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_the_documented_table() {
        let p = PathBuf::from("v");
        let cases: Vec<(Error, u8)> = vec![
            (Error::io("reading", &p, io::Error::other("x")), 1),
            (Error::NoVault(p.clone()), 1),
            (Error::VaultExists(p.clone()), 1),
            (Error::Usage("bad".into()), 2),
            (Error::Unlock(WRONG_PASSPHRASE.into()), 3),
            (Error::Keyring(KeyringError::Locked), 3),
            (
                Error::Corrupt {
                    path: p.clone(),
                    detail: "x".into(),
                },
                4,
            ),
            (
                Error::UnsupportedVersion {
                    path: p.clone(),
                    version: 9,
                },
                4,
            ),
            (Error::NoSuchSecret("A".into()), 5),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e}");
        }
    }

    #[test]
    fn unsupported_version_names_it() {
        let e = Error::UnsupportedVersion {
            path: "v".into(),
            version: 9,
        };
        assert!(e.to_string().contains("version 9"));
        assert!(e.to_string().contains("newer vault"));
    }
}
