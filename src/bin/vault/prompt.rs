//! Reading secret input: a passphrase from its source (stdin's first line,
//! a file, a descriptor, the environment), a no-echo prompt on the
//! terminal, a value from standard input. Everything read lands directly in
//! a zeroizing buffer sized up front.

use std::io::IsTerminal;
use std::path::Path;

use vault::error::Error;

use crate::error::{CliError, Result};
use vault::{store, SecretBuf, SecretBytes};

use crate::invocation::PassphraseSource;
use crate::os::sys;

/// Longest passphrase accepted, bytes.
pub const MAX_PASSPHRASE: usize = 4096;

/// A passphrase from a file (one trailing newline removed), e.g. for
/// `rekey --other-passphrase-file`.
pub fn passphrase_from_file(path: &Path) -> Result<SecretBytes> {
    read_passphrase(&PassphraseSource::File(path.to_path_buf()))
}

/// Reads a passphrase from `source`; a trailing `\n` or `\r\n` is removed,
/// except from the environment.
pub fn read_passphrase(source: &PassphraseSource) -> Result<SecretBytes> {
    // Capacity up front: the buffer cannot grow, so no copy is left behind.
    let mut buf = SecretBuf::with_capacity(MAX_PASSPHRASE + 2);
    let too_long = || {
        CliError::Usage(format!(
            "the passphrase is longer than {MAX_PASSPHRASE} bytes"
        ))
    };
    let mut p = match source {
        PassphraseSource::Stdin => {
            sys::read_stdin_line(&mut buf).map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => too_long(),
                _ => Error::io("reading the passphrase from", "standard input", e).into(),
            })?;
            SecretBytes::from(buf)
        }
        PassphraseSource::File(f) => {
            store::read_small(f, MAX_PASSPHRASE + 2).map_err(|e| match e {
                Error::FileTooLong { .. } => too_long(),
                e => e.into(),
            })?
        }
        PassphraseSource::Fd(fd) => {
            sys::read_fd_to_end(*fd, &mut buf).map_err(|e| {
                CliError::Usage(format!(
                    "cannot read the passphrase from file descriptor {fd}: {e}"
                ))
            })?;
            SecretBytes::from(buf)
        }
        PassphraseSource::Env => {
            // Taken out of the environment at start-up; `Credentials` holds it.
            return Err(CliError::Other(
                "VAULT_PASSPHRASE is read at start-up, not from here".into(),
            ));
        }
    };
    p.strip_one_newline();
    if p.len() > MAX_PASSPHRASE {
        return Err(too_long());
    }
    Ok(p)
}

/// Whether a prompt can be shown: standard input is a terminal and the
/// process has a controlling terminal to ask on.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal() && std::fs::File::open("/dev/tty").is_ok()
}

/// A no-echo prompt on the terminal.
pub fn prompt(text: &str) -> Result<SecretBytes> {
    rpassword::prompt_password(text)
        .map(|s| SecretBytes::new(s.into_bytes()))
        .map_err(|e| Error::io("reading from", "the terminal", e).into())
}

/// Prompts twice on a terminal; exit 3 with guidance where there is none.
pub fn prompt_twice(what: &str) -> Result<SecretBytes> {
    if !stdin_is_terminal() {
        return Err(CliError::Unlock(format!(
            "no {what} given and standard input is not a terminal to ask for one; give it with --new-passphrase-stdin or --new-passphrase-file"
        )));
    }
    let a = prompt(&format!("New {what}: "))?;
    let b = prompt(&format!("Repeat the {what}: "))?;
    if !a.ct_eq(&b) {
        return Err(CliError::Usage(
            "the two entries differ; nothing was changed".into(),
        ));
    }
    Ok(a)
}

/// Reads a secret value: standard input to its end (one trailing newline
/// removed unless `raw`), or a no-echo prompt on a terminal.
pub fn read_value(raw: bool) -> Result<SecretBytes> {
    let limit = vault::format::MAX_VALUE_LEN;
    if stdin_is_terminal() {
        return prompt("Value: ");
    }
    // Capacity up front: growing the buffer would leave copies behind.
    let mut buf = SecretBuf::with_capacity(limit + 3);
    buf.fill_from_reader(std::io::stdin().lock(), limit + 3)
        .map_err(|e| Error::io("reading the value from", "standard input", e))?;
    let mut v = SecretBytes::from(buf);
    if !raw {
        v.strip_one_newline();
    }
    vault::vault::validate_value(v.expose())?;
    Ok(v)
}

/// The lowest zxcvbn score (0–4) a new passphrase may have without
/// `--weak-passphrase-ok`: 3 is "safely unguessable: moderate protection
/// from an offline slow-hash scenario" (zxcvbn's own scale), the attack a
/// copied vault file faces (Argon2id is the slow hash).
const MIN_SCORE: u8 = 3;

/// Estimates a new passphrase's strength (zxcvbn). On a terminal a weak one
/// is refused unless `weak_ok`; elsewhere (scripts, CI) it is a warning,
/// since the passphrase may be generated and its strength known. An empty
/// passphrase is left to the library's refusal. zxcvbn works on copies in
/// ordinary heap memory (SECURITY.md); it only ever sees new passphrases.
pub fn check_strength(pass: &SecretBytes, weak_ok: bool) -> Result<()> {
    let Ok(text) = std::str::from_utf8(pass.expose()) else {
        return Ok(()); // not text: not a word list's guess
    };
    if text.is_empty() {
        return Ok(());
    }
    let estimate = zxcvbn::zxcvbn(text, &["vault"]);
    let score = u8::from(estimate.score());
    if score >= MIN_SCORE {
        return Ok(());
    }
    let why = estimate
        .feedback()
        .and_then(|f| f.warning())
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    let msg = format!(
        "the new passphrase is easy to guess: strength {score} of 4{why}; a copied vault file can be attacked offline"
    );
    if weak_ok {
        Ok(())
    } else if stdin_is_terminal() {
        Err(CliError::Usage(format!(
            "{msg}. Choose a longer one (several unrelated words), or give --weak-passphrase-ok"
        )))
    } else {
        crate::output::warn(&msg);
        Ok(())
    }
}

/// What age asks of the user while an identity is used: the passphrase of
/// a protected SSH key (a no-echo prompt on a terminal; without one,
/// nothing, and the key opens nothing), a plugin's messages on stderr.
/// Nothing else is asked.
#[derive(Clone, Copy, Debug)]
pub struct AgeCallbacks;

impl age::Callbacks for AgeCallbacks {
    fn display_message(&self, message: &str) {
        eprintln!("vault: {message}");
    }

    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<age::secrecy::SecretString> {
        if !stdin_is_terminal() {
            return None;
        }
        // Read as every passphrase is (into a zeroizing buffer), then given
        // to age in its own zeroizing type, sized exactly (no reallocation).
        let typed = prompt(&format!("{description}: ")).ok()?;
        std::str::from_utf8(typed.expose())
            .ok()
            .map(age::secrecy::SecretString::from)
    }
}
