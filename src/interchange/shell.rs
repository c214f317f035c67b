//! `export NAME='value'` lines for a POSIX shell (`eval "$(...)"` or
//! `source`): every value in single quotes, each `'` written as `'\''`, so
//! the shell reads back every byte (newlines, `$`, backslashes, bytes that
//! are not UTF-8) except NUL, which no shell variable can hold.
//!
//! Which names are left out (those that change how programs load or how a
//! shell starts) is the caller's choice: see [`crate::envnames`].

use super::{ExportError, Sink};

/// Writes one `export NAME='value'` line per entry.
pub(crate) fn write(entries: &[(&str, &[u8])], out: &mut dyn Sink) -> Result<(), ExportError> {
    for (name, value) in entries {
        if value.contains(&0) {
            return Err(ExportError {
                name: name.to_string(),
                why: "contains a NUL byte, which a shell variable cannot carry",
            });
        }
        out.put(b"export ");
        out.put(name.as_bytes());
        out.put(b"='");
        for (k, part) in value.split(|&b| b == b'\'').enumerate() {
            if k > 0 {
                out.put(b"'\\''");
            }
            out.put(part);
        }
        out.put(b"'\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::interchange::{export, Format};

    #[test]
    fn single_quotes_with_escaped_quotes() {
        let e = export(Format::Shell, &[("A", b"it's $x\n\\"), ("B", b"")]).unwrap();
        assert_eq!(
            e.bytes.expose(),
            b"export A='it'\\''s $x\n\\'\nexport B=''\n"
        );
        let bad = export(Format::Shell, &[("NUL", b"a\0b")]).unwrap_err();
        assert_eq!(bad.name, "NUL");
    }
}
