//! `.env` files: our own parser, with the grammar below, and a writer whose
//! every value reads back exactly in python-dotenv (interpolation off) and
//! Node's `dotenv`, or, where no spelling does that, in python-dotenv (the
//! secret is then named in [`super::Exported::python_only`]). Pure: bytes
//! in, values out, no expansion of anything.
//!
//! # Grammar (what `vault import` reads)
//!
//! - An optional UTF-8 byte-order mark at the start is skipped.
//! - Lines end at `\n`, `\r\n` or a lone `\r`; inside a quoted value each
//!   line end is stored as `\n` (both python-dotenv and Node read it so).
//! - Blank lines and lines whose first non-blank character is `#` are
//!   skipped.
//! - An entry is `[export ]NAME = VALUE`, with optional blanks around `=`
//!   and before the line. `NAME` must follow the vault's name rule (an
//!   error otherwise, located, never quoted). A line with no `=` is an
//!   error (python-dotenv reads `NAME` alone as "no value"; Node skips it).
//! - Blanks are spaces, tabs and other Unicode white space except line ends.
//! - `VALUE` is one of:
//!   - **unquoted**: the rest of the line, up to a `#` preceded by a blank
//!     (a comment), without the blanks around it. A `#` not preceded by a
//!     blank is part of the value (`A=pa#ss` is `pa#ss`); so is every quote
//!     after the first character, and every backslash.
//!   - **single-quoted** `'...'`: everything up to the next `'`, literally
//!     (no escapes; may span lines).
//!   - **double-quoted** `"..."`: up to the next unescaped `"`, may span
//!     lines, with python-dotenv's escapes: `\n` `\r` `\t` `\"` `\\` `\'`
//!     `\a` `\b` `\f` `\v`; a backslash before anything else stays as it is
//!     (`"\$x"` is `\$x`).
//!   - a quoted value may be followed by blanks and a comment, nothing else.
//! - Nothing is expanded: `$HOME`, `${X:-y}` and `$(cmd)` are stored as
//!   they are ([`super::Parsed::names_with_dollar`] lists them).
//! - A name given twice: the last one wins.
//!
//! # Where python-dotenv and Node's dotenv disagree (and what we do)
//!
//! | input | python-dotenv | Node dotenv | vault |
//! |---|---|---|---|
//! | `A=pa#ss` | `pa#ss` | `pa` | `pa#ss` |
//! | `A= #x` | `#x` | empty | empty (a comment) |
//! | `A=#x` | `#x` | empty | `#x` |
//! | `A='it\'s'` | `it's` | `it\'s` | error: the quote ends at `\'` |
//! | `A='a\\b'` | `a\b` | `a\\b` | `a\\b` (single quotes are literal) |
//! | `A="a\tb"` (and `\"`, `\\`, `\'`, `\a` `\b` `\f` `\v`) | escape decoded | kept as typed | decoded (python) |
//! | ``A=`x` `` | `` `x` `` | `x` | `` `x` `` (python) |
//! | `A="x"y`, `A="x` (no closing quote) | line skipped | `"x"y`, `"x` | error |
//! | `A="a\\"` then a later `"` in the file | lines lost | `a\\` | `a\` |
//! | `A` (no `=`) | no value | skipped | error |
//! | byte-order mark | part of the first name | skipped | skipped |
//! | other names (`a.b`, `'A'`) | accepted | some accepted | error (name rule) |

use std::collections::HashMap;

use super::{
    check_name, push_value, value_buffer, ExportError, Item, ParseError, ParseErrorKind, Parsed,
    Sink, MAX_INPUT_LEN,
};
use crate::format::MAX_VALUE_LEN;

const BOM: &[u8] = b"\xef\xbb\xbf";

fn syntax(line: usize, column: usize, m: &'static str) -> ParseError {
    ParseError::at(line, column, ParseErrorKind::Syntax(m))
}

/// Length of the blank (white space other than a line end) at `i`, if any.
fn blank_at(input: &[u8], i: usize) -> Option<usize> {
    let b = *input.get(i)?;
    match b {
        b' ' | b'\t' | 0x0b | 0x0c => Some(1),
        b if b < 0x80 => None,
        _ => {
            // A multi-byte UTF-8 character that is white space (not a line end).
            let len = match b {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => return None,
            };
            let c = std::str::from_utf8(input.get(i..i + len)?)
                .ok()?
                .chars()
                .next()?;
            (c.is_whitespace() && c != '\u{2028}' && c != '\u{2029}' && c != '\u{85}')
                .then_some(len)
        }
    }
}

/// Whether the bytes before `end` end with a blank.
fn blank_before(input: &[u8], end: usize) -> bool {
    (1..=3.min(end)).any(|len| blank_at(input, end - len) == Some(len))
}

fn skip_blanks(input: &[u8], mut i: usize) -> usize {
    while let Some(n) = blank_at(input, i) {
        i += n;
    }
    i
}

fn is_eol(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// A cursor tracking the line and where it starts, for positions.
struct Cursor<'a> {
    input: &'a [u8],
    line: usize,
    line_start: usize,
}

impl Cursor<'_> {
    fn col(&self, i: usize) -> usize {
        i - self.line_start + 1
    }

    /// Steps over the line end at `i` (which must be one); returns the
    /// index after it.
    fn newline(&mut self, i: usize) -> usize {
        let next = if self.input[i] == b'\r' && self.input.get(i + 1) == Some(&b'\n') {
            i + 2
        } else {
            i + 1
        };
        self.line += 1;
        self.line_start = next;
        next
    }

    /// After a quoted value: blanks, an optional comment, then the line end.
    fn end_of_entry(&mut self, i: usize) -> Result<usize, ParseError> {
        let i = skip_blanks(self.input, i);
        match self.input.get(i) {
            None => Ok(i),
            Some(b'#') => Ok(self.skip_to_eol(i)),
            Some(&b) if is_eol(b) => Ok(i),
            Some(_) => Err(syntax(self.line, self.col(i), "unexpected text after the closing quote (quote the whole value, or start a comment with #)")),
        }
    }

    fn skip_to_eol(&self, mut i: usize) -> usize {
        while i < self.input.len() && !is_eol(self.input[i]) {
            i += 1;
        }
        i
    }
}

/// Parses a `.env` file (grammar in the module documentation).
pub fn parse(input: &[u8]) -> Result<Parsed, ParseError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(ParseError::at(1, 1, ParseErrorKind::TooLarge));
    }
    let start = if input.starts_with(BOM) { BOM.len() } else { 0 };
    let mut c = Cursor {
        input,
        line: 1,
        line_start: 0,
    };
    let mut parsed = Parsed::default();
    let mut index = HashMap::new();
    let mut i = start;
    while i < input.len() {
        i = skip_blanks(input, i);
        match input.get(i) {
            None => break,
            Some(&b) if is_eol(b) => {
                i = c.newline(i);
                continue;
            }
            Some(b'#') => {
                i = c.skip_to_eol(i);
                continue;
            }
            Some(_) => {}
        }
        let (item, next) = entry(&mut c, i)?;
        parsed.push(item, &mut index)?;
        i = next;
        if i < input.len() {
            i = c.newline(i);
        }
    }
    Ok(parsed)
}

/// One entry starting at `i` (not blank); returns it and the index of the
/// line end after it (or the end of input).
fn entry(c: &mut Cursor<'_>, mut i: usize) -> Result<(Item, usize), ParseError> {
    let input = c.input;
    let token_end = |mut j: usize| {
        while j < input.len()
            && !is_eol(input[j])
            && input[j] != b'='
            && input[j] != b'#'
            && blank_at(input, j).is_none()
        {
            j += 1;
        }
        j
    };
    // `export NAME=...`: the prefix, unless `export` is itself the name.
    if input[i..].starts_with(b"export") && blank_at(input, i + 6).is_some() {
        let j = skip_blanks(input, i + 6);
        if j < input.len() && !is_eol(input[j]) && input[j] != b'=' && input[j] != b'#' {
            i = j;
        }
    }
    let (line, column) = (c.line, c.col(i));
    let end = token_end(i);
    if end == i {
        return Err(syntax(
            line,
            column,
            "expected a name (a line is NAME=value, a comment or blank)",
        ));
    }
    let name = check_name(&input[i..end], line, column)?;
    i = skip_blanks(input, end);
    if input.get(i) != Some(&b'=') {
        return Err(syntax(
            c.line,
            c.col(i),
            "expected `=` after the name (a line is NAME=value)",
        ));
    }
    i = skip_blanks(input, i + 1);
    let (value, next) = match input.get(i) {
        Some(b'"') => double_quoted(c, i)?,
        Some(b'\'') => single_quoted(c, i)?,
        _ => unquoted(c, i)?,
    };
    Ok((
        Item {
            name,
            value,
            line,
            column,
        },
        next,
    ))
}

fn unquoted(c: &mut Cursor<'_>, start: usize) -> Result<(crate::SecretBytes, usize), ParseError> {
    let input = c.input;
    let mut end = start;
    while end < input.len()
        && !is_eol(input[end])
        && !(input[end] == b'#' && end > 0 && blank_before(input, end))
    {
        end += 1;
    }
    let next = c.skip_to_eol(end);
    let mut last = end;
    while last > start && blank_before(input, last) {
        last -= (1..=3)
            .find(|&l| blank_at(input, last - l) == Some(l))
            .unwrap_or(1);
    }
    let raw = &input[start..last];
    if raw.len() > MAX_VALUE_LEN {
        return Err(ParseError::at(
            c.line,
            c.col(start),
            ParseErrorKind::ValueTooLarge,
        ));
    }
    let mut v = value_buffer(raw.len());
    push_value(&mut v, raw);
    Ok((v.into(), next))
}

fn single_quoted(
    c: &mut Cursor<'_>,
    open: usize,
) -> Result<(crate::SecretBytes, usize), ParseError> {
    let input = c.input;
    let (line, column) = (c.line, c.col(open));
    let close = input[open + 1..]
        .iter()
        .position(|&b| b == b'\'')
        .map(|p| open + 1 + p)
        .ok_or_else(|| syntax(line, column, "unclosed single quote"))?;
    let mut v = value_buffer(close - open - 1);
    let mut i = open + 1;
    while i < close {
        if is_eol(input[i]) {
            i = c.newline(i);
            if !push_value(&mut v, b"\n") {
                return Err(ParseError::at(line, column, ParseErrorKind::ValueTooLarge));
            }
            continue;
        }
        let run = input[i..close]
            .iter()
            .position(|&b| is_eol(b))
            .unwrap_or(close - i);
        if !push_value(&mut v, &input[i..i + run]) {
            return Err(ParseError::at(line, column, ParseErrorKind::ValueTooLarge));
        }
        i += run;
    }
    let next = c.end_of_entry(close + 1)?;
    Ok((v.into(), next))
}

fn double_quoted(
    c: &mut Cursor<'_>,
    open: usize,
) -> Result<(crate::SecretBytes, usize), ParseError> {
    let input = c.input;
    let (line, column) = (c.line, c.col(open));
    let unclosed = || syntax(line, column, "unclosed double quote");
    // The closing quote first, so the value's buffer is sized once.
    let mut j = open + 1;
    loop {
        match input.get(j) {
            None => return Err(unclosed()),
            Some(b'\\') => j += 2,
            Some(b'"') => break,
            Some(_) => j += 1,
        }
    }
    let close = j;
    let mut v = value_buffer(close - open - 1);
    let too_large = || ParseError::at(line, column, ParseErrorKind::ValueTooLarge);
    let mut i = open + 1;
    while i < close {
        let b = input[i];
        if is_eol(b) {
            i = c.newline(i);
            if !push_value(&mut v, b"\n") {
                return Err(too_large());
            }
            continue;
        }
        if b == b'\\' {
            let e = input[i + 1];
            let decoded: Option<u8> = match e {
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                b'\'' => Some(b'\''),
                b'a' => Some(0x07),
                b'b' => Some(0x08),
                b'f' => Some(0x0c),
                b'v' => Some(0x0b),
                _ => None,
            };
            match decoded {
                Some(d) => {
                    if !push_value(&mut v, &[d]) {
                        return Err(too_large());
                    }
                    i += 2;
                }
                None => {
                    // Kept as typed; a line end after it is read as a line end.
                    if !push_value(&mut v, b"\\") {
                        return Err(too_large());
                    }
                    i += 1;
                }
            }
            continue;
        }
        if !push_value(&mut v, &[b]) {
            return Err(too_large());
        }
        i += 1;
    }
    let next = c.end_of_entry(close + 1)?;
    Ok((v.into(), next))
}

// ---------------------------------------------------------------------------
// Writing

/// How one value is spelled in a `.env` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// `NAME=value`: both parsers read it back.
    Bare,
    /// `NAME="value"`, line ends as `\n`/`\r`, nothing else escaped: both.
    Double,
    /// `NAME='value'`, literally: both.
    Single,
    /// `NAME="value"` with python-dotenv's escapes (`\\`, `\"`, `\n`,
    /// `\r`): python-dotenv reads it back, Node's dotenv does not.
    PythonOnly,
}

/// Characters both parsers strip from the ends of an unquoted value, or
/// treat as line ends inside one (JavaScript's `trim` and `^`/`$`,
/// Python's `str.isspace`), or control characters: never bare.
fn bare_unsafe(ch: char) -> bool {
    ch.is_control() || ch.is_whitespace() || ch == '\u{feff}'
}

/// How `value` is written, or why it cannot be: a NUL byte, bytes that are
/// not UTF-8 (neither parser reads them back), or a value ending in a
/// backslash that needs quotes (python-dotenv reads `"...\\"` wrongly when a
/// later line holds a `"`).
pub fn spelling(value: &[u8]) -> Result<Spelling, &'static str> {
    if value.contains(&0) {
        return Err("contains a NUL byte, which a .env file cannot carry");
    }
    let s = std::str::from_utf8(value)
        .map_err(|_| "is not UTF-8 text, which a .env file cannot carry")?;
    let chars: Vec<char> = s.chars().collect();
    let bare = s.is_empty()
        || (!chars
            .iter()
            .any(|&ch| ch == '#' || (ch != ' ' && bare_unsafe(ch)))
            && !matches!(chars[0], '\'' | '"' | '`' | ' ')
            && *chars.last().unwrap_or(&'x') != ' ');
    if bare {
        return Ok(Spelling::Bare);
    }
    let ends_in_backslash = s.ends_with('\\');
    // Double quotes: no `"`, and no backslash that either parser would
    // read as the start of an escape (including before a line end, which
    // is written as `\n` or `\r`).
    let double = !s.contains('"')
        && !ends_in_backslash
        && !s.as_bytes().windows(2).any(|w| {
            w[0] == b'\\'
                && matches!(
                    w[1],
                    b'\\' | b'\'' | b'"' | b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'\n'
                )
        })
        && !s.contains("\\\r");
    if double {
        return Ok(Spelling::Double);
    }
    // Single quotes: no `'`, no carriage return (both parsers turn it into a
    // line end), no `\\` (python-dotenv reads it as one backslash).
    let single =
        !s.contains('\'') && !s.contains('\r') && !s.contains("\\\\") && !ends_in_backslash;
    if single {
        return Ok(Spelling::Single);
    }
    if ends_in_backslash {
        return Err("ends with a backslash and needs quotes, which python-dotenv cannot read back");
    }
    Ok(Spelling::PythonOnly)
}

/// Writes `NAME=value` lines, each value spelled by [`spelling`]; names
/// written in the python-only spelling are pushed onto `python_only`.
pub(crate) fn write(
    entries: &[(&str, &[u8])],
    out: &mut dyn Sink,
    python_only: &mut Vec<String>,
) -> Result<(), ExportError> {
    for (name, value) in entries {
        let sp = spelling(value).map_err(|why| ExportError {
            name: name.to_string(),
            why,
        })?;
        out.put(name.as_bytes());
        out.put(b"=");
        match sp {
            Spelling::Bare => out.put(value),
            Spelling::Single => {
                out.put(b"'");
                out.put(value);
                out.put(b"'");
            }
            Spelling::Double | Spelling::PythonOnly => {
                out.put(b"\"");
                let mut run = 0;
                for (i, &b) in value.iter().enumerate() {
                    let esc: &[u8] = match b {
                        b'\n' => b"\\n",
                        b'\r' => b"\\r",
                        b'"' => b"\\\"",
                        b'\\' if sp == Spelling::PythonOnly => b"\\\\",
                        _ => continue,
                    };
                    out.put(&value[run..i]);
                    out.put(esc);
                    run = i + 1;
                }
                out.put(&value[run..]);
                out.put(b"\"");
                if sp == Spelling::PythonOnly {
                    python_only.push(name.to_string());
                }
            }
        }
        out.put(b"\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interchange::{export, Format};

    fn one(input: &str) -> Vec<u8> {
        let p = parse(input.as_bytes()).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(p.items.len(), 1, "{input:?}");
        p.items[0].value.expose().to_vec()
    }

    fn err(input: &str) -> ParseError {
        match parse(input.as_bytes()) {
            Ok(p) => panic!("{input:?} parsed into {} items", p.items.len()),
            Err(e) => e,
        }
    }

    #[test]
    fn the_documented_grammar() {
        let cases: &[(&str, &[u8])] = &[
            ("A=1", b"1"),
            ("A=hello world", b"hello world"),
            ("A=  spaced out  ", b"spaced out"),
            ("A = 1", b"1"),
            ("  export   A=1", b"1"),
            ("export A=1 # c", b"1"),
            ("A=pa#ss", b"pa#ss"),
            ("A=#x", b"#x"),
            ("A= #x", b""),
            ("A=x\t# comment", b"x"),
            ("A=", b""),
            ("A=''", b""),
            ("A=\"\"", b""),
            ("A=pa$word", b"pa$word"),
            ("A=${X:-default}", b"${X:-default}"),
            ("A='single $X \\n \\\\ \"'", b"single $X \\n \\\\ \""),
            (
                "A=\"d \\n \\t \\\" \\\\ \\' \\$ \\x\"",
                b"d \n \t \" \\ ' \\$ \\x",
            ),
            ("A=\"a\\\\\"\nB=\"x\"", b""), // checked below
            ("A=\"line1\nline2\"", b"line1\nline2"),
            ("A=\"l1\r\nl2\r\"\r\n", b"l1\nl2\n"),
            ("A='x'#c", b"x"),
            ("A=\"x\" # c", b"x"),
            ("A=`x`", b"`x`"),
            ("A=a\"b'c", b"a\"b'c"),
            ("A=C:\\dir\\", b"C:\\dir\\"),
            ("A=x\u{a0}", b"x"),
            ("A=\"\\a\\b\\f\\v\\r\"", b"\x07\x08\x0c\x0b\r"),
            ("export=1", b"1"),
            ("export = 1", b"1"),
        ];
        for (input, want) in cases {
            if input.starts_with("A=\"a\\\\\"") {
                let p = parse(input.as_bytes()).unwrap();
                assert_eq!(p.items[0].value.expose(), b"a\\");
                assert_eq!(p.items[1].value.expose(), b"x");
                continue;
            }
            assert_eq!(one(input), *want, "{input:?}");
        }
    }

    #[test]
    fn files_with_comments_crlf_and_a_bom() {
        let f = "\u{feff}# header\r\n\r\nexport A=1\r\nB='two\r\nlines'\r\n  # indented comment\r\nC=\"3\"\r\n";
        let p = parse(f.as_bytes()).unwrap();
        let got: Vec<(&str, &[u8])> = p
            .items
            .iter()
            .map(|i| (i.name.as_str(), i.value.expose()))
            .collect();
        assert_eq!(
            got,
            vec![("A", &b"1"[..]), ("B", b"two\nlines"), ("C", b"3")]
        );
        assert_eq!((p.items[0].line, p.items[0].column), (3, 8));
        assert_eq!((p.items[2].line, p.items[2].column), (7, 1));
    }

    #[test]
    fn duplicates_last_wins() {
        let p = parse(b"A=1\nB=2\nA=3\nA=4\n").unwrap();
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].value.expose(), b"4");
        assert_eq!(p.duplicates, vec!["A".to_string()]);
    }

    #[test]
    fn errors_are_located_and_never_quote_the_input() {
        let cases: &[(&str, (usize, usize))] = &[
            ("A=1\nsecret-token-value\n", (2, 1)),
            ("A=1\n  B\n", (2, 4)),
            ("A=1\nmy.key=x\n", (2, 1)),
            ("A=1\nVAULT_X=1\n", (2, 1)),
            ("A=1\n1A=x\n", (2, 1)),
            ("A='unclosed\nB=2\n", (1, 3)),
            ("A=\"unclosed\\\"\n", (1, 3)),
            ("A='it\\'s'\n", (1, 8)),
            ("A=\"x\"y\n", (1, 6)),
            ("\nA=1\n=x\n", (3, 1)),
            ("'A'=x\n", (1, 1)),
        ];
        for (input, pos) in cases {
            let e = err(input);
            assert_eq!((e.line, e.column), *pos, "{input:?}: {e}");
            let msg = e.to_string();
            for word in [
                "secret-token-value",
                "unclosed\\",
                "my.key",
                "VAULT_X",
                "1A",
                "it",
            ] {
                if input.contains(word) && word != "it" {
                    assert!(!msg.contains(word), "{msg}");
                }
            }
        }
    }

    #[test]
    fn bounds() {
        let big = format!("A=\"{}\"", "x".repeat(MAX_VALUE_LEN + 1));
        assert_eq!(err(&big).kind, ParseErrorKind::ValueTooLarge);
        let big = format!("A={}", "x".repeat(MAX_VALUE_LEN + 1));
        assert_eq!(err(&big).kind, ParseErrorKind::ValueTooLarge);
        let ok = format!("A='{}'", "x".repeat(MAX_VALUE_LEN));
        assert_eq!(one(&ok).len(), MAX_VALUE_LEN);
        let many: String = (0..=crate::interchange::MAX_ENTRIES)
            .map(|i| format!("A{i}=\n"))
            .collect();
        assert_eq!(err(&many).kind, ParseErrorKind::TooManyEntries);
    }

    #[test]
    fn never_panics_on_prefixes_of_tricky_input() {
        let s =
            "\u{feff}export A=\"x\\\"y\\\r\n\"\r B='\r' C=\u{a0}#\u{2003}x\\ export\t\u{2028}=\"\\";
        for end in 0..=s.len() {
            let _ = parse(&s.as_bytes()[..end]);
        }
        for b in 0..=255u8 {
            let _ = parse(&[b'A', b'=', b'"', b'\\', b]);
            let _ = parse(&[b'A', b'=', b, 0xe2, 0x80]);
        }
    }

    /// Values that can be written, and how; each reads back through our parser.
    #[test]
    fn spellings_and_round_trips() {
        let cases: &[(&[u8], Option<Spelling>)] = &[
            (b"", Some(Spelling::Bare)),
            (b"plain", Some(Spelling::Bare)),
            (b"with space", Some(Spelling::Bare)),
            (b"pa$$w0rd=${X}", Some(Spelling::Bare)),
            (b"back\\slash\\", Some(Spelling::Bare)),
            (b"it's \"quoted\"", Some(Spelling::Bare)),
            (b" lead", Some(Spelling::Double)),
            (b"has # hash", Some(Spelling::Double)),
            (b"line1\nline2\r\n", Some(Spelling::Double)),
            (b"'quoted'", Some(Spelling::Double)),
            (b"\"dq\" #", Some(Spelling::Single)),
            (b"C:\\new dir\n", Some(Spelling::Single)),
            (b"both ' and \" #", Some(Spelling::PythonOnly)),
            (b"'\"`\n", Some(Spelling::PythonOnly)),
            (b"\"a\\\\b\" ", Some(Spelling::PythonOnly)),
            (b"# ends\\", None),
            (b"nul\0", None),
            (b"\xff\xfe", None),
            ("ünï cödé ✓".as_bytes(), Some(Spelling::Bare)),
            ("nbsp\u{a0}".as_bytes(), Some(Spelling::Double)),
            ("\u{2028}x".as_bytes(), Some(Spelling::Double)),
        ];
        for (value, want) in cases {
            let got = spelling(value).ok();
            assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(value));
            if got.is_none() {
                assert!(export(Format::Dotenv, &[("A", value)]).is_err());
                continue;
            }
            let e = export(Format::Dotenv, &[("A", value), ("B", b"\"after\"")]).unwrap();
            assert_eq!(e.python_only.is_empty(), got != Some(Spelling::PythonOnly));
            let p = parse(e.bytes.expose()).unwrap();
            assert_eq!(
                p.items[0].value.expose(),
                *value,
                "{:?}",
                String::from_utf8_lossy(e.bytes.expose())
            );
            assert_eq!(p.items[1].value.expose(), b"\"after\"");
        }
    }
}
