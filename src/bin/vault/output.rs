//! Everything the CLI writes for a person: errors with their hint,
//! warnings, stdout that tolerates a closed pipe, and display formats
//! (dates) shared by several commands. Never a secret in a message.

use std::io::Write;

use vault::display::format_kib;
use vault::error::Error;

use crate::error::CliError;
use vault::format::v2::{HeaderV2, SlotKindV2, SlotV2};
use vault::slots::KEYRING_SERVICE;
use vault::vault::slot_account;

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

/// Writes `bytes` to a new file at `path`, mode 0600 from its creation,
/// synced; an existing file is never overwritten (a usage error). The
/// parent directory is made 0700 if it is missing. For files the user asks
/// for by name (`identity new --output`, `key export-slot --output`) and
/// the personal identity file.
pub fn write_new_file(path: &std::path::Path, bytes: &[u8]) -> crate::error::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        vault::store::create_dir_private(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::Usage(format!(
                "{} exists already; it is never overwritten (choose another path, or remove it first)",
                path.display()
            )),
            _ => Error::io("creating", path, e).into(),
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("writing", path, e).into())
}

/// A slot as JSON, the one shape every command prints (`key list --json`,
/// `doctor --json`): never key material. `"legacy": true` marks a slot
/// carried over from a version-1 file (converted when its credential is
/// next used for a write).
pub fn slot_json(h: &HeaderV2, sl: &SlotV2) -> serde_json::Value {
    let mut j = serde_json::json!({"id": sl.id.to_hex(), "kind": sl.kind.name()});
    if let Some(l) = &sl.label {
        j["label"] = serde_json::json!(l.as_str());
    }
    if let Some(account) = slot_account(&h.vault_id, sl) {
        j["keyring_service"] = serde_json::json!(KEYRING_SERVICE);
        j["keyring_account"] = serde_json::json!(account);
    }
    if let Some((_, params)) = sl.kind.kdf() {
        j["kdf"] = serde_json::json!("argon2id");
        j["memory_kib"] = serde_json::json!(params.memory_kib);
        j["time"] = serde_json::json!(params.time);
        j["parallelism"] = serde_json::json!(params.parallelism);
    }
    if let SlotKindV2::Recipient(w) = &sl.kind {
        j["recipient"] = serde_json::json!(w.recipient);
    }
    if sl.kind.is_legacy() {
        j["legacy"] = serde_json::json!(true);
    }
    j
}

/// A slot as one line of `vault key list`.
pub fn slot_line(h: &HeaderV2, sl: &SlotV2) -> String {
    let what = match (&sl.kind, sl.kind.kdf(), slot_account(&h.vault_id, sl)) {
        (SlotKindV2::Recipient(w), _, _) => format!("recipient   {}", w.recipient),
        (_, Some((_, params)), _) => format!(
            "passphrase  argon2id m={} t={} p={}",
            format_kib(params.memory_kib as u64),
            params.time,
            params.parallelism
        ),
        (_, None, Some(account)) => {
            format!("keyring     service {KEYRING_SERVICE} account {account}")
        }
        _ => sl.kind.name().to_string(),
    };
    let mut line = format!("{}  {what}", sl.id.to_hex());
    if sl.kind.is_legacy() {
        line.push_str("  (version 1)");
    }
    if let Some(l) = &sl.label {
        line.push_str(&format!("  label {:?}", l.as_str()));
    }
    line
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
