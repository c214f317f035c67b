//! `vault identity new/show/export`: the personal identity, an X25519
//! identity that opens every vault listing its recipient. Kept in the
//! keyring (service `vault`, account `personal-identity`), else in a 0600
//! file in the configuration directory; its secret is printed only by
//! `export` (or `new --output -`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use vault::error::Error;
use vault::identities::{
    identity_file_text, personal_identity_file, Opens, PERSONAL_IDENTITY_ACCOUNT,
};
use vault::keyblock::X25519Identity;
use vault::slots::KeyStore;
use vault::SecretBytes;

use crate::cli::IdentityCommand;
use crate::error::{CliError, Result};
use crate::output::{format_utc, stdout_write, write_new_file};
use crate::unlock::{read_identities, Ctx, MAX_IDENTITY_FILE};

pub fn run(ctx: &mut Ctx<'_>, cmd: IdentityCommand) -> Result<()> {
    match cmd {
        IdentityCommand::New {
            output: Some(out),
            force,
        } => new_to(&out, force),
        IdentityCommand::New { output: None, .. } => new_kept(ctx),
        IdentityCommand::Show => {
            let recipient = personal(ctx)?.recipient()?;
            stdout_write(format!("{recipient}\n").as_bytes())
        }
        IdentityCommand::Export { force } => {
            refuse_terminal(force)?;
            let text = personal(ctx)?.text();
            stdout_write(text.expose())
        }
    }
}

/// Where the personal identity is.
enum Personal {
    /// In the keyring.
    Keyring(X25519Identity),
    /// In its file: the path and the file's text.
    File(PathBuf, SecretBytes),
}

impl Personal {
    fn recipient(&self) -> Result<String> {
        match self {
            Personal::Keyring(id) => Ok(id.recipient()),
            Personal::File(f, text) => {
                let ids = read_identities(text, &f.display().to_string())?;
                match ids.first().map(|i| i.opens()) {
                    Some(Opens::Recipient(r)) => Ok(r.clone()),
                    _ => Err(Error::BadIdentity {
                        source: f.display().to_string(),
                        why: "not an X25519 identity".into(),
                    }
                    .into()),
                }
            }
        }
    }

    fn text(self) -> SecretBytes {
        match self {
            Personal::Keyring(id) => identity_file_text(
                &id,
                &format!("{} (exported from the keyring)", now_rfc3339()),
            ),
            Personal::File(_, text) => text,
        }
    }
}

/// The personal identity: the keyring's, else the file's.
fn personal(ctx: &Ctx<'_>) -> Result<Personal> {
    if let Ok(k) = ctx.stores.keyring.get(PERSONAL_IDENTITY_ACCOUNT) {
        return Ok(Personal::Keyring(X25519Identity::from_key(k)));
    }
    if let Some(f) = personal_identity_file().filter(|f| f.is_file()) {
        let text = vault::store::read_small(&f, MAX_IDENTITY_FILE)?;
        return Ok(Personal::File(f, text));
    }
    Err(CliError::Hinted {
        error: Error::NoPersonalIdentity,
        hint: "make one with `vault identity new`".into(),
    })
}

/// `2026-12-01T06:00:00Z`, as `age-keygen` writes the creation time.
fn now_rfc3339() -> String {
    format!(
        "{}Z",
        format_utc(vault::platform::unix_now()).replace(' ', "T")
    )
}

/// `identity new --output FILE|-`: the identity written out, not kept.
/// An identity is printed on a terminal (scrollback, screen sharing) only
/// with `--force`.
fn refuse_terminal(force: bool) -> Result<()> {
    if !force && std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "refusing to print the identity on a terminal; redirect standard output (> FILE), or give --force".into(),
        ));
    }
    Ok(())
}

fn new_to(out: &Path, force: bool) -> Result<()> {
    if out == Path::new("-") {
        refuse_terminal(force)?;
    }
    let id = X25519Identity::generate();
    let text = identity_file_text(&id, &now_rfc3339());
    if out == Path::new("-") {
        stdout_write(text.expose())?;
    } else {
        write_new_file(out, text.expose())?;
        eprintln!(
            "vault: wrote a new identity to {} (mode 0600)",
            out.display()
        );
    }
    eprintln!(
        "vault: its recipient: {} (add it with `vault key add recipient {}`)",
        id.recipient(),
        id.recipient()
    );
    Ok(())
}

/// `identity new`: kept in the keyring, else in the file; never replacing
/// one that exists.
fn new_kept(ctx: &Ctx<'_>) -> Result<()> {
    if let Ok(existing) = personal(ctx) {
        return Err(CliError::Usage(format!(
            "this machine has a personal identity already ({}); it is never replaced. `vault identity show` prints its recipient",
            match existing {
                Personal::Keyring(_) => "in the keyring".to_string(),
                Personal::File(f, _) => format!("in {}", f.display()),
            }
        )));
    }
    let id = X25519Identity::generate();
    match ctx.stores.keyring.create(PERSONAL_IDENTITY_ACCOUNT, id.key()) {
        Ok(()) => eprintln!(
            "vault: made a personal identity, kept in the keyring (service `vault`, account `{PERSONAL_IDENTITY_ACCOUNT}`)"
        ),
        Err(why) => {
            let f = personal_identity_file().ok_or(Error::NoHome)?;
            write_new_file(&f, identity_file_text(&id, &now_rfc3339()).expose())?;
            eprintln!(
                "vault: no keyring answered ({why}); the personal identity is kept in the file {} (mode 0600) instead: whoever can read that file opens every vault that lists its recipient",
                f.display()
            );
        }
    }
    eprintln!(
        "vault: give this recipient to whoever adds you (`vault key add recipient RECIPIENT`):"
    );
    stdout_write(format!("{}\n", id.recipient()).as_bytes())
}
