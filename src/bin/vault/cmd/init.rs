//! `vault init`: create a vault with a keyring slot, a passphrase slot, or
//! both (and optionally a recovery code). Never overwrites a vault.

use std::io::IsTerminal;

use vault::crypto;
use vault::error::{Error, Result};
use vault::format::KdfParams;
use vault::store;
use vault::vault::NewSlot;
use vault::{SecretBytes, Vault};

use crate::cli::KdfArgs;
use crate::unlock::{parent_dir, prompt_twice, Session};
use crate::output::{stdout_write, warn};

/// Alphabet of recovery codes: no 0/O, 1/I/L to misread.
const CODE_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A random recovery code: 30 symbols drawn uniformly from 31 (about 148
/// bits), in groups of 5.
fn recovery_code() -> SecretBytes {
    let mut out = SecretBytes::new(Vec::with_capacity(35));
    let mut raw = zeroize::Zeroizing::new([0u8; 64]);
    let mut n = 0;
    while n < 30 {
        crypto::fill_random(&mut raw[..]);
        // Rejection sampling: 5 random bits, value 31 redrawn, so every
        // symbol is equally likely.
        for b in raw.iter().map(|b| b & 31).filter(|b| *b < 31) {
            if n == 30 {
                break;
            }
            if n > 0 && n % 5 == 0 {
                out.expose_vec_mut().push(b'-');
            }
            out.expose_vec_mut().push(CODE_ALPHABET[b as usize]);
            n += 1;
        }
    }
    out
}

pub fn run(s: &mut Session, keyring: bool, recovery: bool, kdf: &KdfArgs) -> Result<()> {
    match std::fs::symlink_metadata(&s.resolved) {
        Ok(m) if m.is_file() => return Err(Error::VaultExists(s.path.clone())),
        Ok(_) => return Err(Error::NotAFile(s.path.clone())),
        Err(_) => {}
    }
    let params = kdf.params_over(KdfParams::DEFAULT);
    params.check_bounds().map_err(Error::Usage)?;
    let mut passphrase = s.given_passphrase()?;
    let mut want_keyring = keyring;
    if !keyring && passphrase.is_none() {
        // The keyring must be able to store the key now, not just answer.
        match s.keyring().and_then(|st| st.ready()) {
            Ok(()) => want_keyring = true,
            Err(why) if std::io::stdin().is_terminal() => {
                eprintln!("vault: no keyring here ({why}); the vault will be opened by a passphrase");
                passphrase = Some(prompt_twice("passphrase")?);
            }
            Err(why) => {
                return Err(Error::Unlock(format!(
                    "cannot create {}: no keyring here ({why}) and no passphrase given; give one with --passphrase-stdin, --passphrase-file or VAULT_PASSPHRASE_FILE",
                    s.path.display()
                )))
            }
        }
    }
    let store = if want_keyring {
        Some(s.keyring().map_err(Error::Keyring)?)
    } else {
        None
    };
    let code = recovery.then(recovery_code);
    let mut slots = Vec::new();
    if let Some(st) = &store {
        slots.push(NewSlot::Keyring(st.as_ref()));
    }
    if let Some(p) = &passphrase {
        slots.push(NewSlot::Passphrase(p, params));
    }
    if let Some(c) = &code {
        slots.push(NewSlot::Passphrase(c, params));
    }
    // Made in memory first (the KDF, the keyring entry, every refusal),
    // so a failed init leaves nothing behind, not even a lock file.
    let mut v = Vault::create(&s.path, &slots)?;
    let bytes = v.seal();
    let written = store::create_dir_private(parent_dir(&s.resolved))
        .and_then(|()| s.lock())
        .and_then(|lock| store::write_new(&s.resolved, &bytes, &lock));
    if let Err(e) = written {
        v.forget_keyring_entries(&slots);
        return Err(e);
    }
    let kinds: Vec<String> = v
        .header()
        .slots
        .iter()
        .map(|sl| format!("{} {}", sl.kind_name(), sl.id.to_hex()))
        .collect();
    eprintln!(
        "vault: created {} (slots: {})",
        s.path.display(),
        kinds.join(", ")
    );
    if let Some(c) = &code {
        eprintln!("vault: your recovery code follows, printed this once; store it offline. It opens the vault like a passphrase (--passphrase-stdin).");
        let mut line = SecretBytes::new(Vec::with_capacity(c.len() + 1));
        line.expose_vec_mut().extend_from_slice(c.expose());
        line.expose_vec_mut().push(b'\n');
        stdout_write(line.expose())?;
    } else if passphrase.is_none() {
        warn("this vault opens only through this machine's keyring; losing the keyring entry loses the vault. Add a recovery slot: `vault key add passphrase` (or use `vault init --recovery-code` next time)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_grouped_and_random() {
        let a = recovery_code();
        let b = recovery_code();
        assert_eq!(a.len(), 35);
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().iter().enumerate().all(|(i, c)| if i % 6 == 5 {
            *c == b'-'
        } else {
            CODE_ALPHABET.contains(c)
        }));
    }
}
