//! `vault key list/add/remove/passwd` and `vault rekey`: slot management.
//! These always need a real unlock (a passphrase or the keyring).

use vault::display::format_kib;
use vault::error::{Error, Result};
use vault::format::{KdfParams, SlotId, SlotKind};
use vault::slots::KeyringError;
use vault::vault::NewSlot;
use vault::{Credential, Key};

use std::path::PathBuf;

use vault::SecretBytes;

use crate::cli::{AddSlot, KeyCommand};
use crate::unlock::{new_passphrase, passphrase_from_file, prompt, stdin_is_terminal, Session};
use crate::output::{stdout_write, warn};

fn parse_id(id: &str) -> Result<SlotId> {
    SlotId::from_hex(id)
        .ok_or_else(|| Error::Usage("a slot id is the 8 hex digits `vault key list` shows".into()))
}

pub fn run(s: &mut Session, cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::List { json } => list(s, json),
        KeyCommand::Add(AddSlot::Keyring) => {
            let cred = s.credential_for_write()?;
            let store = s.keyring().map_err(Error::Keyring)?;
            let (mut v, lock) = s.open_locked(&cred)?;
            let id = v.add_slot(&NewSlot::Keyring(store.as_ref()))?;
            if let Err(e) = s.save(&mut v, &lock) {
                let _ = store.delete(&vault::slots::keyring_account(&v.header().vault_id, id));
                return Err(e);
            }
            eprintln!("vault: added keyring slot {}", id.to_hex());
            Ok(())
        }
        KeyCommand::Add(AddSlot::Passphrase { new, kdf }) => {
            let params = kdf.params_over(KdfParams::DEFAULT);
            params.check_bounds().map_err(Error::Usage)?;
            let cred = s.credential_for_write()?;
            let pass = new_passphrase(s, &new, "passphrase")?;
            let (mut v, lock) = s.open_locked(&cred)?;
            let id = v.add_slot(&NewSlot::Passphrase(&pass, params))?;
            s.save(&mut v, &lock)?;
            eprintln!("vault: added passphrase slot {}", id.to_hex());
            Ok(())
        }
        KeyCommand::Remove { id } => {
            let id = parse_id(&id)?;
            let (mut v, lock) = s.open_write(&mut || Ok(()))?;
            let removed = v.remove_slot(id)?;
            s.save(&mut v, &lock)?;
            drop(lock);
            eprintln!(
                "vault: removed {} slot {}",
                removed.kind_name(),
                id.to_hex()
            );
            if removed.kind == SlotKind::Keyring {
                match s
                    .keyring()
                    .and_then(|st| v.delete_keyring_entry(&removed, st.as_ref()))
                {
                    Ok(true) => eprintln!("vault: deleted its keyring entry"),
                    Ok(false) => {
                        warn("left its keyring entry alone: it does not open this vault's slot")
                    }
                    Err(KeyringError::NoEntry) => {}
                    Err(e) => warn(&format!("could not delete its keyring entry: {e}")),
                }
            }
            Ok(())
        }
        KeyCommand::Passwd { id, new, kdf } => {
            let id = parse_id(&id)?;
            // A parameter not given keeps the slot's current value.
            let current = match s.read_locked()?.header().slot(id).map(|sl| &sl.kind) {
                Some(SlotKind::Passphrase { params, .. }) => *params,
                _ => KdfParams::DEFAULT, // change_passphrase names the problem
            };
            let params = kdf.any().then(|| kdf.params_over(current));
            if let Some(p) = params {
                p.check_bounds().map_err(Error::Usage)?;
            }
            let cred = s.credential_for_write()?;
            let pass = new_passphrase(s, &new, "passphrase")?;
            let (mut v, lock) = s.open_locked(&cred)?;
            v.change_passphrase(id, &pass, params)?;
            s.save(&mut v, &lock)?;
            eprintln!("vault: changed the passphrase of slot {}", id.to_hex());
            Ok(())
        }
    }
}

fn list(s: &mut Session, json: bool) -> Result<()> {
    // The header is readable without unlocking; it is authenticated only
    // when the vault is opened, which `vault doctor` and every other
    // command do.
    let locked = s.read_locked()?;
    let h = locked.header();
    // A cached unlock (`vault unlock`) is shown, never its key.
    let cached = vault::cache::get(&h.vault_id)
        .filter(|c| locked.data_key_matches(&c.dek))
        .map(|c| crate::output::format_utc(c.expires_at));
    let mut out = String::new();
    if json {
        let slots: Vec<serde_json::Value> = h
            .slots
            .iter()
            .map(|sl| match &sl.kind {
                SlotKind::Keyring => serde_json::json!({"id": sl.id.to_hex(), "kind": "keyring",
                    "keyring_service": vault::slots::KEYRING_SERVICE,
                    "keyring_account": vault::slots::keyring_account(&h.vault_id, sl.id)}),
                SlotKind::Passphrase { params, .. } => serde_json::json!({"id": sl.id.to_hex(), "kind": "passphrase",
                    "kdf": "argon2id", "memory_kib": params.memory_kib, "time": params.time, "parallelism": params.parallelism}),
            })
            .collect();
        out = serde_json::to_string_pretty(&serde_json::json!({
            "vault_id": h.vault_id.to_hex(), "generation": h.generation, "slots": slots,
            "cached_unlock_expires_utc": cached}))
        .expect("JSON of plain values");
        out.push('\n');
    } else {
        for sl in &h.slots {
            match &sl.kind {
                SlotKind::Keyring => out.push_str(&format!(
                    "{}  keyring     service {} account {}\n",
                    sl.id.to_hex(),
                    vault::slots::KEYRING_SERVICE,
                    vault::slots::keyring_account(&h.vault_id, sl.id)
                )),
                SlotKind::Passphrase { params, .. } => out.push_str(&format!(
                    "{}  passphrase  argon2id m={} t={} p={}\n",
                    sl.id.to_hex(),
                    format_kib(params.memory_kib as u64),
                    params.time,
                    params.parallelism
                )),
            }
        }
        if let Some(until) = cached {
            out.push_str(&format!(
                "cached unlock until {until} UTC (`vault lock` ends it)\n"
            ));
        }
    }
    stdout_write(out.as_bytes())
}

pub fn rekey(s: &mut Session, drop: &[String], other_passphrase_files: &[PathBuf]) -> Result<()> {
    let drop: Vec<SlotId> = drop.iter().map(|d| parse_id(d)).collect::<Result<_>>()?;
    let cred = s.credential_for_write()?;
    let mut passphrases: Vec<SecretBytes> = Vec::new();
    if let Credential::Passphrase(p) = &cred {
        passphrases.push(p.clone());
    }
    for f in other_passphrase_files {
        passphrases.push(passphrase_from_file(f)?);
    }
    // On a terminal, ask for the passphrase of each slot still missing
    // (before taking the lock: no prompt ever waits while holding it).
    if stdin_is_terminal() {
        let v = s.open_read()?;
        for sl in &v.header().slots {
            if !matches!(sl.kind, SlotKind::Passphrase { .. })
                || drop.contains(&sl.id)
                || sl.id == v.unlocked_by()
            {
                continue;
            }
            let mut opened = false;
            for p in &passphrases {
                if v.passphrase_slot_kek(sl.id, p)?.is_some() {
                    opened = true;
                    break;
                }
            }
            if !opened {
                passphrases.push(prompt(&format!(
                    "Passphrase of slot {} (to re-wrap it): ",
                    sl.id.to_hex()
                ))?);
            }
        }
    }
    let (mut v, lock) = s.open_locked(&cred)?;
    let mut keks: Vec<(SlotId, Key)> = Vec::new();
    let mut forget = Vec::new();
    for sl in v.header().slots.clone() {
        let dropped = drop.contains(&sl.id);
        match &sl.kind {
            SlotKind::Keyring => {
                let got = s
                    .keyring()
                    .and_then(|st| v.keyring_slot_kek(sl.id, st.as_ref()));
                match (got, dropped) {
                    (Ok(Some(k)), false) => keks.push((sl.id, k)),
                    (Ok(Some(_)), true) => forget.push(sl.clone()),
                    (Ok(None), _) | (Err(_), true) => {}
                    (Err(e), false) => {
                        return Err(Error::Unlock(format!(
                            "cannot re-wrap keyring slot {id}: {e}; run where the keyring answers, or drop the slot with --drop {id}",
                            id = sl.id.to_hex()
                        )))
                    }
                }
            }
            SlotKind::Passphrase { .. } if !dropped => {
                for p in &passphrases {
                    if let Some(k) = v.passphrase_slot_kek(sl.id, p)? {
                        keks.push((sl.id, k));
                        break;
                    }
                }
            }
            SlotKind::Passphrase { .. } => {}
        }
    }
    v.rekey(&keks, &drop)?;
    s.save(&mut v, &lock)?;
    std::mem::drop(lock);
    // `forget` holds only dropped keyring slots whose entry was checked
    // above to open this vault's slot, so deleting them touches no other key.
    for sl in &forget {
        let account = vault::slots::keyring_account(&v.header().vault_id, sl.id);
        if let Ok(()) = s.keyring().and_then(|st| st.delete(&account)) {
            eprintln!(
                "vault: deleted the keyring entry of dropped slot {}",
                sl.id.to_hex()
            );
        }
    }
    // A cached unlock holds the old data key: useless now, so drop it.
    let _ = vault::cache::remove(&v.header().vault_id);
    eprintln!(
        "vault: new data key; re-wrapped {} slot(s), dropped {}",
        keks.len(),
        drop.len()
    );
    Ok(())
}
