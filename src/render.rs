//! Template rendering: owns parsing `${secrets.NAME}` placeholders (Nextflow
//! config syntax) in arbitrary bytes and substituting secret values into a
//! zeroizing buffer; must not do I/O, print, or know where secrets come from.
//!
//! Syntax:
//! - `${secrets.NAME}` is replaced by the value of secret `NAME`, where `NAME`
//!   matches `[A-Za-z_][A-Za-z0-9_]*` and is at most [`MAX_NAME_LEN`] bytes.
//! - `$${` stands for a literal `${`; what follows it is not parsed as a
//!   placeholder (`$${secrets.A}` renders as `${secrets.A}`).
//! - Any other `$` (a lone `$`, `$$` not followed by `{`, `${HOME}`, ...) is
//!   copied verbatim. Scanning is left to right, so `$$${` is a verbatim `$`
//!   followed by the escape `$${`.
//! - Values are inserted verbatim and never re-expanded.
//! - Malformed placeholders are errors, located at their `$`: an empty name
//!   (`${secrets.}`), no `}` before a line end (`\n` or `\r`) or the end
//!   of input, a byte outside the name syntax (`${secrets.9A}`,
//!   `${secrets.A-B}`), a name over [`MAX_NAME_LEN`] bytes.
//!
//! Size: the rendered output is at most [`MAX_OUTPUT`] (64 MiB). A template
//! can repeat a placeholder, so a 16 MiB template repeating a 1 MiB value
//! would ask for over a terabyte: the size is computed before anything is
//! allocated, and a render that would pass the cap is an error located at
//! the placeholder (or text) where it would. The cap is four times the
//! largest template the CLI reads (16 MiB): any real configuration file
//! with its values substituted fits with room to spare, while one render
//! holds at most 64 MiB of secret text (twice with the in-memory copy that
//! `exec --file` hands over). The buffer is then reserved fallibly, so even
//! a render under the cap that the machine cannot hold is an error, not an
//! abort.

use std::collections::HashSet;
use std::fmt;

use zeroize::Zeroizing;

/// Longest accepted secret name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Largest rendered output, in bytes (64 MiB; the module doc says why).
pub const MAX_OUTPUT: usize = 64 << 20;

const PREFIX: &[u8] = b"${secrets.";

/// One parsed piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    /// Bytes copied verbatim; `line`/`column` locate the first one.
    Literal {
        bytes: &'a [u8],
        line: usize,
        column: usize,
    },
    /// A `${secrets.NAME}` reference; `line`/`column` locate its `$`.
    Secret {
        name: &'a str,
        line: usize,
        column: usize,
    },
}

/// A parsed template, borrowing the input bytes. Holds no secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template<'a> {
    pieces: Vec<Piece<'a>>,
}

/// What is wrong with a template or a render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderErrorKind {
    /// A placeholder that does not follow the syntax; the text says what is
    /// wrong (e.g. "empty secret name", "unclosed placeholder",
    /// "invalid character in secret name",
    /// "secret name longer than 128 bytes"). Also a template that cannot be
    /// rendered as written: [`OUTPUT_TOO_LARGE`] where the output would
    /// pass [`MAX_OUTPUT`], [`OUTPUT_NO_MEMORY`].
    Malformed(&'static str),
    /// A placeholder names a secret that the lookup does not know.
    UnknownSecret(String),
}

/// An error located at the `$` of the offending placeholder
/// (1-based line and column; the column counts bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub kind: RenderErrorKind,
    pub line: usize,
    pub column: usize,
}

/// Message for an empty name: `${secrets.}`.
pub const EMPTY_NAME: &str = "empty secret name";
/// Message for a placeholder not closed by `}` before a line end or the end.
pub const UNCLOSED: &str = "unclosed placeholder";
/// Message for a byte outside `[A-Za-z0-9_]`, or a leading digit.
pub const INVALID_CHAR: &str = "invalid character in secret name";
/// Message for a name longer than [`MAX_NAME_LEN`].
pub const NAME_TOO_LONG: &str = "secret name longer than 128 bytes";
/// Message when the rendered output would pass [`MAX_OUTPUT`] at this
/// placeholder (or text).
pub const OUTPUT_TOO_LARGE: &str =
    "the rendered output would pass the 64 MiB limit here (a placeholder repeated too often, or a value too large)";
/// Message when memory for a rendered output under the cap is refused.
pub const OUTPUT_NO_MEMORY: &str = "not enough memory for the rendered output";

impl fmt::Display for RenderErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderErrorKind::Malformed(what @ (OUTPUT_TOO_LARGE | OUTPUT_NO_MEMORY)) => {
                f.write_str(what)
            }
            RenderErrorKind::Malformed(what) => write!(f, "malformed placeholder: {what}"),
            RenderErrorKind::UnknownSecret(name) => write!(f, "unknown secret `{name}`"),
        }
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.kind
        )
    }
}

impl std::error::Error for RenderError {}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Parses `template`. Runs in linear time without recursion; every
/// malformed placeholder is an error located at its `$`.
pub fn parse(template: &[u8]) -> Result<Template<'_>, RenderError> {
    let mut pieces = Vec::new();
    let mut line = 1usize;
    let mut line_start = 0usize; // offset of the first byte of `line`
    let mut lit_start = 0usize; // start of the literal run being collected
    let mut lit_at = (1usize, 1usize); // its line and column
    let mut i = 0usize;
    let n = template.len();

    while i < n {
        match template[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
                i += 1;
            }
            b'$' if template[i + 1..].starts_with(b"${") => {
                // `$${` -> literal `${`: drop the first `$`, keep `${` in the
                // literal run, and skip past it so it is not parsed.
                if lit_start < i {
                    pieces.push(literal(&template[lit_start..i], lit_at));
                }
                lit_start = i + 1;
                lit_at = (line, lit_start - line_start + 1);
                i += 3;
            }
            b'$' if template[i..].starts_with(PREFIX) => {
                let column = i - line_start + 1;
                let err = |what| RenderError {
                    kind: RenderErrorKind::Malformed(what),
                    line,
                    column,
                };
                let name_start = i + PREFIX.len();
                let name_len = template[name_start..]
                    .iter()
                    .position(|&b| !is_name_byte(b))
                    .unwrap_or(n - name_start);
                let name_end = name_start + name_len;
                if name_len > 0 && !is_name_start(template[name_start]) {
                    return Err(err(INVALID_CHAR));
                }
                match template.get(name_end) {
                    Some(b'}') => {}
                    None | Some(b'\n') | Some(b'\r') => return Err(err(UNCLOSED)),
                    Some(_) => return Err(err(INVALID_CHAR)),
                }
                if name_len == 0 {
                    return Err(err(EMPTY_NAME));
                }
                if name_len > MAX_NAME_LEN {
                    return Err(err(NAME_TOO_LONG));
                }
                // The name is ASCII by construction, so this cannot fail.
                let name = std::str::from_utf8(&template[name_start..name_end])
                    .map_err(|_| err(INVALID_CHAR))?;
                if lit_start < i {
                    pieces.push(literal(&template[lit_start..i], lit_at));
                }
                pieces.push(Piece::Secret { name, line, column });
                i = name_end + 1;
                lit_start = i;
                lit_at = (line, lit_start - line_start + 1);
            }
            _ => i += 1,
        }
    }
    if lit_start < n {
        pieces.push(literal(&template[lit_start..], lit_at));
    }
    Ok(Template { pieces })
}

fn literal(bytes: &[u8], (line, column): (usize, usize)) -> Piece<'_> {
    Piece::Literal {
        bytes,
        line,
        column,
    }
}

/// 1-based (line, column) of `bytes[k]`, where `bytes` starts at
/// (`line`, `column`).
fn position_in(bytes: &[u8], (line, column): (usize, usize), k: usize) -> (usize, usize) {
    let before = &bytes[..k];
    match before.iter().rposition(|&b| b == b'\n') {
        None => (line, column + k),
        Some(last) => (
            line + before.iter().filter(|&&b| b == b'\n').count(),
            k - last,
        ),
    }
}

impl<'a> Template<'a> {
    /// Names referenced, in order of first appearance, deduplicated.
    pub fn names(&self) -> Vec<&'a str> {
        self.references()
            .into_iter()
            .map(|(name, _, _)| name)
            .collect()
    }

    /// The first reference to each name, in order of first appearance, with
    /// the 1-based (line, column) of its `$`.
    pub fn references(&self) -> Vec<(&'a str, usize, usize)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for piece in &self.pieces {
            if let Piece::Secret { name, line, column } = *piece {
                if seen.insert(name) {
                    out.push((name, line, column));
                }
            }
        }
        out
    }

    /// 1-based (line, column) of the `$` of the first reference to `name`.
    pub fn position(&self, name: &str) -> Option<(usize, usize)> {
        self.pieces.iter().find_map(|piece| match *piece {
            Piece::Secret {
                name: n,
                line,
                column,
            } if n == name => Some((line, column)),
            _ => None,
        })
    }

    /// Renders the template, looking each name up with `lookup`.
    ///
    /// The output's size is worked out first: a render that would pass
    /// [`MAX_OUTPUT`] is refused where it would, before anything is
    /// allocated. The buffer is then reserved fallibly at its exact final
    /// size, so no copy of a secret is left behind by a reallocation. An
    /// unknown name is reported at its first reference (or the size, if
    /// the cap is passed earlier in the template). `lookup` is called once
    /// per placeholder.
    pub fn render<'v>(
        &self,
        lookup: &dyn Fn(&str) -> Option<&'v [u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, RenderError> {
        let too_large = |(line, column)| RenderError {
            kind: RenderErrorKind::Malformed(OUTPUT_TOO_LARGE),
            line,
            column,
        };
        // Pass 1: resolve every placeholder and compute the exact length.
        let mut values: Vec<&'v [u8]> = Vec::new();
        let mut total = 0usize;
        for piece in &self.pieces {
            match *piece {
                Piece::Literal {
                    bytes,
                    line,
                    column,
                } => {
                    if bytes.len() > MAX_OUTPUT - total {
                        let k = MAX_OUTPUT - total;
                        return Err(too_large(position_in(bytes, (line, column), k)));
                    }
                    total += bytes.len();
                }
                Piece::Secret { name, line, column } => {
                    let value = lookup(name).ok_or_else(|| RenderError {
                        kind: RenderErrorKind::UnknownSecret(name.to_owned()),
                        line,
                        column,
                    })?;
                    if value.len() > MAX_OUTPUT - total {
                        return Err(too_large((line, column)));
                    }
                    total += value.len();
                    values.push(value);
                }
            }
        }

        // Pass 2: copy into a buffer that never grows.
        let mut out = Zeroizing::new(Vec::new());
        out.try_reserve_exact(total).map_err(|_| RenderError {
            kind: RenderErrorKind::Malformed(OUTPUT_NO_MEMORY),
            line: 1,
            column: 1,
        })?;
        crate::secret::lock_memory(&out);
        let mut values = values.into_iter();
        for piece in &self.pieces {
            match piece {
                Piece::Literal { bytes, .. } => out.extend_from_slice(bytes),
                Piece::Secret { .. } => {
                    if let Some(value) = values.next() {
                        out.extend_from_slice(value);
                    }
                }
            }
        }
        debug_assert_eq!(out.len(), total);
        debug_assert_eq!(out.capacity(), total);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn secrets() -> HashMap<&'static str, &'static [u8]> {
        let mut m: HashMap<&'static str, &'static [u8]> = HashMap::new();
        m.insert("A", b"alpha");
        m.insert("B", b"beta");
        m.insert("TOKEN_1", b"t0k$n");
        m.insert("MULTI", b"line1\nline2\r\nline3\n");
        m.insert("RECURSE", b"${secrets.A} and $${ and $");
        m.insert("EMPTY", b"");
        m.insert("BIN", b"\x00\xff\xfe");
        m
    }

    fn render_with(template: &[u8]) -> Result<Vec<u8>, RenderError> {
        let map = secrets();
        let t = parse(template)?;
        let out = t.render(&|name| map.get(name).copied())?;
        Ok(out.to_vec())
    }

    fn ok(template: &[u8]) -> Vec<u8> {
        render_with(template).expect("render should succeed")
    }

    fn malformed(template: &[u8], what: &'static str, line: usize, column: usize) {
        let err = parse(template).expect_err("parse should fail");
        assert_eq!(
            err,
            RenderError {
                kind: RenderErrorKind::Malformed(what),
                line,
                column
            },
            "template {:?}",
            String::from_utf8_lossy(template)
        );
    }

    #[test]
    fn plain_text_is_copied() {
        assert_eq!(ok(b""), b"");
        assert_eq!(ok(b"no placeholders here"), b"no placeholders here");
    }

    #[test]
    fn substitutes_values() {
        assert_eq!(ok(b"x = '${secrets.A}'"), b"x = 'alpha'");
        assert_eq!(ok(b"${secrets.TOKEN_1}"), b"t0k$n");
        assert_eq!(ok(b"${secrets.EMPTY}|"), b"|");
        assert_eq!(ok(b"[${secrets.BIN}]"), b"[\x00\xff\xfe]");
    }

    #[test]
    fn adjacent_placeholders() {
        assert_eq!(
            ok(b"${secrets.A}${secrets.B}${secrets.A}"),
            b"alphabetaalpha"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(ok(b"$${secrets.A}"), b"${secrets.A}");
        assert_eq!(ok(b"$${HOME}"), b"${HOME}");
        assert_eq!(ok(b"$${"), b"${");
        assert_eq!(ok(b"a$${b$${c"), b"a${b${c");
        // The escape hides what follows from the parser, even malformed text.
        assert_eq!(ok(b"$${secrets.}"), b"${secrets.}");
        assert_eq!(ok(b"$${secrets.A-B"), b"${secrets.A-B");
        // Escape directly followed by a real placeholder.
        assert_eq!(ok(b"$${${secrets.A}"), b"${alpha");
        // Left to right: `$$${` is a verbatim `$` then the escape `$${`.
        assert_eq!(ok(b"$$${secrets.A}"), b"$${secrets.A}");
    }

    #[test]
    fn other_dollars_are_verbatim() {
        assert_eq!(ok(b"$"), b"$");
        assert_eq!(ok(b"cost $5"), b"cost $5");
        assert_eq!(ok(b"$$"), b"$$");
        assert_eq!(ok(b"a$$b"), b"a$$b");
        assert_eq!(ok(b"$$ ${secrets.A}"), b"$$ alpha");
        assert_eq!(ok(b"${HOME}/x"), b"${HOME}/x");
        assert_eq!(ok(b"${"), b"${");
        assert_eq!(ok(b"${secrets"), b"${secrets");
        assert_eq!(ok(b"${secrets}"), b"${secrets}");
        assert_eq!(ok(b"${Secrets.A}"), b"${Secrets.A}");
        assert_eq!(ok(b"$secrets.A"), b"$secrets.A");
        assert_eq!(ok(b"${ secrets.A}"), b"${ secrets.A}");
    }

    #[test]
    fn values_are_not_reexpanded() {
        assert_eq!(ok(b"<${secrets.RECURSE}>"), b"<${secrets.A} and $${ and $>");
        assert_eq!(
            ok(b"k = '${secrets.MULTI}'"),
            b"k = 'line1\nline2\r\nline3\n'"
        );
    }

    #[test]
    fn crlf_template() {
        let t = b"a = 1\r\nb = '${secrets.A}'\r\nc = '${secrets.B}'\r\n";
        assert_eq!(ok(t), b"a = 1\r\nb = 'alpha'\r\nc = 'beta'\r\n");
        // Positions in a CRLF file: the `\r` is part of the previous line.
        let err = render_with(b"a\r\n  ${secrets.NOPE}\r\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 3));
        // An unclosed placeholder ends at the `\r` of a CRLF line end.
        malformed(b"x\r\ny ${secrets.A\r\n}", UNCLOSED, 2, 3);
    }

    #[test]
    fn non_utf8_template() {
        let t = b"\xff\xfe${secrets.A}\x80\n\xc3(${secrets.B}";
        assert_eq!(ok(t), b"\xff\xfealpha\x80\n\xc3(beta");
        malformed(b"\xff\n\xfe\xfd${secrets.}", EMPTY_NAME, 2, 3);
        malformed(b"${secrets.A\xff}", INVALID_CHAR, 1, 1);
    }

    #[test]
    fn malformed_empty_name() {
        malformed(b"${secrets.}", EMPTY_NAME, 1, 1);
        malformed(b"ab\ncd ${secrets.} x", EMPTY_NAME, 2, 4);
    }

    #[test]
    fn malformed_unclosed() {
        malformed(b"${secrets.A", UNCLOSED, 1, 1);
        malformed(b"${secrets.", UNCLOSED, 1, 1);
        malformed(b"x\n\n   ${secrets.ABC\n}", UNCLOSED, 3, 4);
        malformed(b"${secrets.\n}", UNCLOSED, 1, 1);
    }

    #[test]
    fn malformed_invalid_character() {
        malformed(b"${secrets.9A}", INVALID_CHAR, 1, 1);
        malformed(b"  ${secrets.A-B}", INVALID_CHAR, 1, 3);
        malformed(b"${secrets.A B}", INVALID_CHAR, 1, 1);
        malformed(b"${secrets.A.B}", INVALID_CHAR, 1, 1);
        malformed(b"l1\nl2\n\tx=${secrets.a$}", INVALID_CHAR, 3, 4);
        // A leading digit is reported even when unclosed.
        malformed(b"${secrets.9", INVALID_CHAR, 1, 1);
    }

    #[test]
    fn name_length_limit() {
        let ok_name = "N".repeat(MAX_NAME_LEN);
        let t = format!("${{secrets.{ok_name}}}");
        let parsed = parse(t.as_bytes()).unwrap();
        assert_eq!(parsed.names(), vec![ok_name.as_str()]);

        let long = format!("x\n ${{secrets.{}}}", "N".repeat(MAX_NAME_LEN + 1));
        malformed(long.as_bytes(), NAME_TOO_LONG, 2, 2);
    }

    #[test]
    fn first_error_wins() {
        malformed(b"${secrets.}\n${secrets.9}\n${secrets.A", EMPTY_NAME, 1, 1);
    }

    #[test]
    fn unknown_secret_reports_first_reference() {
        let err = render_with(b"ok ${secrets.A}\n\n  x${secrets.MISSING} ${secrets.MISSING}")
            .unwrap_err();
        assert_eq!(
            err,
            RenderError {
                kind: RenderErrorKind::UnknownSecret("MISSING".into()),
                line: 3,
                column: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "line 3, column 4: unknown secret `MISSING`"
        );
    }

    #[test]
    fn names_and_positions() {
        let t = parse(b"${secrets.B}\n  ${secrets.A} ${secrets.B}${secrets.C}").unwrap();
        assert_eq!(t.names(), vec!["B", "A", "C"]);
        assert_eq!(t.references(), vec![("B", 1, 1), ("A", 2, 3), ("C", 2, 28)]);
        assert_eq!(t.position("A"), Some((2, 3)));
        assert_eq!(t.position("Z"), None);
    }

    #[test]
    fn output_is_exactly_sized() {
        let map = secrets();
        let t = parse(b"a${secrets.MULTI}b${secrets.A}${secrets.A}c").unwrap();
        let out = t.render(&|name| map.get(name).copied()).unwrap();
        assert_eq!(out.len(), out.capacity());
    }

    #[test]
    fn output_over_the_cap_is_refused_where_it_would_pass_it() {
        let big = vec![b'v'; 1 << 20];
        let lookup = |name: &str| (name == "BIG").then_some(big.as_slice());
        let placeholder = "${secrets.BIG}";
        // Exactly at the cap: rendered.
        let t = placeholder.repeat(MAX_OUTPUT >> 20);
        let out = parse(t.as_bytes()).unwrap().render(&lookup).unwrap();
        assert_eq!(out.len(), MAX_OUTPUT);
        drop(out);
        // The review's 16 MiB template: refused at the 65th placeholder,
        // before anything is allocated (a terabyte would abort).
        let t = placeholder.repeat((16 << 20) / placeholder.len());
        let err = parse(t.as_bytes()).unwrap().render(&lookup).unwrap_err();
        assert_eq!(
            err,
            RenderError {
                kind: RenderErrorKind::Malformed(OUTPUT_TOO_LARGE),
                line: 1,
                column: 64 * placeholder.len() + 1,
            }
        );
        assert!(
            err.to_string()
                .starts_with("line 1, column 897: the rendered output would pass the 64 MiB limit"),
            "{err}"
        );
        // Crossed inside text: located at the first byte past the cap.
        let mut t = format!("{}\n", placeholder.repeat(63)).into_bytes();
        t.extend(std::iter::repeat_n(b'a', (1 << 20) - 1));
        t.extend_from_slice(b"\nb\nccc");
        let err = parse(&t).unwrap().render(&lookup).unwrap_err();
        assert_eq!((err.line, err.column), (2, 1 << 20));
        let t = format!("{}x${{secrets.NOPE}}", placeholder.repeat(64));
        let err = parse(t.as_bytes()).unwrap().render(&lookup).unwrap_err();
        assert_eq!((err.line, err.column), (1, 64 * placeholder.len() + 1));
        assert_eq!(err.kind, RenderErrorKind::Malformed(OUTPUT_TOO_LARGE));
    }

    #[test]
    fn cap_is_the_documented_64_mib() {
        assert_eq!(MAX_OUTPUT, 64 * 1024 * 1024);
        assert!(OUTPUT_TOO_LARGE.contains("64 MiB"));
    }

    #[test]
    fn display_messages() {
        let err = parse(b"\n${secrets.}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2, column 1: malformed placeholder: empty secret name"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(err);
        assert!(!boxed.to_string().is_empty());
    }

    #[test]
    fn lookup_with_borrowed_map() {
        // The lookup may return slices borrowed from a local map.
        let owned: HashMap<String, Vec<u8>> =
            [("A".to_string(), b"v".to_vec())].into_iter().collect();
        let t = parse(b"${secrets.A}").unwrap();
        let out = t
            .render(&|name| owned.get(name).map(Vec::as_slice))
            .unwrap();
        assert_eq!(out.as_slice(), b"v");
    }

    /// Deterministic xorshift so the loop needs no extra dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // Bias towards the interesting bytes so placeholders actually occur.
        const ALPHABET: &[u8] = b"${}secrets.A_9-\n\r\xff ";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..20_000u32 {
            let len = (next(&mut state) % 64) as usize;
            let mut t: Vec<u8> = Vec::with_capacity(len + 16);
            for _ in 0..len {
                let r = next(&mut state);
                if round.is_multiple_of(3) {
                    t.push(r as u8);
                } else if r.is_multiple_of(7) {
                    t.extend_from_slice(b"${secrets.");
                } else {
                    t.push(ALPHABET[(r % ALPHABET.len() as u64) as usize]);
                }
            }
            check_never_panics(&t);
        }
    }

    /// Parsing and rendering `t` does not panic; an error points at a `$`.
    fn check_never_panics(t: &[u8]) {
        let value: &[u8] = b"VALUE";
        match parse(t) {
            Ok(parsed) => {
                assert!(parsed.render(&|_| Some(value)).is_ok());
                let unknown = parsed.render(&|_| None);
                assert_eq!(unknown.is_err(), !parsed.names().is_empty());
            }
            Err(e) => {
                let line = t.split(|&b| b == b'\n').nth(e.line - 1).unwrap();
                assert_eq!(line[e.column - 1], b'$');
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_proptest(t in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            check_never_panics(&t);
        }

        #[test]
        fn text_without_dollar_is_unchanged(t in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let t: Vec<u8> = t.into_iter().filter(|&b| b != b'$').collect();
            let out = parse(&t).unwrap().render(&|_| None).unwrap();
            proptest::prop_assert_eq!(out.as_slice(), t.as_slice());
        }
    }

    #[test]
    fn large_template_is_linear() {
        // 1 MiB of `$` and escapes parses quickly (no quadratic rescans).
        let mut t = Vec::new();
        for _ in 0..(1 << 18) {
            t.extend_from_slice(b"$$${");
        }
        let parsed = parse(&t).unwrap();
        let out = parsed.render(&|_| None).unwrap();
        assert_eq!(out.len(), 3 * (1 << 18));
    }
}
