//! The vault in memory: [`LockedVault`] (parsed, still encrypted) and
//! [`Vault`] (unlocked: the data key and the secrets), with the operations
//! the commands need. No file I/O here: bytes in, bytes out.

use std::path::{Path, PathBuf};

use crate::body_edit::{Entry, Secrets};
use crate::crypto::{self, KdfRefused};
use crate::error::{Error, NameProblem, Result};
use crate::format::{
    self, EntryRef, FormatError, Header, KdfParams, Slot, SlotId, SlotKind, VaultId,
};
use crate::platform::available_memory_kib;
use crate::rollback::{ContentDigest, FileState, KeyCommitment};
use crate::secret::{Key, SecretBytes};
use crate::slots::{self, keyring_account, KeyStore, KeyringError, SlotRef};

pub use format::MAX_NAME_LEN;

pub use crate::error::NAME_RULE;

/// Checks a secret name ([`format::is_valid_name`]). The message does not
/// repeat the name.
pub fn validate_name(name: &str) -> Result<()> {
    match NameProblem::of(name) {
        None => Ok(()),
        Some(p) => Err(Error::InvalidName(p)),
    }
}

/// Checks a value's size.
pub fn validate_value(value: &[u8]) -> Result<()> {
    if value.len() > format::MAX_VALUE_LEN {
        return Err(Error::ValueTooLarge { len: value.len() });
    }
    Ok(())
}

fn format_error(path: &Path, e: FormatError) -> Error {
    match e {
        FormatError::Corrupt(d) => Error::Corrupt {
            path: path.to_path_buf(),
            detail: d.to_string(),
        },
        FormatError::KdfOutOfBounds(d) => Error::Corrupt {
            path: path.to_path_buf(),
            detail: format!("a passphrase slot's {d}"),
        },
        FormatError::KdfOverBudget => Error::OverKdfBudget {
            path: path.to_path_buf(),
        },
        FormatError::UnsupportedVersion(version) => Error::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        },
    }
}

/// The slot `r` names in `header`, if it is a passphrase slot; otherwise
/// an error naming it (no such slot, or not a passphrase slot).
pub fn named_passphrase_slot<'h>(header: &'h Header, r: &SlotRef) -> Result<&'h Slot> {
    let s = r.find(header).ok_or(match r {
        SlotRef::Id(id) => Error::SlotNotFound(*id),
    })?;
    match s.kind {
        SlotKind::Passphrase { .. } => Ok(s),
        SlotKind::Keyring => Err(Error::NotAPassphraseSlot(s.id)),
    }
}

/// Whether a passphrase slot with `params` fits in the KDF budget
/// (`format::kdf::BUDGET`) next to the passphrase slots of `header`, slot
/// `replacing` left out (its passphrase is being changed). Checked before
/// the new slot's KDF runs, and again under the write lock.
pub fn check_kdf_budget(
    header: &Header,
    params: KdfParams,
    replacing: Option<SlotId>,
) -> Result<()> {
    format::kdf::add_to_budget(header.kdf_cost(replacing), params)
        .map(drop)
        .map_err(Error::NewSlotOverKdfBudget)
}

pub(crate) fn kdf_error(e: KdfRefused, new_slot: bool, path: &Path) -> Error {
    match e {
        KdfRefused::OutOfBounds(d) if new_slot => Error::KdfParams(d),
        KdfRefused::OutOfBounds(d) => Error::Corrupt {
            path: path.to_path_buf(),
            detail: d,
        },
        KdfRefused::NotEnoughMemory {
            needed_kib,
            available_kib,
        } => Error::NotEnoughMemory {
            needed_kib,
            available_kib,
            new_slot,
        },
    }
}

/// What opened a vault: a slot (passphrase or keyring), the cached data
/// key, or nothing (a vault just created in memory). Slot management needs
/// a slot: see `open::SlotCredential`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenedBy {
    /// This slot's key unwrapped the data key.
    Slot(SlotId),
    /// The cached data key (`vault unlock`).
    Cache,
    /// Made by [`Vault::create`].
    Creation,
}

/// Keys worked out from a credential against one header: the slot key
/// (when a slot opened it) and the data key, checked against the header's
/// commitment. Made before the write lock is taken, so a slow credential
/// (Argon2, the keyring) is never worked on while holding it.
pub(crate) struct Derived {
    pub(crate) by: OpenedBy,
    pub(crate) kek: Option<Key>,
    pub(crate) dek: Key,
}

/// What opens a vault.
pub enum Credential {
    /// A passphrase: tried against every passphrase slot.
    Passphrase(SecretBytes),
    /// A keyring slot's key-encryption key, already fetched.
    SlotKey {
        /// The slot it belongs to.
        slot: SlotId,
        /// The key.
        kek: Key,
    },
    /// The data key itself (a cached unlock).
    DataKey(Key),
}

/// A parsed vault file whose body is still encrypted.
#[derive(Debug, Clone)]
pub struct LockedVault {
    path: PathBuf,
    bytes: Vec<u8>,
    header: Header,
    aad_len: usize,
}

impl LockedVault {
    /// Parses the file bytes read from `path` (the path is for messages).
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<LockedVault> {
        let (header, aad_len) = {
            let f = format::parse(&bytes).map_err(|e| format_error(path, e))?;
            (f.header, f.aad.len())
        };
        Ok(LockedVault {
            path: path.to_path_buf(),
            bytes,
            header,
            aad_len,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The vault file path this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file as read: key commitment, generation, content digest. Not
    /// authenticated until the vault is opened (`vault doctor` shows it).
    pub fn file_state(&self) -> FileState {
        file_state(&self.header, content_digest(&self.bytes, self.aad_len))
    }

    /// Whether `dek` is this vault's data key (checked against the
    /// commitment; for a cached key that may be stale after a rekey).
    pub fn data_key_matches(&self, dek: &Key) -> bool {
        crypto::check_commitment(dek, &self.header.commitment)
    }

    /// Whether the vault has a keyring slot.
    pub fn has_keyring_slot(&self) -> bool {
        self.header
            .slots
            .iter()
            .any(|s| s.kind == SlotKind::Keyring)
    }

    /// Whether the vault has a passphrase slot.
    pub fn has_passphrase_slot(&self) -> bool {
        self.header
            .slots
            .iter()
            .any(|s| matches!(s.kind, SlotKind::Passphrase { .. }))
    }

    /// Fetches the key of the first keyring slot whose entry the store has.
    /// The error is the reason of the last slot tried.
    pub fn fetch_keyring_credential(
        &self,
        store: &dyn KeyStore,
    ) -> Result<Credential, KeyringError> {
        let mut last = KeyringError::NoEntry;
        for s in self
            .header
            .slots
            .iter()
            .filter(|s| s.kind == SlotKind::Keyring)
        {
            match store.get(&keyring_account(&self.header.vault_id, s.id)) {
                Ok(kek) => return Ok(Credential::SlotKey { slot: s.id, kek }),
                Err(e @ KeyringError::NoEntry) | Err(e @ KeyringError::BadEntry) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Opens the vault with `cred`, decrypting the body in the buffer the
    /// file was read into. A wrong passphrase and a tampered passphrase slot
    /// give the same error (exit 3); a body or header that fails
    /// authentication once the data key is known is corrupt (exit 4).
    pub fn unlock(self, cred: &Credential) -> Result<Vault> {
        let d = self.derive(cred, available_memory_kib(), None)?;
        self.open_derived(&d)
    }

    /// Works out the data key from `cred` (the KDF for a passphrase, with
    /// `available_kib` checked first) without touching the body. A
    /// passphrase is tried on the passphrase slots cheapest first
    /// ([`slots::passphrase_try_order`]), or on slot `only` alone.
    pub(crate) fn derive(
        &self,
        cred: &Credential,
        available_kib: Option<u64>,
        only: Option<&SlotRef>,
    ) -> Result<Derived> {
        let h = &self.header;
        let d = match cred {
            Credential::Passphrase(pass) => {
                let order = match only {
                    Some(r) => vec![named_passphrase_slot(h, r)?],
                    None => slots::passphrase_try_order(&h.slots),
                };
                if order.is_empty() {
                    return Err(Error::NoPassphraseSlot(self.path.clone()));
                }
                let mut found = None;
                for s in order {
                    let Some(kek) = slots::passphrase_kek(s, pass.expose(), available_kib) else {
                        continue;
                    };
                    let kek = kek.map_err(|e| kdf_error(e, false, &self.path))?;
                    if let Ok(dek) = slots::open_slot(&h.vault_id, s, &kek) {
                        found = Some(Derived {
                            by: OpenedBy::Slot(s.id),
                            kek: Some(kek),
                            dek,
                        });
                        break;
                    }
                }
                found.ok_or_else(|| Error::WrongPassphrase(self.path.clone()))?
            }
            Credential::SlotKey { slot, kek } => {
                let s = h.slot(*slot).ok_or_else(|| Error::ChangedWhileOpening {
                    path: self.path.clone(),
                    what: "its keyring slot",
                })?;
                let dek = slots::open_slot(&h.vault_id, s, kek).map_err(|_| Error::Corrupt {
                    path: self.path.clone(),
                    detail: format!(
                        "keyring slot {} does not open with its keyring key",
                        slot.to_hex()
                    ),
                })?;
                Derived {
                    by: OpenedBy::Slot(*slot),
                    kek: Some(kek.clone()),
                    dek,
                }
            }
            Credential::DataKey(dek) => Derived {
                by: OpenedBy::Cache,
                kek: None,
                dek: dek.clone(),
            },
        };
        if !crypto::check_commitment(&d.dek, &h.commitment) {
            return Err(match cred {
                Credential::Passphrase(_) => Error::WrongPassphrase(self.path.clone()),
                Credential::DataKey(_) => Error::StaleCachedKey(self.path.clone()),
                Credential::SlotKey { .. } => Error::Corrupt {
                    path: self.path.clone(),
                    detail: "data key commitment mismatch".into(),
                },
            });
        }
        Ok(d)
    }

    /// The same keys against this (re-read) header, without a KDF run:
    /// the slot that opened the vault before must still open it, to a data
    /// key the header commits to. `None` if the file changed so that it
    /// does not (another process changed the slot or rekeyed).
    pub(crate) fn rederive(&self, d: &Derived) -> Option<Derived> {
        let dek = match (d.by, &d.kek) {
            (OpenedBy::Slot(id), Some(kek)) => {
                slots::open_slot(&self.header.vault_id, self.header.slot(id)?, kek).ok()?
            }
            (OpenedBy::Cache, None) => d.dek.clone(),
            _ => return None,
        };
        crypto::check_commitment(&dek, &self.header.commitment).then(|| Derived {
            by: d.by,
            kek: d.kek.clone(),
            dek,
        })
    }

    /// Decrypts the body with derived keys (from [`LockedVault::derive`]
    /// or [`LockedVault::rederive`] on this same header).
    pub(crate) fn open_derived(self, d: &Derived) -> Result<Vault> {
        let h = &self.header;
        let corrupt = |d: &str| Error::Corrupt {
            path: self.path.clone(),
            detail: d.to_string(),
        };
        // Of the ciphertext, before it is decrypted in place; meaningful once
        // the open below authenticates it.
        let content = content_digest(&self.bytes, self.aad_len);
        // From here the buffer holds plaintext: zeroized when dropped.
        let mut buf = zeroize::Zeroizing::new(self.bytes);
        crate::secret::lock_memory(&buf);
        crypto::open_after(&d.dek, &h.body_nonce, self.aad_len, &mut buf)
            .map_err(|_| corrupt("body authentication failed"))?;
        // Parsing also checks every name against the name rule.
        let secrets = Secrets::parse(buf, self.aad_len).map_err(|e| format_error(&self.path, e))?;
        Ok(Vault {
            path: self.path,
            header: self.header,
            dek: d.dek.clone(),
            opened_by: d.by,
            secrets,
            content,
        })
    }
}

/// The content digest of sealed file bytes whose body starts at `aad_len`
/// (the bytes before it, and the body's tag at the end).
fn content_digest(bytes: &[u8], aad_len: usize) -> ContentDigest {
    let tag = bytes[bytes.len() - crypto::TAG_LEN..]
        .try_into()
        .expect("a parsed file ends in a tag");
    ContentDigest(crypto::content_digest(&bytes[..aad_len], tag))
}

/// The key commitment of a header: what the rollback memory knows a key
/// by. Today the data-key commitment.
fn key_commitment(h: &Header) -> KeyCommitment {
    KeyCommitment(h.commitment)
}

fn file_state(h: &Header, digest: ContentDigest) -> FileState {
    FileState {
        commitment: key_commitment(h),
        generation: h.generation,
        digest,
    }
}

/// An unlocked vault: header, data key and secrets in memory.
pub struct Vault {
    path: PathBuf,
    header: Header,
    dek: Key,
    opened_by: OpenedBy,
    secrets: Secrets,
    /// The digest of the file this vault was opened from or last sealed to
    /// (zero for a vault made in memory and not sealed yet).
    content: ContentDigest,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("vault_id", &self.header.vault_id.to_hex())
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

/// A slot to create in [`Vault::create`] or add later.
pub enum NewSlot<'a> {
    /// A keyring slot: a fresh key is stored in `store`.
    Keyring(&'a dyn KeyStore),
    /// A passphrase slot.
    Passphrase(&'a SecretBytes, KdfParams),
}

impl Vault {
    /// A new empty vault (generation 0) with the given slots, at least one.
    /// Keyring entries are created here; the caller writes the file and, if
    /// that fails, calls [`Vault::forget_keyring_entries`].
    pub fn create(path: &Path, new_slots: &[NewSlot<'_>]) -> Result<Vault> {
        let mut id = [0u8; 16];
        crypto::fill_random(&mut id);
        let dek = Key::random();
        let mut v = Vault {
            path: path.to_path_buf(),
            header: Header {
                vault_id: VaultId(id),
                generation: 0,
                slots: vec![],
                commitment: crypto::commitment(&dek),
                body_nonce: [0; crypto::NONCE_LEN],
            },
            dek,
            opened_by: OpenedBy::Creation,
            secrets: Secrets::new(),
            content: ContentDigest([0; 32]),
        };
        // Before any keyring entry or KDF run.
        let mut used = 0;
        for s in new_slots {
            if let NewSlot::Passphrase(_, params) = s {
                used = format::kdf::add_to_budget(used, *params)
                    .map_err(Error::NewSlotOverKdfBudget)?;
            }
        }
        for s in new_slots {
            if let Err(e) = v.add_slot(s) {
                v.forget_keyring_entries(new_slots);
                return Err(e);
            }
        }
        Ok(v)
    }

    /// Best effort: deletes the keyring entries of this vault's keyring slots
    /// in `new_slots`' stores, after a failed first write.
    pub(crate) fn forget_keyring_entries(&self, new_slots: &[NewSlot<'_>]) {
        for ns in new_slots {
            if let NewSlot::Keyring(store) = ns {
                for s in self
                    .header
                    .slots
                    .iter()
                    .filter(|s| s.kind == SlotKind::Keyring)
                {
                    let _ = store.delete(&keyring_account(&self.header.vault_id, s.id));
                }
            }
        }
    }

    /// Adds a slot; returns its id. A keyring slot's entry is created (never
    /// overwriting one) before the slot exists in memory.
    pub(crate) fn add_slot(&mut self, new: &NewSlot<'_>) -> Result<SlotId> {
        if self.header.slots.len() >= format::MAX_SLOTS {
            return Err(Error::TooManySlots(format::MAX_SLOTS));
        }
        let (kind, kek) = match new {
            NewSlot::Keyring(_) => (SlotKind::Keyring, Key::random()),
            NewSlot::Passphrase(pass, params) => new_passphrase(pass, *params, &self.path)?,
        };
        let store = match new {
            NewSlot::Keyring(store) => Some(*store),
            NewSlot::Passphrase(..) => None,
        };
        self.add_slot_with(kind, &kek, store)
    }

    /// Adds a slot of `kind` wrapping the data key under `kek` (derived
    /// already); a keyring slot's key is stored in `store` first, never
    /// overwriting an entry. Returns the new slot's id.
    pub(crate) fn add_slot_with(
        &mut self,
        kind: SlotKind,
        kek: &Key,
        store: Option<&dyn KeyStore>,
    ) -> Result<SlotId> {
        if self.header.slots.len() >= format::MAX_SLOTS {
            return Err(Error::TooManySlots(format::MAX_SLOTS));
        }
        if let SlotKind::Passphrase { params, .. } = &kind {
            check_kdf_budget(&self.header, *params, None)?;
        }
        let id = slots::new_slot_id(&self.header.slots);
        if let Some(store) = store {
            store
                .create(&keyring_account(&self.header.vault_id, id), kek)
                .map_err(Error::Keyring)?;
        }
        let slot = slots::make_slot(&self.header.vault_id, id, kind, kek, &self.dek);
        self.header.slots.push(slot);
        Ok(id)
    }

    /// Removes slot `id` from the header (refusing the last one). Returns the
    /// removed slot so the caller can delete its keyring entry after the
    /// write, if [`Vault::keyring_entry_is_ours`].
    pub(crate) fn remove_slot(&mut self, id: SlotId) -> Result<Slot> {
        let pos = self
            .header
            .slots
            .iter()
            .position(|s| s.id == id)
            .ok_or(Error::SlotNotFound(id))?;
        if self.header.slots.len() == 1 {
            return Err(Error::LastSlot);
        }
        Ok(self.header.slots.remove(pos))
    }

    /// Whether the keyring entry of slot `slot` (removed or about to be)
    /// holds a key that opens it to this vault's data key: only then may
    /// it be deleted, so a crafted header can never make vault delete
    /// another key.
    pub(crate) fn keyring_entry_is_ours(
        &self,
        slot: &Slot,
        store: &dyn KeyStore,
    ) -> Result<bool, KeyringError> {
        if slot.kind != SlotKind::Keyring {
            return Ok(false);
        }
        let kek = store.get(&keyring_account(&self.header.vault_id, slot.id))?;
        Ok(matches!(
            slots::open_slot(&self.header.vault_id, slot, &kek),
            Ok(dek) if dek.expose() == self.dek.expose()
        ))
    }

    /// Replaces passphrase slot `id`'s key with `kek` of `kind` (a new
    /// passphrase, derived already).
    pub(crate) fn replace_passphrase_key(
        &mut self,
        id: SlotId,
        kind: SlotKind,
        kek: &Key,
    ) -> Result<()> {
        let pos = self.passphrase_slot_pos(id)?;
        if let SlotKind::Passphrase { params, .. } = &kind {
            check_kdf_budget(&self.header, *params, Some(id))?;
        }
        self.header.slots[pos] = slots::make_slot(&self.header.vault_id, id, kind, kek, &self.dek);
        Ok(())
    }

    /// Where passphrase slot `id` is; an error naming it if it is missing
    /// or not a passphrase slot.
    pub(crate) fn passphrase_slot_pos(&self, id: SlotId) -> Result<usize> {
        let pos = self
            .header
            .slots
            .iter()
            .position(|s| s.id == id)
            .ok_or(Error::SlotNotFound(id))?;
        match &self.header.slots[pos].kind {
            SlotKind::Passphrase { .. } => Ok(pos),
            SlotKind::Keyring => Err(Error::NotAPassphraseSlot(id)),
        }
    }

    /// Whether `kek` opens slot `id` to this vault's data key (a key
    /// worked out before the lock, checked again under it).
    pub(crate) fn slot_key_opens(&self, id: SlotId, kek: &Key) -> bool {
        self.header.slot(id).is_some_and(|s| {
            matches!(slots::open_slot(&self.header.vault_id, s, kek),
                Ok(d) if d.expose() == self.dek.expose())
        })
    }

    /// A new data key: every slot in `keks` re-wrapped, every slot in `drop`
    /// removed; any other slot is an error naming it (nothing changes).
    pub(crate) fn rekey(&mut self, keks: &[(SlotId, Key)], drop: &[SlotId]) -> Result<()> {
        let missing: Vec<(SlotId, &'static str)> = self
            .header
            .slots
            .iter()
            .filter(|s| !keks.iter().any(|(id, _)| *id == s.id) && !drop.contains(&s.id))
            .map(|s| (s.id, s.kind_name()))
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingSlotKeys(missing));
        }
        for d in drop {
            if self.header.slot(*d).is_none() {
                return Err(Error::SlotNotFound(*d));
            }
        }
        if self.header.slots.iter().all(|s| drop.contains(&s.id)) {
            return Err(Error::DroppingEverySlot);
        }
        let dek = Key::random();
        let vid = self.header.vault_id;
        let mut new_slots = Vec::new();
        for s in &self.header.slots {
            if drop.contains(&s.id) {
                continue;
            }
            let kek = &keks
                .iter()
                .find(|(id, _)| *id == s.id)
                .expect("checked above")
                .1;
            new_slots.push(slots::make_slot(&vid, s.id, s.kind.clone(), kek, &dek));
        }
        self.header.slots = new_slots;
        self.header.commitment = crypto::commitment(&dek);
        self.dek = dek;
        Ok(())
    }

    /// Encrypts the vault into file bytes: generation incremented, fresh
    /// body nonce. Refused, with nothing changed, when the generation is
    /// already [`format::MAX_GENERATION`]: it never wraps.
    pub fn seal(&mut self) -> Result<Vec<u8>> {
        self.header.generation =
            format::next_generation(self.header.generation).ok_or_else(|| {
                Error::GenerationExhausted {
                    path: self.path.clone(),
                    generation: self.header.generation,
                }
            })?;
        self.header.body_nonce = crypto::random_nonce();
        let prefix = format::write_prefix(&self.header);
        // One buffer, sized up front (no reallocation leaves plaintext
        // behind) and zeroizing until the body in it is encrypted.
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(
            prefix.len() + self.secrets.encoded_len() + crypto::TAG_LEN,
        ));
        crate::secret::lock_memory(&out);
        out.extend_from_slice(&prefix);
        self.secrets.encode_into(&mut out);
        crypto::seal_after(&self.dek, &self.header.body_nonce, prefix.len(), &mut out);
        self.content = content_digest(&out, prefix.len());
        Ok(std::mem::take(&mut *out))
    }

    /// The file this vault was opened from or last sealed to, as the
    /// rollback memory knows it.
    pub fn file_state(&self) -> FileState {
        file_state(&self.header, self.content)
    }

    /// The header (slots, id, generation).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// What opened this vault.
    pub fn opened_by(&self) -> OpenedBy {
        self.opened_by
    }

    /// The data key, for a cached unlock.
    pub fn data_key(&self) -> &Key {
        &self.dek
    }

    /// The secret named `name`.
    pub fn get(&self, name: &str) -> Option<EntryRef<'_>> {
        self.secrets.get(name)
    }

    /// All secrets, sorted by name.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'_>> + '_ {
        self.secrets.iter()
    }

    /// The name of a secret most like `name` (a likely typo: at most two
    /// edits, and fewer than half the name), for "did you mean". Names are
    /// not secret to whoever can open the vault; values are never compared.
    pub fn closest_name(&self, name: &str) -> Option<&str> {
        let limit = 2.min(name.len().saturating_sub(1) / 2).max(1);
        self.entries()
            .map(|e| (strsim::damerau_levenshtein(name, e.name), e.name))
            .filter(|(d, _)| *d <= limit)
            .min_by_key(|(d, _)| *d)
            .map(|(_, n)| n)
    }

    /// The number of secrets.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether the vault holds no secret.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Sets `name` to `value`, keeping `created` when it already exists.
    pub fn set(&mut self, name: &str, value: SecretBytes) -> Result<()> {
        self.set_at(name, value, crate::platform::unix_now())
    }

    /// [`Vault::set`] at time `t` (Unix seconds).
    pub fn set_at(&mut self, name: &str, value: SecretBytes, t: u64) -> Result<()> {
        validate_name(name)?;
        validate_value(value.expose())?;
        let created = self.secrets.get(name).map_or(t, |e| e.created);
        self.secrets.insert(
            name,
            Entry {
                value,
                created,
                updated: t,
            },
        );
        Ok(())
    }

    /// Deletes every name in `names`, or none if any is unknown.
    pub fn delete(&mut self, names: &[String]) -> Result<()> {
        for n in names {
            if !self.secrets.contains(n) {
                return Err(Error::no_such_secret(n));
            }
        }
        for n in names {
            self.secrets.remove(n);
        }
        Ok(())
    }
}

/// A new passphrase slot's kind (fresh salt) and key: the KDF run, with
/// the bounds and free memory checked first; an empty passphrase refused.
pub(crate) fn new_passphrase(
    pass: &SecretBytes,
    params: KdfParams,
    path: &Path,
) -> Result<(SlotKind, Key)> {
    if pass.is_empty() {
        return Err(Error::EmptyPassphrase);
    }
    slots::new_passphrase_kek(pass.expose(), params, available_memory_kib())
        .map_err(|e| kdf_error(e, true, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slots::MemoryKeyStore;

    const CHEAP: KdfParams = KdfParams::CHEAPEST;

    fn pass(s: &str) -> SecretBytes {
        SecretBytes::copy_from(s.as_bytes())
    }

    fn reopen(bytes: Vec<u8>, cred: &Credential) -> Result<Vault> {
        LockedVault::parse(Path::new("t.vault"), bytes)?.unlock(cred)
    }

    #[test]
    fn passphrase_and_keyring_open_the_same_vault() {
        let store = MemoryKeyStore::default();
        let p = pass("correct horse");
        let mut v = Vault::create(
            Path::new("t.vault"),
            &[NewSlot::Keyring(&store), NewSlot::Passphrase(&p, CHEAP)],
        )
        .unwrap();
        v.set("TOKEN", SecretBytes::copy_from(b"s3cr3t")).unwrap();
        let bytes = v.seal().unwrap();
        let locked = LockedVault::parse(Path::new("t.vault"), bytes.clone()).unwrap();
        assert_eq!(locked.header().generation, 1);
        let a = locked
            .clone()
            .unlock(&Credential::Passphrase(p.clone()))
            .unwrap();
        let kc = locked.fetch_keyring_credential(&store).unwrap();
        let b = locked.clone().unlock(&kc).unwrap();
        assert_eq!(a.get("TOKEN").unwrap().expose_value(), b"s3cr3t");
        assert_eq!(b.get("TOKEN").unwrap().expose_value(), b"s3cr3t");
        let wrong = locked
            .unlock(&Credential::Passphrase(pass("wrong")))
            .unwrap_err();
        assert!(matches!(wrong, Error::WrongPassphrase(_)));
        assert!(wrong.to_string().contains(crate::error::WRONG_PASSPHRASE));
    }

    #[test]
    fn every_byte_flip_is_detected() {
        let p = pass("pw");
        let mut v = Vault::create(Path::new("t"), &[NewSlot::Passphrase(&p, CHEAP)]).unwrap();
        v.set("A", SecretBytes::copy_from(b"value")).unwrap();
        let bytes = v.seal().unwrap();
        let cred = Credential::Passphrase(p);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let e = reopen(b, &cred).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::WrongPassphrase(_)
                        | Error::Corrupt { .. }
                        | Error::UnsupportedVersion { .. }
                ),
                "byte {i}: {e}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            reopen(longer, &cred).unwrap_err(),
            Error::Corrupt { .. }
        ));
    }

    #[test]
    fn slot_swapped_between_vaults_is_detected() {
        let p = pass("same");
        let mut a = Vault::create(Path::new("a"), &[NewSlot::Passphrase(&p, CHEAP)]).unwrap();
        let mut b = Vault::create(Path::new("b"), &[NewSlot::Passphrase(&p, CHEAP)]).unwrap();
        a.header.slots = b.header.slots.clone();
        let bytes = a.seal().unwrap();
        let _ = b.seal().unwrap();
        assert!(reopen(bytes, &Credential::Passphrase(p)).is_err());
    }

    #[test]
    fn delete_is_all_or_nothing_and_set_keeps_created() {
        let p = pass("pw");
        let mut v = Vault::create(Path::new("t"), &[NewSlot::Passphrase(&p, CHEAP)]).unwrap();
        v.set("A", SecretBytes::copy_from(b"1")).unwrap();
        v.secrets.insert(
            "A",
            Entry {
                value: SecretBytes::copy_from(b"1"),
                created: 5,
                updated: 5,
            },
        );
        v.set("A", SecretBytes::copy_from(b"2")).unwrap();
        assert_eq!(v.get("A").unwrap().created, 5);
        let e = v.delete(&["A".into(), "B".into()]).unwrap_err();
        assert!(matches!(e, Error::NoSuchSecret { .. }));
        assert!(v.get("A").is_some());
        v.delete(&["A".into()]).unwrap();
        assert!(v.get("A").is_none());
    }

    #[test]
    fn names_follow_the_rule() {
        for ok in ["A", "_", "a_1", &"X".repeat(128)] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "1A", "A-B", "A B", "VAULT_X", "é", &"X".repeat(129)] {
            let e = validate_name(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidName(_)));
            if !bad.is_empty() {
                assert!(!e.to_string().contains(bad));
            }
        }
    }

    #[test]
    fn keyring_entry_is_deleted_only_if_it_opens_the_slot() {
        let store = MemoryKeyStore::default();
        let p = pass("pw");
        let mut v = Vault::create(
            Path::new("t"),
            &[NewSlot::Keyring(&store), NewSlot::Passphrase(&p, CHEAP)],
        )
        .unwrap();
        let kr = v.header.slots[0].id;
        let account = keyring_account(&v.header.vault_id, kr);
        // Someone else's key under that account: must survive.
        store.delete(&account).unwrap();
        let foreign = Key::random();
        store.create(&account, &foreign).unwrap();
        let removed = v.remove_slot(kr).unwrap();
        assert!(!v.keyring_entry_is_ours(&removed, &store).unwrap());
        assert_eq!(store.get(&account).unwrap().expose(), foreign.expose());
        // The last slot cannot go.
        let pp = v.header.slots[0].id;
        assert!(matches!(v.remove_slot(pp).unwrap_err(), Error::LastSlot));
    }

    #[test]
    fn a_vault_at_the_highest_generation_refuses_to_seal_and_is_left_as_it_was() {
        let p = pass("pw");
        let mut v = Vault::create(Path::new("t"), &[NewSlot::Passphrase(&p, CHEAP)]).unwrap();
        v.header.generation = format::MAX_GENERATION - 1;
        let bytes = v.seal().unwrap();
        let mut v = reopen(bytes, &Credential::Passphrase(p)).unwrap();
        assert_eq!(v.header().generation, format::MAX_GENERATION);
        let nonce = v.header().body_nonce;
        let e = v.seal().unwrap_err();
        assert!(
            matches!(e, Error::GenerationExhausted { generation, .. } if generation == format::MAX_GENERATION),
            "{e}"
        );
        assert_eq!(v.header().generation, format::MAX_GENERATION);
        assert_eq!(v.header().body_nonce, nonce);
    }

    #[test]
    fn passphrase_slots_beyond_the_kdf_budget_are_refused_before_their_kdf_runs() {
        use format::kdf::{OverBudget, BUDGET};
        let p = pass("pw");
        // Two slots of 2 GiB × 9 passes: each within the bounds, together
        // over the budget; refused before either KDF (each would take 2 GiB).
        let big = KdfParams {
            memory_kib: 2 << 20,
            time: 9,
            parallelism: 1,
        };
        let e = Vault::create(
            Path::new("t"),
            &[NewSlot::Passphrase(&p, big), NewSlot::Passphrase(&p, big)],
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::NewSlotOverKdfBudget(OverBudget { params, left })
                if params == big && left == BUDGET - big.cost()),
            "{e}"
        );
        // Adding or changing a slot: checked against the others, the slot
        // being changed left out.
        let mut v = Vault::create(Path::new("t"), &[NewSlot::Passphrase(&p, CHEAP)]).unwrap();
        let id = v.header.slots[0].id;
        let most = KdfParams {
            memory_kib: ((BUDGET - CHEAP.cost()) / 16) as u32,
            time: 16,
            parallelism: 1,
        };
        assert!(check_kdf_budget(&v.header, most, None).is_ok());
        let over = KdfParams {
            memory_kib: most.memory_kib + 1,
            ..most
        };
        let kek = Key::random();
        let kind = |params| SlotKind::Passphrase {
            salt: vec![0; 16],
            params,
        };
        let e = v.add_slot_with(kind(over), &kek, None).unwrap_err();
        assert!(
            matches!(e, Error::NewSlotOverKdfBudget(OverBudget { left, .. }) if left == BUDGET - CHEAP.cost()),
            "{e}"
        );
        assert_eq!(v.header.slots.len(), 1);
        let top = KdfParams {
            memory_kib: 2 << 20,
            time: 16,
            parallelism: 1,
        };
        v.replace_passphrase_key(id, kind(top), &kek).unwrap();
        let e = v.add_slot_with(kind(CHEAP), &kek, None).unwrap_err();
        assert!(e.to_string().contains("leave 0 GiB-passes"), "{e}");
        assert!(e.to_string().contains("32 GiB-passes"), "{e}");
        v.add_slot_with(SlotKind::Keyring, &kek, None).unwrap();
    }

    #[test]
    fn a_passphrase_is_tried_cheapest_first_or_on_the_named_slot_alone() {
        let store = MemoryKeyStore::default();
        let p = pass("same");
        let dearer = KdfParams { time: 2, ..CHEAP };
        // The dearer slot first in the file, the cheaper second, both
        // opened by the same passphrase; and a keyring slot.
        let mut v = Vault::create(
            Path::new("t"),
            &[
                NewSlot::Passphrase(&p, dearer),
                NewSlot::Passphrase(&p, CHEAP),
                NewSlot::Keyring(&store),
            ],
        )
        .unwrap();
        let ids: Vec<SlotId> = v.header.slots.iter().map(|s| s.id).collect();
        let locked = LockedVault::parse(Path::new("t"), v.seal().unwrap()).unwrap();
        let by = |cred: &Credential, only: Option<SlotId>| {
            locked
                .derive(cred, None, only.map(SlotRef::Id).as_ref())
                .map(|d| d.by)
        };
        let same = Credential::Passphrase(p.clone());
        assert_eq!(by(&same, None).unwrap(), OpenedBy::Slot(ids[1]));
        assert_eq!(by(&same, Some(ids[0])).unwrap(), OpenedBy::Slot(ids[0]));
        assert_eq!(by(&same, Some(ids[1])).unwrap(), OpenedBy::Slot(ids[1]));
        // Named: that slot alone, never the others.
        assert!(matches!(
            by(&Credential::Passphrase(pass("wrong")), Some(ids[0])),
            Err(Error::WrongPassphrase(_))
        ));
        assert!(matches!(
            by(&same, Some(ids[2])),
            Err(Error::NotAPassphraseSlot(id)) if id == ids[2]
        ));
        let none = SlotId([0xee; 4]);
        assert!(matches!(
            by(&same, Some(none)),
            Err(Error::SlotNotFound(id)) if id == none
        ));
    }

    #[test]
    fn empty_passphrase_is_refused() {
        let e =
            Vault::create(Path::new("t"), &[NewSlot::Passphrase(&pass(""), CHEAP)]).unwrap_err();
        assert!(matches!(e, Error::EmptyPassphrase));
    }
}
