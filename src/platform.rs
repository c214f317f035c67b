//! Small operating-system facts and switches the library needs, each behind
//! `cfg`: available memory, core dumps, memory locking. Best effort: a
//! platform without the facility gets `None` or a no-op.

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
