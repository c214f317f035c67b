//! `vault`: named secrets in one encrypted file, opened through key slots
//! (platform keyring or Argon2id passphrase) and handed to child processes in
//! memory only.
//!
//! This crate is the library core under the `vault` binary. It never prints,
//! prompts, reads the terminal or exits; those belong to `src/bin/vault/`.
//!
//! Map (see `docs/ARCHITECTURE.md`):
//! - [`format`]: the file format as pure functions over bytes (parse/write),
//!   with the KDF parameters and their bounds.
//! - [`crypto`]: XChaCha20-Poly1305 seal/open, Argon2id, the key commitment.
//! - [`secret`]: the only types that hold key material, passphrases and values.
//! - [`slots`]: key slots (passphrase, keyring) and the [`slots::KeyStore`] trait.
//! - [`vault`]: a locked (parsed) and an unlocked vault; get/set/list/delete in memory.
//! - [`body_edit`]: the secrets of an open vault as edited (the body read, plus changes).
//! - [`store`]: file I/O only: reading with bounds, the write lock, atomic replace.
//! - [`render`] and [`mask`]: template substitution and stream masking, pure.
//! - [`exec`]: what `vault exec` hands a command (environment, files, values to mask), pure.
//! - [`interchange`]: `.env`, JSON and Nextflow store files in and out, pure.
//! - [`envnames`]: variable names that change how programs load (left out of shell exports).
//! - [`cache`]: the cached unlock (data key in the Linux kernel keyring).
//! - [`merge`]: the three-way merge of `vault merge` (per name, per slot, across a rotation), pure.
//! - [`open`]: the one open path: [`open::Opener`], read, and the write transaction.
//! - [`rollback`]: rollback memory per vault path (key, generation, content, retired keys) behind a trait.
//! - [`error`]: the library's one error enum; [`display`]: how sizes are shown.
#![forbid(unsafe_code)]

pub mod body_edit;
pub mod cache;
pub mod crypto;
pub mod display;
pub mod envnames;
pub mod error;
pub mod exec;
pub mod format;
pub mod identities;
pub mod interchange;
pub mod keyblock;
pub mod mask;
pub mod merge;
pub mod open;
pub mod platform;
pub mod render;
pub mod rollback;
pub mod secret;
pub mod slots;
pub mod store;
pub mod vault;

pub use error::{Error, Result};
pub use open::{Opener, SlotCredential, WriteTxn};
pub use secret::{Key, SecretBuf, SecretBytes};
pub use vault::{Credential, LockedVault, OpenedBy, Vault};
