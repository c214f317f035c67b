//! The library's one error type: what went wrong and which file, secret or
//! slot, never which flag to use or what to type next (the binary wraps it
//! and adds that, with the exit code).
//!
//! No message ever contains a secret value or a passphrase, and a rejected
//! name is not repeated (it may be a token typed in the wrong place). A
//! wrong passphrase and a tampered passphrase slot are one variant with one
//! text.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::display::{format_kib, format_work};
use crate::format::kdf::{OverBudget, BUDGET, MEMORY_KIB, TIME};
use crate::format::SlotId;
use crate::slots::KeyringError;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message for a wrong passphrase, an identity that opens no slot, or a
/// tampered slot: they cannot be told apart, and must not be.
pub const WRONG_PASSPHRASE: &str =
    "wrong passphrase or identity (or the vault's slots have been tampered with)";

/// The rule for secret names, as shown in error messages.
pub const NAME_RULE: &str = "a secret name must match [A-Za-z_][A-Za-z0-9_]*, be at most 128 characters, and not start with VAULT_ (reserved)";

/// Everything that can go wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on `path` while doing `action`.
    Io {
        /// What was being done, e.g. "reading".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// No vault file at the path.
    NoVault(PathBuf),
    /// A vault is already there (creating one never overwrites).
    VaultExists(PathBuf),
    /// The vault path is not a regular file.
    NotAFile(PathBuf),
    /// No home directory to put the default vault in.
    NoHome,
    /// A chain of symbolic links too long to follow.
    TooManyLinks(PathBuf),
    /// A symbolic link another user planted in a shared sticky directory
    /// (the kernel's `protected_symlinks` rule), not followed.
    UntrustedLink {
        /// The link.
        link: PathBuf,
        /// Its owner's uid.
        owner: u32,
    },
    /// A small secret file (a passphrase file) is over its limit.
    FileTooLong {
        /// The file.
        path: PathBuf,
        /// The limit, bytes.
        max: usize,
    },
    /// Another process held the write lock for too long.
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited, seconds.
        waited_secs: u64,
    },
    /// Not enough memory for a KDF.
    NotEnoughMemory {
        /// What the slot asks for, KiB.
        needed_kib: u64,
        /// Available, KiB.
        available_kib: u64,
        /// Whether the parameters are for a new slot (chosen by the user)
        /// rather than read from the file.
        new_slot: bool,
    },
    /// KDF parameters asked for a new slot are out of bounds.
    KdfParams(String),
    /// A new or changed passphrase slot would take the vault's passphrase
    /// slots together over the KDF budget (`format::kdf::BUDGET`).
    NewSlotOverKdfBudget(OverBudget),
    /// The file's passphrase slots together ask for more KDF work than the
    /// budget allows: refused before any key derivation.
    OverKdfBudget {
        /// The vault file.
        path: PathBuf,
    },
    /// A wrong passphrase, or tampered passphrase slots: [`WRONG_PASSPHRASE`].
    WrongPassphrase(PathBuf),
    /// A passphrase was given but the vault has no passphrase slot.
    NoPassphraseSlot(PathBuf),
    /// The cached data key is not this vault's current key.
    StaleCachedKey(PathBuf),
    /// The slot (or data key) that opened the vault changed before the
    /// write lock was taken.
    ChangedWhileOpening {
        /// The vault.
        path: PathBuf,
        /// What changed.
        what: &'static str,
    },
    /// Nothing given or available opens any slot.
    NoUsableSlot {
        /// The vault.
        path: PathBuf,
        /// Why the keyring slot could not be used, if the vault has one.
        keyring: Option<KeyringError>,
        /// Whether the vault has a passphrase slot (a passphrase would do).
        has_passphrase_slot: bool,
        /// Whether it has recipient slots (no identity here matched one).
        has_recipient_slot: bool,
    },
    /// The keyring could not be used.
    Keyring(KeyringError),
    /// Corrupt or tampered vault; the detail is for debugging.
    Corrupt {
        /// The vault file.
        path: PathBuf,
        /// Short internal reason.
        detail: String,
    },
    /// A format version this build does not know.
    UnsupportedVersion {
        /// The vault file.
        path: PathBuf,
        /// The version found.
        version: u16,
    },
    /// The file is older than the one this path held before.
    Rollback {
        /// The vault file.
        path: PathBuf,
        /// Generation in the file.
        found: u64,
        /// The generation remembered at this path.
        remembered: u64,
    },
    /// The file is the generation this path held before, with other
    /// contents: another copy written from the same generation replaced
    /// it, and one of the two changes would be lost.
    Fork {
        /// The vault file.
        path: PathBuf,
        /// The generation.
        generation: u64,
    },
    /// The file is sealed with a key this path has seen rotated away (the
    /// file from before a rekey or a removed slot).
    RetiredKey {
        /// The vault file.
        path: PathBuf,
        /// Generation in the file.
        generation: u64,
    },
    /// The file is sealed with a master key that the one this path last
    /// held did not endorse (no lineage from it): not a member's rotation.
    UnendorsedKey {
        /// The vault file.
        path: PathBuf,
        /// Generation in the file.
        generation: u64,
    },
    /// The generation is at its bound: one more write would pass it.
    GenerationExhausted {
        /// The vault file.
        path: PathBuf,
        /// The generation in the file.
        generation: u64,
    },
    /// No secret by that name.
    NoSuchSecret {
        /// The name.
        name: String,
        /// Where it was asked for (e.g. "referenced at t.tmpl:3:7").
        context: Option<String>,
    },
    /// A secret name breaks [`NAME_RULE`] (the name is not repeated).
    InvalidName(NameProblem),
    /// A value over the size limit.
    ValueTooLarge {
        /// Its length, bytes.
        len: usize,
    },
    /// A template is malformed.
    Template {
        /// The template's name (path or `<stdin>`).
        what: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A value cannot travel as an environment variable.
    NotAnEnvValue {
        /// The secret.
        name: String,
        /// Why.
        why: String,
    },
    /// A value Nextflow's secrets store or its `secret` directive cannot
    /// carry safely (see `interchange::nextflow::directive_unfit`).
    NotANextflowValue {
        /// The secret.
        name: String,
        /// Why, as the end of "the value of secret NAME ...".
        why: String,
    },
    /// An empty passphrase for a new slot.
    EmptyPassphrase,
    /// No slot with this id.
    SlotNotFound(SlotId),
    /// No slot with this label.
    NoSuchLabel(String),
    /// The change would make a header vault could not read back (too many
    /// or too large slots); nothing was written.
    UnwritableHeader(String),
    /// Another slot has this label already.
    LabelTaken(String),
    /// The slot is not a passphrase slot.
    NotAPassphraseSlot(SlotId),
    /// Removing the last slot would lock the vault for good.
    LastSlot,
    /// The vault holds the most slots it can.
    TooManySlots(usize),
    /// A rekey would drop every slot.
    DroppingEverySlot,
    /// A rekey lacks the key of these slots (neither re-wrapped nor dropped).
    MissingSlotKeys(Vec<(SlotId, &'static str)>),
    /// A slot changed while a rekey was prepared.
    SlotChanged {
        /// The vault.
        path: PathBuf,
        /// The slot.
        slot: SlotId,
    },
    /// The cached unlock (kernel keyring) failed.
    Cache(String),
    /// `vault merge` cannot make one file of the two sides (different
    /// vaults, both sides rotated the master key, slot changes without the
    /// master key); the reason says which.
    CannotMerge(String),
    /// `vault resolve`: this secret carries no merge conflict.
    NoConflict(String),
    /// Not a recipient vault can wrap to: why (never the text given, which
    /// may be a secret pasted in the wrong place).
    BadRecipient(String),
    /// Another slot already wraps to this recipient.
    RecipientInUse(SlotId),
    /// The master key could not be wrapped to a recipient (a plugin
    /// recipient whose plugin is missing or failed).
    CannotWrapTo {
        /// The recipient.
        recipient: String,
        /// Why.
        why: String,
    },
    /// Identities could not be read from `source` (a file, or the
    /// identity variable); never their text.
    BadIdentity {
        /// Where they came from.
        source: String,
        /// Why.
        why: String,
    },
    /// There is no personal identity on this machine.
    NoPersonalIdentity,
}

/// What is wrong with a secret name. It names at most one character, and
/// only an ASCII punctuation mark or a space (never a letter or digit of
/// what may be a token typed in the wrong place).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// Longer than the limit (its length, bytes).
    TooLong(usize),
    /// Starts with a digit.
    StartsWithDigit,
    /// Starts with the reserved `VAULT_`.
    Reserved,
    /// A punctuation mark or space at a 1-based position.
    Character {
        /// The character.
        ch: char,
        /// 1-based position.
        position: usize,
    },
    /// Another character not allowed (not shown) at a 1-based position.
    OtherCharacter {
        /// 1-based position.
        position: usize,
    },
}

impl NameProblem {
    /// What is wrong with `name`, if anything.
    pub fn of(name: &str) -> Option<NameProblem> {
        let max = crate::format::MAX_NAME_LEN;
        if name.is_empty() {
            return Some(NameProblem::Empty);
        }
        if name.len() > max {
            return Some(NameProblem::TooLong(name.len()));
        }
        if name.as_bytes()[0].is_ascii_digit() {
            return Some(NameProblem::StartsWithDigit);
        }
        if let Some((i, ch)) = name
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return Some(if ch.is_ascii_punctuation() || ch == ' ' {
                NameProblem::Character {
                    ch,
                    position: i + 1,
                }
            } else {
                NameProblem::OtherCharacter { position: i + 1 }
            });
        }
        if name.starts_with("VAULT_") {
            return Some(NameProblem::Reserved);
        }
        None
    }
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("it is empty"),
            NameProblem::TooLong(n) => write!(f, "it is {n} bytes long"),
            NameProblem::StartsWithDigit => f.write_str("it starts with a digit"),
            NameProblem::Reserved => f.write_str("names starting with VAULT_ are reserved"),
            NameProblem::Character { ch, position } => {
                write!(
                    f,
                    "it contains `{ch}` (character {position}); use `_` instead"
                )
            }
            NameProblem::OtherCharacter { position } => write!(
                f,
                "character {position} is not a letter A-Z or a-z, a digit or `_`"
            ),
        }
    }
}

impl Error {
    /// Shorthand for an I/O error with its path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A missing secret, without context.
    pub fn no_such_secret(name: &str) -> Error {
        Error::NoSuchSecret {
            name: name.to_string(),
            context: None,
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
            Error::NoHome => f.write_str("cannot find a home for the vault: set HOME or XDG_DATA_HOME"),
            Error::TooManyLinks(p) => write!(f, "{}: too many levels of symbolic links", p.display()),
            Error::UntrustedLink { link, owner } => write!(
                f,
                "refusing to follow {}: a symbolic link owned by another user (uid {owner}) in a shared directory (sticky and world-writable, like /tmp); it could redirect the vault into their files",
                link.display()
            ),
            Error::FileTooLong { path, max } => {
                write!(f, "{} is longer than {max} bytes", path.display())
            }
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
                format_kib(*needed_kib),
                format_kib(*available_kib)
            ),
            Error::KdfParams(m) => f.write_str(m),
            Error::NewSlotOverKdfBudget(o) => write!(
                f,
                "a passphrase slot of {} × {} passes ({} of Argon2id work) does not fit in the vault's KDF budget: its passphrase slots together may ask for {} ({}), and the others leave {}",
                format_kib(o.params.memory_kib as u64),
                o.params.time,
                format_work(o.params.cost()),
                format_work(BUDGET),
                budget_in_words(),
                format_work(o.left)
            ),
            Error::OverKdfBudget { path } => write!(
                f,
                "the vault file {} is corrupt or has been tampered with: its passphrase slots together ask for more Argon2id work than the KDF budget of {} ({}); refused before any key derivation",
                path.display(),
                format_work(BUDGET),
                budget_in_words()
            ),
            Error::WrongPassphrase(p) => write!(f, "cannot unlock {}: {WRONG_PASSPHRASE}", p.display()),
            Error::NoPassphraseSlot(p) => write!(
                f,
                "cannot unlock {}: it has no passphrase slot; open it through the keyring",
                p.display()
            ),
            Error::StaleCachedKey(p) => write!(
                f,
                "cannot unlock {}: the cached key is for an older data key",
                p.display()
            ),
            Error::ChangedWhileOpening { path, what } => write!(
                f,
                "cannot unlock {}: {what} changed while it was being opened; retry",
                path.display()
            ),
            Error::NoUsableSlot {
                path,
                keyring,
                has_passphrase_slot,
                has_recipient_slot,
            } => {
                let path = path.display();
                match (keyring, has_passphrase_slot) {
                    (Some(why), true) => write!(f, "cannot unlock {path}: its keyring slot is not usable here ({why}) and no passphrase was given"),
                    (Some(why), false) => write!(f, "cannot unlock {path}: its keyring slot is not usable here ({why}), and it has no passphrase slot"),
                    (None, true) => write!(f, "cannot unlock {path}: it has no keyring slot and no passphrase was given (standard input is not a terminal)"),
                    (None, false) => write!(f, "cannot unlock {path}: it has neither a keyring slot nor a passphrase slot"),
                }?;
                if *has_recipient_slot {
                    // A removed member sees this: their identity is found
                    // here but is no longer one of the recipients.
                    write!(f, "; no identity given or found here (personal identity, ~/.ssh keys) is one of its recipients")?;
                }
                Ok(())
            }
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
            Error::Rollback {
                path,
                found,
                remembered,
            } => write!(
                f,
                "{} is generation {found}, older than generation {remembered} already seen at this path: it may have been rolled back to an older copy",
                path.display()
            ),
            Error::Fork { path, generation } => write!(
                f,
                "{} is generation {generation}, as already seen at this path, but with other contents: another copy written from the same generation replaced it, and one of the two changes would be lost",
                path.display()
            ),
            Error::RetiredKey { path, generation } => write!(
                f,
                "{} (generation {generation}) is sealed with a key retired at this path: it is the file from before a rekey or a removed slot",
                path.display()
            ),
            Error::UnendorsedKey { path, generation } => write!(
                f,
                "{} (generation {generation}) is sealed with a new master key that the key last seen at this path did not endorse: it was not rotated by a holder of the vault's key (the file may have been replaced by someone who can write it but is not a member), or two members rotated it apart from each other (on two branches), or the vault was made anew, or rotated more than 32 times since; nothing was read from it or written to it",
                path.display()
            ),
            Error::GenerationExhausted { path, generation } => write!(
                f,
                "{} is at generation {generation}, the highest a vault can have: nothing can be written to it (only a damaged or crafted file gets there)",
                path.display()
            ),
            Error::NoSuchSecret { name, context } => match context {
                Some(c) => write!(f, "no secret named {name} ({c})"),
                None => write!(f, "no secret named {name}"),
            },
            Error::InvalidName(p) => write!(f, "invalid secret name: {p}; {NAME_RULE}"),
            Error::ValueTooLarge { len } => write!(
                f,
                "the value is {len} bytes; the limit is 1 MiB ({} bytes)",
                crate::format::MAX_VALUE_LEN
            ),
            Error::Template {
                what,
                line,
                column,
                message,
            } => write!(f, "{what}:{line}:{column}: {message}"),
            Error::NotAnEnvValue { name, why } | Error::NotANextflowValue { name, why } => {
                write!(f, "the value of secret {name} {why}")
            }
            Error::EmptyPassphrase => f.write_str(
                "refusing an empty passphrase: anyone could open the vault (is a CI variable unset?)",
            ),
            Error::SlotNotFound(id) => write!(f, "no slot {} in this vault", id.to_hex()),
            Error::NoSuchLabel(l) => write!(f, "no slot labelled {l:?} in this vault"),
            Error::UnwritableHeader(why) => write!(
                f,
                "refusing the change: the vault's header would not read back ({why}); nothing was written"
            ),
            Error::LabelTaken(l) => write!(f, "another slot is labelled {l:?} already"),
            Error::NotAPassphraseSlot(id) => write!(
                f,
                "slot {} is not a passphrase slot; only passphrase slots have a passphrase",
                id.to_hex()
            ),
            Error::LastSlot => f.write_str(
                "refusing to remove the last slot: the vault could never be opened again",
            ),
            Error::TooManySlots(n) => write!(f, "the vault already has {n} slots, the most it can hold"),
            Error::CannotMerge(why) => write!(f, "cannot merge: {why}"),
            Error::NoConflict(name) => write!(f, "secret {name} has no merge conflict to resolve"),
            Error::DroppingEverySlot => f.write_str(
                "refusing to drop every slot: the vault could never be opened again",
            ),
            Error::MissingSlotKeys(slots) => {
                let list: Vec<String> = slots
                    .iter()
                    .map(|(id, kind)| {
                        format!(
                            "{kind} slot {} ({})",
                            id.to_hex(),
                            if *kind == "keyring" {
                                "its keyring key was not found"
                            } else {
                                "its passphrase was not given"
                            }
                        )
                    })
                    .collect();
                write!(f, "cannot re-wrap {}", list.join(", "))
            }
            Error::SlotChanged { path, slot } => write!(
                f,
                "slot {} of {} changed while the rekey was being prepared; nothing was changed, retry",
                slot.to_hex(),
                path.display()
            ),
            Error::Cache(m) => f.write_str(m),
            Error::BadRecipient(why) => f.write_str(why),
            Error::RecipientInUse(id) => write!(
                f,
                "slot {} already wraps the master key to this recipient",
                id.to_hex()
            ),
            Error::CannotWrapTo { recipient, why } => write!(
                f,
                "cannot wrap the master key to {recipient}: {why}"
            ),
            Error::BadIdentity { source, why } => {
                write!(f, "cannot read identities from {source}: {why}")
            }
            Error::NoPersonalIdentity => {
                f.write_str("there is no personal identity on this machine")
            }
        }
    }
}

/// What the KDF budget is, in words.
fn budget_in_words() -> String {
    format!(
        "memory × passes summed over the slots, as much as one slot of {} × {} passes",
        format_kib(*MEMORY_KIB.end() as u64),
        TIME.end()
    )
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
    fn unsupported_version_names_it() {
        let e = Error::UnsupportedVersion {
            path: "v".into(),
            version: 9,
        };
        assert!(e.to_string().contains("version 9"));
        assert!(e.to_string().contains("newer vault"));
    }

    #[test]
    fn no_library_message_names_a_flag() {
        let p = PathBuf::from("v");
        let all = [
            Error::NoHome,
            Error::WrongPassphrase(p.clone()),
            Error::NoUsableSlot {
                path: p.clone(),
                keyring: Some(KeyringError::Locked),
                has_passphrase_slot: true,
                has_recipient_slot: true,
            },
            Error::NoUsableSlot {
                path: p.clone(),
                keyring: None,
                has_passphrase_slot: true,
                has_recipient_slot: true,
            },
            Error::MissingSlotKeys(vec![(SlotId([1; 4]), "passphrase")]),
            Error::LastSlot,
            Error::TooManySlots(8),
            Error::NewSlotOverKdfBudget(OverBudget {
                params: crate::format::KdfParams::DEFAULT,
                left: 0,
            }),
            Error::OverKdfBudget { path: p.clone() },
            Error::Rollback {
                path: p.clone(),
                found: 1,
                remembered: 2,
            },
            Error::Fork {
                path: p.clone(),
                generation: 2,
            },
            Error::RetiredKey {
                path: p.clone(),
                generation: 2,
            },
            Error::UnendorsedKey {
                path: p.clone(),
                generation: 2,
            },
            Error::LockTimeout {
                path: p,
                waited_secs: 2,
            },
        ];
        for e in all {
            assert!(!e.to_string().contains("--"), "{e}");
        }
    }
}
