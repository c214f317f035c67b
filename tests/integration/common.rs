//! The harness of the integration tests: a [`Sandbox`] per test (a fresh
//! temp dir holding HOME, TMPDIR and the vault), and [`Cmd`], a builder that
//! runs the real `vault` binary there with a clean environment, given stdin
//! bytes and extra file descriptors, under a time bound.
//!
//! It never touches the developer's own vault or keyring: every child gets
//! `env_clear()`, a private HOME/TMPDIR and its own session (no controlling
//! terminal, so nothing can prompt); the session bus is passed through only
//! to keyring tests, and only when it is the private Secret Service of
//! `scripts/with-secret-service.sh`.

#![allow(dead_code)] // each helper is used by some tests, not all

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub const VAULT: &str = env!("CARGO_BIN_EXE_vault");

/// Cheap Argon2id parameters for every slot the tests make.
pub const KDF: [&str; 6] = [
    "--kdf-memory",
    "8MiB",
    "--kdf-time",
    "1",
    "--kdf-parallelism",
    "1",
];

/// The passphrase of [`Sandbox::init`].
pub const PASS: &str = "correct horse battery staple";

/// How long any one run may take before the test fails (a hang is a bug).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh temp dir per test: `home/` (HOME), `tmp/` (TMPDIR), and the
/// default vault path `home/test.vault`.
pub struct Sandbox {
    dir: tempfile::TempDir,
    /// HOME of every child.
    pub home: PathBuf,
    /// TMPDIR of every child.
    pub tmp: PathBuf,
    /// The vault every `vault_cmd` points at with `--vault`.
    pub vault: PathBuf,
    bus: Option<OsString>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A sandbox with no session bus: the keyring is never reachable.
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("vault-cli-test.")
            .tempdir()
            .expect("creating the test's temp dir");
        let home = dir.path().join("home");
        let tmp = dir.path().join("tmp");
        fs::create_dir(&home).unwrap();
        fs::create_dir(&tmp).unwrap();
        let vault = home.join("test.vault");
        Sandbox {
            dir,
            home,
            tmp,
            vault,
            bus: None,
        }
    }

    /// A sandbox whose children reach the Secret Service on `bus`.
    pub fn with_bus(bus: OsString) -> Sandbox {
        Sandbox {
            bus: Some(bus),
            ..Sandbox::new()
        }
    }

    /// The temp dir holding everything of this test.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `vault` with a clean environment and no arguments yet.
    pub fn cmd(&self) -> Cmd {
        self.cmd_via(&[])
    }

    /// Like [`Sandbox::cmd`], but `vault` runs under `wrapper` (a program
    /// and its arguments, e.g. `strace ...`), which gets `vault` as its last
    /// argument before the vault's own.
    pub fn cmd_via(&self, wrapper: &[&OsStr]) -> Cmd {
        let mut c = match wrapper.split_first() {
            None => Command::new(VAULT),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(VAULT);
                c
            }
        };
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("TMPDIR", &self.tmp)
            .current_dir(self.root());
        if let Some(bus) = &self.bus {
            c.env("DBUS_SESSION_BUS_ADDRESS", bus);
        }
        Cmd {
            cmd: c,
            stdin: None,
            fds: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            label: wrapper
                .iter()
                .map(|w| w.to_string_lossy().into_owned() + " ")
                .collect::<String>()
                + "vault",
        }
    }

    /// `vault --vault <sandbox vault>`.
    pub fn vault_cmd(&self) -> Cmd {
        self.cmd().arg("--vault").arg(&self.vault)
    }

    /// `vault --vault V --passphrase-stdin ARGS` with `pass` as the first
    /// line of stdin and `rest` after it.
    pub fn with_pass(&self, pass: &str, rest: &[u8], args: &[&str]) -> Cmd {
        self.vault_cmd()
            .arg("--passphrase-stdin")
            .args(args)
            .stdin(stdin_lines(pass, rest))
    }

    /// Creates the sandbox vault with one passphrase slot ([`PASS`]).
    pub fn init(&self) -> &Sandbox {
        self.init_with(PASS)
    }

    /// Creates the sandbox vault with one passphrase slot.
    pub fn init_with(&self, pass: &str) -> &Sandbox {
        self.with_pass(pass, b"", &["init"])
            .args(KDF)
            .run()
            .success();
        self
    }

    /// `set NAME` with exactly `value` (`--raw`, from stdin after [`PASS`]).
    pub fn set(&self, name: &str, value: &[u8]) -> &Sandbox {
        self.with_pass(PASS, value, &["set", "--raw", name])
            .run()
            .success();
        self
    }

    /// `get -n NAME` with [`PASS`]; the exact value.
    pub fn get(&self, name: &str) -> Vec<u8> {
        self.with_pass(PASS, b"", &["get", "-n", name])
            .run()
            .success()
            .stdout
    }

    /// `list` with [`PASS`]; the names.
    pub fn names(&self) -> Vec<String> {
        self.with_pass(PASS, b"", &["list"])
            .run()
            .success()
            .stdout_lines()
    }

    /// The bytes of the sandbox vault file.
    pub fn vault_bytes(&self) -> Vec<u8> {
        fs::read(&self.vault).expect("reading the vault file")
    }

    /// Writes `bytes` to a file under the sandbox root; returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.root().join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    /// Writes each of `variants` (label, passphrase, file bytes) to a vault
    /// file and runs `get -n A` on it with that passphrase, four threads at
    /// a time, each with its own file. Asserts that nothing reaches stdout
    /// (no partial output from a damaged vault); returns (label, exit code,
    /// stderr with the file's path replaced by `VAULT`).
    pub fn open_variants(
        &self,
        variants: Vec<(String, &str, Vec<u8>)>,
    ) -> Vec<(String, i32, String)> {
        let threads = 4;
        let mut chunks: Vec<Vec<(String, &str, Vec<u8>)>> =
            (0..threads).map(|_| Vec::new()).collect();
        for (i, v) in variants.into_iter().enumerate() {
            chunks[i % threads].push(v);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .enumerate()
                .map(|(t, chunk)| {
                    scope.spawn(move || {
                        let path = self.root().join(format!("variant-{t}.vault"));
                        let shown = path.display().to_string();
                        let mut res = Vec::new();
                        for (label, pass, bytes) in chunk {
                            fs::write(&path, &bytes).unwrap();
                            let out = self
                                .cmd()
                                .arg("--vault")
                                .arg(&path)
                                .args(["--passphrase-stdin", "get", "-n", "A"])
                                .stdin(stdin_lines(pass, b""))
                                .run();
                            assert!(
                                out.stdout.is_empty(),
                                "{label}: output from a damaged vault:{out:?}"
                            );
                            res.push((
                                label,
                                out.code.unwrap_or(-1),
                                out.stderr.replace(&shown, "VAULT"),
                            ));
                        }
                        res
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        })
    }

    /// The vault id, from `key list --json` (no unlock).
    pub fn vault_id(&self) -> String {
        self.vault_cmd()
            .args(["key", "list", "--json"])
            .run()
            .success()
            .json()["vault_id"]
            .as_str()
            .expect("a vault id")
            .to_string()
    }

    /// The ids of the vault's slots of `kind` ("passphrase" or "keyring"),
    /// from `key list --json` (which reads the header without unlocking).
    pub fn slot_ids(&self, kind: &str) -> Vec<String> {
        let out = self.vault_cmd().args(["key", "list", "--json"]).run();
        let v = out.success().json();
        v["slots"]
            .as_array()
            .expect("slots array")
            .iter()
            .filter(|s| s["kind"] == kind)
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// `pass` + "\n" + `rest`: a passphrase line followed by other input.
pub fn stdin_lines(pass: &str, rest: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(pass.len() + 1 + rest.len());
    v.extend_from_slice(pass.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(rest);
    v
}

/// One run of `vault`, being built.
pub struct Cmd {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    fds: Vec<(i32, Vec<u8>)>,
    timeout: Duration,
    label: String,
}

impl Cmd {
    /// Adds an argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.label.push(' ');
        self.label.push_str(&a.as_ref().to_string_lossy());
        self.cmd.arg(a);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Sets an environment variable of the child.
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Cmd {
        self.cmd.env(k, v);
        self
    }

    /// Removes an environment variable of the child.
    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Cmd {
        self.cmd.env_remove(k);
        self
    }

    /// Standard input: these bytes, then end of file. Without it stdin is
    /// `/dev/null`.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    /// Opens file descriptor `fd` in the child: the read end of a pipe
    /// holding `bytes` (at most 64 KiB, the pipe buffer).
    pub fn fd(mut self, fd: i32, bytes: impl Into<Vec<u8>>) -> Cmd {
        let bytes = bytes.into();
        assert!(
            bytes.len() < 64 * 1024,
            "fd contents must fit a pipe buffer"
        );
        self.fds.push((fd, bytes));
        self
    }

    /// The time bound of this run.
    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = t;
        self
    }

    /// Starts the child; [`Running::finish`] collects it.
    pub fn spawn(mut self) -> Running {
        // Pipes for extra descriptors: written and closed here, so the child
        // reads the bytes and then end of file.
        let mut readers: Vec<(i32, OwnedFd)> = Vec::new();
        for (fd, bytes) in &self.fds {
            let (r, mut w) = std::io::pipe().expect("pipe");
            w.write_all(bytes).expect("filling the fd pipe");
            drop(w);
            readers.push((*fd, OwnedFd::from(r)));
        }
        let raw: Vec<(i32, i32)> = readers.iter().map(|(n, r)| (*n, r.as_raw_fd())).collect();
        // SAFETY: between fork and exec the closure only calls setsid, dup2
        // and fcntl, which are async-signal-safe, on descriptors that are
        // open in the parent (kept alive in `readers` until spawn returns).
        unsafe {
            self.cmd.pre_exec(move || {
                // Own session: no controlling terminal, so /dev/tty cannot
                // be opened and nothing can prompt and hang the test.
                libc::setsid();
                for (target, src) in &raw {
                    if target == src {
                        let flags = libc::fcntl(*src, libc::F_GETFD);
                        if flags == -1
                            || libc::fcntl(*src, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1
                        {
                            return Err(std::io::Error::last_os_error());
                        }
                    } else if libc::dup2(*src, *target) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.label));
        drop(readers);
        let stdin_thread = self.stdin.take().map(|bytes| {
            let mut w = child.stdin.take().unwrap();
            // The child may exit without reading everything (an error, a
            // kill): a broken pipe here is not a failure of the test.
            std::thread::spawn(move || {
                let _ = w.write_all(&bytes);
            })
        });
        let out = read_thread(child.stdout.take().unwrap());
        let err = read_thread(child.stderr.take().unwrap());
        Running {
            child,
            start,
            timeout: self.timeout,
            label: self.label,
            stdin_thread,
            out,
            err,
        }
    }

    /// Runs to completion (within the time bound) and returns the result.
    /// Fails the test if `vault` panicked.
    pub fn run(self) -> Out {
        self.spawn().finish()
    }
}

fn read_thread(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// A started `vault`.
pub struct Running {
    child: Child,
    start: Instant,
    timeout: Duration,
    label: String,
    stdin_thread: Option<JoinHandle<()>>,
    out: JoinHandle<Vec<u8>>,
    err: JoinHandle<Vec<u8>>,
}

impl Running {
    /// Sends SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits (within the time bound) and collects the output.
    pub fn finish(mut self) -> Out {
        let status = self.wait_bounded();
        let elapsed = self.start.elapsed();
        if let Some(t) = self.stdin_thread.take() {
            t.join().unwrap();
        }
        let stdout = self.out.join().unwrap();
        let stderr = String::from_utf8_lossy(&self.err.join().unwrap()).into_owned();
        let out = Out {
            label: self.label,
            code: status.code(),
            signal: status.signal(),
            stdout,
            stderr,
            elapsed,
        };
        assert!(!out.stderr.contains("panicked"), "vault panicked: {out:?}");
        out
    }

    fn wait_bounded(&mut self) -> ExitStatus {
        loop {
            if let Some(s) = self.child.try_wait().expect("waiting for vault") {
                return s;
            }
            if self.start.elapsed() > self.timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "`{}` did not finish within {:?} (a hang)",
                    self.label, self.timeout
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// What a run of `vault` did.
pub struct Out {
    /// The command line, for messages.
    pub label: String,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// Standard output, exactly.
    pub stdout: Vec<u8>,
    /// Standard error, as text.
    pub stderr: String,
    /// Wall-clock time from spawn to exit.
    pub elapsed: Duration,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n  command: {}\n  exit: {:?} (signal {:?}) after {:?}\n  stdout: {:?}\n  stderr: {}",
            self.label,
            self.code,
            self.signal,
            self.elapsed,
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(400)]),
            self.stderr
        )
    }
}

impl Out {
    /// Asserts exit 0.
    #[track_caller]
    pub fn success(self) -> Out {
        assert_eq!(self.code, Some(0), "expected success:{self:?}");
        self
    }

    /// Asserts exit `code` and, for any failure, empty stdout (never
    /// partial output).
    #[track_caller]
    pub fn code(self, code: i32) -> Out {
        assert_eq!(self.code, Some(code), "expected exit {code}:{self:?}");
        if code != 0 {
            assert!(
                self.stdout.is_empty(),
                "a failed run printed on stdout:{self:?}"
            );
        }
        self
    }

    /// Asserts that stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Out {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:{self:?}"
        );
        self
    }

    /// Asserts that stdout (as text) contains `needle`.
    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Out {
        assert!(
            self.stdout_str().contains(needle),
            "stdout lacks {needle:?}:{self:?}"
        );
        self
    }

    /// Asserts that stderr does not contain `needle`.
    #[track_caller]
    pub fn stderr_lacks(self, needle: &str) -> Out {
        assert!(
            !self.stderr.contains(needle),
            "stderr has {needle:?}:{self:?}"
        );
        self
    }

    /// Stdout as text.
    pub fn stdout_str(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    /// Stdout split into lines.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout_str().lines().map(String::from).collect()
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):{self:?}"))
    }
}

/// Whether a private Secret Service is reachable for the keyring tests.
///
/// `Some(bus address)` inside `scripts/with-secret-service.sh` (it exports
/// `DBUS_SESSION_BUS_ADDRESS` and `VAULT_SS_PRIVATE=1`). A bus without
/// `VAULT_SS_PRIVATE=1` is the developer's real session, whose keyring the
/// tests must not fill with entries: it counts as absent. When absent, on
/// CI (`CI=true`) the test fails; elsewhere it prints a loud SKIPPED line
/// on the real stderr (not captured by the test harness) and the test
/// returns early.
pub fn secret_service(test: &str) -> Option<OsString> {
    let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").filter(|v| !v.is_empty());
    let private = std::env::var_os("VAULT_SS_PRIVATE").is_some_and(|v| v == "1");
    let why = match (&bus, private) {
        (Some(b), true) => return Some(b.clone()),
        (Some(_), false) => {
            "DBUS_SESSION_BUS_ADDRESS is set but is not the private Secret Service of scripts/with-secret-service.sh (VAULT_SS_PRIVATE=1)"
        }
        (None, _) => "DBUS_SESSION_BUS_ADDRESS is not set",
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test}: the keyring tests must run on CI, but there is no Secret Service: {why}; run the tests through scripts/test.sh"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: no Secret Service (run scripts/test.sh): {test}: {why} ***\n"
    );
    None
}

/// The path of `program` found in `PATH`, if any.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Every regular file under `dir`, recursively (symbolic links not followed).
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find_all(hay, needle).next().is_some()
}

/// The offsets where `needle` occurs in `hay`.
pub fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    hay.windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

/// The offset of the only occurrence of `needle` in `hay`.
#[track_caller]
pub fn find_one(hay: &[u8], needle: &[u8]) -> usize {
    let all: Vec<usize> = find_all(hay, needle).collect();
    assert_eq!(all.len(), 1, "{needle:02x?} occurs {} times", all.len());
    all[0]
}

/// The length of the prefix: magic (8), version (2), header length (4).
pub const PREFIX_LEN: usize = 14;

/// Where the CBOR header ends and the body ciphertext starts, from the
/// header length field (docs/FORMAT.md; src/format/mod.rs).
pub fn header_end(bytes: &[u8]) -> usize {
    PREFIX_LEN + u32::from_be_bytes(bytes[10..14].try_into().unwrap()) as usize
}

/// The range of the value of the CBOR byte-string field `key` (a text
/// string key, then a byte string of `len` bytes with a one- or two-byte
/// head) at its `nth` occurrence in the header.
#[track_caller]
pub fn bstr_field(bytes: &[u8], key: &str, len: usize, nth: usize) -> std::ops::Range<usize> {
    let header_end = header_end(bytes);
    let mut pat = vec![0x60 | key.len() as u8];
    pat.extend_from_slice(key.as_bytes());
    if len < 24 {
        pat.push(0x40 | len as u8);
    } else {
        pat.extend_from_slice(&[0x58, len as u8]);
    }
    let at: Vec<usize> = find_all(&bytes[..header_end], &pat).collect();
    let start = at
        .get(nth)
        .unwrap_or_else(|| panic!("field {key} #{nth} not found ({} found)", at.len()))
        + pat.len();
    start..start + len
}

/// A tiny deterministic PRNG (xorshift64*), seeded per test and printed, so
/// a failing random sequence can be replayed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `VAULT_TEST_SEED` or the clock.
    pub fn new(test: &str) -> Rng {
        let seed = std::env::var("VAULT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        eprintln!("{test}: VAULT_TEST_SEED={seed}");
        Rng(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
