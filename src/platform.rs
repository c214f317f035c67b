//! Operating-system facts the library needs: XDG directories, the clock,
//! and (behind `cfg`) the memory available for a KDF run. Best effort: a
//! platform without the facility gets `None`. (Core dumps and memory locking are the binary's, in
//! `src/bin/vault/sys.rs`, since they need unsafe code.)

use std::path::{Path, PathBuf};

/// An XDG base directory: `$var` when it is set to an absolute path, else
/// `$HOME/<home_relative>` (e.g. `XDG_STATE_HOME`, `.local/state`).
pub fn xdg_dir(var: &str, home_relative: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty() && Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(home_relative))
        })
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Memory the machine has available now, KiB (`MemAvailable` on Linux).
#[cfg(target_os = "linux")]
pub fn available_memory_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Memory the machine has available now, KiB: unknown here.
#[cfg(not(target_os = "linux"))]
pub fn available_memory_kib() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn reads_available_memory() {
        let kib = super::available_memory_kib().expect("MemAvailable in /proc/meminfo");
        assert!(kib > 1024, "{kib}");
    }
}
