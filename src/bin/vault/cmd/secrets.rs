//! `vault set`, `get`, `list` and `delete`: thin over the library.

use std::io::IsTerminal;

use crate::error::{CliError, Result};
use vault::secret::SecretBuf;
use vault::SecretBytes;

use crate::cmd::{check_name, missing};
use crate::output::{stdout_write, warn};
use crate::prompt::read_value;
use crate::unlock::Ctx;

pub fn set(
    ctx: &mut Ctx<'_>,
    name: &str,
    value: Option<String>,
    raw: bool,
    allow_empty: bool,
) -> Result<()> {
    check_name(name)?;
    let from_arg = value.map(|v| SecretBytes::new(v.into_bytes()));
    if let Some(v) = &from_arg {
        vault::vault::validate_value(v.expose())?;
        warn("a value on the command line is visible to other processes and lands in shell history; pipe it on stdin instead");
    }
    // The passphrase is checked first (a typo at a prompt must not throw
    // away a typed value); the value, which follows the passphrase line on
    // stdin, is read next, before the lock is taken.
    let prepared = ctx.creds.prepare(&ctx.opener)?;
    let value = match from_arg {
        Some(v) => v,
        None => read_value(raw)?,
    };
    if value.is_empty() && !allow_empty {
        return Err(CliError::Usage(
            "the value is empty (nothing, or one newline, on standard input: is a CI variable unset?); nothing was changed. Give --allow-empty to store an empty value".into(),
        ));
    }
    let mut txn = prepared.begin()?;
    txn.set(name, value)?;
    let still_pending = txn
        .vault()
        .get(name)
        .is_some_and(|e| e.marks.rotate_pending);
    txn.commit()?;
    if still_pending {
        warn(&format!("{name} is still rotate pending: the value stored is the one a removed member could read; store a new one (changed at its source)"));
    }
    if vault::envnames::alters_program_loading(name) {
        warn(&format!("{name} is a variable that changes how programs load or how a shell starts: `vault exec` sets it only when named with --only {name}"));
    }
    Ok(())
}

pub fn get(ctx: &mut Ctx<'_>, name: &str, no_newline: bool) -> Result<()> {
    check_name(name)?;
    let v = ctx.read()?;
    let e = v.get(name).ok_or_else(|| missing(&v, name))?;
    let value = e.expose_value();
    let mut out = SecretBuf::with_capacity(value.len() + 1);
    out.extend_from_slice(value).expect("sized to fit");
    if !no_newline {
        out.push(b'\n').expect("sized to fit");
    }
    stdout_write(out.expose())
}

pub fn list(ctx: &mut Ctx<'_>, json: bool) -> Result<()> {
    let v = ctx.read()?;
    let mut out = String::new();
    if json {
        let items: Vec<serde_json::Value> = v
            .entries()
            .map(|e| {
                serde_json::json!({"name": e.name, "created": e.created, "updated": e.updated, "size": e.len(),
                    "rotate_pending": e.marks.rotate_pending, "conflict": e.marks.conflict.is_some()})
            })
            .collect();
        out = serde_json::to_string_pretty(&items).expect("JSON of plain values");
        out.push('\n');
    } else {
        // Marks for a person only: piped, the output stays one name a line.
        let marks = std::io::stdout().is_terminal();
        for e in v.entries() {
            out.push_str(e.name);
            if marks {
                if e.marks.rotate_pending {
                    out.push_str("  (rotate pending)");
                }
                if e.marks.conflict.is_some() {
                    out.push_str("  (merge conflict: `vault resolve`)");
                }
            }
            out.push('\n');
        }
        let pending = v.entries().filter(|e| e.marks.rotate_pending).count();
        if marks && pending > 0 {
            out.push_str(&format!(
                "{pending} rotate pending: a removed member could read {}; give {} a new value (`vault set NAME`)\n",
                if pending == 1 { "its value" } else { "their values" },
                if pending == 1 { "it" } else { "each" }
            ));
        }
    }
    stdout_write(out.as_bytes())
}

pub fn delete(ctx: &mut Ctx<'_>, names: &[String]) -> Result<()> {
    for n in names {
        check_name(n)?;
    }
    let mut txn = ctx.prepare()?.begin()?;
    if let Some(n) = names.iter().find(|n| txn.vault().get(n).is_none()) {
        return Err(missing(txn.vault(), n));
    }
    txn.delete(names)?;
    txn.commit()?;
    Ok(())
}
