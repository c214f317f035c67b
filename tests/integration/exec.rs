//! Integration tests of `vault exec`, `vault render`, `--file` and `--mask`
//! (issue 3), with real child processes (`sh`, `cat`, `env`, `sleep`).
//!
//! Every test gets a fresh temporary directory holding HOME and TMPDIR, runs
//! the binary with a cleared environment (PATH, HOME, TMPDIR only) and a vault
//! made with a cheap KDF. The passphrase comes on the first line of stdin
//! (`--passphrase-stdin`), or from `VAULT_PASSPHRASE_FILE` where stdin
//! belongs to the child.
//!
//! It has its own small harness (`World`) rather than `common`'s `Cmd`:
//! these tests need what `Cmd` does not offer (a `pre_exec` hook for
//! resource limits and a controlling terminal, the child's PID, incremental
//! reading of stdout).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The passphrase of every test vault.
const PASS: &str = "exec-test passphrase 7f3a";
use crate::common::KDF;
/// How long any one vault run may take before the test gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for output that a live child should produce at once.
const LIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// A secret long enough to be masked, with nothing special for `sh`.
const TOKEN: &str = "tok-9Qz7-secret-value";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vault")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One test's world: a temporary directory with HOME, TMPDIR and a vault.
struct World {
    _dir: tempfile::TempDir,
    home: PathBuf,
    tmp: PathBuf,
    vault: PathBuf,
}

impl World {
    /// A fresh HOME and TMPDIR and an empty vault (passphrase [`PASS`]).
    fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("vault-exec-test")
            .tempdir()
            .expect("temporary directory");
        let home = dir.path().join("home");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&home).unwrap();
        std::fs::create_dir(&tmp).unwrap();
        let vault = home.join("test.vault");
        let w = World {
            _dir: dir,
            home,
            tmp,
            vault,
        };
        let mut init = w.vault_cmd();
        init.args(["--passphrase-stdin", "init"]).args(KDF);
        let out = run(init, format!("{PASS}\n").as_bytes());
        assert_status(&out, 0, "init");
        w
    }

    /// A world with these secrets set.
    fn with(secrets: &[(&str, &[u8])]) -> World {
        let w = World::new();
        for (name, value) in secrets {
            w.set(name, value);
        }
        w
    }

    /// `vault --vault <vault>` with a clean environment: PATH, HOME, TMPDIR;
    /// the working directory is HOME.
    fn vault_cmd(&self) -> Command {
        let mut c = Command::new(bin());
        self.clean_env(&mut c);
        c.arg("--vault").arg(&self.vault);
        c
    }

    /// Clean environment (PATH, HOME, TMPDIR), HOME as working directory,
    /// a session of its own.
    fn clean_env(&self, c: &mut Command) {
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        c.env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("TMPDIR", &self.tmp)
            .current_dir(&self.home);
        // SAFETY: only setsid (async-signal-safe) between fork and exec. Own
        // session: no controlling terminal, so nothing can prompt and hang.
        unsafe {
            c.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }

    /// Stores `value` exactly (`set --raw`).
    fn set(&self, name: &str, value: &[u8]) {
        let mut c = self.vault_cmd();
        c.args(["--passphrase-stdin", "set", "--raw", name]);
        let out = run(c, &with_pass(value));
        assert_status(&out, 0, &format!("set {name}"));
    }

    /// `vault --passphrase-stdin exec FLAGS -- CMD...`, ready to run.
    fn exec_cmd(&self, flags: &[&str], cmd: &[&str]) -> Command {
        let mut c = self.vault_cmd();
        c.args(["--passphrase-stdin", "exec"])
            .args(flags)
            .arg("--")
            .args(cmd);
        c
    }

    /// Runs `sh -c SCRIPT` under `vault exec FLAGS`, the passphrase on stdin.
    fn sh(&self, flags: &[&str], script: &str) -> Output {
        run(self.exec_cmd(flags, &["sh", "-c", script]), &with_pass(b""))
    }

    /// Writes a file under HOME; returns its path.
    fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.home.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// A file holding the passphrase, for `VAULT_PASSPHRASE_FILE`.
    fn pass_file(&self) -> PathBuf {
        self.write("passphrase", format!("{PASS}\n").as_bytes())
    }

    /// Every path under HOME and TMPDIR (relative, directories included).
    fn snapshot(&self) -> BTreeSet<PathBuf> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                out.insert(p.strip_prefix(root).unwrap().to_path_buf());
                if e.file_type().unwrap().is_dir() {
                    walk(root, &p, out);
                }
            }
        }
        let mut out = BTreeSet::new();
        let root = self.home.parent().unwrap();
        walk(root, &self.home, &mut out);
        walk(root, &self.tmp, &mut out);
        out
    }
}

/// The passphrase line followed by `rest`.
fn with_pass(rest: &[u8]) -> Vec<u8> {
    let mut v = format!("{PASS}\n").into_bytes();
    v.extend_from_slice(rest);
    v
}

/// Runs `c` with `stdin` as its standard input and collects its output;
/// panics (after killing it) if it runs past [`RUN_TIMEOUT`].
fn run(mut c: Command, stdin: &[u8]) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("starting the vault binary");
    let mut sin = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // The child may stop reading early: a broken pipe is fine.
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&data);
    });
    let out = finish(child, RUN_TIMEOUT);
    let _ = writer.join();
    out
}

/// Waits for `child` (stdout and stderr piped) at most `timeout`.
fn finish(mut child: Child, timeout: Duration) -> Output {
    let so = child.stdout.take().map(reader_thread);
    let se = child.stderr.take().map(reader_thread);
    let status = wait_timeout(&mut child, timeout);
    let stdout = so.map(|t| t.join().unwrap()).unwrap_or_default();
    let stderr = se.map(|t| t.join().unwrap()).unwrap_or_default();
    Output {
        status,
        stdout,
        stderr,
    }
}

fn reader_thread(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} still running after {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[track_caller]
fn assert_status(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A stream read incrementally by a thread, for tests of live output.
struct Live {
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

    /// Everything up to the end of the stream.
    fn rest(mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        while !self.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.buf.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Timeout) => panic!("stream still open after {timeout:?}"),
                Err(RecvTimeoutError::Disconnected) => self.eof = true,
            }
        }
        self.buf
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// `env` output as a map (single-line values only).
fn env_map(out: &[u8]) -> BTreeMap<String, String> {
    text(out)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Sends `sig` to process `pid`.
fn send_signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with a child's pid and a valid signal number.
    let r = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig})");
}

// ---------------------------------------------------------------------------
// Exit statuses, signals, resource limits, PID
// ---------------------------------------------------------------------------

#[test]
fn exit_statuses_propagate_with_and_without_mask() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    for flags in [&[][..], &["--mask"][..]] {
        for code in [0, 1, 42] {
            let out = w.sh(flags, &format!("exit {code}"));
            assert_status(&out, code, &format!("exec {flags:?} exit {code}"));
        }
    }
}

#[test]
fn death_by_signal_propagates_with_and_without_mask() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    for flags in [&[][..], &["--mask"][..]] {
        let out = w.sh(flags, "echo before; kill -TERM $$; echo after");
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGTERM),
            "exec {flags:?}: status {:?}, stderr: {}",
            out.status,
            text(&out.stderr)
        );
        assert_eq!(out.status.code(), None);
        assert_eq!(text(&out.stdout), "before\n");
    }
}

#[test]
fn child_core_limit_is_the_callers() {
    // SAFETY: getrlimit into a local.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut lim) }, 0);
    let mut soft: libc::rlim_t = 1234 * 1024;
    if lim.rlim_max != libc::RLIM_INFINITY && lim.rlim_max < soft {
        soft = lim.rlim_max;
    }
    if soft == 0 {
        eprintln!(
            "!!!!! SKIPPED child_core_limit_is_the_callers: the hard core-file limit is 0 here, \
             so the caller's limit cannot differ from the one vault sets on itself !!!!!"
        );
        return;
    }
    let hard = lim.rlim_max;
    let set_limit = move |c: &mut Command| {
        // SAFETY: only setrlimit (async-signal-safe) between fork and exec.
        unsafe {
            c.pre_exec(move || {
                let l = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_CORE, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    };
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let script = "ulimit -c; grep '^Max core file size' /proc/$$/limits";
    // What the shell reports for that limit when started directly.
    let mut direct = Command::new("sh");
    w.clean_env(&mut direct);
    direct.args(["-c", script]);
    set_limit(&mut direct);
    let base = run(direct, b"");
    assert_status(&base, 0, "sh without vault");
    let base = text(&base.stdout);
    let base_ulimit = base.lines().next().unwrap().to_string();
    assert_ne!(base_ulimit, "0", "the test limit did not take");

    for flags in [&[][..], &["--mask"][..]] {
        let mut c = w.exec_cmd(flags, &["sh", "-c", script]);
        set_limit(&mut c);
        let out = run(c, &with_pass(b""));
        assert_status(&out, 0, &format!("exec {flags:?}"));
        let got = text(&out.stdout);
        let mut lines = got.lines();
        assert_eq!(
            lines.next(),
            Some(base_ulimit.as_str()),
            "exec {flags:?}: ulimit -c in the child"
        );
        let limits = lines.next().expect("the /proc limits line");
        let fields: Vec<&str> = limits.split_whitespace().collect();
        assert_eq!(
            fields.get(4).copied(),
            Some(soft.to_string().as_str()),
            "exec {flags:?}: soft core limit in the child's /proc/PID/limits: {limits}"
        );
    }
}

#[test]
fn real_exec_keeps_the_pid() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let mut c = w.exec_cmd(&[], &["sh", "-c", "echo $$"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let pid = child.id();
    let mut sin = child.stdin.take().unwrap();
    sin.write_all(&with_pass(b"")).unwrap();
    drop(sin);
    let out = finish(child, RUN_TIMEOUT);
    assert_status(&out, 0, "exec echo $$");
    assert_eq!(text(&out.stdout).trim(), pid.to_string());
}

#[test]
fn missing_command_is_127_and_non_executable_is_126() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let script = w.write("not-executable.sh", b"#!/bin/sh\necho ran\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    for flags in [&[][..], &["--mask"][..]] {
        for missing in ["no-such-command-8d1e", "./no-such-file-8d1e"] {
            let out = run(w.exec_cmd(flags, &[missing]), &with_pass(b""));
            assert_status(&out, 127, &format!("exec {flags:?} {missing}"));
            let err = text(&out.stderr);
            assert!(
                err.contains(missing) && err.contains("not found"),
                "message for {missing}: {err}"
            );
            assert!(out.stdout.is_empty());
        }
        let out = run(w.exec_cmd(flags, &["./not-executable.sh"]), &with_pass(b""));
        assert_status(&out, 126, &format!("exec {flags:?} non-executable"));
        let err = text(&out.stderr);
        assert!(
            err.contains("not-executable.sh") && err.contains("permission denied"),
            "message for a non-executable file: {err}"
        );
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    }
}

// ---------------------------------------------------------------------------
// Environment: --only, passphrase variables, overrides, references
// ---------------------------------------------------------------------------

#[test]
fn only_restricts_the_environment() {
    let w = World::with(&[
        ("ALPHA", b"alpha-value-1"),
        ("BRAVO", b"bravo-value-2"),
        ("CHARLIE", b"charlie-value-3"),
    ]);
    let out = run(w.exec_cmd(&[], &["env"]), &with_pass(b""));
    assert_status(&out, 0, "exec env");
    let all = env_map(&out.stdout);
    assert_eq!(all.get("ALPHA").map(String::as_str), Some("alpha-value-1"));
    assert_eq!(all.get("BRAVO").map(String::as_str), Some("bravo-value-2"));
    assert_eq!(
        all.get("CHARLIE").map(String::as_str),
        Some("charlie-value-3")
    );

    let out = run(
        w.exec_cmd(&["--only", "ALPHA", "--only", "BRAVO"], &["env"]),
        &with_pass(b""),
    );
    assert_status(&out, 0, "exec --only ALPHA --only BRAVO env");
    let only = env_map(&out.stdout);
    assert_eq!(only.get("ALPHA").map(String::as_str), Some("alpha-value-1"));
    assert_eq!(only.get("BRAVO").map(String::as_str), Some("bravo-value-2"));
    assert!(!only.contains_key("CHARLIE"), "{only:?}");
    assert!(
        !text(&out.stdout).contains("charlie-value-3"),
        "the value of a secret outside --only reached the child"
    );
    // The inherited environment is still there.
    assert_eq!(
        only.get("HOME").map(PathBuf::from).as_deref(),
        Some(w.home.as_path())
    );
    assert!(only.contains_key("PATH"));
}

#[test]
fn unknown_only_name_is_5_and_nothing_runs() {
    let w = World::with(&[("ALPHA", b"alpha-value-1")]);
    for flags in [
        &["--only", "ALPHA", "--only", "NOPE"][..],
        &["--mask", "--only", "NOPE"][..],
    ] {
        let out = w.sh(flags, "touch ran-marker");
        assert_status(&out, 5, &format!("exec {flags:?}"));
        assert!(text(&out.stderr).contains("NOPE"), "{}", text(&out.stderr));
        assert!(!w.home.join("ran-marker").exists(), "the command ran");
    }
}

#[test]
fn passphrase_variables_are_not_passed_on() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let pass_file = w.pass_file();
    for flags in [&[][..], &["--mask"][..]] {
        // Unlocked through VAULT_PASSPHRASE.
        let mut c = w.vault_cmd();
        c.env("VAULT_PASSPHRASE", PASS)
            .arg("exec")
            .args(flags)
            .args(["--", "env"]);
        let out = run(c, b"");
        assert_status(&out, 0, &format!("exec {flags:?} with VAULT_PASSPHRASE"));
        let env = env_map(&out.stdout);
        assert!(env.contains_key("TOKEN"), "unlocked: {env:?}");
        assert!(!env.contains_key("VAULT_PASSPHRASE"), "{env:?}");
        assert!(!text(&out.stdout).contains(PASS));

        // Unlocked through VAULT_PASSPHRASE_FILE, with VAULT_PASSPHRASE set too.
        let mut c = w.vault_cmd();
        c.env("VAULT_PASSPHRASE_FILE", &pass_file)
            .env("VAULT_PASSPHRASE", PASS)
            .arg("exec")
            .args(flags)
            .args(["--", "env"]);
        let out = run(c, b"");
        assert_status(
            &out,
            0,
            &format!("exec {flags:?} with VAULT_PASSPHRASE_FILE"),
        );
        let env = env_map(&out.stdout);
        assert!(env.contains_key("TOKEN"), "unlocked: {env:?}");
        assert!(!env.contains_key("VAULT_PASSPHRASE_FILE"), "{env:?}");
        assert!(!env.contains_key("VAULT_PASSPHRASE"), "{env:?}");
        assert!(!text(&out.stdout).contains(PASS));
    }
}

#[test]
fn secret_overrides_inherited_variable() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let mut c = w.exec_cmd(&[], &["sh", "-c", "printf '%s\\n' \"$TOKEN\""]);
    c.env("TOKEN", "inherited-value");
    let out = run(c, &with_pass(b""));
    assert_status(&out, 0, "exec with an inherited TOKEN");
    assert_eq!(text(&out.stdout), format!("{TOKEN}\n"));
}

#[test]
fn references_get_the_secret_value() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes()), ("OTHER", b"other-value-5")]);
    let script = "printf '%s|%s|%s\\n' \"$DB_PASSWORD\" \"$NOT_A_REF\" \"$ALMOST\"";
    for flags in [&[][..], &["--only", "TOKEN"][..]] {
        let mut c = w.exec_cmd(flags, &["sh", "-c", script]);
        c.env("DB_PASSWORD", "vault:TOKEN")
            .env("NOT_A_REF", "vault:not a name")
            .env("ALMOST", " vault:TOKEN");
        let out = run(c, &with_pass(b""));
        assert_status(&out, 0, &format!("exec {flags:?} with a reference"));
        assert_eq!(
            text(&out.stdout),
            format!("{TOKEN}|vault:not a name| vault:TOKEN\n")
        );
    }
}

#[test]
fn unknown_reference_is_5_and_nothing_runs() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    for flags in [&[][..], &["--mask"][..]] {
        let mut c = w.exec_cmd(flags, &["sh", "-c", "touch ran-marker"]);
        c.env("DB_PASSWORD", "vault:NO_SUCH_SECRET");
        let out = run(c, &with_pass(b""));
        assert_status(&out, 5, &format!("exec {flags:?}, unknown reference"));
        let err = text(&out.stderr);
        assert!(err.contains("NO_SUCH_SECRET"), "{err}");
        assert!(!w.home.join("ran-marker").exists(), "the command ran");
    }
}

#[test]
fn reference_outside_only_is_5_and_nothing_runs() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes()), ("OTHER", b"other-value-5")]);
    let mut c = w.exec_cmd(
        &["--only", "TOKEN"],
        &["sh", "-c", "touch ran-marker; echo $STEAL"],
    );
    c.env("STEAL", "vault:OTHER");
    let out = run(c, &with_pass(b""));
    assert_status(&out, 5, "exec --only TOKEN with STEAL=vault:OTHER");
    let err = text(&out.stderr);
    assert!(err.contains("OTHER"), "{err}");
    assert!(!err.contains("other-value-5"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(!w.home.join("ran-marker").exists(), "the command ran");
}

// ---------------------------------------------------------------------------
// Standard input, values that cannot be environment variables
// ---------------------------------------------------------------------------

#[test]
fn passphrase_stdin_leaves_the_rest_for_the_child() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let mut data = b"id,name\n1,first line\n2,second\r\n\n".to_vec();
    data.extend((0..=255u8).cycle().take(3 * 256 + 17));
    data.extend_from_slice(b"\nlast line without newline");
    // Large enough that vault would have read into it with a buffered reader.
    data.extend(std::iter::repeat_n(b'z', 100_000));
    for flags in [&[][..], &["--mask"][..]] {
        let out = run(w.exec_cmd(flags, &["cat"]), &with_pass(&data));
        assert_status(&out, 0, &format!("exec {flags:?} cat"));
        assert!(
            out.stdout == data,
            "exec {flags:?}: the child's stdin differs ({} bytes, expected {})",
            out.stdout.len(),
            data.len()
        );
    }
}

#[test]
fn value_with_nul_is_refused_naming_it() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes()), ("BINARY", b"ab\0cd-efgh")]);
    for flags in [&[][..], &["--mask"][..]] {
        let out = w.sh(flags, "touch ran-marker");
        assert_status(&out, 1, &format!("exec {flags:?}, a NUL in a value"));
        let err = text(&out.stderr);
        assert!(
            err.contains("BINARY"),
            "the message names the secret: {err}"
        );
        assert!(err.contains("--file"), "the message suggests --file: {err}");
        assert!(!w.home.join("ran-marker").exists(), "the command ran");
    }
    // Not injected: not a problem.
    let out = w.sh(&["--only", "TOKEN"], "echo ok");
    assert_status(&out, 0, "exec --only TOKEN");
}

#[test]
fn value_over_the_env_limit_is_refused_naming_it() {
    // Linux allows 128 KiB for `NAME=value` and its NUL: FIT is exactly that.
    let fit = vec![b'f'; 128 * 1024 - "FIT=".len() - 1];
    let big = vec![b'b'; 128 * 1024 - "BIG=".len()];
    let w = World::with(&[("TOKEN", TOKEN.as_bytes()), ("FIT", &fit), ("BIG", &big)]);
    for flags in [&[][..], &["--mask"][..]] {
        let out = w.sh(flags, "touch ran-marker");
        assert_status(&out, 1, &format!("exec {flags:?}, a value over 128 KiB"));
        let err = text(&out.stderr);
        assert!(err.contains("BIG"), "the message names the secret: {err}");
        assert!(!err.contains("FIT"), "FIT fits: {err}");
        assert!(err.contains("--file"), "the message suggests --file: {err}");
        assert!(!w.home.join("ran-marker").exists(), "the command ran");
    }
    let out = w.sh(&["--only", "FIT"], "echo ${#FIT}");
    assert_status(&out, 0, "exec --only FIT");
    assert_eq!(text(&out.stdout), format!("{}\n", fit.len()));
}

// ---------------------------------------------------------------------------
// render
// ---------------------------------------------------------------------------

const RENDER_TEMPLATE: &str = "a=${secrets.ALPHA}
lit=$${secrets.ALPHA} and $${
ml=${secrets.ML}
dollar=${secrets.DOLLAR}
nested=${secrets.NESTED}
keep=$HOME ${HOME} $$ $ ${secret.ALPHA} end";

const RENDER_EXPECTED: &str = "a=alpha-value
lit=${secrets.ALPHA} and ${
ml=line one
line two

line four
dollar=p$ss$$w${x}rd$
nested=${secrets.ALPHA} and $${secrets.ALPHA}
keep=$HOME ${HOME} $$ $ ${secret.ALPHA} end";

fn render_world() -> World {
    World::with(&[
        ("ALPHA", b"alpha-value"),
        ("ML", b"line one\nline two\n\nline four"),
        ("DOLLAR", b"p$ss$$w${x}rd$"),
        ("NESTED", b"${secrets.ALPHA} and $${secrets.ALPHA}"),
    ])
}

#[test]
fn render_replaces_placeholders_verbatim() {
    let w = render_world();
    w.write("t.tmpl", RENDER_TEMPLATE.as_bytes());
    let mut c = w.vault_cmd();
    c.args(["--passphrase-stdin", "render", "t.tmpl"]);
    let out = run(c, &with_pass(b""));
    assert_status(&out, 0, "render t.tmpl");
    assert_eq!(text(&out.stdout), RENDER_EXPECTED);
}

#[test]
fn render_from_stdin_after_the_passphrase_line() {
    let w = render_world();
    for args in [&["render", "-"][..], &["render"][..]] {
        let mut c = w.vault_cmd();
        c.arg("--passphrase-stdin").args(args);
        let out = run(c, &with_pass(RENDER_TEMPLATE.as_bytes()));
        assert_status(&out, 0, &format!("{args:?} from stdin"));
        assert_eq!(text(&out.stdout), RENDER_EXPECTED);
    }
    // Errors on stdin are located too.
    let mut c = w.vault_cmd();
    c.args(["--passphrase-stdin", "render", "-"]);
    let out = run(c, &with_pass(b"a=${secrets.ALPHA}\n  ${secrets.NOPE}\n"));
    assert_status(&out, 5, "render - with an unknown name");
    assert!(text(&out.stderr).contains("2:3"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[test]
fn render_errors_give_the_position_and_print_nothing() {
    let w = render_world();
    // (template, exit code, what the message must contain)
    let cases: [(&str, i32, &[&str]); 5] = [
        (
            "a=${secrets.ALPHA}\nx  ${secrets.NOPE}\n",
            5,
            &["NOPE", "t.tmpl:2:4"],
        ),
        ("a=${secrets.ALPHA}\n\nabc${secrets.}\n", 2, &["t.tmpl:3:4"]),
        (
            "a=${secrets.ALPHA}\n  ${secrets.ALPHA\nmore ${secrets.ALPHA}\n",
            2,
            &["t.tmpl:2:3"],
        ),
        ("a=${secrets.ALPHA}\n${secrets.ALPHA", 2, &["t.tmpl:2:1"]),
        ("a=${secrets.ALPHA} ${secrets.9X}\n", 2, &["t.tmpl:1:20"]),
    ];
    for (template, code, needles) in cases {
        w.write("t.tmpl", template.as_bytes());
        let mut c = w.vault_cmd();
        c.args(["--passphrase-stdin", "render", "t.tmpl"]);
        let out = run(c, &with_pass(b""));
        assert_status(&out, code, &format!("render {template:?}"));
        let err = text(&out.stderr);
        for n in needles {
            assert!(err.contains(n), "render {template:?}: {n} not in: {err}");
        }
        assert!(
            out.stdout.is_empty(),
            "render {template:?} printed {:?}",
            text(&out.stdout)
        );
        assert!(!err.contains("alpha-value"), "{err}");
    }
}

// ---------------------------------------------------------------------------
// --file
// ---------------------------------------------------------------------------

#[test]
fn file_is_in_memory_sealed_and_readable_twice() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes()), ("USER", b"db-user-name")]);
    w.write(
        "creds.tmpl",
        b"[default]\nuser=${secrets.USER}\npassword=${secrets.TOKEN}\nliteral=$${x}\n",
    );
    let rendered = format!("[default]\nuser=db-user-name\npassword={TOKEN}\nliteral=${{x}}\n");
    let script = r#"
        printf 'path=%s\n' "$CREDS"
        first=$(cat "$CREDS"; echo .)
        second=$(cat "$CREDS"; echo .)
        if echo tamper >> "$CREDS"; then echo APPEND-WORKED; else echo append-refused; fi
        if printf x 1<> "$CREDS"; then echo OVERWRITE-WORKED; else echo overwrite-refused; fi
        if ( : > "$CREDS" ) 2>/dev/null; then echo TRUNCATE-WORKED; else echo truncate-refused; fi
        printf 'mode=%s\n' "$(stat -L -c %a "$CREDS")"
        third=$(cat "$CREDS"; echo .)
        [ "$first" = "$second" ] && echo same-twice
        [ "$first" = "$third" ] && echo unchanged
        printf '%s' "$first"
    "#;
    let before = w.snapshot();
    for flags in [&[][..], &["--mask"][..]] {
        let mut all = vec!["--file", "CREDS=creds.tmpl"];
        all.extend_from_slice(flags);
        let out = w.sh(&all, script);
        assert_status(&out, 0, &format!("exec {flags:?} --file"));
        let got = text(&out.stdout);
        let mut lines = got.lines();
        let path = lines.next().unwrap().strip_prefix("path=").unwrap();
        assert!(path.starts_with("/dev/fd/"), "path: {path}");
        assert_eq!(lines.next(), Some("append-refused"), "{got}");
        assert_eq!(lines.next(), Some("overwrite-refused"), "{got}");
        assert_eq!(lines.next(), Some("truncate-refused"), "{got}");
        assert_eq!(lines.next(), Some("mode=600"), "{got}");
        assert_eq!(lines.next(), Some("same-twice"), "{got}");
        assert_eq!(lines.next(), Some("unchanged"), "{got}");
        let content = got.split_once("unchanged\n").unwrap().1;
        let expected = if flags.is_empty() {
            format!("{rendered}.")
        } else {
            // Masked: the value in the file is an injected one.
            format!(
                "{}.",
                rendered
                    .replace(TOKEN, "***")
                    .replace("db-user-name", "***")
            )
        };
        assert_eq!(content, expected, "exec {flags:?}: the file's content");
        assert_eq!(
            w.snapshot(),
            before,
            "exec {flags:?} --file created or removed files under HOME or TMPDIR"
        );
    }
}

#[test]
fn file_errors_run_nothing() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes()), ("USER", b"db-user-name")]);
    w.write(
        "unknown.tmpl",
        b"user=${secrets.USER}\npw = ${secrets.NOPE}\n",
    );
    w.write("bad.tmpl", b"user=${secrets.USER}\n\n  ${secrets.}\n");
    w.write("ok.tmpl", b"user=${secrets.USER}\npw=${secrets.TOKEN}\n");
    // (flags, exit code, what the message must contain)
    let cases: [(&[&str], i32, &[&str]); 5] = [
        (
            &["--file", "CFG=unknown.tmpl"],
            5,
            &["NOPE", "unknown.tmpl:2:6"],
        ),
        (&["--file", "CFG=bad.tmpl"], 2, &["bad.tmpl:3:3"]),
        (
            &["--only", "USER", "--file", "CFG=ok.tmpl"],
            5,
            &["TOKEN", "ok.tmpl:2:4"],
        ),
        (&["--file", "CFG=missing.tmpl"], 1, &["missing.tmpl"]),
        (&["--file", "1CFG=ok.tmpl"], 2, &["VAR"]),
    ];
    let before = w.snapshot();
    for (flags, code, needles) in cases {
        for mask in [&[][..], &["--mask"][..]] {
            let mut all = flags.to_vec();
            all.extend_from_slice(mask);
            let out = w.sh(&all, "touch ran-marker; cat \"$CFG\"");
            assert_status(&out, code, &format!("exec {all:?}"));
            let err = text(&out.stderr);
            for n in needles {
                assert!(err.contains(n), "exec {all:?}: {n} not in: {err}");
            }
            assert!(!err.contains("db-user-name"), "{err}");
            assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
            assert!(!w.home.join("ran-marker").exists(), "exec {all:?}: it ran");
        }
    }
    assert_eq!(w.snapshot(), before);
}

#[test]
fn child_inherits_no_descriptor_of_the_vault_or_passphrase_files() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let pass_file = w.pass_file();
    w.write("ok.tmpl", b"pw=${secrets.TOKEN}\n");
    let script =
        "for f in /proc/$$/fd/*; do printf '%s -> %s\\n' \"$f\" \"$(readlink \"$f\")\"; done";
    for mask in [&[][..], &["--mask"][..]] {
        let mut c = w.vault_cmd();
        c.env("VAULT_PASSPHRASE_FILE", &pass_file)
            .arg("exec")
            .args(["--file", "CFG=ok.tmpl"])
            .args(mask)
            .args(["--", "sh", "-c", script]);
        let out = run(c, b"");
        assert_status(&out, 0, &format!("exec {mask:?}"));
        let fds = text(&out.stdout);
        assert!(fds.contains("/memfd:"), "the --file descriptor: {fds}");
        for line in fds.lines() {
            assert!(
                !line.contains(w.home.to_str().unwrap()),
                "exec {mask:?}: the child holds a descriptor of a file under HOME: {line}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// --mask
// ---------------------------------------------------------------------------

#[test]
fn mask_catches_a_value_written_in_two_pieces() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let (a, b) = TOKEN.split_at(9);
    let out = w.sh(
        &["--mask"],
        &format!("printf 'A:{a}'; sleep 0.3; printf '{b}:B\\n'"),
    );
    assert_status(&out, 0, "exec --mask");
    assert_eq!(text(&out.stdout), "A:***:B\n");
}

#[test]
fn mask_on_stderr_and_streams_stay_apart() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let out = w.sh(
        &["--mask"],
        "printf 'err %s\\n' \"$TOKEN\" >&2; printf 'out %s\\n' \"$TOKEN\"; echo plain-err >&2",
    );
    assert_status(&out, 0, "exec --mask");
    assert_eq!(text(&out.stdout), "out ***\n");
    assert_eq!(text(&out.stderr), "err ***\nplain-err\n");
}

#[test]
fn mask_keeps_order_within_each_stream() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes()), ("OTHER", b"other-value-5")]);
    let script = r#"
        i=1
        while [ $i -le 100 ]; do
            printf 'line %d %s\n' $i "$TOKEN"
            printf 'err %d %s%s\n' $i "$OTHER" "$TOKEN" >&2
            [ $((i % 10)) -eq 0 ] && printf 'x%sy\n' "$OTHER"
            i=$((i + 1))
        done
    "#;
    let out = w.sh(&["--mask"], script);
    assert_status(&out, 0, "exec --mask");
    let mut want_out = String::new();
    let mut want_err = String::new();
    for i in 1..=100 {
        want_out.push_str(&format!("line {i} ***\n"));
        want_err.push_str(&format!("err {i} ******\n"));
        if i % 10 == 0 {
            want_out.push_str("x***y\n");
        }
    }
    assert_eq!(text(&out.stdout), want_out);
    assert_eq!(text(&out.stderr), want_err);
}

#[test]
fn mask_output_is_live() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let (a, b) = TOKEN.split_at(9);
    // A line, then the start of a secret: everything before the secret's
    // start must be passed on at once; the child then sleeps 2 s.
    let script = format!("echo first line; printf 'A:{a}'; sleep 2; printf '{b}:B\\n'");
    let mut c = w.exec_cmd(&["--mask"], &["sh", "-c", &script]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut sin = child.stdin.take().unwrap();
    sin.write_all(&with_pass(b"")).unwrap();
    drop(sin);
    let mut out = Live::new(child.stdout.take().unwrap());
    let err = reader_thread(child.stderr.take().unwrap());
    let arrived = out.wait_for(b"first line\nA:", LIVE_TIMEOUT);
    let t_arrived = Instant::now();
    let running = child.try_wait().unwrap().is_none();
    assert!(
        arrived,
        "no live output within {LIVE_TIMEOUT:?}: {:?}",
        text(&out.buf)
    );
    assert_eq!(
        text(&out.buf),
        "first line\nA:",
        "only the possible secret start is held back"
    );
    assert!(running, "vault had already exited when the output arrived");
    let status = wait_timeout(&mut child, RUN_TIMEOUT);
    let waited = t_arrived.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "the output arrived only {waited:?} before the child exited (it sleeps 2 s)"
    );
    let all = out.rest(RUN_TIMEOUT);
    let err = err.join().unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {}", text(&err));
    assert_eq!(text(&all), "first line\nA:***:B\n");
}

#[test]
fn mask_short_values_are_not_masked_and_named_in_a_warning() {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes()), ("SHORTV", b"ab7")]);
    let out = w.sh(
        &["--mask"],
        "printf 'x%sy %s\\n' \"$SHORTV\" \"$TOKEN\"; echo 'cab7 ab7'",
    );
    assert_status(&out, 0, "exec --mask");
    assert_eq!(text(&out.stdout), "xab7y ***\ncab7 ab7\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("SHORTV"),
        "the warning names the short secret: {err}"
    );
    assert!(!err.contains("TOKEN"), "TOKEN is masked: {err}");
}

#[test]
fn mask_multiline_value_printed_with_crlf() {
    let key = "-----BEGIN TEST KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\nQ2hlbGxvV29ybGQxMjM0NTY3\nshort}\n-----END TEST KEY-----";
    let w = World::with(&[("KEY", key.as_bytes())]);
    // As stored (LF), then with CRLF line endings.
    let script = r#"printf '%s\n' "$KEY"; printf '%s\n' "$KEY" | sed 's/$/\r/'"#;
    let out = w.sh(&["--mask"], script);
    assert_status(&out, 0, "exec --mask");
    let got = text(&out.stdout);
    assert!(!got.contains("MIIBOgIBAAJBAKj34GkxFhD9"), "{got:?}");
    assert!(!got.contains("Q2hlbGxvV29ybGQxMjM0NTY3"), "{got:?}");
    assert_eq!(
        got,
        "***\n-----BEGIN TEST KEY-----\r\n***\r\n***\r\nshort}\r\n-----END TEST KEY-----\r\n"
    );
}

// ---------------------------------------------------------------------------
// Signals under --mask
// ---------------------------------------------------------------------------

/// SIGKILLs `child` and its own children (so a failed test leaves no
/// orphan behind).
fn kill_with_children(child: &mut Child) {
    let pid = child.id();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
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
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs a child trapping `sig_name` under `vault exec --mask`, waits for it
/// to be ready, sends `sig` to vault and checks the child got it.
fn signal_reaches_masked_child(sig: libc::c_int, sig_name: &str, code: i32) {
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let pass_file = w.pass_file();
    let script = format!(
        "trap 'echo got-{sig_name} \"$TOKEN\"; exit {code}' {sig_name}; echo ready; \
         i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; echo no-signal; exit 99"
    );
    let mut c = w.vault_cmd();
    c.env("VAULT_PASSPHRASE_FILE", &pass_file)
        .args(["exec", "--mask", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut out = Live::new(child.stdout.take().unwrap());
    let err = reader_thread(child.stderr.take().unwrap());
    if !out.wait_for(b"ready\n", LIVE_TIMEOUT) {
        kill_with_children(&mut child);
        panic!("child not ready: {:?}", text(&out.buf));
    }
    send_signal(child.id(), sig);
    if !out.wait_for(b"got-", LIVE_TIMEOUT) {
        kill_with_children(&mut child);
        panic!(
            "SIG{sig_name} sent to vault did not reach the child within {LIVE_TIMEOUT:?}: {:?}",
            text(&out.buf)
        );
    }
    let status = wait_timeout(&mut child, RUN_TIMEOUT);
    let all = text(&out.rest(RUN_TIMEOUT));
    let err = text(&err.join().unwrap());
    assert_eq!(
        all,
        format!("ready\ngot-{sig_name} ***\n"),
        "SIG{sig_name}; stderr: {err}"
    );
    assert_eq!(
        status.code(),
        Some(code),
        "SIG{sig_name}: status {status:?}; stderr: {err}"
    );
}

#[test]
fn sigterm_to_masked_vault_reaches_the_child() {
    signal_reaches_masked_child(libc::SIGTERM, "TERM", 7);
}

#[test]
fn sigint_sent_by_kill_to_masked_vault_is_forwarded() {
    signal_reaches_masked_child(libc::SIGINT, "INT", 8);
}

#[test]
fn sighup_and_sigquit_to_masked_vault_are_forwarded() {
    signal_reaches_masked_child(libc::SIGHUP, "HUP", 9);
    signal_reaches_masked_child(libc::SIGQUIT, "QUIT", 10);
}

/// A new pseudo-terminal: (master, path of the slave).
fn open_pty() -> std::io::Result<(std::fs::File, PathBuf)> {
    use std::os::fd::FromRawFd;
    let err = std::io::Error::last_os_error;
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on a descriptor we
    // own, into a local buffer; every result is checked.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if m < 0 {
            return Err(err());
        }
        let master = std::fs::File::from_raw_fd(m);
        if libc::grantpt(m) != 0 || libc::unlockpt(m) != 0 {
            return Err(err());
        }
        let mut name = [0 as libc::c_char; 128];
        let r = libc::ptsname_r(m, name.as_mut_ptr(), name.len());
        if r != 0 {
            return Err(std::io::Error::from_raw_os_error(r));
        }
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        Ok((master, PathBuf::from(path)))
    }
}

/// Skips a test loudly, or fails it under CI=true.
fn skip(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}; CI=true requires it");
    }
    eprintln!("\n!!!!! SKIPPED {test}: {why} !!!!!\n");
}

/// Ctrl-C at a terminal reaches the whole foreground process group, the
/// child included: `vault --mask` must not forward that SIGINT a second time.
/// vault runs on a pseudo-terminal as its controlling terminal; `strace -p`
/// (attached once the child is ready) shows the SIGINT vault received from
/// the terminal and every kill(2) it makes.
#[test]
fn terminal_ctrl_c_is_not_forwarded_twice() {
    if !strace_available() {
        return;
    }
    let w = World::with(&[("TOKEN", TOKEN.as_bytes())]);
    let pass_file = w.pass_file();
    let (mut master, slave_path) = match open_pty() {
        Ok(p) => p,
        Err(e) => {
            return skip(
                "terminal_ctrl_c_is_not_forwarded_twice",
                &format!("no pseudo-terminal: {e}"),
            )
        }
    };
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&slave_path)
        .unwrap();
    let script = "trap 'echo got-INT' INT; echo ready; \
                  i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done; echo no-signal";
    let mut c = w.vault_cmd();
    c.env("VAULT_PASSPHRASE_FILE", &pass_file)
        .args(["exec", "--mask", "--", "sh", "-c", script])
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only ioctl (async-signal-safe) between fork and exec; the
    // session of its own was made by clean_env's setsid, which runs first.
    unsafe {
        c.pre_exec(|| {
            if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut vault = c.spawn().unwrap();
    let vault_pid = vault.id();
    let mut out = Live::new(vault.stdout.take().unwrap());
    let err = reader_thread(vault.stderr.take().unwrap());
    if !out.wait_for(b"ready\n", LIVE_TIMEOUT) {
        kill_with_children(&mut vault);
        panic!("child not ready: {:?}", text(&out.buf));
    }

    let log = w.tmp.join("strace-ctrl-c.log");
    let mut st = Command::new("strace");
    w.clean_env(&mut st);
    st.args(["-f", "-e", "trace=kill,tgkill,tkill", "-o"])
        .arg(&log)
        .args(["-p", &vault_pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut strace = st.spawn().unwrap();
    let mut st_err = Live::new(strace.stderr.take().unwrap());
    if !st_err.wait_for(b"attached", LIVE_TIMEOUT) {
        kill_with_children(&mut vault);
        let _ = strace.kill();
        let _ = strace.wait();
        let why = format!(
            "strace cannot attach to vault: {}",
            text(&st_err.rest(RUN_TIMEOUT))
        );
        return skip("terminal_ctrl_c_is_not_forwarded_twice", &why);
    }

    // Ctrl-C typed at the terminal.
    master.write_all(b"\x03").unwrap();
    let got = out.wait_for(b"got-INT\n", LIVE_TIMEOUT);
    // Time for a (wrong) forwarded SIGINT to show up in the trace.
    std::thread::sleep(Duration::from_millis(500));
    send_signal(vault_pid, libc::SIGTERM);
    let status = wait_timeout(&mut vault, RUN_TIMEOUT);
    let st_status = wait_timeout(&mut strace, RUN_TIMEOUT);
    let all = text(&out.rest(RUN_TIMEOUT));
    let err = text(&err.join().unwrap());
    let trace = std::fs::read_to_string(&log).unwrap_or_default();
    drop(master);
    assert!(got, "the child did not get the terminal's SIGINT: {all:?}");
    assert!(
        trace.contains("--- SIGINT") && trace.contains("SI_KERNEL"),
        "vault did not receive the terminal's SIGINT (strace {st_status:?}):\n{trace}"
    );
    assert!(
        !trace.contains("SIGINT)"),
        "vault forwarded the terminal's SIGINT to the child:\n{trace}"
    );
    assert!(
        trace.contains("SIGTERM)"),
        "the SIGTERM sent afterwards was not forwarded:\n{trace}"
    );
    assert_eq!(all, "ready\ngot-INT\n", "stderr: {err}");
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "vault's status {status:?}; stderr: {err}"
    );
}

// ---------------------------------------------------------------------------
// strace: no secret is written to a file
// ---------------------------------------------------------------------------

fn strace_available() -> bool {
    let ok = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        skip(
            "a strace test",
            "strace is not installed (apt-get install strace; scripts/deps.sh does)",
        );
    }
    ok
}

/// `\xNN` for every byte, as `strace -xx` prints strings.
fn hex_escaped(b: &[u8]) -> String {
    b.iter().map(|c| format!("\\x{c:02x}")).collect()
}

/// Decodes `\xNN` escapes (the rest verbatim).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 2..i + 4], 16) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    text(&out)
}

/// The path `strace -y` gives the descriptor that is the first argument of
/// the system call on `line`, e.g. `pipe:[123]` or `/memfd:name`.
fn first_fd_path(line: &str) -> Option<String> {
    let args = &line[line.find('(')? + 1..];
    let digits = args.find(|c: char| !c.is_ascii_digit())?;
    let rest = args[digits..].strip_prefix('<')?;
    Some(unescape(&rest[..rest.find('>')?]))
}

/// Runs `c` (a vault command line; the program is not used) under
/// `strace -f`, and checks that every traced write carrying `secret` goes to
/// a pipe or a memfd, that at least one does, and that nothing written
/// carries the passphrase. Returns the command's output.
fn assert_secret_only_in_pipes_and_memfds(
    w: &World,
    what: &str,
    vault_args: &[&str],
    secret: &[u8],
    stdin: &[u8],
) -> Output {
    let log = w.tmp.join(format!("strace-{}.log", what.replace(' ', "-")));
    let mut c = Command::new("strace");
    w.clean_env(&mut c);
    c.args(["-f", "-y", "-xx", "-s", "1000000", "-o"])
        .arg(&log)
        .args(["-e", "trace=write,pwrite64,writev,pwritev,pwritev2"])
        .args(["--", bin(), "--vault"])
        .arg(&w.vault)
        .args(vault_args);
    let out = run(c, stdin);
    let log_text = std::fs::read_to_string(&log).expect("the strace log");
    std::fs::remove_file(&log).unwrap();
    let needle = hex_escaped(secret);
    let pass_needle = hex_escaped(PASS.as_bytes());
    let mut seen = 0;
    for line in log_text.lines() {
        assert!(
            !line.contains(&pass_needle),
            "{what}: the passphrase was written: {line}"
        );
        if !line.contains(&needle) {
            continue;
        }
        let path = first_fd_path(line)
            .unwrap_or_else(|| panic!("{what}: cannot tell where this write goes: {line}"));
        assert!(
            path.starts_with("pipe:[") || path.starts_with("/memfd:"),
            "{what}: the secret was written to {path}: {}",
            unescape(line)
        );
        seen += 1;
    }
    assert!(
        seen > 0,
        "{what}: no traced write carried the secret; is the trace complete?\n\
         status {:?}, stderr (strace's and vault's): {}\nlog:\n{}",
        out.status,
        text(&out.stderr),
        unescape(&log_text)
    );
    out
}

#[test]
fn strace_no_secret_is_written_to_a_file() {
    if !strace_available() {
        return;
    }
    let secret = b"strace-canary-5be1c9d0-value";
    let w = World::with(&[("TOKEN", secret), ("OTHER", b"other-value-5")]);
    w.write("cfg.tmpl", b"[x]\ntoken=${secrets.TOKEN}\n");
    let want = format!("{}\n", text(secret));

    let out = assert_secret_only_in_pipes_and_memfds(
        &w,
        "exec",
        &[
            "--passphrase-stdin",
            "exec",
            "--",
            "sh",
            "-c",
            "printf '%s\\n' \"$TOKEN\"",
        ],
        secret,
        &with_pass(b""),
    );
    assert_status(&out, 0, "exec under strace");
    assert_eq!(text(&out.stdout), want);

    let out = assert_secret_only_in_pipes_and_memfds(
        &w,
        "exec --file",
        &[
            "--passphrase-stdin",
            "exec",
            "--file",
            "CFG=cfg.tmpl",
            "--",
            "sh",
            "-c",
            "cat \"$CFG\"",
        ],
        secret,
        &with_pass(b""),
    );
    assert_status(&out, 0, "exec --file under strace");
    assert_eq!(text(&out.stdout), format!("[x]\ntoken={}", want));

    let out = assert_secret_only_in_pipes_and_memfds(
        &w,
        "render",
        &["--passphrase-stdin", "render", "cfg.tmpl"],
        secret,
        &with_pass(b""),
    );
    assert_status(&out, 0, "render under strace");
    assert_eq!(text(&out.stdout), format!("[x]\ntoken={}", want));

    let out = assert_secret_only_in_pipes_and_memfds(
        &w,
        "exec --mask",
        &[
            "--passphrase-stdin",
            "exec",
            "--mask",
            "--",
            "sh",
            "-c",
            "printf '%s\\n' \"$TOKEN\"",
        ],
        secret,
        &with_pass(b""),
    );
    assert_status(&out, 0, "exec --mask under strace");
    assert_eq!(text(&out.stdout), "***\n");
}
