//! `vault doctor`: a read-only report to paste into a bug. It reads the
//! header (unlocking only to list secrets whose names change how programs
//! load, and only without a prompt), asks the keyring and the kernel
//! keyring whether they answer, checks this process's protections, and
//! suggests the next step.
//! It never prints a secret or key material.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use serde_json::{json, Value};
use vault::display::format_kib;
use vault::error::Error;
use vault::format::KdfParams;

use crate::error::{CliError, Result};
use vault::slots::KeyringError;

use crate::os::sys;
use crate::output::{slot_json, stdout_write};
use vault::envnames::alters_program_loading;
use vault::rollback::Verdict;
use vault::{LockedVault, Vault};

use crate::unlock::Ctx;

pub fn run(ctx: &mut Ctx<'_>, json_out: bool, delete_unused: bool) -> Result<()> {
    let s = ctx.inv;
    let mut next: Vec<String> = Vec::new();
    let mut report = serde_json::Map::new();
    report.insert("vault_version".into(), json!(env!("CARGO_PKG_VERSION")));
    report.insert("path".into(), json!(s.path.display().to_string()));
    if s.resolved != s.path {
        report.insert(
            "resolved_path".into(),
            json!(s.resolved.display().to_string()),
        );
    }
    let file = match std::fs::metadata(&s.resolved) {
        Ok(m) => {
            let mode = m.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                next.push(format!(
                    "tighten the vault's permissions: chmod 600 {}",
                    s.path.display()
                ));
            }
            json!({"exists": true, "regular_file": m.is_file(), "mode": format!("{mode:04o}"),
                   "owner_uid": m.uid(), "size": m.len()})
        }
        Err(e) => {
            next.push(
                "create a vault with `vault init` (or point --vault / VAULT_FILE at one)".into(),
            );
            json!({"exists": false, "error": e.to_string()})
        }
    };
    report.insert("file".into(), file);
    if let Some(dir) = s.resolved.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(m) = std::fs::metadata(dir) {
            let mode = m.permissions().mode();
            if mode & 0o1000 != 0 && mode & 0o002 != 0 {
                // Sticky and world-writable (/tmp): others cannot replace
                // the file, so chmod is not the fix (and on /tmp it would
                // break the machine); a private directory is.
                next.push(format!(
                    "the vault is in a shared directory ({}, sticky and world-writable): others can see its name and plant files or links beside it; keep vaults in a directory of your own (the default is ~/.local/share/vault)",
                    dir.display()
                ));
            } else if mode & 0o022 != 0 {
                next.push(format!(
                    "others can create or replace files in the vault's directory: chmod go-w {} (vault creates its own directories 0700)",
                    dir.display()
                ));
            }
            report.insert(
                "directory".into(),
                json!({"path": dir.display().to_string(), "mode": format!("{:04o}", m.permissions().mode() & 0o7777)}),
            );
        }
    }

    let locked = match ctx.opener.locked() {
        Ok(l) => Some(l),
        Err(e @ (Error::NoVault(_) | Error::NotAFile(_))) => {
            report.insert(
                "vault".into(),
                json!({"readable": false, "error": e.to_string()}),
            );
            None
        }
        Err(e) => {
            next.push("the file cannot be parsed: restore it from a backup".into());
            let error = e.to_string();
            let exit_code = CliError::from(e).exit_code();
            report.insert(
                "vault".into(),
                json!({"readable": false, "error": error, "exit_code": exit_code}),
            );
            None
        }
    };

    let keyring = &ctx.stores.keyring;
    let keyring_state = keyring.connected().map(|_| ());
    let ready = keyring.connected().and_then(|st| st.ready());
    report.insert(
        "keyring".into(),
        match (&keyring_state, &ready) {
            (Ok(()), Ok(())) => json!({"answers": true, "store": "Secret Service (D-Bus)", "default_collection": "unlocked"}),
            (Ok(()), Err(e)) => {
                next.push(format!("the keyring answers but cannot be used without a prompt ({e}): unlock it (log in to the desktop, or `secret-tool` / seahorse), or use a passphrase"));
                json!({"answers": true, "store": "Secret Service (D-Bus)", "default_collection": e.to_string()})
            }
            (Err(e), _) => json!({"answers": false, "why": e.to_string()}),
        },
    );

    if let Some(l) = &locked {
        let h = l.header();
        let mut slots = Vec::new();
        let mut missing_entries: Vec<String> = Vec::new();
        for sl in &h.keys.slots {
            if let Some(account) = vault::vault::slot_account(&h.vault_id, sl) {
                let entry = match keyring.connected() {
                    Ok(st) => match st.get(&account) {
                        Ok(_) => "present".to_string(),
                        Err(KeyringError::NoEntry) => {
                            missing_entries.push(sl.id.to_hex());
                            "missing".to_string()
                        }
                        Err(e) => format!("unavailable: {e}"),
                    },
                    Err(e) => format!("unavailable: {e}"),
                };
                let mut j = slot_json(h, sl);
                j["keyring_entry"] = json!(entry);
                slots.push(j);
            } else if let Some((salt, params)) = sl.kind.kdf() {
                let d = KdfParams::DEFAULT;
                let weaker = params.memory_kib < d.memory_kib || params.time < d.time;
                if weaker {
                    next.push(format!(
                        "passphrase slot {} uses weaker Argon2id settings than recommended ({}, t={}): `vault key passwd {}` with the defaults",
                        sl.id.to_hex(), format_kib(params.memory_kib as u64), params.time, sl.id.to_hex()
                    ));
                }
                let mut j = slot_json(h, sl);
                j["salt_len"] = json!(salt.len());
                j["recommended"] = json!({"memory_kib": d.memory_kib, "time": d.time, "parallelism": d.parallelism});
                j["weaker_than_recommended"] = json!(weaker);
                slots.push(j);
            } else {
                slots.push(slot_json(h, sl));
            }
        }
        if l.version() == 1 {
            next.push("the file is format version 1: the next change made with a passphrase or the keyring writes version 2; then `vault rekey` once, so no slot is left in its version-1 form".into());
        } else {
            let legacy: Vec<String> = h
                .keys
                .slots
                .iter()
                .filter(|s| s.kind.is_legacy())
                .map(|s| s.id.to_hex())
                .collect();
            if !legacy.is_empty() {
                next.push(format!(
                    "slot{} {} still in {} version-1 form (carried over from a version-1 file; every rotation needs {} credential): run `vault rekey` once to convert {} (with each one's passphrase: --other-passphrase-file, or a prompt; a keyring slot: where its keyring answers), or drop {} with `vault rekey --drop ID`",
                    if legacy.len() == 1 { "" } else { "s" },
                    legacy.join(", "),
                    if legacy.len() == 1 { "its" } else { "their" },
                    if legacy.len() == 1 { "its" } else { "their" },
                    if legacy.len() == 1 { "it" } else { "them" },
                    if legacy.len() == 1 { "it" } else { "those you cannot open" },
                ));
            }
        }
        if !missing_entries.is_empty() {
            next.push(format!(
                "keyring slot{} {} {} no entry in this keyring: open the vault by passphrase here, or add a keyring slot with `vault key add keyring`",
                if missing_entries.len() == 1 { "" } else { "s" },
                missing_entries.join(", "),
                if missing_entries.len() == 1 { "has" } else { "have" }
            ));
        }
        let has_keyring_slot = l.has_keyring_slot();
        if has_keyring_slot && !l.has_passphrase_slot() {
            next.push("the vault opens only through the keyring: add a recovery passphrase with `vault key add passphrase`".into());
        }
        if has_keyring_slot {
            if let Err(e) = &keyring_state {
                next.push(format!("the keyring is not usable here ({e}): open the vault with a passphrase (--passphrase-stdin or VAULT_PASSPHRASE_FILE)"));
            }
        }
        let cached = vault::cache::get(&h.vault_id);
        report.insert(
            "vault".into(),
            json!({"readable": true, "format_version": l.version(),
                   "vault_id": h.vault_id.to_hex(), "generation": h.generation,
                   "header_authenticated": false,
                   "note": "doctor does not unlock; the header is authenticated by every command that opens the vault",
                   "slots": slots}),
        );
        report.insert(
            "cache".into(),
            match cached {
                Some(c) if l.body_key_matches(&c.key) => json!({"cached_key": true, "expires_utc": crate::output::format_utc(c.expires_at)}),
                Some(_) => json!({"cached_key": true, "stale": true}),
                None => json!({"cached_key": false}),
            },
        );
    }

    report.insert(
        "keyring_entries".into(),
        keyring_entries_report(ctx, locked.as_ref(), delete_unused, &mut next),
    );
    report.insert(
        "rollback_memory".into(),
        memory_report(ctx, locked.as_ref(), &mut next),
    );

    if locked.is_some() {
        let secrets = secrets_report(ctx, &mut next);
        report.insert("secrets".into(), secrets);
    }
    let locked_mem = sys::MEMORY_LOCKED.load(std::sync::atomic::Ordering::Relaxed);
    let memlock = sys::memlock_limit();
    report.insert(
        "process".into(),
        json!({"memory_locking": if locked_mem { "all memory (mlockall)".to_string() } else {
                    "buffers of keys and values, page by page, up to the memory-lock limit; past it one warning and the rest may reach swap".to_string()
               },
               "memlock_limit": memlock.map(|b| format_kib(b / 1024)).unwrap_or_else(|| "unlimited".into()),
               "core_dumps_blocked": sys::core_limit() == Some(0),
               "dumpable": sys::dumpable()}),
    );
    // One line however many steps found the same thing.
    let mut seen = std::collections::HashSet::new();
    next.retain(|n| seen.insert(n.clone()));
    if next.is_empty() {
        next.push("nothing to do: everything looks right".into());
    }
    report.insert("next_steps".into(), json!(next));

    let report = Value::Object(report);
    let text = if json_out {
        let mut t = serde_json::to_string_pretty(&report).expect("plain JSON");
        t.push('\n');
        t
    } else {
        human(&report)
    };
    stdout_write(text.as_bytes())
}

/// What the rollback memory holds for this path, how the file's header
/// (read, not authenticated) compares with it, and every vault path the
/// memory knows on this machine, saying which no longer exist.
fn memory_report(ctx: &Ctx<'_>, locked: Option<&LockedVault>, next: &mut Vec<String>) -> Value {
    let short = |h: String| h[..16].to_string();
    let here = match ctx.opener.remembered() {
        None => Value::Null,
        Some(r) => json!({"generation": r.last.generation,
            "key_commitment": short(r.last.commitment.to_hex()),
            "content_digest": short(r.last.digest.to_hex()),
            "retired_keys": r.retired.len()}),
    };
    let mut this = json!({"remembered": here});
    if let Some(l) = locked {
        let verdict = Verdict::of(ctx.opener.remembered().as_ref(), &l.file_state());
        let (word, step) = match verdict {
            Verdict::First => ("nothing remembered at this path yet: the next open remembers it", None),
            Verdict::Same => ("the file remembered", None),
            Verdict::Newer => ("newer than remembered: accepted", None),
            Verdict::NewKey => ("newer, under a new key: accepted with a notice, and the remembered key retired at this path", None),
            Verdict::Older { .. } => ("older than remembered: refused (exit 4) unless git tracks the file or with --allow-rollback",
                Some("the file is older than the one this path held: if you restored it on purpose, accept it once with --allow-rollback")),
            Verdict::Fork => ("the remembered generation with other contents (a fork): refused (exit 4) unless git tracks the file or with --allow-rollback",
                Some("another copy of the same generation replaced the file: carry the lost change over by hand, then accept it once with --allow-rollback")),
            Verdict::Retired => ("sealed with a key retired at this path: never written; read only with --allow-rollback or in a git checkout",
                Some("the file is from before a rekey or a removed slot: put the rekeyed file back")),
        };
        this["file_header_compared"] = json!(word);
        next.extend(step.map(String::from));
    }
    let known: Vec<Value> = ctx
        .opener
        .known_vaults()
        .into_iter()
        .map(|r| {
            json!({"path": r.path.display().to_string(), "generation": r.last.generation,
                        "exists": vault::store::exists(&r.path)})
        })
        .collect();
    json!({"this_path": this,
           "note": "remembered per path as it is named (a link is not followed) on this machine; the header compared here is not authenticated",
           "vaults_known_here": known})
}

/// For `vault doctor`: the stored secrets whose names change how programs
/// load or how a shell starts (`vault::envnames`), which `exec` leaves out
/// unless named with --only, and the secrets marked rotate pending (a
/// removed member could read them). Names are in the encrypted body, so
/// this opens the vault, but only when that needs no prompt.
fn secrets_report(ctx: &mut Ctx<'_>, next: &mut Vec<String>) -> Value {
    match open_without_prompt(ctx) {
        Ok(Some(v)) => {
            let names: Vec<&str> = v
                .entries()
                .map(|e| e.name)
                .filter(|n| alters_program_loading(n))
                .collect();
            if !names.is_empty() {
                next.push(format!(
                    "stored secrets whose names change how programs load or how a shell starts: {}; `vault exec` leaves them out unless named with --only: delete them (`vault delete NAME`) unless they are meant for that",
                    names.join(", ")
                ));
            }
            let pending: Vec<&str> = v
                .entries()
                .filter(|e| e.marks.rotate_pending)
                .map(|e| e.name)
                .collect();
            if !pending.is_empty() {
                next.push(format!(
                    "{} rotate pending (a removed member could read {}): give {} a new value with `vault set NAME` (changed at its source too, e.g. a new API token); `vault list` marks the ones left",
                    match pending.len() {
                        1 => "1 secret is".to_string(),
                        n => format!("{n} secrets are"),
                    },
                    if pending.len() == 1 { "its value" } else { "their values" },
                    if pending.len() == 1 { "it" } else { "each" },
                ));
            }
            json!({"checked": true, "names_that_alter_program_loading": names,
                   "rotate_pending": pending.len(), "rotate_pending_names": pending})
        }
        Ok(None) => json!({"checked": false,
            "why": "opening the vault would need a prompt; give the passphrase (VAULT_PASSPHRASE_FILE, --passphrase-stdin) to list secrets whose names change how programs load, and those rotate pending"}),
        Err(e) => json!({"checked": false, "why": e.to_string()}),
    }
}

/// The vault, opened by a given passphrase, the cached key or the keyring;
/// `None` if only a prompt would open it.
fn open_without_prompt(ctx: &mut Ctx<'_>) -> Result<Option<Vault>> {
    let locked = ctx.opener.locked()?;
    let given = ctx.creds.given_passphrase()?.is_some_and(|p| !p.is_empty())
        || ctx.creds.given_identities()?.is_some();
    let cred = if given {
        ctx.creds.credential(&ctx.opener, &locked)?
    } else if let Some(c) = (!ctx.inv.no_cache)
        .then(|| ctx.opener.cached(&locked))
        .flatten()
    {
        c
    } else if locked.has_keyring_slot() {
        match ctx.opener.keyring_credential(&locked) {
            Ok(c) => c.into(),
            Err(_) => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    Ok(Some(ctx.opener.prepare(locked, cred)?.read()?))
}

fn human(v: &Value) -> String {
    let mut out = String::new();
    fn walk(out: &mut String, v: &Value, indent: usize, key: &str) {
        let pad = "  ".repeat(indent);
        match v {
            Value::Object(m) => {
                if !key.is_empty() {
                    out.push_str(&format!("{pad}{key}:\n"));
                }
                for (k, v) in m {
                    walk(out, v, indent + usize::from(!key.is_empty()), k);
                }
            }
            Value::Array(a) => {
                out.push_str(&format!("{pad}{key}:\n"));
                for item in a {
                    match item {
                        Value::Object(_) => {
                            out.push_str(&format!("{pad}  -\n"));
                            walk(out, item, indent + 2, "");
                        }
                        other => out.push_str(&format!("{pad}  - {}\n", plain(other))),
                    }
                }
            }
            other => out.push_str(&format!("{pad}{key}: {}\n", plain(other))),
        }
    }
    fn plain(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Null => "unknown".into(),
            other => other.to_string(),
        }
    }
    walk(&mut out, v, 0, "");
    out
}

/// For `vault doctor`: the vault entries in this machine's keyring, and
/// which of them no vault known here uses (the vaults this machine's
/// rollback memory knows, and the one being looked at). Names only: no
/// secret is read. With `delete`, the unused entries of known vaults are
/// deleted.
fn keyring_entries_report(
    ctx: &mut Ctx<'_>,
    this: Option<&LockedVault>,
    delete: bool,
    next: &mut Vec<String>,
) -> Value {
    let accounts = match ctx.stores.keyring.connected().and_then(|st| st.accounts()) {
        Ok(a) => a,
        Err(e) => return json!({"listed": false, "why": e.to_string()}),
    };
    let mut used: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut known_ids: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut add = |l: &LockedVault| {
        let h = l.header();
        known_ids.insert(h.vault_id.to_hex());
        for sl in &h.keys.slots {
            if let Some(a) = vault::vault::slot_account(&h.vault_id, sl) {
                used.insert(a);
            }
        }
    };
    if let Some(l) = this {
        add(l);
    }
    for r in ctx.opener.known_vaults() {
        if let Ok(l) = vault::store::read(&r.path).and_then(|b| LockedVault::parse(&r.path, b)) {
            add(&l);
        }
    }
    // Entries of a vault known here that none of its known copies uses
    // (a removed or rekeyed slot's): deletable. Entries of vaults never
    // opened here (another user's tool, a vault on a disk not mounted):
    // listed apart, never deleted by vault.
    let vault_of = |a: &str| a.split_once(':').map(|(id, _)| id.to_string());
    let (unused, unknown): (Vec<&String>, Vec<&String>) = accounts
        .iter()
        .filter(|a| !used.contains(*a) && *a != vault::identities::PERSONAL_IDENTITY_ACCOUNT)
        .partition(|a| vault_of(a).is_some_and(|id| known_ids.contains(&id)));
    let mut deleted = Vec::new();
    if delete {
        for a in &unused {
            match ctx.stores.keyring.connected().and_then(|st| st.delete(a)) {
                Ok(()) => {
                    eprintln!("vault: deleted keyring entry (service vault, account {a})");
                    deleted.push((*a).clone());
                }
                Err(e) => eprintln!("vault: could not delete keyring entry {a}: {e}"),
            }
        }
    } else if !unused.is_empty() {
        next.push(format!(
            "{} keyring entr{} of this machine's vaults that no known copy uses (removed or rekeyed slots): `vault doctor --delete-unused-keyring-entries` deletes them",
            unused.len(),
            if unused.len() == 1 { "y" } else { "ies" },
        ));
    }
    if !unknown.is_empty() {
        next.push(format!(
            "{} keyring entr{} of vaults never opened on this machine (on a disk not mounted, or gone): open such a vault once so vault knows it, or delete an entry yourself with `secret-tool clear service vault username ACCOUNT`",
            unknown.len(),
            if unknown.len() == 1 { "y" } else { "ies" },
        ));
    }
    json!({"listed": true, "total": accounts.len(), "unused": unused,
           "of_vaults_not_known_here": unknown, "deleted": deleted,
           "note": "an entry is used when a vault known on this machine (its rollback memory, or this one) has a keyring slot under its account; only unused entries of known vaults are ever deleted"})
}
