//! Everything the CLI writes for a person: errors with their hint,
//! warnings, stdout that tolerates a closed pipe, and display formats
//! (dates) shared by several commands. Never a secret in a message.

use std::io::Write;

use vault::display::format_kib;
use vault::error::Error;

use crate::error::CliError;
use vault::format::{Header, Slot, SlotKind};
use vault::slots::{keyring_account, KEYRING_SERVICE};

/// Prints an error and its hint on stderr.
pub fn report(e: &CliError) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "vault: {e}");
    if let Some(h) = e.hint() {
        let _ = writeln!(err, "  hint: {h}");
    }
}

/// Prints a warning on stderr.
pub fn warn(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "vault: warning: {msg}");
}

/// Writes to stdout, mapping errors (a closed pipe included) to [`Error`].
pub fn stdout_write(bytes: &[u8]) -> crate::error::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("writing to", "standard output", e).into())
}

/// A slot as JSON, the one shape every command prints (`key list --json`,
/// `doctor --json`): never key material.
pub fn slot_json(h: &Header, sl: &Slot) -> serde_json::Value {
    match &sl.kind {
        SlotKind::Keyring => serde_json::json!({"id": sl.id.to_hex(), "kind": "keyring",
            "keyring_service": KEYRING_SERVICE,
            "keyring_account": keyring_account(&h.vault_id, sl.id)}),
        SlotKind::Passphrase { params, .. } => {
            serde_json::json!({"id": sl.id.to_hex(), "kind": "passphrase",
            "kdf": "argon2id", "memory_kib": params.memory_kib, "time": params.time, "parallelism": params.parallelism})
        }
    }
}

/// A slot as one line of `vault key list`.
pub fn slot_line(h: &Header, sl: &Slot) -> String {
    match &sl.kind {
        SlotKind::Keyring => format!(
            "{}  keyring     service {} account {}",
            sl.id.to_hex(),
            KEYRING_SERVICE,
            keyring_account(&h.vault_id, sl.id)
        ),
        SlotKind::Passphrase { params, .. } => format!(
            "{}  passphrase  argon2id m={} t={} p={}",
            sl.id.to_hex(),
            format_kib(params.memory_kib as u64),
            params.time,
            params.parallelism
        ),
    }
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
