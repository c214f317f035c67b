//! Moving secrets in and out of a vault: reading `.env` files, flat JSON
//! objects and Nextflow's secrets store, and writing dotenv, JSON, shell and
//! Nextflow files. Pure functions over bytes: no I/O, no printing, nothing
//! read from the environment (the caller passes what it read).
//!
//! Every input is bounded: at most [`MAX_INPUT_LEN`] bytes (the caller
//! checks before reading), at most [`MAX_ENTRIES`] secrets, values at most
//! [`MAX_VALUE_LEN`]. Parsers never panic on any bytes (fuzzed), decode each
//! value straight into its own [`SecretBytes`] sized up front, and locate
//! every error by line and column (bytes, 1-based) without repeating the
//! text: a misparsed line can put a value where a name goes.
//!
//! Writers work in two passes over a [`Sink`]: the first counts the bytes,
//! the second fills one zeroizing buffer of exactly that size, so no value
//! is left behind in a buffer that grew.

pub mod dotenv;
pub mod json;
pub mod nextflow;
pub mod shell;

use std::fmt;

use crate::format::{is_valid_name, MAX_VALUE_LEN};
use crate::secret::{SecretBuf, SecretBytes};

/// Largest input accepted by the parsers, bytes (64 MiB).
pub const MAX_INPUT_LEN: usize = 64 << 20;

/// Most secrets one input may hold.
pub const MAX_ENTRIES: usize = 100_000;

/// One secret read from a file.
#[derive(Debug)]
pub struct Item {
    /// Its name (checked against the name rule).
    pub name: String,
    /// Its value.
    pub value: SecretBytes,
    /// Where its name starts (1-based line and byte column).
    pub line: usize,
    /// See `line`.
    pub column: usize,
}

/// What a file holds: the secrets in file order, each name once (the last
/// definition wins, as in python-dotenv, Node's dotenv and Nextflow).
#[derive(Debug, Default)]
pub struct Parsed {
    /// The secrets.
    pub items: Vec<Item>,
    /// Names defined more than once (each once, in order of first repeat).
    pub duplicates: Vec<String>,
}

impl Parsed {
    /// Adds `item`, replacing an earlier one of the same name in place.
    fn push(
        &mut self,
        item: Item,
        index: &mut std::collections::HashMap<String, usize>,
    ) -> Result<(), ParseError> {
        if let Some(&i) = index.get(&item.name) {
            if !self.duplicates.contains(&item.name) {
                self.duplicates.push(item.name.clone());
            }
            self.items[i] = item;
            return Ok(());
        }
        if self.items.len() >= MAX_ENTRIES {
            return Err(ParseError::at(
                item.line,
                item.column,
                ParseErrorKind::TooManyEntries,
            ));
        }
        index.insert(item.name.clone(), self.items.len());
        self.items.push(item);
        Ok(())
    }
}

/// What is wrong with an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The syntax is broken; the text says how (never quoting the input).
    Syntax(&'static str),
    /// A name breaks the name rule (the name is not repeated).
    InvalidName,
    /// A value over [`MAX_VALUE_LEN`].
    ValueTooLarge,
    /// More than [`MAX_ENTRIES`] secrets.
    TooManyEntries,
    /// The input is over [`MAX_INPUT_LEN`].
    TooLarge,
    /// A JSON value that should be a string is not; the name is given
    /// when it is a valid secret name.
    NotAString {
        /// The key, if it is a valid name.
        name: Option<String>,
        /// What it is instead ("an object", "a number", ...).
        found: &'static str,
    },
}

/// An error located in the input (1-based line, column in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counting bytes.
    pub column: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn at(line: usize, column: usize, kind: ParseErrorKind) -> ParseError {
        ParseError { line, column, kind }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::Syntax(m) => f.write_str(m),
            ParseErrorKind::InvalidName => {
                write!(f, "invalid secret name: {}", crate::error::NAME_RULE)
            }
            ParseErrorKind::ValueTooLarge => {
                write!(f, "a value over the 1 MiB limit ({MAX_VALUE_LEN} bytes)")
            }
            ParseErrorKind::TooManyEntries => {
                write!(f, "more than {MAX_ENTRIES} secrets in one import")
            }
            ParseErrorKind::TooLarge => write!(f, "the input is over {} MiB", MAX_INPUT_LEN >> 20),
            ParseErrorKind::NotAString {
                name: Some(n),
                found,
            } => {
                write!(f, "the value of {n} is {found}, not a string (only a flat object of strings can be imported)")
            }
            ParseErrorKind::NotAString { name: None, found } => {
                write!(f, "a value is {found}, not a string (only a flat object of strings can be imported)")
            }
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.kind)
    }
}

impl std::error::Error for ParseError {}

/// Checks a name read from a file; the error does not repeat it.
pub(crate) fn check_name(name: &[u8], line: usize, column: usize) -> Result<String, ParseError> {
    if !is_valid_name(name) {
        return Err(ParseError::at(line, column, ParseErrorKind::InvalidName));
    }
    // ASCII by the rule.
    Ok(String::from_utf8_lossy(name).into_owned())
}

/// 1-based (line, column) of byte offset `at` in `input`: lines end at
/// `\n`, `\r\n` or a lone `\r`; the column counts bytes.
pub(crate) fn position(input: &[u8], at: usize) -> (usize, usize) {
    let at = at.min(input.len());
    let mut line = 1;
    let mut start = 0;
    let mut i = 0;
    while i < at {
        match input[i] {
            b'\n' => {
                line += 1;
                start = i + 1;
            }
            b'\r' if input.get(i + 1) != Some(&b'\n') => {
                line += 1;
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    (line, at - start + 1)
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `NAME=value`, spelled so python-dotenv and Node's dotenv read it back.
    Dotenv,
    /// A flat JSON object of strings.
    Json,
    /// `export NAME='value'` lines for a POSIX shell (`eval`, `source`).
    Shell,
    /// Nextflow's local secrets store (`store.json`).
    Nextflow,
}

/// A value a format cannot carry: the export stops, naming the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    /// The secret.
    pub name: String,
    /// Why, as the end of "the value of secret NAME ...".
    pub why: &'static str,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the value of secret {} {}", self.name, self.why)
    }
}

impl std::error::Error for ExportError {}

/// An exported file and what its reader should know.
#[derive(Debug)]
pub struct Exported {
    /// The file, in one buffer of exactly its size.
    pub bytes: SecretBytes,
    /// Secrets written in a spelling only python-dotenv reads back exactly
    /// (Node's dotenv does not): see [`dotenv`].
    pub python_only: Vec<String>,
}

/// Writes `entries` (name, value; in the order given) in `format`.
pub fn export(format: Format, entries: &[(&str, &[u8])]) -> Result<Exported, ExportError> {
    let mut python_only = Vec::new();
    let write = |sink: &mut dyn Sink, python_only: &mut Vec<String>| -> Result<(), ExportError> {
        match format {
            Format::Dotenv => dotenv::write(entries, sink, python_only),
            Format::Json => json::write_object(entries, sink),
            Format::Shell => shell::write(entries, sink),
            Format::Nextflow => nextflow::write(entries, sink),
        }
    };
    let mut count = Count(0);
    write(&mut count, &mut python_only)?;
    let mut out = SecretBuf::with_capacity(count.0);
    python_only.clear();
    write(&mut out, &mut python_only)?;
    debug_assert_eq!(out.len(), count.0);
    Ok(Exported {
        bytes: out.into(),
        python_only,
    })
}

/// Where writers put bytes: a counter first, then the buffer.
pub trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

struct Count(usize);

impl Sink for Count {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

impl Sink for SecretBuf {
    fn put(&mut self, bytes: &[u8]) {
        // Sized by the counting pass: it cannot grow, and never needs to.
        self.extend_from_slice(bytes)
            .expect("the counting pass sized the buffer");
    }
}

/// A value decoded from the input into its own buffer, at most `raw_len`
/// bytes (escapes only shorten), so it never reallocates.
pub(crate) fn value_buffer(raw_len: usize) -> SecretBuf {
    SecretBuf::with_capacity(raw_len.min(MAX_VALUE_LEN + 4))
}

/// Pushes `bytes` onto a value under construction; `false` when the value
/// would exceed [`MAX_VALUE_LEN`] or the buffer's capacity.
pub(crate) fn push_value(v: &mut SecretBuf, bytes: &[u8]) -> bool {
    v.len() + bytes.len() <= MAX_VALUE_LEN && v.extend_from_slice(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_bytes_and_every_line_end() {
        let s = b"ab\ncd\r\nef\rg";
        assert_eq!(position(s, 0), (1, 1));
        assert_eq!(position(s, 4), (2, 2));
        assert_eq!(position(s, 7), (3, 1));
        assert_eq!(position(s, 10), (4, 1));
        assert_eq!(position(s, 99), (4, 2));
    }

    #[test]
    fn exports_are_exactly_sized() {
        let entries: [(&str, &[u8]); 3] = [("A", b"x y"), ("B", b"it's \"q\"\n"), ("C", b"")];
        for f in [
            Format::Dotenv,
            Format::Json,
            Format::Shell,
            Format::Nextflow,
        ] {
            // The buffer is sized by the counting pass and cannot grow: a
            // miscount would panic in `put`.
            let e = export(f, &entries).unwrap();
            assert!(!e.bytes.is_empty(), "{f:?}");
        }
    }
}
