//! From an [`Invocation`] to the library's [`Opener`]: the platform keyring
//! (connected on first use, at most once), the rollback memory, and the
//! unlock order that picks a credential: a given passphrase or identity
//! (both tried when both are given); else the cached body key (never for
//! slot management); else a keyring slot if the keyring answers; else the
//! personal identity or `~/.ssh/id_ed25519` / `id_rsa`, when one of the
//! vault's recipient slots matches them; else a no-echo prompt on a
//! terminal; else exit 3 at once with what to do. With `--slot`, only a
//! passphrase (given or prompted), tried on that slot alone. The passphrase
//! and the identities are read from their sources once.

use std::cell::OnceCell;
use std::time::Duration;

use vault::error::Error;

use crate::error::{CliError, Result};
use vault::cache::CachedBefore;
use vault::format::{KdfParams, SlotId};
use vault::identities::{
    default_ssh_identities, load_identities, personal_identity_file, Identities, LoadedIdentity,
    Opens, PERSONAL_IDENTITY_ACCOUNT,
};
use vault::keyblock::X25519Identity;
use vault::open::{Opener, Prepared, Secrets, SlotCredential, Slots};
use vault::rollback::{NoMemory, Notice, StateDir};
use vault::slots::{KeyStore, KeyringError};
use vault::vault::named_passphrase_slot;
use vault::{Credential, Key, LockedVault, SecretBytes, Vault};

use crate::cli::NewPassphraseArgs;
use crate::invocation::{Invocation, PassphraseSource};
use crate::prompt::{
    check_strength, prompt, prompt_twice, read_passphrase, stdin_is_terminal, AgeCallbacks,
};

/// The largest identity file read (an RSA key of 16384 bits is ~13 KiB).
pub const MAX_IDENTITY_FILE: usize = 64 * 1024;

/// How long any single keyring call may take.
#[cfg_attr(not(feature = "keyring"), allow(dead_code))] // only the keyring store uses it
#[cfg_attr(not(feature = "keyring"), allow(dead_code))]
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// The platform keyring, connected on first use; a connection that failed
/// stays failed (and says why) for the rest of the command.
pub struct LazyKeyring {
    disabled: bool,
    store: OnceCell<std::result::Result<Box<dyn KeyStore>, KeyringError>>,
}

impl LazyKeyring {
    /// A keyring to connect when first needed, or never with `--no-keyring`.
    pub fn new(disabled: bool) -> LazyKeyring {
        LazyKeyring {
            disabled,
            store: OnceCell::new(),
        }
    }

    /// The connected store, or why there is none.
    pub fn connected(&self) -> std::result::Result<&dyn KeyStore, KeyringError> {
        match self.store.get_or_init(|| connect_keyring(self.disabled)) {
            Ok(s) => Ok(s.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }
}

impl KeyStore for LazyKeyring {
    fn get(&self, account: &str) -> std::result::Result<Key, KeyringError> {
        self.connected()?.get(account)
    }
    fn create(&self, account: &str, key: &Key) -> std::result::Result<(), KeyringError> {
        self.connected()?.create(account, key)
    }
    fn delete(&self, account: &str) -> std::result::Result<(), KeyringError> {
        self.connected()?.delete(account)
    }
    fn ready(&self) -> std::result::Result<(), KeyringError> {
        self.connected()?.ready()
    }
    fn accounts(&self) -> std::result::Result<Vec<String>, KeyringError> {
        self.connected()?.accounts()
    }
}

fn connect_keyring(disabled: bool) -> std::result::Result<Box<dyn KeyStore>, KeyringError> {
    if disabled {
        return Err(KeyringError::Unavailable(
            "the keyring is disabled by --no-keyring".into(),
        ));
    }
    #[cfg(all(target_os = "linux", feature = "keyring"))]
    {
        vault::slots::SecretServiceStore::connect(KEYRING_TIMEOUT)
            .map(|s| Box::new(s) as Box<dyn KeyStore>)
    }
    #[cfg(all(target_os = "linux", not(feature = "keyring")))]
    {
        Err(KeyringError::Unavailable(
            "this build has no keyring support: it was built without the `keyring` feature".into(),
        ))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(KeyringError::Unavailable(
            "this build has no keyring store for this platform yet (only Linux is built and tested)".into(),
        ))
    }
}

/// The stores an [`Opener`] borrows: made once per command.
pub struct Stores {
    /// The platform keyring.
    pub keyring: LazyKeyring,
    /// The rollback memory in the state directory.
    pub memory: StateDir,
    /// The body keys cached before on this machine (state directory).
    pub cached_before: CachedBefore,
}

impl Stores {
    /// The stores for `inv`.
    pub fn new(inv: &Invocation) -> Stores {
        Stores {
            keyring: LazyKeyring::new(inv.no_keyring),
            memory: StateDir::default_location(),
            cached_before: CachedBefore::default_location(),
        }
    }
}

fn lock_wait_notice() {
    eprintln!("vault: waiting for another vault process to finish writing the vault...");
}

/// A notice of the rollback memory check, on stderr: what was accepted and
/// why (a file under a retired key read is a warning).
fn memory_notice(n: &Notice) {
    match n {
        Notice::RetiredRead { .. } => crate::output::warn(&n.to_string()),
        _ => eprintln!("vault: {n}"),
    }
}

/// The opener of `inv`'s vault over `stores`.
pub fn opener<'a>(inv: &'a Invocation, stores: &'a Stores) -> Opener<'a> {
    Opener::new(&inv.path, &inv.resolved, &stores.keyring, &stores.memory)
        .allow_rollback(inv.allow_rollback)
        .accept_new_key(inv.accept_new_key)
        .only_slot(inv.slot.clone())
        .lock_wait(inv.lock_timeout, &lock_wait_notice)
        .on_notice(&memory_notice)
        .cached_before(&stores.cached_before)
}

/// The passphrase given for this command, read from its source once.
pub struct Credentials<'i> {
    inv: &'i Invocation,
    passphrase: Option<SecretBytes>,
    env_passphrase: Option<SecretBytes>,
    /// `VAULT_IDENTITY`, taken out of the environment at start-up.
    env_identity: Option<SecretBytes>,
    /// The identities given (files, `VAULT_IDENTITY`), read once.
    identities: Option<Option<Identities>>,
    forgotten: bool,
    /// Whether the last credential was typed at a prompt (and so may be
    /// asked for again if it is wrong).
    prompted: bool,
    /// Passphrase slots opened by [`Credentials::open_quietly`]: id, salt,
    /// cost and Argon2id output, to open other versions of the same file.
    slot_keys: Vec<(SlotId, Vec<u8>, KdfParams, Key)>,
    /// The identities of [`Credentials::quiet_identities`], read once.
    #[allow(clippy::type_complexity)]
    quiet_ids: Option<(Option<Identities>, Option<Identities>)>,
}

/// How many times a passphrase typed at a prompt is asked for.
const PROMPT_ATTEMPTS: u32 = 3;

impl<'i> Credentials<'i> {
    /// Nothing read yet; `env_passphrase` is `VAULT_PASSPHRASE`, taken
    /// out of the environment at start-up.
    pub fn new(
        inv: &'i Invocation,
        env_passphrase: Option<SecretBytes>,
        env_identity: Option<SecretBytes>,
    ) -> Credentials<'i> {
        Credentials {
            inv,
            passphrase: None,
            env_passphrase,
            env_identity,
            identities: None,
            forgotten: false,
            prompted: false,
            slot_keys: Vec::new(),
            quiet_ids: None,
        }
    }

    /// Reads the file and works out what opens it: the keys are derived
    /// (so a wrong passphrase is found) before anything else is asked. A
    /// passphrase typed at a prompt that opens nothing is asked for again,
    /// up to three times.
    pub fn prepare<'o>(&mut self, opener: &'o Opener<'o>) -> Result<Prepared<'o, Secrets>> {
        self.with_retries(|c| {
            let locked = opener.locked()?;
            let cred = c.credential(opener, &locked)?;
            Ok(opener.prepare(locked, cred)?)
        })
    }

    /// As [`Credentials::prepare`], through a slot (slot management).
    pub fn prepare_slots<'o>(&mut self, opener: &'o Opener<'o>) -> Result<Prepared<'o, Slots>> {
        self.with_retries(|c| {
            let locked = opener.locked()?;
            let cred = c.slot_credential(opener, &locked)?;
            Ok(opener.prepare_slots(locked, cred)?)
        })
    }

    /// Runs `attempt` again (up to three times in all) while it fails on a
    /// wrong passphrase typed at a prompt.
    pub fn with_retries<T>(
        &mut self,
        mut attempt: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let mut left = PROMPT_ATTEMPTS;
        loop {
            self.prompted = false;
            match attempt(self) {
                Err(CliError::Vault(Error::WrongPassphrase(_))) if self.prompted && left > 1 => {
                    left -= 1;
                    eprintln!("vault: wrong passphrase; try again ({left} left)");
                }
                r => return r,
            }
        }
    }

    /// Whether the passphrase is read from standard input.
    pub fn passphrase_from_stdin(&self) -> bool {
        matches!(self.inv.passphrase, Some(PassphraseSource::Stdin))
    }

    /// The given passphrase, read once from its source.
    pub fn given_passphrase(&mut self) -> Result<Option<SecretBytes>> {
        if self.forgotten {
            return Ok(None);
        }
        if self.passphrase.is_none() {
            self.passphrase = match &self.inv.passphrase {
                None => return Ok(None),
                Some(PassphraseSource::Env) => match self.env_passphrase.take() {
                    Some(p) if p.len() > crate::prompt::MAX_PASSPHRASE => {
                        return Err(CliError::Usage(format!(
                            "the passphrase is longer than {} bytes",
                            crate::prompt::MAX_PASSPHRASE
                        )))
                    }
                    p => p,
                },
                Some(source) => Some(read_passphrase(source)?),
            };
        }
        Ok(self.passphrase.clone())
    }

    /// The given passphrase if it can open anything. An empty
    /// `VAULT_PASSPHRASE` is most likely an unset CI variable: it opens
    /// nothing (slots refuse empty passphrases, so `init` and `key add`
    /// still fail on it with exit 2), and must not stand in the way of the
    /// keyring or a prompt. An empty passphrase given on purpose (stdin, a
    /// file, a descriptor) is most likely the same mistake, and is said so
    /// rather than called a wrong passphrase.
    fn usable_passphrase(&mut self) -> Result<Option<SecretBytes>> {
        match self.given_passphrase()? {
            Some(p) if p.is_empty() => match &self.inv.passphrase {
                Some(PassphraseSource::Env) | None => {
                    crate::output::warn(
                        "VAULT_PASSPHRASE is set but empty; ignoring it (is a CI variable unset?)",
                    );
                    Ok(None)
                }
                Some(source) => Err(CliError::Unlock(format!(
                    "the passphrase {} is empty (is a CI variable unset?); nothing was opened",
                    match source {
                        PassphraseSource::Stdin => "line on standard input".to_string(),
                        PassphraseSource::File(f) => format!("file {}", f.display()),
                        PassphraseSource::Fd(fd) => format!("on file descriptor {fd}"),
                        PassphraseSource::Env => unreachable!("handled above"),
                    }
                ))),
            },
            p => Ok(p),
        }
    }

    /// Drops (and so wipes) the passphrase; it is not read again.
    pub fn forget(&mut self) {
        self.passphrase = None;
        self.env_passphrase = None;
        self.forgotten = true;
    }

    /// The identities given with `--identity`, `VAULT_IDENTITY_FILE` and
    /// `VAULT_IDENTITY`, read once. A passphrase-protected SSH key is kept
    /// only where its passphrase can be asked for (a terminal).
    pub fn given_identities(&mut self) -> Result<Option<Identities>> {
        if let Some(ids) = &self.identities {
            return Ok(ids.clone());
        }
        let mut all: Vec<LoadedIdentity> = Vec::new();
        for f in &self.inv.identity_files {
            let text = vault::store::read_small(f, MAX_IDENTITY_FILE)?;
            let source = f.display().to_string();
            all.extend(usable(read_identities(&text, &source)?, &source));
        }
        if let Some(text) = self.env_identity.take() {
            if text.is_empty() {
                crate::output::warn(
                    "VAULT_IDENTITY is set but empty; ignoring it (is a CI variable unset?)",
                );
            } else {
                let source = "VAULT_IDENTITY".to_string();
                all.extend(usable(read_identities(&text, &source)?, &source));
            }
        }
        let ids = (!all.is_empty()).then(|| Identities::new(all));
        self.identities = Some(ids.clone());
        Ok(ids)
    }

    /// The credential given for this command: identities, a passphrase, or
    /// both (tried one after the other).
    fn given(&mut self) -> Result<Option<SlotCredential>> {
        let ids = self.given_identities()?;
        let pass = self.usable_passphrase()?;
        Ok(match (ids, pass) {
            (Some(i), Some(p)) => Some(SlotCredential::identities_or_passphrase(i, p)),
            (Some(i), None) => Some(SlotCredential::identities(i)),
            (None, Some(p)) => Some(SlotCredential::passphrase(p)),
            (None, None) => None,
        })
    }

    /// The personal identity (keyring, else its file) and the default SSH
    /// keys, those that match one of `locked`'s recipient slots; nothing
    /// is asked for, and a key that cannot be read is passed over.
    fn found_identities(&self, opener: &Opener<'_>, locked: &LockedVault) -> Option<Identities> {
        let mut all: Vec<LoadedIdentity> = Vec::new();
        match opener.keystore().get(PERSONAL_IDENTITY_ACCOUNT) {
            Ok(k) => all.push(LoadedIdentity::x25519(&X25519Identity::from_key(k))),
            Err(_) => {
                if let Some(f) = personal_identity_file().filter(|f| f.is_file()) {
                    all.extend(read_quietly(&f));
                }
            }
        }
        for f in default_ssh_identities() {
            if f.is_file() {
                all.extend(
                    read_quietly(&f)
                        .into_iter()
                        .filter(|i| !i.is_encrypted() || stdin_is_terminal()),
                );
            }
        }
        all.retain(|i| i.matches_a_slot_of(locked.header()));
        (!all.is_empty()).then(|| Identities::new(all))
    }

    /// What opens `locked`, in the documented order, the cached data key
    /// included (unless `--no-cache` or `--slot`).
    pub fn credential(&mut self, opener: &Opener<'_>, locked: &LockedVault) -> Result<Credential> {
        if self.inv.slot.is_none() {
            if let Some(c) = self.given()? {
                return Ok(c.into());
            }
        } else if let Some(p) = self.usable_passphrase()? {
            return Ok(Credential::Passphrase(p));
        }
        if !self.inv.no_cache && self.inv.slot.is_none() {
            if let Some(c) = opener.cached(locked) {
                return Ok(c);
            }
        }
        self.slot_credential(opener, locked).map(Credential::from)
    }

    /// What opens a slot of `locked` (for slot management: never the
    /// cached key): a given passphrase, a keyring slot, a prompt. With
    /// `--slot`, a passphrase for that slot (checked to be a passphrase
    /// slot of `locked` before any is read), never the keyring.
    pub fn slot_credential(
        &mut self,
        opener: &Opener<'_>,
        locked: &LockedVault,
    ) -> Result<SlotCredential> {
        if let Some(r) = &self.inv.slot {
            let id = named_passphrase_slot(locked.header(), r)?.id;
            return match self.usable_passphrase()? {
                Some(p) => Ok(SlotCredential::passphrase(p)),
                None if stdin_is_terminal() => {
                    let p = prompt(&format!(
                        "Passphrase for {} (slot {}): ",
                        self.inv.path.display(),
                        id.to_hex()
                    ))?;
                    self.prompted = true;
                    Ok(SlotCredential::passphrase(p))
                }
                None => Err(CliError::Unlock(format!(
                    "cannot unlock {}: --slot {} opens it by passphrase only, and no passphrase was given (standard input is not a terminal); give it with --passphrase-stdin, --passphrase-file or VAULT_PASSPHRASE_FILE",
                    self.inv.path.display(),
                    id.to_hex()
                ))),
            };
        }
        if let Some(c) = self.given()? {
            return Ok(c);
        }
        let mut why_not_keyring = None;
        if locked.has_keyring_slot() {
            match opener.keyring_credential(locked) {
                Ok(c) => return Ok(c),
                Err(e) => why_not_keyring = Some(e),
            }
        }
        let has_recipient = locked.has_recipient_slot();
        if has_recipient {
            if let Some(ids) = self.found_identities(opener, locked) {
                return Ok(SlotCredential::identities(ids));
            }
        }
        let has_pass = locked.has_passphrase_slot();
        if has_pass && stdin_is_terminal() {
            let p = prompt(&format!("Passphrase for {}: ", self.inv.path.display()))?;
            self.prompted = true;
            return Ok(SlotCredential::passphrase(p));
        }
        let error = Error::NoUsableSlot {
            path: self.inv.path.clone(),
            keyring: why_not_keyring,
            has_passphrase_slot: has_pass,
            has_recipient_slot: has_recipient,
        };
        if !has_recipient {
            return Err(error.into());
        }
        let mut hint = "give your identity with --identity FILE, VAULT_IDENTITY_FILE or VAULT_IDENTITY (or keep it as this machine's personal identity: `vault identity new`, or ~/.ssh/id_ed25519)".to_string();
        if has_pass {
            hint.push_str(
                "; or the passphrase with --passphrase-stdin, --passphrase-file or VAULT_PASSPHRASE_FILE",
            );
        }
        Err(CliError::Hinted { error, hint })
    }

    /// Opens the vault file at `path` without ever asking anyone (for
    /// `merge` and `textconv`, which git runs): the given passphrase, the
    /// given identities, else the cached body key (if it is this file's),
    /// else this machine's keyring slot, else the personal identity
    /// ([`Credentials::quiet_identities`]); no prompt, no plugin, and no
    /// rollback memory (git's
    /// temporary copies of a file are not the file at a path). The error
    /// is the last way tried, or exit 3 when nothing was there to try.
    pub fn open_quietly(&mut self, stores: &Stores, path: &std::path::Path) -> Result<Vault> {
        static NO_MEMORY: NoMemory = NoMemory;
        let opener = Opener::new(path, path, &stores.keyring, &NO_MEMORY)
            .only_slot(self.inv.slot.clone())
            .lock_wait(self.inv.lock_timeout, &lock_wait_notice);
        let locked = opener.locked()?;
        let mut last: Option<CliError> = None;
        if let Some(p) = self.usable_passphrase()? {
            // The same slot (same salt and cost) in another version of the
            // file opens with the key already derived: one Argon2id run
            // for the three files of a merge, not three.
            let known = self.slot_keys.iter().find(|(id, salt, params, _)| {
                locked.header().keys.slot(*id).and_then(|s| s.kind.kdf())
                    == Some((salt.as_slice(), *params))
            });
            if let Some((slot, _, _, kek)) = known {
                let cred = Credential::SlotKey {
                    slot: *slot,
                    kek: kek.clone(),
                };
                if let Ok(v) = opener.prepare(locked.clone(), cred).and_then(|p| p.read()) {
                    return Ok(v);
                }
            }
            match opener.prepare(locked.clone(), Credential::Passphrase(p)) {
                Ok(prepared) => {
                    let key = prepared.opening_passphrase_key();
                    match prepared.read() {
                        Ok(v) => {
                            if let Some((id, kek)) = key {
                                if let Some((salt, params)) =
                                    v.header().keys.slot(id).and_then(|s| s.kind.kdf())
                                {
                                    self.slot_keys.push((id, salt.to_vec(), params, kek));
                                }
                            }
                            return Ok(v);
                        }
                        Err(e) => last = Some(e.into()),
                    }
                }
                Err(e) => last = Some(e.into()),
            }
        }
        let (given, personal) = self.quiet_identities(&opener);
        let try_ids = |ids: &Option<Identities>, last: &mut Option<CliError>| {
            let ids = ids.as_ref()?;
            if self.inv.slot.is_some() || !ids.iter().any(|i| i.matches_a_slot_of(locked.header()))
            {
                return None;
            }
            match opener
                .prepare(locked.clone(), Credential::Identities(ids.clone()))
                .and_then(|p| p.read())
            {
                Ok(v) => Some(v),
                Err(e) => {
                    *last = Some(e.into());
                    None
                }
            }
        };
        if let Some(v) = try_ids(&given, &mut last) {
            return Ok(v);
        }
        if !self.inv.no_cache && self.inv.slot.is_none() {
            if let Some(c) = opener.cached(&locked) {
                match opener.prepare(locked.clone(), c).and_then(|p| p.read()) {
                    Ok(v) => return Ok(v),
                    Err(e) => last = Some(e.into()),
                }
            }
        }
        let mut why_not_keyring = None;
        if self.inv.slot.is_none() && locked.has_keyring_slot() {
            match opener.keyring_credential(&locked) {
                Ok(c) => match opener
                    .prepare(locked.clone(), c.into())
                    .and_then(|p| p.read())
                {
                    Ok(v) => return Ok(v),
                    Err(e) => last = Some(e.into()),
                },
                Err(e) => why_not_keyring = Some(e),
            }
        }
        if let Some(v) = try_ids(&personal, &mut last) {
            return Ok(v);
        }
        Err(last.unwrap_or_else(|| {
            Error::NoUsableSlot {
                path: path.to_path_buf(),
                keyring: why_not_keyring,
                has_passphrase_slot: locked.has_passphrase_slot(),
                has_recipient_slot: locked.has_recipient_slot(),
            }
            .into()
        }))
    }

    /// The identities [`Credentials::open_quietly`] may use, read once:
    /// those given (`--identity`, `VAULT_IDENTITY_FILE`, `VAULT_IDENTITY`),
    /// then the personal identity (keyring, else its file) and the default
    /// SSH keys (`~/.ssh/id_ed25519`, `~/.ssh/id_rsa`), each read with
    /// callbacks that never ask: a passphrase-protected SSH key and a
    /// plugin identity are left out (git runs merge and textconv; nothing
    /// may prompt or run a plugin). An unreadable one is passed over.
    fn quiet_identities(
        &mut self,
        opener: &Opener<'_>,
    ) -> (Option<Identities>, Option<Identities>) {
        if let Some(ids) = &self.quiet_ids {
            return ids.clone();
        }
        let quiet = |text: &SecretBytes| -> Vec<LoadedIdentity> {
            load_identities(text, age::NoCallbacks)
                .unwrap_or_default()
                .into_iter()
                .filter(|i| !i.is_encrypted() && !matches!(i.opens(), Opens::Plugin(_)))
                .collect()
        };
        // An identity file that cannot be read is passed over.
        let quiet_file = |f: &std::path::Path| -> Vec<LoadedIdentity> {
            vault::store::read_small(f, MAX_IDENTITY_FILE)
                .map(|text| quiet(&text))
                .unwrap_or_default()
        };
        let mut given: Vec<LoadedIdentity> = self
            .inv
            .identity_files
            .iter()
            .flat_map(|f| quiet_file(f))
            .collect();
        if let Some(text) = &self.env_identity {
            given.extend(quiet(text));
        }
        let mut personal: Vec<LoadedIdentity> = Vec::new();
        match opener.keystore().get(PERSONAL_IDENTITY_ACCOUNT) {
            Ok(k) => personal.push(LoadedIdentity::x25519(&X25519Identity::from_key(k))),
            Err(_) => {
                if let Some(f) = personal_identity_file().filter(|f| f.is_file()) {
                    personal.extend(quiet_file(&f));
                }
            }
        }
        // The default SSH keys, as an ordinary open finds them
        // (`found_identities`); one with a passphrase is left out.
        for f in default_ssh_identities().iter().filter(|f| f.is_file()) {
            personal.extend(quiet_file(f));
        }
        let set = |v: Vec<LoadedIdentity>| (!v.is_empty()).then(|| Identities::new(v));
        let ids = (set(given), set(personal));
        self.quiet_ids = Some(ids.clone());
        ids
    }

    /// A new passphrase: from stdin or a file as asked, else prompted twice
    /// on a terminal. An empty one is refused when the slot is made.
    pub fn new_passphrase(&mut self, args: &NewPassphraseArgs, what: &str) -> Result<SecretBytes> {
        let new = if args.new_passphrase_stdin {
            // The current passphrase, if it also comes from stdin, is the first line.
            if self.passphrase_from_stdin() {
                self.given_passphrase()?;
            }
            read_passphrase(&PassphraseSource::Stdin)?
        } else if let Some(f) = &args.new_passphrase_file {
            read_passphrase(&PassphraseSource::File(f.clone()))?
        } else {
            prompt_twice(what)?
        };
        check_strength(&new, args.weak_passphrase_ok)?;
        Ok(new)
    }
}

/// Everything a command needs: the invocation, the opener, the credentials.
pub struct Ctx<'a> {
    /// What was asked.
    pub inv: &'a Invocation,
    /// The one way to open the vault.
    pub opener: Opener<'a>,
    /// The passphrase, read once.
    pub creds: Credentials<'a>,
    /// The keyring and rollback memory (also borrowed by `opener`).
    pub stores: &'a Stores,
}

impl<'a> Ctx<'a> {
    /// A context for `inv` over `stores`; `env_passphrase` as for
    /// [`Credentials::new`].
    pub fn new(
        inv: &'a Invocation,
        stores: &'a Stores,
        env_passphrase: Option<SecretBytes>,
        env_identity: Option<SecretBytes>,
    ) -> Ctx<'a> {
        Ctx {
            inv,
            opener: opener(inv, stores),
            creds: Credentials::new(inv, env_passphrase, env_identity),
            stores,
        }
    }

    /// Reads the file and works out what opens it (for secrets).
    pub fn prepare(&mut self) -> Result<Prepared<'_, Secrets>> {
        self.creds.prepare(&self.opener)
    }

    /// Reads the file and works out which slot opens it (slot management).
    pub fn prepare_slots(&mut self) -> Result<Prepared<'_, Slots>> {
        self.creds.prepare_slots(&self.opener)
    }

    /// Opens the vault for reading.
    pub fn read(&mut self) -> Result<Vault> {
        Ok(self.prepare()?.read()?)
    }
}

/// The identities in `text` (from `source`: a file's path, or
/// `VAULT_IDENTITY`); never their text in an error.
pub fn read_identities(text: &SecretBytes, source: &str) -> Result<Vec<LoadedIdentity>> {
    load_identities(text, AgeCallbacks).map_err(|p| {
        Error::BadIdentity {
            source: source.to_string(),
            why: p.to_string(),
        }
        .into()
    })
}

/// `ids` without a passphrase-protected SSH key where no terminal can ask
/// for its passphrase (said once).
fn usable(ids: Vec<LoadedIdentity>, source: &str) -> Vec<LoadedIdentity> {
    if stdin_is_terminal() || !ids.iter().any(LoadedIdentity::is_encrypted) {
        return ids;
    }
    crate::output::warn(&format!(
        "skipping the passphrase-protected SSH key in {source}: no terminal to ask for its passphrase"
    ));
    ids.into_iter().filter(|i| !i.is_encrypted()).collect()
}

/// The identities of file `f`, or none if it cannot be read.
fn read_quietly(f: &std::path::Path) -> Vec<LoadedIdentity> {
    vault::store::read_small(f, MAX_IDENTITY_FILE)
        .ok()
        .and_then(|t| load_identities(&t, AgeCallbacks).ok())
        .unwrap_or_default()
}
