//! The one way every command opens a vault file: [`Opener`].
//!
//! Readers: read the file (no lock) → [`Opener::prepare`] (the credential's
//! keys worked out: Argon2, the keyring) → [`Prepared::read`] (body opened,
//! rollback memory checked). Writers: the same preparation, then
//! [`Prepared::begin`] takes the write lock, re-reads the file under it and
//! opens it with the keys already derived (no second KDF run, no prompt
//! while locked) → edits on [`WriteTxn`] → [`WriteTxn::commit`] seals,
//! writes atomically, raises the rollback memory, releases the lock and
//! then runs what must follow a write (deleting a removed slot's keyring
//! entry, when asked to). A transaction dropped uncommitted undoes what it
//! did outside the file (a keyring entry it created).
//!
//! The rollback memory is checked on every open, whatever opened the vault,
//! by the rules of `rollback::Verdict`: at this path an older generation, a
//! fork (the same generation with other content) and a retired key are
//! refused; a new key at a later generation is accepted with a notice and
//! the old one retired. Where git tracks the file (asked only when a
//! refusal would otherwise happen) an older generation or a fork is a
//! notice, and a retired key refuses writes only.
//!
//! What opened the vault is a type: a cached data key ([`Credential::DataKey`])
//! can start a [`WriteTxn<Secrets>`] only; slot management lives on
//! [`WriteTxn<Slots>`], which only a [`SlotCredential`] can start.
//!
//! A command that manages slots from a cache-opened vault does not compile:
//!
//! ```compile_fail
//! use vault::open::{Secrets, WriteTxn};
//! fn add_slot(txn: &mut WriteTxn<'_, Secrets>) {
//!     txn.add_keyring_slot(); // only on WriteTxn<Slots>
//! }
//! ```
//!
//! ```compile_fail
//! use vault::{Credential, Key, SlotCredential};
//! // A cached data key cannot become a slot credential.
//! let c: SlotCredential = Credential::BodyKey(Key::random()).into();
//! ```
//!
//! No printing, prompting or terminal here; the caller supplies the key
//! store, the rollback memory and the clock.

use std::cell::{OnceCell, RefCell};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cache::CachedBefore;
use crate::error::{Error, Result};
use crate::format::v2::{HeaderV2, Label, SlotKindV2, SlotV2};
use crate::format::KdfParams;
use crate::format::SlotId;
use crate::identities::{Identities, Recipient};
use crate::keyblock;
use crate::rollback::{
    FileState, Git, KeyCommitment, MemoryKey, NewKeyAccepted, Notice, Record, RollbackMemory,
    Verdict, VersionControl,
};
use crate::secret::{Key, SecretBytes};
use crate::slots::{KeyStore, KeyringError, SlotRef};
use crate::store::{self, WriteLock};
use crate::vault::{
    self, Credential, Derived, ExposedSecret, LockedVault, NewSlot, OpenedBy, PassphraseKey,
    RotatePending, Vault,
};

/// The time in Unix seconds, behind a trait so tests can fix it.
pub trait Clock {
    /// Now, in Unix seconds.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        crate::platform::unix_now()
    }
}

/// A credential that opens a slot, and so may manage slots: a passphrase
/// or a keyring slot's key. A cached data key can never become one.
pub struct SlotCredential(Credential);

impl SlotCredential {
    /// A passphrase, tried against every passphrase slot.
    pub fn passphrase(p: SecretBytes) -> SlotCredential {
        SlotCredential(Credential::Passphrase(p))
    }

    /// Identities, tried on the recipient slots they match.
    pub fn identities(ids: Identities) -> SlotCredential {
        SlotCredential(Credential::Identities(ids))
    }

    /// Identities and a passphrase, both given: both are tried.
    pub fn identities_or_passphrase(ids: Identities, p: SecretBytes) -> SlotCredential {
        SlotCredential(Credential::IdentitiesOrPassphrase(ids, p))
    }

    /// Whether this holds a passphrase (and which).
    pub fn as_passphrase(&self) -> Option<&SecretBytes> {
        match &self.0 {
            Credential::Passphrase(p) | Credential::IdentitiesOrPassphrase(_, p) => Some(p),
            _ => None,
        }
    }
}

impl From<SlotCredential> for Credential {
    fn from(c: SlotCredential) -> Credential {
        c.0
    }
}

/// Marker: a transaction that may change secrets only.
pub enum Secrets {}
/// Marker: a transaction opened through a slot, which may also manage slots.
pub enum Slots {}

/// How to reach and open one vault file, resolved once per command.
pub struct Opener<'a> {
    path: PathBuf,
    resolved: PathBuf,
    keystore: &'a dyn KeyStore,
    memory: &'a dyn RollbackMemory,
    clock: &'a dyn Clock,
    /// Read when a KDF is about to run (`/proc/meminfo`), not before.
    available_kib: OnceCell<Option<u64>>,
    allow_rollback: bool,
    accept_new_key: bool,
    lock_timeout: Duration,
    on_lock_wait: &'a dyn Fn(),
    vcs: &'a dyn VersionControl,
    on_notice: &'a dyn Fn(&Notice),
    memory_key: OnceCell<MemoryKey>,
    /// This path's memory as last read (see `recall` for when it is read
    /// again).
    recalled: RefCell<Option<Option<Record>>>,
    checked_lineage: OnceCell<Option<(KeyCommitment, [u8; 32])>>,
    tracked: OnceCell<bool>,
    only_slot: Option<SlotRef>,
    cached_before: Option<&'a CachedBefore>,
}

fn no_wait_notice() {}

fn no_notice(_: &Notice) {}

/// Whether an open is for reading or writing (the memory check differs:
/// a retired key never takes a write).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Access {
    Read,
    Write,
}

impl<'a> Opener<'a> {
    /// The vault at `path` (as the user gave it, for messages), read and
    /// written at `resolved` (links followed), with keyring slots in
    /// `keystore` and rollback memory in `memory`. Defaults: the system
    /// clock, the machine's available memory, no rollback accepted, a 30 s
    /// lock wait, the real `git`, notices dropped.
    pub fn new(
        path: &Path,
        resolved: &Path,
        keystore: &'a dyn KeyStore,
        memory: &'a dyn RollbackMemory,
    ) -> Opener<'a> {
        Opener {
            path: path.to_path_buf(),
            resolved: resolved.to_path_buf(),
            keystore,
            memory,
            clock: &SystemClock,
            available_kib: OnceCell::new(),
            allow_rollback: false,
            accept_new_key: false,
            lock_timeout: Duration::from_secs(30),
            on_lock_wait: &no_wait_notice,
            vcs: &Git,
            on_notice: &no_notice,
            memory_key: OnceCell::new(),
            recalled: RefCell::new(None),
            checked_lineage: OnceCell::new(),
            tracked: OnceCell::new(),
            only_slot: None,
            cached_before: None,
        }
    }

    /// Where to remember the body keys put in the cache (a write with the
    /// master key refreshes a live cached unlock), so `vault unlock` never
    /// caches one again. Default: nowhere.
    pub fn cached_before(mut self, record: &'a CachedBefore) -> Self {
        self.cached_before = Some(record);
        self
    }

    /// Tries a passphrase on this passphrase slot alone, instead of on
    /// every passphrase slot, cheapest first.
    pub fn only_slot(mut self, slot: Option<SlotRef>) -> Self {
        self.only_slot = slot;
        self
    }

    /// Uses `clock` for the times recorded with secrets.
    pub fn clock(mut self, clock: &'a dyn Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Accepts, once, a file older than the rollback memory of its path
    /// (after restoring a backup) or a fork (another copy of the same
    /// generation); the memory is then set to it. A file under a retired
    /// key may then be read, never written.
    pub fn allow_rollback(mut self, yes: bool) -> Self {
        self.allow_rollback = yes;
        self
    }

    /// Accepts, for this command, a file sealed with a master key that the
    /// key this path last held did not endorse ([`Error::UnendorsedKey`]):
    /// a vault made anew at this path. Its memory then starts from it.
    pub fn accept_new_key(mut self, yes: bool) -> Self {
        self.accept_new_key = yes;
        self
    }

    /// Asks `vcs` whether it tracks the file, where a refusal would
    /// otherwise happen (default: the real `git`).
    pub fn version_control(mut self, vcs: &'a dyn VersionControl) -> Self {
        self.vcs = vcs;
        self
    }

    /// What to call with each [`Notice`] of the rollback memory check (an
    /// accepted new key, a checkout git tracks, a retired key read).
    pub fn on_notice(mut self, f: &'a dyn Fn(&Notice)) -> Self {
        self.on_notice = f;
        self
    }

    /// How long to wait for another writer, and what to call (once) when
    /// the wait begins.
    pub fn lock_wait(mut self, timeout: Duration, on_wait: &'a dyn Fn()) -> Self {
        self.lock_timeout = timeout;
        self.on_lock_wait = on_wait;
        self
    }

    /// The memory a KDF may use, KiB (`None`: unknown, not checked).
    pub fn available_memory(self, kib: Option<u64>) -> Self {
        let _ = self.available_kib.set(kib);
        self
    }

    /// The memory a KDF may use (read once, when first needed).
    fn available_kib(&self) -> Option<u64> {
        *self
            .available_kib
            .get_or_init(crate::platform::available_memory_kib)
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What this path's rollback memory holds (for reports).
    pub fn remembered(&self) -> Option<Record> {
        self.recall()
    }

    /// Every vault path the rollback memory knows on this machine (for
    /// reports), sorted by path.
    pub fn known_vaults(&self) -> Vec<Record> {
        let mut all = self.memory.known();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all
    }

    /// The key of this path's memory, worked out once. A path with no
    /// memory of its own that leads (through links) to a file remembered
    /// under that file's own path starts from that memory: where earlier
    /// versions kept it (every link followed), and what a new link to a
    /// known vault should inherit.
    fn memory_key(&self) -> &MemoryKey {
        self.memory_key.get_or_init(|| {
            let key = MemoryKey::for_path(&self.path);
            let target = MemoryKey::for_path(&MemoryKey::canonical(&self.resolved));
            if target != key && self.memory.recall(&key).is_none() {
                if let Some(r) = self.memory.recall(&target) {
                    self.memory.update(&key, &|now| {
                        now.is_none().then(|| Record {
                            path: key.path().to_path_buf(),
                            ..r.clone()
                        })
                    });
                }
            }
            key
        })
    }

    /// What this path's memory holds. Read from the memory once, and
    /// again when a file is judged, after the write lock is taken (a
    /// commit of another process may have raised it meanwhile) or after
    /// this opener changed it; one open asks it several questions, and
    /// reading it for each cost three opens and reads of its file per
    /// command.
    fn recall(&self) -> Option<Record> {
        let key = self.memory_key();
        if let Some(r) = &*self.recalled.borrow() {
            return r.clone();
        }
        let r = self.memory.recall(key);
        *self.recalled.borrow_mut() = Some(r.clone());
        r
    }

    /// Changes this path's memory (as [`RollbackMemory::update`]); the
    /// next [`Opener::recall`] reads it again.
    fn update_memory(&self, change: &dyn Fn(Option<&Record>) -> Option<Record>) {
        self.memory.update(self.memory_key(), change);
        self.recalled.take();
    }

    /// The path reads and writes go to.
    pub fn resolved(&self) -> &Path {
        &self.resolved
    }

    /// The key store of keyring slots.
    pub fn keystore(&self) -> &dyn KeyStore {
        self.keystore
    }

    /// Reads and parses the file (no lock, no key work).
    pub fn locked(&self) -> Result<LockedVault> {
        let bytes = store::read(&self.resolved).map_err(|e| match e {
            Error::NoVault(_) => Error::NoVault(self.path.clone()),
            Error::NotAFile(_) => Error::NotAFile(self.path.clone()),
            e => e,
        })?;
        let mut locked = LockedVault::parse(&self.path, bytes)?;
        if let Some((commitment, lineage)) = self.checked_lineage() {
            locked.lineage_checked_before(commitment, lineage);
        }
        Ok(locked)
    }

    /// The master-key commitment and lineage key this path's memory holds:
    /// learnt only from files opened with that master key, whose lineage
    /// key was checked against it then (read once per command).
    fn checked_lineage(&self) -> Option<(KeyCommitment, [u8; 32])> {
        *self.checked_lineage.get_or_init(|| {
            let r = self.recall()?;
            Some((r.last.commitment, r.last.lineage?))
        })
    }

    /// The cached body key of `locked`, if one is cached and is this
    /// vault's current body key.
    pub fn cached(&self, locked: &LockedVault) -> Option<Credential> {
        // Only under the master key this path last held: a new one must be
        // checked (its lineage against the master key itself), which the
        // body key cannot do. A real credential opens it instead.
        if let Some(r) = self.recall() {
            if r.last.commitment != locked.file_state().commitment {
                return None;
            }
        }
        let c = crate::cache::get(&locked.header().vault_id)?;
        locked
            .body_key_matches(&c.key)
            .then(|| Credential::BodyKey(c.key))
    }

    /// The key of the first keyring slot of `locked` whose entry the store
    /// has; the error is the reason of the last slot tried.
    pub fn keyring_credential(
        &self,
        locked: &LockedVault,
    ) -> std::result::Result<SlotCredential, KeyringError> {
        locked
            .fetch_keyring_credential(self.keystore)
            .map(SlotCredential)
    }

    /// Works out `cred`'s keys against `locked` (the KDF runs here).
    pub fn prepare(&self, locked: LockedVault, cred: Credential) -> Result<Prepared<'_, Secrets>> {
        self.prepare_any(locked, cred)
    }

    /// As [`Opener::prepare`], for slot management.
    pub fn prepare_slots(
        &self,
        locked: LockedVault,
        cred: SlotCredential,
    ) -> Result<Prepared<'_, Slots>> {
        self.prepare_any(locked, cred.0)
    }

    fn prepare_any<A>(&self, locked: LockedVault, cred: Credential) -> Result<Prepared<'_, A>> {
        let derived = locked.derive(&cred, &|| self.available_kib(), self.only_slot.as_ref())?;
        let passphrase = match cred {
            Credential::Passphrase(p) | Credential::IdentitiesOrPassphrase(_, p) => Some(p),
            _ => None,
        };
        Ok(Prepared {
            opener: self,
            locked,
            derived,
            passphrase,
            _access: PhantomData,
        })
    }

    /// Derives a new passphrase slot's key (fresh salt; the KDF runs here,
    /// before any lock). An empty passphrase is refused.
    pub fn new_passphrase_key(&self, pass: &SecretBytes, params: KdfParams) -> Result<NewKey> {
        Ok(NewKey(vault::new_passphrase(pass, params, &self.path)?))
    }

    /// Creates the vault file with `new_slots` (at least one), never
    /// overwriting one. Everything that can fail without touching the disk
    /// (the KDF, the keyring entry) happens first; if the write fails the
    /// keyring entries made for it are deleted again.
    pub fn create(&self, new_slots: &[NewSlot<'_>]) -> Result<Vault> {
        self.create_labelled(new_slots, &[])
    }

    /// [`Opener::create`], slot `i` labelled `labels[i]` (missing or
    /// `None`: no label; two equal labels are refused before any write).
    pub fn create_labelled(
        &self,
        new_slots: &[NewSlot<'_>],
        labels: &[Option<Label>],
    ) -> Result<Vault> {
        let mut v = Vault::create(&self.path, new_slots)?;
        let ids: Vec<SlotId> = v.header().keys.slots.iter().map(|s| s.id).collect();
        for (id, label) in ids.into_iter().zip(labels) {
            if let Err(e) = v.set_label(id, label.clone()) {
                v.forget_keyring_entries(new_slots);
                return Err(e);
            }
        }
        let dir = match self.resolved.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let written = v.seal().and_then(|bytes| {
            store::create_dir_private(dir)
                .and_then(|()| self.lock())
                .and_then(|lock| store::write_new(&self.resolved, &bytes, &lock))
        });
        if let Err(e) = written {
            v.forget_keyring_entries(new_slots);
            return Err(e);
        }
        // A new vault at this path: whatever was here before (a vault since
        // deleted) is no longer what the path holds.
        let (key, state) = (self.memory_key(), v.file_state());
        self.update_memory(&|r| Some(Record::forced(r, key.path(), &state)));
        Ok(v)
    }

    /// Takes the write lock.
    fn lock(&self) -> Result<WriteLock> {
        let lock = store::lock(&self.resolved, self.lock_timeout, &mut || {
            (self.on_lock_wait)()
        })?;
        // What the memory held before the lock may be stale now.
        self.recalled.take();
        Ok(lock)
    }

    /// How `v` compares with this path's memory.
    fn judge(&self, v: &Vault) -> Verdict {
        // The memory as it is now, not as when the file was read (the KDF
        // may have run since): a commit made meanwhile is seen, and the
        // file judged again under the lock (`Prepared::read`).
        self.recalled.take();
        let r = self.recall();
        Verdict::of(as_seen_by(r.as_ref(), v).as_ref(), &v.file_state())
    }

    /// Whether the version control tracks this file, asked at most once.
    fn tracked(&self) -> bool {
        *self
            .tracked
            .get_or_init(|| self.vcs.tracks(&MemoryKey::canonical(&self.resolved)))
    }

    /// Acts on `verdict` for `v` (its header authenticated): refuses it, or
    /// accepts it, raising the memory, with a notice where one is due. Git
    /// is asked only here, and only when the answer decides a refusal.
    fn settle(&self, v: &Vault, verdict: Verdict, access: Access) -> Result<()> {
        let key = self.memory_key();
        let seen = self.vouched(v, v.file_state());
        let path = || self.path.clone();
        let raise = || {
            self.update_memory(&|r| Record::raised(as_seen_by(r, v).as_ref(), key.path(), &seen))
        };
        // Set to this file, whatever the memory held (accepted on request).
        let force = || {
            self.update_memory(&|r| {
                Some(Record::forced(as_seen_by(r, v).as_ref(), key.path(), &seen))
            })
        };
        match verdict {
            // A memory from before lineages learns the file's lineage key
            // once it has been opened with its master key.
            Verdict::Same
                if seen.lineage.is_some()
                    && self.recall().is_some_and(|r| r.last.lineage.is_none()) =>
            {
                self.update_memory(&|r| {
                    let r = r?;
                    (r.last.lineage.is_none() && r.last.digest == seen.digest).then(|| Record {
                        last: seen,
                        ..r.clone()
                    })
                });
                Ok(())
            }
            Verdict::Same => Ok(()),
            Verdict::First | Verdict::Newer => {
                raise();
                Ok(())
            }
            Verdict::NewKey => {
                // A member's rotation carries a link from the key this path
                // last held; anything else was not made by a key holder.
                let remembered = as_seen_by(self.recall().as_ref(), v).and_then(|r| r.last.lineage);
                let how = match remembered {
                    None => NewKeyAccepted::Unchecked,
                    Some(l) if keyblock::descends_from(v.header(), &l) => NewKeyAccepted::Endorsed,
                    Some(_) if self.accept_new_key => NewKeyAccepted::Deliberately,
                    Some(_) => {
                        return Err(Error::UnendorsedKey {
                            path: path(),
                            generation: seen.generation,
                        })
                    }
                };
                raise();
                (self.on_notice)(&Notice::NewKey {
                    path: path(),
                    generation: seen.generation,
                    how,
                });
                Ok(())
            }
            // A key this path has not seen is checked whatever the
            // generation: a forger picks an older one, or the same, as
            // easily as a later one, and neither `--allow-rollback` nor a
            // git checkout may take a key no member endorsed.
            Verdict::Older { .. } | Verdict::Fork
                if !self.accept_new_key && self.unendorsed_key(v) =>
            {
                Err(Error::UnendorsedKey {
                    path: path(),
                    generation: seen.generation,
                })
            }
            Verdict::Older { .. } | Verdict::Fork if self.allow_rollback => {
                force();
                Ok(())
            }
            Verdict::Older { .. } | Verdict::Fork if self.tracked() => {
                // A key accepted on request is remembered, or the next open
                // without `--accept-new-key` would refuse it again; in a git
                // work tree the older generation or the fork that comes
                // with it is git's business, so the memory takes this file.
                if self.accept_new_key && self.unendorsed_key(v) {
                    force();
                    (self.on_notice)(&Notice::NewKey {
                        path: path(),
                        generation: seen.generation,
                        how: NewKeyAccepted::Deliberately,
                    });
                }
                (self.on_notice)(&Notice::Tracked {
                    path: path(),
                    found: seen.generation,
                    verdict,
                });
                Ok(())
            }
            Verdict::Older { remembered } => Err(Error::Rollback {
                path: path(),
                found: seen.generation,
                remembered,
            }),
            Verdict::Fork => Err(Error::Fork {
                path: path(),
                generation: seen.generation,
            }),
            // Even in a git work tree: a file under a retired key is what an
            // ex-member can still write (they hold that key), with values of
            // their choosing, so it is read only when asked for.
            Verdict::Retired if access == Access::Read && self.allow_rollback => {
                (self.on_notice)(&Notice::RetiredRead {
                    path: path(),
                    tracked: self.tracked(),
                });
                Ok(())
            }
            Verdict::Retired => Err(Error::RetiredKey {
                path: path(),
                generation: seen.generation,
            }),
        }
    }

    /// `state` of `v` as the memory may keep it: a lineage key only from a
    /// key block whose MAC was checked, i.e. opened with the master key.
    /// Opened through the cached body key (which cannot check the MAC; the
    /// cache opens only the master key this path last held), the lineage
    /// key stays the one remembered: a cache reader who rewrote it could
    /// otherwise have a later key of their own accepted as endorsed.
    fn vouched(&self, v: &Vault, mut state: FileState) -> FileState {
        if v.master_key().is_none() {
            // Only under the master key the memory paired it with: the
            // cache opens no other (`cached`, `rederive`), and a lineage key
            // is never carried over to a commitment it was not checked for.
            state.lineage = self
                .recall()
                .filter(|r| r.last.commitment == state.commitment)
                .and_then(|r| r.last.lineage);
        }
        state
    }

    /// Whether `v` is sealed with a master key other than the one this
    /// path last held, and its lineage does not lead from that key's. A
    /// version-1 file put back after its conversion has the same key in
    /// its old form; a path that knew no lineage cannot tell.
    fn unendorsed_key(&self, v: &Vault) -> bool {
        let Some(r) = as_seen_by(self.recall().as_ref(), v) else {
            return false;
        };
        let Some(remembered) = r.last.lineage else {
            return false;
        };
        if r.last.commitment == v.file_state().commitment {
            return false;
        }
        if let Some(mk) = v.master_key() {
            if r.last.commitment == KeyCommitment(keyblock::master_commitment(mk)) {
                return false;
            }
        }
        !keyblock::descends_from(v.header(), &remembered)
    }

    /// Under the lock: re-reads the file and opens it with `derived`, or,
    /// if another process changed the slot in between, with the passphrase
    /// again (the one case where a KDF runs under the lock: a race with a
    /// concurrent `key passwd`/`rekey`).
    fn reopen_locked(&self, derived: &Derived, passphrase: Option<&SecretBytes>) -> Result<Vault> {
        let locked = self.locked()?;
        if let Some(d) = locked.rederive(derived) {
            return locked.open_derived(&d);
        }
        match passphrase {
            Some(p) => {
                let d = locked.derive(
                    &Credential::Passphrase(p.clone()),
                    &|| self.available_kib(),
                    self.only_slot.as_ref(),
                )?;
                locked.open_derived(&d)
            }
            None => Err(Error::ChangedWhileOpening {
                path: self.path.clone(),
                what: match derived.by {
                    OpenedBy::Cache => "its body key",
                    _ => "the slot that opened it",
                },
            }),
        }
    }
}

/// The memory `r` as `v` is judged against it: a commitment `v`'s master
/// key had in version-1 form read as the one it has now.
fn as_seen_by(r: Option<&Record>, v: &Vault) -> Option<Record> {
    let r = r?.clone();
    Some(match v.key_alias() {
        Some((legacy, current)) => r.aliased(legacy, current),
        None => r,
    })
}

/// A vault file read and its credential's keys worked out, not yet opened.
pub struct Prepared<'o, A> {
    opener: &'o Opener<'o>,
    locked: LockedVault,
    derived: Derived,
    passphrase: Option<SecretBytes>,
    _access: PhantomData<A>,
}

impl<'o, A> Prepared<'o, A> {
    /// The header as read (not yet authenticated: the body is, on open).
    pub fn header(&self) -> &HeaderV2 {
        self.locked.header()
    }

    /// What will open the vault.
    pub fn opened_by(&self) -> OpenedBy {
        self.derived.by
    }

    /// The file's format version (1 or 2).
    pub fn version(&self) -> u16 {
        self.locked.version()
    }

    /// The passphrase slot that opened the file and its key (the Argon2id
    /// output), when a passphrase did: another version of the same vault
    /// whose slot has the same salt and cost opens with it as a
    /// [`Credential::SlotKey`] without running Argon2id again (`vault
    /// merge` opens three).
    pub fn opening_passphrase_key(&self) -> Option<(SlotId, Key)> {
        match (self.derived.by, &self.derived.kek, &self.passphrase) {
            (OpenedBy::Slot(id), Some(kek), Some(_)) => Some((id, kek.clone())),
            _ => None,
        }
    }

    /// Opens the file as read, for reading. A reader holds no lock, so it
    /// can read generation N just before a writer commits N+1 and raises
    /// the memory; a file the memory would refuse is therefore read and
    /// judged once more under the write lock, where no commit is half
    /// done: if it is still refused, the refusal is real. Where the lock
    /// cannot be taken (a read-only directory) the first verdict stands.
    pub fn read(self) -> Result<Vault> {
        let opener = self.opener;
        let v = self.locked.open_derived(&self.derived)?;
        let verdict = opener.judge(&v);
        if !verdict.refuses() || opener.allow_rollback {
            opener.settle(&v, verdict, Access::Read)?;
            return Ok(v);
        }
        // Judged again under the lock (a concurrent commit, or a rekey, may
        // have raised the memory after this file was read), before git is
        // asked or anything is refused.
        let Ok(_lock) = opener.lock() else {
            opener.settle(&v, verdict, Access::Read)?;
            return Ok(v);
        };
        let v = opener.reopen_locked(&self.derived, self.passphrase.as_ref())?;
        let verdict = opener.judge(&v);
        opener.settle(&v, verdict, Access::Read)?;
        Ok(v)
    }

    /// Takes the write lock, re-reads the file under it and opens it with
    /// the keys already worked out: the start of a change.
    pub fn begin(self) -> Result<WriteTxn<'o, A>> {
        let opener = self.opener;
        let lock = opener.lock()?;
        drop(self.locked);
        let vault = opener.reopen_locked(&self.derived, self.passphrase.as_ref())?;
        opener.settle(&vault, opener.judge(&vault), Access::Write)?;
        Ok(WriteTxn {
            opener,
            before: vault.file_state(),
            vault,
            lock: Some(lock),
            undo: Vec::new(),
            after: Vec::new(),
            outcomes: Vec::new(),
            _access: PhantomData,
        })
    }
}

impl Prepared<'_, Slots> {
    /// The key of passphrase slot `id` if `pass` opens it to this vault's
    /// master key (the KDF runs here, before any lock; for `rekey`).
    pub fn passphrase_slot_key(&self, id: SlotId, pass: &SecretBytes) -> Result<Option<SlotKey>> {
        if self.derived.by == OpenedBy::Slot(id) {
            return Ok(self.derived.kek.clone().map(|kek| SlotKey { id, kek }));
        }
        let h = self.locked.header();
        let Some(s) = h.keys.slot(id) else {
            return Ok(None);
        };
        let Some((salt, params)) = s.kind.kdf() else {
            return Ok(None);
        };
        let kek =
            crate::crypto::derive_kek(pass.expose(), salt, params, self.opener.available_kib())
                .map_err(|e| vault::kdf_error(e, false, &self.opener.path))?;
        Ok(self.opens_to_master(id, kek))
    }

    /// `kek` as slot `id`'s key, if it opens the slot to this vault's
    /// master key.
    fn opens_to_master(&self, id: SlotId, kek: Key) -> Option<SlotKey> {
        let h = self.locked.header();
        let s = h.keys.slot(id)?;
        let mk = vault::slot_master_key_of(&h.vault_id, s, &kek)?;
        let ours = self.derived.master.as_ref()?;
        mk.ct_eq(ours).then_some(SlotKey { id, kek })
    }

    /// The key of keyring slot `id` from the key store, if it opens the
    /// slot to this vault's master key.
    pub fn keyring_slot_key(
        &self,
        id: SlotId,
    ) -> std::result::Result<Option<SlotKey>, KeyringError> {
        let h = self.locked.header();
        let Some(account) = h
            .keys
            .slot(id)
            .and_then(|s| vault::slot_account(&h.vault_id, s))
        else {
            return Ok(None);
        };
        let kek = self.opener.keystore.get(&account)?;
        Ok(self.opens_to_master(id, kek))
    }
}

/// A slot's key, shown to open it (for `rekey`).
pub struct SlotKey {
    id: SlotId,
    kek: Key,
}

impl SlotKey {
    /// The slot.
    pub fn id(&self) -> SlotId {
        self.id
    }
}

/// A new passphrase slot's salt, cost and Argon2id output, derived
/// before the lock.
pub struct NewKey(PassphraseKey);

/// Something to do outside the file: undone if the transaction is dropped,
/// or done once it commits.
enum Outside {
    /// Delete this keyring entry (its key was checked to open this vault's
    /// slot); `slot_kept`: the slot stays, under a fresh entry.
    DeleteKeyringEntry {
        slot: SlotId,
        account: String,
        slot_kept: bool,
    },
    /// Forget the cached body key (it no longer opens the vault).
    ForgetCache,
}

/// What becomes of the keyring entry of a keyring slot a change removes.
/// A copy of the vault still holds the slot, and opens through that entry;
/// the file cannot tell whether a copy exists, so the entry is kept unless
/// deleting it is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovedEntries {
    /// Left in the keyring, not even looked at.
    Keep,
    /// Deleted after the commit, if its key opens the removed slot to this
    /// vault's master key (a crafted header never gets another key deleted).
    Delete,
}

/// What happened to a keyring entry a committed change left behind.
#[derive(Debug)]
pub enum EntryOutcome {
    /// Kept, as [`RemovedEntries::Keep`] asks: a copy of the vault may
    /// still open through it.
    Kept,
    /// Deleted.
    Deleted,
    /// Left alone: its key does not open this vault's slot.
    NotThisVaults,
    /// There was none.
    Missing,
    /// The keyring failed.
    Failed(KeyringError),
}

/// The keyring entry of a removed keyring slot, or the old entry of one a
/// rekey gave a fresh identity, and what became of it.
#[derive(Debug)]
pub struct RemovedEntry {
    /// The slot.
    pub slot: SlotId,
    /// The entry's account: a version-2 slot's names its recipient, so it
    /// is read from the slot, never rebuilt from the slot id.
    pub account: String,
    /// Whether the slot is still in the vault (under a fresh entry, this
    /// one being its old one) rather than removed.
    pub slot_kept: bool,
    /// What happened to it.
    pub outcome: EntryOutcome,
}

/// What a commit did.
#[derive(Debug)]
pub struct Committed {
    /// The new generation.
    pub generation: u64,
    /// The keyring entries of removed slots, and what happened to each.
    pub keyring_entries: Vec<RemovedEntry>,
}

/// A change in progress: the file locked, opened under the lock, edited in
/// memory. [`WriteTxn::commit`] writes it; dropping it writes nothing and
/// undoes what it did outside the file.
pub struct WriteTxn<'o, A> {
    opener: &'o Opener<'o>,
    /// The file as opened under the lock.
    before: FileState,
    vault: Vault,
    lock: Option<WriteLock>,
    undo: Vec<Outside>,
    after: Vec<Outside>,
    outcomes: Vec<RemovedEntry>,
    _access: PhantomData<A>,
}

impl<A> WriteTxn<'_, A> {
    /// The vault as changed so far.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Sets `name` to `value` (the clock gives the time).
    pub fn set(&mut self, name: &str, value: SecretBytes) -> Result<()> {
        self.vault.set_at(name, value, self.opener.clock.now())
    }

    /// Deletes every name in `names`, or none if any is unknown.
    pub fn delete(&mut self, names: &[String]) -> Result<()> {
        self.vault.delete(names)
    }

    /// Ends the merge conflict on `name`: keeps its value, or with `other`
    /// takes the other side's (deleting it if the other side deleted it).
    pub fn resolve(&mut self, name: &str, other: bool) -> Result<()> {
        self.vault.resolve_at(name, other, self.opener.clock.now())
    }

    /// Seals and writes the vault atomically, raises the rollback memory
    /// to what it wrote (retiring the old key if this change rotated it),
    /// releases the lock, then does what follows the write.
    pub fn commit(self) -> Result<Committed> {
        self.commit_keeping_body_key().map(|(c, _)| c)
    }

    /// [`WriteTxn::commit`], returning also the body key the file was
    /// sealed under (for `vault unlock`, which caches it).
    pub fn commit_keeping_body_key(mut self) -> Result<(Committed, Key)> {
        // A legacy keyring slot that opened the vault becomes a version-2
        // one at this write (a new entry; the old one stays for copies).
        if let Some(account) = self
            .vault
            .convert_opening_keyring_slot(self.opener.keystore)
        {
            if let OpenedBy::Slot(slot) = self.vault.opened_by() {
                self.undo.push(Outside::DeleteKeyringEntry {
                    slot,
                    account,
                    slot_kept: true,
                });
            }
        }
        let read_with = self.vault.body_key().clone();
        let bytes = self.vault.seal()?;
        let lock = self
            .lock
            .take()
            .expect("a transaction holds its lock until commit");
        store::write_atomic(&self.opener.resolved, &bytes, &lock)?;
        let generation = self.vault.header().generation;
        // Still under the lock: this write's state is what the path holds.
        let (key, mut before, after) = (
            self.opener.memory_key(),
            self.before,
            self.opener.vouched(&self.vault, self.vault.file_state()),
        );
        let v = &self.vault;
        if let Some((legacy, current)) = v.key_alias() {
            // A conversion keeps the key: not a rotation to retire.
            if before.commitment == legacy {
                before.commitment = current;
            }
        }
        self.opener.update_memory(&|r| {
            Record::committed(as_seen_by(r, v).as_ref(), key.path(), &before, &after)
        });
        drop(lock);
        self.undo.clear();
        let mut keyring_entries = std::mem::take(&mut self.outcomes);
        for step in std::mem::take(&mut self.after) {
            match step {
                Outside::DeleteKeyringEntry {
                    slot,
                    account,
                    slot_kept,
                } => {
                    let outcome = match self.opener.keystore.delete(&account) {
                        Ok(()) => EntryOutcome::Deleted,
                        Err(KeyringError::NoEntry) => EntryOutcome::Missing,
                        Err(e) => EntryOutcome::Failed(e),
                    };
                    keyring_entries.push(RemovedEntry {
                        slot,
                        account,
                        slot_kept,
                        outcome,
                    });
                }
                Outside::ForgetCache => {
                    let _ = crate::cache::remove(&self.vault.header().vault_id);
                }
            }
        }
        self.refresh_cache(&read_with);
        Ok((
            Committed {
                generation,
                keyring_entries,
            },
            self.vault.body_key().clone(),
        ))
    }
}

impl<A> WriteTxn<'_, A> {
    /// A write with the master key drew a new body key: a live cached
    /// unlock of the body key this vault was read with would go stale, so
    /// it is given the new one for the rest of its time (never a longer
    /// one). Best effort; a rekey forgets the cache instead.
    fn refresh_cache(&self, read_with: &Key) {
        if self.vault.master_key().is_none() || self.vault.body_key().ct_eq(read_with) {
            return;
        }
        let id = self.vault.header().vault_id;
        let Some(c) = crate::cache::get(&id) else {
            return;
        };
        let left = c.expires_at.saturating_sub(crate::platform::unix_now());
        if c.key.ct_eq(read_with) && left > 0 {
            let put = crate::cache::put(&id, self.vault.body_key(), left);
            if let (Ok(_), Some(record)) = (put, self.opener.cached_before) {
                record.remember(&id, &self.vault.header().keys.body_commitment);
            }
        }
    }
}

impl<A> Drop for WriteTxn<'_, A> {
    fn drop(&mut self) {
        for step in self.undo.drain(..) {
            if let Outside::DeleteKeyringEntry { account, .. } = step {
                let _ = self.opener.keystore.delete(&account);
            }
        }
    }
}

impl WriteTxn<'_, Slots> {
    /// Adds a keyring slot: a fresh key stored in the key store (never
    /// overwriting an entry), deleted again if this change is not committed.
    pub fn add_keyring_slot(&mut self) -> Result<SlotId> {
        let id = self.vault.add_keyring_slot(self.opener.keystore)?;
        let h = self.vault.header();
        if let Some(account) = h
            .keys
            .slot(id)
            .and_then(|s| vault::slot_account(&h.vault_id, s))
        {
            self.undo.push(Outside::DeleteKeyringEntry {
                slot: id,
                account,
                slot_kept: false,
            });
        }
        Ok(id)
    }

    /// Adds a recipient slot for `recipient` (a teammate's or a CI job's
    /// public key; a plugin recipient runs its plugin).
    pub fn add_recipient_slot(&mut self, recipient: &Recipient) -> Result<SlotId> {
        self.vault.add_recipient_slot(recipient)
    }

    /// Gives slot `id` the label `label`, or none (a label another slot
    /// has is refused).
    pub fn set_label(&mut self, id: SlotId, label: Option<Label>) -> Result<()> {
        self.vault.set_label(id, label)
    }

    /// Adds a passphrase slot with a key derived before the lock
    /// ([`Opener::new_passphrase_key`]).
    pub fn add_passphrase_slot(&mut self, key: NewKey) -> Result<SlotId> {
        self.vault.add_passphrase_slot(key.0)
    }

    /// Gives passphrase slot `id` a new passphrase's key.
    pub fn change_passphrase(&mut self, id: SlotId, key: NewKey) -> Result<()> {
        self.vault.replace_passphrase_key(id, key.0)
    }

    /// A new master key: every version-2 slot re-wrapped to its recipient,
    /// every legacy slot whose key is in `keys` re-wrapped, every slot in
    /// `drop` removed (a dropped keyring slot's entry kept, or with
    /// [`RemovedEntries::Delete`] deleted after the commit if it is this
    /// vault's), this machine's keyring slots given fresh identities, a new
    /// body key and fingerprint key; any other legacy slot is an error
    /// naming it, and nothing changes. The cached body key is forgotten.
    ///
    /// This is also how a slot is removed (`key remove` is `rekey --drop`):
    /// whoever held a dropped slot may have read every secret, which are
    /// returned (names and dates) and, with [`RotatePending::Mark`], marked
    /// rotate pending until their values change. Nothing is returned or
    /// marked when nothing is dropped.
    pub fn rekey(
        &mut self,
        keys: &[SlotKey],
        drop: &[SlotId],
        entries: RemovedEntries,
        rotate: RotatePending,
    ) -> Result<Vec<ExposedSecret>> {
        // Worked out before the lock: another process may have changed a
        // slot since, and wrapping under a stale key would break it.
        if let Some(k) = keys
            .iter()
            .find(|k| !self.vault.slot_key_opens(k.id, &k.kek))
        {
            return Err(Error::SlotChanged {
                path: self.opener.path.clone(),
                slot: k.id,
            });
        }
        let keks: Vec<(SlotId, Key)> = keys.iter().map(|k| (k.id, k.kek.clone())).collect();
        let vid = self.vault.header().vault_id;
        let dropped_keyring: Vec<SlotV2> = self
            .vault
            .header()
            .keys
            .slots
            .iter()
            .filter(|s| drop.contains(&s.id) && vault::slot_account(&vid, s).is_some())
            .cloned()
            .collect();
        // Checked against the old master key, before it changes: only an
        // entry whose key opens the dropped slot is deleted; one that is
        // missing, foreign or unreadable is reported, not deleted.
        let mut ours: Vec<(SlotId, String)> = Vec::new();
        let mut not_deleted: Vec<RemovedEntry> = Vec::new();
        if entries == RemovedEntries::Delete {
            for s in &dropped_keyring {
                let Some(account) = vault::slot_account(&vid, s) else {
                    continue;
                };
                let outcome = match self.vault.keyring_entry_is_ours(s, self.opener.keystore) {
                    Ok(true) => {
                        ours.push((s.id, account));
                        continue;
                    }
                    Ok(false) => EntryOutcome::NotThisVaults,
                    Err(KeyringError::NoEntry) => EntryOutcome::Missing,
                    Err(e) => EntryOutcome::Failed(e),
                };
                not_deleted.push(RemovedEntry {
                    slot: s.id,
                    account,
                    slot_kept: false,
                    outcome,
                });
            }
        }
        // This machine's keyring slots that are kept get fresh identities
        // (a legacy one becomes a version-2 slot): an entry copied before
        // the rekey must not open the rekeyed file. Found by their entries,
        // checked against the old master key.
        let refreshed: Vec<SlotV2> = self
            .vault
            .header()
            .keys
            .slots
            .iter()
            .filter(|s| {
                !drop.contains(&s.id)
                    && matches!(
                        s.kind,
                        SlotKindV2::Keyring(_) | SlotKindV2::LegacyKeyring { .. }
                    )
                    && matches!(
                        self.vault.keyring_entry_is_ours(s, self.opener.keystore),
                        Ok(true)
                    )
            })
            .cloned()
            .collect();
        let exposed = self.vault.rekey(&keks, drop, rotate)?;
        self.outcomes.extend(not_deleted);
        for old in &refreshed {
            let new_account = self
                .vault
                .refresh_keyring_slot(old.id, self.opener.keystore)?;
            self.undo.push(Outside::DeleteKeyringEntry {
                slot: old.id,
                account: new_account,
                slot_kept: true,
            });
        }
        let obsolete = dropped_keyring
            .iter()
            .map(|s| (s, false))
            .chain(refreshed.iter().map(|s| (s, true)));
        match entries {
            RemovedEntries::Keep => {
                self.outcomes.extend(obsolete.filter_map(|(s, slot_kept)| {
                    Some(RemovedEntry {
                        slot: s.id,
                        account: vault::slot_account(&vid, s)?,
                        slot_kept,
                        outcome: EntryOutcome::Kept,
                    })
                }));
            }
            RemovedEntries::Delete => {
                let refreshed = refreshed
                    .iter()
                    .filter_map(|s| Some((s.id, vault::slot_account(&vid, s)?, true)));
                let ours = ours.into_iter().map(|(slot, a)| (slot, a, false));
                for (slot, account, slot_kept) in ours.chain(refreshed) {
                    self.after.push(Outside::DeleteKeyringEntry {
                        slot,
                        account,
                        slot_kept,
                    });
                }
            }
        }
        self.after.push(Outside::ForgetCache);
        Ok(exposed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollback::{InMemory, KeyCommitment};
    use crate::slots::MemoryKeyStore;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    const CHEAP: KdfParams = KdfParams::CHEAPEST;

    struct FixedClock(u64);
    impl Clock for FixedClock {
        fn now(&self) -> u64 {
            self.0
        }
    }

    fn pass(s: &str) -> SecretBytes {
        SecretBytes::copy_from(s.as_bytes())
    }

    fn begin_slots<'o>(o: &'o Opener<'o>, cred: SlotCredential) -> WriteTxn<'o, Slots> {
        o.prepare_slots(o.locked().unwrap(), cred)
            .unwrap()
            .begin()
            .unwrap()
    }

    fn pw() -> Credential {
        Credential::Passphrase(pass("pw"))
    }

    /// The keyring account of slot `id` of `v`.
    fn account_of(v: &Vault, id: SlotId) -> String {
        let h = v.header();
        vault::slot_account(&h.vault_id, h.keys.slot(id).unwrap()).unwrap()
    }

    /// A version control that tracks every file or none, and counts how
    /// often it was asked.
    #[derive(Default)]
    struct FakeGit {
        tracks: Cell<bool>,
        asked: Cell<u32>,
    }

    impl VersionControl for FakeGit {
        fn tracks(&self, _: &Path) -> bool {
            self.asked.set(self.asked.get() + 1);
            self.tracks.get()
        }
    }

    /// A temp dir with a vault `t.vault` (one passphrase slot "pw"); every
    /// opener shares one rollback memory, one fake git, and records its
    /// notices.
    struct World {
        dir: tempfile::TempDir,
        store: MemoryKeyStore,
        memory: InMemory,
        clock: FixedClock,
        git: FakeGit,
        notices: Rc<RefCell<Vec<Notice>>>,
        notify: Box<dyn Fn(&Notice)>,
    }

    impl World {
        fn new() -> World {
            let notices = Rc::new(RefCell::new(Vec::new()));
            let sink = Rc::clone(&notices);
            let w = World {
                dir: tempfile::tempdir().unwrap(),
                store: MemoryKeyStore::default(),
                memory: InMemory::default(),
                clock: FixedClock(1_000),
                git: FakeGit::default(),
                notices,
                notify: Box::new(move |n: &Notice| sink.borrow_mut().push(n.clone())),
            };
            let p = pass("pw");
            w.opener()
                .create(&[NewSlot::Passphrase(&p, CHEAP)])
                .unwrap();
            w
        }

        fn path(&self) -> PathBuf {
            self.at("t.vault")
        }

        fn at(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn opener(&self) -> Opener<'_> {
            self.opener_at(&self.path())
        }

        fn opener_at(&self, p: &Path) -> Opener<'_> {
            Opener::new(p, p, &self.store, &self.memory)
                .clock(&self.clock)
                .version_control(&self.git)
                .on_notice(&*self.notify)
        }

        fn set(&self, name: &str, value: &str) {
            self.set_at(&self.path(), name, value).unwrap();
        }

        fn set_at(&self, p: &Path, name: &str, value: &str) -> Result<()> {
            let o = self.opener_at(p);
            let mut txn = o.prepare(o.locked()?, pw())?.begin()?;
            txn.set(name, pass(value))?;
            txn.commit().map(drop)
        }

        fn read(&self) -> Result<Vault> {
            self.read_at(&self.path())
        }

        fn read_at(&self, p: &Path) -> Result<Vault> {
            let o = self.opener_at(p);
            o.prepare(o.locked()?, pw())?.read()
        }

        /// A new master key for the vault at `p` (its one passphrase slot).
        fn rekey_at(&self, p: &Path) {
            let o = self.opener_at(p);
            let prepared = o
                .prepare_slots(o.locked().unwrap(), SlotCredential::passphrase(pass("pw")))
                .unwrap();
            let id = prepared.header().keys.slots[0].id;
            let k = prepared
                .passphrase_slot_key(id, &pass("pw"))
                .unwrap()
                .unwrap();
            let mut txn = prepared.begin().unwrap();
            txn.rekey(&[k], &[], RemovedEntries::Keep, RotatePending::Mark)
                .unwrap();
            txn.commit().unwrap();
        }

        fn copy(&self, from: &Path, to: &Path) {
            std::fs::copy(from, to).unwrap();
        }

        fn remembered(&self, p: &Path) -> Record {
            self.memory.recall(&MemoryKey::for_path(p)).unwrap()
        }

        fn commitment(&self, p: &Path) -> KeyCommitment {
            KeyCommitment(
                self.opener_at(p)
                    .locked()
                    .unwrap()
                    .header()
                    .keys
                    .master_commitment,
            )
        }

        fn take_notices(&self) -> Vec<Notice> {
            std::mem::take(&mut *self.notices.borrow_mut())
        }
    }

    #[test]
    fn a_writer_opens_the_file_again_under_the_lock() {
        let w = World::new();
        let o = w.opener();
        // Prepared (the KDF done) on generation 1 ...
        let prepared = o.prepare(o.locked().unwrap(), pw()).unwrap();
        // ... while another writer commits generation 2.
        w.set("OTHER", "theirs");
        let mut txn = prepared.begin().unwrap();
        assert_eq!(txn.vault().header().generation, 2);
        txn.set("MINE", pass("ours")).unwrap();
        assert_eq!(txn.commit().unwrap().generation, 3);
        let v = w.read().unwrap();
        assert!(v.get("OTHER").is_some() && v.get("MINE").is_some());
    }

    #[test]
    fn the_clock_stamps_secrets() {
        let w = World::new();
        w.set("A", "1");
        let v = w.read().unwrap();
        let e = v.get("A").unwrap();
        assert_eq!((e.created, e.updated), (1_000, 1_000));
    }

    #[test]
    fn an_older_copy_is_refused_then_accepted_once_when_allowed() {
        let w = World::new();
        w.set("A", "1");
        let old = std::fs::read(w.path()).unwrap();
        w.set("A", "2");
        std::fs::write(w.path(), &old).unwrap();
        let e = w.read().unwrap_err();
        assert!(
            matches!(
                e,
                Error::Rollback {
                    found: 2,
                    remembered: 3,
                    ..
                }
            ),
            "{e}"
        );
        // A writer is refused the same way, and writes nothing.
        let o = w.opener();
        let prepared = o.prepare(o.locked().unwrap(), pw()).unwrap();
        assert!(matches!(prepared.begin(), Err(Error::Rollback { .. })));
        assert_eq!(std::fs::read(w.path()).unwrap(), old);
        // Accepted once, deliberately: the memory now holds generation 2.
        let o = w.opener().allow_rollback(true);
        o.prepare(o.locked().unwrap(), pw())
            .unwrap()
            .read()
            .unwrap();
        let v = w.read().unwrap();
        assert_eq!(v.header().generation, 2);
    }

    #[test]
    fn a_reader_behind_a_concurrent_commit_is_not_called_a_rollback() {
        let w = World::new();
        w.set("A", "1");
        let o = w.opener();
        // The reader read generation 2 ...
        let prepared = o.prepare(o.locked().unwrap(), pw()).unwrap();
        // ... a writer commits 3 and raises the memory before the reader
        // checks it: the recheck under the lock opens 3.
        w.set("B", "2");
        let v = prepared.read().unwrap();
        assert_eq!(v.header().generation, 3);
        assert!(v.get("B").is_some());
    }

    #[test]
    fn a_dropped_transaction_deletes_the_keyring_entry_it_made() {
        let w = World::new();
        let o = w.opener();
        let cred = SlotCredential::passphrase(pass("pw"));
        let mut txn = begin_slots(&o, cred);
        let id = txn.add_keyring_slot().unwrap();
        let account = account_of(txn.vault(), id);
        assert!(w.store.get(&account).is_ok());
        drop(txn);
        assert!(matches!(w.store.get(&account), Err(KeyringError::NoEntry)));
        assert_eq!(w.read().unwrap().header().keys.slots.len(), 1);
        // Committed, the entry stays and opens the vault.
        let cred = SlotCredential::passphrase(pass("pw"));
        let mut txn = begin_slots(&o, cred);
        txn.add_keyring_slot().unwrap();
        txn.commit().unwrap();
        let locked = o.locked().unwrap();
        let kc = o.keyring_credential(&locked).unwrap();
        let v = o.prepare_slots(locked, kc).unwrap().read().unwrap();
        assert!(matches!(v.opened_by(), OpenedBy::Slot(_)));
    }

    /// The names and rotate-pending marks of the vault.
    fn pending(v: &Vault) -> Vec<(String, bool)> {
        v.entries()
            .map(|e| (e.name.to_string(), e.marks.rotate_pending))
            .collect()
    }

    #[test]
    fn removing_a_slot_rotates_every_key_and_marks_what_it_could_read() {
        let w = World::new();
        let o = w.opener();
        let begin = || begin_slots(&o, SlotCredential::passphrase(pass("pw")));
        let mut txn = begin();
        let alice = o.new_passphrase_key(&pass("alice"), CHEAP).unwrap();
        let alice = txn.add_passphrase_slot(alice).unwrap();
        txn.commit().unwrap();
        w.set("A", "1");
        w.set("B", "2");
        let before = w.read().unwrap();
        let (old_mk, old_bk) = (
            before.master_key().unwrap().clone(),
            before.body_key().clone(),
        );
        let copy = std::fs::read(w.path()).unwrap();

        let mut txn = begin();
        let exposed = txn
            .rekey(&[], &[alice], RemovedEntries::Keep, RotatePending::Mark)
            .unwrap();
        txn.commit().unwrap();
        let names: Vec<(&str, u64)> = exposed
            .iter()
            .map(|e| (e.name.as_str(), e.updated))
            .collect();
        assert_eq!(names, [("A", 1_000), ("B", 1_000)]);
        let v = w.read().unwrap();
        // A new master key and body key (the fingerprint key: in vault.rs).
        assert!(!v.master_key().unwrap().ct_eq(&old_mk));
        assert!(!v.body_key().ct_eq(&old_bk));
        assert_eq!(
            pending(&v),
            [("A".to_string(), true), ("B".to_string(), true)]
        );
        // The removed passphrase opens nothing, and the old copy's body key
        // does not open the new file.
        let alice_pass = Credential::Passphrase(pass("alice"));
        assert!(matches!(
            o.prepare(o.locked().unwrap(), alice_pass),
            Err(Error::WrongPassphrase(_))
        ));
        assert!(LockedVault::parse(&w.at("old"), copy)
            .unwrap()
            .unlock(&Credential::Passphrase(pass("alice")))
            .is_ok());
        assert!(matches!(
            o.prepare(o.locked().unwrap(), Credential::BodyKey(old_bk)),
            Err(Error::StaleCachedKey(_))
        ));
        // The same value keeps the mark; a new one clears it.
        w.set("A", "1");
        assert!(w.read().unwrap().get("A").unwrap().marks.rotate_pending);
        w.set("A", "new");
        assert_eq!(
            pending(&w.read().unwrap()),
            [("A".to_string(), false), ("B".to_string(), true)]
        );
    }

    /// Review finding: opened through the cached body key, a writer who
    /// rewrote the key block in the window before the lock (a master-key
    /// commitment of their own, the remembered lineage key, the same body
    /// key) must not be taken: under the lock that is a cache miss, and the
    /// memory keeps the master key it held.
    #[test]
    fn a_key_block_changed_before_a_cached_write_is_a_cache_miss_and_never_learnt() {
        use crate::format::{self, FileHeader};
        let w = World::new();
        w.set("A", "1");
        let v = w.read().unwrap();
        let bk = v.body_key().clone();
        let remembered = w.memory.recall(&MemoryKey::for_path(&w.path())).unwrap();
        let o = w.opener();
        let prepared = o
            .prepare(o.locked().unwrap(), Credential::BodyKey(bk.clone()))
            .unwrap();
        // The body-key holder's rewrite: same body key and body, another
        // master-key commitment, one generation later.
        let bytes = std::fs::read(w.path()).unwrap();
        let f = format::parse_any(&bytes).unwrap();
        let FileHeader::V2(mut h) = f.header else {
            panic!("a version-2 file")
        };
        let mut body = f.ciphertext.to_vec();
        crate::crypto::open_in_place(&bk, &h.body_nonce, f.aad, &mut body).unwrap();
        h.keys.master_commitment = [9; 32];
        h.generation += 1;
        h.body_nonce = crate::crypto::random_nonce();
        let prefix = format::write_prefix_v2(&h);
        crate::crypto::seal_in_place(&bk, &h.body_nonce, &prefix, &mut body);
        std::fs::write(w.path(), [prefix, body].concat()).unwrap();
        assert!(matches!(
            prepared.begin().map(drop),
            Err(Error::ChangedWhileOpening { .. })
        ));
        let after = w.memory.recall(&MemoryKey::for_path(&w.path())).unwrap();
        assert_eq!(after.last.commitment, remembered.last.commitment);
        assert_eq!(after.last.lineage, remembered.last.lineage);
    }

    #[test]
    fn a_rekey_without_a_drop_or_a_removal_told_not_to_marks_nothing() {
        let w = World::new();
        let o = w.opener();
        let begin = || begin_slots(&o, SlotCredential::passphrase(pass("pw")));
        let mut txn = begin();
        let extra = o.new_passphrase_key(&pass("mistake"), CHEAP).unwrap();
        let extra = txn.add_passphrase_slot(extra).unwrap();
        txn.commit().unwrap();
        w.set("A", "1");
        let mut txn = begin();
        let exposed = txn
            .rekey(&[], &[], RemovedEntries::Keep, RotatePending::Mark)
            .unwrap();
        txn.commit().unwrap();
        assert!(exposed.is_empty());
        assert_eq!(pending(&w.read().unwrap()), [("A".to_string(), false)]);
        let mut txn = begin();
        let exposed = txn
            .rekey(&[], &[extra], RemovedEntries::Keep, RotatePending::Skip)
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(exposed.len(), 1, "still said what it could have read");
        assert_eq!(pending(&w.read().unwrap()), [("A".to_string(), false)]);
    }

    #[test]
    fn a_removed_keyring_slot_keeps_its_entry_and_a_copy_still_opens_through_it() {
        let w = World::new();
        let o = w.opener();
        let begin = || begin_slots(&o, SlotCredential::passphrase(pass("pw")));
        let mut txn = begin();
        let id = txn.add_keyring_slot().unwrap();
        let account = account_of(txn.vault(), id);
        txn.commit().unwrap();
        let copy = std::fs::read(w.path()).unwrap();
        let mut txn = begin();
        txn.rekey(&[], &[id], RemovedEntries::Keep, RotatePending::Mark)
            .unwrap();
        let done = txn.commit().unwrap();
        assert!(matches!(&done.keyring_entries[..],
            [RemovedEntry { slot, account: a, slot_kept: false, outcome: EntryOutcome::Kept }] if *slot == id && *a == account));
        assert!(w.store.get(&account).is_ok());
        // A copy made before the removal still opens through the keyring.
        let locked = LockedVault::parse(&w.path(), copy.clone()).unwrap();
        let kc = o.keyring_credential(&locked).unwrap();
        o.prepare_slots(locked, kc).unwrap();
    }

    #[test]
    fn a_removed_keyring_slot_loses_its_entry_when_asked_only_after_the_commit_and_only_if_ours() {
        let w = World::new();
        let o = w.opener();
        let begin = || begin_slots(&o, SlotCredential::passphrase(pass("pw")));
        let mut txn = begin();
        let id = txn.add_keyring_slot().unwrap();
        let account = account_of(txn.vault(), id);
        txn.commit().unwrap();
        // Removed but not committed: the entry stays.
        let mut txn = begin();
        txn.rekey(&[], &[id], RemovedEntries::Delete, RotatePending::Mark)
            .unwrap();
        drop(txn);
        assert!(w.store.get(&account).is_ok());
        let mut txn = begin();
        txn.rekey(&[], &[id], RemovedEntries::Delete, RotatePending::Mark)
            .unwrap();
        let done = txn.commit().unwrap();
        assert!(matches!(&done.keyring_entries[..],
            [RemovedEntry { slot, account: a, slot_kept: false, outcome: EntryOutcome::Deleted }] if *slot == id && *a == account));
        assert!(w.store.get(&account).is_err());
        // A foreign key under a removed slot's account is left alone.
        let mut txn = begin();
        let id = txn.add_keyring_slot().unwrap();
        let account = account_of(txn.vault(), id);
        txn.commit().unwrap();
        w.store.delete(&account).unwrap();
        let foreign = Key::random();
        w.store.create(&account, &foreign).unwrap();
        let mut txn = begin();
        txn.rekey(&[], &[id], RemovedEntries::Delete, RotatePending::Mark)
            .unwrap();
        let done = txn.commit().unwrap();
        assert!(matches!(
            done.keyring_entries[..],
            [RemovedEntry {
                outcome: EntryOutcome::NotThisVaults,
                ..
            }]
        ));
        assert_eq!(w.store.get(&account).unwrap().expose(), foreign.expose());
    }

    #[test]
    fn a_passphrase_changed_between_prepare_and_begin_is_asked_for_again_under_the_lock() {
        let w = World::new();
        let o = w.opener();
        let prepared = o.prepare(o.locked().unwrap(), pw()).unwrap();
        // Another process changes the passphrase meanwhile.
        let slot = o.locked().unwrap().header().keys.slots[0].id;
        let cred = SlotCredential::passphrase(pass("pw"));
        let key = o.new_passphrase_key(&pass("new"), CHEAP).unwrap();
        let mut txn = begin_slots(&o, cred);
        txn.change_passphrase(slot, key).unwrap();
        txn.commit().unwrap();
        // The old passphrase no longer opens it: one message, no change.
        let e = prepared.begin().err().unwrap();
        assert!(
            e.to_string().contains(crate::error::WRONG_PASSPHRASE),
            "{e}"
        );
    }

    #[test]
    fn rekey_rewraps_every_slot_from_its_public_key_and_refuses_keys_gone_stale() {
        let w = World::new();
        let o = w.opener();
        let cred = || SlotCredential::passphrase(pass("pw"));
        let mut txn = begin_slots(&o, cred());
        let kr = txn.add_keyring_slot().unwrap();
        let extra = o.new_passphrase_key(&pass("second"), CHEAP).unwrap();
        let pp2 = txn.add_passphrase_slot(extra).unwrap();
        txn.commit().unwrap();
        w.set("A", "value");

        // A key worked out before another process changed that slot.
        let prepared = o.prepare_slots(o.locked().unwrap(), cred()).unwrap();
        let k3 = prepared
            .passphrase_slot_key(pp2, &pass("second"))
            .unwrap()
            .unwrap();
        assert!(prepared
            .passphrase_slot_key(pp2, &pass("no"))
            .unwrap()
            .is_none());
        let key = o.new_passphrase_key(&pass("third"), CHEAP).unwrap();
        let mut other = begin_slots(&o, cred());
        other.change_passphrase(pp2, key).unwrap();
        other.commit().unwrap();
        let mut txn = prepared.begin().unwrap();
        let e = txn
            .rekey(&[k3], &[], RemovedEntries::Keep, RotatePending::Mark)
            .unwrap_err();
        assert!(e.to_string().contains("changed"), "{e}");
        drop(txn);

        // No other slot's key is needed: a new master key, every slot
        // re-wrapped to its recipient, and every credential still opens it.
        let before = o.locked().unwrap().header().keys.master_commitment;
        let prepared = o.prepare_slots(o.locked().unwrap(), cred()).unwrap();
        let mut txn = prepared.begin().unwrap();
        txn.rekey(&[], &[], RemovedEntries::Keep, RotatePending::Mark)
            .unwrap();
        txn.commit().unwrap();
        let locked = o.locked().unwrap();
        assert_ne!(locked.header().keys.master_commitment, before);
        assert!(locked.header().keys.slot(kr).is_some());
        let kc = o.keyring_credential(&locked).unwrap();
        let v = o.prepare_slots(locked, kc).unwrap().read().unwrap();
        assert_eq!(v.get("A").unwrap().expose_value(), b"value");
        for p in ["pw", "third"] {
            let c = Credential::Passphrase(pass(p));
            o.prepare(o.locked().unwrap(), c).unwrap().read().unwrap();
        }
    }

    #[test]
    fn rekey_gives_this_machines_keyring_slot_a_fresh_identity_and_keeps_the_old_entry() {
        let w = World::new();
        let o = w.opener();
        let cred = || SlotCredential::passphrase(pass("pw"));
        let mut txn = begin_slots(&o, cred());
        let kr = txn.add_keyring_slot().unwrap();
        txn.commit().unwrap();
        w.set("A", "value");
        let old_account = account_of(&w.read().unwrap(), kr);
        let copied = w.store.get(&old_account).unwrap();
        for entries in [RemovedEntries::Keep, RemovedEntries::Delete] {
            let mut txn = begin_slots(&o, cred());
            let before = account_of(txn.vault(), kr);
            txn.rekey(&[], &[], entries, RotatePending::Mark).unwrap();
            let done = txn.commit().unwrap();
            let v = w.read().unwrap();
            let now = account_of(&v, kr);
            assert_ne!(now, before, "a fresh identity, under a new account");
            // The keyring slot opens through its new entry...
            let kc = o.keyring_credential(&o.locked().unwrap()).unwrap();
            o.prepare_slots(o.locked().unwrap(), kc)
                .unwrap()
                .read()
                .unwrap();
            // ...and the key copied before no longer does.
            let stale = Credential::SlotKey {
                slot: kr,
                kek: copied.clone(),
            };
            assert!(o.prepare(o.locked().unwrap(), stale).is_err());
            match entries {
                RemovedEntries::Keep => {
                    assert!(w.store.get(&before).is_ok(), "kept for copies");
                    assert!(done
                        .keyring_entries
                        .iter()
                        .any(|e| e.account == before && matches!(e.outcome, EntryOutcome::Kept)));
                }
                RemovedEntries::Delete => {
                    assert!(w.store.get(&before).is_err(), "deleted when asked");
                }
            }
        }
    }

    #[test]
    fn a_fork_replacing_the_file_is_refused_until_allowed() {
        let w = World::new();
        let (t, b) = (w.path(), w.at("b.vault"));
        w.set("A", "1");
        w.copy(&t, &b);
        // Two writes from generation 2: one here, one in the copy.
        w.set("MINE", "x");
        w.set_at(&b, "THEIRS", "y").unwrap();
        w.copy(&b, &t);
        let e = w.read().unwrap_err();
        assert!(matches!(e, Error::Fork { generation: 3, .. }), "{e}");
        let before = std::fs::read(&t).unwrap();
        assert!(matches!(w.set_at(&t, "C", "z"), Err(Error::Fork { .. })));
        assert_eq!(std::fs::read(&t).unwrap(), before, "a refused write wrote");
        // Accepted deliberately: from then on it is what the path holds.
        let o = w.opener().allow_rollback(true);
        o.prepare(o.locked().unwrap(), pw())
            .unwrap()
            .read()
            .unwrap();
        assert!(w.read().unwrap().get("THEIRS").is_some());
        w.set("C", "z");
    }

    #[test]
    fn replicas_at_two_paths_do_not_affect_each_other() {
        let w = World::new();
        let (t, b) = (w.path(), w.at("b.vault"));
        w.set("A", "1");
        w.copy(&t, &b);
        w.read_at(&b).unwrap();
        w.set("A", "2");
        w.set("A", "3");
        // The older replica opens and takes writes at its own path ...
        assert_eq!(w.read_at(&b).unwrap().header().generation, 2);
        w.set_at(&b, "B", "1").unwrap();
        // ... and rekeying it leaves the original alone.
        w.rekey_at(&b);
        assert_eq!(w.read().unwrap().header().generation, 4);
        w.set("A", "4");
        assert!(w.take_notices().is_empty());
    }

    #[test]
    fn a_foreign_file_with_the_same_id_elsewhere_cannot_lock_out_the_vault() {
        let w = World::new();
        let (t, f) = (w.path(), w.at("foreign.vault"));
        w.set("A", "1");
        w.copy(&t, &f);
        for i in 0..5 {
            w.set_at(&f, "A", &i.to_string()).unwrap();
        }
        assert_eq!(w.read_at(&f).unwrap().header().generation, 7);
        // The vault's own path never saw generation 7.
        assert_eq!(w.read().unwrap().header().generation, 2);
        w.set("A", "2");
        assert_eq!(w.remembered(&t).last.generation, 3);
    }

    #[test]
    fn a_retired_key_is_refused_at_any_generation_and_never_written() {
        let w = World::new();
        let (t, c) = (w.path(), w.at("c.vault"));
        w.set("A", "1");
        let old = std::fs::read(&t).unwrap();
        let old_key = w.commitment(&t);
        w.copy(&t, &c);
        w.rekey_at(&t);
        assert_eq!(w.remembered(&t).retired, [old_key]);
        // The file from before the rekey, put back: refused, as retired.
        std::fs::write(&t, &old).unwrap();
        let e = w.read().unwrap_err();
        assert!(matches!(e, Error::RetiredKey { generation: 2, .. }), "{e}");
        // The old key at a later generation than the rekeyed file's (a
        // copy written on since): still refused.
        for i in 0..4 {
            w.set_at(&c, "A", &i.to_string()).unwrap();
        }
        w.copy(&c, &t);
        let e = w.read().unwrap_err();
        assert!(matches!(e, Error::RetiredKey { generation: 6, .. }), "{e}");
        // Deliberately: read with a notice, never written.
        let o = w.opener().allow_rollback(true);
        o.prepare(o.locked().unwrap(), pw())
            .unwrap()
            .read()
            .unwrap();
        assert!(matches!(
            w.take_notices()[..],
            [Notice::RetiredRead { tracked: false, .. }]
        ));
        let begun = o.prepare(o.locked().unwrap(), pw()).unwrap().begin();
        assert!(matches!(begun, Err(Error::RetiredKey { .. })));
        assert!(matches!(w.read(), Err(Error::RetiredKey { .. })));
    }

    #[test]
    fn a_new_key_at_a_later_generation_is_accepted_with_a_notice_and_the_old_one_retired() {
        let w = World::new();
        let (t, b) = (w.path(), w.at("b.vault"));
        w.set("A", "1");
        let old = std::fs::read(&t).unwrap();
        let old_key = w.commitment(&t);
        // Rekeyed elsewhere (a teammate, a copy), then copied here.
        w.copy(&t, &b);
        w.rekey_at(&b);
        w.copy(&b, &t);
        assert!(w.take_notices().is_empty());
        assert_eq!(w.read().unwrap().header().generation, 3);
        assert!(matches!(
            w.take_notices()[..],
            [Notice::NewKey { generation: 3, .. }]
        ));
        assert_eq!(w.remembered(&t).retired, [old_key]);
        // Said once: the next open is the file remembered.
        w.read().unwrap();
        assert!(w.take_notices().is_empty());
        std::fs::write(&t, &old).unwrap();
        assert!(matches!(w.read(), Err(Error::RetiredKey { .. })));
    }

    #[test]
    fn a_new_key_at_an_older_or_the_same_generation_is_no_way_around_the_rules() {
        let w = World::new();
        let (t, b) = (w.path(), w.at("b.vault"));
        w.copy(&t, &b);
        w.set("A", "1");
        let ours = std::fs::read(&t).unwrap();
        w.rekey_at(&b); // generation 2 too, under a new key
        w.copy(&b, &t);
        assert!(matches!(w.read(), Err(Error::Fork { generation: 2, .. })));
        std::fs::write(&t, &ours).unwrap();
        w.set("A", "2");
        w.copy(&b, &t);
        assert!(matches!(
            w.read(),
            Err(Error::Rollback {
                found: 2,
                remembered: 3,
                ..
            })
        ));
    }

    #[test]
    fn git_is_asked_only_when_a_refusal_would_otherwise_happen() {
        let w = World::new();
        w.git.tracks.set(true);
        w.set("A", "1");
        w.read().unwrap();
        let (t, b) = (w.path(), w.at("b.vault"));
        w.copy(&t, &b);
        w.rekey_at(&b);
        w.copy(&b, &t);
        w.read().unwrap(); // a new key: a notice, no question
        assert_eq!(w.git.asked.get(), 0);
        let old = std::fs::read(&t).unwrap();
        w.set("A", "2");
        std::fs::write(&t, &old).unwrap();
        w.read().unwrap();
        assert_eq!(w.git.asked.get(), 1);
    }

    #[test]
    fn in_a_tracked_file_an_older_generation_or_a_fork_is_a_notice_for_reads_and_writes() {
        let w = World::new();
        w.git.tracks.set(true);
        let (t, b) = (w.path(), w.at("b.vault"));
        w.set("A", "1");
        let old = std::fs::read(&t).unwrap();
        w.copy(&t, &b);
        w.set("A", "2");
        w.set("A", "3");
        // A checkout of an older commit.
        std::fs::write(&t, &old).unwrap();
        assert_eq!(w.read().unwrap().header().generation, 2);
        assert!(matches!(
            w.take_notices()[..],
            [Notice::Tracked {
                found: 2,
                verdict: Verdict::Older { remembered: 4 },
                ..
            }]
        ));
        w.set("B", "on the old checkout");
        // A merge that took the other side's generation 4.
        w.set_at(&b, "X", "1").unwrap();
        w.set_at(&b, "X", "2").unwrap();
        w.copy(&b, &t);
        w.take_notices();
        w.read().unwrap();
        assert!(matches!(
            w.take_notices()[..],
            [Notice::Tracked {
                verdict: Verdict::Fork,
                ..
            }]
        ));
        w.set("C", "after the merge");
        assert_eq!(w.remembered(&t).last.generation, 5);
        // Untracked, the same file is refused.
        w.git.tracks.set(false);
        std::fs::write(&t, &old).unwrap();
        assert!(matches!(w.read(), Err(Error::Rollback { .. })));
    }

    #[test]
    fn in_a_tracked_file_a_retired_key_is_refused_and_read_only_when_asked() {
        let w = World::new();
        w.git.tracks.set(true);
        let t = w.path();
        w.set("A", "1");
        let old = std::fs::read(&t).unwrap();
        w.rekey_at(&t);
        std::fs::write(&t, &old).unwrap();
        // An ex-member holds the retired key: git tracking it is no excuse.
        assert!(matches!(w.read(), Err(Error::RetiredKey { .. })));
        let o = w.opener().allow_rollback(true);
        let read = o.prepare(o.locked().unwrap(), pw()).unwrap().read();
        assert_eq!(read.unwrap().get("A").unwrap().expose_value(), b"1");
        assert!(matches!(
            w.take_notices()[..],
            [Notice::RetiredRead { tracked: true, .. }]
        ));
        assert!(matches!(
            w.set_at(&t, "B", "never written"),
            Err(Error::RetiredKey { .. })
        ));
        assert_eq!(std::fs::read(&t).unwrap(), old);
    }

    #[test]
    fn whatever_opens_the_vault_the_memory_is_checked() {
        let w = World::new();
        let o = w.opener();
        let mut txn = begin_slots(&o, SlotCredential::passphrase(pass("pw")));
        txn.add_keyring_slot().unwrap();
        txn.commit().unwrap();
        let (t, b) = (w.path(), w.at("b.vault"));
        w.copy(&t, &b);
        w.set("A", "1");
        w.set_at(&b, "A", "2").unwrap();
        w.copy(&b, &t);
        let dek = w.read_at(&b).unwrap().body_key().clone();
        let locked = o.locked().unwrap();
        let by_keyring = o.keyring_credential(&locked).unwrap();
        let e = o
            .prepare_slots(locked, by_keyring)
            .unwrap()
            .read()
            .unwrap_err();
        assert!(matches!(e, Error::Fork { .. }), "keyring: {e}");
        let cached = Credential::BodyKey(dek);
        let e = o
            .prepare(o.locked().unwrap(), cached)
            .unwrap()
            .read()
            .unwrap_err();
        assert!(matches!(e, Error::Fork { .. }), "cache: {e}");
        assert!(matches!(w.read(), Err(Error::Fork { .. })), "passphrase");
    }

    #[test]
    fn a_commit_remembers_what_it_wrote_and_a_rekey_retires_the_old_key() {
        let w = World::new();
        let t = w.path();
        let created = w.remembered(&t);
        assert_eq!(created.last, w.read().unwrap().file_state());
        w.set("A", "1");
        let written = w.opener().locked().unwrap().file_state();
        assert_eq!(w.remembered(&t).last, written);
        w.rekey_at(&t);
        let r = w.remembered(&t);
        assert_eq!(r.last, w.opener().locked().unwrap().file_state());
        assert_eq!(r.retired, [written.commitment]);
    }

    #[test]
    fn a_new_vault_where_another_was_starts_afresh() {
        let w = World::new();
        for i in 0..3 {
            w.set("A", &i.to_string());
        }
        std::fs::remove_file(w.path()).unwrap();
        let p = pass("pw");
        w.opener()
            .create(&[NewSlot::Passphrase(&p, CHEAP)])
            .unwrap();
        assert_eq!(w.read().unwrap().header().generation, 1);
    }

    #[test]
    fn a_reader_racing_a_rekey_is_not_called_retired() {
        let w = World::new();
        w.set("A", "1");
        let o = w.opener();
        let prepared = o.prepare(o.locked().unwrap(), pw()).unwrap();
        w.rekey_at(&w.path());
        let v = prepared.read().unwrap();
        assert_eq!(v.header().generation, 3);
    }

    /// An identity opens its recipient slot, writes, and manages slots; a
    /// slot rotated between its opening and the lock is not opened again
    /// (no second plugin run or SSH passphrase prompt under the lock): the
    /// change is refused as changed while opening, and nothing is written.
    #[test]
    fn an_identity_opens_its_recipient_slot_and_a_rotation_before_the_lock_is_noticed() {
        use crate::identities::{load_identities, new_identity_file, Identities, Recipient};
        let w = World::new();
        w.set("A", "1");
        let (text, recipient) = new_identity_file("t");
        let o = w.opener();
        let mut txn = begin_slots(&o, SlotCredential::passphrase(pass("pw")));
        txn.add_recipient_slot(&Recipient::parse(&recipient).unwrap())
            .unwrap();
        txn.commit().unwrap();
        let ids = Identities::new(load_identities(&text, age::NoCallbacks).unwrap());

        let o = w.opener();
        let prepared = o
            .prepare(o.locked().unwrap(), Credential::Identities(ids.clone()))
            .unwrap();
        assert!(matches!(prepared.opened_by(), OpenedBy::Slot(_)));
        let mut txn = prepared.begin().unwrap();
        txn.set("A", pass("2")).unwrap();
        txn.commit().unwrap();
        assert_eq!(w.read().unwrap().get("A").unwrap().expose_value(), b"2");
        let mut txn = begin_slots(&o, SlotCredential::identities(ids.clone()));
        txn.add_keyring_slot().unwrap();
        txn.commit().unwrap();

        // Prepared by identity; another process rotates before the lock.
        let prepared = o
            .prepare(o.locked().unwrap(), Credential::Identities(ids.clone()))
            .unwrap();
        w.rekey_at(&w.path());
        let rotated = std::fs::read(w.path()).unwrap();
        assert!(matches!(
            prepared.begin().err(),
            Some(Error::ChangedWhileOpening { .. })
        ));
        assert_eq!(std::fs::read(w.path()).unwrap(), rotated);
        // The rotated file opens with the identity again (re-wrapped to it).
        let o = w.opener();
        o.prepare(o.locked().unwrap(), Credential::Identities(ids))
            .unwrap()
            .read()
            .unwrap();
    }

    /// A passphrase and an identity given together: either opens; when
    /// neither does, the one wrong-passphrase answer.
    #[test]
    fn identities_or_passphrase_tries_both_and_answers_once() {
        use crate::identities::{load_identities, new_identity_file, Identities, Recipient};
        let w = World::new();
        let (text, recipient) = new_identity_file("t");
        let (other, _) = new_identity_file("t");
        let o = w.opener();
        let mut txn = begin_slots(&o, SlotCredential::passphrase(pass("pw")));
        txn.add_recipient_slot(&Recipient::parse(&recipient).unwrap())
            .unwrap();
        // The same recipient twice is refused.
        assert!(matches!(
            txn.add_recipient_slot(&Recipient::parse(&recipient).unwrap()),
            Err(Error::RecipientInUse(_))
        ));
        txn.commit().unwrap();
        let mine = Identities::new(load_identities(&text, age::NoCallbacks).unwrap());
        let theirs = Identities::new(load_identities(&other, age::NoCallbacks).unwrap());
        let open = |ids: &Identities, p: &str| {
            o.prepare(
                o.locked().unwrap(),
                Credential::IdentitiesOrPassphrase(ids.clone(), pass(p)),
            )
            .map(|p| p.opened_by())
        };
        assert!(open(&mine, "wrong").is_ok());
        assert!(open(&theirs, "pw").is_ok());
        assert!(matches!(
            open(&theirs, "wrong"),
            Err(Error::WrongPassphrase(_))
        ));
        assert!(matches!(
            o.prepare(o.locked().unwrap(), Credential::Identities(theirs)),
            Err(Error::WrongPassphrase(_))
        ));
    }
}
