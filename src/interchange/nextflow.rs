//! Nextflow's local secrets store: where it is, reading it, writing it.
//!
//! Facts from Nextflow's `LocalSecretsProvider` and `Const`:
//! - the store is `NXF_SECRETS_FILE` when set and not empty (an absolute
//!   path, or one relative to `NXF_HOME`), else `$NXF_HOME/secrets/store.json`,
//!   `NXF_HOME` defaulting to `~/.nextflow`;
//! - it is a JSON array of `{"name": ..., "value": ...}` written by Gson:
//!   pretty-printed with two-space indents, sorted by name, no final
//!   newline, HTML-escaped (`<`, `>`, `&`, `=`, `'` as `\u003c`...; also
//!   U+2028 and U+2029);
//! - on reading, unknown fields are ignored, a name given twice means the
//!   last one wins, and an empty file or `null` holds no secrets;
//! - Nextflow refuses a store whose permissions are not exactly `rw-------`,
//!   and its `secret` directive leaves `.nf-<hash>.secrets` files (every
//!   secret in plain text) in the store's directory
//!   ([`is_leftover_file_name`]).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::json::{check_utf8, put_string, Reader};
use super::{ExportError, Item, ParseError, ParseErrorKind, Parsed, Sink};

/// The store's path from the values of `NXF_SECRETS_FILE` and `NXF_HOME`
/// and the home directory; `None` when a home is needed and unknown.
pub fn store_path(
    secrets_file: Option<&OsStr>,
    nxf_home: Option<&OsStr>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    let secrets_file = secrets_file.filter(|s| !s.is_empty());
    if let Some(f) = secrets_file {
        if Path::new(f).is_absolute() {
            return Some(PathBuf::from(f));
        }
    }
    let nxf_home = match nxf_home.filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h),
        None => home?.join(".nextflow"),
    };
    Some(match secrets_file {
        Some(f) => nxf_home.join(f),
        None => nxf_home.join("secrets").join("store.json"),
    })
}

/// Whether `name` is one of the `.nf-<hash>.secrets` files Nextflow's
/// `secret` directive leaves beside the store.
pub fn is_leftover_file_name(name: &OsStr) -> bool {
    let b = name.as_encoded_bytes();
    b.len() > ".nf-.secrets".len() && b.starts_with(b".nf-") && b.ends_with(b".secrets")
}

/// Parses a store (see the module documentation).
pub fn parse(input: &[u8]) -> Result<Parsed, ParseError> {
    let mut r = Reader::new(input)?;
    let mut parsed = Parsed::default();
    let mut index = HashMap::new();
    if r.at_end() || (r.literal(b"null") && r.at_end()) {
        return Ok(parsed);
    }
    r.expect(
        b'[',
        "expected a JSON array of {\"name\", \"value\"} objects",
    )?;
    if r.peek() == Some(b']') {
        r.expect(b']', "")?;
    } else {
        loop {
            let item = entry(&mut r)?;
            parsed.push(item, &mut index)?;
            match r.peek() {
                Some(b',') => r.expect(b',', "")?,
                Some(b']') => {
                    r.expect(b']', "")?;
                    break;
                }
                _ => return Err(r.syntax("expected `,` or `]`")),
            }
        }
    }
    if !r.at_end() {
        return Err(r.syntax("unexpected text after the array"));
    }
    Ok(parsed)
}

fn entry(r: &mut Reader<'_>) -> Result<Item, ParseError> {
    let open = {
        r.peek();
        r.at()
    };
    r.expect(b'{', "expected an object {\"name\": ..., \"value\": ...}")?;
    let mut name = None;
    let mut value = None;
    if r.peek() == Some(b'}') {
        r.expect(b'}', "")?;
    } else {
        loop {
            let key = r.string()?;
            r.expect(b':', "expected `:` after a key")?;
            let which = r.decode(&key)?;
            match which.expose() {
                b"name" | b"value" if r.peek() != Some(b'"') => {
                    let found = r.kind_of_next();
                    let what = name.as_ref().map(|(n, _): &(String, usize)| n.clone());
                    return Err(
                        r.error_at(r.at(), ParseErrorKind::NotAString { name: what, found })
                    );
                }
                b"name" => {
                    let s = r.string()?;
                    name = Some((r.name(&s)?, s.at));
                }
                b"value" => {
                    let s = r.string()?;
                    value = Some(r.decode(&s)?);
                }
                _ => r.skip_value(1)?,
            }
            match r.peek() {
                Some(b',') => r.expect(b',', "")?,
                Some(b'}') => {
                    r.expect(b'}', "")?;
                    break;
                }
                _ => return Err(r.syntax("expected `,` or `}`")),
            }
        }
    }
    let Some((name, at)) = name else {
        return Err(r.error_at(open, ParseErrorKind::Syntax("an entry has no \"name\"")));
    };
    let (line, column) = r.pos(at);
    let Some(value) = value else {
        return Err(r.error_at(
            open,
            ParseErrorKind::NotAString {
                name: Some(name),
                found: "missing",
            },
        ));
    };
    Ok(Item {
        name,
        value,
        line,
        column,
    })
}

/// Writes a store as Nextflow's Gson does (entries in the order given,
/// which should be sorted by name).
pub(crate) fn write(entries: &[(&str, &[u8])], out: &mut dyn Sink) -> Result<(), ExportError> {
    if entries.is_empty() {
        out.put(b"[]");
        return Ok(());
    }
    out.put(b"[\n");
    for (k, (name, value)) in entries.iter().enumerate() {
        check_utf8(name, value)?;
        out.put(b"  {\n    \"name\": ");
        put_string(out, name.as_bytes(), true);
        out.put(b",\n    \"value\": ");
        put_string(out, value, true);
        out.put(if k + 1 < entries.len() {
            b"\n  },\n"
        } else {
            b"\n  }\n"
        });
    }
    out.put(b"]");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interchange::{export, Format};
    use std::ffi::OsString;

    #[test]
    fn where_the_store_is() {
        let home = Path::new("/home/u");
        let os = |s: &str| OsString::from(s);
        let p = |f: Option<&str>, h: Option<&str>| {
            store_path(f.map(os).as_deref(), h.map(os).as_deref(), Some(home))
        };
        assert_eq!(
            p(None, None),
            Some("/home/u/.nextflow/secrets/store.json".into())
        );
        assert_eq!(
            p(Some(""), Some("")),
            Some("/home/u/.nextflow/secrets/store.json".into())
        );
        assert_eq!(p(None, Some("/nx")), Some("/nx/secrets/store.json".into()));
        assert_eq!(
            p(Some("/abs/s.json"), Some("/nx")),
            Some("/abs/s.json".into())
        );
        assert_eq!(
            p(Some("rel/s.json"), Some("/nx")),
            Some("/nx/rel/s.json".into())
        );
        assert_eq!(
            p(Some("rel/s.json"), None),
            Some("/home/u/.nextflow/rel/s.json".into())
        );
        assert_eq!(store_path(None, None, None), None);
        assert_eq!(
            store_path(Some(OsStr::new("/abs")), None, None),
            Some("/abs".into())
        );
    }

    #[test]
    fn leftover_files() {
        assert!(is_leftover_file_name(OsStr::new(".nf-0123abcd.secrets")));
        for n in ["store.json", ".nf-.secrets", "nf-x.secrets", ".nf-x.secret"] {
            assert!(!is_leftover_file_name(OsStr::new(n)), "{n}");
        }
    }

    /// What Nextflow 25 writes (Gson, pretty-printed, HTML-escaped).
    const GSON: &str = "[\n  {\n    \"name\": \"A_KEY\",\n    \"value\": \"abc\\u003d\\u003d\"\n  },\n  {\n    \"name\": \"B\",\n    \"value\": \"\\u003ca\\u003e \\u0026 \\u0027 \\\"q\\\" \\\\ \\n\\t\\u0001 é\\u2028\"\n  }\n]";

    #[test]
    fn reads_and_writes_gson() {
        let p = parse(GSON.as_bytes()).unwrap();
        let got: Vec<(&str, &[u8])> = p
            .items
            .iter()
            .map(|i| (i.name.as_str(), i.value.expose()))
            .collect();
        let want: Vec<(&str, &[u8])> = vec![
            ("A_KEY", b"abc=="),
            ("B", "<a> & ' \"q\" \\ \n\t\u{1} é\u{2028}".as_bytes()),
        ];
        assert_eq!(got, want);
        assert_eq!(
            export(Format::Nextflow, &want).unwrap().bytes.expose(),
            GSON.as_bytes()
        );
        assert_eq!(export(Format::Nextflow, &[]).unwrap().bytes.expose(), b"[]");
    }

    #[test]
    fn lenient_where_nextflow_is() {
        for empty in [&b""[..], b"  \n", b"null", b" null\n", b"[]"] {
            assert!(parse(empty).unwrap().items.is_empty());
        }
        let p = parse(br#"[{"name":"A","value":"1","x":{"y":[1,2]}},{"extra":null,"value":"2","name":"A"},{"name":"B","value":""}]"#).unwrap();
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].value.expose(), b"2");
        assert_eq!(p.duplicates, vec!["A"]);
    }

    #[test]
    fn malformed_stores() {
        for (input, want) in [
            (&br#"{"name":"A"}"#[..], "expected a JSON array"),
            (br#"[{"value":"1"}]"#, "no \"name\""),
            (br#"[{"name":"A"}]"#, "value of A is missing"),
            (
                br#"[{"name":"A","value":{"x":1}}]"#,
                "value of A is an object",
            ),
            (br#"[{"name":"a.b","value":"1"}]"#, "must match"),
            (br#"[{"name":"A","value":"1"},]"#, "expected an object"),
            (br#"["A"]"#, "expected an object"),
            (br#"null x"#, "expected a JSON array"),
        ] {
            let e = parse(input).unwrap_err();
            assert!(
                e.to_string().contains(want),
                "{:?}: {e}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
