//! What the user typed: the clap definitions of every flag and subcommand,
//! and parsing of flag values. No system calls here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vault::format::KdfParams;

/// The exit-code table, shown by `--help` and in the README.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  1  I/O or other failure (including: no vault at the path)
  2  usage: bad flag, bad name, bad parameter, value too large
  3  cannot unlock: wrong passphrase, no usable keyring slot, no passphrase given
  4  the vault file is corrupt, tampered with, or of an unsupported version
  5  no such secret
  126, 127  exec: the command is not executable / not found

Environment:
  VAULT_FILE              vault path (like --vault)
  VAULT_PASSPHRASE_FILE   file holding the passphrase (like --passphrase-file)
  VAULT_PASSPHRASE        the passphrase itself (for CI systems that only offer
                          variables; prefer the file); never passed to children";

#[derive(Parser, Debug)]
#[command(
    name = "vault",
    version,
    about = "Secrets in one encrypted file, handed to commands in memory only",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts, before or after its name.
#[derive(Args, Debug, Default, Clone)]
pub struct Global {
    /// The vault file [default: $VAULT_FILE, else ~/.local/share/vault/default.vault]
    #[arg(long, global = true, value_name = "PATH")]
    pub vault: Option<PathBuf>,
    /// Read the passphrase from the first line of standard input (at most 4 KiB; the rest of stdin is left for the command)
    #[arg(long, global = true)]
    pub passphrase_stdin: bool,
    /// Read the passphrase from a file (one trailing newline is removed)
    #[arg(long, global = true, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the passphrase from an open file descriptor, which is then closed
    #[arg(long, global = true, value_name = "N")]
    pub passphrase_fd: Option<i32>,
    /// Do not use the platform keyring
    #[arg(long, global = true)]
    pub no_keyring: bool,
    /// Do not use a cached unlock (`vault unlock`)
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Accept a vault file older than one already seen here (after restoring a backup)
    #[arg(long, global = true)]
    pub allow_rollback: bool,
}

/// Argon2id cost options of a new passphrase slot.
#[derive(Args, Debug, Default, Clone)]
pub struct KdfArgs {
    /// Argon2id memory, e.g. 64MiB or 1GiB (8 MiB to 2 GiB) [default: 64MiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size_kib)]
    pub kdf_memory: Option<u32>,
    /// Argon2id passes (1 to 16) [default: 3]
    #[arg(long, value_name = "N")]
    pub kdf_time: Option<u32>,
    /// Argon2id lanes (1 to 16) [default: 4]
    #[arg(long, value_name = "N")]
    pub kdf_parallelism: Option<u32>,
}

impl KdfArgs {
    /// The parameters, defaults filled in from `base`.
    pub fn params_over(&self, base: KdfParams) -> KdfParams {
        KdfParams {
            memory_kib: self.kdf_memory.unwrap_or(base.memory_kib),
            time: self.kdf_time.unwrap_or(base.time),
            parallelism: self.kdf_parallelism.unwrap_or(base.parallelism),
        }
    }

    /// Whether any option was given.
    pub fn any(&self) -> bool {
        self.kdf_memory.is_some() || self.kdf_time.is_some() || self.kdf_parallelism.is_some()
    }
}

/// Where a new passphrase comes from (besides a prompt).
#[derive(Args, Debug, Default, Clone)]
pub struct NewPassphraseArgs {
    /// Read the new passphrase from standard input (after the current one, if that is read from stdin too)
    #[arg(long, conflicts_with = "new_passphrase_file")]
    pub new_passphrase_stdin: bool,
    /// Read the new passphrase from a file
    #[arg(long, value_name = "PATH")]
    pub new_passphrase_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a vault (never overwrites one)
    Init {
        /// Add a keyring slot
        #[arg(long)]
        keyring: bool,
        /// Also add a passphrase slot with a random recovery code, printed once on stdout
        #[arg(long)]
        recovery_code: bool,
        #[command(flatten)]
        kdf: KdfArgs,
    },
    /// Store a secret (the value from stdin, a no-echo prompt, or the command line)
    Set {
        /// Name: [A-Za-z_][A-Za-z0-9_]*, at most 128 characters, not starting with VAULT_
        name: String,
        /// The value (visible to other processes and kept in shell history: prefer stdin)
        value: Option<String>,
        /// Keep the bytes from stdin exactly (do not remove one trailing newline)
        #[arg(long)]
        raw: bool,
    },
    /// Print a secret's value
    Get {
        name: String,
        /// No newline after the value
        #[arg(short = 'n')]
        no_newline: bool,
    },
    /// List secret names (never values)
    List {
        /// An array of {name, created, updated, size}
        #[arg(long)]
        json: bool,
    },
    /// Delete secrets: all of them, or none if any is unknown
    #[command(visible_alias = "rm")]
    Delete {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Run a command with secrets in its environment (replaces vault with it)
    #[command(
        after_help = "CMD not found: exit 127; found but not executable: exit 126; otherwise the command's own status.\nAn inherited variable whose value is exactly `vault:NAME` gets the value of secret NAME."
    )]
    Exec {
        /// Give the command only this secret (repeatable); others are not exposed
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        /// Render TEMPLATE into a sealed in-memory file and set VAR to its path (/dev/fd/N)
        #[arg(long, value_name = "VAR=TEMPLATE")]
        file: Vec<String>,
        /// Stay as the parent and replace every secret value in the command's output with ***
        #[arg(long)]
        mask: bool,
        /// The command and its arguments (after --)
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<std::ffi::OsString>,
    },
    /// Print TEMPLATE (or stdin) with every ${secrets.NAME} replaced by its value ($${ is a literal ${)
    Render {
        /// A template file, or - for standard input
        template: Option<String>,
    },
    /// Cache the data key in the kernel keyring so later commands skip the passphrase (Linux)
    Unlock {
        /// How long, e.g. 15m, 1h30m (1 second to 24 hours)
        #[arg(long, value_name = "DURATION", default_value = "15m")]
        timeout: String,
    },
    /// Remove the cached data key of this vault
    Lock,
    /// A read-only report of the vault, the keyring and the process's protections (never prints a secret)
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Manage key slots
    #[command(subcommand)]
    Key(KeyCommand),
    /// New data key: re-encrypt the body and re-wrap every slot
    #[command(
        after_help = "Keyring slots are re-wrapped through the keyring. Passphrase slots need their passphrases: the one given the usual way, each --other-passphrase-file, and (on a terminal) a prompt for any still missing. A slot that cannot be re-wrapped must be named with --drop."
    )]
    Rekey {
        /// Remove this slot instead of re-wrapping it (repeatable)
        #[arg(long, value_name = "ID")]
        drop: Vec<String>,
        /// A file holding the passphrase of another passphrase slot (repeatable)
        #[arg(long, value_name = "PATH")]
        other_passphrase_file: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List slots (id, kind, parameters; never key material)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a slot
    #[command(subcommand)]
    Add(AddSlot),
    /// Remove a slot (never the last one)
    Remove { id: String },
    /// Change the passphrase of a passphrase slot
    Passwd {
        id: String,
        #[command(flatten)]
        new: NewPassphraseArgs,
        #[command(flatten)]
        kdf: KdfArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum AddSlot {
    /// A slot whose key sits in the platform keyring
    Keyring,
    /// A slot opened by a passphrase
    Passphrase {
        #[command(flatten)]
        new: NewPassphraseArgs,
        #[command(flatten)]
        kdf: KdfArgs,
    },
}

/// `64MiB` → 65536 (KiB). Accepts KiB, MiB, GiB (also K, M, G; any case).
pub fn parse_size_kib(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 64MiB or 1GiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "k" | "kib" => 1,
        "m" | "mib" => 1024,
        "g" | "gib" => 1024 * 1024,
        _ => {
            return Err(format!(
                "`{s}` is not a size like 64MiB or 1GiB (units: KiB, MiB, GiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .and_then(|k| u32::try_from(k).ok())
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size_kib("64MiB"), Ok(65536));
        assert_eq!(parse_size_kib("1GiB"), Ok(1 << 20));
        assert_eq!(parse_size_kib("8m"), Ok(8192));
        assert_eq!(parse_size_kib("100KiB"), Ok(100));
        assert!(parse_size_kib("64").is_err());
        assert!(parse_size_kib("MiB").is_err());
        assert!(parse_size_kib("99999999GiB").is_err());
    }
}
