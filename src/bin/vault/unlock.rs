//! Getting from the command line to an open vault: which file, where the
//! passphrase comes from (stdin, file, descriptor, environment, prompt),
//! the keyring, and the unlock order. Also reads other secret input
//! (values, new passphrases) from stdin or a no-echo prompt.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use vault::error::{Error, Result};
use vault::format::SlotId;
use vault::secret::SecretBuf;
use vault::slots::{KeyStore, KeyringError};
use vault::store::{self, WriteLock};
use vault::{Credential, LockedVault, SecretBytes, Vault};

use crate::cli::{Global, NewPassphraseArgs};
use crate::os::sys;

/// Longest passphrase accepted, bytes.
pub const MAX_PASSPHRASE: usize = 4096;
/// How long any single keyring call may take.
#[cfg_attr(not(feature = "keyring"), allow(dead_code))] // only the keyring store uses it
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a passphrase comes from.
enum Source {
    Stdin,
    File(PathBuf),
    Fd(i32),
    Env,
}

/// The resolved invocation: paths and the passphrase source, plus state
/// that must be read once (stdin) or connected once (the keyring).
pub struct Session {
    /// The vault path as given (for messages).
    pub path: PathBuf,
    /// The path with symbolic links followed: where reads and writes go.
    pub resolved: PathBuf,
    global: Global,
    source: Option<Source>,
    passphrase: Option<SecretBytes>,
    keyring: Option<std::result::Result<Rc<dyn KeyStore>, KeyringError>>,
    use_cache: bool,
}

impl Session {
    /// Resolves the vault path and the passphrase source from flags and
    /// environment. Flags win over `VAULT_PASSPHRASE_FILE`, which wins over
    /// `VAULT_PASSPHRASE`; two flags at once are a usage error.
    pub fn new(global: &Global) -> Result<Session> {
        let path = match &global.vault {
            Some(p) => p.clone(),
            None => match std::env::var_os("VAULT_FILE").filter(|v| !v.is_empty()) {
                Some(p) => PathBuf::from(p),
                None => store::default_path()?,
            },
        };
        let resolved = store::resolve(&path)?;
        let flags = [
            global.passphrase_stdin,
            global.passphrase_file.is_some(),
            global.passphrase_fd.is_some(),
        ];
        if flags.iter().filter(|f| **f).count() > 1 {
            return Err(Error::Usage(
                "give the passphrase one way only: --passphrase-stdin, --passphrase-file or --passphrase-fd".into(),
            ));
        }
        let source = if global.passphrase_stdin {
            Some(Source::Stdin)
        } else if let Some(f) = &global.passphrase_file {
            Some(Source::File(f.clone()))
        } else if let Some(fd) = global.passphrase_fd {
            Some(Source::Fd(fd))
        } else if let Some(f) = std::env::var_os("VAULT_PASSPHRASE_FILE").filter(|v| !v.is_empty())
        {
            Some(Source::File(PathBuf::from(f)))
        } else if std::env::var_os("VAULT_PASSPHRASE").is_some() {
            Some(Source::Env)
        } else {
            None
        };
        Ok(Session {
            path,
            resolved,
            global: global.clone(),
            source,
            passphrase: None,
            keyring: None,
            use_cache: true,
        })
    }

    /// Whether the passphrase is read from standard input.
    pub fn passphrase_from_stdin(&self) -> bool {
        matches!(self.source, Some(Source::Stdin))
    }

    /// The given passphrase, read once from its source (a trailing `\n` or
    /// `\r\n` removed, except from the environment).
    pub fn given_passphrase(&mut self) -> Result<Option<SecretBytes>> {
        if self.passphrase.is_none() {
            let Some(source) = &self.source else {
                return Ok(None);
            };
            self.passphrase = Some(read_passphrase(source)?);
        }
        Ok(self.passphrase.clone())
    }

    /// Drops (and so wipes) the passphrase read earlier; it is not read again.
    pub fn forget_passphrase(&mut self) {
        self.passphrase = None;
        self.source = None;
    }

    /// The keyring, connected once; `Err` says why it cannot be used.
    pub fn keyring(&mut self) -> std::result::Result<Rc<dyn KeyStore>, KeyringError> {
        self.keyring
            .get_or_insert_with(|| connect_keyring(self.global.no_keyring))
            .clone()
    }

    /// Reads and parses the vault file.
    pub fn read_locked(&self) -> Result<LockedVault> {
        let bytes = store::read(&self.resolved).map_err(|e| self.name_path(e))?;
        LockedVault::parse(&self.path, bytes)
    }

    fn name_path(&self, e: Error) -> Error {
        match e {
            Error::NoVault(_) => Error::NoVault(self.path.clone()),
            Error::NotAFile(_) => Error::NotAFile(self.path.clone()),
            e => e,
        }
    }

    /// Works out what opens `locked`, in the documented order: a given
    /// passphrase; else a keyring slot if the keyring answers; else a
    /// no-echo prompt on a terminal; else exit 3 at once with guidance.
    pub fn credential(&mut self, locked: &LockedVault) -> Result<Credential> {
        if let Some(p) = self.given_passphrase()? {
            // An empty VAULT_PASSPHRASE is most likely an unset CI variable.
            // It can open nothing (slots refuse empty passphrases, so `init`
            // and `key add` still fail on it with exit 2); for opening, it
            // must not stand in the way of the keyring or a prompt.
            if p.is_empty() && matches!(self.source, Some(Source::Env)) {
                crate::output::warn(
                    "VAULT_PASSPHRASE is set but empty; ignoring it (is a CI variable unset?)",
                );
            } else {
                return Ok(Credential::Passphrase(p));
            }
        }
        if self.use_cache && !self.global.no_cache {
            if let Some(c) = vault::cache::get(&locked.header().vault_id) {
                if locked.data_key_matches(&c.dek) {
                    return Ok(Credential::DataKey(c.dek));
                }
            }
        }
        let mut why_not_keyring = None;
        if locked.has_keyring_slot() {
            match self.keyring() {
                Ok(store) => match locked.fetch_keyring_credential(store.as_ref()) {
                    Ok(c) => return Ok(c),
                    Err(e) => why_not_keyring = Some(e),
                },
                Err(e) => why_not_keyring = Some(e),
            }
        }
        let has_pass = locked.has_passphrase_slot();
        if has_pass && stdin_is_terminal() {
            let p = prompt(&format!("Passphrase for {}: ", self.path.display()))?;
            return Ok(Credential::Passphrase(p));
        }
        let path = self.path.display();
        let give = "give the passphrase with --passphrase-stdin, --passphrase-file or VAULT_PASSPHRASE_FILE";
        Err(Error::Unlock(match (why_not_keyring, has_pass) {
            (Some(why), true) => format!("cannot unlock {path}: its keyring slot is not usable here ({why}); {give}"),
            (Some(why), false) => format!("cannot unlock {path}: its keyring slot is not usable here ({why}), and it has no passphrase slot"),
            (None, true) => format!("cannot unlock {path}: it has no keyring slot and no passphrase was given (standard input is not a terminal); {give}"),
            (None, false) => format!("cannot unlock {path}: it has neither a keyring slot nor a passphrase slot"),
        }))
    }

    /// Opens the vault for reading.
    pub fn open_read(&mut self) -> Result<Vault> {
        let locked = self.read_locked()?;
        let cred = self.credential(&locked)?;
        let v = locked.unlock(&cred)?;
        match self.check_rollback(&v, v.unlocked_by()) {
            Err(Error::Rollback { .. }) => self.recheck_rollback_under_lock(v, &cred),
            r => r.map(|()| v),
        }
    }

    /// A reader does not take the lock, so it can read generation N just
    /// before a writer commits N+1 and remembers it; the check then sees
    /// "older than remembered" for a file that was never rolled back. Under
    /// the write lock no commit is half done (a writer remembers its
    /// generation before it lets go), so the file read there is the newest:
    /// if it is still older than remembered, the rollback is real. The data
    /// key just unwrapped opens it without a second KDF run (unless a rekey
    /// slipped in between, when `cred` is used again). Where the lock cannot
    /// be taken (a read-only directory) the first verdict stands.
    fn recheck_rollback_under_lock(&self, first: Vault, cred: &Credential) -> Result<Vault> {
        let via = first.unlocked_by();
        let Ok(_lock) = self.lock() else {
            return self.check_rollback(&first, via).map(|()| first);
        };
        let locked = self.read_locked()?;
        let v = if locked.data_key_matches(first.data_key()) {
            locked.unlock(&Credential::DataKey(first.data_key().clone()))?
        } else {
            locked.unlock(cred)?
        };
        drop(first);
        // Checked as opened the first time (through the same slot).
        self.check_rollback(&v, via)?;
        Ok(v)
    }

    /// Refuses a vault older than the newest generation seen here (unless
    /// `--allow-rollback`), and remembers the newest. Only called on an
    /// authenticated header.
    fn check_rollback(&self, v: &Vault, via: SlotId) -> Result<()> {
        let h = v.header();
        let in_keyring = self.keyring_memory(v, via).and_then(|(st, account)| {
            st.generation(&account)
                .ok()
                .map(|g| (st, account, g.unwrap_or(0)))
        });
        let remembered = vault::state::remembered(&h.vault_id)
            .into_iter()
            .chain(in_keyring.as_ref().map(|k| k.2))
            .max();
        if let Some(remembered) = remembered {
            if h.generation < remembered && !self.global.allow_rollback {
                return Err(Error::Rollback {
                    path: self.path.clone(),
                    found: h.generation,
                    remembered,
                });
            }
        }
        vault::state::remember(&h.vault_id, h.generation, self.global.allow_rollback);
        if let Some((st, account, g)) = in_keyring {
            if g != h.generation {
                let _ = st.set_generation(&account, h.generation);
            }
        }
        Ok(())
    }

    /// Where the keyring remembers `v`'s generation: the entry of slot
    /// `via`, if that is the keyring slot that opened it (the keyring is
    /// then connected already; nothing is connected for this).
    fn keyring_memory(&self, v: &Vault, via: SlotId) -> Option<(Rc<dyn KeyStore>, String)> {
        let slot = v.header().slot(via)?;
        if slot.kind != vault::format::SlotKind::Keyring {
            return None;
        }
        let st = self.keyring.as_ref()?.as_ref().ok()?.clone();
        Some((
            st,
            vault::slots::keyring_account(&v.header().vault_id, slot.id),
        ))
    }

    /// Slot management needs a real unlock: never the cached key.
    pub fn without_cache(&mut self) {
        self.use_cache = false;
    }

    /// Opens the vault for a change: the credential is worked out first (so
    /// no prompt happens while holding the lock), then the lock is taken and
    /// the file re-read under it. `before_lock` runs between the two (to read
    /// a value from stdin after the passphrase line).
    pub fn open_write(
        &mut self,
        before_lock: &mut dyn FnMut() -> Result<()>,
    ) -> Result<(Vault, WriteLock)> {
        let cred = self.credential_for_write()?;
        before_lock()?;
        self.open_locked(&cred)
    }

    /// The first half of [`Session::open_write`]: what will open the vault.
    pub fn credential_for_write(&mut self) -> Result<Credential> {
        let locked = self.read_locked()?;
        self.credential(&locked)
    }

    /// The second half of [`Session::open_write`]: lock, re-read, unlock.
    pub fn open_locked(&self, cred: &Credential) -> Result<(Vault, WriteLock)> {
        let lock = self.lock()?;
        let vault = self.read_locked()?.unlock(cred)?;
        self.check_rollback(&vault, vault.unlocked_by())?;
        Ok((vault, lock))
    }

    /// Takes the write lock, telling the user if it has to wait.
    pub fn lock(&self) -> Result<WriteLock> {
        let timeout = std::env::var("VAULT_LOCK_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(30));
        let path = self.path.display().to_string();
        store::lock(&self.resolved, timeout, &mut || {
            eprintln!("vault: waiting for another vault process to finish writing {path}...")
        })
    }

    /// Seals and writes the vault under the lock.
    pub fn save(&self, vault: &mut Vault, lock: &WriteLock) -> Result<()> {
        let bytes = vault.seal();
        store::write_atomic(&self.resolved, &bytes, lock)?;
        let g = vault.header().generation;
        vault::state::remember(&vault.header().vault_id, g, false);
        if let Some((st, account)) = self.keyring_memory(vault, vault.unlocked_by()) {
            let _ = st.set_generation(&account, g);
        }
        Ok(())
    }
}

fn connect_keyring(disabled: bool) -> std::result::Result<Rc<dyn KeyStore>, KeyringError> {
    if disabled {
        return Err(KeyringError::Unavailable(
            "the keyring is disabled by --no-keyring".into(),
        ));
    }
    #[cfg(all(target_os = "linux", feature = "keyring"))]
    {
        vault::slots::SecretServiceStore::connect(KEYRING_TIMEOUT)
            .map(|s| Rc::new(s) as Rc<dyn KeyStore>)
    }
    #[cfg(all(target_os = "linux", not(feature = "keyring")))]
    {
        Err(KeyringError::Unavailable(
            "this build has no keyring support (built without the `keyring` feature)".into(),
        ))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(KeyringError::Unavailable(
            "this build has no keyring store for this platform yet (only Linux is built and tested)".into(),
        ))
    }
}

/// A passphrase from a file (one trailing newline removed), e.g. for
/// `rekey --other-passphrase-file`.
pub fn passphrase_from_file(path: &Path) -> Result<SecretBytes> {
    read_passphrase(&Source::File(path.to_path_buf()))
}

fn read_passphrase(source: &Source) -> Result<SecretBytes> {
    let mut buf = SecretBuf::with_capacity(MAX_PASSPHRASE + 2);
    let too_long = || {
        Error::Usage(format!(
            "the passphrase is longer than {MAX_PASSPHRASE} bytes"
        ))
    };
    let mut p = match source {
        Source::Stdin => {
            sys::read_stdin_line(&mut buf).map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => too_long(),
                _ => Error::io("reading the passphrase from", "standard input", e),
            })?;
            SecretBytes::from(buf)
        }
        Source::File(f) => store::read_small(f, MAX_PASSPHRASE + 2).map_err(|e| match e {
            Error::Usage(_) => too_long(),
            e => e,
        })?,
        Source::Fd(fd) => {
            sys::read_fd_to_end(*fd, &mut buf).map_err(|e| {
                Error::Usage(format!(
                    "cannot read the passphrase from file descriptor {fd}: {e}"
                ))
            })?;
            SecretBytes::from(buf)
        }
        Source::Env => {
            let v = std::env::var_os("VAULT_PASSPHRASE").unwrap_or_default();
            let p = SecretBytes::new(v.into_encoded_bytes());
            if p.len() > MAX_PASSPHRASE {
                return Err(too_long());
            }
            return Ok(p);
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
        .map_err(|e| Error::io("reading from", "the terminal", e))
}

/// A new passphrase: from stdin or a file as asked, else prompted twice on
/// a terminal. An empty one is refused later, when the slot is made.
pub fn new_passphrase(
    session: &mut Session,
    args: &NewPassphraseArgs,
    what: &str,
) -> Result<SecretBytes> {
    if args.new_passphrase_stdin {
        // The current passphrase, if it also comes from stdin, is the first line.
        if session.passphrase_from_stdin() {
            session.given_passphrase()?;
        }
        return read_passphrase(&Source::Stdin);
    }
    if let Some(f) = &args.new_passphrase_file {
        return read_passphrase(&Source::File(f.clone()));
    }
    prompt_twice(what)
}

/// Prompts twice on a terminal; exit 3 with guidance where there is none.
pub fn prompt_twice(what: &str) -> Result<SecretBytes> {
    if !stdin_is_terminal() {
        return Err(Error::Unlock(format!(
            "no {what} given and standard input is not a terminal to ask for one; give it with --new-passphrase-stdin or --new-passphrase-file"
        )));
    }
    let a = prompt(&format!("New {what}: "))?;
    let b = prompt(&format!("Repeat the {what}: "))?;
    if !a.ct_eq(&b) {
        return Err(Error::Usage(
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

/// Whether `path` looks like it needs creating (for `init`).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}
