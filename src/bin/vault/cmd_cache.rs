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
        format_utc(expires)
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

/// `2026-11-25 18:04:05` for Unix seconds (UTC; no time-zone database needed).
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::format_utc(1_795_628_465), "2026-11-25 17:41:05");
        assert_eq!(super::format_utc(951_782_400), "2000-02-29 00:00:00");
    }
}
