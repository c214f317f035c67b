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
//!
//! And from its `secret` directive (`LocalSecretsProvider.getSecretsEnv`
//! and `makeTempSecretsFile`, `Escape.variable`, the wrapper template
//! `command-run.txt`), which `vault exec --nextflow` must survive
//! ([`directive_unfit`], [`names_before_equals`]):
//! - the file holds every secret of the store, one line each,
//!   `export NAME="value"`, with only `$` escaped (as `\$`);
//! - a task's wrapper keeps the lines of the secrets it names with
//!   `grep -w -e 'NAME=.*' ...` and sources them with bash.

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

/// The variable Nextflow reads the store's path from.
pub const SECRETS_FILE_VAR: &str = "NXF_SECRETS_FILE";

/// Why `value` cannot be handed to Nextflow as a secret, if it cannot: the
/// store (JSON) carries only UTF-8 text, and the `secret` directive writes
/// every value of the store between double quotes into shell code its
/// tasks source, escaping only `$`. A `"`, a backtick or a `\` there would
/// end the quotes, run a command or escape what follows; a newline would
/// cut the line the task picks; bash drops NUL bytes. The text completes
/// "the value of secret NAME ...", and never repeats the value.
pub fn directive_unfit(value: &[u8]) -> Option<&'static str> {
    if std::str::from_utf8(value).is_err() {
        return Some("is not UTF-8 text, which Nextflow's secrets store (JSON) cannot carry");
    }
    if value.contains(&0) {
        return Some("contains a NUL byte, which the shell variable Nextflow's `secret` directive sets cannot carry");
    }
    if value.contains(&b'\n') {
        return Some("contains a newline, which would split the one line Nextflow's `secret` directive writes for it into the shell code its tasks run");
    }
    // Nextflow writes `$` as `\$`; bash in a Big5, GBK, GB18030 or
    // Shift-JIS locale reads a byte over 0x7F and the `\` after it as one
    // character (0x5C is a trail byte there), and the `$` is live again.
    if value.windows(2).any(|w| w[0] >= 0x80 && w[1] == b'$') {
        return Some("has a `$` right after a non-ASCII character: Nextflow's `secret` directive writes it as `\\$`, and bash in a Big5, GBK or Shift-JIS locale would read that `\\` as part of the character and expand what follows the `$` in the shell code its tasks run");
    }
    for (byte, why) in [
        (b'"', "contains a double quote (\"), which Nextflow's `secret` directive would write unescaped into the shell code its tasks run"),
        (b'`', "contains a backtick (`), which Nextflow's `secret` directive would write unescaped into the shell code its tasks run"),
        (b'\\', "contains a backslash (\\), which Nextflow's `secret` directive would write unescaped into the shell code its tasks run"),
    ] {
        if value.contains(&byte) {
            return Some(why);
        }
    }
    None
}

/// The words `value` holds right before a `=` where a word may start
/// (after a character that is not an ASCII letter, digit or `_`, or at the
/// start): the `NAME` of each `NAME=` in it that the directive's
/// `grep -w -e 'NAME=.*'` would find. A task naming secret `NAME` would
/// also get the line of the secret holding this value. A non-ASCII letter
/// before a word counts as a break here (grep in a UTF-8 locale would not
/// break there), so this finds every `NAME=` grep finds, in any locale.
pub fn names_before_equals(value: &[u8]) -> impl Iterator<Item = &str> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    value.iter().enumerate().filter_map(move |(i, b)| {
        if *b != b'=' {
            return None;
        }
        let start = value[..i]
            .iter()
            .rposition(|b| !word(*b))
            .map_or(0, |p| p + 1);
        // ASCII by the test above.
        (start < i).then(|| std::str::from_utf8(&value[start..i]).expect("ASCII"))
    })
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
    fn values_the_directive_cannot_carry_are_named_by_what_they_hold() {
        for ok in [
            &b""[..],
            b"plain",
            b"$HOME $(id) ${X} 'single' #hash = ! & ; | < > * ? ~",
            b"tab\tcr\r",
            "\u{e9}t\u{e9} \u{2028}".as_bytes(),
            "\u{4e2d} $X \u{e9}".as_bytes(),
        ] {
            assert_eq!(directive_unfit(ok), None, "{ok:?}");
        }
        for (bad, want) in [
            (&b"a\"b"[..], "double quote"),
            (b"`id`", "backtick"),
            (b"ends\\", "backslash"),
            (b"two\nlines", "newline"),
            (b"nul\0", "NUL byte"),
            (b"\xff\xfe", "not UTF-8"),
            // Both a NUL and a quote: one reason is enough.
            (b"\0\"", "NUL byte"),
            ("\u{4e2d}$(id)".as_bytes(), "`$` right after a non-ASCII"),
            ("\u{e9}$".as_bytes(), "`$` right after a non-ASCII"),
        ] {
            let why = directive_unfit(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(why.contains(want), "{bad:?}: {why}");
        }
    }

    #[test]
    fn names_before_equals_are_those_grep_w_finds() {
        fn found(v: &str) -> Vec<&str> {
            names_before_equals(v.as_bytes()).collect()
        }
        assert_eq!(found("no equals sign"), Vec::<&str>::new());
        assert_eq!(found("TOKEN=x"), ["TOKEN"]);
        assert_eq!(found("url?a=1&TOKEN=2"), ["a", "TOKEN"]);
        assert_eq!(found("x TOKEN=y $B=z"), ["TOKEN", "B"]);
        // Inside a word grep -w does not match: `xTOKEN` is the word.
        assert_eq!(found("xTOKEN=1 MY_TOKEN=2"), ["xTOKEN", "MY_TOKEN"]);
        assert_eq!(found("\u{e9}TOKEN=1"), ["TOKEN"]);
        assert_eq!(found("==a="), ["a"]);
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
