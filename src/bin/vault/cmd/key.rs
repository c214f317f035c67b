//! `vault key list/add/remove/passwd/export-slot` and `vault rekey`: slot
//! management. These always open through a slot (a passphrase, an
//! identity or the keyring), never the cached key: the library's
//! `WriteTxn<Slots>` is the only way in. `export-slot` reads the header
//! only (a recipient slot's age file is no secret).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use vault::error::Error;
use vault::format::KdfParams;

use crate::error::{CliError, Result};
use vault::format::v2::{HeaderV2, SlotKindV2, SlotV2};
use vault::format::SlotId;
use vault::identities::Recipient;
use vault::open::{EntryOutcome, RemovedEntries, RemovedEntry, SlotKey};
use vault::slots::{SlotRef, KEYRING_SERVICE};
use vault::vault::{check_kdf_budget, slot_account, ExposedSecret, RotatePending};
use vault::SecretBytes;

use crate::cli::{AddSlot, KeyCommand};
use crate::output::{slot_json, slot_line, stdout_write, warn, write_new_file};
use crate::prompt::{passphrase_from_file, prompt, stdin_is_terminal};
use crate::unlock::Ctx;

pub fn run(ctx: &mut Ctx<'_>, cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::List { json } => list(ctx, json),
        KeyCommand::Add(AddSlot::Keyring { label }) => {
            let mut txn = ctx.prepare_slots()?.begin()?;
            let id = txn.add_keyring_slot()?;
            let shown = labelled(label.as_ref());
            if label.is_some() {
                txn.set_label(id, label)?;
            }
            txn.commit()?;
            eprintln!("vault: added keyring slot {}{shown}", id.to_hex());
            Ok(())
        }
        KeyCommand::Add(AddSlot::Recipient { recipient, label }) => {
            let r = parse_recipient(&recipient)?;
            // Before anything is opened: a plugin recipient needs its plugin.
            if let Some(name) = r.plugin() {
                if !plugin_on_path(name) {
                    return Err(Error::CannotWrapTo {
                        recipient: r.canonical(),
                        why: format!("its plugin `age-plugin-{name}` is not on PATH"),
                    }
                    .into());
                }
            }
            let mut txn = ctx.prepare_slots()?.begin()?;
            let id = txn.add_recipient_slot(&r)?;
            let shown = labelled(label.as_ref());
            if label.is_some() {
                txn.set_label(id, label)?;
            }
            txn.commit()?;
            eprintln!(
                "vault: added recipient slot {}{shown} for {}",
                id.to_hex(),
                r.canonical()
            );
            Ok(())
        }
        KeyCommand::ExportSlot { target, output } => export_slot(ctx, &target, output.as_deref()),
        KeyCommand::Label {
            target: slot,
            label,
            clear,
        } => {
            let mut txn = ctx.prepare_slots()?.begin()?;
            let id = slot.resolve(txn.vault().header())?;
            txn.set_label(id, if clear { None } else { label.clone() })?;
            txn.commit()?;
            match label.filter(|_| !clear) {
                Some(l) => eprintln!("vault: slot {} is labelled {:?}", id.to_hex(), l.as_str()),
                None => eprintln!("vault: slot {} has no label", id.to_hex()),
            }
            Ok(())
        }
        KeyCommand::Add(AddSlot::Passphrase { label, new, kdf }) => {
            let params = kdf.params_over(KdfParams::DEFAULT);
            params.check_bounds().map_err(Error::KdfParams)?;
            // Before any prompt or KDF run; checked again under the lock.
            check_kdf_budget(ctx.opener.locked()?.header(), params, None)?;
            // The current passphrase first, then the new one.
            let prepared = ctx.creds.prepare_slots(&ctx.opener)?;
            let pass = ctx.creds.new_passphrase(&new, "passphrase")?;
            let key = ctx.opener.new_passphrase_key(&pass, params)?;
            let mut txn = prepared.begin()?;
            let id = txn.add_passphrase_slot(key)?;
            let shown = labelled(label.as_ref());
            if label.is_some() {
                txn.set_label(id, label)?;
            }
            txn.commit()?;
            eprintln!("vault: added passphrase slot {}{shown}", id.to_hex());
            Ok(())
        }
        KeyCommand::Remove {
            target,
            delete_keyring_entry,
            no_rotate_pending,
            other_passphrase_file,
        } => rekey(
            ctx,
            std::slice::from_ref(&target),
            &other_passphrase_file,
            delete_keyring_entry,
            !no_rotate_pending,
        ),
        KeyCommand::Passwd {
            target: slot,
            new,
            kdf,
        } => {
            let locked = ctx.opener.locked()?;
            let id = slot.resolve(locked.header())?;
            // A parameter not given keeps the slot's current value.
            let current = match locked.header().keys.slot(id).map(|sl| &sl.kind) {
                Some(kind) => match kind.kdf() {
                    Some((_, params)) => Some(params),
                    None => {
                        return Err(CliError::Usage(format!(
                            "slot {} is a {} slot; only passphrase slots have a passphrase",
                            id.to_hex(),
                            kind.name()
                        )))
                    }
                },
                None => {
                    return Err(CliError::Usage(format!(
                        "no slot {} in this vault; see `vault key list`",
                        id.to_hex()
                    )))
                }
            };
            let params = kdf.params_over(current.unwrap_or(KdfParams::DEFAULT));
            params.check_bounds().map_err(Error::KdfParams)?;
            check_kdf_budget(locked.header(), params, Some(id))?;
            drop(locked);
            let prepared = ctx.creds.prepare_slots(&ctx.opener)?;
            let pass = ctx.creds.new_passphrase(&new, "passphrase")?;
            let key = ctx.opener.new_passphrase_key(&pass, params)?;
            let mut txn = prepared.begin()?;
            txn.change_passphrase(id, key)?;
            txn.commit()?;
            eprintln!("vault: changed the passphrase of slot {}", id.to_hex());
            Ok(())
        }
    }
}

/// A recipient as typed: `age1…`, an SSH public key line, a plugin
/// recipient, or a file holding one (a `.pub` file: its first line that is
/// not a comment). Never repeated in an error: it may be a secret pasted in
/// the wrong place.
fn parse_recipient(arg: &str) -> Result<Recipient> {
    let problem = match Recipient::parse(arg) {
        Ok(r) => return Ok(r),
        Err(p) => p,
    };
    let path = Path::new(arg);
    if !path.is_file() {
        return Err(Error::BadRecipient(problem.to_string()).into());
    }
    let text = vault::store::read_small(path, 64 * 1024)?;
    let line = std::str::from_utf8(text.expose())
        .ok()
        .and_then(|t| {
            t.lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
        })
        .unwrap_or("");
    Recipient::parse(line)
        .map_err(|p| Error::BadRecipient(format!("{}: {p}", path.display())).into())
}

/// Whether `age-plugin-NAME` is an executable file on `PATH`.
fn plugin_on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let program = format!("age-plugin-{name}");
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            std::fs::metadata(d.join(&program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// `key export-slot`: a recipient slot's age file, from the header as read
/// (not authenticated here: the master key it gives is checked against the
/// header's commitment, docs/FORMAT.md "Recovery with age").
fn export_slot(ctx: &mut Ctx<'_>, target: &SlotRef, output: Option<&Path>) -> Result<()> {
    let locked = ctx.opener.locked()?;
    let h = locked.header();
    let id = target.resolve(h)?;
    let sl = h.keys.slot(id).ok_or(Error::SlotNotFound(id))?;
    let SlotKindV2::Recipient(w) = &sl.kind else {
        return Err(CliError::Usage(format!(
            "slot {} is a {} slot; only a recipient slot's age file opens with its member's own identity",
            id.to_hex(),
            sl.kind.name()
        )));
    };
    match output {
        // `-`: standard output, as for `vault identity new --output -`.
        Some(f) if f.as_os_str() != "-" => {
            write_new_file(f, &w.age)?;
            eprintln!(
                "vault: wrote the age file of slot {} (recipient {}) to {}",
                id.to_hex(),
                w.recipient,
                f.display()
            );
            Ok(())
        }
        _ if std::io::stdout().is_terminal() => Err(CliError::Usage(
            "refusing to write a binary age file on a terminal; redirect standard output (> FILE), or give --output FILE".into(),
        )),
        _ => stdout_write(&w.age),
    }
}

fn list(ctx: &mut Ctx<'_>, json: bool) -> Result<()> {
    // The header is readable without unlocking; it is authenticated only
    // when the vault is opened, which `vault doctor` and every other
    // command do.
    let locked = ctx.opener.locked()?;
    let h = locked.header();
    // A cached unlock (`vault unlock`) is shown, never its key.
    let cached = vault::cache::get(&h.vault_id)
        .filter(|c| locked.body_key_matches(&c.key))
        .map(|c| crate::output::format_utc(c.expires_at));
    let mut out = String::new();
    if json {
        let slots: Vec<serde_json::Value> =
            h.keys.slots.iter().map(|sl| slot_json(h, sl)).collect();
        out = serde_json::to_string_pretty(&serde_json::json!({
            "vault_id": h.vault_id.to_hex(), "generation": h.generation, "slots": slots,
            "cached_unlock_expires_utc": cached}))
        .expect("JSON of plain values");
        out.push('\n');
    } else {
        for sl in &h.keys.slots {
            out.push_str(&slot_line(h, sl));
            out.push('\n');
        }
        if let Some(until) = cached {
            out.push_str(&format!(
                "cached unlock until {until} UTC (`vault lock` ends it)\n"
            ));
        }
    }
    stdout_write(out.as_bytes())
}

/// `vault rekey`, and `vault key remove` (the same as `rekey --drop`): a
/// new master key, every slot re-wrapped or dropped. A version-2 slot is
/// re-wrapped from its public key; a slot still in its version-1 form
/// needs its key, worked out (and every prompt shown) before the lock.
/// A dropped slot's holder could read every secret: they are listed and,
/// with `mark`, marked rotate pending.
pub fn rekey(
    ctx: &mut Ctx<'_>,
    drop: &[SlotRef],
    other_passphrase_files: &[PathBuf],
    delete_keyring_entry: bool,
    mark: bool,
) -> Result<()> {
    let locked = ctx.opener.locked()?;
    let drop: Vec<SlotId> = drop
        .iter()
        .map(|r| r.resolve(locked.header()))
        .collect::<std::result::Result<_, _>>()?;
    let drop = &drop[..];
    std::mem::drop(locked);
    // A passphrase mistyped at a prompt is asked for again.
    let opener = &ctx.opener;
    let (given, prepared) = ctx.creds.with_retries(|c| {
        let locked = opener.locked()?;
        let cred = c.slot_credential(opener, &locked)?;
        let given = cred.as_passphrase().cloned();
        Ok((given, opener.prepare_slots(locked, cred)?))
    })?;
    let mut passphrases: Vec<SecretBytes> = given.into_iter().collect();
    for f in other_passphrase_files {
        passphrases.push(passphrase_from_file(f)?);
    }
    let mut keys: Vec<SlotKey> = Vec::new();
    for sl in prepared.header().keys.slots.clone() {
        if drop.contains(&sl.id) || !sl.kind.is_legacy() {
            continue;
        }
        match &sl.kind {
            SlotKindV2::LegacyKeyring { .. } => match prepared.keyring_slot_key(sl.id) {
                Ok(Some(k)) => keys.push(k),
                Ok(None) => {}
                Err(e) => {
                    return Err(CliError::Unlock(format!(
                        "cannot re-wrap keyring slot {id}: {e}; run where the keyring answers, or drop the slot with --drop {id}",
                        id = sl.id.to_hex()
                    )))
                }
            },
            _ => {
                let mut found = None;
                for p in &passphrases {
                    if let Some(k) = prepared.passphrase_slot_key(sl.id, p)? {
                        found = Some(k);
                        break;
                    }
                }
                // On a terminal, ask for a slot still missing.
                if found.is_none() && stdin_is_terminal() {
                    let p = prompt(&format!(
                        "Passphrase of slot {} (to re-wrap it): ",
                        sl.id.to_hex()
                    ))?;
                    found = prepared.passphrase_slot_key(sl.id, &p)?;
                }
                keys.extend(found);
            }
        }
    }
    let mut txn = prepared.begin()?;
    // Named as the header had them, before they go.
    let removed: Vec<String> = drop
        .iter()
        .filter_map(|id| txn.vault().header().keys.slot(*id))
        .map(slot_name)
        .collect();
    let rotate = if mark {
        RotatePending::Mark
    } else {
        RotatePending::Skip
    };
    let accounts = |h: &HeaderV2| -> Vec<(SlotId, String)> {
        h.keys
            .slots
            .iter()
            .filter_map(|sl| Some((sl.id, slot_account(&h.vault_id, sl)?)))
            .collect()
    };
    let keyring_before = accounts(txn.vault().header());
    let exposed = txn.rekey(&keys, drop, removed_entries(delete_keyring_entry), rotate)?;
    // Keyring slots whose entry this machine could not show to be theirs
    // keep their key: said, since a copy of that key still opens the vault.
    let same_key: Vec<String> = accounts(txn.vault().header())
        .into_iter()
        .filter(|a| keyring_before.contains(a))
        .map(|(id, _)| id.to_hex())
        .collect();
    let kept = txn.vault().header().keys.slots.len();
    let done = txn.commit()?;
    if removed.is_empty() {
        eprintln!("vault: new master key; re-wrapped {kept} slot(s), dropped 0");
    } else {
        eprintln!(
            "vault: removed {}; new master key; re-wrapped {kept} slot(s), dropped {}",
            removed.join(", "),
            drop.len()
        );
        report_exposed(&exposed, mark);
    }
    report_entries(&done.keyring_entries);
    if !same_key.is_empty() {
        warn(&format!(
            "keyring slot{s} {ids} {keep} {its} key: this machine's keyring has no entry for {it} or did not answer, so whoever copied that key can still open the vault; run `vault rekey` where {its} entry is (or remove and add {it} again there)",
            s = if same_key.len() == 1 { "" } else { "s" },
            ids = same_key.join(", "),
            keep = if same_key.len() == 1 { "keeps" } else { "keep" },
            its = if same_key.len() == 1 { "its" } else { "their" },
            it = if same_key.len() == 1 { "it" } else { "them" },
        ));
    }
    Ok(())
}

/// `passphrase slot 1a2b3c4d (label "alice")`.
fn slot_name(sl: &SlotV2) -> String {
    let mut s = format!("{} slot {}", sl.kind.name(), sl.id.to_hex());
    if let Some(l) = &sl.label {
        s.push_str(&format!(" (label {:?})", l.as_str()));
    }
    s
}

/// The secrets a removed slot could read: names and dates, never values.
fn report_exposed(exposed: &[ExposedSecret], marked: bool) {
    let n = exposed.len();
    let (count, it) = if n == 1 {
        ("1 secret".to_string(), "it")
    } else {
        (format!("{n} secrets"), "them")
    };
    if n == 0 {
        eprintln!("vault: the vault held no secret, so none needs rotating");
        return;
    }
    if marked {
        eprintln!(
            "vault: {count} it could read {} marked rotate pending; change {it} (`vault set NAME` with a new value) and `vault list` shows which remain:",
            if n == 1 { "is" } else { "are" }
        );
    } else {
        eprintln!("vault: {count} it could read, not marked rotate pending (--no-rotate-pending):");
    }
    // One write however many (stderr is unbuffered).
    let mut lines = String::new();
    for e in exposed {
        lines.push_str(&format!(
            "vault:   {} (updated {})\n",
            e.name,
            &crate::output::format_utc(e.updated)[..10]
        ));
    }
    eprint!("{lines}");
}

fn removed_entries(delete_keyring_entry: bool) -> RemovedEntries {
    if delete_keyring_entry {
        RemovedEntries::Delete
    } else {
        RemovedEntries::Keep
    }
}

/// What became of the keyring entries of removed keyring slots. A kept one
/// is named with why it was kept and how to delete it.
fn report_entries(entries: &[RemovedEntry]) {
    for e in entries {
        let (slot, account) = (e.slot.to_hex(), &e.account);
        match &e.outcome {
            EntryOutcome::Kept if e.slot_kept => eprintln!(
                "vault: slot {slot} has a fresh keyring entry; its old one (service `{KEYRING_SERVICE}`, account `{account}`) is kept: a copy of this vault from before opens through it. If no copy needs it, delete it: `secret-tool clear service {KEYRING_SERVICE} username {account}` (--delete-keyring-entry deletes it at once)"
            ),
            EntryOutcome::Deleted if e.slot_kept => {
                eprintln!("vault: deleted the old keyring entry of slot {slot} (account `{account}`); it has a fresh one")
            }
            EntryOutcome::Kept => eprintln!(
                "vault: kept the keyring entry of removed slot {slot} (service `{KEYRING_SERVICE}`, account `{account}`), if this machine has one: a copy of this vault that still has the slot opens through it. If no copy needs it, delete it: `secret-tool clear service {KEYRING_SERVICE} username {account}` (--delete-keyring-entry deletes it at removal)"
            ),
            EntryOutcome::Deleted => {
                eprintln!("vault: deleted the keyring entry of removed slot {slot} (account `{account}`)")
            }
            EntryOutcome::NotThisVaults => warn(&format!(
                "left the keyring entry `{account}` alone: its key does not open this vault's slot {slot}"
            )),
            EntryOutcome::Missing => {}
            EntryOutcome::Failed(e) => warn(&format!(
                "could not delete the keyring entry `{account}` of removed slot {slot}: {e}"
            )),
        }
    }
}

/// ` labelled "L"` after a new slot's id, or nothing (a label holds no
/// control or bidirectional-override character: safe to print as it is).
fn labelled(label: Option<&vault::format::v2::Label>) -> String {
    label.map_or_else(String::new, |l| format!(" labelled \"{}\"", l.as_str()))
}
