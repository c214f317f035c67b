//! How quantities are shown to people, shared by the library's error
//! messages and the CLI's listings; no I/O.

/// `65536` KiB → `64 MiB`: the largest unit that shows it exactly.
pub fn format_kib(kib: u64) -> String {
    if kib.is_multiple_of(1024 * 1024) {
        format!("{} GiB", kib / (1024 * 1024))
    } else if kib.is_multiple_of(1024) {
        format!("{} MiB", kib / 1024)
    } else {
        format!("{kib} KiB")
    }
}

/// Argon2id work, memory (KiB) × passes, as `format::kdf::BUDGET` counts
/// it: `33554432` → `32 GiB-passes` (one pass over 32 GiB, or 16 over 2 GiB).
pub fn format_work(kib_passes: u64) -> String {
    format!("{}-passes", format_kib(kib_passes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_kib_units() {
        assert_eq!(format_kib(65536), "64 MiB");
        assert_eq!(format_kib(2 * 1024 * 1024), "2 GiB");
        assert_eq!(format_kib(1000), "1000 KiB");
        assert_eq!(format_work(2 * 1024 * 1024 * 16), "32 GiB-passes");
    }
}
