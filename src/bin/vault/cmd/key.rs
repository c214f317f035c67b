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
use vault::format::v2::SlotKindV2;
use vault::format::SlotId;
use vault::identities::Recipient;
use vault::open::{EntryOutcome, RemovedEntries, RemovedEntry, SlotKey};
use vault::slots::{SlotRef, KEYRING_SERVICE};
use vault::vault::check_kdf_budget;
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
            if label.is_some() {
                txn.set_label(id, label)?;
            }
            txn.commit()?;
            eprintln!("vault: added keyring slot {}", id.to_hex());
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
            if label.is_some() {
                txn.set_label(id, label)?;
            }
            txn.commit()?;
            eprintln!(
                "vault: added recipient slot {} for {}",
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
            if label.is_some() {
                txn.set_label(id, label)?;
            }
            txn.commit()?;
            eprintln!("vault: added passphrase slot {}", id.to_hex());
            Ok(())
        }
        KeyCommand::Remove {
            target: slot,
            delete_keyring_entry,
        } => {
            let mut txn = ctx.prepare_slots()?.begin()?;
            let id = slot.resolve(txn.vault().header())?;
            let removed = txn.remove_slot(id, removed_entries(delete_keyring_entry))?;
            let done = txn.commit()?;
            eprintln!(
                "vault: removed {} slot {}",
                removed.kind.name(),
                id.to_hex()
            );
            report_entries(&done.keyring_entries);
            Ok(())
        }
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
        Some(f) => {
            write_new_file(f, &w.age)?;
            eprintln!(
                "vault: wrote the age file of slot {} (recipient {}) to {}",
                id.to_hex(),
                w.recipient,
                f.display()
            );
            Ok(())
        }
        None if std::io::stdout().is_terminal() => Err(CliError::Usage(
            "refusing to write a binary age file on a terminal; redirect standard output (> FILE), or give --output FILE".into(),
        )),
        None => stdout_write(&w.age),
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

/// `vault rekey`: a new master key, every slot re-wrapped or dropped. A
/// version-2 slot is re-wrapped from its public key; a slot still in its
/// version-1 form needs its key, worked out (and every prompt shown)
/// before the lock.
pub fn rekey(
    ctx: &mut Ctx<'_>,
    drop: &[SlotRef],
    other_passphrase_files: &[PathBuf],
    delete_keyring_entry: bool,
) -> Result<()> {
    let locked = ctx.opener.locked()?;
    let drop: Vec<SlotId> = drop
        .iter()
        .map(|r| r.resolve(locked.header()))
        .collect::<std::result::Result<_, _>>()?;
    let drop = &drop[..];
    let cred = ctx.creds.slot_credential(&ctx.opener, &locked)?;
    let mut passphrases: Vec<SecretBytes> = cred.as_passphrase().into_iter().cloned().collect();
    for f in other_passphrase_files {
        passphrases.push(passphrase_from_file(f)?);
    }
    let prepared = ctx.opener.prepare_slots(locked, cred)?;
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
    txn.rekey(&keys, drop, removed_entries(delete_keyring_entry))?;
    let kept = txn.vault().header().keys.slots.len();
    let done = txn.commit()?;
    eprintln!(
        "vault: new master key; re-wrapped {kept} slot(s), dropped {}",
        drop.len()
    );
    report_entries(&done.keyring_entries);
    Ok(())
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
