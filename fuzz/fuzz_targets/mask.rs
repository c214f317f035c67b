//! `vault::mask::Masker`: the fuzzer's bytes, split at fuzzer-chosen points,
//! masked chunk by chunk, give exactly the same output as masking them in
//! one piece, and as a naive union-of-all-matches mask
//! (`vault_fuzz::reference_mask`); no pattern survives in the output; only
//! the end of a proper prefix of some pattern is ever held back; the output
//! so far is always a prefix of the final output; a clone taken mid-stream and the
//! masker reused after `finish` behave the same.
//!
//! Input layout: byte 0 picks the values (bit 0 clear: a fixed set with
//! overlapping, nested, long (sparse-filter) and multi-line values; set:
//! up to 4 values read from the input, `*` turned into `+` so a replacement
//! can never form one). Then a count `k` (mod 16) and `k` chunk lengths,
//! used in turn until the input runs out; the rest is the stream.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vault::mask::Masker;
use vault_fuzz::{contains, mask_patterns, reference_mask};

const FIXED: &[&[u8]] = &[
    b"ab",
    b"abcd",
    b"abcdefgh",
    b"cdefghij",
    b"secret",
    b"supersecret",
    b"0123456789abcdef",
    b"ghp_0123456789abcdefXYZ",
    b"aaaaaaaaaaaaaaaaaaaa",
    b"tok_aaaaaaaaaaaaaaaaaaaaaaaa",
    b"-----BEGIN KEY-----\nMIIEvQIBADANBgkq\r\nline-two-secret!\nshort\n-----END KEY-----\n",
];

/// Takes one byte, or 0 at the end.
fn take(data: &mut &[u8]) -> u8 {
    match data.split_first() {
        Some((&b, rest)) => {
            *data = rest;
            b
        }
        None => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let mode = take(&mut data);
    let owned: Vec<Vec<u8>>;
    let values: Vec<&[u8]> = if mode & 1 == 0 {
        FIXED.to_vec()
    } else {
        let n = take(&mut data) % 5;
        owned = (0..n)
            .map(|_| {
                let len = (take(&mut data) % 48) as usize;
                let (v, rest) = data.split_at(len.min(data.len()));
                data = rest;
                v.iter()
                    .map(|&b| if b == b'*' { b'+' } else { b })
                    .collect()
            })
            .collect();
        owned.iter().map(Vec::as_slice).collect()
    };
    let k = take(&mut data) % 16;
    let splits: Vec<usize> = (0..k).map(|_| take(&mut data) as usize).collect();
    let input = data;

    let patterns = mask_patterns(&values);
    let max_len = patterns.iter().map(Vec::len).max().unwrap_or(0);
    let expected = reference_mask(&patterns, input);

    // Building the fixed set's automata once keeps executions fast; a clone
    // shares nothing mutable (and is itself under test below).
    static FIXED_MASKER: OnceLock<(Masker, Vec<usize>)> = OnceLock::new();
    let (mut m, short) = if mode & 1 == 0 {
        let (m, short) = FIXED_MASKER.get_or_init(|| Masker::new(FIXED));
        (m.clone(), short.clone())
    } else {
        Masker::new(&values)
    };
    let expected_short: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].len() < vault::mask::MIN_LEN)
        .collect();
    assert_eq!(short, expected_short);
    assert_eq!(m.pattern_count(), patterns.len());

    // Chunked, checking the held-back tail and the output so far.
    let mut out = Vec::new();
    let mut fed = 0;
    let mut checked = 0;
    let mut clone: Option<(Masker, Vec<u8>, usize, usize)> = None;
    let mut turn = 0;
    while fed < input.len() {
        let len = if splits.is_empty() || turn >= splits.len() * 8 {
            input.len() - fed // no splits, or only empty ones: the rest
        } else {
            splits[turn % splits.len()].min(input.len() - fed)
        };
        turn += 1;
        m.feed(&input[fed..fed + len], &mut out);
        fed += len;
        let held = m.held_back();
        assert!(
            held <= max_len.saturating_sub(1),
            "held {held} of max {max_len}"
        );
        if held > 0 {
            // The held bytes end a fragment that could still grow into a
            // match (its start may already be hidden under a `***`).
            let grows = (held..max_len.min(fed + 1)).any(|k| {
                let tail = &input[fed - k..fed];
                patterns.iter().any(|p| p.len() > k && p.starts_with(tail))
            });
            assert!(grows, "held back bytes that cannot grow into a match");
        }
        // The output so far is a prefix of the final output (checking only
        // what this feed appended).
        assert!(
            expected.get(checked..out.len()) == Some(&out[checked..]),
            "output so far is not a prefix"
        );
        checked = out.len();
        if clone.is_none() && fed * 2 >= input.len() {
            clone = Some((m.clone(), out.clone(), fed, held));
        }
    }
    m.finish(&mut out);
    assert!(out == expected, "chunked output differs from the reference");
    assert_eq!(m.held_back(), 0);
    for p in &patterns {
        assert!(!contains(&out, p), "a pattern survived masking");
    }

    // A clone taken mid-stream continues identically.
    if let Some((mut c, mut cout, at, held)) = clone {
        assert_eq!(c.held_back(), held);
        c.feed(&input[at..], &mut cout);
        c.finish(&mut cout);
        assert!(cout == expected, "clone output differs");
    }

    // Reused after finish, fed in one piece.
    let mut whole = Vec::new();
    m.feed(input, &mut whole);
    m.finish(&mut whole);
    assert!(whole == expected, "one-piece output differs");
});
