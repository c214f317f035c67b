//! JSON in and out: a flat object of strings (`{"NAME": "value", ...}`),
//! and the small strict JSON reader the Nextflow store shares. Strings are
//! decoded straight into [`SecretBytes`] sized up front (a general JSON
//! library would pass values through its own scratch buffers), every
//! nesting and length is bounded, and errors are located, never quoted.
//!
//! Strict RFC 8259 JSON: no comments, no trailing commas, no raw control
//! characters in strings, UTF-8 only; a `\u` escape of a lone UTF-16
//! surrogate is refused (it has no UTF-8 form). A key given twice: the last
//! one wins (as in JavaScript, Python and serde_json).

use std::collections::HashMap;

use super::{
    check_name, position, push_value, value_buffer, ExportError, Item, ParseError, ParseErrorKind,
    Parsed, Sink, MAX_INPUT_LEN,
};
use crate::format::MAX_VALUE_LEN;
use crate::secret::SecretBytes;

/// Deepest nesting skipped inside an ignored field.
const MAX_DEPTH: usize = 64;

/// A cursor over JSON text.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    i: usize,
}

/// A string token: where it starts (its opening quote) and its raw bytes
/// between the quotes.
pub(crate) struct RawString<'a> {
    pub(crate) at: usize,
    raw: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Result<Reader<'a>, ParseError> {
        if input.len() > MAX_INPUT_LEN {
            return Err(ParseError::at(1, 1, ParseErrorKind::TooLarge));
        }
        let start = if input.starts_with(b"\xef\xbb\xbf") {
            3
        } else {
            0
        };
        Ok(Reader { input, i: start })
    }

    pub(crate) fn error_at(&self, at: usize, kind: ParseErrorKind) -> ParseError {
        let (line, column) = position(self.input, at);
        ParseError::at(line, column, kind)
    }

    pub(crate) fn syntax(&self, m: &'static str) -> ParseError {
        self.error_at(self.i, ParseErrorKind::Syntax(m))
    }

    pub(crate) fn ws(&mut self) {
        while matches!(self.input.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The next byte after white space, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.input.get(self.i).copied()
    }

    pub(crate) fn at(&self) -> usize {
        self.i
    }

    pub(crate) fn expect(&mut self, b: u8, m: &'static str) -> Result<(), ParseError> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.syntax(m))
        }
    }

    /// Consumes `lit` (e.g. `null`) if it is next.
    pub(crate) fn literal(&mut self, lit: &[u8]) -> bool {
        self.ws();
        if self.input[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// A string token, checked (escapes well formed, no raw control
    /// characters, UTF-8) but not decoded.
    pub(crate) fn string(&mut self) -> Result<RawString<'a>, ParseError> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax("expected a string"));
        }
        let at = self.i;
        let mut j = at + 1;
        loop {
            match self.input.get(j) {
                None => return Err(self.error_at(at, ParseErrorKind::Syntax("unclosed string"))),
                Some(b'"') => break,
                Some(b'\\') => match self.input.get(j + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                    Some(b'u')
                        if self
                            .input
                            .get(j + 2..j + 6)
                            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                    {
                        j += 6
                    }
                    _ => {
                        return Err(
                            self.error_at(j, ParseErrorKind::Syntax("invalid escape in a string"))
                        )
                    }
                },
                Some(&b) if b < 0x20 => {
                    return Err(self.error_at(
                        j,
                        ParseErrorKind::Syntax("a control character in a string must be escaped"),
                    ))
                }
                Some(_) => j += 1,
            }
        }
        let raw = &self.input[at + 1..j];
        if let Err(e) = std::str::from_utf8(raw) {
            return Err(self.error_at(
                at + 1 + e.valid_up_to(),
                ParseErrorKind::Syntax("a string is not UTF-8"),
            ));
        }
        self.i = j + 1;
        Ok(RawString { at, raw })
    }

    /// Skips any value (an ignored field), nesting at most [`MAX_DEPTH`].
    pub(crate) fn skip_value(&mut self, depth: usize) -> Result<(), ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.syntax("nested too deeply"));
        }
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => {
                self.i += 1;
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.string()?;
                    self.expect(b':', "expected `:` after a key")?;
                    self.skip_value(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(self.syntax("expected `,` or `}`")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(self.syntax("expected `,` or `]`")),
                    }
                }
            }
            Some(b't') if self.literal(b"true") => Ok(()),
            Some(b'f') if self.literal(b"false") => Ok(()),
            Some(b'n') if self.literal(b"null") => Ok(()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.syntax("expected a JSON value")),
        }
    }

    fn number(&mut self) -> Result<(), ParseError> {
        let digits = |r: &mut Reader<'_>| {
            let s = r.i;
            while r.input.get(r.i).is_some_and(u8::is_ascii_digit) {
                r.i += 1;
            }
            r.i > s
        };
        if self.input.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        if !digits(self) {
            return Err(self.syntax("malformed number"));
        }
        if self.input.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(self.syntax("malformed number"));
            }
        }
        if matches!(self.input.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.input.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.syntax("malformed number"));
            }
        }
        Ok(())
    }

    /// What the next value is, for an error ("an object", ...).
    pub(crate) fn kind_of_next(&mut self) -> &'static str {
        match self.peek() {
            Some(b'{') => "an object",
            Some(b'[') => "an array",
            Some(b'n') => "null",
            Some(b't' | b'f') => "a boolean",
            _ => "a number",
        }
    }

    /// Decodes `s` into a new zeroizing buffer.
    pub(crate) fn decode(&self, s: &RawString<'_>) -> Result<SecretBytes, ParseError> {
        let too_large = || self.error_at(s.at, ParseErrorKind::ValueTooLarge);
        if s.raw.len() > MAX_VALUE_LEN * 6 {
            return Err(too_large());
        }
        let mut v = value_buffer(s.raw.len());
        let raw = s.raw;
        let mut i = 0;
        let mut run = 0;
        while i < raw.len() {
            if raw[i] != b'\\' {
                i += 1;
                continue;
            }
            if !push_value(&mut v, &raw[run..i]) {
                return Err(too_large());
            }
            let mut utf8 = [0u8; 4];
            let decoded: &[u8] = match raw[i + 1] {
                b'"' => b"\"",
                b'\\' => b"\\",
                b'/' => b"/",
                b'b' => b"\x08",
                b'f' => b"\x0c",
                b'n' => b"\n",
                b'r' => b"\r",
                b't' => b"\t",
                _ => {
                    // \uXXXX, checked by `string`.
                    let hex = |at: usize| {
                        u32::from_str_radix(
                            std::str::from_utf8(&raw[at..at + 4]).unwrap_or("x"),
                            16,
                        )
                        .ok()
                    };
                    let hi = hex(i + 2).unwrap_or(0xFFFF_FFFF);
                    let here = s.at + 1 + i;
                    let lone = || {
                        self.error_at(
                            here,
                            ParseErrorKind::Syntax(
                                "a \\u escape of a lone UTF-16 surrogate has no UTF-8 form",
                            ),
                        )
                    };
                    let c = if (0xD800..0xDC00).contains(&hi) {
                        let lo = (raw.get(i + 6..i + 8) == Some(b"\\u"))
                            .then(|| hex(i + 8))
                            .flatten();
                        match lo {
                            Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                i += 6;
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            }
                            _ => return Err(lone()),
                        }
                    } else {
                        hi
                    };
                    let ch = char::from_u32(c).ok_or_else(lone)?;
                    i += 4;
                    ch.encode_utf8(&mut utf8).as_bytes()
                }
            };
            if !push_value(&mut v, decoded) {
                return Err(too_large());
            }
            i += 2;
            run = i;
        }
        if !push_value(&mut v, &raw[run..]) {
            return Err(too_large());
        }
        Ok(v.into())
    }

    /// A key, decoded and checked against the name rule.
    pub(crate) fn name(&self, s: &RawString<'_>) -> Result<String, ParseError> {
        let (line, column) = position(self.input, s.at);
        if s.raw.len() > 6 * crate::format::MAX_NAME_LEN {
            return Err(ParseError::at(line, column, ParseErrorKind::InvalidName));
        }
        let n = self.decode(s)?;
        check_name(n.expose(), line, column)
    }

    /// The (line, column) of byte `at`.
    pub(crate) fn pos(&self, at: usize) -> (usize, usize) {
        position(self.input, at)
    }
}

/// Parses a flat JSON object of strings.
pub fn parse_object(input: &[u8]) -> Result<Parsed, ParseError> {
    let mut r = Reader::new(input)?;
    let mut parsed = Parsed::default();
    let mut index = HashMap::new();
    r.expect(b'{', "expected a JSON object of NAME: \"value\" pairs")?;
    if r.peek() == Some(b'}') {
        r.i += 1;
    } else {
        loop {
            let key = r.string()?;
            let name = r.name(&key)?;
            r.expect(b':', "expected `:` after a key")?;
            if r.peek() != Some(b'"') {
                let found = r.kind_of_next();
                return Err(r.error_at(
                    r.at(),
                    ParseErrorKind::NotAString {
                        name: Some(name),
                        found,
                    },
                ));
            }
            let s = r.string()?;
            let value = r.decode(&s)?;
            let (line, column) = r.pos(key.at);
            parsed.push(
                Item {
                    name,
                    value,
                    line,
                    column,
                },
                &mut index,
            )?;
            match r.peek() {
                Some(b',') => r.i += 1,
                Some(b'}') => {
                    r.i += 1;
                    break;
                }
                _ => return Err(r.syntax("expected `,` or `}`")),
            }
        }
    }
    if !r.at_end() {
        return Err(r.syntax("unexpected text after the JSON object"));
    }
    Ok(parsed)
}

/// Writes `s` as a JSON string; `html_safe` also escapes `< > & = '` as
/// Gson does by default.
pub(crate) fn put_string(out: &mut dyn Sink, s: &[u8], html_safe: bool) {
    out.put(b"\"");
    let mut run = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        let mut buf = [0u8; 6];
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'<' | b'>' | b'&' | b'=' | b'\'' if html_safe => hex_escape(&mut buf, b as u32),
            b if b < 0x20 => hex_escape(&mut buf, b as u32),
            // U+2028 and U+2029 (E2 80 A8/A9): Gson escapes them.
            0xe2 if html_safe && matches!(s.get(i + 1..i + 3), Some([0x80, 0xa8 | 0xa9])) => {
                let c = if s[i + 2] == 0xa8 { 0x2028 } else { 0x2029 };
                out.put(&s[run..i]);
                out.put(hex_escape(&mut buf, c));
                i += 3;
                run = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.put(&s[run..i]);
        out.put(esc);
        i += 1;
        run = i;
    }
    out.put(&s[run..]);
    out.put(b"\"");
}

fn hex_escape(buf: &mut [u8; 6], c: u32) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    *buf = [
        b'\\',
        b'u',
        HEX[(c >> 12) as usize & 15],
        HEX[(c >> 8) as usize & 15],
        HEX[(c >> 4) as usize & 15],
        HEX[c as usize & 15],
    ];
    &buf[..]
}

/// Fails for a value JSON cannot carry (bytes that are not UTF-8).
pub(crate) fn check_utf8(name: &str, value: &[u8]) -> Result<(), ExportError> {
    std::str::from_utf8(value)
        .map(|_| ())
        .map_err(|_| ExportError {
            name: name.to_string(),
            why: "is not UTF-8 text, which JSON cannot carry",
        })
}

/// Writes a flat object, one member per line, in the order given.
pub(crate) fn write_object(
    entries: &[(&str, &[u8])],
    out: &mut dyn Sink,
) -> Result<(), ExportError> {
    if entries.is_empty() {
        out.put(b"{}\n");
        return Ok(());
    }
    out.put(b"{\n");
    for (k, (name, value)) in entries.iter().enumerate() {
        check_utf8(name, value)?;
        out.put(b"  ");
        put_string(out, name.as_bytes(), false);
        out.put(b": ");
        put_string(out, value, false);
        out.put(if k + 1 < entries.len() { b",\n" } else { b"\n" });
    }
    out.put(b"}\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interchange::{export, Format};

    fn items(p: &Parsed) -> Vec<(&str, &[u8])> {
        p.items
            .iter()
            .map(|i| (i.name.as_str(), i.value.expose()))
            .collect()
    }

    #[test]
    fn flat_objects() {
        let p = parse_object(
            br#" {"A": "1", "B": "l1\nl2 \"q\" \\ \/ \u00e9 \ud83d\ude00 \u003d", "A": "2"} "#,
        )
        .unwrap();
        assert_eq!(
            items(&p),
            vec![
                ("A", &b"2"[..]),
                ("B", "l1\nl2 \"q\" \\ / é 😀 =".as_bytes())
            ]
        );
        assert_eq!(p.duplicates, vec!["A"]);
        assert!(parse_object(b"{}").unwrap().items.is_empty());
        assert_eq!((p.items[1].line, p.items[1].column), (1, 13));
    }

    #[test]
    fn nested_or_non_string_values_name_the_key() {
        for (input, found) in [
            (&br#"{"A": "1", "DB": {"user": "x"}}"#[..], "an object"),
            (br#"{"DB": [1]}"#, "an array"),
            (br#"{"DB": 5}"#, "a number"),
            (br#"{"DB": null}"#, "null"),
            (br#"{"DB": true}"#, "a boolean"),
        ] {
            let e = parse_object(input).unwrap_err();
            assert_eq!(
                e.kind,
                ParseErrorKind::NotAString {
                    name: Some("DB".into()),
                    found
                }
            );
            assert!(e.to_string().contains("DB"), "{e}");
        }
    }

    #[test]
    fn malformed_json_is_located_and_not_quoted() {
        for (input, pos) in [
            (&b"[]"[..], (1, 1)),
            (b"", (1, 1)),
            (b"{\"A\": \"1\",}", (1, 11)),
            (b"{\n \"bad-name\": \"x\"}", (2, 2)),
            (b"{\"A\": \"x\ny\"}", (1, 9)),
            (b"{\"A\": \"\\ud800\"}", (1, 8)),
            (b"{\"A\": \"\\q\"}", (1, 8)),
            (b"{\"A\": \"\xff\"}", (1, 8)),
            (b"{\"A\": \"1\"} x", (1, 12)),
            (b"{\"A\": \"1\"", (1, 10)),
            (b"{\"A\" \"1\"}", (1, 6)),
        ] {
            let e = parse_object(input).unwrap_err();
            assert_eq!(
                (e.line, e.column),
                pos,
                "{:?}: {e}",
                String::from_utf8_lossy(input)
            );
            assert!(!e.to_string().contains("bad-name"));
        }
    }

    #[test]
    fn skipping_is_bounded() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let mut r = Reader::new(deep.as_bytes()).unwrap();
        assert!(r.skip_value(0).is_err());
        for v in [
            &b"-1.5e+3"[..],
            b"0",
            b"[1, {\"a\": [true, false, null]}, \"s\"]",
            b"{}",
        ] {
            let mut r = Reader::new(v).unwrap();
            r.skip_value(0).unwrap();
            assert!(r.at_end(), "{}", String::from_utf8_lossy(v));
        }
        for v in [&b"-"[..], b"1.", b"1e", b"tru", b"[1,]", b"{\"a\"}"] {
            assert!(Reader::new(v).unwrap().skip_value(0).is_err());
        }
    }

    #[test]
    fn round_trip() {
        let values: &[&[u8]] = &[
            b"",
            b"plain",
            b"\"q\" \\ / \n\r\t\x08\x0c\x01\x1f\x7f",
            "ü 😀 \u{2028}".as_bytes(),
            b"<a href='x'>&=</a>",
        ];
        let entries: Vec<(&str, &[u8])> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (["A", "B", "C", "D", "E"][i], *v))
            .collect();
        let e = export(Format::Json, &entries).unwrap();
        let p = parse_object(e.bytes.expose()).unwrap();
        assert_eq!(items(&p), entries);
        let back: serde_json::Value = serde_json::from_slice(e.bytes.expose()).unwrap();
        assert_eq!(back["D"], "ü 😀 \u{2028}");
        assert_eq!(export(Format::Json, &[]).unwrap().bytes.expose(), b"{}\n");
        let bad = export(Format::Json, &[("OK", b"x"), ("BIN", b"\xff")]).unwrap_err();
        assert_eq!(bad.name, "BIN");
    }
}
