//! What the user typed: the clap definitions of every flag and subcommand,
//! and typed parsers for flag values (a malformed size, duration, slot id,
//! descriptor or `--file` spec is exit 2 from clap itself). No system calls
//! here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use vault::format::v2::Label;
use vault::format::KdfParams;
use vault::slots::SlotRef;

/// The command line. Its top-level settings (version, about, footer) are
/// in [`top_level`], not attributes here, so that [`command`] and the
/// pruned tree of [`command_for`] share them.
#[derive(Parser, Debug)]
#[command(name = "vault")]
#[group(skip)]
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
    /// Read the passphrase from an open file descriptor (3 or above), which is then closed
    #[arg(long, global = true, value_name = "N", value_parser = parse_passphrase_fd)]
    pub passphrase_fd: Option<i32>,
    /// Do not use the platform keyring
    #[arg(long, global = true)]
    pub no_keyring: bool,
    /// Do not use a cached unlock (`vault unlock`)
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Accept, once, a vault file older than the one this path held, or a fork of it (after restoring a backup on purpose)
    #[arg(long, global = true)]
    pub allow_rollback: bool,
    /// Accept, once, a vault file sealed with a new master key that the key this path last held did not endorse (a vault made anew at this path; check who changed the file first)
    #[arg(long, global = true)]
    pub accept_new_key: bool,
    /// Open through this passphrase slot only (its id or label from `vault key list`): the passphrase is tried on it alone, and neither the cached unlock nor the keyring is used
    #[arg(long, global = true, value_name = "ID|LABEL", value_parser = parse_slot_ref)]
    pub slot: Option<SlotRef>,
    /// Open with the identities in FILE (repeatable): an age identity file (AGE-SECRET-KEY-1…, plugin identities) or an OpenSSH private key (ed25519, RSA; a passphrase-protected one is asked for on a terminal). Tried only on the recipient slots it matches
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
}

// Argon2id cost options of a new passphrase slot. (A plain comment: clap
// takes a flattened struct's doc comment for the subcommand's description.)
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
}

// Where a new passphrase comes from (besides a prompt). (A plain comment,
// as for `KdfArgs`.)
#[derive(Args, Debug, Default, Clone)]
pub struct NewPassphraseArgs {
    /// Read the new passphrase from standard input (after the current one, if that is read from stdin too)
    #[arg(long, conflicts_with = "new_passphrase_file")]
    pub new_passphrase_stdin: bool,
    /// Read the new passphrase from a file
    #[arg(long, value_name = "PATH")]
    pub new_passphrase_file: Option<PathBuf>,
    /// Accept a new passphrase that is easy to guess (refused on a terminal otherwise)
    #[arg(long)]
    pub weak_passphrase_ok: bool,
}

// `defer`: each subcommand's arguments are built only when it is the one
// invoked (completions, the man page and `--help` build the whole tree).
// Building every subcommand's flags was most of clap's start-up cost, and
// clap the largest part of a `vault get` beyond the decryption itself
// (benches/compare.sh, identity mode).
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Create a vault (never overwrites one)
    Init {
        /// Add a keyring slot
        #[arg(long)]
        keyring: bool,
        /// Also add a passphrase slot with a random recovery code, printed once on stdout (labelled "recovery" unless --label takes that name)
        #[arg(long)]
        recovery_code: bool,
        /// A label for the vault's first slot: the keyring slot if one is made, else the passphrase slot (shown by `key list`; names it wherever an id does)
        #[arg(long, value_parser = parse_label)]
        label: Option<Label>,
        /// Accept a passphrase that is easy to guess (refused on a terminal otherwise)
        #[arg(long)]
        weak_passphrase_ok: bool,
        #[command(
            flatten,
            next_help_heading = "Argon2id cost of the new passphrase slot"
        )]
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
        /// Store an empty value (refused otherwise: an unset variable piped in must not wipe a secret)
        #[arg(long)]
        allow_empty: bool,
    },
    /// Print a secret's value
    Get {
        /// The secret's name
        name: String,
        /// No newline after the value
        #[arg(short = 'n')]
        no_newline: bool,
    },
    /// List secret names (never values); on a terminal, marks: rotate pending (a removed member could read the value) and conflict (from a merge)
    List {
        /// An array of {name, created, updated, size, rotate_pending, conflict}
        #[arg(long)]
        json: bool,
    },
    /// Delete secrets: all of them, or none if any is unknown
    #[command(visible_alias = "rm")]
    Delete {
        /// The secrets' names
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Run a command with secrets in its environment (replaces vault with it)
    #[command(
        after_help = "CMD not found: exit 127; found but not executable: exit 126; otherwise the command's own status.\nAn inherited variable whose value is exactly `vault:NAME` gets the value of secret NAME.\nWith --nextflow (vault exec --nextflow -- nextflow run ...): the secrets go only into Nextflow's secrets store (an in-memory file; $NXF_SECRETS_FILE is a link to it in a private RAM-backed directory), none into its environment; a value holding \", `, \\ or a newline, or too big for one environment variable (over 128 KiB), is refused (see \"What is refused\" in the README's Nextflow section)."
    )]
    Exec {
        /// Give the command only this secret (repeatable); others are not exposed
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        /// Render TEMPLATE into a sealed in-memory file and set VAR to its path (/dev/fd/N)
        #[arg(long, value_name = "VAR=TEMPLATE", value_parser = parse_file_spec)]
        file: Vec<FileSpec>,
        /// Stay as the parent and replace every secret value in the command's output with ***
        #[arg(long)]
        mask: bool,
        /// Hand the secrets to Nextflow through its secrets store (in memory), not its environment
        #[arg(long, conflicts_with = "file")]
        nextflow: bool,
        /// The command and its arguments (after --)
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<std::ffi::OsString>,
    },
    /// Print TEMPLATE (or stdin) with every ${secrets.NAME} replaced by its value ($${ is a literal ${)
    Render {
        /// A template file, or - for standard input
        template: Option<String>,
    },
    /// Import secrets from a .env file, a JSON object or Nextflow's secrets store: all or nothing, in one write
    #[command(
        after_help = "Existing secrets are never changed unless --replace is given (or skipped with --keep-existing), and a non-empty secret is never emptied unless --allow-empty is given. Nothing is expanded: a value with `$` is stored as written. See the README's \"Moving in\" section for the .env grammar."
    )]
    Import(ImportArgs),
    /// Write secrets to standard output as a .env file, JSON, shell `export` lines or a Nextflow store
    #[command(
        after_help = "Standard output only (redirect it; a terminal is refused without --force). With --format shell, names that change how programs load or how a shell starts (LD_*, PATH, BASH_ENV, NODE_OPTIONS, ...) are left out unless named with --only."
    )]
    Export(ExportArgs),
    /// Cache the body key in the kernel keyring so later commands skip the passphrase (Linux)
    Unlock {
        /// How long, e.g. 15m, 1h30m (1 second to 24 hours)
        #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_timeout)]
        timeout: Duration,
    },
    /// Remove the cached body key of this vault
    Lock,
    /// A read-only report of the vault, the keyring and the process's protections (never prints a secret)
    Doctor {
        /// The report as JSON
        #[arg(long)]
        json: bool,
        /// Delete the keyring entries of vaults known on this machine that none of their known copies uses (a removed or rekeyed slot's; the report lists them first). Entries of vaults never opened here are never deleted
        #[arg(long)]
        delete_unused_keyring_entries: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "bash: `vault completions bash > ~/.local/share/bash-completion/completions/vault`\nzsh: `vault completions zsh > \"${fpath[1]}/_vault\"`\nfish: `vault completions fish > ~/.config/fish/completions/vault.fish`"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on standard output: `vault man | man -l -`
    Man,
    /// Manage key slots
    #[command(subcommand)]
    Key(KeyCommand),
    /// Print a vault file as text for `git diff` / `git log -p`: header, slots, and per secret its name and a short fingerprint (never a value)
    #[command(
        after_help = "Set up by `vault git setup` (diff.vault.textconv). Never prompts and never writes; opens the file with a given passphrase or identity, the cached unlock, this machine's keyring slot or the personal identity (never a passphrase-protected SSH key or a plugin identity), else shows only what the header shows (exit 0 either way, so a diff never fails)."
    )]
    Textconv {
        /// The vault file (git passes a temporary copy)
        file: PathBuf,
    },
    /// Git's merge driver: merge THEIRS into OURS per secret name, against BASE (the result replaces OURS)
    #[command(
        after_help = "Set up by `vault git setup` (merge.vault.driver = vault merge %O %A %B). Never prompts, never runs a plugin: each side opens with a given passphrase or identity, the cached unlock (only the side sealed under the cached body key), this machine's keyring slot or the personal identity. Exit 0: merged. Exit 1: merged with conflicts, written to OURS and marked (the names on stderr; `vault list --json` shows \"conflict\": true; `vault resolve` or `vault set` ends one). Exit 2 or more: nothing written (2 cannot merge: different vaults, both sides rotated the master key; 3 a side cannot be opened here; 4 a side is corrupt)."
    )]
    Merge {
        /// The common ancestor (git's %O; empty when there is none)
        base: PathBuf,
        /// Our version (git's %A): replaced by the result
        ours: PathBuf,
        /// Their version (git's %B)
        theirs: PathBuf,
    },
    /// End a merge conflict on a secret: keep the value it holds, or take the other side's
    Resolve {
        /// The secret's name
        name: String,
        /// Keep the value the secret holds now (ours, or the only value when one side deleted it)
        #[arg(long, required_unless_present = "other", conflicts_with = "other")]
        keep: bool,
        /// Take the other side's value (or delete the secret, if the other side deleted it)
        #[arg(long)]
        other: bool,
    },
    /// Git integration: `vault git setup`
    #[command(subcommand)]
    Git(GitCommand),
    /// Your personal identity: what opens vaults that list you as a recipient
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// New master key: re-wrap every slot to its public key, new body key
    #[command(
        after_help = "Every slot records its public key, so rekey needs no other slot's passphrase. A slot still in its version-1 form (`(version 1)` in `vault key list`) needs its credential once: this machine's keyring, or its passphrase (the one given the usual way, each --other-passphrase-file, and on a terminal a prompt for any still missing); otherwise name it with --drop. A dropped keyring slot's keyring entry is kept (a copy of the vault may still need it) unless --delete-keyring-entry is given. --drop removes a slot as `vault key remove` does: the secrets it could read are listed and marked rotate pending until their values change (--no-rotate-pending: not marked)."
    )]
    Rekey {
        /// Remove this slot instead of re-wrapping it: its id or label (repeatable)
        #[arg(long, value_name = "ID|LABEL", value_parser = parse_slot_ref)]
        drop: Vec<SlotRef>,
        /// A file holding the passphrase of another version-1 passphrase slot (repeatable)
        #[arg(long, value_name = "PATH")]
        other_passphrase_file: Vec<PathBuf>,
        /// Also delete the keyring entries of dropped keyring slots from this machine's keyring (only those whose key opens the slot); copies of the vault that still have the slot then no longer open through them
        #[arg(long)]
        delete_keyring_entry: bool,
        /// With --drop: do not mark the secrets rotate pending (only for a slot that never exposed anything, e.g. one just added by mistake)
        #[arg(long, requires = "drop")]
        no_rotate_pending: bool,
    },
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum GitCommand {
    /// Make git merge vault files per secret name and diff them as text: `*.vault merge=vault diff=vault -text` in .gitattributes, the merge driver and the textconv in git's config (idempotent)
    #[command(
        after_help = "In a repository: its top-level .gitattributes and its .git/config (`git config --local`). With --global: the user's attributes file (core.attributesFile, else ~/.config/git/attributes) and `git config --global`. The driver is `vault merge %O %A %B` (merge.vault.recursive = binary), the textconv `vault textconv` (never cachetextconv: cached diff text would outlive a removal). Both name `vault` as found on PATH; --absolute-path writes this binary's path instead."
    )]
    Setup {
        /// Set up every repository of this user instead of the current one
        #[arg(long)]
        global: bool,
        /// Write this binary's absolute path into git's config instead of `vault` (for a vault that is not on PATH)
        #[arg(long)]
        absolute_path: bool,
    },
}

/// Formats `vault import` reads.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// NAME=value lines (comments, `export `, quotes, multi-line values)
    Dotenv,
    /// A flat JSON object of strings
    Json,
    /// Nextflow's local secrets store (by default where Nextflow keeps it)
    Nextflow,
}

/// Formats `vault export` writes.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// NAME=value lines read back exactly by python-dotenv and Node's dotenv
    Dotenv,
    /// A flat JSON object of strings
    Json,
    /// `export NAME='value'` lines, for eval or source
    Shell,
    /// Nextflow's secrets store format (store.json)
    Nextflow,
}

// `vault import`'s arguments. (A plain comment, as for `KdfArgs`.)
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// What the input is
    #[arg(long, value_enum, default_value_t = ImportFormat::Dotenv)]
    pub format: ImportFormat,
    /// The file, or - for standard input [default: standard input; with --format nextflow, Nextflow's store]
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print what would happen to each name (new, replace, unchanged, keep) and change nothing; never prints values
    #[arg(long)]
    pub dry_run: bool,
    /// Replace secrets that already exist with other values
    #[arg(long, conflicts_with = "keep_existing")]
    pub replace: bool,
    /// Leave secrets that already exist as they are, importing only new names
    #[arg(long)]
    pub keep_existing: bool,
    /// Let an empty value replace a non-empty secret
    #[arg(long)]
    pub allow_empty: bool,
}

// `vault export`'s arguments. (A plain comment, as for `KdfArgs`.)
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// How to write the secrets
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Export only this secret (repeatable); with --format shell, also one whose name is otherwise left out
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Write even when standard output is a terminal
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum KeyCommand {
    /// List slots (id, kind, parameters; never key material)
    List {
        /// The slots as JSON (the same shape `doctor --json` uses)
        #[arg(long)]
        json: bool,
    },
    /// Add a slot
    #[command(subcommand)]
    Add(AddSlot),
    /// Remove a slot (never the last one): the same as `vault rekey --drop`, a new master key for the slots that stay, and every secret marked rotate pending; a keyring slot's keyring entry is kept unless --delete-keyring-entry
    #[command(
        after_help = "Whoever held the slot may have read every secret in the vault, and may keep an old copy of the file: removing the slot protects what is written after it, not what they could already read. So the removal draws a new master key (re-wrapped to every remaining slot's public key; this machine's keyring slots get fresh keys), prints the secrets the slot could read, and marks them rotate pending until their values change (`vault set NAME` with a new value; `vault list` shows which remain). --no-rotate-pending is for a slot that never exposed anything, such as one just added by mistake. A slot still in its version-1 form needs its credential, as for `vault rekey`."
    )]
    Remove {
        /// The slot's id (8 hex digits) or label, from `vault key list`
        #[arg(value_name = "ID|LABEL", value_parser = parse_slot_ref)]
        target: SlotRef,
        /// Also delete a removed keyring slot's entry from this machine's keyring (only if its key opens that slot); a copy of the vault that still has the slot then no longer opens through it
        #[arg(long)]
        delete_keyring_entry: bool,
        /// Do not mark the secrets rotate pending: only for a slot that never exposed anything (e.g. one just added by mistake)
        #[arg(long)]
        no_rotate_pending: bool,
        /// A file holding the passphrase of another version-1 passphrase slot (repeatable), as for `vault rekey`
        #[arg(long, value_name = "PATH")]
        other_passphrase_file: Vec<PathBuf>,
    },
    /// Give a slot a label, or change or clear it
    Label {
        /// The slot's id (8 hex digits) or current label
        #[arg(value_name = "ID|LABEL", value_parser = parse_slot_ref)]
        target: SlotRef,
        /// The new label (UTF-8, at most 64 bytes, not 8 hex digits)
        #[arg(value_parser = parse_label, required_unless_present = "clear")]
        label: Option<Label>,
        /// Remove the slot's label
        #[arg(long, conflicts_with = "label")]
        clear: bool,
    },
    /// Write a recipient slot's age file (the master key encrypted to its recipient), so the `age` tool alone recovers the master key
    #[command(
        after_help = "Recovery with age alone: `vault key export-slot ID --output slot.age; age -d -i IDENTITY slot.age > master.key` gives the 32-byte master key (docs/FORMAT.md, \"Recovery with age\")."
    )]
    ExportSlot {
        /// The slot's id (8 hex digits) or label, from `vault key list`
        #[arg(value_name = "ID|LABEL", value_parser = parse_slot_ref)]
        target: SlotRef,
        /// Write it to this new file instead of standard output (never overwrites; `-`: standard output)
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Change the passphrase of a passphrase slot
    Passwd {
        /// The slot's id (8 hex digits) or label, from `vault key list`
        #[arg(value_name = "ID|LABEL", value_parser = parse_slot_ref)]
        target: SlotRef,
        #[command(flatten)]
        new: NewPassphraseArgs,
        #[command(
            flatten,
            next_help_heading = "Argon2id cost of the new passphrase slot"
        )]
        kdf: KdfArgs,
    },
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum AddSlot {
    /// A slot whose key sits in the platform keyring
    Keyring {
        /// A label for the slot (shown by `key list`; names it wherever an id does)
        #[arg(long, value_parser = parse_label)]
        label: Option<Label>,
    },
    /// A slot for a teammate or a CI job: the master key wrapped to their public key
    Recipient {
        /// `age1…`, an SSH public key line (ssh-ed25519, ssh-rsa) or a .pub file, or an age plugin recipient (its plugin `age-plugin-NAME` must be on PATH)
        recipient: String,
        /// A label for the slot (shown by `key list`; names it wherever an id does)
        #[arg(long, value_parser = parse_label)]
        label: Option<Label>,
    },
    /// A slot opened by a passphrase
    Passphrase {
        /// A label for the slot (shown by `key list`; names it wherever an id does)
        #[arg(long, value_parser = parse_label)]
        label: Option<Label>,
        #[command(flatten)]
        new: NewPassphraseArgs,
        #[command(
            flatten,
            next_help_heading = "Argon2id cost of the new passphrase slot"
        )]
        kdf: KdfArgs,
    },
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum IdentityCommand {
    /// Make an X25519 identity, kept in the keyring (else a 0600 file in the config directory)
    New {
        /// Write the identity to this new file (mode 0600, never overwritten), or - for standard output, instead of keeping it
        #[arg(long, value_name = "FILE|-")]
        output: Option<PathBuf>,
        /// With --output -: write even when standard output is a terminal
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// Print the personal identity's recipient (age1…), to give to whoever adds you
    Show,
    /// Print the personal identity (a secret: for a backup)
    Export {
        /// Write even when standard output is a terminal
        #[arg(long)]
        force: bool,
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

/// A slot as an argument names it: its id (the 8 hex digits `vault key
/// list` shows) or its label.
pub fn parse_slot_ref(s: &str) -> Result<SlotRef, String> {
    SlotRef::parse(s).ok_or_else(|| {
        "a slot is named by its id (8 hex digits) or its label, as `vault key list` shows".into()
    })
}

/// A slot label: UTF-8, 1 to 64 bytes, nothing invisible, not 8 hex digits.
pub fn parse_label(s: &str) -> Result<Label, String> {
    Label::parse(s).map_err(|p| p.to_string())
}

/// A descriptor to read the passphrase from: 0, 1 and 2 belong to the
/// process's standard streams (use --passphrase-stdin for stdin).
pub fn parse_passphrase_fd(s: &str) -> Result<i32, String> {
    let fd: i32 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a file descriptor number"))?;
    match fd {
        0 => Err("descriptor 0 is standard input: use --passphrase-stdin".into()),
        1 | 2 => Err(format!(
            "descriptor {fd} is standard {}: give a descriptor of 3 or above",
            if fd == 1 { "output" } else { "error" }
        )),
        fd if fd < 0 => Err(format!("`{s}` is not a file descriptor number")),
        fd => Ok(fd),
    }
}

/// A `--file VAR=TEMPLATE` request, as typed (the template is read later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// The variable that gets the in-memory file's path.
    pub var: String,
    /// The template file.
    pub path: PathBuf,
}

/// `VAR=TEMPLATE`, VAR an environment variable name.
pub fn parse_file_spec(spec: &str) -> Result<FileSpec, String> {
    let (var, path) = spec.split_once('=').ok_or_else(|| {
        "--file takes VAR=TEMPLATE, e.g. --file AWS_SHARED_CREDENTIALS_FILE=creds.tmpl".to_string()
    })?;
    if !vault::format::is_env_name(var.as_bytes()) {
        return Err("--file VAR=TEMPLATE: VAR must match [A-Za-z_][A-Za-z0-9_]*".into());
    }
    if path.is_empty() {
        return Err("--file VAR=TEMPLATE: the template path is empty".into());
    }
    Ok(FileSpec {
        var: var.to_string(),
        path: path.into(),
    })
}

/// Longest cache lifetime.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A cache timeout like `15m`, `1h30m` or `90s`: 1 second to 24 hours.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs = parse_duration(s)?;
    if secs == 0 {
        return Err("a timeout of 0 would cache the key forever; give one from 1s to 24h".into());
    }
    if secs > MAX_TIMEOUT.as_secs() {
        return Err("the longest cache timeout is 24h".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Parses a duration like `15m`, `1h30m`, `90s` or `2h` into seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a duration like 15m, 1h30m or 90s");
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mult = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        total = total
            .checked_add(n.checked_mul(mult).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        num.clear();
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(bad());
    }
    Ok(total)
}

/// `5400 s` → `1h30m`: a duration as [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let mut out = String::new();
    for (n, unit) in [(s / 3600, "h"), (s % 3600 / 60, "m"), (s % 60, "s")] {
        if n != 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// The whole command-line definition, with the exit-code table after
/// `--help`: what `main` parses and what completions and the man page are
/// generated from.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    top_level(Cli::command())
}

/// The top level's own settings, over what the derive made of [`Cli`].
fn top_level(cmd: clap::Command) -> clap::Command {
    cmd.version(env!("VAULT_LONG_VERSION"))
        .about("Secrets in one encrypted file, handed to commands in memory only")
        .propagate_version(true)
        .after_help(crate::error::help_footer())
}

/// What `main` parses `args` with: [`command`] holding only the subcommand
/// `args` name, when it names one, else all of it.
///
/// clap copies every `global = true` flag into every subcommand before
/// parsing (the 10 of [`Global`] into 21: 210 `Arg` clones, 0.3 M
/// instructions and 55 of the 268 page faults of an identity-mode `vault
/// get`, callgrind and `perf record -e page-faults`), though only the
/// subcommand typed is ever parsed. With the others left out, help, errors
/// and values come out as from the whole tree (tests below hold the two to
/// each other for every subcommand).
pub fn command_for(args: &[std::ffi::OsString]) -> clap::Command {
    let full = command();
    let Some(name) = subcommand_named(&full, args) else {
        return full;
    };
    let mut chosen = None;
    let full = full.mut_subcommand(&name, |sc| {
        chosen = Some(sc);
        clap::Command::new("")
    });
    let Some(chosen) = chosen else {
        return full;
    };
    drop(full);
    top().subcommand(chosen)
}

/// The top level of [`command`] without its subcommands: what
/// `#[derive(Parser)]` makes of [`Cli`] (the flattened `Global`, then what
/// a required subcommand field sets), then [`top_level`]. A test holds
/// each setting to the derived one.
fn top() -> clap::Command {
    use clap::Args;
    top_level(
        Global::augment_args(clap::Command::new("vault"))
            .subcommand_required(true)
            .arg_required_else_help(true),
    )
}

/// The name of the subcommand `args` (argv, program name first) give, if
/// the words before it are only [`command`]'s own long options (with
/// their values); `None` for anything else (`--help`, `--version`, a short
/// option, an unknown word, `--`), which the whole tree then parses and
/// answers as it always does.
fn subcommand_named(cmd: &clap::Command, args: &[std::ffi::OsString]) -> Option<String> {
    let mut words = args.iter().skip(1);
    while let Some(w) = words.next() {
        let w = w.to_str()?;
        if let Some(long) = w.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            let arg = cmd
                .get_arguments()
                .find(|a| !name.is_empty() && a.get_long() == Some(name))?;
            if arg.get_action().takes_values() && !value {
                // No option takes a value starting with `-` (none allows
                // hyphen values): clap reports it as an option, and its
                // suggestions may look at later subcommands.
                if words.next()?.to_str()?.starts_with('-') {
                    return None;
                }
            }
            continue;
        }
        if w.starts_with('-') {
            return None;
        }
        return cmd.find_subcommand(w).map(|sc| sc.get_name().to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every subcommand, argument and flag says what it is for (completions
    /// and the man page show these texts).
    #[test]
    fn every_argument_and_flag_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        let mut cmd = command();
        cmd.build();
        walk(&cmd, "vault", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
        args.iter().map(Into::into).collect()
    }

    /// What a parse of `args` gives: the debug form of the parsed `Cli`, or
    /// the error's kind and text, exactly as the user would see it.
    fn outcome(mut cmd: clap::Command, args: &[&str]) -> String {
        use clap::FromArgMatches;
        match cmd.try_get_matches_from_mut(os(args)) {
            Ok(m) => match Cli::from_arg_matches(&m) {
                Ok(cli) => format!("{cli:?}"),
                Err(e) => format!("from_arg_matches {:?}: {}", e.kind(), e.render()),
            },
            Err(e) => format!("{:?}: {}", e.kind(), e.render()),
        }
    }

    /// Every subcommand path of the whole tree (`["key", "add", ...]`).
    fn paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        for sc in cmd.get_subcommands() {
            let mut p = prefix.clone();
            p.push(sc.get_name().to_owned());
            out.push(p.clone());
            paths(sc, p, out);
        }
    }

    #[test]
    fn the_pruned_tree_answers_as_the_whole_one() {
        let mut all = Vec::new();
        paths(&command(), Vec::new(), &mut all);
        assert!(all.len() > 30, "{all:?}");
        let mut checked = 0;
        for p in &all {
            let path: Vec<&str> = p.iter().map(String::as_str).collect();
            let mut cases: Vec<Vec<&str>> = Vec::new();
            for tail in [
                &["--help"][..],
                &["-h"],
                &["--version"],
                &[],
                &["--bogus"],
                &["x", "y", "z"],
                &["--vault"],
                &[
                    "--identity",
                    "k.txt",
                    "--vault=v.vault",
                    "--slot",
                    "ci",
                    "NAME",
                ],
                &["--no-cache", "--allow-rollback", "--", "true"],
            ] {
                cases.push([&["vault"][..], &path, tail].concat());
                // Globals before the subcommand, and between its words.
                cases.push(
                    [
                        &["vault", "--vault", "a.vault", "--no-keyring"][..],
                        &path,
                        tail,
                    ]
                    .concat(),
                );
                cases.push(
                    [
                        &["vault", "--identity=k"][..],
                        &path,
                        &["--identity", "j"],
                        tail,
                    ]
                    .concat(),
                );
            }
            for args in cases {
                let whole = outcome(command(), &args);
                let pruned = outcome(command_for(&os(&args)), &args);
                assert_eq!(pruned, whole, "{args:?}");
                checked += 1;
            }
        }
        // A subcommand's alias, and words that are not a subcommand.
        for args in [
            &["vault", "rm", "NAME"][..],
            &["vault"],
            &["vault", "--help"],
            &["vault", "-V"],
            &["vault", "help", "get"],
            &["vault", "gett", "NAME"],
            &["vault", "--vault", "get"],
            &["vault", "--vault", "get", "list"],
            &["vault", "--bogus", "get", "X"],
            &["vault", "--", "get", "X"],
            &["vault", "--=x", "get", "X"],
            &["vault", "--passphrase-fd", "3", "get", "X"],
            // A missing value, then a flag of a later subcommand: clap's
            // tip names `list --json` (review finding).
            &["vault", "--vault", "--json", "get", "list"],
            &["vault", "--identity", "-x", "get", "X"],
            &["vault", "--vault", "--", "rm", "X"],
        ] {
            assert_eq!(
                outcome(command_for(&os(args)), args),
                outcome(command(), args),
                "{args:?}"
            );
            checked += 1;
        }
        assert!(checked > 500, "{checked}");
    }

    /// `vault PATH --help` opens with the description `vault PATH`'s parent
    /// lists for it (a flattened struct's doc comment once replaced it:
    /// `vault init --help` said "Argon2id cost options of a new passphrase
    /// slot").
    #[test]
    fn every_subcommand_help_opens_with_its_own_description() {
        let whole = command();
        let mut all = Vec::new();
        paths(&whole, Vec::new(), &mut all);
        assert!(all.len() > 30, "{all:?}");
        let mut wrong = Vec::new();
        for p in &all {
            let sc = p.iter().try_fold(&whole, |c, n| c.find_subcommand(n));
            let listed = sc
                .and_then(|sc| sc.get_about())
                .map(ToString::to_string)
                .unwrap_or_default();
            let args: Vec<&str> = ["vault"]
                .into_iter()
                .chain(p.iter().map(String::as_str))
                .chain(["--help"])
                .collect();
            let help = outcome(command_for(&os(&args)), &args);
            let first = help
                .trim_start_matches("DisplayHelp: ")
                .lines()
                .next()
                .unwrap_or("");
            if first != listed {
                wrong.push(format!("{}: {first:?}, listed as {listed:?}", p.join(" ")));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn a_subcommand_is_named_only_after_top_level_options() {
        let cmd = command();
        let named = |args: &[&str]| subcommand_named(&cmd, &os(args));
        assert_eq!(named(&["vault", "get", "X"]).as_deref(), Some("get"));
        assert_eq!(named(&["vault", "rm", "X"]).as_deref(), Some("delete"));
        assert_eq!(
            named(&["vault", "--vault", "list", "get"]).as_deref(),
            Some("get")
        );
        assert_eq!(
            named(&["vault", "--vault=list", "get"]).as_deref(),
            Some("get")
        );
        assert_eq!(
            named(&["vault", "--no-cache", "key", "list"]).as_deref(),
            Some("key")
        );
        for none in [
            &["vault"][..],
            &["vault", "--help"],
            &["vault", "-h", "get"],
            &["vault", "--", "get"],
            &["vault", "--vault"],
            &["vault", "--bogus", "get"],
            &["vault", "nosuch"],
            &["vault", "help", "get"],
        ] {
            assert_eq!(named(none), None, "{none:?}");
        }
        // The top level it rebuilds is the derived one.
        let (mut whole, mut pruned) = (command(), command_for(&os(&["vault", "get", "X"])));
        whole.build();
        pruned.build();
        assert_eq!(pruned.get_name(), whole.get_name());
        assert_eq!(pruned.get_version(), whole.get_version());
        assert_eq!(pruned.get_long_version(), whole.get_long_version());
        assert_eq!(
            pruned.get_about().map(ToString::to_string),
            whole.get_about().map(ToString::to_string)
        );
        assert_eq!(
            pruned.get_after_help().map(ToString::to_string),
            whole.get_after_help().map(ToString::to_string)
        );
        assert_eq!(
            pruned.is_propagate_version_set(),
            whole.is_propagate_version_set()
        );
        assert_eq!(
            pruned.is_subcommand_required_set(),
            whole.is_subcommand_required_set()
        );
        assert_eq!(
            pruned.is_arg_required_else_help_set(),
            whole.is_arg_required_else_help_set()
        );
        let groups = |c: &clap::Command| -> Vec<String> {
            c.get_groups().map(|g| format!("{g:?}")).collect()
        };
        assert_eq!(groups(&pruned), groups(&whole));
        // Everything else clap keeps of the top level, as its debug form
        // shows it, up to the subcommands.
        let settings = |c: &clap::Command| -> String {
            let d = format!("{c:?}");
            d[..d
                .find("subcommands:")
                .expect("a command lists its subcommands")]
                .to_owned()
        };
        assert_eq!(settings(&pruned), settings(&whole));
        let ids = |c: &clap::Command| -> Vec<String> {
            c.get_arguments().map(|a| format!("{a:?}")).collect()
        };
        assert_eq!(ids(&pruned), ids(&whole));
        let names = |c: &clap::Command| -> Vec<String> {
            c.get_subcommands()
                .map(|s| s.get_name().to_owned())
                .collect()
        };
        assert_eq!(names(&pruned), ["get", "help"]);
        assert!(names(&whole).len() > 20);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("0s"), Ok(0));
        for bad in ["", "15", "m", "1d", "1h-2m", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("25h").is_err());
        assert_eq!(parse_timeout("24h"), Ok(MAX_TIMEOUT));
        for (secs, text) in [
            (600, "10m"),
            (5400, "1h30m"),
            (90, "1m30s"),
            (86400, "24h"),
            (1, "1s"),
        ] {
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
        }
    }

    #[test]
    fn typed_values() {
        assert!(parse_passphrase_fd("0").is_err());
        assert!(parse_passphrase_fd("1").is_err());
        assert!(parse_passphrase_fd("2").is_err());
        assert!(parse_passphrase_fd("-3").is_err());
        assert_eq!(parse_passphrase_fd("3"), Ok(3));
        assert!(parse_slot_ref("").is_err());
        assert!(parse_slot_ref(" x").is_err());
        assert!(parse_label("0a0b0c0d").is_err());
        assert_eq!(parse_label("CI").unwrap().as_str(), "CI");
        assert!(matches!(parse_slot_ref("ci"), Ok(SlotRef::Label(l)) if l.as_str() == "ci"));
        assert_eq!(
            parse_slot_ref("0A0B0C0D"),
            Ok(SlotRef::Id(vault::format::SlotId([10, 11, 12, 13])))
        );
        assert!(parse_file_spec("nofile").is_err());
        assert!(parse_file_spec("1A=x").is_err());
        assert!(parse_file_spec("A=").is_err());
        assert_eq!(
            parse_file_spec("A=b=c").unwrap(),
            FileSpec {
                var: "A".into(),
                path: "b=c".into()
            }
        );
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
