//! Rollback memory: the highest generation seen of each vault, by vault id,
//! in `$XDG_STATE_HOME/vault/generations/<vault id hex>` (default
//! `~/.local/state/vault/...`). Not secret; written atomically and never
//! lowered except deliberately (`--allow-rollback`).
//!
//! A machine with no memory of a vault (a fresh CI runner) cannot detect a
//! rollback; SECURITY.md says so.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::format::VaultId;

/// The directory of the generation files, if a home can be found.
pub fn dir() -> Option<PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty() && std::path::Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })
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
/// and the replace happen under a lock on the directory's `.lock` file, so
/// two processes remembering at once can never lower the memory.
pub fn remember(id: &VaultId, generation: u64, force: bool) {
    let Some(dir) = dir() else { return };
    if !force && remembered(id).is_some_and(|g| g >= generation) {
        return; // the common case: nothing to write, no lock needed
    }
    if crate::store::create_dir_private(&dir).is_err() {
        return;
    }
    let Ok(lock) = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join(".lock"))
    else {
        return;
    };
    if lock.lock().is_err() {
        return;
    }
    if !force && remembered(id).is_some_and(|g| g >= generation) {
        return;
    }
    let path = dir.join(id.to_hex());
    let mut rnd = [0u8; 6];
    crate::crypto::fill_random(&mut rnd);
    let tmp = dir.join(format!(
        ".{}.{}",
        id.to_hex(),
        rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let ok = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(format!("{generation}\n").as_bytes())?;
            f.sync_all()
        })
        .and_then(|_| fs::rename(&tmp, &path));
    if ok.is_err() {
        let _ = fs::remove_file(&tmp);
    }
}
