//! `vault set`, `get`, `list` and `delete`: thin over the library.

use vault::error::{Error, Result};
use vault::secret::SecretBuf;
use vault::vault::validate_name;
use vault::SecretBytes;

use crate::unlock::{read_value, Session};
use crate::output::{stdout_write, warn};

pub fn set(s: &mut Session, name: &str, value: Option<String>, raw: bool) -> Result<()> {
    validate_name(name)?;
    let mut from_arg = value.map(|v| SecretBytes::new(v.into_bytes()));
    if let Some(v) = &from_arg {
        vault::vault::validate_value(v.expose())?;
        warn("a value on the command line is visible to other processes and lands in shell history; pipe it on stdin instead");
    }
    let mut value: Option<SecretBytes> = None;
    let (mut v, lock) = s.open_write(&mut || {
        value = Some(match from_arg.take() {
            Some(v) => v,
            None => read_value(raw)?,
        });
        Ok(())
    })?;
    v.set(name, value.take().expect("read before the lock"))?;
    s.save(&mut v, &lock)
}

pub fn get(s: &mut Session, name: &str, no_newline: bool) -> Result<()> {
    validate_name(name)?;
    let v = s.open_read()?;
    let e = v
        .get(name)
        .ok_or_else(|| Error::NoSuchSecret(name.to_string()))?;
    let value = e.expose_value();
    let mut out = SecretBuf::with_capacity(value.len() + 1);
    out.extend_from_slice(value).expect("sized to fit");
    if !no_newline {
        out.push(b'\n').expect("sized to fit");
    }
    stdout_write(out.expose())
}

pub fn list(s: &mut Session, json: bool) -> Result<()> {
    let v = s.open_read()?;
    let mut out = String::new();
    if json {
        let items: Vec<serde_json::Value> = v
            .entries()
            .map(|e| {
                serde_json::json!({"name": e.name, "created": e.created, "updated": e.updated, "size": e.len()})
            })
            .collect();
        out = serde_json::to_string_pretty(&items).expect("JSON of plain values");
        out.push('\n');
    } else {
        for e in v.entries() {
            out.push_str(e.name);
            out.push('\n');
        }
    }
    stdout_write(out.as_bytes())
}

pub fn delete(s: &mut Session, names: &[String]) -> Result<()> {
    for n in names {
        validate_name(n)?;
    }
    let (mut v, lock) = s.open_write(&mut || Ok(()))?;
    v.delete(names)?;
    s.save(&mut v, &lock)
}
