//! `vault init`: create a vault with a keyring slot, a passphrase slot, or
//! both (and optionally a recovery code). Never overwrites a vault.

use std::io::IsTerminal;

use vault::crypto;
use vault::error::Error;
use vault::format::v2::Label;
use vault::format::KdfParams;
use vault::secret::SecretBuf;
use vault::slots::KeyStore;

use crate::error::{CliError, Result};
use vault::vault::NewSlot;
use vault::SecretBytes;

use crate::cli::KdfArgs;
use crate::output::{stdout_write, warn};
use crate::prompt::{check_strength, prompt_twice};
use crate::unlock::Ctx;

/// The label `init --recovery-code` gives the recovery code's slot.
const RECOVERY_LABEL: &str = "recovery";

/// Alphabet of recovery codes: no 0/O, 1/I/L to misread.
const CODE_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A random recovery code: 30 symbols drawn uniformly from 31 (about 148
/// bits), in groups of 5.
fn recovery_code() -> SecretBytes {
    let mut out = SecretBuf::with_capacity(35);
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
                out.push(b'-').expect("sized to fit");
            }
            out.push(CODE_ALPHABET[b as usize]).expect("sized to fit");
            n += 1;
        }
    }
    out.into()
}

pub fn run(
    ctx: &mut Ctx<'_>,
    keyring: bool,
    recovery: bool,
    label: Option<Label>,
    weak_ok: bool,
    kdf: &KdfArgs,
) -> Result<()> {
    let path = &ctx.inv.path;
    match std::fs::symlink_metadata(&ctx.inv.resolved) {
        Ok(m) if m.is_file() => return Err(Error::VaultExists(path.clone()).into()),
        Ok(_) => return Err(Error::NotAFile(path.clone()).into()),
        Err(_) => {}
    }
    let params = kdf.params_over(KdfParams::DEFAULT);
    params.check_bounds().map_err(Error::KdfParams)?;
    let mut passphrase = ctx.creds.given_passphrase()?;
    let mut want_keyring = keyring;
    if !keyring && passphrase.is_none() {
        // The keyring must be able to store the key now, not just answer.
        match ctx.stores.keyring.ready() {
            Ok(()) => want_keyring = true,
            Err(why) if std::io::stdin().is_terminal() => {
                eprintln!("vault: no keyring here: {why}; the vault will be opened by a passphrase");
                passphrase = Some(prompt_twice("passphrase")?);
            }
            Err(why) => {
                return Err(CliError::Unlock(format!(
                    "cannot create {}: no keyring here ({why}), and no passphrase given; give one with --passphrase-stdin, --passphrase-file or VAULT_PASSPHRASE_FILE",
                    path.display()
                )))
            }
        }
    }
    if want_keyring {
        ctx.stores.keyring.connected().map_err(Error::Keyring)?;
    }
    if let Some(p) = &passphrase {
        check_strength(p, weak_ok)?;
    }
    let code = recovery.then(recovery_code);
    let mut slots = Vec::new();
    if want_keyring {
        slots.push(NewSlot::Keyring(&ctx.stores.keyring));
    }
    if let Some(p) = &passphrase {
        slots.push(NewSlot::Passphrase(p, params));
    }
    // --label names the first slot; the recovery code's slot is
    // "recovery", unless that is the name --label took.
    let mut labels: Vec<Option<Label>> = (0..slots.len())
        .map(|i| label.clone().filter(|_| i == 0))
        .collect();
    if let Some(c) = &code {
        slots.push(NewSlot::Passphrase(c, params));
        let recovery = Label::parse(RECOVERY_LABEL).expect("a valid label");
        labels.push(Some(recovery).filter(|r| label.as_ref() != Some(r)));
    }
    let v = ctx.opener.create_labelled(&slots, &labels)?;
    let kinds: Vec<String> = v
        .header()
        .keys
        .slots
        .iter()
        .map(|sl| match &sl.label {
            Some(l) => format!("{} {} {:?}", sl.kind.name(), sl.id.to_hex(), l.as_str()),
            None => format!("{} {}", sl.kind.name(), sl.id.to_hex()),
        })
        .collect();
    eprintln!(
        "vault: created {} (slots: {})",
        path.display(),
        kinds.join(", ")
    );
    if let Some(c) = &code {
        eprintln!("vault: your recovery code follows, printed this once; store it offline. It opens the vault like a passphrase (--passphrase-stdin).");
        let mut line = SecretBuf::with_capacity(c.len() + 1);
        line.extend_from_slice(c.expose()).expect("sized to fit");
        line.push(b'\n').expect("sized to fit");
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
