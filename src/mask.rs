//! Streaming masker: owns replacing every occurrence of secret values in a
//! byte stream (a child's stdout or stderr) with `***`; must not do I/O,
//! print, or hold back more than a possible secret prefix.
//!
//! Patterns are each value of at least [`MIN_LEN`] bytes, masked whole, and
//! for a value containing `\n`, each of its lines (split on `\n`, a trailing
//! `\r` stripped) of at least [`MIN_LINE_LEN`] bytes that is not a PEM armour
//! line, so a key printed with other line endings is still hidden.
//!
//! Every byte covered by an occurrence of any pattern is hidden, and each
//! run of covered bytes (occurrences that overlap or touch) becomes one
//! `***`: the union of all matches, so a value that overlaps another, or is
//! a prefix of it, leaves no tail in view. This holds however the stream is
//! split into chunks: the output of any sequence of [`Masker::feed`] calls
//! followed by [`Masker::finish`] equals masking the concatenated input in
//! one piece. Between calls the masker keeps only the trailing fragment
//! that could still grow into a match (a proper prefix of some pattern, so
//! at most longest-pattern − 1 bytes); of it, the bytes not already hidden
//! under a `***` written out are held back.
//!
//! Searching: each searcher yields, from a position, its leftmost-longest
//! occurrence; the loop takes the leftmost of those (the longest at that
//! start: shorter ones there are inside it), extends the current run or
//! starts a new one, and asks again from just after that start, skipping
//! starts whose occurrences could only end inside the run.
//!
//! Speed: searching is split between searchers whose leftmost-longest
//! occurrences are merged into the leftmost occurrence over all patterns.
//! - Patterns of at least [`SPARSE_MIN_LEN`] bytes go to a sparse filter.
//!   If the shortest of them is `L` bytes, the data is probed every
//!   `stride = L - 3` bytes (capped at [`MAX_STRIDE`]): any `stride`
//!   consecutive 4-byte grams of an occurrence include exactly one probed
//!   one. Only the last `stride` grams of each pattern are indexed (a
//!   bitmap, then a sorted table) — the end, because tokens often share a
//!   prefix (`ghp_`, `eyJhbGciOi…`) but rarely an ending — so the common
//!   no-match path costs one table lookup per `stride` bytes, and a hit is
//!   verified by comparing the few patterns indexed under that gram.
//! - Shorter patterns go to `aho-corasick` automata of at most
//!   [`GROUP_SIZE`] patterns each: that crate uses its SIMD (Teddy)
//!   prefilter for up to 64 patterns only, and is ~8× slower without it.

use std::fmt;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use zeroize::{Zeroize, Zeroizing};

/// Values shorter than this are not masked (they would mask too much).
pub const MIN_LEN: usize = 4;
/// A line of a multi-line value becomes a pattern of its own from this length.
pub const MIN_LINE_LEN: usize = 8;
/// What every occurrence is replaced with.
pub const REPLACEMENT: &[u8] = b"***";
/// Most patterns searched by one automaton (its SIMD prefilter's limit).
pub const GROUP_SIZE: usize = 64;
/// Patterns at least this long are searched by the sparse filter.
pub const SPARSE_MIN_LEN: usize = 16;
/// Largest probe stride of the sparse filter (more grams are indexed for a
/// larger stride).
pub const MAX_STRIDE: usize = 32;

/// Length of the grams the sparse filter indexes.
const GRAM: usize = 4;

/// A match: `start..end` in the searched data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Found {
    start: usize,
    end: usize,
}

impl Found {
    /// `self` is the better leftmost-longest match: it starts earlier, or at
    /// the same place and ends later.
    fn better_than(&self, other: &Found) -> bool {
        self.start < other.start || (self.start == other.start && self.end > other.end)
    }
}

/// Sparse 4-gram filter over the long patterns (see the module doc).
#[derive(Clone)]
struct Sparse {
    stride: usize,
    /// The largest indexed offset: an occurrence is seen by a probe at most
    /// this far past its start.
    reach: usize,
    /// `32 - log2(bitmap bits)`.
    shift: u32,
    /// Bloom-style bitmap of the hashed indexed grams.
    bitmap: Zeroizing<Vec<u64>>,
    /// The indexed grams (little-endian), sorted and deduplicated.
    grams: Zeroizing<Vec<u32>>,
    /// Gram `i` indexes `entries[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    /// (index into the matcher's patterns, offset of the gram in it).
    entries: Vec<(u32, u32)>,
}

/// One searcher over a subset of the patterns.
#[derive(Clone)]
enum Searcher {
    /// A leftmost-longest automaton; holds its own copy of its patterns,
    /// which cannot be zeroized.
    Automaton(AhoCorasick),
    Sparse(Sparse),
}

/// Immutable matching state shared by every call.
#[derive(Clone)]
struct Matcher {
    /// Empty when there is nothing to mask.
    searchers: Vec<Searcher>,
    /// The length of each searcher's longest pattern.
    longest: Vec<usize>,
    /// The patterns, sorted and deduplicated.
    patterns: Vec<Zeroizing<Vec<u8>>>,
    /// For each byte, the indices of the patterns starting with it.
    by_first: Vec<Vec<u32>>,
    /// Length of the longest pattern (0 when there are none).
    max_len: usize,
}

/// Where [`Matcher::scan`] must stop committing matches.
#[derive(Clone, Copy)]
enum Stop {
    /// The data is the end of the stream: commit everything.
    AtEnd,
    /// More data follows: keep a trailing fragment that could still grow
    /// into a match.
    HoldTail,
    /// Commit only matches starting before this offset.
    Before(usize),
}

/// What the output written so far says about the data a scan starts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Carry {
    /// The first `done` bytes are already accounted for: hidden under the
    /// `***` the output ends with.
    done: usize,
    /// The output ends with a `***` whose run ends at `done`: an occurrence
    /// starting at or before `done` joins that run.
    open: bool,
}

/// Masks secret values in one output stream. Create one per stream (or
/// clone one: the clone shares nothing mutable, and copies the held bytes).
///
/// `Debug` shows only counts, never a value or held-back byte.
pub struct Masker {
    matcher: Matcher,
    /// The kept fragment: a proper prefix of some pattern, at most
    /// `max_len - 1` bytes between calls. Preallocated, never reallocated.
    pending: Zeroizing<Vec<u8>>,
    /// How much of `pending` is already hidden by the last `***`.
    carry: Carry,
    /// Scratch for the seam between `pending` and a large input.
    seam: Zeroizing<Vec<u8>>,
    /// Scratch: each searcher's next match during a scan.
    next: Vec<Option<Found>>,
}

impl Clone for Masker {
    /// Keeps the preallocated buffer sizes (a derived clone would not).
    fn clone(&self) -> Masker {
        let mut masker = Masker::from_matcher(self.matcher.clone());
        masker.pending.extend_from_slice(&self.pending);
        masker.carry = self.carry;
        masker
    }
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Masker")
            .field("patterns", &self.matcher.patterns.len())
            .field("searchers", &self.matcher.searchers.len())
            .field("longest_pattern", &self.matcher.max_len)
            .field("held_back_bytes", &self.held_back())
            .finish()
    }
}

fn is_pem_armour(line: &[u8]) -> bool {
    line.starts_with(b"-----BEGIN ") || line.starts_with(b"-----END ")
}

/// The patterns for `values`, sorted and deduplicated, and the indices of
/// the values that are too short to be masked.
fn patterns_for(values: &[&[u8]]) -> (Vec<Zeroizing<Vec<u8>>>, Vec<usize>) {
    let mut patterns: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut short = Vec::new();
    for (index, value) in values.iter().enumerate() {
        if value.len() < MIN_LEN {
            short.push(index);
            continue;
        }
        patterns.push(Zeroizing::new(value.to_vec()));
        if value.contains(&b'\n') {
            for line in value.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.len() >= MIN_LINE_LEN && !is_pem_armour(line) {
                    patterns.push(Zeroizing::new(line.to_vec()));
                }
            }
        }
    }
    // Sorting moves the `Vec` headers only; no secret bytes are copied.
    patterns.sort_unstable_by(|a, b| a.as_slice().cmp(b.as_slice()));
    patterns.dedup_by(|a, b| a.as_slice() == b.as_slice());
    (patterns, short)
}

fn gram_at(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at + GRAM)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

impl Sparse {
    /// Indexes `members` (indices into `patterns`, each at least
    /// `GRAM` bytes long; not empty).
    fn new(patterns: &[Zeroizing<Vec<u8>>], members: &[usize]) -> Sparse {
        let shortest = members
            .iter()
            .map(|&i| patterns[i].len())
            .min()
            .unwrap_or(GRAM);
        // A pattern of `len >= shortest` bytes has whole grams at offsets
        // `0..=len - GRAM`, at least `stride` of them; probing every
        // `stride` bytes sees exactly one of its last `stride`.
        let stride = (shortest + 1).saturating_sub(GRAM).clamp(1, MAX_STRIDE);
        // Sized up front: these hold secret bytes, and a reallocation would
        // leave a copy behind.
        let mut indexed: Zeroizing<Vec<(u32, u32, u32)>> =
            Zeroizing::new(Vec::with_capacity(members.len() * stride));
        let mut reach = 0;
        for &i in members {
            let last = patterns[i].len() - GRAM;
            reach = reach.max(last);
            for offset in last + 1 - stride..=last {
                if let Some(gram) = gram_at(&patterns[i], offset) {
                    indexed.push((gram, i as u32, offset as u32));
                }
            }
        }
        indexed.sort_unstable();
        let mut grams = Zeroizing::new(Vec::with_capacity(indexed.len()));
        let mut starts = Vec::new();
        let mut entries = Vec::with_capacity(indexed.len());
        for (k, &(gram, pattern, offset)) in indexed.iter().enumerate() {
            if k == 0 || indexed[k - 1].0 != gram {
                grams.push(gram);
                starts.push(entries.len() as u32);
            }
            entries.push((pattern, offset));
        }
        starts.push(entries.len() as u32);
        // About 64 bits per gram keeps false positives near 1/64.
        let bits = (grams.len() * 64)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 22);
        let shift = 32 - bits.trailing_zeros();
        let mut bitmap = Zeroizing::new(vec![0u64; bits / 64]);
        for &gram in grams.iter() {
            let h = Self::hash(gram, shift);
            bitmap[h >> 6] |= 1 << (h & 63);
        }
        Sparse {
            stride,
            reach,
            shift,
            bitmap,
            grams,
            starts,
            entries,
        }
    }

    #[inline(always)]
    fn hash(gram: u32, shift: u32) -> usize {
        (gram.wrapping_mul(0x9E37_79B1) >> shift) as usize
    }

    /// The leftmost-longest occurrence of an indexed pattern lying wholly in
    /// `data[at..]`.
    ///
    /// Probes run from `at`, so each occurrence starting at or after `at` is
    /// seen by exactly one probe, at most `reach` bytes past its start. Once
    /// one is found, probing goes on up to `reach` past its start, for an
    /// occurrence starting earlier or at the same place but longer.
    fn find(&self, data: &[u8], at: usize, patterns: &[Zeroizing<Vec<u8>>]) -> Option<Found> {
        let mut best: Option<Found> = None;
        let mut probe = at;
        while let Some(gram) = gram_at(data, probe) {
            if best.is_some_and(|b| probe > b.start + self.reach) {
                break;
            }
            let h = Self::hash(gram, self.shift);
            if self.bitmap[h >> 6] & (1 << (h & 63)) != 0 {
                if let Some(found) = self.verify(data, at, probe, gram, patterns) {
                    if best.is_none_or(|b| found.better_than(&b)) {
                        best = Some(found);
                    }
                }
            }
            probe += self.stride;
        }
        best
    }

    /// The leftmost-longest occurrence starting at or after `at` that is
    /// seen by the probe at `probe`, whose gram is `gram`.
    #[cold]
    fn verify(
        &self,
        data: &[u8],
        at: usize,
        probe: usize,
        gram: u32,
        patterns: &[Zeroizing<Vec<u8>>],
    ) -> Option<Found> {
        let index = self.grams.binary_search(&gram).ok()?;
        let range = self.starts[index] as usize..self.starts[index + 1] as usize;
        let mut best: Option<Found> = None;
        for &(pattern, offset) in &self.entries[range] {
            let Some(start) = probe.checked_sub(offset as usize) else {
                continue;
            };
            let pattern = patterns[pattern as usize].as_slice();
            let end = start + pattern.len();
            if start < at || data.get(start..end) != Some(pattern) {
                continue;
            }
            let found = Found { start, end };
            if best.is_none_or(|b| found.better_than(&b)) {
                best = Some(found);
            }
        }
        best
    }
}

impl Searcher {
    /// The leftmost-longest occurrence of one of this searcher's patterns
    /// lying wholly in `data[at..]`.
    fn find(&self, data: &[u8], at: usize, patterns: &[Zeroizing<Vec<u8>>]) -> Option<Found> {
        match self {
            Searcher::Automaton(ac) => {
                ac.find(Input::new(data).span(at..data.len()))
                    .map(|m| Found {
                        start: m.start(),
                        end: m.end(),
                    })
            }
            Searcher::Sparse(sparse) => sparse.find(data, at, patterns),
        }
    }
}

impl Matcher {
    fn new(patterns: Vec<Zeroizing<Vec<u8>>>, group_size: usize, sparse_min: usize) -> Matcher {
        let max_len = patterns.iter().map(|p| p.len()).max().unwrap_or(0);
        let mut by_first = vec![Vec::new(); 256];
        for (index, pattern) in patterns.iter().enumerate() {
            // Pattern counts fit in u32: memory runs out long before.
            by_first[usize::from(pattern[0])].push(index as u32);
        }
        let sparse_min = sparse_min.max(GRAM);
        let (long, short): (Vec<usize>, Vec<usize>) =
            (0..patterns.len()).partition(|&i| patterns[i].len() >= sparse_min);
        let longest_of = |members: &[usize]| members.iter().map(|&i| patterns[i].len()).max();
        let mut searchers = Vec::new();
        let mut longest = Vec::new();
        if let Some(len) = longest_of(&long) {
            searchers.push(Searcher::Sparse(Sparse::new(&patterns, &long)));
            longest.push(len);
        }
        // Even groups of sorted (so prefix-sharing) neighbours.
        let group_count = short.len().div_ceil(group_size.max(1));
        let per_group = short.len().div_ceil(group_count.max(1)).max(1);
        for group in short.chunks(per_group) {
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(group.iter().map(|&i| patterns[i].as_slice()))
                // Only fails past ~2^31 automaton states; a group has at
                // most `group_size` patterns shorter than `sparse_min`.
                .expect("secret patterns exceed the automaton's size limits");
            searchers.push(Searcher::Automaton(ac));
            longest.push(longest_of(group).unwrap_or(0));
        }
        Matcher {
            searchers,
            longest,
            patterns,
            by_first,
            max_len,
        }
    }

    /// The smallest `q` such that `data[q..]` is a non-empty proper
    /// prefix of some pattern, i.e. where an occurrence could begin and run
    /// past the end of `data`; `data.len()` if there is none. Only the last
    /// `max_len - 1` positions can qualify, and only those whose byte starts
    /// some pattern are compared.
    fn hold_point(&self, data: &[u8]) -> usize {
        let n = data.len();
        let from = n.saturating_sub(self.max_len.saturating_sub(1));
        for q in from..n {
            let candidates = &self.by_first[usize::from(data[q])];
            if candidates.is_empty() {
                continue;
            }
            let tail = &data[q..];
            let grows = candidates.iter().any(|&i| {
                let pattern = &self.patterns[i as usize];
                pattern.len() > tail.len() && pattern.starts_with(tail)
            });
            if grows {
                return q;
            }
        }
        n
    }

    /// Masks `data` into `out`, starting from what `carry` says of it, up
    /// to the offset it returns, with what the output then says of the data
    /// from that offset; the bytes after it are not emitted unless hidden.
    ///
    /// With [`Stop::HoldTail`] only occurrences starting before the
    /// trailing fragment that could still grow into a match are committed:
    /// every occurrence that could cover a byte before that fragment lies
    /// wholly in `data`, so what is emitted is final. The fragment itself is
    /// kept (returned offset) even where a run already hides part of it: an
    /// occurrence starting in it may extend that run. `next` is scratch.
    fn scan(
        &self,
        data: &[u8],
        carry: Carry,
        stop: Stop,
        next: &mut Vec<Option<Found>>,
        out: &mut Vec<u8>,
    ) -> (usize, Carry) {
        let held = match stop {
            Stop::AtEnd => data.len(),
            Stop::HoldTail => self.hold_point(data),
            Stop::Before(limit) => limit,
        };
        let patterns = &self.patterns[..];
        // `data[..emit]` is accounted for in `out`; when `open`, `out` ends
        // with the `***` of a run ending at `emit`.
        let mut emit = carry.done;
        let mut open = carry.open;
        next.clear();
        next.extend(self.searchers.iter().map(|s| s.find(data, 0, patterns)));
        loop {
            let mut best: Option<Found> = None;
            for found in next.iter().flatten() {
                if best.is_none_or(|b| found.better_than(&b)) {
                    best = Some(*found);
                }
            }
            let Some(found) = best else { break };
            if found.start >= held {
                break;
            }
            if open && found.start <= emit {
                emit = emit.max(found.end);
            } else {
                out.extend_from_slice(&data[emit..found.start]);
                out.extend_from_slice(REPLACEMENT);
                emit = found.end;
                open = true;
            }
            // Each searcher goes on from just after this start, but an
            // occurrence of its patterns starting `longest` or more bytes
            // before the run's end cannot reach past it: skip those starts.
            for ((searcher, slot), &longest) in self
                .searchers
                .iter()
                .zip(next.iter_mut())
                .zip(&self.longest)
            {
                let at = (found.start + 1).max((emit + 1).saturating_sub(longest));
                if slot.is_some_and(|f| f.start < at) {
                    *slot = searcher.find(data, at, patterns);
                }
            }
        }
        if emit < held {
            out.extend_from_slice(&data[emit..held]);
            emit = held;
            open = false;
        }
        (
            held,
            Carry {
                done: emit - held,
                open,
            },
        )
    }
}

/// Overwrites `buf[keep..]` with zeros and truncates it to `keep` bytes.
fn zero_truncate(buf: &mut Vec<u8>, keep: usize) {
    if keep < buf.len() {
        buf[keep..].zeroize();
        buf.truncate(keep);
    }
}

impl Masker {
    /// Build from the values to hide. Returns the masker and the indices of
    /// values that are not masked because they are shorter than [`MIN_LEN`]
    /// bytes — the caller warns about those by name.
    ///
    /// # Panics
    ///
    /// Only if an automaton exceeds its limits (about 2^31 states), which
    /// [`GROUP_SIZE`] patterns shorter than [`SPARSE_MIN_LEN`] cannot do.
    pub fn new(values: &[&[u8]]) -> (Masker, Vec<usize>) {
        Masker::with_config(values, GROUP_SIZE, SPARSE_MIN_LEN)
    }

    fn with_config(values: &[&[u8]], group_size: usize, sparse_min: usize) -> (Masker, Vec<usize>) {
        let (patterns, short) = patterns_for(values);
        let masker = Masker::from_matcher(Matcher::new(patterns, group_size, sparse_min));
        (masker, short)
    }

    fn from_matcher(matcher: Matcher) -> Masker {
        let max_len = matcher.max_len;
        Masker {
            // Holds at most `max_len - 1` kept bytes plus an input shorter
            // than `2 * max_len` (see `feed`), so it never reallocates and
            // leaves no copy of a secret prefix behind.
            pending: Zeroizing::new(Vec::with_capacity(3 * max_len)),
            seam: Zeroizing::new(Vec::with_capacity(2 * max_len)),
            carry: Carry::default(),
            next: Vec::with_capacity(matcher.searchers.len()),
            matcher,
        }
    }

    /// Number of distinct patterns searched for.
    pub fn pattern_count(&self) -> usize {
        self.matcher.patterns.len()
    }

    /// Number of bytes currently held back (a possible secret prefix).
    pub fn held_back(&self) -> usize {
        self.pending.len() - self.carry.done
    }

    /// Feed bytes read from the child; append to `out` everything that can
    /// safely be written now.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if input.is_empty() {
            return;
        }
        if self.matcher.searchers.is_empty() {
            out.extend_from_slice(input);
            return;
        }
        let max_len = self.matcher.max_len;
        let m = &self.matcher;
        self.carry = if self.pending.is_empty() {
            // Common case: search the caller's chunk in place (an open run
            // may still be extended from its first byte).
            let (held, carry) = m.scan(input, self.carry, Stop::HoldTail, &mut self.next, out);
            self.pending.extend_from_slice(&input[held..]);
            carry
        } else if input.len() < 2 * max_len {
            // Small input: join it to the kept bytes (within capacity).
            self.pending.extend_from_slice(input);
            let (held, carry) = m.scan(
                &self.pending,
                self.carry,
                Stop::HoldTail,
                &mut self.next,
                out,
            );
            let len = self.pending.len();
            self.pending.copy_within(held..len, 0);
            zero_truncate(&mut self.pending, len - held);
            carry
        } else {
            // Large input after kept bytes: resolve the occurrences that
            // start in the kept bytes on a small seam buffer instead of
            // copying `input`. Any occurrence starting there ends within
            // `max_len` bytes of `input`, and none can run past the end of
            // `input`, which is at least `2 * max_len` long: they are final.
            let kept = self.pending.len();
            self.seam.extend_from_slice(&self.pending);
            self.seam.extend_from_slice(&input[..max_len]);
            let (_, carry) = m.scan(
                &self.seam,
                self.carry,
                Stop::Before(kept),
                &mut self.next,
                out,
            );
            zero_truncate(&mut self.seam, 0);
            zero_truncate(&mut self.pending, 0);
            let (held, carry) = m.scan(input, carry, Stop::HoldTail, &mut self.next, out);
            self.pending.extend_from_slice(&input[held..]);
            carry
        };
    }

    /// The child closed the stream: append everything still held back
    /// (masked). The masker is then ready for a new stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            let m = &self.matcher;
            m.scan(&self.pending, self.carry, Stop::AtEnd, &mut self.next, out);
            zero_truncate(&mut self.pending, 0);
        }
        self.carry = Carry::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn masker(values: &[&[u8]]) -> Masker {
        Masker::new(values).0
    }

    /// Feeds `chunks` then finishes; returns the whole output.
    fn run(m: &mut Masker, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in chunks {
            m.feed(chunk, &mut out);
        }
        m.finish(&mut out);
        out
    }

    fn mask_once(values: &[&[u8]], input: &[u8]) -> Vec<u8> {
        run(&mut masker(values), &[input])
    }

    /// Reference: mark every byte of every occurrence of every pattern,
    /// then write each run of marked bytes as one `***`. This is the union
    /// of all matches by definition.
    fn reference(patterns: &[Zeroizing<Vec<u8>>], input: &[u8]) -> Vec<u8> {
        let mut covered = vec![false; input.len()];
        for i in 0..input.len() {
            for p in patterns {
                if input[i..].starts_with(p) {
                    covered[i..i + p.len()].fill(true);
                }
            }
        }
        let mut out = Vec::new();
        for (i, &byte) in input.iter().enumerate() {
            if !covered[i] {
                out.push(byte);
            } else if i == 0 || !covered[i - 1] {
                out.extend_from_slice(REPLACEMENT);
            }
        }
        out
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn masks_whole_values() {
        let out = mask_once(&[b"hunter22", b"s3cr3t"], b"pw=hunter22 tok=s3cr3t!");
        assert_eq!(out, b"pw=*** tok=***!");
    }

    #[test]
    fn empty_input_and_no_values() {
        assert_eq!(mask_once(&[b"secret"], b""), b"");
        let mut m = masker(&[b"secret"]);
        let mut out = Vec::new();
        m.feed(b"", &mut out);
        m.finish(&mut out);
        m.finish(&mut out);
        assert!(out.is_empty());

        let (mut none, short) = Masker::new(&[]);
        assert!(short.is_empty());
        assert_eq!(run(&mut none, &[b"abc", b"", b"def"]), b"abcdef");
    }

    #[test]
    fn short_values_are_reported() {
        let (m, short) = Masker::new(&[b"ab", b"", b"abcd", b"abc", b"longer value"]);
        assert_eq!(short, vec![0, 1, 3]);
        assert_eq!(m.pattern_count(), 2);
        let mut m = m;
        assert_eq!(run(&mut m, &[b"ab abc abcd"]), b"ab abc ***");
    }

    #[test]
    fn value_split_across_feeds() {
        let mut m = masker(&[b"supersecret"]);
        let mut out = Vec::new();
        m.feed(b"token: supe", &mut out);
        // Everything that cannot start the secret is already out.
        assert_eq!(out, b"token: ");
        assert_eq!(m.held_back(), 4);
        m.feed(b"rsec", &mut out);
        assert_eq!(out, b"token: ");
        m.feed(b"ret done\n", &mut out);
        assert_eq!(out, b"token: *** done\n");
        m.finish(&mut out);
        assert_eq!(out, b"token: *** done\n");
    }

    #[test]
    fn split_one_byte_at_a_time() {
        let input = b"a supersecret b supersecre";
        let mut m = masker(&[b"supersecret"]);
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&mut m, &chunks), b"a *** b supersecre");
    }

    #[test]
    fn output_stays_live() {
        let mut m = masker(&[b"zzzzsecret"]);
        let mut out = Vec::new();
        m.feed(b"hello world\n", &mut out);
        assert_eq!(out, b"hello world\n");
        assert_eq!(m.held_back(), 0);
        // Only the longest suffix that is a proper prefix is held.
        m.feed(b"xyz zzz", &mut out);
        assert_eq!(out, b"hello world\nxyz ");
        m.feed(b"q", &mut out);
        assert_eq!(out, b"hello world\nxyz zzzq");
        assert_eq!(m.held_back(), 0);

        // The tail `cdeQ` could grow into the second value: the first value
        // is written as `***` at once, but `Q` waits, since the second value
        // would extend that run over it.
        let mut m = masker(&[b"abcde", b"cdeQRSTU"]);
        let mut out = Vec::new();
        m.feed(b"abcdeQ", &mut out);
        assert_eq!(out, b"***");
        assert_eq!(m.held_back(), 1);
        m.feed(b"x", &mut out);
        assert_eq!(out, b"***Qx");
        assert_eq!(m.held_back(), 0);
        let mut out = Vec::new();
        m.feed(b"abcdeQ", &mut out);
        m.feed(b"RSTU!", &mut out);
        assert_eq!(out, b"***!");
    }

    #[test]
    fn held_back_is_bounded() {
        let value = b"abcdefghijklmnop";
        let mut m = masker(&[value]);
        let mut out = Vec::new();
        for _ in 0..100 {
            m.feed(b"abcdefghijklmno", &mut out);
            assert!(m.held_back() < value.len());
            m.feed(b"x", &mut out);
            assert_eq!(m.held_back(), 0);
        }
    }

    #[test]
    fn value_that_is_a_prefix_of_another() {
        let values: &[&[u8]] = &[b"abcd", b"abcdefgh"];
        assert_eq!(
            mask_once(values, b"abcdefgh abcdxx abcdefg"),
            b"*** ***xx ***efg"
        );
        // Back to back, they are one run: one `***`.
        // Split right after the shorter value: it must not be committed early.
        let mut m = masker(values);
        let mut out = Vec::new();
        m.feed(b"abcd", &mut out);
        assert!(out.is_empty());
        m.feed(b"efgh", &mut out);
        assert_eq!(out, b"***");
        m.feed(b"abcd", &mut out);
        m.feed(b"efg", &mut out);
        m.finish(&mut out);
        assert_eq!(out, b"***efg");
    }

    #[test]
    fn overlapping_values_are_masked_as_their_union() {
        let values: &[&[u8]] = &[b"abcdef", b"cdefgh"];
        assert_eq!(mask_once(values, b"abcdefgh"), b"***");
        assert_eq!(mask_once(values, b"xcdefgh"), b"x***");
        assert_eq!(
            mask_once(values, b"abcdefghij abcdef-cdefgh"),
            b"***ij ***-***"
        );
        // A longer secret containing a shorter one is masked whole.
        let values: &[&[u8]] = &[b"pass", b"mypassword"];
        assert_eq!(mask_once(values, b"mypassword pass"), b"*** ***");
        // The review's case: a token whose start is another secret's end.
        let values: &[&[u8]] = &[b"auth=s3cr3tAb", b"tAbZq9XK2pLmNvR4sT"];
        let input = b"auth=s3cr3tAbZq9XK2pLmNvR4sT\n";
        assert_eq!(mask_once(values, input), b"***\n");
        for split in 0..input.len() {
            let mut m = masker(values);
            assert_eq!(run(&mut m, &[&input[..split], &input[split..]]), b"***\n");
        }
        // Touching occurrences are one run.
        let values: &[&[u8]] = &[b"abcd", b"efgh"];
        assert_eq!(mask_once(values, b"abcdefgh abcd efgh"), b"*** *** ***");
    }

    #[test]
    fn a_run_continues_across_feeds() {
        let mut m = masker(&[b"abcd", b"cdefghij"]);
        let mut out = Vec::new();
        m.feed(b"xabcd", &mut out);
        assert_eq!(out, b"x***");
        // `cd` is hidden already but kept: `cdefghij` may still follow.
        assert_eq!(m.held_back(), 0);
        m.feed(b"efghij", &mut out);
        assert_eq!(out, b"x***");
        m.feed(b"abcd", &mut out);
        m.feed(b"-", &mut out);
        m.finish(&mut out);
        assert_eq!(out, b"x***-");
    }

    #[test]
    fn pem_key_printed_with_crlf() {
        let key: &[u8] = b"-----BEGIN PRIVATE KEY-----\n\
            MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n\
            BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n\
            short\n\
            -----END PRIVATE KEY-----\n";
        let (mut m, short) = Masker::new(&[key]);
        assert!(short.is_empty());
        // Whole value plus the two long body lines; armour and short lines
        // are not patterns of their own.
        assert_eq!(m.pattern_count(), 3);

        let crlf: Vec<u8> = key
            .split(|&b| b == b'\n')
            .collect::<Vec<_>>()
            .join(&b"\r\n"[..]);
        let out = run(&mut m, &[&crlf[..20], &crlf[20..50], &crlf[50..]]);
        assert_eq!(
            out,
            b"-----BEGIN PRIVATE KEY-----\r\n***\r\n***\r\nshort\r\n-----END PRIVATE KEY-----\r\n"
        );

        // Printed as stored, it is masked whole.
        assert_eq!(run(&mut m, &[key]), b"***");
    }

    #[test]
    fn stored_crlf_value_printed_with_lf() {
        let value: &[u8] = b"line-one-secret\r\nline-two-secret\r\n";
        let out = mask_once(&[value], b"line-one-secret\nline-two-secret\n");
        assert_eq!(out, b"***\n***\n");
    }

    #[test]
    fn debug_does_not_show_values() {
        let mut m = masker(&[b"topsecretvalue"]);
        let mut out = Vec::new();
        m.feed(b"xx topsecret", &mut out);
        let debug = format!("{m:?}");
        assert!(!debug.contains("topsecret"), "{debug}");
        assert!(!debug.contains("116, 111, 112"), "{debug}"); // b"top"
        assert!(debug.contains("held_back_bytes: 9"), "{debug}");
    }

    #[test]
    fn large_chunks_with_held_bytes() {
        // Exercise the seam path: held bytes then an input much longer than
        // the longest pattern, with matches across and after the seam.
        let values: &[&[u8]] = &[b"0123456789", b"6789abcd", b"zzzz"];
        let mut input = Vec::new();
        for i in 0..200 {
            input.extend_from_slice(b"..012345");
            input.extend_from_slice(b"6789abcd zzz");
            if i % 3 == 0 {
                input.extend_from_slice(b"z0123456789");
            }
        }
        let (patterns, _) = patterns_for(values);
        let expected = reference(&patterns, &input);
        for size in [1, 7, 8, 19, 20, 21, 33, 64, 100, 1000] {
            let chunks: Vec<&[u8]> = input.chunks(size).collect();
            let mut m = masker(values);
            assert_eq!(run(&mut m, &chunks), expected, "chunk size {size}");
        }
    }

    #[test]
    fn many_values_across_groups() {
        // More patterns than one automaton takes, with prefixes and overlaps
        // spread over different groups.
        let values: Vec<Vec<u8>> = (0..300u32)
            .map(|i| format!("key{:03}-{}", i, "x".repeat((i % 7) as usize)).into_bytes())
            .chain([b"key007-xyz-longer".to_vec(), b"-xxxxxx key1".to_vec()])
            .collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let (m, short) = Masker::new(&refs);
        assert!(short.is_empty());
        assert_eq!(m.pattern_count(), 302);
        // Two long values in the sparse filter, 300 short ones in 5 groups.
        assert_eq!(m.matcher.searchers.len(), 6);

        let mut input = Vec::new();
        for i in (0..300u32).rev() {
            input.extend_from_slice(
                format!("<{}>", String::from_utf8_lossy(&values[i as usize])).as_bytes(),
            );
            input.extend_from_slice(b"key007-xyz-longer key006-xxxxxx key1 ");
        }
        let (patterns, _) = patterns_for(&refs);
        let expected = reference(&patterns, &input);
        for size in [1, 5, 17, 64, 4096] {
            let chunks: Vec<&[u8]> = input.chunks(size).collect();
            let mut m = m.clone();
            let out = run(&mut m, &chunks);
            assert_eq!(out, expected, "chunk size {size}");
            for p in &patterns {
                assert!(!contains(&out, p));
            }
        }
    }

    #[test]
    fn sparse_extends_a_run_with_an_occurrence_starting_inside_it() {
        // The second value starts at byte 8, inside the first: the run
        // covers both, however the input is split.
        let values: &[&[u8]] = &[b"0123456789abcdef", b"89abcdefGHIJKLMN"];
        let input = b"0123456789abcdefGHIJKLMN|89abcdefGHIJKLMN";
        assert_eq!(mask_once(values, input), b"***|***");
        for split in [1, 8, 9, 16, 17, 24, 25] {
            let mut m = masker(values);
            assert_eq!(
                run(&mut m, &[&input[..split], &input[split..]]),
                b"***|***",
                "split at {split}"
            );
        }
    }

    #[test]
    fn many_long_values_sparse() {
        // Tokens sharing a prefix, of 16..=64 bytes, embedded whole, cut
        // short, and overlapping, in a larger stream.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let values: Vec<Vec<u8>> = (0..150)
            .map(|_| {
                let len = 16 + (next() % 49) as usize;
                let mut v = b"tok_".to_vec();
                v.extend((4..len).map(|_| alphabet[(next() % 36) as usize]));
                v
            })
            .collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let mut input = Vec::new();
        while input.len() < 200_000 {
            let v = &values[(next() % 150) as usize];
            match next() % 4 {
                0 => input.extend_from_slice(v),
                1 => input.extend_from_slice(&v[..(next() as usize % v.len())]),
                2 => input.extend_from_slice(&v[(next() as usize % v.len())..]),
                _ => input.extend((0..next() % 40).map(|_| alphabet[(next() % 36) as usize])),
            }
        }
        let (patterns, _) = patterns_for(&refs);
        let expected = reference(&patterns, &input);
        assert!(expected.len() < input.len());
        for size in [13, 4096, 65536, 1 << 20] {
            let chunks: Vec<&[u8]> = input.chunks(size).collect();
            let mut m = masker(&refs);
            let out = run(&mut m, &chunks);
            assert!(out == expected, "chunk size {size}");
        }
    }

    #[test]
    fn masker_can_move_to_another_thread() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Masker>();
    }

    #[test]
    fn clone_keeps_held_bytes_and_capacity() {
        let mut m = masker(&[b"supersecret"]);
        let mut out = Vec::new();
        m.feed(b"x supers", &mut out);
        let mut c = m.clone();
        assert_eq!(c.held_back(), 6);
        assert_eq!(c.pending.capacity(), m.pending.capacity());
        let mut out2 = out.clone();
        m.feed(b"ecret", &mut out);
        c.feed(b"ecret", &mut out2);
        assert_eq!(out, b"x ***");
        assert_eq!(out2, b"x ***");
    }

    #[test]
    fn reusable_after_finish() {
        let mut m = masker(&[b"secret"]);
        assert_eq!(run(&mut m, &[b"a secr"]), b"a secr");
        assert_eq!(run(&mut m, &[b"et"]), b"et");
    }

    /// Bytes from a small alphabet (no `*`) so that patterns overlap and
    /// recur often, and no pattern can be formed by a replacement.
    fn small_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), Just(b'\n'), Just(b'\r')],
            0..max,
        )
    }

    fn case() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u8>, Vec<usize>)> {
        proptest::collection::vec(small_bytes(20), 0..5)
            .prop_flat_map(|values| {
                let n = values.len();
                // Input: a mix of random fragments and copies of values (or of
                // their lines with `\r\n` endings).
                let piece = (small_bytes(6), 0..n.max(1), any::<bool>(), any::<bool>());
                let input = proptest::collection::vec(piece, 0..12);
                let splits = proptest::collection::vec(0usize..40, 0..12);
                (Just(values), input, splits)
            })
            .prop_map(|(values, pieces, splits)| {
                let mut input = Vec::new();
                for (noise, which, include, crlf) in pieces {
                    input.extend_from_slice(&noise);
                    if include && !values.is_empty() {
                        let v = &values[which % values.len()];
                        if crlf {
                            let lines: Vec<&[u8]> = v.split(|&b| b == b'\n').collect();
                            input.extend_from_slice(&lines.join(&b"\r\n"[..]));
                        } else {
                            input.extend_from_slice(v);
                        }
                    }
                }
                (values, input, splits)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn chunking_never_changes_output(
            (values, input, splits) in case(),
            group_size in 1usize..4,
            sparse_min in 4usize..14,
        ) {
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let (patterns, _) = patterns_for(&refs);
            let expected = reference(&patterns, &input);

            let whole = mask_once(&refs, &input);
            prop_assert_eq!(&whole, &expected);

            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut rest = &input[..];
            for s in splits {
                let s = s.min(rest.len());
                let (a, b) = rest.split_at(s);
                chunks.push(a);
                rest = b;
            }
            chunks.push(rest);
            // Small groups and a low sparse threshold exercise merging
            // matches across searchers and every sparse stride.
            let mut m = Masker::with_config(&refs, group_size, sparse_min).0;
            let mut out = Vec::new();
            let mut fed = 0;
            for chunk in &chunks {
                m.feed(chunk, &mut out);
                fed += chunk.len();
                let held = m.held_back();
                let max_len = m.matcher.max_len;
                prop_assert!(held < max_len.max(1));
                // What is held ends a fragment that could still grow into
                // a match, and what is out is final.
                let grows = held == 0 || (held..max_len.min(fed + 1)).any(|k| {
                    let tail = &input[fed - k..fed];
                    patterns.iter().any(|p| p.len() > k && p.starts_with(tail))
                });
                prop_assert!(grows, "held back bytes that cannot grow into a match");
                prop_assert!(expected.starts_with(&out), "output so far is not final");
            }
            m.finish(&mut out);
            prop_assert_eq!(&out, &expected);

            for p in &patterns {
                prop_assert!(!contains(&out, p), "pattern survived");
            }
        }

        #[test]
        fn arbitrary_bytes_match_reference(
            values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..10), 0..4),
            input in proptest::collection::vec(any::<u8>(), 0..300),
            split in 0usize..64,
            group_size in 1usize..3,
            sparse_min in 4usize..12,
        ) {
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let (patterns, _) = patterns_for(&refs);
            let mut m = Masker::with_config(&refs, group_size, sparse_min).0;
            let chunks: Vec<&[u8]> = input.chunks(split.max(1)).collect();
            prop_assert_eq!(run(&mut m, &chunks), reference(&patterns, &input));
        }
    }
}
