//! Rollback memory: what each vault file path on this machine last held,
//! behind the small [`RollbackMemory`] trait, so the rules (in
//! [`Verdict::of`], applied by `open.rs`) are written once and tested with
//! [`InMemory`].
//!
//! A path remembers the [`FileState`] it last held (the key commitment,
//! the generation and a digest of the content) and the commitments it has
//! seen rotated away ([`MAX_RETIRED`] at most). The memory is keyed by the
//! path, not by the vault id: copies of one vault at two paths (a backup,
//! a CI copy, a teammate's checkout) each have their own, and a file that
//! carries your vault's id elsewhere cannot touch yours.
//!
//! The *key commitment* is whatever commits to the key that seals the
//! vault: today the header's data-key commitment (format v1). Nothing here
//! depends on which key it is.
//!
//! [`StateDir`] keeps one small text file per path under
//! `$XDG_STATE_HOME/vault/paths/` (default `~/.local/state/...`). Nothing
//! in it is secret, and it is best effort: a machine that cannot write it
//! has no memory, and a fresh CI runner cannot detect a rollback
//! (SECURITY.md says so). [`Git`] answers whether git tracks a file, where
//! an older generation or a fork is a checkout or a merge, not an attack.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::crypto;
use crate::format::{hex, unhex};
use crate::store;

/// How many rotated-away commitments a path remembers (the oldest are
/// forgotten first).
pub const MAX_RETIRED: usize = 64;

/// The commitment to the key a vault is sealed with (today: the header's
/// data-key commitment). Not secret: it is in the file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct KeyCommitment(pub [u8; 32]);

/// What identifies one sealed vault file's content
/// ([`crypto::content_digest`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ContentDigest(pub [u8; 32]);

impl KeyCommitment {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl ContentDigest {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

/// A vault file as an open (or a seal) authenticated it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileState {
    /// The key it is sealed with.
    pub commitment: KeyCommitment,
    /// Its generation.
    pub generation: u64,
    /// Its content.
    pub digest: ContentDigest,
    /// Its master key's lineage key, if the file has a lineage: a new
    /// master key is accepted only if its lineage descends from this one
    /// (`keyblock::descends_from`). Public.
    pub lineage: Option<[u8; 32]>,
}

/// What one path remembers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    /// The path (as [`MemoryKey::for_path`] made it), for `vault doctor`.
    pub path: PathBuf,
    /// The file it last held.
    pub last: FileState,
    /// Commitments rotated away at this path, oldest first, at most
    /// [`MAX_RETIRED`]; never `last`'s.
    pub retired: Vec<KeyCommitment>,
}

/// How a file compares with what its path remembers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// Nothing remembered at this path.
    First,
    /// Exactly the file remembered.
    Same,
    /// A later generation under the same key.
    Newer,
    /// A later generation under a key not seen here before: rekeyed
    /// elsewhere (or another file that opens with the same credential).
    /// Accepted with a notice; the old key is retired at this path.
    NewKey,
    /// An older generation than remembered: a rollback, unless deliberate.
    Older {
        /// The generation remembered.
        remembered: u64,
    },
    /// The remembered generation with other content: two writes made from
    /// the same generation, one copied over the other (a lost update).
    Fork,
    /// Sealed with a key this path has seen rotated away: the file from
    /// before a rekey or a removed slot.
    Retired,
}

impl Verdict {
    /// Compares `seen` with `record`. A retired key is judged first: an old
    /// key comes back at any generation.
    pub fn of(record: Option<&Record>, seen: &FileState) -> Verdict {
        let Some(r) = record else {
            return Verdict::First;
        };
        if seen.commitment != r.last.commitment && r.retired.contains(&seen.commitment) {
            return Verdict::Retired;
        }
        let last = &r.last;
        match seen.generation.cmp(&last.generation) {
            std::cmp::Ordering::Less => Verdict::Older {
                remembered: last.generation,
            },
            std::cmp::Ordering::Equal if seen.digest == last.digest => Verdict::Same,
            std::cmp::Ordering::Equal => Verdict::Fork,
            std::cmp::Ordering::Greater if seen.commitment == last.commitment => Verdict::Newer,
            std::cmp::Ordering::Greater => Verdict::NewKey,
        }
    }

    /// Whether a file judged so is refused, unless accepted deliberately
    /// or tracked by git.
    pub fn refuses(&self) -> bool {
        matches!(
            self,
            Verdict::Older { .. } | Verdict::Fork | Verdict::Retired
        )
    }
}

impl Record {
    fn new(path: &Path, last: FileState) -> Record {
        Record {
            path: path.to_path_buf(),
            last,
            retired: Vec::new(),
        }
    }

    fn retire(&mut self, c: KeyCommitment) {
        if c != self.last.commitment && !self.retired.contains(&c) {
            self.retired.push(c);
        }
        let over = self.retired.len().saturating_sub(MAX_RETIRED);
        self.retired.drain(..over);
    }

    /// This record with `legacy` read as `current` wherever it appears:
    /// both commit to one key (a version-1 file's data-key commitment and
    /// the same key's master-key commitment once the file is version 2), so
    /// a conversion made elsewhere is neither a new key nor a way around a
    /// key retired in its version-1 form.
    pub fn aliased(mut self, legacy: KeyCommitment, current: KeyCommitment) -> Record {
        if self.last.commitment == legacy {
            self.last.commitment = current;
        }
        for c in &mut self.retired {
            if *c == legacy {
                *c = current;
            }
        }
        self.retired.dedup();
        self
    }

    /// The record after `seen` passed the check: raised to it if it is
    /// first, newer or under a new key (the old key retired); `None` if
    /// nothing changes. Never lowers: two processes raising at once keep
    /// the higher.
    pub fn raised(old: Option<&Record>, path: &Path, seen: &FileState) -> Option<Record> {
        match (Verdict::of(old, seen), old) {
            (Verdict::First, _) | (_, None) => Some(Record::new(path, *seen)),
            (Verdict::Newer, Some(r)) => Some(Record {
                last: *seen,
                ..r.clone()
            }),
            (Verdict::NewKey, Some(r)) => {
                let mut r = r.clone();
                let previous = r.last.commitment;
                r.last = *seen;
                r.retire(previous);
                Some(r)
            }
            _ => None,
        }
    }

    /// The record set to exactly `seen`, accepted deliberately (an older
    /// generation or a fork, or a new vault made at this path). The keys
    /// retired here stay retired.
    pub fn forced(old: Option<&Record>, path: &Path, seen: &FileState) -> Record {
        let mut r = Record::new(path, *seen);
        if let Some(old) = old {
            r.retired = old.retired.clone();
            r.retired.retain(|c| *c != seen.commitment);
        }
        r
    }

    /// The record after this process wrote `after` over `before` (under
    /// the write lock): raised to `after`, and `before`'s key retired if
    /// the write rotated it away. `None` if nothing changes.
    pub fn committed(
        old: Option<&Record>,
        path: &Path,
        before: &FileState,
        after: &FileState,
    ) -> Option<Record> {
        let raised = Record::raised(old, path, after);
        let mut r = raised.clone().or_else(|| old.cloned())?;
        if before.commitment != after.commitment {
            r.retire(before.commitment);
        }
        (raised.is_some() || Some(&r) != old).then_some(r)
    }
}

/// Under which name a path's memory is kept. Opaque: made from the path
/// the vault is named by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryKey {
    path: PathBuf,
}

impl MemoryKey {
    /// The key of the vault named `path` (as the user gave it), made
    /// absolute without following any link: whoever can write a directory
    /// on the way (or push to a git repository, where a link is content)
    /// could otherwise point the path at a file elsewhere, whose path has
    /// no memory, and have it taken as a first sight. One file reached by
    /// two spellings (through a link and directly) has two memories.
    pub fn for_path(path: &Path) -> MemoryKey {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        MemoryKey { path }
    }

    /// The file at `resolved` (links followed), made absolute with every
    /// directory link followed too: what version control is asked about.
    pub fn canonical(resolved: &Path) -> PathBuf {
        fs::canonicalize(resolved)
            .or_else(|_| std::path::absolute(resolved))
            .unwrap_or_else(|_| resolved.to_path_buf())
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A place that remembers, per path, what the vault file there last held.
pub trait RollbackMemory {
    /// What is remembered under `key`, if anything.
    fn recall(&self, key: &MemoryKey) -> Option<Record>;
    /// Replaces what is remembered under `key` by `change(current)` when
    /// that is `Some`, re-reading `current` under the memory's own lock so
    /// concurrent processes compose. Best effort, never an error.
    fn update(&self, key: &MemoryKey, change: &dyn Fn(Option<&Record>) -> Option<Record>);
    /// Everything remembered (for `vault doctor`), in no particular order.
    fn known(&self) -> Vec<Record>;
}

/// The state-directory memory: one file per path, named by a hash of the
/// path, holding the path itself, the last state and the retired keys
/// (text, below). Changed under the file's own write lock
/// (`store::lock`, `store::write_atomic`).
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: Option<PathBuf>,
}

/// The first line of a memory file.
const MAGIC_LINE: &str = "vault path memory v1";
/// A memory file longer than this is not one (a path is at most 4 KiB,
/// escaped 12 KiB; the retired keys 4.7 KiB).
const MAX_RECORD_LEN: u64 = 32 * 1024;

impl StateDir {
    /// `$XDG_STATE_HOME/vault/paths` (or `~/.local/state/...`); no memory
    /// at all where no home can be found. (Before, the memory was per
    /// vault id under `.../vault/generations/`: not read any more.)
    pub fn default_location() -> StateDir {
        StateDir {
            dir: crate::platform::xdg_dir("XDG_STATE_HOME", ".local/state")
                .map(|d| d.join("vault").join("paths")),
        }
    }

    /// A memory in `dir` (tests).
    pub fn at(dir: PathBuf) -> StateDir {
        StateDir { dir: Some(dir) }
    }

    /// The file of `key`: 32 hex digits of a hash of the path.
    fn file(&self, key: &MemoryKey) -> Option<PathBuf> {
        let h = crypto::hash(
            b"vault path memory name",
            &[key.path.as_os_str().as_bytes()],
        );
        Some(self.dir.as_ref()?.join(hex(&h[..16])))
    }

    fn read_file(path: &Path) -> Option<Record> {
        let f = fs::File::open(path).ok()?;
        // Sized from the length: one read of the whole file, not a series
        // of doubling ones (it is read on every open).
        let len = f.metadata().ok()?.len();
        if len > MAX_RECORD_LEN {
            return None;
        }
        let mut text = String::with_capacity(len as usize + 1);
        f.take(MAX_RECORD_LEN + 1).read_to_string(&mut text).ok()?;
        if text.len() as u64 > MAX_RECORD_LEN {
            return None;
        }
        decode(&text)
    }

    /// What is remembered under `key`; a file holding another path (a hash
    /// collision) or that does not parse counts as nothing.
    fn read(&self, key: &MemoryKey) -> Option<Record> {
        Self::read_file(&self.file(key)?).filter(|r| r.path == key.path)
    }
}

impl RollbackMemory for StateDir {
    fn recall(&self, key: &MemoryKey) -> Option<Record> {
        self.read(key)
    }

    fn update(&self, key: &MemoryKey, change: &dyn Fn(Option<&Record>) -> Option<Record>) {
        let (Some(dir), Some(path)) = (self.dir.as_ref(), self.file(key)) else {
            return;
        };
        if change(self.read(key).as_ref()).is_none() {
            return; // the common case: nothing to write, no lock needed
        }
        if store::create_dir_private(dir).is_err() {
            return;
        }
        let Ok(lock) = store::lock(&path, Duration::from_secs(5), &mut || {}) else {
            return;
        };
        if let Some(new) = change(self.read(key).as_ref()) {
            let _ = store::write_atomic(&path, encode(&new).as_bytes(), &lock);
        }
    }

    fn known(&self) -> Vec<Record> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| {
                let n = e.file_name();
                n.len() == 32 && n.as_bytes().iter().all(u8::is_ascii_hexdigit)
            })
            .filter_map(|e| Self::read_file(&e.path()))
            .collect()
    }
}

/// A path with every byte outside printable ASCII, and `%`, as `%XX`: one
/// line, any bytes, and readable for ordinary paths.
fn escape_path(p: &Path) -> String {
    let mut out = String::new();
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape_path(s: &str) -> Option<PathBuf> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let pair = [bytes.next()?, bytes.next()?];
            out.push(unhex::<1>(std::str::from_utf8(&pair).ok()?)?[0]);
        } else if b.is_ascii_graphic() {
            out.push(b);
        } else {
            return None;
        }
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// The text of a memory file:
///
/// ```text
/// vault path memory v1
/// path /home/me/.local/share/vault/default.vault
/// commitment <64 hex digits>
/// generation 12
/// digest <64 hex digits>
/// lineage <64 hex digits>        (if the file has a lineage)
/// retired <64 hex digits>        (0 to MAX_RETIRED lines, oldest first)
/// ```
fn encode(r: &Record) -> String {
    let mut t = format!(
        "{MAGIC_LINE}\npath {}\ncommitment {}\ngeneration {}\ndigest {}\n",
        escape_path(&r.path),
        r.last.commitment.to_hex(),
        r.last.generation,
        r.last.digest.to_hex()
    );
    if let Some(l) = &r.last.lineage {
        t.push_str(&format!("lineage {}\n", hex(l)));
    }
    for c in &r.retired {
        t.push_str(&format!("retired {}\n", c.to_hex()));
    }
    t
}

fn decode(text: &str) -> Option<Record> {
    let mut lines = text.strip_suffix('\n')?.split('\n');
    if lines.next()? != MAGIC_LINE {
        return None;
    }
    let mut field = |name: &str| lines.next()?.strip_prefix(name)?.strip_prefix(' ');
    let path = unescape_path(field("path")?)?;
    let commitment = KeyCommitment(unhex(field("commitment")?)?);
    let generation = field("generation")?.parse().ok()?;
    let digest = ContentDigest(unhex(field("digest")?)?);
    let mut lines = lines.peekable();
    let lineage = match lines.peek().and_then(|l| l.strip_prefix("lineage ")) {
        Some(h) => {
            let l = unhex(h)?;
            lines.next();
            Some(l)
        }
        None => None,
    };
    let retired: Vec<KeyCommitment> = lines
        .map(|l| Some(KeyCommitment(unhex(l.strip_prefix("retired ")?)?)))
        .collect::<Option<_>>()?;
    (retired.len() <= MAX_RETIRED).then_some(Record {
        path,
        last: FileState {
            commitment,
            generation,
            digest,
            lineage,
        },
        retired,
    })
}

/// A memory in process memory, for tests.
#[derive(Debug, Default)]
pub struct InMemory(RefCell<HashMap<MemoryKey, Record>>);

impl RollbackMemory for InMemory {
    fn recall(&self, key: &MemoryKey) -> Option<Record> {
        self.0.borrow().get(key).cloned()
    }

    fn update(&self, key: &MemoryKey, change: &dyn Fn(Option<&Record>) -> Option<Record>) {
        let new = change(self.0.borrow().get(key));
        if let Some(new) = new {
            self.0.borrow_mut().insert(key.clone(), new);
        }
    }

    fn known(&self) -> Vec<Record> {
        self.0.borrow().values().cloned().collect()
    }
}

/// No memory at all: recalls nothing and keeps nothing. For `vault merge`
/// and `vault textconv`, which open git's temporary copies of old and
/// other versions of a file: they must neither be judged against the
/// memory of a path nor change it.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMemory;

impl RollbackMemory for NoMemory {
    fn recall(&self, _: &MemoryKey) -> Option<Record> {
        None
    }

    fn update(&self, _: &MemoryKey, _: &dyn Fn(Option<&Record>) -> Option<Record>) {}

    fn known(&self) -> Vec<Record> {
        Vec::new()
    }
}

/// Whether a version control system tracks a file. Where one does, an
/// older generation or a fork is a checkout or a merge (its business), so
/// it is a notice, not a refusal. Asked only when a refusal would
/// otherwise happen.
pub trait VersionControl {
    /// Whether the file at `path` (absolute, links followed) is tracked.
    fn tracks(&self, path: &Path) -> bool;
}

/// The real `git`: `git ls-files --error-unmatch` in the file's directory.
#[derive(Debug, Default, Clone, Copy)]
pub struct Git;

/// How long `git` may take to answer before the file counts as untracked.
const GIT_TIMEOUT: Duration = Duration::from_secs(5);

impl VersionControl for Git {
    fn tracks(&self, path: &Path) -> bool {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        let mut cmd = Command::new("git");
        // The repository is found from the file's directory, never from
        // variables the caller's own git (a hook) may have set; the name is
        // a literal path, not a pathspec; no fsmonitor hook runs and no
        // optional index lock is taken.
        for var in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_COMMON_DIR",
            "GIT_OBJECT_DIRECTORY",
            "GIT_NAMESPACE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("GIT_LITERAL_PATHSPECS", "1")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "core.fsmonitor=false",
                "ls-files",
                "--error-unmatch",
                "--",
            ])
            .arg(name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let Ok(mut child) = cmd.spawn() else {
            return false; // no git: nothing is tracked
        };
        let deadline = Instant::now() + GIT_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }
}

/// Why a new master key was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewKeyAccepted {
    /// Its lineage descends from the key this path last held.
    Endorsed,
    /// This path knew no lineage key (a file from before lineages).
    Unchecked,
    /// Not endorsed, accepted on request.
    Deliberately,
}

/// Something the memory check accepted but the user should hear about.
/// The library never prints; the caller does (`Opener::on_notice`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A later generation under a new key was accepted; the old key is
    /// retired at this path.
    NewKey {
        /// The vault file.
        path: PathBuf,
        /// Its generation.
        generation: u64,
        /// How the new key was accepted.
        how: NewKeyAccepted,
    },
    /// An older generation or a fork accepted because git tracks the file.
    Tracked {
        /// The vault file.
        path: PathBuf,
        /// Its generation.
        found: u64,
        /// How it compared: [`Verdict::Older`] or [`Verdict::Fork`].
        verdict: Verdict,
    },
    /// A file sealed with a retired key opened for reading (deliberately,
    /// or because git tracks it); nothing will be written to it.
    RetiredRead {
        /// The vault file.
        path: PathBuf,
        /// Whether git tracks it.
        tracked: bool,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::NewKey {
                path,
                generation,
                how,
            } => write!(
                f,
                "{} (generation {generation}) is sealed with a new master key since this machine last saw it ({}); files under the old key are refused at this path from now on",
                path.display(),
                match how {
                    NewKeyAccepted::Endorsed => "rotated by a holder of the previous key",
                    NewKeyAccepted::Unchecked =>
                        "rekeyed elsewhere? this machine knew no lineage to check it against",
                    NewKeyAccepted::Deliberately =>
                        "not endorsed by the previous key, accepted with --accept-new-key",
                }
            ),
            Notice::Tracked {
                path,
                found,
                verdict: Verdict::Older { remembered },
            } => write!(
                f,
                "{} is generation {found}, older than generation {remembered} last seen at this path; git tracks it, so this is taken for a checkout, not a rollback",
                path.display()
            ),
            Notice::Tracked { path, found, .. } => write!(
                f,
                "{} is generation {found} as last seen at this path, but with other contents; git tracks it, so this is taken for a checkout or a merge, not a lost update",
                path.display()
            ),
            Notice::RetiredRead { path, tracked } => write!(
                f,
                "{} is sealed with a key retired at this path (the file from before a rekey or a removed slot{}); reading it, but nothing will be written to it",
                path.display(),
                if *tracked { ", in an older git checkout?" } else { "" }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(c: u8, g: u64, d: u8) -> FileState {
        FileState {
            commitment: KeyCommitment([c; 32]),
            generation: g,
            digest: ContentDigest([d; 32]),
            lineage: None,
        }
    }

    fn record(last: FileState, retired: &[u8]) -> Record {
        Record {
            path: PathBuf::from("/v/t.vault"),
            last,
            retired: retired.iter().map(|c| KeyCommitment([*c; 32])).collect(),
        }
    }

    #[test]
    fn every_verdict_from_one_remembered_state() {
        let r = record(state(1, 5, 10), &[9]);
        let v = |s| Verdict::of(Some(&r), &s);
        assert_eq!(Verdict::of(None, &state(1, 5, 10)), Verdict::First);
        assert_eq!(v(state(1, 5, 10)), Verdict::Same);
        assert_eq!(v(state(1, 6, 11)), Verdict::Newer);
        assert_eq!(v(state(2, 6, 11)), Verdict::NewKey);
        assert_eq!(v(state(1, 4, 11)), Verdict::Older { remembered: 5 });
        assert_eq!(v(state(1, 5, 11)), Verdict::Fork);
        // A new key is no way round the rules: older is older, and the
        // same generation with other content is a fork.
        assert_eq!(v(state(2, 4, 11)), Verdict::Older { remembered: 5 });
        assert_eq!(v(state(2, 5, 11)), Verdict::Fork);
        // A retired key is refused at any generation.
        assert_eq!(v(state(9, 4, 11)), Verdict::Retired);
        assert_eq!(v(state(9, 500, 11)), Verdict::Retired);
        let refused = [
            Verdict::Older { remembered: 1 },
            Verdict::Fork,
            Verdict::Retired,
        ];
        assert!(refused.iter().all(Verdict::refuses));
        let passed = [
            Verdict::First,
            Verdict::Same,
            Verdict::Newer,
            Verdict::NewKey,
        ];
        assert!(!passed.iter().any(Verdict::refuses));
    }

    #[test]
    fn raising_never_lowers_and_a_new_key_retires_the_old() {
        let p = Path::new("/v/t.vault");
        let r = record(state(1, 5, 10), &[]);
        for lower in [
            state(1, 4, 0),
            state(1, 5, 0),
            state(1, 5, 10),
            state(2, 3, 0),
        ] {
            assert_eq!(Record::raised(Some(&r), p, &lower), None, "{lower:?}");
        }
        assert_eq!(
            Record::raised(Some(&r), p, &state(1, 6, 0)).unwrap().last,
            state(1, 6, 0)
        );
        let k = Record::raised(Some(&r), p, &state(2, 6, 0)).unwrap();
        assert_eq!(
            (k.last, &k.retired[..]),
            (state(2, 6, 0), &[KeyCommitment([1; 32])][..])
        );
        assert_eq!(
            Record::raised(None, p, &state(3, 1, 0)).unwrap().last,
            state(3, 1, 0)
        );
        // A retired key does not come back by being newer.
        assert_eq!(Record::raised(Some(&k), p, &state(1, 99, 0)), None);
    }

    #[test]
    fn a_legacy_commitment_of_the_same_key_is_that_key() {
        // Remembered in version-1 form (1), seen converted (2): newer, not
        // a new key; and a key retired in version-1 form stays retired.
        let r = record(state(1, 5, 10), &[7]);
        assert_eq!(Verdict::of(Some(&r), &state(2, 6, 11)), Verdict::NewKey);
        let a = r
            .clone()
            .aliased(KeyCommitment([1; 32]), KeyCommitment([2; 32]));
        assert_eq!(Verdict::of(Some(&a), &state(2, 6, 11)), Verdict::Newer);
        assert_eq!(Verdict::of(Some(&a), &state(2, 5, 12)), Verdict::Fork);
        let b = r.aliased(KeyCommitment([7; 32]), KeyCommitment([8; 32]));
        assert_eq!(Verdict::of(Some(&b), &state(8, 9, 0)), Verdict::Retired);
    }

    #[test]
    fn a_forced_state_keeps_the_retired_keys() {
        let p = Path::new("/v/t.vault");
        let r = record(state(1, 5, 10), &[7, 8]);
        let f = Record::forced(Some(&r), p, &state(1, 3, 0));
        assert_eq!(f.last, state(1, 3, 0));
        assert_eq!(f.retired, r.retired);
    }

    #[test]
    fn a_commit_that_rotates_the_key_retires_it_even_when_not_raised() {
        let p = Path::new("/v/t.vault");
        // Remembered generation 9; this process wrote generation 4 → 5
        // (an older git checkout) under a new key.
        let r = record(state(1, 9, 10), &[]);
        let c = Record::committed(Some(&r), p, &state(2, 4, 0), &state(3, 5, 0)).unwrap();
        assert_eq!(c.last, state(1, 9, 10));
        assert_eq!(c.retired, [KeyCommitment([2; 32])]);
        // An ordinary write raises and retires nothing.
        let c = Record::committed(Some(&r), p, &state(1, 9, 10), &state(1, 10, 1)).unwrap();
        assert_eq!((c.last, c.retired.len()), (state(1, 10, 1), 0));
        // Nothing new: nothing to write.
        assert_eq!(
            Record::committed(Some(&c), p, &state(1, 3, 0), &state(1, 4, 0)),
            None
        );
    }

    #[test]
    fn the_retired_list_keeps_the_last_64() {
        let p = Path::new("/v/t.vault");
        let mut r = Record::raised(None, p, &state(0, 0, 0)).unwrap();
        for i in 1..=100u8 {
            r = Record::raised(Some(&r), p, &state(i, i as u64, 0)).unwrap();
        }
        assert_eq!(r.retired.len(), MAX_RETIRED);
        assert_eq!(r.retired[0], KeyCommitment([36; 32]));
        assert_eq!(r.retired[63], KeyCommitment([99; 32]));
        assert_eq!(Verdict::of(Some(&r), &state(36, 200, 0)), Verdict::Retired);
        assert_eq!(Verdict::of(Some(&r), &state(35, 200, 0)), Verdict::NewKey);
    }

    #[test]
    fn the_state_dir_keeps_a_record_per_path_with_the_path_inside() {
        let dir = tempfile::tempdir().unwrap();
        let m = StateDir::at(dir.path().join("paths"));
        let odd = std::ffi::OsString::from_vec(b"/v/a b%\n\xff.vault".to_vec());
        let a = MemoryKey {
            path: PathBuf::from(odd),
        };
        let b = MemoryKey {
            path: PathBuf::from("/v/b.vault"),
        };
        assert_eq!(m.recall(&a), None);
        m.update(&a, &|r| Record::raised(r, a.path(), &state(1, 5, 1)));
        m.update(&a, &|r| Record::raised(r, a.path(), &state(1, 3, 1)));
        m.update(&b, &|r| Record::raised(r, b.path(), &state(2, 1, 1)));
        let ra = m.recall(&a).unwrap();
        assert_eq!((ra.path.as_path(), ra.last), (a.path(), state(1, 5, 1)));
        m.update(&a, &|r| Record::raised(r, a.path(), &state(3, 6, 1)));
        assert_eq!(m.recall(&a).unwrap().retired, [KeyCommitment([1; 32])]);
        let mut known: Vec<PathBuf> = m.known().into_iter().map(|r| r.path).collect();
        known.sort();
        assert_eq!(known, [a.path.clone(), b.path.clone()]);
        // The file of `a` holding another path (a hash collision, or a
        // copied file) counts as nothing for `a`; so does a damaged file.
        let fa = m.file(&a).unwrap();
        fs::copy(m.file(&b).unwrap(), &fa).unwrap();
        assert_eq!(m.recall(&a), None);
        fs::write(&fa, "vault path memory v1\npath /x\n").unwrap();
        assert_eq!(m.recall(&a), None);
        // The lock files beside the records are not records.
        assert_eq!(m.known().len(), 1);
    }

    #[test]
    fn a_memory_file_round_trips_and_is_read_strictly() {
        let r = record(state(1, 5, 2), &[3, 4]);
        let t = encode(&r);
        assert_eq!(decode(&t), Some(r.clone()));
        assert!(
            t.starts_with("vault path memory v1\npath /v/t.vault\n"),
            "{t}"
        );
        for bad in [
            t.replace("generation 5", "generation -5"),
            t.replace("v1\n", "v2\n"),
            t.replace("retired", "retire"),
            t.trim_end().to_string(),
            format!("{t}extra\n"),
        ] {
            assert_eq!(decode(&bad), None, "{bad}");
        }
        let many = record(state(1, 5, 2), &[7; MAX_RETIRED + 1]);
        assert_eq!(decode(&encode(&many)), None);
        // With a lineage key: one line after the digest, read back.
        let mut with = record(state(1, 5, 2), &[3]);
        with.last.lineage = Some([9; 32]);
        let t = encode(&with);
        assert!(
            t.contains(&format!("\nlineage {}\nretired", "09".repeat(32))),
            "{t}"
        );
        assert_eq!(decode(&t), Some(with));
        assert_eq!(decode(&t.replace("lineage 09", "lineage 0")), None);
    }

    #[test]
    fn a_key_is_the_named_path_with_no_link_followed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::write(real.join("t.vault"), b"x").unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let a = MemoryKey::for_path(&real.join("t.vault"));
        let b = MemoryKey::for_path(&dir.path().join("link/t.vault"));
        assert_ne!(a, b);
        assert!(a.path().is_absolute());
        assert_eq!(
            MemoryKey::canonical(&dir.path().join("link/t.vault")),
            fs::canonicalize(real.join("t.vault")).unwrap()
        );
    }

    #[test]
    fn git_says_a_file_outside_any_repository_is_untracked() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.vault");
        fs::write(&f, b"x").unwrap();
        assert!(!Git.tracks(&f));
    }
}
