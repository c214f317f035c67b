//! The harness of the integration tests: a [`Sandbox`] per test (a fresh
//! temp dir holding HOME, TMPDIR and the vault), [`Cmd`], a builder that
//! runs the real `vault` binary (or any program) there with a clean
//! environment, given stdin, extra file descriptors and `pre_exec` hooks,
//! under a time bound; [`Running`] to watch a child while it runs (its pid,
//! live output, signals); and [`require`], the one way a test asks for a
//! real part of the system (a Secret Service, strace, gdb, root, a pty).
//!
//! It never touches the developer's own vault or keyring: every child gets
//! `env_clear()`, a private HOME/TMPDIR and its own session (no controlling
//! terminal, so nothing can prompt); the session bus is passed through only
//! to keyring tests, and only when it is the private Secret Service of
//! `scripts/with-secret-service.sh`.

#![allow(dead_code)] // each helper is used by some tests, not all

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use vault::format::v2::HeaderV2;
use vault::format::{self, FileHeader, KdfParams, SlotId};
use vault::{crypto, keyblock, slots, Credential, LockedVault, SecretBytes};

pub use crate::bytes::*;

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

/// The second passphrase of two-slot vaults ([`Sandbox::init_two_slots`]).
pub const PASS2: &str = "second passphrase, second slot";

/// The message of a wrong passphrase (src/error.rs), without the path.
pub const WRONG: &str =
    "wrong passphrase or identity (or the vault's slots have been tampered with)";

/// The passphrase of `tests/vectors/ok_passphrase.vault` (README there).
pub const VECTOR_PASS: &str = "vault test vector v1";

/// The contents of `tests/vectors/ok_passphrase.vault` (README there).
pub const VECTOR_SECRETS: [(&str, &[u8]); 4] = [
    ("API_TOKEN", b"tok_live_0123456789abcdef"),
    ("BINARY", b"\x00\x01\x02\xff\xfe\n\x00"),
    ("EMPTY", b""),
    ("MULTI_LINE", b"line one\nline two\n"),
];

/// `tests/vectors/`: the committed vault files.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// How long any one run may take before the test fails (a hang is a bug).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to wait for output that a live child should produce at once.
pub const LIVE_TIMEOUT: Duration = Duration::from_secs(20);

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

    /// A sandbox whose children reach the private Secret Service, or
    /// `None` when there is none ([`require`]: skipped loudly, or a
    /// failure on CI).
    #[track_caller]
    pub fn keyring() -> Option<Sandbox> {
        let bus = require(SecretService)?;
        Some(Sandbox {
            bus: Some(bus),
            ..Sandbox::new()
        })
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
        match wrapper.split_first() {
            None => self.program(VAULT),
            Some((program, args)) => self.program(program).args(args).arg(VAULT),
        }
    }

    /// Any `program`, with the clean environment of the sandbox (PATH,
    /// HOME, TMPDIR, and the bus of a keyring sandbox), run in its root.
    pub fn program(&self, program: impl AsRef<OsStr>) -> Cmd {
        let program = program.as_ref();
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("TMPDIR", &self.tmp)
            .current_dir(self.root());
        if let Some(bus) = &self.bus {
            c.env("DBUS_SESSION_BUS_ADDRESS", bus);
        }
        let label = if program == VAULT {
            "vault".to_string()
        } else {
            program.to_string_lossy().into_owned()
        };
        Cmd {
            cmd: c,
            stdin: Input::Null,
            fds: Vec::new(),
            hooks: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            label,
        }
    }

    /// `vault --vault <sandbox vault>`.
    pub fn vault_cmd(&self) -> Cmd {
        self.cmd().arg("--vault").arg(&self.vault)
    }

    /// `vault --vault PATH --passphrase-stdin ARGS` with `pass` then `rest`
    /// on stdin: [`Sandbox::with_pass`] for another vault file.
    pub fn at(&self, path: &Path, pass: &str, rest: &[u8], args: &[&str]) -> Cmd {
        self.cmd()
            .arg("--vault")
            .arg(path)
            .arg("--passphrase-stdin")
            .args(args)
            .stdin(stdin_lines(pass, rest))
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

    /// Creates a vault at `path` with two passphrase slots ([`PASS`],
    /// [`PASS2`]).
    pub fn init_two_slots(&self, path: &Path) {
        self.at(path, PASS, b"", &["init"])
            .args(KDF)
            .run()
            .success();
        self.at(
            path,
            PASS,
            format!("{PASS2}\n").as_bytes(),
            &["key", "add", "passphrase", "--new-passphrase-stdin"],
        )
        .args(KDF)
        .run()
        .success()
        .stderr_has("added passphrase slot");
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

    /// The generation in the header of the vault at `path` (`key list
    /// --json`, no unlock).
    pub fn generation(&self, path: &Path) -> u64 {
        self.cmd()
            .arg("--vault")
            .arg(path)
            .args(["key", "list", "--json"])
            .run()
            .success()
            .json()["generation"]
            .as_u64()
            .expect("generation")
    }

    /// The generation the rollback memory holds for the vault at `path`
    /// (`doctor --json`, which does not change it without a credential).
    pub fn remembered_generation(&self, path: &Path) -> Option<u64> {
        self.cmd()
            .arg("--vault")
            .arg(path)
            .args(["doctor", "--json"])
            .run()
            .success()
            .json()["rollback_memory"]["this_path"]["remembered"]["generation"]
            .as_u64()
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

    /// Every path under the sandbox root (relative; directories included),
    /// to check that a run created or removed nothing.
    pub fn snapshot(&self) -> BTreeSet<PathBuf> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
            for e in fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                out.insert(p.strip_prefix(root).unwrap().to_path_buf());
                if e.file_type().unwrap().is_dir() {
                    walk(root, &p, out);
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(self.root(), self.root(), &mut out);
        out
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

/// Standard input of a run.
enum Input {
    /// `/dev/null`.
    Null,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// An open file (e.g. the slave side of a pseudo-terminal).
    File(fs::File),
}

/// A hook run in the child between fork and exec.
type Hook = Box<dyn FnMut() -> std::io::Result<()> + Send + Sync>;

/// One run of `vault` (or another program), being built.
pub struct Cmd {
    cmd: Command,
    stdin: Input,
    fds: Vec<(i32, Vec<u8>)>,
    hooks: Vec<Hook>,
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

    /// The working directory of the child (the sandbox root by default).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cmd.current_dir(dir);
        self
    }

    /// Standard input: these bytes, then end of file. Without it stdin is
    /// `/dev/null`.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Input::Bytes(bytes.into());
        self
    }

    /// Standard input: this open file.
    pub fn stdin_file(mut self, f: fs::File) -> Cmd {
        self.stdin = Input::File(f);
        self
    }

    /// Runs the command with the pseudo-terminal `slave` (a path from
    /// `require(Pty)`) as its standard input and controlling terminal, so
    /// `/dev/tty` prompts and terminal signals reach it.
    pub fn on_terminal(self, slave: &Path) -> Cmd {
        let tty = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(slave)
            .unwrap();
        // SAFETY: only ioctl (async-signal-safe) between fork and exec; the
        // harness's setsid, which runs first, made a session without one.
        unsafe {
            self.stdin_file(tty).pre_exec(|| {
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
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

    /// Runs `hook` in the child between fork and exec, after the harness's
    /// own setup (a session of its own, the extra descriptors), in the
    /// order the hooks were added.
    ///
    /// # Safety
    ///
    /// As for [`CommandExt::pre_exec`]: the hook runs in a forked copy of a
    /// multi-threaded process, so it may only make async-signal-safe calls
    /// (setrlimit, ioctl, ...), and must not allocate or take locks.
    pub unsafe fn pre_exec(
        mut self,
        hook: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Cmd {
        self.hooks.push(Box::new(hook));
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
        let mut hooks = std::mem::take(&mut self.hooks);
        // SAFETY: between fork and exec the closure only calls setsid, dup2
        // and fcntl, which are async-signal-safe, on descriptors that are
        // open in the parent (kept alive in `readers` until spawn returns),
        // then the hooks, whose callers promised the same (Cmd::pre_exec).
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
                for hook in hooks.iter_mut() {
                    hook()?;
                }
                Ok(())
            });
        }
        let (stdin, bytes) = match std::mem::replace(&mut self.stdin, Input::Null) {
            Input::Null => (Stdio::null(), None),
            Input::Bytes(b) => (Stdio::piped(), Some(b)),
            Input::File(f) => (Stdio::from(f), None),
        };
        self.cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.label));
        drop(readers);
        let stdin_thread = bytes.map(|bytes| {
            let mut w = child.stdin.take().unwrap();
            // The child may exit without reading everything (an error, a
            // kill): a broken pipe here is not a failure of the test.
            std::thread::spawn(move || {
                let _ = w.write_all(&bytes);
            })
        });
        let out = Live::new(child.stdout.take().unwrap());
        let err = Live::new(child.stderr.take().unwrap());
        Running {
            child,
            reaped: false,
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

/// A stream of a running child, read by a thread as it comes, so a test can
/// wait for a piece of output while the child still runs.
pub struct Live {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    eof: bool,
}

impl Live {
    fn new(mut r: impl Read + Send + 'static) -> Live {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut b = vec![0u8; 65536];
            loop {
                match r.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(b[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Live {
            rx,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Reads until the output so far contains `needle`; false on timeout
    /// or end of stream.
    fn wait_for(&mut self, needle: &[u8], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !contains(&self.buf, needle) {
            if self.eof {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.buf.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Timeout) => return false,
                Err(RecvTimeoutError::Disconnected) => self.eof = true,
            }
        }
        true
    }

    /// Everything up to the end of the stream; `None` if it is still open
    /// after `timeout` (a grandchild holds it).
    fn rest(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        while !self.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.buf.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => self.eof = true,
            }
        }
        Some(std::mem::take(&mut self.buf))
    }
}

/// A started child. Dropping it before [`Running::finish`] (a failed test)
/// kills it and its own children, so no test leaves an orphan behind.
pub struct Running {
    child: Child,
    reaped: bool,
    start: Instant,
    timeout: Duration,
    label: String,
    stdin_thread: Option<std::thread::JoinHandle<()>>,
    out: Live,
    err: Live,
}

impl Running {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child has not exited yet.
    pub fn is_running(&mut self) -> bool {
        let exited = self.child.try_wait().expect("waiting for the child");
        self.reaped |= exited.is_some();
        exited.is_none()
    }

    /// Sends `sig` to the child.
    pub fn signal(&self, sig: libc::c_int) {
        send_signal(self.pid(), sig);
    }

    /// Sends SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits at most `timeout` until stdout so far contains `needle`.
    pub fn wait_stdout(&mut self, needle: &[u8], timeout: Duration) -> bool {
        self.out.wait_for(needle, timeout)
    }

    /// Waits at most `timeout` until stderr so far contains `needle`.
    pub fn wait_stderr(&mut self, needle: &[u8], timeout: Duration) -> bool {
        self.err.wait_for(needle, timeout)
    }

    /// Stdout read so far, as text (for messages).
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.out.buf).into_owned()
    }

    /// Waits (within the time bound) and collects the output. Fails the
    /// test if `vault` panicked.
    pub fn finish(mut self) -> Out {
        let status = self.wait_bounded();
        let elapsed = self.start.elapsed();
        if let Some(t) = self.stdin_thread.take() {
            t.join().unwrap();
        }
        let grace = Duration::from_secs(10);
        let label = self.label.clone();
        let stdout = self.out.rest(grace).unwrap_or_else(|| {
            panic!("`{label}` exited but its stdout is still open after {grace:?}")
        });
        let stderr = self.err.rest(grace).unwrap_or_else(|| {
            panic!("`{label}` exited but its stderr is still open after {grace:?}")
        });
        let out = Out {
            label,
            code: status.code(),
            signal: status.signal(),
            stdout,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed,
        };
        assert!(!out.stderr.contains("panicked"), "vault panicked: {out:?}");
        out
    }

    fn wait_bounded(&mut self) -> ExitStatus {
        loop {
            if let Some(s) = self.child.try_wait().expect("waiting for the child") {
                self.reaped = true;
                return s;
            }
            if self.start.elapsed() > self.timeout {
                self.kill_tree();
                panic!(
                    "`{}` did not finish within {:?} (a hang)",
                    self.label, self.timeout
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILLs the child's own children, then the child, and reaps it.
    fn kill_tree(&mut self) {
        let pid = self.child.id();
        if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                let kids = fs::read_to_string(t.path().join("children")).unwrap_or_default();
                for k in kids
                    .split_whitespace()
                    .filter_map(|k| k.parse::<u32>().ok())
                {
                    // SAFETY: kill(2) with a pid and a valid signal number.
                    unsafe {
                        libc::kill(k as libc::pid_t, libc::SIGKILL);
                    }
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_tree();
        }
    }
}

/// Sends `sig` to process `pid`.
pub fn send_signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with a child's pid and a valid signal number.
    let r = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig})");
}

/// What a run of `vault` (or another program) did.
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

/// The permission bits of `p`.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Temp files of the atomic write beside the vault at `path`
/// (`.NAME.tmp-*`), sorted.
pub fn temp_files(path: &Path) -> Vec<String> {
    let prefix = format!(".{}.tmp-", path.file_name().unwrap().to_string_lossy());
    let mut v: Vec<String> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    v.sort();
    v
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

/// A count from the environment variable `var` (e.g. `VAULT_SUITE_KILLS`),
/// else `default`.
pub fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Prints a measured figure on the real stderr (not captured by libtest)
/// with the prefix `[suites]`, and appends it to `$VAULT_SUITE_REPORT` if
/// set (`scripts/suites-full.sh` collects them; SECURITY.md quotes them).
pub fn figure(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "[suites] {line}");
    if let Some(p) = std::env::var_os("VAULT_SUITE_REPORT").filter(|v| !v.is_empty()) {
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(p) {
            let _ = writeln!(f, "{line}");
        }
    }
}

// ---------------------------------------------------------------------------
// require: the real parts some tests need
// ---------------------------------------------------------------------------

/// Whether this is a CI run (`CI=true`, as `.ci/run` sets it), where every
/// part a test needs must be there.
pub fn on_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// A real part of the system that a test needs: a program, a Secret
/// Service, root, a pseudo-terminal, or something only known once tried.
pub trait Part {
    /// What the test gets when the part is there.
    type Found;
    /// The part, as the SKIPPED line names it.
    fn what(&self) -> String;
    /// The part, or why it is missing.
    fn find(self) -> Result<Self::Found, String>;
}

/// The one way a test asks for a real part: `Some(part)` when it is there.
/// When it is missing, the test fails under `CI=true` (CI must provide
/// every part: scripts/deps.sh, scripts/with-secret-service.sh, root);
/// elsewhere it prints a loud `SKIPPED` line on the real stderr (not
/// captured by libtest) and returns `None`, and the caller returns at once:
///
/// ```ignore
/// let Some(strace) = require(Program("strace")) else { return };
/// ```
#[track_caller]
pub fn require<P: Part>(part: P) -> Option<P::Found> {
    let what = part.what();
    match part.find() {
        Ok(found) => Some(found),
        Err(why) => {
            missing(&what, &why);
            None
        }
    }
}

#[track_caller]
fn missing(what: &str, why: &str) {
    let current = std::thread::current();
    let test = current.name().unwrap_or("a test");
    if on_ci() {
        panic!("{test}: needs {what}, which CI must provide: {why}");
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n*** SKIPPED {test}: needs {what}: {why} (this fails under CI=true) ***\n"
    );
}

/// A program in `PATH`; found: its path.
pub struct Program(pub &'static str);

impl Part for Program {
    type Found = PathBuf;
    fn what(&self) -> String {
        format!("`{}` (scripts/deps.sh installs it)", self.0)
    }
    fn find(self) -> Result<PathBuf, String> {
        which(self.0).ok_or_else(|| "not found in PATH".to_string())
    }
}

/// The private Secret Service of `scripts/with-secret-service.sh`; found:
/// its bus address.
///
/// A bus without `VAULT_SS_PRIVATE=1` is the developer's real session,
/// whose keyring the tests must not fill with entries: it counts as absent.
pub struct SecretService;

impl Part for SecretService {
    type Found = OsString;
    fn what(&self) -> String {
        "a private Secret Service (run the tests through scripts/test.sh or scripts/with-secret-service.sh)".into()
    }
    fn find(self) -> Result<OsString, String> {
        let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").filter(|v| !v.is_empty());
        let private = std::env::var_os("VAULT_SS_PRIVATE").is_some_and(|v| v == "1");
        match (bus, private) {
            (Some(b), true) => Ok(b),
            (Some(_), false) => Err("DBUS_SESSION_BUS_ADDRESS is set but is not the private Secret Service (VAULT_SS_PRIVATE=1)".into()),
            (None, _) => Err("DBUS_SESSION_BUS_ADDRESS is not set".into()),
        }
    }
}

/// Running as root (to mount, to run `vault` as another user, to take a
/// core); found: nothing more.
pub struct Root;

impl Part for Root {
    type Found = ();
    fn what(&self) -> String {
        "root".into()
    }
    fn find(self) -> Result<(), String> {
        if is_root() {
            Ok(())
        } else {
            // SAFETY: geteuid has no arguments and cannot fail.
            Err(format!("running as uid {}", unsafe { libc::geteuid() }))
        }
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A new pseudo-terminal; found: its master side and the path of its slave.
pub struct Pty;

impl Part for Pty {
    type Found = (fs::File, PathBuf);
    fn what(&self) -> String {
        "a pseudo-terminal".into()
    }
    fn find(self) -> Result<(fs::File, PathBuf), String> {
        use std::os::fd::FromRawFd;
        let err = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
        // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on a descriptor we
        // own, into a local buffer; every result is checked.
        unsafe {
            let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            if m < 0 {
                return Err(err("posix_openpt"));
            }
            let master = fs::File::from_raw_fd(m);
            if libc::grantpt(m) != 0 || libc::unlockpt(m) != 0 {
                return Err(err("grantpt/unlockpt"));
            }
            let mut name = [0 as libc::c_char; 128];
            let r = libc::ptsname_r(m, name.as_mut_ptr(), name.len());
            if r != 0 {
                return Err(format!(
                    "ptsname_r: {}",
                    std::io::Error::from_raw_os_error(r)
                ));
            }
            let path = std::ffi::CStr::from_ptr(name.as_ptr())
                .to_string_lossy()
                .into_owned();
            Ok((master, PathBuf::from(path)))
        }
    }
}

/// Something only known once tried (a tmpfs mount, strace attaching,
/// gcore): `Works(what, result of trying)`.
pub struct Works<T>(pub &'static str, pub Result<T, String>);

impl<T> Part for Works<T> {
    type Found = T;
    fn what(&self) -> String {
        self.0.into()
    }
    fn find(self) -> Result<T, String> {
        self.1
    }
}

// ---------------------------------------------------------------------------
// vault as an unprivileged user (for tests that run as root)
// ---------------------------------------------------------------------------

/// The unprivileged uid/gid the root-only tests run `vault` as (`nobody`
/// on Debian; numeric, so it works without a passwd entry).
pub const NOBODY: u32 = 65534;

/// What an unprivileged user needs to run `vault`: a 0755 directory under
/// the sandbox with the binary (hard-linked or copied: the build directory
/// may not be reachable for other users) and a HOME owned by the user.
pub struct Unpriv {
    /// The user's copy of the binary.
    pub bin: PathBuf,
    /// The user's HOME.
    pub home: PathBuf,
    /// The 0755 directory holding both.
    pub dir: PathBuf,
}

impl Unpriv {
    /// Sets it up under the root of `s`.
    pub fn new(s: &Sandbox) -> Unpriv {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(s.root(), fs::Permissions::from_mode(0o755)).unwrap();
        let dir = s.root().join("unpriv");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.join("vault");
        if fs::hard_link(VAULT, &bin).is_err() {
            fs::copy(VAULT, &bin).unwrap();
        }
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.join("home");
        fs::create_dir(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY)).unwrap();
        Unpriv { bin, home, dir }
    }

    /// `setpriv` to uid/gid [`NOBODY`] running `prog`, with a clean
    /// environment (PATH and the user's HOME) in [`Unpriv::dir`].
    pub fn command(&self, s: &Sandbox, prog: impl AsRef<OsStr>) -> Cmd {
        s.program("setpriv")
            .arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .arg("--clear-groups")
            .arg("--")
            .arg(prog)
            .env("HOME", &self.home)
            .env_remove("TMPDIR")
            .current_dir(&self.dir)
    }

    /// `vault --vault PATH --passphrase-file PASSFILE ARGS` as the user.
    pub fn vault(&self, s: &Sandbox, path: &Path, passfile: &Path, args: &[&str]) -> Cmd {
        self.command(s, &self.bin)
            .arg("--vault")
            .arg(path)
            .arg("--passphrase-file")
            .arg(passfile)
            .args(args)
    }
}

/// chown -R to [`NOBODY`].
pub fn chown_tree(p: &Path) {
    std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
    if fs::symlink_metadata(p).unwrap().is_dir() {
        for e in fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path());
        }
    }
}

/// `bytes`, a vault that `pass` opens, sealed again under its own keys
/// with `edit` applied to the header (the key block's MAC made again with
/// the master key): a file vault never writes that still authenticates,
/// so only a rule about the header itself can refuse it. Put back at the
/// same path, it needs a later generation than `bytes` (the path's memory
/// would see a fork otherwise).
pub fn resealed(bytes: &[u8], pass: &str, edit: impl FnOnce(&mut HeaderV2)) -> Vec<u8> {
    reseal(bytes, pass, edit, true)
}

/// [`resealed`], the key block's MAC made again with the master key
/// (`remac`) or left as it was (what a holder of the body key alone can do).
fn reseal(bytes: &[u8], pass: &str, edit: impl FnOnce(&mut HeaderV2), remac: bool) -> Vec<u8> {
    let pass = Credential::Passphrase(SecretBytes::copy_from(pass.as_bytes()));
    let v = LockedVault::parse(Path::new("original"), bytes.to_vec())
        .and_then(|l| l.unlock(&pass))
        .expect("the original opens");
    let f = format::parse_any(bytes).unwrap();
    let FileHeader::V2(mut header) = f.header else {
        panic!("a version-2 file")
    };
    let mut body = f.ciphertext.to_vec();
    crypto::open_in_place(v.body_key(), &header.body_nonce, f.aad, &mut body).unwrap();
    edit(&mut header);
    if remac {
        let mk = v.master_key().expect("a passphrase gives the master key");
        header.mac = keyblock::key_block_mac(mk, &header.vault_id, &header.keys);
    }
    let prefix = format::write_prefix_v2(&header);
    crypto::seal_in_place(v.body_key(), &header.body_nonce, &prefix, &mut body);
    [prefix, body].concat()
}

/// The id [`v1_with_second_slot`] gives the slot it adds.
pub const V1_SECOND_SLOT: &str = "5e5e5e5e";

/// `tests/vectors/ok_passphrase.vault` (version 1, [`VECTOR_PASS`]) with a
/// second version-1 passphrase slot, id [`V1_SECOND_SLOT`], for `pass`
/// (cheapest KDF), one generation later: a file as version 1's `key add
/// passphrase` wrote it, whose slots are legacy slots to this build.
pub fn v1_with_second_slot(pass: &str) -> Vec<u8> {
    let bytes = fs::read(vectors_dir().join("ok_passphrase.vault")).unwrap();
    let cred = Credential::Passphrase(SecretBytes::copy_from(VECTOR_PASS.as_bytes()));
    let v = LockedVault::parse(Path::new("vector"), bytes.clone())
        .and_then(|l| l.unlock(&cred))
        .expect("the vector opens");
    // A version-1 file's master key is its data key.
    let dek = v.master_key().expect("a passphrase gives the data key");
    let f = format::parse(&bytes).expect("a version-1 file");
    let mut body = f.ciphertext.to_vec();
    crypto::open_in_place(dek, &f.header.body_nonce, f.aad, &mut body).unwrap();
    let mut header = f.header.clone();
    header.generation += 1;
    let (kind, kek) =
        slots::new_passphrase_kek(pass.as_bytes(), KdfParams::CHEAPEST, None).unwrap();
    let id = SlotId::from_hex(V1_SECOND_SLOT).unwrap();
    header
        .slots
        .push(slots::make_slot(&header.vault_id, id, kind, &kek, dek));
    header.body_nonce = crypto::random_nonce();
    let prefix = format::write_prefix(&header);
    crypto::seal_in_place(dek, &header.body_nonce, &prefix, &mut body);
    [prefix, body].concat()
}

/// `bytes` (a version-2 vault) replaced by someone who can write the file
/// but holds none of its keys: a master key of their own wrapped to the
/// same passphrase slots' recipients (public in the file; each slot's
/// sealed identity copied as it is, so the owner's passphrase still opens
/// it), holding `secrets` of their choosing, one generation later. With
/// `lineage`, it carries a lineage of the forger's own key (no link from
/// the real one: only a holder of that key could sign one).
pub fn forged(bytes: &[u8], secrets: &[(&str, &[u8])], lineage: bool) -> Vec<u8> {
    let f = format::parse_any(bytes).unwrap();
    let FileHeader::V2(header) = f.header else {
        panic!("a version-2 file")
    };
    forged_at(bytes, secrets, lineage, header.generation + 1)
}

/// [`forged`] at a `generation` of the forger's choosing (an older one, or
/// the same as the real file's: a "rollback" or a "fork" under a new key).
pub fn forged_at(
    bytes: &[u8],
    secrets: &[(&str, &[u8])],
    lineage: bool,
    generation: u64,
) -> Vec<u8> {
    forge(bytes, secrets, generation, lineage.then_some(None))
}

/// [`forged_at`] one generation later, with a lineage whose one link is
/// signed by `endorser` (a master key the forger made up earlier).
pub fn forged_endorsed_by(
    bytes: &[u8],
    secrets: &[(&str, &[u8])],
    endorser: &vault::Key,
) -> Vec<u8> {
    let generation = match format::parse_any(bytes).unwrap().header {
        FileHeader::V2(h) => h.generation + 1,
        FileHeader::V1(_) => panic!("a version-2 file"),
    };
    forge(bytes, secrets, generation, Some(Some(endorser)))
}

/// `bytes` as a reader of its cached body key could change it: the key
/// block's lineage key replaced by `lineage_of`'s (the MAC left as it
/// was: only the master key could make it again), one generation later,
/// the body sealed again under the same body key. `pass` opens `bytes`
/// (for the body key the cache reader would hold).
pub fn relineaged(bytes: &[u8], pass: &str, lineage_of: &vault::Key) -> Vec<u8> {
    let edit = |h: &mut HeaderV2| {
        h.keys.lineage = Some(keyblock::lineage(&h.vault_id, None, None, lineage_of));
        h.generation += 1;
        h.body_nonce = crypto::random_nonce();
    };
    reseal(bytes, pass, edit, false)
}

/// `lineage`: none; `Some(None)` the forger's own, no link; `Some(Some(k))`
/// a link signed by `k`.
fn forge(
    bytes: &[u8],
    secrets: &[(&str, &[u8])],
    generation: u64,
    lineage: Option<Option<&vault::Key>>,
) -> Vec<u8> {
    use vault::body_edit::{Entry, Secrets};
    use vault::format::v2::SlotKindV2;
    use vault::Key;
    let f = format::parse_any(bytes).unwrap();
    let FileHeader::V2(mut header) = f.header else {
        panic!("a version-2 file")
    };
    let (mk, bk) = (Key::random(), Key::random());
    let vid = header.vault_id;
    for s in &mut header.keys.slots {
        if let SlotKindV2::Passphrase { wrap, .. } = &mut s.kind {
            let r: age::x25519::Recipient = wrap.recipient.parse().unwrap();
            wrap.age = keyblock::wrap_master_key(&r, &mk).unwrap();
        }
    }
    header.generation = generation;
    header.keys.epoch = header.generation;
    header.keys.master_commitment = keyblock::master_commitment(&mk);
    header.keys.body_key = keyblock::seal_body_key(&mk, &vid, &bk);
    header.keys.body_commitment = keyblock::body_commitment(&bk);
    header.keys.lineage = lineage.map(|by| {
        let previous = by.map(|k| keyblock::lineage(&vid, None, None, k));
        keyblock::lineage(&vid, previous.as_ref(), by, &mk)
    });
    header.mac = keyblock::key_block_mac(&mk, &vid, &header.keys);
    header.body_nonce = crypto::random_nonce();
    let mut body = Secrets::new();
    for (name, value) in secrets {
        let entry = Entry {
            value: SecretBytes::copy_from(value),
            created: 1,
            updated: 1,
            rotate_pending: false,
        };
        body.insert(name, entry);
    }
    let prefix = format::write_prefix_v2(&header);
    let mut out = prefix.clone();
    body.encode_v2_into(&mut out);
    crypto::seal_after(&bk, &header.body_nonce, prefix.len(), &mut out);
    out
}
