//! Rollback memory: the highest generation seen of each vault, by vault id,
//! in `$XDG_STATE_HOME/vault/generations/<vault id hex>` (default
//! `~/.local/state/vault/...`). Not secret; written atomically and never
//! lowered except deliberately (`--allow-rollback`).
//!
//! A machine with no memory of a vault (a fresh CI runner) cannot detect a
//! rollback; SECURITY.md says so.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use crate::format::VaultId;
use crate::store;

/// The directory of the generation files, if a home can be found.
pub fn dir() -> Option<PathBuf> {
    crate::platform::xdg_dir("XDG_STATE_HOME", ".local/state")
        .map(|d| d.join("vault").join("generations"))
}

/// The highest generation remembered for `id`.
pub fn remembered(id: &VaultId) -> Option<u64> {
    let text = fs::read_to_string(dir()?.join(id.to_hex())).ok()?;
    text.trim().parse().ok()
}

/// Remembers `generation` for `id`: raised to it, or set to it when `force`
/// (accepting a restored backup). Best effort: a machine where the state
/// directory cannot be written simply has no rollback memory. The compare
/// and the replace happen under the file's own write lock (as for a vault:
/// `store::lock`, `store::write_atomic`), so two processes remembering at
/// once can never lower the memory.
pub fn remember(id: &VaultId, generation: u64, force: bool) {
    let Some(dir) = dir() else { return };
    if !force && remembered(id).is_some_and(|g| g >= generation) {
        return; // the common case: nothing to write, no lock needed
    }
    if store::create_dir_private(&dir).is_err() {
        return;
    }
    let path = dir.join(id.to_hex());
    let Ok(lock) = store::lock(&path, Duration::from_secs(5), &mut || {}) else {
        return;
    };
    if !force && remembered(id).is_some_and(|g| g >= generation) {
        return;
    }
    let _ = store::write_atomic(&path, format!("{generation}\n").as_bytes(), &lock);
}
