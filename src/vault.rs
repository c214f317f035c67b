//! The vault in memory: [`LockedVault`] (parsed, still encrypted) and
//! [`Vault`] (unlocked: the keys and the secrets), with the operations the
//! commands need. No file I/O here: bytes in, bytes out.
//!
//! Both file versions are held as a version-2 header (`format::v2`): a
//! version-1 file's slots become legacy slots and its data key is the
//! master key, which also encrypts its body. Every write is version 2
//! (`docs/FORMAT.md`, "Reading version 1").

use std::path::{Path, PathBuf};

use crate::body_edit::{Entry, Secrets};
use crate::crypto::{self, KdfRefused};
use crate::error::{Error, NameProblem, Result};
use crate::format::v2::LINEAGE_KEY_LEN;
use crate::format::v2::{AgeWrap, HeaderV2, KeyBlock, Label, SlotKindV2, SlotV2};
use crate::format::{
    self, EntryRef, FileHeader, FormatError, Header, KdfParams, Slot, SlotId, SlotKind, VaultId,
};
use crate::identities::{Identities, Recipient};
use crate::keyblock::{self, IdentityBinding, X25519Identity};
use crate::platform::available_memory_kib;
use crate::rollback::{ContentDigest, FileState, KeyCommitment};
use crate::secret::{Key, SecretBytes};
use crate::slots::{self, KeyStore, KeyringError, SlotRef};

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
pub fn named_passphrase_slot<'h>(header: &'h HeaderV2, r: &SlotRef) -> Result<&'h SlotV2> {
    let s = r.find(header).ok_or_else(|| r.not_found())?;
    match s.kind.kdf() {
        Some(_) => Ok(s),
        None => Err(Error::NotAPassphraseSlot(s.id)),
    }
}

/// Whether a passphrase slot with `params` fits in the KDF budget
/// (`format::kdf::BUDGET`) next to the passphrase slots of `header`, slot
/// `replacing` left out (its passphrase is being changed). Checked before
/// the new slot's KDF runs, and again under the write lock.
pub fn check_kdf_budget(
    header: &HeaderV2,
    params: KdfParams,
    replacing: Option<SlotId>,
) -> Result<()> {
    format::kdf::add_to_budget(header.keys.kdf_cost(replacing), params)
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

/// What opened a vault: a slot (passphrase or keyring), the cached body
/// key, or nothing (a vault just created in memory). Slot management needs
/// a slot: see `open::SlotCredential`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenedBy {
    /// This slot gave the master key.
    Slot(SlotId),
    /// The cached body key (`vault unlock`).
    Cache,
    /// Made by [`Vault::create`].
    Creation,
}

/// Keys worked out from a credential against one header: the slot's key
/// (when a slot opened it), the master key (not from the cache) and the
/// body key, each checked against the header. Made before the write lock
/// is taken, so a slow credential (Argon2, the keyring) is never worked on
/// while holding it.
pub(crate) struct Derived {
    pub(crate) by: OpenedBy,
    pub(crate) kek: Option<Key>,
    pub(crate) master: Option<Key>,
    pub(crate) body: Key,
    /// The age file an identity opened (a recipient slot): under the lock
    /// the slot must still hold it, so no plugin or SSH passphrase is asked
    /// for twice.
    pub(crate) opened_age: Option<Vec<u8>>,
    /// The key block a cached body key opened: under the lock it must be
    /// the same, byte for byte (the body key cannot check its MAC, so a
    /// changed block is a cache miss, never a key to learn).
    pub(crate) cached_keys: Option<Box<KeyBlock>>,
}

/// What opens a vault.
pub enum Credential {
    /// A passphrase: tried on the passphrase slots, cheapest first.
    Passphrase(SecretBytes),
    /// A keyring slot's key, already fetched: a version-2 slot's X25519
    /// secret, or a legacy slot's key-encryption key.
    SlotKey {
        /// The slot it belongs to.
        slot: SlotId,
        /// The key.
        kek: Key,
    },
    /// The body key (a cached unlock): reads, and writes that keep the
    /// key block as it is.
    BodyKey(Key),
    /// Identities (age, SSH, plugin): tried on the recipient slots whose
    /// recipient they match, never on others.
    Identities(Identities),
    /// Identities and a passphrase, both given: the identities first (no
    /// KDF), then the passphrase; one answer if neither opens the vault.
    IdentitiesOrPassphrase(Identities, SecretBytes),
}

/// A parsed vault file whose body is still encrypted.
#[derive(Debug, Clone)]
pub struct LockedVault {
    path: PathBuf,
    bytes: Vec<u8>,
    header: HeaderV2,
    version: u16,
    aad_len: usize,
    /// A master-key commitment and the lineage key already checked
    /// against that master key ([`LockedVault::lineage_checked_before`]).
    checked_lineage: Option<(KeyCommitment, [u8; LINEAGE_KEY_LEN])>,
}

/// A version-1 header as version 2 holds it: its slots legacy slots, its
/// data-key commitment in place of the master-key commitment, no body key
/// (the data key encrypts the body) and no MAC.
fn v1_as_v2(h: Header) -> HeaderV2 {
    HeaderV2 {
        vault_id: h.vault_id,
        generation: h.generation,
        keys: KeyBlock {
            epoch: h.generation,
            slots: h
                .slots
                .into_iter()
                .map(|s| SlotV2 {
                    id: s.id,
                    label: None,
                    kind: match s.kind {
                        SlotKind::Keyring => SlotKindV2::LegacyKeyring {
                            nonce: s.nonce,
                            wrapped: s.wrapped,
                        },
                        SlotKind::Passphrase { salt, params } => SlotKindV2::LegacyPassphrase {
                            salt,
                            params,
                            nonce: s.nonce,
                            wrapped: s.wrapped,
                        },
                    },
                })
                .collect(),
            master_commitment: h.commitment,
            body_key: [0; format::v2::SEALED_BODY_KEY_LEN],
            body_commitment: [0; format::COMMITMENT_LEN],
            lineage: None,
        },
        mac: [0; format::v2::MAC_LEN],
        body_nonce: h.body_nonce,
    }
}

/// A legacy slot as the version-1 slot it was (its wrap is version 1's).
fn legacy_v1(s: &SlotV2) -> Option<Slot> {
    match &s.kind {
        SlotKindV2::LegacyKeyring { nonce, wrapped } => Some(Slot {
            id: s.id,
            kind: SlotKind::Keyring,
            nonce: *nonce,
            wrapped: *wrapped,
        }),
        SlotKindV2::LegacyPassphrase {
            salt,
            params,
            nonce,
            wrapped,
        } => Some(Slot {
            id: s.id,
            kind: SlotKind::Passphrase {
                salt: salt.clone(),
                params: *params,
            },
            nonce: *nonce,
            wrapped: *wrapped,
        }),
        _ => None,
    }
}

/// The binding of passphrase slot `s`'s sealed identity.
fn binding<'a>(vault_id: &'a VaultId, s: &'a SlotV2) -> Option<IdentityBinding<'a>> {
    match &s.kind {
        SlotKindV2::Passphrase {
            wrap, salt, params, ..
        } => Some(IdentityBinding {
            vault_id,
            slot_id: s.id,
            params: *params,
            salt,
            recipient: &wrap.recipient,
        }),
        _ => None,
    }
}

/// The master key slot `s` gives for `kek` (Argon2id of its passphrase, or
/// its keyring key), if it gives one. Nothing is checked against the
/// header here.
fn slot_master_key(vault_id: &VaultId, s: &SlotV2, kek: &Key) -> Option<Key> {
    match slot_unwrap(vault_id, s, kek) {
        Unwrap::Key(mk) => Some(mk),
        Unwrap::NotThisKey | Unwrap::Damaged => None,
    }
}

/// What a slot gives for a key.
enum Unwrap {
    Key(Key),
    /// The key does not open the slot (a wrong passphrase, another key).
    NotThisKey,
    /// A passphrase slot whose identity the key opened (so the passphrase
    /// is right: the identity is sealed under it, bound to the slot) but
    /// whose age file gives no master key: damaged or tampered with.
    Damaged,
}

fn slot_unwrap(vault_id: &VaultId, s: &SlotV2, kek: &Key) -> Unwrap {
    if let SlotKindV2::Passphrase { wrap, identity, .. } = &s.kind {
        let Some(id) =
            binding(vault_id, s).and_then(|b| keyblock::open_identity(kek, &b, identity).ok())
        else {
            return Unwrap::NotThisKey;
        };
        return match keyblock::unwrap_master_key(&id.to_age(), &wrap.age) {
            Some(mk) => Unwrap::Key(mk),
            None => Unwrap::Damaged,
        };
    }
    let mk = match &s.kind {
        SlotKindV2::LegacyKeyring { .. } | SlotKindV2::LegacyPassphrase { .. } => {
            legacy_v1(s).and_then(|v1| slots::open_slot(vault_id, &v1, kek).ok())
        }
        SlotKindV2::Keyring(w) => {
            let id = X25519Identity::from_key(kek.clone());
            (id.recipient() == w.recipient)
                .then(|| keyblock::unwrap_master_key(&id.to_age(), &w.age))
                .flatten()
        }
        SlotKindV2::Passphrase { .. } | SlotKindV2::Recipient(_) => None,
    };
    mk.map_or(Unwrap::NotThisKey, Unwrap::Key)
}

/// [`slot_master_key`] for the opener (`open.rs`).
pub(crate) fn slot_master_key_of(vault_id: &VaultId, s: &SlotV2, kek: &Key) -> Option<Key> {
    slot_master_key(vault_id, s, kek)
}

/// The keyring account of a keyring slot (`None` for other kinds):
/// version 2 `<vault id>:<recipient>`, legacy `<vault id>:<slot id>`.
pub fn slot_account(vault_id: &VaultId, s: &SlotV2) -> Option<String> {
    match &s.kind {
        SlotKindV2::Keyring(w) => Some(slots::keyring_account_v2(vault_id, &w.recipient)),
        SlotKindV2::LegacyKeyring { .. } => Some(slots::keyring_account(vault_id, s.id)),
        _ => None,
    }
}

impl LockedVault {
    /// Parses the file bytes read from `path` (the path is for messages).
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<LockedVault> {
        let (header, version, aad_len) = {
            let f = format::parse_any(&bytes).map_err(|e| format_error(path, e))?;
            let aad_len = f.aad.len();
            match f.header {
                FileHeader::V1(h) => (v1_as_v2(h), 1, aad_len),
                FileHeader::V2(h) => (h, 2, aad_len),
            }
        };
        Ok(LockedVault {
            path: path.to_path_buf(),
            bytes,
            header,
            version,
            aad_len,
            checked_lineage: None,
        })
    }

    /// Says that `lineage` is the lineage key of the master key committed
    /// to by `commitment`, checked when a file was opened with that key
    /// before (the rollback memory keeps a lineage key only from such
    /// opens). Opening a file with the same commitment and lineage key
    /// then skips deriving the lineage key again (an Ed25519 key from the
    /// master key: about 0.2 M instructions, a fifteenth of a `vault get`).
    pub(crate) fn lineage_checked_before(
        &mut self,
        commitment: KeyCommitment,
        lineage: [u8; LINEAGE_KEY_LEN],
    ) {
        self.checked_lineage = Some((commitment, lineage));
    }

    /// The header (a version-1 file's as version 2 holds it).
    pub fn header(&self) -> &HeaderV2 {
        &self.header
    }

    /// The file's format version (1 or 2).
    pub fn version(&self) -> u16 {
        self.version
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

    /// Whether `bk` is this vault's body key (a cached key may be stale
    /// after a write with the master key). A version-1 file has none.
    pub fn body_key_matches(&self, bk: &Key) -> bool {
        self.version == 2 && keyblock::is_body_key(bk, &self.header.keys)
    }

    /// Whether the vault has a keyring slot.
    pub fn has_keyring_slot(&self) -> bool {
        self.header
            .keys
            .slots
            .iter()
            .any(|s| slot_account(&self.header.vault_id, s).is_some())
    }

    /// Whether the vault has a recipient slot (a teammate's or CI's).
    pub fn has_recipient_slot(&self) -> bool {
        self.header
            .keys
            .slots
            .iter()
            .any(|s| matches!(s.kind, SlotKindV2::Recipient(_)))
    }

    /// Whether the vault has a passphrase slot.
    pub fn has_passphrase_slot(&self) -> bool {
        self.header
            .keys
            .slots
            .iter()
            .any(|s| s.kind.kdf().is_some())
    }

    /// Fetches the key of the first keyring slot whose entry the store has
    /// (looked up by account: never every entry). The error is the reason
    /// of the last slot tried.
    pub fn fetch_keyring_credential(
        &self,
        store: &dyn KeyStore,
    ) -> Result<Credential, KeyringError> {
        let mut last = KeyringError::NoEntry;
        for s in &self.header.keys.slots {
            let Some(account) = slot_account(&self.header.vault_id, s) else {
                continue;
            };
            match store.get(&account) {
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
    /// authentication once the master key is known is corrupt (exit 4).
    pub fn unlock(self, cred: &Credential) -> Result<Vault> {
        let d = self.derive(cred, &available_memory_kib, None)?;
        self.open_derived(&d)
    }

    fn corrupt(&self, detail: &str) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            detail: detail.to_string(),
        }
    }

    /// Whether `mk` is this file's master key: its commitment and, for
    /// version 2, the key block's MAC.
    fn check_master(&self, mk: &Key) -> std::result::Result<(), &'static str> {
        if self.version == 1 {
            return crypto::check_commitment(mk, &self.header.keys.master_commitment)
                .then_some(())
                .ok_or("data key commitment mismatch");
        }
        if !keyblock::is_master_key(mk, &self.header.keys) {
            return Err("master key commitment mismatch");
        }
        if !keyblock::mac_matches(mk, &self.header) {
            return Err(
                "the key block's MAC does not match (slots changed without the master key)",
            );
        }
        if let Some(l) = &self.header.keys.lineage {
            // `mk` commits to the header's commitment (checked above), so
            // a pair checked before holds for it.
            let checked = self.checked_lineage
                == Some((KeyCommitment(self.header.keys.master_commitment), l.key));
            if !checked && l.key != keyblock::lineage_key(mk) {
                return Err("the lineage key is not the master key's");
            }
        }
        Ok(())
    }

    /// The body key from the master key (version 1: the data key itself).
    fn body_key(&self, mk: &Key) -> Result<Key> {
        if self.version == 1 {
            return Ok(mk.clone());
        }
        keyblock::open_body_key(mk, &self.header.vault_id, &self.header.keys)
            .map_err(|_| self.corrupt("the body key does not open with the master key"))
    }

    /// Works out the keys from `cred` (the KDF for a passphrase, with
    /// `available_kib` checked first) without touching the body. A
    /// passphrase is tried on the passphrase slots cheapest first
    /// ([`slots::passphrase_try_order`]), or on slot `only` alone.
    pub(crate) fn derive(
        &self,
        cred: &Credential,
        available_kib: &dyn Fn() -> Option<u64>,
        only: Option<&SlotRef>,
    ) -> Result<Derived> {
        let h = &self.header;
        let mut opened_age = None;
        let (by, kek, mk) = match cred {
            Credential::Passphrase(pass) => {
                let order = match only {
                    Some(r) => vec![named_passphrase_slot(h, r)?],
                    None => slots::passphrase_try_order(&h.keys.slots),
                };
                if order.is_empty() {
                    return Err(Error::NoPassphraseSlot(self.path.clone()));
                }
                let mut found = None;
                for s in order {
                    let Some((salt, params)) = s.kind.kdf() else {
                        continue;
                    };
                    let kek = crypto::derive_kek(pass.expose(), salt, params, available_kib())
                        .map_err(|e| kdf_error(e, false, &self.path))?;
                    match slot_unwrap(&h.vault_id, s, &kek) {
                        Unwrap::Key(mk) => {
                            found = Some((OpenedBy::Slot(s.id), Some(kek), mk));
                            break;
                        }
                        Unwrap::NotThisKey => {}
                        Unwrap::Damaged => {
                            return Err(self.corrupt(&format!(
                                "passphrase slot {}'s wrapped master key does not open with its identity",
                                s.id.to_hex()
                            )))
                        }
                    }
                }
                let found = found.ok_or_else(|| Error::WrongPassphrase(self.path.clone()))?;
                // A slot that unwraps to a key the header does not commit
                // to is a crafted slot: the same answer as a wrong passphrase.
                if self.check_master(&found.2).is_err() && self.version == 1 {
                    return Err(Error::WrongPassphrase(self.path.clone()));
                }
                found
            }
            Credential::SlotKey { slot, kek } => {
                let s = h
                    .keys
                    .slot(*slot)
                    .ok_or_else(|| Error::ChangedWhileOpening {
                        path: self.path.clone(),
                        what: "its keyring slot",
                    })?;
                let mk = slot_master_key(&h.vault_id, s, kek).ok_or_else(|| {
                    self.corrupt(&format!(
                        "keyring slot {} does not open with its keyring key",
                        slot.to_hex()
                    ))
                })?;
                (OpenedBy::Slot(*slot), Some(kek.clone()), mk)
            }
            Credential::BodyKey(bk) => {
                if !self.body_key_matches(bk) {
                    return Err(Error::StaleCachedKey(self.path.clone()));
                }
                return Ok(Derived {
                    by: OpenedBy::Cache,
                    kek: None,
                    master: None,
                    body: bk.clone(),
                    opened_age: None,
                    cached_keys: Some(Box::new(self.header.keys.clone())),
                });
            }
            Credential::Identities(ids) => {
                // An identity that matches no slot, or does not open the
                // one it matches: the same answer as a wrong passphrase.
                let (id, age, mk) = ids
                    .open_slot(h)
                    .ok_or_else(|| Error::WrongPassphrase(self.path.clone()))?;
                opened_age = Some(age);
                (OpenedBy::Slot(id), None, mk)
            }
            Credential::IdentitiesOrPassphrase(ids, pass) => {
                match self.derive(&Credential::Identities(ids.clone()), available_kib, only) {
                    Err(Error::WrongPassphrase(_)) => {}
                    r => return r,
                }
                return match self.derive(&Credential::Passphrase(pass.clone()), available_kib, only)
                {
                    Err(Error::NoPassphraseSlot(p)) => Err(Error::WrongPassphrase(p)),
                    r => r,
                };
            }
        };
        self.check_master(&mk).map_err(|d| self.corrupt(d))?;
        let body = self.body_key(&mk)?;
        Ok(Derived {
            by,
            kek,
            master: Some(mk),
            body,
            opened_age,
            cached_keys: None,
        })
    }

    /// The same keys against this (re-read) header, without a KDF run:
    /// the slot that opened the vault before must still open it, to a
    /// master key the header commits to; a cached body key must still be
    /// the header's. `None` if the file changed so that they do not
    /// (another process changed the slot or wrote with the master key).
    pub(crate) fn rederive(&self, d: &Derived) -> Option<Derived> {
        match (d.by, &d.kek) {
            (OpenedBy::Slot(id), Some(kek)) => {
                let mk = slot_master_key(&self.header.vault_id, self.header.keys.slot(id)?, kek)?;
                self.check_master(&mk).ok()?;
                let body = self.body_key(&mk).ok()?;
                Some(Derived {
                    by: d.by,
                    kek: d.kek.clone(),
                    master: Some(mk),
                    body,
                    opened_age: None,
                    cached_keys: None,
                })
            }
            // An identity opened a recipient slot: it still holds the same
            // age file, so it still gives the same master key.
            (OpenedBy::Slot(id), None) => {
                let age = d.opened_age.as_ref()?;
                if self.header.keys.slot(id)?.kind.wrap()?.age != *age {
                    return None;
                }
                let mk = d.master.clone()?;
                self.check_master(&mk).ok()?;
                let body = self.body_key(&mk).ok()?;
                Some(Derived {
                    by: d.by,
                    kek: None,
                    master: Some(mk),
                    body,
                    opened_age: d.opened_age.clone(),
                    cached_keys: None,
                })
            }
            // The same key block, or a cache miss: another process may have
            // rotated, or someone who holds only the body key may have
            // rewritten the block (its MAC cannot be checked here).
            (OpenedBy::Cache, None) => (self.body_key_matches(&d.body)
                && d.cached_keys.as_deref() == Some(&self.header.keys))
            .then(|| Derived {
                by: d.by,
                kek: None,
                master: None,
                body: d.body.clone(),
                opened_age: None,
                cached_keys: d.cached_keys.clone(),
            }),
            _ => None,
        }
    }

    /// Decrypts the body with derived keys (from [`LockedVault::derive`]
    /// or [`LockedVault::rederive`] on this same header).
    pub(crate) fn open_derived(self, d: &Derived) -> Result<Vault> {
        // Of the ciphertext, before it is decrypted in place; meaningful once
        // the open below authenticates it.
        let content = content_digest(&self.bytes, self.aad_len);
        let path = self.path.clone();
        // From here the buffer holds plaintext after the header: wiped when
        // dropped (by the body, `TailSecret`, from `aad_len` on).
        let mut buf = zeroize::Zeroizing::new(self.bytes);
        crate::secret::lock_memory_from(&buf, self.aad_len);
        crypto::open_after(&d.body, &self.header.body_nonce, self.aad_len, &mut buf).map_err(
            |_| Error::Corrupt {
                path: path.clone(),
                detail: "body authentication failed".into(),
            },
        )?;
        // Parsing also checks every name against the name rule.
        let secrets = if self.version == 1 {
            Secrets::parse(buf, self.aad_len)
        } else {
            Secrets::parse_v2(buf, self.aad_len)
        }
        .map_err(|e| format_error(&path, e))?;
        Ok(Vault {
            path: self.path,
            header: self.header,
            version: self.version,
            master: d.master.clone(),
            body: d.body.clone(),
            opening_kek: d.kek.clone(),
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
/// by. The master-key commitment (a version-1 file's data-key commitment).
fn key_commitment(h: &HeaderV2) -> KeyCommitment {
    KeyCommitment(h.keys.master_commitment)
}

fn file_state(h: &HeaderV2, digest: ContentDigest) -> FileState {
    FileState {
        lineage: h.keys.lineage.as_ref().map(|l| l.key),
        commitment: key_commitment(h),
        generation: h.generation,
        digest,
    }
}

/// An unlocked vault: header, keys and secrets in memory.
pub struct Vault {
    path: PathBuf,
    header: HeaderV2,
    /// The version of the file it was read from (2 once written).
    version: u16,
    /// The master key: absent when the cache opened it.
    master: Option<Key>,
    /// The body key the body was read with.
    body: Key,
    /// The key of the slot that opened it (Argon2id output, keyring key):
    /// converts a legacy slot at the next write.
    opening_kek: Option<Key>,
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

/// Whether removing a slot marks the secrets it could read rotate pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotatePending {
    /// Mark every secret present (the body's `"p"`), until its value changes.
    Mark,
    /// Mark nothing: the slot never exposed anything (added by mistake and
    /// never handed to anyone).
    Skip,
}

/// A secret a removed slot could read: its name and when its value was
/// last set (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedSecret {
    /// The name.
    pub name: String,
    /// Unix seconds when last set.
    pub updated: u64,
}

/// A slot to create in [`Vault::create`] or add later.
pub enum NewSlot<'a> {
    /// A keyring slot: a fresh identity is stored in `store`.
    Keyring(&'a dyn KeyStore),
    /// A passphrase slot.
    Passphrase(&'a SecretBytes, KdfParams),
}

/// A passphrase slot's Argon2id input and output, worked out before the
/// lock (`open::NewKey`).
pub struct PassphraseKey {
    /// Salt.
    pub salt: Vec<u8>,
    /// Cost.
    pub params: KdfParams,
    /// Argon2id output.
    pub kek: Key,
}

impl Vault {
    /// A new empty vault (generation 0) with the given slots, at least one.
    /// Keyring entries are created here; the caller writes the file and, if
    /// that fails, calls [`Vault::forget_keyring_entries`].
    pub fn create(path: &Path, new_slots: &[NewSlot<'_>]) -> Result<Vault> {
        let mut id = [0u8; 16];
        crypto::fill_random(&mut id);
        let mk = Key::random();
        let mut v = Vault {
            path: path.to_path_buf(),
            header: HeaderV2 {
                vault_id: VaultId(id),
                generation: 0,
                keys: KeyBlock {
                    epoch: 0,
                    slots: vec![],
                    master_commitment: keyblock::master_commitment(&mk),
                    body_key: [0; format::v2::SEALED_BODY_KEY_LEN],
                    body_commitment: [0; format::COMMITMENT_LEN],
                    lineage: None,
                },
                mac: [0; format::v2::MAC_LEN],
                body_nonce: [0; crypto::NONCE_LEN],
            },
            version: 2,
            master: Some(mk),
            body: Key::random(),
            opening_kek: None,
            opened_by: OpenedBy::Creation,
            secrets: Secrets::empty(),
            content: ContentDigest([0; 32]),
        };
        for s in new_slots {
            if let Err(e) = v.add_slot(s) {
                v.forget_keyring_entries(new_slots);
                return Err(e);
            }
        }
        Ok(v)
    }

    /// The master key; a cached unlock has none and cannot change slots
    /// (the type system keeps it from trying: `open::SlotCredential`).
    fn master(&self) -> Result<&Key> {
        self.master
            .as_ref()
            .ok_or_else(|| Error::StaleCachedKey(self.path.clone()))
    }

    /// Best effort: deletes the keyring entries of this vault's keyring slots
    /// in `new_slots`' stores, after a failed first write.
    pub(crate) fn forget_keyring_entries(&self, new_slots: &[NewSlot<'_>]) {
        for ns in new_slots {
            if let NewSlot::Keyring(store) = ns {
                for s in &self.header.keys.slots {
                    if let Some(account) = slot_account(&self.header.vault_id, s) {
                        let _ = store.delete(&account);
                    }
                }
            }
        }
    }

    /// Where slot `id` is in the header; an error naming it if it is not.
    fn slot_pos(&self, id: SlotId) -> Result<usize> {
        self.header
            .keys
            .slots
            .iter()
            .position(|s| s.id == id)
            .ok_or(Error::SlotNotFound(id))
    }

    fn check_room(&self) -> Result<()> {
        if self.header.keys.slots.len() >= format::v2::MAX_SLOTS_V2 {
            return Err(Error::TooManySlots(format::v2::MAX_SLOTS_V2));
        }
        Ok(())
    }

    /// Adds a slot; returns its id. A keyring slot's entry is created (never
    /// overwriting one) before the slot exists in memory.
    pub(crate) fn add_slot(&mut self, new: &NewSlot<'_>) -> Result<SlotId> {
        self.check_room()?;
        match new {
            NewSlot::Keyring(store) => self.add_keyring_slot(*store),
            NewSlot::Passphrase(pass, params) => {
                check_kdf_budget(&self.header, *params, None)?;
                let key = new_passphrase(pass, *params, &self.path)?;
                self.add_passphrase_slot(key)
            }
        }
    }

    /// Adds a keyring slot: a fresh X25519 identity, stored in `store`
    /// under a new account (never overwriting one) before the slot exists.
    pub(crate) fn add_keyring_slot(&mut self, store: &dyn KeyStore) -> Result<SlotId> {
        self.check_room()?;
        let id = slots::new_slot_id(&self.header.keys.slots);
        let kind = self.new_keyring_kind(store)?;
        self.header.keys.slots.push(SlotV2 {
            id,
            label: None,
            kind,
        });
        Ok(id)
    }

    /// A keyring slot's kind for a fresh identity stored in `store`.
    fn new_keyring_kind(&self, store: &dyn KeyStore) -> Result<SlotKindV2> {
        let mk = self.master()?;
        let identity = X25519Identity::generate();
        let recipient = identity.recipient();
        let age = keyblock::wrap_master_key(&identity.to_age().to_public(), mk)
            .map_err(|e| self.corrupt_wrap(e))?;
        store
            .create(
                &slots::keyring_account_v2(&self.header.vault_id, &recipient),
                identity.key(),
            )
            .map_err(Error::Keyring)?;
        Ok(SlotKindV2::Keyring(AgeWrap { recipient, age }))
    }

    fn corrupt_wrap(&self, e: keyblock::WrapFailed) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            detail: format!("wrapping the master key failed: {}", e.0),
        }
    }

    /// A passphrase slot's kind for `key` (Argon2id done): a fresh identity
    /// sealed under it, the master key wrapped to its recipient.
    fn passphrase_kind(&self, id: SlotId, key: &PassphraseKey) -> Result<SlotKindV2> {
        let mk = self.master()?;
        let identity = X25519Identity::generate();
        let recipient = identity.recipient();
        let sealed = keyblock::seal_identity(
            &key.kek,
            &IdentityBinding {
                vault_id: &self.header.vault_id,
                slot_id: id,
                params: key.params,
                salt: &key.salt,
                recipient: &recipient,
            },
            &identity,
        );
        let age = keyblock::wrap_master_key(&identity.to_age().to_public(), mk)
            .map_err(|e| self.corrupt_wrap(e))?;
        Ok(SlotKindV2::Passphrase {
            wrap: AgeWrap { recipient, age },
            salt: key.salt.clone(),
            params: key.params,
            identity: sealed,
        })
    }

    /// Adds a passphrase slot for `key` (Argon2id done). Returns its id.
    pub(crate) fn add_passphrase_slot(&mut self, key: PassphraseKey) -> Result<SlotId> {
        self.check_room()?;
        check_kdf_budget(&self.header, key.params, None)?;
        let id = slots::new_slot_id(&self.header.keys.slots);
        let kind = self.passphrase_kind(id, &key)?;
        self.header.keys.slots.push(SlotV2 {
            id,
            label: None,
            kind,
        });
        Ok(id)
    }

    /// Adds a recipient slot: the master key wrapped to `recipient` (a
    /// plugin recipient runs its plugin; a missing one is an error and
    /// nothing changes). A recipient another slot has is refused.
    pub(crate) fn add_recipient_slot(&mut self, recipient: &Recipient) -> Result<SlotId> {
        self.check_room()?;
        let canonical = recipient.canonical();
        if let Some(s) = self
            .header
            .keys
            .slots
            .iter()
            .find(|s| s.kind.wrap().is_some_and(|w| w.recipient == canonical))
        {
            return Err(Error::RecipientInUse(s.id));
        }
        let age = recipient
            .wrap(self.master()?, age::NoCallbacks)
            .map_err(|e| Error::CannotWrapTo {
                recipient: canonical.clone(),
                why: e.0,
            })?;
        let id = slots::new_slot_id(&self.header.keys.slots);
        self.header.keys.slots.push(SlotV2 {
            id,
            label: None,
            kind: SlotKindV2::Recipient(AgeWrap {
                recipient: canonical,
                age,
            }),
        });
        Ok(id)
    }

    /// Gives slot `id` the label `label` (or none); a label another slot
    /// has is refused.
    pub(crate) fn set_label(&mut self, id: SlotId, label: Option<Label>) -> Result<()> {
        if let Some(l) = &label {
            if self
                .header
                .keys
                .slots
                .iter()
                .any(|s| s.id != id && s.label.as_ref() == Some(l))
            {
                return Err(Error::LabelTaken(l.as_str().to_string()));
            }
        }
        let slot = self
            .header
            .keys
            .slots
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(Error::SlotNotFound(id))?;
        slot.label = label;
        Ok(())
    }

    /// Whether the keyring entry of slot `slot` (removed or about to be)
    /// holds a key that opens it to this vault's master key: only then may
    /// it be deleted, so a crafted header can never make vault delete
    /// another key.
    pub(crate) fn keyring_entry_is_ours(
        &self,
        slot: &SlotV2,
        store: &dyn KeyStore,
    ) -> Result<bool, KeyringError> {
        let Some(account) = slot_account(&self.header.vault_id, slot) else {
            return Ok(false);
        };
        let Some(mk) = &self.master else {
            return Ok(false);
        };
        let kek = store.get(&account)?;
        Ok(matches!(
            slot_master_key(&self.header.vault_id, slot, &kek),
            Some(k) if k.ct_eq(mk)
        ))
    }

    /// Gives passphrase slot `id` a new passphrase (`key`, Argon2id done):
    /// a new identity sealed under it, so the old passphrase does not open
    /// the new slot. (Whoever used the old one may still hold the master
    /// key: `rekey` ends that.) A legacy slot becomes a version-2 slot.
    pub(crate) fn replace_passphrase_key(&mut self, id: SlotId, key: PassphraseKey) -> Result<()> {
        let pos = self.passphrase_slot_pos(id)?;
        check_kdf_budget(&self.header, key.params, Some(id))?;
        let kind = self.passphrase_kind(id, &key)?;
        self.header.keys.slots[pos].kind = kind;
        Ok(())
    }

    /// Where passphrase slot `id` is; an error naming it if it is missing
    /// or not a passphrase slot.
    pub(crate) fn passphrase_slot_pos(&self, id: SlotId) -> Result<usize> {
        let pos = self.slot_pos(id)?;
        match self.header.keys.slots[pos].kind.kdf() {
            Some(_) => Ok(pos),
            None => Err(Error::NotAPassphraseSlot(id)),
        }
    }

    /// Whether `kek` opens slot `id` to this vault's master key (a key
    /// worked out before the lock, checked again under it).
    pub(crate) fn slot_key_opens(&self, id: SlotId, kek: &Key) -> bool {
        let (Some(s), Some(mk)) = (self.header.keys.slot(id), &self.master) else {
            return false;
        };
        matches!(slot_master_key(&self.header.vault_id, s, kek), Some(k) if k.ct_eq(mk))
    }

    /// The slots a rotation needs a key for: legacy slots (their wrap is a
    /// symmetric one); every other slot is re-wrapped from its public key.
    pub fn slots_needing_keys(&self) -> Vec<SlotId> {
        self.header
            .keys
            .slots
            .iter()
            .filter(|s| s.kind.is_legacy())
            .map(|s| s.id)
            .collect()
    }

    /// A new master key: every slot re-wrapped (a version-2 slot to its
    /// recipient; a legacy slot with its key from `keks`, a legacy
    /// passphrase slot becoming a version-2 one), every slot in `drop`
    /// removed, a new fingerprint key. A legacy slot with no key and not
    /// dropped is an error naming it (nothing changes); so is dropping
    /// every slot ([`Error::LastSlot`] when there is only one).
    ///
    /// Dropping a slot is removing a member: every secret present could be
    /// read through it, and is returned; with [`RotatePending::Mark`] each
    /// is marked rotate pending until its value changes.
    pub(crate) fn rekey(
        &mut self,
        keks: &[(SlotId, Key)],
        drop: &[SlotId],
        rotate: RotatePending,
    ) -> Result<Vec<ExposedSecret>> {
        let kek_of = |id: SlotId| keks.iter().find(|(i, _)| *i == id).map(|(_, k)| k);
        let missing: Vec<(SlotId, &'static str)> = self
            .header
            .keys
            .slots
            .iter()
            .filter(|s| s.kind.is_legacy() && kek_of(s.id).is_none() && !drop.contains(&s.id))
            .map(|s| (s.id, s.kind.name()))
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingSlotKeys(missing));
        }
        for d in drop {
            if self.header.keys.slot(*d).is_none() {
                return Err(Error::SlotNotFound(*d));
            }
        }
        if self.header.keys.slots.iter().all(|s| drop.contains(&s.id)) {
            return Err(if self.header.keys.slots.len() == 1 {
                Error::LastSlot
            } else {
                Error::DroppingEverySlot
            });
        }
        let old = self.master.replace(Key::random());
        let rewrapped = self.rewrap_all(keks, drop);
        match rewrapped {
            Ok(slots) => {
                let mk = self.master()?.clone();
                self.header.keys.slots = slots;
                self.header.keys.master_commitment = keyblock::master_commitment(&mk);
                // The old master key endorses the new one (a machine that
                // saw the old key accepts the new one only so).
                self.header.keys.lineage = Some(keyblock::lineage(
                    &self.header.vault_id,
                    self.header.keys.lineage.as_ref(),
                    old.as_ref(),
                    &mk,
                ));
                self.secrets.new_fingerprint_key();
            }
            Err(e) => {
                self.master = old;
                return Err(e);
            }
        }
        if drop.is_empty() {
            return Ok(Vec::new());
        }
        let exposed = self
            .entries()
            .map(|e| ExposedSecret {
                name: e.name.to_string(),
                updated: e.updated,
            })
            .collect();
        if rotate == RotatePending::Mark {
            self.secrets.mark_all_rotate_pending();
        }
        Ok(exposed)
    }

    fn rewrap_all(&self, keks: &[(SlotId, Key)], drop: &[SlotId]) -> Result<Vec<SlotV2>> {
        let mk = self.master()?;
        let vid = self.header.vault_id;
        let mut out = Vec::with_capacity(self.header.keys.slots.len());
        for s in &self.header.keys.slots {
            if drop.contains(&s.id) {
                continue;
            }
            let kek = keks.iter().find(|(i, _)| *i == s.id).map(|(_, k)| k);
            let kind = match (&s.kind, kek) {
                (SlotKindV2::LegacyPassphrase { salt, params, .. }, Some(kek)) => self
                    .passphrase_kind(
                        s.id,
                        &PassphraseKey {
                            salt: salt.clone(),
                            params: *params,
                            kek: kek.clone(),
                        },
                    )?,
                (SlotKindV2::LegacyKeyring { .. }, Some(kek)) => {
                    let v1 = slots::make_slot(&vid, s.id, SlotKind::Keyring, kek, mk);
                    SlotKindV2::LegacyKeyring {
                        nonce: v1.nonce,
                        wrapped: v1.wrapped,
                    }
                }
                (kind, _) => {
                    let Some(w) = kind.wrap() else {
                        return Err(Error::MissingSlotKeys(vec![(s.id, kind.name())]));
                    };
                    let r = Recipient::parse(&w.recipient).map_err(|_| {
                        self.corrupt_wrap(keyblock::WrapFailed(w.recipient.clone()))
                    })?;
                    // A plugin recipient whose plugin is missing or fails:
                    // said as such (nothing changes), not as corruption.
                    let age = r.wrap(mk, age::NoCallbacks).map_err(|e| match r.plugin() {
                        Some(_) => Error::CannotWrapTo {
                            recipient: w.recipient.clone(),
                            why: e.0,
                        },
                        None => self.corrupt_wrap(e),
                    })?;
                    let wrap = AgeWrap {
                        recipient: w.recipient.clone(),
                        age,
                    };
                    match kind {
                        SlotKindV2::Keyring(_) => SlotKindV2::Keyring(wrap),
                        SlotKindV2::Recipient(_) => SlotKindV2::Recipient(wrap),
                        SlotKindV2::Passphrase {
                            salt,
                            params,
                            identity,
                            ..
                        } => SlotKindV2::Passphrase {
                            wrap,
                            salt: salt.clone(),
                            params: *params,
                            identity: *identity,
                        },
                        _ => unreachable!("legacy kinds have no age wrap"),
                    }
                }
            };
            out.push(SlotV2 {
                id: s.id,
                label: s.label.clone(),
                kind,
            });
        }
        Ok(out)
    }

    /// Gives keyring slot `id` a fresh identity in `store`, under a new
    /// account (the old entry is left as it is: a copy of the file may
    /// still use it). Returns the new account.
    pub(crate) fn refresh_keyring_slot(
        &mut self,
        id: SlotId,
        store: &dyn KeyStore,
    ) -> Result<String> {
        let pos = self.slot_pos(id)?;
        let kind = self.new_keyring_kind(store)?;
        self.header.keys.slots[pos].kind = kind;
        Ok(
            slot_account(&self.header.vault_id, &self.header.keys.slots[pos])
                .expect("a keyring slot has an account"),
        )
    }

    /// If a legacy keyring slot opened this vault (with the master key):
    /// converts it to a version-2 keyring slot with a fresh identity in
    /// `store` under a new account. The legacy entry stays for copies of
    /// the file still on version 1. Best effort: a keyring that refuses
    /// leaves the slot legacy.
    /// Returns the new entry's account (to delete if the write fails).
    pub(crate) fn convert_opening_keyring_slot(&mut self, store: &dyn KeyStore) -> Option<String> {
        let OpenedBy::Slot(id) = self.opened_by else {
            return None;
        };
        let pos = self.header.keys.slots.iter().position(|s| s.id == id)?;
        if !matches!(
            self.header.keys.slots[pos].kind,
            SlotKindV2::LegacyKeyring { .. }
        ) {
            return None;
        }
        let kind = self.new_keyring_kind(store).ok()?;
        self.header.keys.slots[pos].kind = kind;
        slot_account(&self.header.vault_id, &self.header.keys.slots[pos])
    }

    /// A legacy passphrase slot that opened this vault becomes a version-2
    /// slot, sealed under the Argon2id output already worked out.
    fn convert_opening_passphrase_slot(&mut self) -> Result<()> {
        let (OpenedBy::Slot(id), Some(kek)) = (self.opened_by, self.opening_kek.clone()) else {
            return Ok(());
        };
        let Some(pos) = self.header.keys.slots.iter().position(|s| s.id == id) else {
            return Ok(());
        };
        if let SlotKindV2::LegacyPassphrase { salt, params, .. } = &self.header.keys.slots[pos].kind
        {
            let key = PassphraseKey {
                salt: salt.clone(),
                params: *params,
                kek,
            };
            self.header.keys.slots[pos].kind = self.passphrase_kind(id, &key)?;
        }
        Ok(())
    }

    /// Encrypts the vault into file bytes (always version 2): generation
    /// incremented, fresh body nonce. With the master key: a fresh body
    /// key, the key block sealed again (epoch, MAC), and the legacy
    /// passphrase slot that opened it converted. With only the body key
    /// (the cache): the key block as it was. Refused, with nothing changed,
    /// when the generation is already [`format::MAX_GENERATION`]: it never
    /// wraps.
    pub fn seal(&mut self) -> Result<Vec<u8>> {
        let generation = format::next_generation(self.header.generation).ok_or_else(|| {
            Error::GenerationExhausted {
                path: self.path.clone(),
                generation: self.header.generation,
            }
        })?;
        if self.master.is_none() && self.version != 2 {
            // A version-1 file is never opened through the cache.
            return Err(Error::StaleCachedKey(self.path.clone()));
        }
        if let Some(mk) = self.master.clone() {
            self.convert_opening_passphrase_slot()?;
            let bk = Key::random();
            let vid = self.header.vault_id;
            self.header.keys.epoch = generation;
            self.header.keys.master_commitment = keyblock::master_commitment(&mk);
            if self.header.keys.lineage.as_ref().map(|l| l.key) != Some(keyblock::lineage_key(&mk))
            {
                // A file from before the lineage (or just converted from
                // version 1, or just made): it starts here, with no links.
                self.header.keys.lineage = Some(keyblock::lineage(&vid, None, None, &mk));
            }
            self.header.keys.body_key = keyblock::seal_body_key(&mk, &vid, &bk);
            self.header.keys.body_commitment = keyblock::body_commitment(&bk);
            self.header.mac = keyblock::key_block_mac(&mk, &vid, &self.header.keys);
            self.body = bk;
        }
        self.header.generation = generation;
        self.version = 2;
        self.header.body_nonce = crypto::random_nonce();
        let prefix = format::write_prefix_v2(&self.header);
        // Never write a header that a later open would refuse (too many or
        // too large slots, a budget passed): checked with the reader itself.
        if let Err(e) = format::v2::HeaderV2::decode(&prefix[format::PREFIX_LEN..]) {
            return Err(Error::UnwritableHeader(match e {
                FormatError::Corrupt(d) => d.to_string(),
                FormatError::KdfOutOfBounds(d) => d,
                FormatError::KdfOverBudget => "the KDF budget would be passed".into(),
                FormatError::UnsupportedVersion(_) => "unknown version".into(),
            }));
        }
        // One buffer, sized up front (no reallocation leaves plaintext
        // behind) and zeroizing until the body in it is encrypted.
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(
            prefix.len() + self.secrets.encoded_len_v2() + crypto::TAG_LEN,
        ));
        crate::secret::lock_memory(&out);
        out.extend_from_slice(&prefix);
        self.secrets.encode_v2_into(&mut out);
        crypto::seal_after(&self.body, &self.header.body_nonce, prefix.len(), &mut out);
        self.content = content_digest(&out, prefix.len());
        Ok(std::mem::take(&mut *out))
    }

    /// The file this vault was opened from or last sealed to, as the
    /// rollback memory knows it.
    ///
    /// A file without a lineage (version 1, or version 2 from before it)
    /// opened with its master key is known by that key's lineage key: the
    /// key a member's rotation of it, or its conversion, will start from.
    pub fn file_state(&self) -> FileState {
        let mut state = file_state(&self.header, self.content);
        if state.lineage.is_none() {
            state.lineage = self.master.as_ref().map(keyblock::lineage_key);
        }
        state
    }

    /// The header (slots, id, generation).
    pub fn header(&self) -> &HeaderV2 {
        &self.header
    }

    /// What opened this vault.
    pub fn opened_by(&self) -> OpenedBy {
        self.opened_by
    }

    /// The body key, for a cached unlock.
    pub fn body_key(&self) -> &Key {
        &self.body
    }

    /// The two commitments one master key has had, when they differ: its
    /// version-1 form (the data-key commitment of the file it was before
    /// conversion) and the one in this header. The rollback memory reads
    /// the first as the second ([`Record::aliased`]). `None` without the
    /// master key (opened through the cache) or for a version-1 file.
    ///
    /// [`Record::aliased`]: crate::rollback::Record::aliased
    pub fn key_alias(&self) -> Option<(KeyCommitment, KeyCommitment)> {
        let legacy = KeyCommitment(crypto::commitment(self.master.as_ref()?));
        let current = key_commitment(&self.header);
        (legacy != current).then_some((legacy, current))
    }

    /// The master key, if a slot opened the vault (never from the cache).
    /// For tools that seal a header themselves (the tests' crafted files);
    /// never cached, never written anywhere.
    pub fn master_key(&self) -> Option<&Key> {
        self.master.as_ref()
    }

    /// The format version of the file this vault was read from (2 once
    /// written).
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The fingerprint of secret `e` (`keyblock::fingerprint`), for `vault
    /// textconv`; `None` for a version-1 file, which has no fingerprint key
    /// (the one held in memory is random until the first write).
    pub fn fingerprint(&self, e: &EntryRef<'_>) -> Option<[u8; 32]> {
        (self.version == 2).then(|| {
            keyblock::fingerprint(self.secrets.fingerprint_key(), e.name, e.expose_value())
        })
    }

    /// The path this vault was read from (for messages).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The digests of exposed values no secret holds now
    /// ([`keyblock::exposed_digest`]), sorted.
    pub(crate) fn exposed(&self) -> &[[u8; format::EXPOSED_DIGEST_LEN]] {
        self.secrets.exposed()
    }

    /// The body's fingerprint key (a version-1 file's is random until its
    /// first write).
    pub(crate) fn fingerprint_key(&self) -> &[u8; format::FINGERPRINT_KEY_LEN] {
        self.secrets.fingerprint_key()
    }

    /// Makes this vault the result of a merge (`merge::merge_vaults`):
    /// `slots`, the merged `secrets`, and `generation` (the larger of the
    /// two sides'; sealing adds one). A key block that changes needs the
    /// master key: opened through the cache, only OURS's slots can stay.
    pub(crate) fn become_merge_result(
        &mut self,
        slots: Vec<SlotV2>,
        secrets: Secrets,
        generation: u64,
    ) -> Result<()> {
        if self.master.is_none() && slots != self.header.keys.slots {
            return Err(Error::CannotMerge(
                "the slots changed on the other side, and merging slots needs the master key, which the cached unlock does not hold: give the passphrase (VAULT_PASSPHRASE_FILE) or merge where this machine's keyring slot opens the vault".into(),
            ));
        }
        self.header.keys.slots = slots;
        self.secrets = secrets;
        self.header.generation = generation;
        Ok(())
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

    /// [`Vault::set`] at time `t` (Unix seconds). A rotate-pending mark
    /// stays while the value's bytes stay the same, and comes back when the
    /// name is set again to a value that was rotate pending under it (after
    /// a change or a delete: the body keeps a digest of it); a conflict
    /// mark clears.
    pub fn set_at(&mut self, name: &str, value: SecretBytes, t: u64) -> Result<()> {
        validate_name(name)?;
        validate_value(value.expose())?;
        let vid = self.header.vault_id;
        let old = self.secrets.get(name);
        let created = old.map_or(t, |e| e.created);
        let old_pending = old.filter(|e| e.marks.rotate_pending);
        let same =
            old_pending.is_some_and(|e| SecretBytes::copy_from(e.expose_value()).ct_eq(&value));
        // The pending value this one replaces stays known as exposed.
        let leaving = old_pending
            .filter(|_| !same)
            .map(|e| keyblock::exposed_digest(&vid, name, e.expose_value()));
        let rotate_pending = same
            || self
                .secrets
                .is_exposed(&keyblock::exposed_digest(&vid, name, value.expose()));
        if let Some(d) = leaving {
            self.secrets.record_exposed(d);
        }
        self.secrets.insert(
            name,
            Entry {
                value,
                created,
                updated: t,
                rotate_pending,
            },
        );
        Ok(())
    }

    /// Ends the merge conflict on `name` at time `t`: keeps the value it
    /// holds (times unchanged), or with `other` takes the other side's
    /// value (updated at `t`) or deletes it (the other side deleted it).
    /// A rotate-pending mark stays: both values were in the file.
    pub fn resolve_at(&mut self, name: &str, other: bool, t: u64) -> Result<()> {
        let e = self
            .secrets
            .get(name)
            .ok_or_else(|| Error::no_such_secret(name))?;
        let conflict = e
            .marks
            .conflict
            .ok_or_else(|| Error::NoConflict(name.to_string()))?;
        let exposed = e
            .marks
            .rotate_pending
            .then(|| keyblock::exposed_digest(&self.header.vault_id, name, e.expose_value()));
        let (value, updated) = match (other, conflict) {
            (false, _) => (e.value_copy(), e.updated),
            (true, format::Conflict::Other(v)) => (SecretBytes::copy_from(v), t),
            (true, format::Conflict::OtherDeleted) => {
                self.secrets.remove(name);
                if let Some(d) = exposed {
                    self.secrets.record_exposed(d);
                }
                return Ok(());
            }
        };
        // The other side's value may be one exposed under this name.
        let rotate_pending = e.marks.rotate_pending
            || (other
                && self.secrets.is_exposed(&keyblock::exposed_digest(
                    &self.header.vault_id,
                    name,
                    value.expose(),
                )));
        let entry = Entry {
            value,
            created: e.created,
            updated,
            rotate_pending,
        };
        if other {
            if let Some(d) = exposed {
                self.secrets.record_exposed(d);
            }
        }
        self.secrets.insert(name, entry);
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
            // A pending value stays known as exposed (set again, it is
            // marked again).
            let exposed = self
                .secrets
                .get(n)
                .filter(|e| e.marks.rotate_pending)
                .map(|e| keyblock::exposed_digest(&self.header.vault_id, n, e.expose_value()));
            self.secrets.remove(n);
            if let Some(d) = exposed {
                self.secrets.record_exposed(d);
            }
        }
        Ok(())
    }
}

/// A new passphrase slot's Argon2id input (fresh salt) and output: the
/// KDF run, with the bounds and free memory checked first; an empty
/// passphrase refused.
pub(crate) fn new_passphrase(
    pass: &SecretBytes,
    params: KdfParams,
    path: &Path,
) -> Result<PassphraseKey> {
    if pass.is_empty() {
        return Err(Error::EmptyPassphrase);
    }
    let (kind, kek) = slots::new_passphrase_kek(pass.expose(), params, available_memory_kib())
        .map_err(|e| kdf_error(e, true, path))?;
    let SlotKind::Passphrase { salt, params } = kind else {
        unreachable!("a passphrase kind")
    };
    Ok(PassphraseKey { salt, params, kek })
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

    /// A key block whose lineage key is not its master key's (only a
    /// holder of the master key can make its MAC) is refused, and a lineage
    /// key checked before for the same master key vouches only for that
    /// key: never for another lineage key, nor under another commitment.
    #[test]
    fn a_lineage_checked_before_vouches_only_for_itself() {
        let p = pass("pw");
        let mut v = Vault::create(Path::new("t"), &[NewSlot::Passphrase(&p, CHEAP)]).unwrap();
        let bytes = v.seal().unwrap();
        let cred = Credential::Passphrase(p);
        let real = LockedVault::parse(Path::new("t"), bytes).unwrap();
        let mk = real.clone().unlock(&cred).unwrap().master.clone().unwrap();
        let commitment = key_commitment(real.header());
        let genuine = real.header().keys.lineage.as_ref().unwrap().key;
        // The master key's holder writes a lineage key of another key.
        let mut v = real.clone().unlock(&cred).unwrap();
        let other = keyblock::lineage(&v.header.vault_id, None, None, &Key::random());
        let planted = other.key;
        v.header.keys.lineage = Some(other);
        v.header.mac = keyblock::key_block_mac(&mk, &v.header.vault_id, &v.header.keys);
        v.header.body_nonce = crypto::random_nonce();
        let prefix = format::write_prefix_v2(&v.header);
        let mut forged = prefix.clone();
        v.secrets.encode_v2_into(&mut forged);
        crypto::seal_after(&v.body, &v.header.body_nonce, prefix.len(), &mut forged);
        let opens = |checked: Option<(KeyCommitment, [u8; LINEAGE_KEY_LEN])>| {
            let mut l = LockedVault::parse(Path::new("t"), forged.clone()).unwrap();
            if let Some((c, k)) = checked {
                l.lineage_checked_before(c, k);
            }
            l.unlock(&cred).map(drop)
        };
        let refused = |r: Result<()>| matches!(r, Err(Error::Corrupt { .. }));
        assert!(refused(opens(None)));
        assert!(refused(opens(Some((commitment, genuine)))));
        assert!(refused(opens(Some((KeyCommitment([7; 32]), planted)))));
        // The genuine file, with its own pair checked before, still opens.
        let mut l = real;
        l.lineage_checked_before(commitment, genuine);
        assert!(l.unlock(&cred).is_ok());
    }

    /// F5: a rotate-pending value deleted, or changed, and then set again
    /// under its name is rotate pending again, also after the file is
    /// written and read back; another value clears the mark for good.
    #[test]
    fn an_exposed_value_set_again_is_rotate_pending_again() {
        let p = pass("pw");
        let mut v = Vault::create(Path::new("t"), &[NewSlot::Passphrase(&p, CHEAP)]).unwrap();
        let val = |s: &str| SecretBytes::copy_from(s.as_bytes());
        v.set("A", val("exposed")).unwrap();
        v.set("B", val("exposed")).unwrap();
        v.secrets.mark_all_rotate_pending();
        let pending = |v: &Vault, n: &str| v.get(n).unwrap().marks.rotate_pending;
        v.delete(&["A".into()]).unwrap();
        v.set("B", val("fresh")).unwrap();
        assert!(!pending(&v, "B"));
        let mut v = reopen(v.seal().unwrap(), &Credential::Passphrase(p.clone())).unwrap();
        assert_eq!(v.exposed().len(), 2);
        v.set("A", val("exposed")).unwrap();
        v.set("B", val("exposed")).unwrap();
        assert!(pending(&v, "A") && pending(&v, "B"));
        // The same bytes under a name that never held them: not marked.
        v.set("C", val("exposed")).unwrap();
        assert!(!pending(&v, "C"));
        v.set("A", val("new")).unwrap();
        assert!(!pending(&v, "A"));
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
        a.header.keys.slots = b.header.keys.slots.clone();
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
                rotate_pending: false,
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
        let kr = v.header.keys.slots[0].id;
        let account = slot_account(&v.header.vault_id, v.header.keys.slot(kr).unwrap()).unwrap();
        // Someone else's key under that account: must survive.
        store.delete(&account).unwrap();
        let foreign = Key::random();
        store.create(&account, &foreign).unwrap();
        let slot = v.header.keys.slot(kr).unwrap().clone();
        assert!(!v.keyring_entry_is_ours(&slot, &store).unwrap());
        assert_eq!(store.get(&account).unwrap().expose(), foreign.expose());
        // The last slot cannot go. (Removing one gives a new fingerprint key.)
        let fp = *v.secrets.fingerprint_key();
        v.rekey(&[], &[kr], RotatePending::Mark).unwrap();
        assert_ne!(v.secrets.fingerprint_key(), &fp);
        let pp = v.header.keys.slots[0].id;
        let e = v.rekey(&[], &[pp], RotatePending::Mark).unwrap_err();
        assert!(matches!(e, Error::LastSlot), "{e}");
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
        let id = v.header.keys.slots[0].id;
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
        let kind = |params| PassphraseKey {
            salt: vec![0; 16],
            params,
            kek: Key::random(),
        };
        let e = v.add_passphrase_slot(kind(over)).unwrap_err();
        assert!(
            matches!(e, Error::NewSlotOverKdfBudget(OverBudget { left, .. }) if left == BUDGET - CHEAP.cost()),
            "{e}"
        );
        assert_eq!(v.header.keys.slots.len(), 1);
        let top = KdfParams {
            memory_kib: 2 << 20,
            time: 16,
            parallelism: 1,
        };
        v.replace_passphrase_key(id, kind(top)).unwrap();
        let e = v.add_passphrase_slot(kind(CHEAP)).unwrap_err();
        assert!(e.to_string().contains("leave 0 GiB-passes"), "{e}");
        assert!(e.to_string().contains("32 GiB-passes"), "{e}");
        v.add_keyring_slot(&MemoryKeyStore::default()).unwrap();
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
        let ids: Vec<SlotId> = v.header.keys.slots.iter().map(|s| s.id).collect();
        let locked = LockedVault::parse(Path::new("t"), v.seal().unwrap()).unwrap();
        let by = |cred: &Credential, only: Option<SlotId>| {
            locked
                .derive(cred, &|| None, only.map(SlotRef::Id).as_ref())
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
