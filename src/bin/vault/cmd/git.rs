//! `vault textconv`, `vault merge`, `vault resolve` and `vault git setup`:
//! what git runs (the diff text and the merge driver) and what sets it up.
//! Thin over the library (`vault::merge` decides a merge); git is run only
//! by `git setup`, and only as `git config` / `git rev-parse`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vault::format::v2::{HeaderV2, SlotKindV2};
use vault::format::Conflict;
use vault::merge::Rotation;
use vault::Vault;

use crate::error::{CliError, Result};
use crate::output::stdout_write;
use crate::unlock::Ctx;

/// How many hex digits of a fingerprint `textconv` shows (64 bits: enough
/// to see that a value changed, and stable across runs).
const FINGERPRINT_HEX: usize = 16;

/// `vault textconv FILE`: a text view of a vault file for `git diff` and
/// `git log -p`. Never prompts, never writes, never fails a diff: a file
/// that cannot be opened here shows what its header says, and exits 0.
pub fn textconv(ctx: &mut Ctx<'_>, file: &Path) -> Result<()> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            return stdout_write(format!("(not a readable file: {})\n", e.kind()).as_bytes());
        }
    };
    let mut out = String::new();
    // The header alone, read as opening reads it (no key needed).
    let locked = match vault::LockedVault::parse(file, bytes) {
        Ok(l) => l,
        Err(e) => {
            let why = match e {
                vault::Error::Corrupt { detail, .. } => detail,
                vault::Error::UnsupportedVersion { version, .. } => {
                    format!("unsupported format version {version}")
                }
                _ => "unreadable header".into(),
            };
            out.push_str(&format!("(not a vault file this vault can read: {why})\n"));
            return stdout_write(out.as_bytes());
        }
    };
    let opened = ctx.creds.open_quietly(ctx.stores, file);
    let (version, h) = match &opened {
        Ok(v) => (v.version(), v.header()),
        Err(_) => (locked.version(), locked.header()),
    };
    header_view(&mut out, version, h);
    match &opened {
        Ok(v) => secrets_view(&mut out, v),
        Err(_) => out.push_str(
            "secrets: not shown (nothing here opens this vault: no passphrase or identity given, no cached unlock of it, no keyring slot, personal identity or default SSH key of this machine)\n",
        ),
    }
    stdout_write(out.as_bytes())
}

/// What the header shows to anyone: version, id, generation, the
/// master key's commitment (it changes only when the master key is
/// rotated), and the slots sorted by id (kind, label, recipient).
fn header_view(out: &mut String, version: u16, h: &HeaderV2) {
    let _ = writeln!(out, "vault file, format version {version}");
    let _ = writeln!(out, "id: {}", h.vault_id.to_hex());
    let _ = writeln!(out, "generation: {}", h.generation);
    let _ = writeln!(
        out,
        "master key: {} (commitment; changes only when the master key is rotated)",
        hex(&h.keys.master_commitment[..8])
    );
    let mut slots: Vec<_> = h.keys.slots.iter().collect();
    slots.sort_by_key(|s| s.id.0);
    let _ = writeln!(out, "slots: {}", slots.len());
    for s in slots {
        let _ = write!(out, "  {} {}", s.id.to_hex(), s.kind.name());
        if let Some(l) = &s.label {
            let _ = write!(out, " label {:?}", l.as_str());
        }
        if let Some(w) = s.kind.wrap() {
            let _ = write!(out, " {}", w.recipient);
        }
        if matches!(
            s.kind,
            SlotKindV2::LegacyKeyring { .. } | SlotKindV2::LegacyPassphrase { .. }
        ) {
            out.push_str(" (version 1)");
        }
        out.push('\n');
    }
}

/// One line per secret, sorted by name: the name, a short fingerprint of
/// its value under the body's fingerprint key (none for a version-1 file),
/// and its marks. Never a value.
fn secrets_view(out: &mut String, v: &Vault) {
    let _ = writeln!(out, "secrets: {}", v.len());
    if v.version() == 1 {
        out.push_str("  (format version 1 has no fingerprint key: names only)\n");
    }
    out.reserve(v.len() * (4 + FINGERPRINT_HEX + 24));
    for e in v.entries() {
        out.push_str("  ");
        out.push_str(e.name);
        if let Some(fp) = v.fingerprint(&e) {
            out.push(' ');
            push_hex(out, &fp[..FINGERPRINT_HEX / 2]);
        }
        if e.marks.rotate_pending {
            out.push_str(" [rotate pending]");
        }
        match e.marks.conflict {
            None => {}
            Some(Conflict::OtherDeleted) => out.push_str(" [conflict: deleted on the other side]"),
            Some(Conflict::Other(_)) => out.push_str(" [conflict]"),
        }
        out.push('\n');
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    push_hex(&mut s, bytes);
    s
}

/// Appends `bytes` in lower-case hex (one call per secret: no formatting
/// machinery in the loop over 10 000 names).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
}

/// The line `vault git setup` puts in `.gitattributes`: the merge driver,
/// the diff textconv, and no end-of-line conversion of the binary file.
pub const ATTRIBUTES_LINE: &str = "*.vault merge=vault diff=vault -text";

/// The line `vault git setup` puts in `.gitignore`: the empty file every
/// write locks (`docs/FORMAT.md`) sits next to the vault, in the work tree.
pub const IGNORE_LINE: &str = "*.vault.lock";

/// `vault git setup [--global] [--absolute-path]`: the attributes line and
/// git's configuration of the driver and the textconv, through the real
/// `git config`. Idempotent.
pub fn setup(global: bool, absolute_path: bool) -> Result<()> {
    let program = if absolute_path {
        let exe = std::env::current_exe()
            .map_err(|e| CliError::Other(format!("cannot find this vault binary: {e}")))?;
        shell_quote(&exe.to_string_lossy())
    } else {
        "vault".to_string()
    };
    let scope = if global { "--global" } else { "--local" };
    let (attributes, ignore) = if global {
        (
            global_git_file("core.attributesFile", "attributes")?,
            global_git_file("core.excludesFile", "ignore")?,
        )
    } else {
        let top = git(&["rev-parse", "--show-toplevel"]).map_err(|_| {
            CliError::Usage(
                "not inside a git work tree: run `vault git setup` in the repository, or give --global for every repository of this user".into(),
            )
        })?;
        let top = PathBuf::from(top.trim_end_matches('\n'));
        (top.join(".gitattributes"), top.join(".gitignore"))
    };
    let added = add_line(&attributes, ATTRIBUTES_LINE)?;
    // Best effort: an ignore file vault cannot read or write (not UTF-8,
    // a directory) must not leave git without the driver and textconv.
    let ignored = match add_line(&ignore, IGNORE_LINE) {
        Ok(added) => Some(added),
        Err(e) => {
            crate::output::warn(&format!(
                "could not add `{IGNORE_LINE}` to {} ({e}): add it by hand, or git status will list the vault's lock file",
                ignore.display()
            ));
            None
        }
    };
    let settings = [
        (
            "merge.vault.name",
            "vault: three-way merge per secret name".to_string(),
        ),
        ("merge.vault.driver", format!("{program} merge %O %A %B")),
        ("merge.vault.recursive", "binary".to_string()),
        ("diff.vault.textconv", format!("{program} textconv")),
    ];
    for (key, value) in &settings {
        git(&["config", scope, key, value])?;
    }
    // A cached textconv would keep names and fingerprints in git notes for
    // good, past the removal that replaced the fingerprint key.
    let _ = git(&["config", scope, "--unset-all", "diff.vault.cachetextconv"]);
    let said = |file: &Path, line: &str, added: bool| {
        let how = if added { "now has" } else { "already had" };
        eprintln!("vault: {} {how} `{line}`", file.display());
    };
    said(&attributes, ATTRIBUTES_LINE, added);
    if let Some(added) = ignored {
        said(&ignore, IGNORE_LINE, added);
    }
    eprintln!(
        "vault: git config {scope}: merge driver `{program} merge %O %A %B`, diff textconv `{program} textconv`"
    );
    if !absolute_path && !on_path("vault") {
        crate::output::warn("no `vault` on PATH: git will not find the merge driver or the textconv; put vault on PATH, or run `vault git setup --absolute-path`");
    }
    Ok(())
}

/// Appends `line` to `path` unless a line already says it; whether it was
/// added.
fn add_line(path: &Path, line: &str) -> Result<bool> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(vault::Error::io("reading", path, e).into()),
    };
    if old.lines().any(|l| l.trim() == line) {
        return Ok(false);
    }
    let mut new = old;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(line);
    new.push('\n');
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| vault::Error::io("creating", dir, e))?;
    }
    std::fs::write(path, new).map_err(|e| vault::Error::io("writing", path, e))?;
    Ok(true)
}

/// The user's own git file of a kind: the `key` setting (e.g.
/// `core.attributesFile`) if set, else `$XDG_CONFIG_HOME/git/NAME`
/// (`~/.config/git/NAME`), as git reads it.
fn global_git_file(key: &str, name: &str) -> Result<PathBuf> {
    if let Ok(p) = git(&["config", "--global", "--type=path", "--get", key]) {
        let p = p.trim_end_matches('\n');
        if !p.is_empty() {
            return Ok(PathBuf::from(p));
        }
    }
    let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(std::env::var_os("HOME").ok_or(vault::Error::NoHome)?).join(".config")
        }
    };
    Ok(config.join("git").join(name))
}

/// Runs `git ARGS` in the current directory; its stdout, or what it said.
fn git(args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| CliError::Other(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(CliError::Other(format!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// `s` as one word for `sh` (git runs the driver through the shell).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `vault merge BASE OURS THEIRS`, git's merge driver (`%O %A %B`): the
/// result replaces OURS. Exit 0 merged; 1 merged with conflicts (written
/// and marked, names on stderr, never values); 2 or more: nothing written
/// (2 cannot merge, 3 a side cannot be opened here, 4 a side is corrupt).
pub fn merge(ctx: &mut Ctx<'_>, base: &Path, ours: &Path, theirs: &Path) -> Result<()> {
    let mut open = |what: &str, path: &Path| {
        ctx.creds.open_quietly(ctx.stores, path).map_err(|e| {
            eprintln!(
                "vault: merge: {what} ({}) does not open here",
                path.display()
            );
            match e.exit_code() {
                0 | 1 => CliError::CannotMerge(format!("cannot merge: {e}")),
                _ => e,
            }
        })
    };
    let o = open("OURS", ours)?;
    let t = open("THEIRS", theirs)?;
    let b = match std::fs::metadata(base) {
        Ok(m) if m.len() > 0 => match ctx.creds.open_quietly(ctx.stores, base) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("vault: merge: the common version does not open here ({e}); every name that differs is a conflict");
                None
            }
        },
        _ => None,
    };
    let outcome = vault::merge::merge_vaults(b.as_ref(), o, t).map_err(|e| match e {
        vault::Error::CannotMerge(m) => CliError::CannotMerge(format!("cannot merge: {m}")),
        e => e.into(),
    })?;
    vault::store::write_atomic_unshared(ours, &outcome.bytes)?;
    match outcome.rotation {
        Rotation::Ours => eprintln!("vault: merge: ours rotated the master key since the common version; the result keeps our key and slots"),
        Rotation::Theirs => eprintln!("vault: merge: theirs rotated the master key since the common version; the result keeps their key and slots"),
        _ => {}
    }
    for n in &outcome.rotate_pending {
        eprintln!("vault: merge: rotate pending: {n} (set on the branch that still had the old master key: a removed member could read it there)");
    }
    for n in &outcome.conflicts {
        eprintln!("vault: merge: conflict: {n}");
    }
    for c in &outcome.slot_conflicts {
        eprintln!("vault: merge: conflict: {c}");
    }
    if outcome.has_conflicts() {
        // Say only what applies: secrets in conflict, slots, or both.
        let mut what = Vec::new();
        if !outcome.conflicts.is_empty() {
            what.push(format!(
                "{} secret(s) in conflict keep our value (or the one value left, where a side deleted it) and are marked (`vault list --json`: \"conflict\": true): take a side with `vault resolve NAME --keep` or `--other`, or `vault set NAME`",
                outcome.conflicts.len()
            ));
        }
        if !outcome.slot_conflicts.is_empty() {
            what.push(format!(
                "{} slot conflict(s), listed above: the result holds the slots as merged; add or remove a slot with `vault key` if it should be otherwise",
                outcome.slot_conflicts.len()
            ));
        }
        return Err(CliError::MergeConflicts(format!(
            "merged with conflicts: {}; then `git add` the file",
            what.join("; ")
        )));
    }
    eprintln!("vault: merge: merged (generation {})", outcome.generation);
    Ok(())
}

/// `vault resolve NAME --keep|--other`: ends a merge conflict on `name`,
/// keeping the value it holds or taking the other side's (deleting it if
/// the other side deleted it). A rotate-pending mark stays.
pub fn resolve(ctx: &mut Ctx<'_>, name: &str, other: bool) -> Result<()> {
    crate::cmd::check_name(name)?;
    let mut txn = ctx.prepare()?.begin()?;
    if txn.vault().get(name).is_none() {
        return Err(crate::cmd::missing(txn.vault(), name));
    }
    txn.resolve(name, other)?;
    txn.commit()?;
    Ok(())
}
