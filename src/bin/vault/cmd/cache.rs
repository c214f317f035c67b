//! `vault unlock` and `vault lock`: the cached unlock in the kernel keyring.

use vault::cache;
use vault::error::{Error, Result};

use crate::unlock::Session;

pub fn unlock(s: &mut Session, timeout: &str) -> Result<()> {
    let secs = cache::parse_duration(timeout).map_err(Error::Usage)?;
    if secs == 0 {
        return Err(Error::Usage(
            "a timeout of 0 would cache the key forever; give one from 1s to 24h".into(),
        ));
    }
    if secs > cache::MAX_TIMEOUT_SECS {
        return Err(Error::Usage("the longest cache timeout is 24h".into()));
    }
    let v = s.open_read()?;
    let expires = cache::put(&v.header().vault_id, v.data_key(), secs).map_err(Error::Other)?;
    eprintln!(
        "vault: {} unlocked for {} (until {} UTC); `vault lock` ends it sooner",
        s.path.display(),
        timeout,
        crate::output::format_utc(expires)
    );
    Ok(())
}

pub fn lock(s: &mut Session) -> Result<()> {
    let locked = s.read_locked()?;
    let removed = cache::remove(&locked.header().vault_id).map_err(Error::Other)?;
    if removed {
        eprintln!("vault: removed the cached key of {}", s.path.display());
    } else {
        eprintln!("vault: {} had no cached key", s.path.display());
    }
    Ok(())
}
