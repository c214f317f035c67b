//! `vault unlock` and `vault lock`: the cached unlock in the kernel keyring.

use std::time::Duration;

use vault::cache;
use vault::error::Error;

use crate::error::Result;

use crate::output::format_utc;
use crate::unlock::Ctx;

pub fn unlock(ctx: &mut Ctx<'_>, timeout: Duration) -> Result<()> {
    let cached_before = &ctx.stores.cached_before;
    // Caching needs a real unlock, never the cached key itself.
    let prepared = ctx.prepare_slots()?;
    let id = prepared.header().vault_id;
    // A body key this machine cached before may have been read from the
    // kernel keyring meanwhile: it is not cached again. A write with the
    // master key draws a fresh one first (if another process drew one in
    // between, this write only draws another).
    let seen_before = prepared.version() == 2
        && cached_before.contains(&id, &prepared.header().keys.body_commitment);
    let convert = prepared.version() == 1;
    let body_key = if convert || seen_before {
        // A version-1 file's only key is its long-term data key (the master
        // key once converted): it never goes to the cache. The file is
        // written as version 2 first, and its fresh body key is cached.
        let txn = prepared.begin()?;
        let (_, body_key) = txn.commit_keeping_body_key()?;
        if convert {
            eprintln!(
                "vault: {} converted to format version 2 (the cache holds only its body key)",
                ctx.inv.path.display()
            );
        } else {
            eprintln!("vault: drew a fresh body key (this machine had cached the last one)");
        }
        body_key
    } else {
        prepared.read()?.body_key().clone()
    };
    let expires = cache::put(&id, &body_key, timeout.as_secs()).map_err(Error::Cache)?;
    cached_before.remember(&id, &vault::keyblock::body_commitment(&body_key));
    eprintln!(
        "vault: {} unlocked for {} (until {} UTC); `vault lock` ends it sooner",
        ctx.inv.path.display(),
        crate::cli::format_duration(timeout),
        format_utc(expires)
    );
    Ok(())
}

pub fn lock(ctx: &mut Ctx<'_>) -> Result<()> {
    let locked = ctx.opener.locked()?;
    let removed = cache::remove(&locked.header().vault_id).map_err(Error::Cache)?;
    if removed {
        eprintln!(
            "vault: removed the cached key of {}",
            ctx.inv.path.display()
        );
    } else {
        eprintln!("vault: {} had no cached key", ctx.inv.path.display());
    }
    Ok(())
}
