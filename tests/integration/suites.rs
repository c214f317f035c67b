//! The fault, attack, rollback and memory-hygiene suites of issue 4, run
//! against the real `vault` binary (harness: `common`, a fresh temp HOME and
//! a clean environment per test).
//!
//! - crash: SIGKILL at random moments during `set` on a vault of a few MB;
//! - disk full (a 1 MiB tmpfs, as root), read-only directory, a directory,
//!   a FIFO, dangling and looping symbolic links as the vault path, the
//!   write lock held by another process;
//! - concurrency: P processes x K mixed set/delete/get on one vault, checked
//!   for lost updates and against the real-time order of the operations;
//! - attack: every byte flip and truncation of a two-slot vault, slots and
//!   bodies swapped between vaults, KDF parameters beyond the bounds, an
//!   unknown version, and a table of bad inputs that must leave the vault's
//!   bytes unchanged;
//! - rollback memory;
//! - memory: `gcore` of a `vault exec --mask` run by an unprivileged user.
//!
//! The defaults are the full counts (200 kills, 16 processes x 50
//! operations): the whole binary takes well under a minute on 2 cores.
//! `VAULT_SUITE_KILLS`, `VAULT_SUITE_PROCS` and `VAULT_SUITE_OPS` change them;
//! `scripts/suites-full.sh` runs the suites one test at a time and collects
//! the figures. Every figure is
//! printed on the real stderr (not captured by the test harness) with the
//! prefix `[suites]`, and appended to the file `$VAULT_SUITE_REPORT` if set.
//!
//! A test that needs something this machine lacks (root, mount, gdb, flock)
//! prints a loud `*** SKIPPED ***` line, and fails instead when `CI=true`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// The second passphrase of the two-slot vaults.
const PASS2: &str = "second passphrase, second slot";

/// The unprivileged uid/gid the root-only tests run `vault` as (`nobody`
/// on Debian; numeric, so it works without a passwd entry).
const NOBODY: u32 = 65534;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// Prints a figure on the real stderr (not captured by libtest) and appends
/// it to `$VAULT_SUITE_REPORT` if that is set.
fn figure(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "[suites] {line}");
    if let Some(p) = std::env::var_os("VAULT_SUITE_REPORT").filter(|v| !v.is_empty()) {
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(p) {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn on_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// `true` if `ok`; otherwise fails the test on CI (which must provide
/// `what`) or prints a loud SKIPPED line and returns `false`.
fn need(test: &str, what: &str, ok: bool) -> bool {
    if ok {
        return true;
    }
    if on_ci() {
        panic!("{test}: CI must provide {what}, but it is missing here");
    }
    figure(&format!(
        "\n\n*** SKIPPED: {test}: needs {what} (this would fail under CI=true) ***\n"
    ));
    false
}

fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `prog` is found in PATH.
fn in_path(prog: &str) -> bool {
    which(prog).is_some()
}

/// A count from the environment, else `default`.
fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// `vault --vault PATH --passphrase-stdin ARGS` with `pass` then `rest` on
/// stdin.
fn at(s: &Sandbox, path: &Path, pass: &str, rest: &[u8], args: &[&str]) -> Cmd {
    s.cmd()
        .arg("--vault")
        .arg(path)
        .arg("--passphrase-stdin")
        .args(args)
        .stdin(stdin_lines(pass, rest))
}

/// The leftover temp files `.NAME.tmp-*` of the vault at `path`.
fn temps(path: &Path) -> Vec<String> {
    let prefix = format!(".{}.tmp-", path.file_name().unwrap().to_string_lossy());
    let mut v: Vec<String> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    v.sort();
    v
}

/// Creates a vault at `path` with two passphrase slots ([`PASS`], [`PASS2`]).
fn init_two_slots(s: &Sandbox, path: &Path) {
    at(s, path, PASS, b"", &["init"]).args(KDF).run().success();
    at(
        s,
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

/// Runs any program (not necessarily `vault`) to completion within
/// `timeout`, stdin from /dev/null; fails the test on a hang.
fn run_prog(mut c: Command, label: &str, timeout: Duration) -> Out {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {label}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{label}` did not finish within {timeout:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    use std::os::unix::process::ExitStatusExt;
    let out = Out {
        label: label.to_string(),
        code: status.code(),
        signal: status.signal(),
        stdout: t_out.join().unwrap(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
        elapsed: start.elapsed(),
    };
    assert!(!out.stderr.contains("panicked"), "panicked:{out:?}");
    out
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Mounted(PathBuf);

impl Mounted {
    /// Mounts a tmpfs of `size` (e.g. "1M") on `dir`; `Err` says why not.
    fn tmpfs(dir: &Path, size: &str) -> Result<Mounted, String> {
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Mounted(dir.to_path_buf()))
    }

    fn remount(&self, opts: &str) {
        let st = Command::new("mount")
            .arg("-o")
            .arg(format!("remount,{opts}"))
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount {opts} of {}", self.0.display());
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// What an unprivileged user needs to run `vault`: a 0755 directory under
/// the sandbox with the binary (hard-linked or copied: the build directory
/// may not be reachable for other users) and a HOME owned by the user.
struct Unpriv {
    bin: PathBuf,
    home: PathBuf,
    dir: PathBuf,
}

impl Unpriv {
    fn new(s: &Sandbox) -> Unpriv {
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

    /// `setpriv` to uid/gid [`NOBODY`] running `prog`, clean environment.
    fn command(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .arg("--clear-groups")
            .arg("--")
            .arg(prog)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .current_dir(&self.dir);
        c
    }

    /// `vault --vault PATH --passphrase-file PASSFILE ARGS` as the user.
    fn vault(&self, path: &Path, passfile: &Path, args: &[&str]) -> Command {
        let mut c = self.command(&self.bin);
        c.arg("--vault")
            .arg(path)
            .arg("--passphrase-file")
            .arg(passfile)
            .args(args);
        c
    }
}

/// chown -R to [`NOBODY`].
fn chown_tree(p: &Path) {
    std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
    if fs::symlink_metadata(p).unwrap().is_dir() {
        for e in fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path());
        }
    }
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// `bytes` with the only occurrence of `from` in the header replaced by `to`.
fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = find_one(&bytes[..header_end(bytes)], from);
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&bytes[at + from.len()..]);
    out
}

/// Adds `delta` to the header length field (bytes 10..14).
fn adjust_header_len(bytes: &mut [u8], delta: i64) {
    let h = u32::from_be_bytes(bytes[10..14].try_into().unwrap()) as i64 + delta;
    bytes[10..14].copy_from_slice(&(h as u32).to_be_bytes());
}

/// The generation in the vault header (`key list --json`, no unlock).
fn generation(s: &Sandbox, path: &Path) -> u64 {
    s.cmd()
        .arg("--vault")
        .arg(path)
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json()["generation"]
        .as_u64()
        .expect("generation")
}

// ---------------------------------------------------------------------------
// crash: SIGKILL during set
// ---------------------------------------------------------------------------

/// A large value, distinct for each `n`.
fn big_value(n: usize) -> Vec<u8> {
    let mut v = format!("BIG-{n:06}-").into_bytes();
    let len = 512 * 1024;
    v.extend((0..len - v.len()).map(|i| (i.wrapping_mul(31).wrapping_add(n * 7)) as u8));
    v
}

fn filler_value(i: usize) -> Vec<u8> {
    (0..100_000)
        .map(|j| ((j * 13 + i * 101) % 251) as u8)
        .collect()
}

#[test]
fn crash_sigkill_at_random_moments_during_set_leaves_old_or_new_value() {
    let kills = count("VAULT_SUITE_KILLS", 200);
    let start = Instant::now();
    let s = Sandbox::new();
    s.init();
    for i in 0..40 {
        s.set(&format!("FILL{i:02}"), &filler_value(i));
    }
    s.set("BIG", &big_value(0));
    let size = fs::metadata(&s.vault).unwrap().len();
    assert!(size > 4_000_000, "vault is {size} bytes");
    // How long an undisturbed set takes: the window to kill in.
    let mut current = 0;
    let mut durations = Vec::new();
    for n in 1..=3 {
        let out = s
            .with_pass(PASS, &big_value(n), &["set", "--raw", "BIG"])
            .run()
            .success();
        durations.push(out.elapsed);
        current = n;
        assert!(temps(&s.vault).is_empty());
    }
    durations.sort();
    let window = durations[1].as_micros() as u64 * 12 / 10;
    let mut rng = Rng::new("crash");
    let (mut interrupted, mut completed, mut old, mut new, mut stale) = (0, 0, 0, 0, 0);
    let mut mid_write = 0;
    for k in 0..kills {
        let next = 10 + k;
        let mut run = s
            .with_pass(PASS, &big_value(next), &["set", "--raw", "BIG"])
            .spawn();
        std::thread::sleep(Duration::from_micros(rng.below(window)));
        // Its temp file exists from create to rename: killed mid-write.
        let writing = !temps(&s.vault).is_empty();
        run.kill();
        let out = run.finish();
        // Killed while running (SIGKILL) or it had already exited 0.
        let was_running = out.signal == Some(libc::SIGKILL);
        if was_running {
            interrupted += 1;
            mid_write += usize::from(writing);
        } else {
            assert_eq!(out.code, Some(0), "kill {k}:{out:?}");
            completed += 1;
        }
        let got = s
            .with_pass(PASS, b"", &["get", "-n", "BIG"])
            .run()
            .code(0)
            .stdout;
        if got == big_value(current) {
            assert!(was_running, "kill {k}: a completed set left the old value");
            old += 1;
        } else if got == big_value(next) {
            new += 1;
            current = next;
        } else {
            panic!(
                "kill {k}: BIG is neither the old nor the new value ({} bytes, starts {:?})",
                got.len(),
                String::from_utf8_lossy(&got[..got.len().min(12)])
            );
        }
        if !temps(&s.vault).is_empty() {
            // A stray temp of the killed writer: the next write removes it.
            stale += 1;
            s.set("BIG", &big_value(current));
            assert_eq!(temps(&s.vault), Vec::<String>::new(), "kill {k}");
        }
    }
    // One more successful write: nothing left behind, everything readable.
    s.set("BIG", &big_value(current));
    assert_eq!(temps(&s.vault), Vec::<String>::new());
    assert_eq!(s.names().len(), 41);
    for i in [0, 17, 39] {
        assert_eq!(s.get(&format!("FILL{i:02}")), filler_value(i));
    }
    assert_eq!(s.get("BIG"), big_value(current));
    figure(&format!(
        "crash: vault {:.1} MB, undisturbed set {:?} (median), kill window 0..{} ms; \
         kills {kills}, survived {kills} (opened with old or new value: old {old}, new {new}), \
         interrupted {interrupted} (still running when killed; {mid_write} of them while its temp file existed), \
         completed before the kill {completed}, \
         stray temp files after a kill {stale} (all removed by the next write); {:?}",
        size as f64 / 1e6,
        durations[1],
        window / 1000,
        start.elapsed()
    ));
    assert!(
        interrupted > 0,
        "no kill landed while set was running: the test proves nothing"
    );
}

// ---------------------------------------------------------------------------
// disk full, read-only directory, odd vault paths, the lock
// ---------------------------------------------------------------------------

#[test]
fn disk_full_fails_with_a_clear_message_and_keeps_the_old_vault() {
    let test = "disk_full";
    if !need(test, "root (to mount a tmpfs)", is_root()) {
        return;
    }
    let s = Sandbox::new();
    let dir = s.root().join("full");
    let mnt = match Mounted::tmpfs(&dir, "1M") {
        Ok(m) => m,
        Err(why) => {
            need(test, &format!("a tmpfs mount ({why})"), false);
            return;
        }
    };
    let v = dir.join("v.vault");
    at(&s, &v, PASS, b"", &["init"]).args(KDF).run().success();
    let old: Vec<u8> = (0..200_000).map(|i| (i % 253) as u8).collect();
    at(&s, &v, PASS, &old, &["set", "--raw", "OLD"])
        .run()
        .success();
    let before = fs::read(&v).unwrap();
    // Fill the file system, then give back 64 KiB: too little for a new
    // vault file of ~500 KB.
    let filler = dir.join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let chunk = vec![0xa5u8; 4096];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling: {e}"),
        }
    }
    f.set_len(written - 64 * 1024).unwrap();
    drop(f);
    let big: Vec<u8> = (0..300_000).map(|i| (i % 241) as u8).collect();
    let out = at(&s, &v, PASS, &big, &["set", "--raw", "BIG"])
        .run()
        .code(1)
        .stderr_has("No space left on device")
        .stderr_has(&dir.display().to_string());
    assert_eq!(fs::read(&v).unwrap(), before, "the old vault changed");
    assert_eq!(temps(&v), Vec::<String>::new(), "a temp file was left");
    assert_eq!(
        at(&s, &v, PASS, b"", &["get", "-n", "OLD"])
            .run()
            .success()
            .stdout,
        old
    );
    figure(&format!(
        "disk full: exit 1: {}",
        out.stderr
            .lines()
            .next()
            .unwrap_or("")
            .replace(&s.root().display().to_string(), "$DIR")
    ));
    // With room again the same write succeeds and leaves nothing behind.
    fs::remove_file(&filler).unwrap();
    at(&s, &v, PASS, &big, &["set", "--raw", "BIG"])
        .run()
        .success();
    assert_eq!(temps(&v), Vec::<String>::new());
    assert_eq!(
        at(&s, &v, PASS, b"", &["get", "-n", "BIG"])
            .run()
            .success()
            .stdout,
        big
    );
    drop(mnt);
}

/// Root ignores directory permissions, so as root the read-only cases are a
/// read-only tmpfs (EROFS) and a 0500 directory with `vault` run as an
/// unprivileged user (EACCES); otherwise a 0500 directory as ourselves.
#[test]
fn read_only_directory_fails_clearly_and_keeps_the_vault() {
    let test = "read_only_directory";
    let s = Sandbox::new();
    let mut cases = 0;
    if is_root() {
        // 1. A read-only file system.
        let dir = s.root().join("ro");
        match Mounted::tmpfs(&dir, "4M") {
            Ok(mnt) => {
                let v = dir.join("v.vault");
                at(&s, &v, PASS, b"", &["init"]).args(KDF).run().success();
                at(&s, &v, PASS, b"old", &["set", "A"]).run().success();
                let before = fs::read(&v).unwrap();
                mnt.remount("ro");
                for args in [&["set", "A"][..], &["delete", "A"]] {
                    let out = at(&s, &v, PASS, b"new", args)
                        .run()
                        .code(1)
                        .stderr_has("Read-only file system")
                        .stderr_has(&dir.display().to_string());
                    figure(&format!(
                        "read-only fs, {}: exit 1: {}",
                        args[0],
                        out.stderr
                            .lines()
                            .next()
                            .unwrap_or("")
                            .replace(&s.root().display().to_string(), "$DIR")
                    ));
                }
                assert_eq!(fs::read(&v).unwrap(), before);
                assert_eq!(
                    at(&s, &v, PASS, b"", &["get", "A"]).run().success().stdout,
                    b"old\n"
                );
                mnt.remount("rw");
                cases += 1;
            }
            Err(why) => {
                need(test, &format!("a tmpfs mount ({why})"), false);
            }
        }
        // 2. A 0500 directory, vault run as an unprivileged user.
        if need(test, "setpriv (util-linux)", in_path("setpriv")) {
            let u = Unpriv::new(&s);
            let dir = u.dir.join("vaultdir");
            fs::create_dir(&dir).unwrap();
            let v = dir.join("v.vault");
            at(&s, &v, PASS, b"", &["init"]).args(KDF).run().success();
            at(&s, &v, PASS, b"old", &["set", "A"]).run().success();
            let pf = u.dir.join("pass");
            fs::write(&pf, format!("{PASS}\n")).unwrap();
            chown_tree(&dir);
            std::os::unix::fs::chown(&pf, Some(NOBODY), Some(NOBODY)).unwrap();
            fs::set_permissions(&pf, fs::Permissions::from_mode(0o600)).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).unwrap();
            let before = fs::read(&v).unwrap();
            let out = run_prog(
                u.vault(&v, &pf, &["set", "A", "new"]),
                "vault set as nobody",
                DEFAULT_TIMEOUT,
            )
            .code(1)
            .stderr_has("Permission denied")
            .stderr_has(&dir.display().to_string());
            assert_eq!(fs::read(&v).unwrap(), before);
            assert_eq!(temps(&v), Vec::<String>::new());
            let got = run_prog(
                u.vault(&v, &pf, &["get", "A"]),
                "vault get as nobody",
                DEFAULT_TIMEOUT,
            )
            .success();
            assert_eq!(got.stdout, b"old\n");
            figure(&format!(
                "0500 directory (as uid {NOBODY}): exit 1: {}",
                out.stderr
                    .lines()
                    .find(|l| !l.contains("warning"))
                    .unwrap_or("")
                    .replace(&s.root().display().to_string(), "$DIR")
            ));
            cases += 1;
        }
    } else {
        let dir = s.root().join("ro");
        fs::create_dir(&dir).unwrap();
        let v = dir.join("v.vault");
        at(&s, &v, PASS, b"", &["init"]).args(KDF).run().success();
        at(&s, &v, PASS, b"old", &["set", "A"]).run().success();
        let before = fs::read(&v).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).unwrap();
        let out = at(&s, &v, PASS, b"new", &["set", "A"])
            .run()
            .code(1)
            .stderr_has("Permission denied")
            .stderr_has(&dir.display().to_string());
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(fs::read(&v).unwrap(), before);
        assert_eq!(temps(&v), Vec::<String>::new());
        figure(&format!(
            "0500 directory: exit 1: {}",
            out.stderr.lines().next().unwrap_or("")
        ));
        cases += 1;
    }
    assert!(cases > 0 || !on_ci());
}

#[test]
fn vault_path_that_is_a_directory_fifo_or_dangling_link_is_a_clear_error() {
    let s = Sandbox::new();
    let root = s.root().display().to_string();
    let dir = s.root().join("adir.vault");
    fs::create_dir(&dir).unwrap();
    let fifo = s.root().join("fifo.vault");
    mkfifo(&fifo);
    let dangling = s.root().join("dangling.vault");
    std::os::unix::fs::symlink("missing-target.vault", &dangling).unwrap();
    let looping = s.root().join("loop.vault");
    std::os::unix::fs::symlink("loop.vault", &looping).unwrap();
    let cases: Vec<(&str, &Path, &str)> = vec![
        ("a directory", &dir, "is not a regular file"),
        ("a FIFO", &fifo, "is not a regular file"),
        ("a dangling symlink", &dangling, "no vault at"),
        (
            "a symlink loop",
            &looping,
            "too many levels of symbolic links",
        ),
    ];
    for (what, path, msg) in cases {
        for args in [&["get", "A"][..], &["set", "A"], &["list"]] {
            let out = at(&s, path, PASS, b"value", args)
                .timeout(Duration::from_secs(10))
                .run()
                .code(1)
                .stderr_has(msg)
                .stderr_has(&path.display().to_string());
            assert!(
                out.elapsed < Duration::from_secs(5),
                "{what}: took {:?}",
                out.elapsed
            );
            if args[0] == "get" {
                figure(&format!(
                    "vault path is {what}: get: exit 1 in {:?}: {}",
                    out.elapsed,
                    out.stderr.lines().next().unwrap().replace(&root, "$DIR")
                ));
            }
        }
    }
    // Nothing was created or replaced: still a directory, a FIFO, links.
    assert!(fs::metadata(&dir).unwrap().is_dir());
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(!s.root().join("missing-target.vault").exists());
    // init never overwrites a directory or a FIFO, and says what is there.
    for path in [&dir, &fifo] {
        at(&s, path, PASS, b"", &["init"])
            .args(KDF)
            .timeout(Duration::from_secs(10))
            .run()
            .code(1)
            .stderr_has("is not a regular file");
    }
}

#[test]
fn lock_held_by_another_process_waits_with_a_message_and_gives_up_in_bounded_time() {
    if !need("lock_held", "util-linux flock", in_path("flock")) {
        return;
    }
    let s = Sandbox::new();
    s.init().set("A", b"old");
    let lock = s.home.join("test.vault.lock");
    let hold = |secs: &str| {
        let mut c = Command::new("flock")
            .args(["-x", "-o"])
            .arg(&lock)
            .args(["sh", "-c"])
            .arg(format!("echo locked; exec sleep {secs}"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(c.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        c
    };
    let before = s.vault_bytes();
    // Held longer than the timeout: gives up after ~2 s with a clear error.
    let mut holder = hold("5");
    let out = s
        .with_pass(PASS, b"new", &["set", "A"])
        .env("VAULT_LOCK_TIMEOUT", "2")
        .run()
        .code(1)
        .stderr_has("waiting for another vault process to finish writing")
        .stderr_has("gave up after 2 s waiting for the write lock")
        .stderr_has(&lock.display().to_string())
        .stderr_has("VAULT_LOCK_TIMEOUT");
    // SIGKILL ends flock, which held the lock (-o: its command does not).
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        out.elapsed >= Duration::from_secs(2) && out.elapsed < Duration::from_secs(15),
        "gave up after {:?}",
        out.elapsed
    );
    assert_eq!(s.vault_bytes(), before);
    assert_eq!(s.get("A"), b"old");
    figure(&format!(
        "lock held: VAULT_LOCK_TIMEOUT=2 gave up after {:?}, exit 1: {}",
        out.elapsed,
        out.stderr
            .lines()
            .find(|l| l.contains("gave up"))
            .unwrap()
            .replace(&s.root().display().to_string(), "$DIR")
    ));
    // Released in time: waits (with the message) and succeeds.
    let mut holder = hold("3");
    let out = s
        .with_pass(PASS, b"new", &["set", "A"])
        .env("VAULT_LOCK_TIMEOUT", "10")
        .run()
        .success()
        .stderr_has("waiting for another vault process");
    assert!(holder.wait().unwrap().success());
    assert!(
        out.elapsed >= Duration::from_millis(1000),
        "did not wait: {:?}",
        out.elapsed
    );
    assert_eq!(s.get("A"), b"new");
    figure(&format!(
        "lock held 3 s: set waited and succeeded after {:?}",
        out.elapsed
    ));
}

// ---------------------------------------------------------------------------
// concurrency
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Set,
    Delete,
    Get,
}

/// One operation as the client saw it: times in ns since the test's epoch,
/// taken before the spawn and after the exit.
#[derive(Clone, Debug)]
struct Op {
    who: String,
    kind: Kind,
    name: usize,
    /// Set: the value written. Get: the value read (None: exit 5).
    value: Option<String>,
    /// Exit 0 (for delete: a committed write; exit 5 is "no such secret").
    ok: bool,
    /// A get refused as a rollback (exit 4): no observation.
    refused: bool,
    start: u128,
    end: u128,
}

impl Op {
    /// Whether this op wrote (and so bumped the generation).
    fn wrote(&self) -> bool {
        self.ok && matches!(self.kind, Kind::Set | Kind::Delete)
    }
    /// The name's value after this write.
    fn effect(&self) -> Option<&str> {
        match self.kind {
            Kind::Set => self.value.as_deref(),
            _ => None,
        }
    }
}

/// Whether observing `seen` for a name during `[rs, re]` is explainable by
/// some order of the committed `writes` to that name that respects real
/// time (an op that ended before another started is ordered before it):
/// some write `c` with that effect (or the initial absence) started before
/// the read ended, and no other write is definitely between `c` and the
/// read. A necessary condition of serial equivalence.
fn plausible(writes: &[&Op], seen: Option<&str>, rs: u128, re: u128) -> bool {
    let initial = (seen.is_none()).then_some((0u128, 0u128, usize::MAX));
    let candidates = writes
        .iter()
        .enumerate()
        .filter(|(_, w)| w.effect() == seen && w.start < re)
        .map(|(i, w)| (w.start, w.end, i))
        .chain(initial);
    for (_, cend, ci) in candidates {
        let overwritten = writes
            .iter()
            .enumerate()
            .any(|(i, w)| i != ci && cend < w.start && w.end < rs);
        if !overwritten {
            return true;
        }
    }
    false
}

#[test]
fn concurrency_no_lost_update_and_real_time_serial_equivalence() {
    let procs = count("VAULT_SUITE_PROCS", 16);
    let ops = count("VAULT_SUITE_OPS", 50);
    let names = ["N0", "N1", "N2", "N3"];
    let s = Sandbox::new();
    s.init();
    let g0 = generation(&s, &s.vault);
    let epoch = Instant::now();
    let mut seeder = Rng::new("concurrency");
    let seeds: Vec<u64> = (0..procs).map(|_| seeder.next_u64() | 1).collect();
    let log: Arc<Mutex<Vec<Op>>> = Arc::default();
    std::thread::scope(|scope| {
        for (p, seed) in seeds.into_iter().enumerate() {
            let s = &s;
            let log = Arc::clone(&log);
            scope.spawn(move || {
                let mut rng = SeedRng(seed);
                for i in 0..ops {
                    let name = rng.below(names.len() as u64) as usize;
                    let r = rng.below(10);
                    let kind = if r < 5 {
                        Kind::Set
                    } else if r < 7 {
                        Kind::Delete
                    } else {
                        Kind::Get
                    };
                    let value = format!("p{p}-o{i}");
                    let cmd = match kind {
                        Kind::Set => {
                            s.with_pass(PASS, value.as_bytes(), &["set", "--raw", names[name]])
                        }
                        Kind::Delete => s.with_pass(PASS, b"", &["delete", names[name]]),
                        Kind::Get => s.with_pass(PASS, b"", &["get", "-n", names[name]]),
                    }
                    .env("VAULT_LOCK_TIMEOUT", "300")
                    .timeout(Duration::from_secs(300));
                    let start = epoch.elapsed().as_nanos();
                    let out = cmd.run();
                    let end = epoch.elapsed().as_nanos();
                    let (ok, refused) = match (kind, out.code) {
                        (_, Some(0)) => (true, false),
                        (Kind::Delete | Kind::Get, Some(5)) => {
                            assert!(out.stderr.contains("no secret named"), "{out:?}");
                            (false, false)
                        }
                        // A reader that read generation N while a writer
                        // committed N+1 (and remembered it) is refused as
                        // a rollback: counted, and asserted below.
                        (Kind::Get, Some(4)) if out.stderr.contains("older than generation") => {
                            (false, true)
                        }
                        _ => panic!("p{p} op {i} {kind:?} failed:{out:?}"),
                    };
                    let value = match kind {
                        Kind::Set => Some(value),
                        Kind::Get if ok => Some(String::from_utf8(out.stdout).unwrap()),
                        _ => None,
                    };
                    log.lock().unwrap().push(Op {
                        who: format!("p{p}/{i}"),
                        kind,
                        name,
                        value,
                        ok,
                        refused,
                        start,
                        end,
                    });
                }
            });
        }
    });
    let elapsed = epoch.elapsed();
    let log = Arc::try_unwrap(log).unwrap().into_inner().unwrap();
    assert_eq!(log.len(), procs * ops);
    let g1 = generation(&s, &s.vault);
    let writes = log.iter().filter(|o| o.wrote()).count() as u64;
    // 1. No lost update: each committed write moved the generation by one.
    let lost = writes as i64 - (g1 - g0) as i64;
    // 2. The final state and every read fit a serial order of the committed
    //    writes that respects real time.
    let final_names = s.names();
    let mut final_state: BTreeMap<usize, Option<String>> = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        let v = final_names
            .iter()
            .any(|f| f == n)
            .then(|| String::from_utf8(s.get(n)).unwrap());
        final_state.insert(i, v);
    }
    assert!(final_names.iter().all(|n| names.contains(&n.as_str())));
    let mut violations = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let w: Vec<&Op> = log.iter().filter(|o| o.name == i && o.wrote()).collect();
        let fin = final_state[&i].as_deref();
        if !plausible(&w, fin, u128::MAX, u128::MAX) {
            violations.push(format!("final {n} = {fin:?}"));
        }
        for r in log
            .iter()
            .filter(|o| o.name == i && !o.wrote() && !o.refused)
        {
            let seen = if r.ok { r.value.as_deref() } else { None };
            if !plausible(&w, seen, r.start, r.end) {
                violations.push(format!("{} {:?} {n} saw {seen:?}", r.who, r.kind));
            }
        }
    }
    let by_kind = |k: Kind, ok: bool| {
        log.iter()
            .filter(|o| o.kind == k && o.ok == ok && !o.refused)
            .count()
    };
    let refused = log.iter().filter(|o| o.refused).count();
    figure(&format!(
        "concurrency: {procs} processes x {ops} ops = {} ops in {elapsed:?} over {} names: \
         set {}, delete {} (+{} of absent names, exit 5), get {} (+{} absent); \
         committed writes {writes}, generation {g0} -> {g1}: lost updates {lost}; \
         real-time serial-equivalence violations {}; \
         gets wrongly refused as a rollback (exit 4) {refused}",
        log.len(),
        names.len(),
        by_kind(Kind::Set, true),
        by_kind(Kind::Delete, true),
        by_kind(Kind::Delete, false),
        by_kind(Kind::Get, true),
        by_kind(Kind::Get, false),
        violations.len()
    ));
    assert_eq!(
        lost, 0,
        "lost updates: {writes} writes, generation {g0} -> {g1}"
    );
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(by_kind(Kind::Set, true) > 0);
    // A get reads the file without the lock; when a writer commits and
    // records a newer generation before the reader's rollback check, the
    // reader sees "older than generation already seen" for a file that
    // was never rolled back (src/bin/vault/unlock.rs, open_read).
    assert_eq!(
        refused, 0,
        "{refused} concurrent gets were refused as a rollback (exit 4) although nothing was rolled back"
    );
}

/// A per-thread xorshift64* (common::Rng prints its seed; this one is
/// derived from it).
struct SeedRng(u64);

impl SeedRng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
fn plausibility_check_catches_lost_and_stale_values() {
    let op = |kind, value: Option<&str>, start, end| Op {
        who: String::new(),
        kind,
        name: 0,
        value: value.map(String::from),
        ok: true,
        refused: false,
        start,
        end,
    };
    let a = op(Kind::Set, Some("a"), 10, 20);
    let b = op(Kind::Set, Some("b"), 30, 40);
    let d = op(Kind::Delete, None, 50, 60);
    let w = vec![&a, &b];
    // Final: b is last in real time; a can no longer be the final value.
    assert!(plausible(&w, Some("b"), u128::MAX, u128::MAX));
    assert!(!plausible(&w, Some("a"), u128::MAX, u128::MAX));
    assert!(!plausible(&w, None, u128::MAX, u128::MAX));
    assert!(!plausible(&w, Some("zzz"), u128::MAX, u128::MAX));
    // Reads: a during b is fine, a after b ended is stale, b before it
    // started is from the future, absent after a set is stale.
    assert!(plausible(&w, Some("a"), 25, 35));
    assert!(!plausible(&w, Some("a"), 45, 46));
    assert!(!plausible(&w, Some("b"), 21, 25));
    assert!(plausible(&w, None, 0, 15));
    assert!(!plausible(&w, None, 21, 22));
    let w = vec![&a, &b, &d];
    assert!(plausible(&w, None, u128::MAX, u128::MAX));
    assert!(plausible(&w, None, 61, 62));
    assert!(!plausible(&w, Some("b"), 61, 62));
    // Overlapping writes: either may win.
    let c = op(Kind::Set, Some("c"), 15, 45);
    let w = vec![&a, &b, &c];
    assert!(plausible(&w, Some("b"), u128::MAX, u128::MAX));
    assert!(plausible(&w, Some("c"), u128::MAX, u128::MAX));
    assert!(!plausible(&w, Some("a"), u128::MAX, u128::MAX));
}

// ---------------------------------------------------------------------------
// attack: flips, truncations, swaps, KDF bounds, version
// ---------------------------------------------------------------------------

#[test]
fn attack_every_flip_and_truncation_of_a_two_slot_vault_is_detected() {
    let start = Instant::now();
    let s = Sandbox::new();
    init_two_slots(&s, &s.vault);
    s.set("A", b"attack-secret-value");
    let bytes = s.vault_bytes();
    assert_eq!(s.slot_ids("passphrase").len(), 2);
    // Both passphrases open the original.
    for p in [PASS, PASS2] {
        assert_eq!(
            s.with_pass(p, b"", &["get", "-n", "A"])
                .run()
                .success()
                .stdout,
            b"attack-secret-value"
        );
    }
    let mut variants = Vec::new();
    for i in 0..bytes.len() {
        // xor 01 opened with the first slot's passphrase, xor ff with the
        // second's: either slot is the one that opens.
        for (x, pass) in [(0x01u8, PASS), (0xff, PASS2)] {
            let mut b = bytes.clone();
            b[i] ^= x;
            variants.push((format!("flip {i}^{x:02x}"), pass, b));
        }
    }
    let flips = variants.len();
    for n in 0..bytes.len() {
        variants.push((format!("truncate to {n}"), PASS, bytes[..n].to_vec()));
    }
    let results = s.open_variants(variants);
    let tried = results.len();
    let mut codes: BTreeMap<i32, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    for (label, code, stderr) in &results {
        *codes.entry(*code).or_default() += 1;
        if !(*code == 3 || *code == 4) {
            bad.push(format!("{label}: exit {code}: {stderr}"));
        }
    }
    let detected = tried - bad.len();
    figure(&format!(
        "attack: two-slot vault of {} bytes: tried {tried} ({flips} byte flips, {} truncations), \
         detected {detected}; exit codes {codes:?}; {:?}",
        bytes.len(),
        bytes.len(),
        start.elapsed()
    ));
    assert!(bad.is_empty(), "undetected: {bad:#?}");
}

/// The byte range of each slot map in the header: each starts with
/// `a5 62 69 64 44` (a map of 5, "id", 4 bytes); the last ends where the
/// "commitment" key starts.
fn slot_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let end = header_end(bytes);
    let starts: Vec<usize> = find_all(&bytes[..end], &[0xa5, 0x62, 0x69, 0x64, 0x44]).collect();
    let commitment = find_one(&bytes[..end], b"\x6acommitment");
    let mut out = Vec::new();
    for (k, s) in starts.iter().enumerate() {
        out.push(*s..starts.get(k + 1).copied().unwrap_or(commitment));
    }
    out
}

#[test]
fn attack_slot_or_body_swapped_between_vaults_with_the_same_passphrases_is_detected() {
    let s = Sandbox::new();
    let y_path = s.root().join("y.vault");
    init_two_slots(&s, &s.vault);
    init_two_slots(&s, &y_path);
    s.set("A", b"x-value");
    at(&s, &y_path, PASS, b"y-value", &["set", "A"])
        .run()
        .success();
    let x = s.vault_bytes();
    let y = fs::read(&y_path).unwrap();
    let (xs, ys) = (slot_ranges(&x), slot_ranges(&y));
    assert_eq!(xs.len(), 2);
    assert_eq!(ys.len(), 2);
    let mut variants = Vec::new();
    for k in 0..2 {
        assert_eq!(xs[k].len(), ys[k].len(), "same parameters, same length");
        let mut b = x.clone();
        b[xs[k].clone()].copy_from_slice(&y[ys[k].clone()]);
        for pass in [PASS, PASS2] {
            variants.push((
                format!("slot {k} of y in x, opened with {pass:?}"),
                pass,
                b.clone(),
            ));
        }
    }
    let mut both = x.clone();
    both[xs[0].start..xs[1].end].copy_from_slice(&y[ys[0].start..ys[1].end]);
    variants.push(("both slots of y in x".into(), PASS, both));
    let mut body = x[..header_end(&x)].to_vec();
    body.extend_from_slice(&y[header_end(&y)..]);
    let mut header = y[..header_end(&y)].to_vec();
    header.extend_from_slice(&x[header_end(&x)..]);
    for pass in [PASS, PASS2] {
        variants.push((
            format!("body of y under x's header, {pass:?}"),
            pass,
            body.clone(),
        ));
        variants.push((
            format!("header of y over x's body, {pass:?}"),
            pass,
            header.clone(),
        ));
    }
    let results = s.open_variants(variants);
    let mut results = results;
    results.sort();
    let mut lines = Vec::new();
    for (label, code, stderr) in &results {
        assert!(*code == 3 || *code == 4, "{label}: exit {code}: {stderr}");
        lines.push(format!("{label}: exit {code}"));
    }
    // The body and whole-header swaps pass a slot, so only the body's
    // authentication catches them: exit 4.
    for (label, code, _) in &results {
        if label.starts_with("body") || label.starts_with("header") {
            assert_eq!(*code, 4, "{label}");
        }
    }
    figure(&format!(
        "attack: swaps between two vaults with the same passphrases: {} tried, {} detected ({})",
        results.len(),
        results.len(),
        lines.join("; ")
    ));
}

#[test]
fn attack_kdf_parameters_beyond_the_bounds_are_refused_before_any_kdf_work() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let bytes = s.vault_bytes();
    let normal = s
        .with_pass(PASS, b"", &["get", "A"])
        .run()
        .success()
        .elapsed;
    // m = 8192 KiB is `61 6d 19 20 00`; 4 GiB = 4194304 KiB needs the
    // 4-byte form `1a 00 40 00 00`, two bytes longer: canonical CBOR, with
    // the header length adjusted, so only the bound can refuse it.
    let mut m4g = replace_bytes(
        &bytes,
        &[0x61, 0x6d, 0x19, 0x20, 0x00],
        &[0x61, 0x6d, 0x1a, 0x00, 0x40, 0x00, 0x00],
    );
    adjust_header_len(&mut m4g, 2);
    let t17 = replace_bytes(&bytes, &[0x61, 0x74, 0x01], &[0x61, 0x74, 0x11]);
    let p0 = replace_bytes(&bytes, &[0x61, 0x70, 0x01], &[0x61, 0x70, 0x00]);
    let m4k = replace_bytes(
        &bytes,
        &[0x61, 0x6d, 0x19, 0x20, 0x00],
        &[0x61, 0x6d, 0x19, 0x10, 0x00],
    );
    let cases = [
        (
            "memory 4 GiB",
            m4g,
            "KDF memory 4 GiB is outside 8 MiB to 2 GiB",
        ),
        ("time 17", t17, "KDF time 17 is outside 1 to 16"),
        ("parallelism 0", p0, "KDF parallelism 0 is outside 1 to 16"),
        (
            "memory 4 MiB",
            m4k,
            "KDF memory 4 MiB is outside 8 MiB to 2 GiB",
        ),
    ];
    for (what, b, msg) in cases {
        fs::write(&s.vault, &b).unwrap();
        let t = Instant::now();
        let out = s.with_pass(PASS, b"", &["get", "A"]).run();
        let took = t.elapsed();
        let out = out.code(4).stderr_has(msg).stderr_has("corrupt");
        assert!(took < Duration::from_secs(1), "{what}: took {took:?}");
        figure(&format!(
            "attack: header with KDF {what}: exit 4 in {:.1} ms (a normal open with 8 MiB: {:.1} ms): {}",
            took.as_secs_f64() * 1e3,
            normal.as_secs_f64() * 1e3,
            out.stderr.lines().next().unwrap().replace(&s.root().display().to_string(), "$DIR")
        ));
    }
}

#[test]
fn attack_unknown_version_is_named() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let mut b = s.vault_bytes();
    assert_eq!(&b[8..10], &[0, 1]);
    for (v, name) in [([0u8, 2u8], "2"), ([1, 0], "256"), ([0, 0], "0")] {
        b[8..10].copy_from_slice(&v);
        fs::write(&s.vault, &b).unwrap();
        let out = s
            .with_pass(PASS, b"", &["get", "A"])
            .run()
            .code(4)
            .stderr_has(&format!("format version {name},"))
            .stderr_has("newer vault");
        if name == "2" {
            figure(&format!(
                "attack: version 2: exit 4: {}",
                out.stderr
                    .lines()
                    .next()
                    .unwrap()
                    .replace(&s.root().display().to_string(), "$DIR")
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// the table of bad inputs
// ---------------------------------------------------------------------------

struct Bad {
    input: String,
    cmd: Cmd,
    code: i32,
    msg: &'static str,
    hold_lock: bool,
}

fn bad(input: &str, code: i32, msg: &'static str, cmd: Cmd) -> Bad {
    Bad {
        input: input.to_string(),
        cmd,
        code,
        msg,
        hold_lock: false,
    }
}

#[test]
fn table_of_bad_inputs_each_with_exit_code_message_and_unchanged_vault() {
    let s = Sandbox::new();
    init_two_slots(&s, &s.vault);
    s.set("A", b"alpha-value").set("NULVAL", b"nul\0inside");
    let one = s.root().join("one.vault");
    at(&s, &one, PASS, b"", &["init"]).args(KDF).run().success();
    at(&s, &one, PASS, b"v", &["set", "A"]).run().success();
    let fresh = s.root().join("new.vault");
    let ids = s.slot_ids("passphrase");
    let one_id = s
        .cmd()
        .arg("--vault")
        .arg(&one)
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json()["slots"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let malformed = s.file("malformed.tmpl", b"user=${secrets.A\n");
    let unknown = s.file("unknown.tmpl", b"x=${secrets.NOPE}\n");
    let good_tmpl = s.file("good.tmpl", b"x=${secrets.A}\n");
    let long_pass = s.file("long.pass", &[b'x'; 5000]);
    let pass_file = s.file("pass", format!("{PASS}\n").as_bytes());
    let v2 = |rest: &[u8], args: &[&str]| s.with_pass(PASS, rest, args);
    let v1 = |args: &[&str]| at(&s, &one, PASS, b"", args);
    let newv = |pass: &str, args: &[&str]| at(&s, &fresh, pass, b"", args);
    let mut one_mib_plus = vec![b'x'; 1024 * 1024 + 1];
    one_mib_plus[0] = b'y';
    let long_name = "N".repeat(129);
    let file_arg = format!("CFG={}", s.root().join("missing.tmpl").display());
    let bad_var_file = format!("1CFG={}", good_tmpl.display());
    let mut rows = vec![
        bad(
            "set 1BAD (bad name)",
            2,
            "invalid secret name",
            v2(b"x", &["set", "1BAD"]),
        ),
        bad(
            "set A-B (bad character)",
            2,
            "invalid secret name",
            v2(b"x", &["set", "A-B"]),
        ),
        bad(
            "set <129 characters>",
            2,
            "at most 128 characters",
            v2(b"x", &["set", &long_name]),
        ),
        bad(
            "set VAULT_TOKEN (reserved prefix)",
            2,
            "not start with VAULT_",
            v2(b"x", &["set", "VAULT_TOKEN"]),
        ),
        bad(
            "set BIG, value 1 MiB + 1 on stdin",
            2,
            "the limit is 1 MiB",
            v2(&one_mib_plus, &["set", "--raw", "BIG"]),
        ),
        bad(
            "list --bogus (unknown flag)",
            2,
            "unexpected argument '--bogus'",
            v2(b"", &["list", "--bogus"]),
        ),
        bad(
            "get (missing NAME)",
            2,
            "required arguments were not provided",
            v2(b"", &["get"]),
        ),
        bad(
            "init --kdf-memory 3GiB",
            2,
            "KDF memory 3 GiB is outside 8 MiB to 2 GiB",
            newv(PASS, &["init", "--kdf-memory", "3GiB"]),
        ),
        bad(
            "init --kdf-memory 64 (no unit)",
            2,
            "is not a size like 64MiB",
            newv(PASS, &["init", "--kdf-memory", "64"]),
        ),
        bad(
            "init --kdf-time 0",
            2,
            "KDF time 0 is outside 1 to 16",
            newv(PASS, &["init", "--kdf-time", "0"]),
        ),
        bad(
            "key add passphrase --kdf-parallelism 17",
            2,
            "KDF parallelism 17 is outside 1 to 16",
            v2(
                b"new pass\n",
                &[
                    "key",
                    "add",
                    "passphrase",
                    "--new-passphrase-stdin",
                    "--kdf-parallelism",
                    "17",
                ],
            ),
        ),
        bad(
            "init with an empty passphrase",
            2,
            "refusing an empty passphrase",
            newv("", &[&["init"][..], &KDF[..]].concat()),
        ),
        bad(
            "init over an existing vault",
            1,
            "a vault already exists",
            v2(b"", &["init"]),
        ),
        bad(
            "exec --file CFG=<missing template>",
            1,
            "opening the template",
            v2(b"", &["exec", "--file", &file_arg, "--", "true"]),
        ),
        bad(
            "exec --file CFG (no =TEMPLATE)",
            2,
            "--file takes VAR=TEMPLATE",
            v2(b"", &["exec", "--file", "CFG", "--", "true"]),
        ),
        bad(
            "exec --file 1CFG=t (bad variable)",
            2,
            "VAR must match",
            v2(b"", &["exec", "--file", &bad_var_file, "--", "true"]),
        ),
        bad(
            "render <unclosed ${secrets.A>",
            2,
            "1:6: unclosed placeholder",
            v2(b"", &["render", malformed.to_str().unwrap()]),
        ),
        bad(
            "render <${secrets.NOPE}>",
            5,
            "no secret named NOPE (referenced at",
            v2(b"", &["render", unknown.to_str().unwrap()]),
        ),
        bad(
            "exec --only NOPE",
            5,
            "no secret named NOPE",
            v2(b"", &["exec", "--only", "NOPE", "--", "true"]),
        ),
        bad(
            "exec with a NUL byte in a value",
            1,
            "contains a NUL byte",
            v2(b"", &["exec", "--", "true"]),
        ),
        bad(
            "exec --only A -- /nonexistent/cmd",
            127,
            "command not found",
            v2(b"", &["exec", "--only", "A", "--", "/nonexistent/cmd"]),
        ),
        bad(
            "--passphrase-file <missing>",
            1,
            "opening",
            s.vault_cmd()
                .args(["--passphrase-file", "/nonexistent/pass", "get", "A"]),
        ),
        bad(
            "--passphrase-file <5000 bytes>",
            2,
            "longer than 4096 bytes",
            s.vault_cmd()
                .arg("--passphrase-file")
                .arg(&long_pass)
                .args(["get", "A"]),
        ),
        bad(
            "--passphrase-fd 99 (not open)",
            2,
            "cannot read the passphrase from file descriptor 99",
            s.vault_cmd().args(["--passphrase-fd", "99", "get", "A"]),
        ),
        bad(
            "--passphrase-stdin and --passphrase-file",
            2,
            "give the passphrase one way only",
            v2(
                b"",
                &["--passphrase-file", pass_file.to_str().unwrap(), "get", "A"],
            ),
        ),
        bad(
            "no passphrase, no terminal, no keyring",
            3,
            "no passphrase was given",
            s.vault_cmd().args(["--no-keyring", "get", "A"]),
        ),
        bad(
            "wrong passphrase",
            3,
            "wrong passphrase",
            s.with_pass("not the passphrase", b"", &["get", "A"]),
        ),
        bad(
            "get NOPE",
            5,
            "no secret named NOPE",
            v2(b"", &["get", "NOPE"]),
        ),
        bad(
            "delete NOPE",
            5,
            "no secret named NOPE",
            v2(b"", &["delete", "NOPE"]),
        ),
        bad(
            "delete A NOPE (all or nothing)",
            5,
            "no secret named NOPE",
            v2(b"", &["delete", "A", "NOPE"]),
        ),
        bad(
            "--vault <missing file>",
            1,
            "no vault at",
            at(
                &s,
                &s.root().join("missing.vault"),
                PASS,
                b"",
                &["get", "A"],
            ),
        ),
        bad(
            "key remove 00000000 (unknown id)",
            2,
            "no slot 00000000",
            v2(b"", &["key", "remove", "00000000"]),
        ),
        bad(
            "key remove xyz (not an id)",
            2,
            "8 hex digits",
            v2(b"", &["key", "remove", "xyz"]),
        ),
        bad(
            "key remove <the last slot>",
            2,
            "refusing to remove the last slot",
            v1(&["key", "remove", &one_id]),
        ),
        bad(
            "rekey without the second slot's passphrase",
            2,
            "cannot re-wrap passphrase slot",
            v2(b"", &["rekey"]),
        ),
        bad(
            "rekey --drop <every slot>",
            2,
            "refusing to drop every slot",
            v2(b"", &["rekey", "--drop", &ids[0], "--drop", &ids[1]]),
        ),
        bad(
            "unlock --timeout 0s",
            2,
            "a timeout of 0",
            v2(b"", &["unlock", "--timeout", "0s"]),
        ),
        bad(
            "unlock --timeout 25h",
            2,
            "the longest cache timeout is 24h",
            v2(b"", &["unlock", "--timeout", "25h"]),
        ),
    ];
    let mut held = bad(
        "VAULT_LOCK_TIMEOUT=0, lock held elsewhere",
        1,
        "gave up after 0 s waiting for the write lock",
        v2(b"new", &["set", "A"]).env("VAULT_LOCK_TIMEOUT", "0"),
    );
    held.hold_lock = true;
    rows.push(held);
    assert!(rows.len() >= 20);
    let before2 = s.vault_bytes();
    let before1 = fs::read(&one).unwrap();
    let root = s.root().display().to_string();
    let mut table = vec![
        "| # | input | exit | message (first line of stderr) |".to_string(),
        "|---|---|---|---|".to_string(),
    ];
    for (k, row) in rows.into_iter().enumerate() {
        let guard = row.hold_lock.then(|| {
            let f = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(s.home.join("test.vault.lock"))
                .unwrap();
            f.lock().unwrap();
            f
        });
        let out = row.cmd.run();
        drop(guard);
        assert_eq!(
            out.code,
            Some(row.code),
            "row {} ({}): exit code:{out:?}",
            k + 1,
            row.input
        );
        assert!(
            out.stdout.is_empty(),
            "row {}: printed on stdout:{out:?}",
            k + 1
        );
        assert!(
            out.stderr.contains(row.msg),
            "row {} ({}): stderr lacks {:?}:{out:?}",
            k + 1,
            row.input,
            row.msg
        );
        assert_eq!(s.vault_bytes(), before2, "row {} changed the vault", k + 1);
        assert_eq!(
            fs::read(&one).unwrap(),
            before1,
            "row {} changed one.vault",
            k + 1
        );
        assert!(!fresh.exists(), "row {} created {}", k + 1, fresh.display());
        assert!(temps(&s.vault).is_empty());
        let line = out
            .stderr
            .lines()
            .find(|l| !l.contains("warning:"))
            .unwrap_or("")
            .replace(&root, "$DIR")
            .replace('|', "\\|");
        table.push(format!(
            "| {} | {} | {} | {} |",
            k + 1,
            row.input.replace('|', "\\|"),
            row.code,
            line
        ));
    }
    figure(&format!(
        "bad inputs: {} rows, each with its exit code and message, vault bytes unchanged after each:\n{}",
        table.len() - 2,
        table.join("\n")
    ));
}

// ---------------------------------------------------------------------------
// rollback
// ---------------------------------------------------------------------------

#[test]
fn rollback_is_refused_until_accepted_and_a_fresh_home_cannot_see_it() {
    let s = Sandbox::new();
    s.init().set("A", b"one");
    let old = s.vault_bytes();
    let g_old = generation(&s, &s.vault);
    s.set("A", b"two").set("A", b"three");
    let g_new = generation(&s, &s.vault);
    assert_eq!(g_new, g_old + 2);
    let newest = s.vault_bytes();
    // The memory of this HOME holds the newest generation.
    let vid = s.vault_id();
    let mem = s.home.join(".local/state/vault/generations").join(&vid);
    assert_eq!(fs::read_to_string(&mem).unwrap().trim(), g_new.to_string());
    // Restore the old copy: refused, naming both generations and the way out.
    fs::write(&s.vault, &old).unwrap();
    for args in [&["get", "A"][..], &["set", "A"], &["list"]] {
        let out = s
            .with_pass(PASS, b"x", args)
            .run()
            .code(4)
            .stderr_has(&format!(
                "generation {g_old}, older than generation {g_new}"
            ))
            .stderr_has("--allow-rollback");
        if args[0] == "get" {
            figure(&format!(
                "rollback: exit 4: {}",
                out.stderr
                    .replace(&s.root().display().to_string(), "$DIR")
                    .trim()
            ));
        }
    }
    assert_eq!(s.vault_bytes(), old, "a refused write changed the file");
    // A fresh HOME (no memory, like a new CI runner) cannot tell.
    let fresh = s.root().join("fresh-home");
    fs::create_dir(&fresh).unwrap();
    let out = s
        .with_pass(PASS, b"", &["get", "A"])
        .env("HOME", &fresh)
        .run()
        .success();
    assert_eq!(
        out.stdout, b"one\n",
        "a fresh HOME opens the rolled-back file"
    );
    // Accepted deliberately: opens, and the memory is lowered to it.
    let out = s
        .with_pass(PASS, b"", &["--allow-rollback", "get", "A"])
        .run()
        .success();
    assert_eq!(out.stdout, b"one\n");
    assert_eq!(fs::read_to_string(&mem).unwrap().trim(), g_old.to_string());
    assert_eq!(
        s.get("A"),
        b"one",
        "the old generation is accepted from now on"
    );
    // Writing from there goes on from the old generation; the newer copy
    // is still newer than what is remembered, so it opens too.
    s.set("A", b"four");
    assert_eq!(generation(&s, &s.vault), g_old + 1);
    fs::write(&s.vault, &newest).unwrap();
    assert_eq!(s.get("A"), b"three");
    assert_eq!(fs::read_to_string(&mem).unwrap().trim(), g_new.to_string());
    figure(&format!(
        "rollback: generation {g_old} refused after {g_new} was seen (exit 4); \
         --allow-rollback opens it and lowers the memory to {g_old}; a fresh HOME opens it unnoticed"
    ));
}

// ---------------------------------------------------------------------------
// memory hygiene: gcore of a masked exec run by an unprivileged user
// ---------------------------------------------------------------------------

/// How often each of `needles` occurs in the file at `path` (streamed).
fn count_in_file(path: &Path, needles: &[&[u8]]) -> Vec<usize> {
    let ac = aho_corasick::AhoCorasick::new(needles).unwrap();
    let mut counts = vec![0; needles.len()];
    let f = std::io::BufReader::with_capacity(1 << 20, fs::File::open(path).unwrap());
    for m in ac.stream_find_iter(f) {
        counts[m.unwrap().pattern().as_usize()] += 1;
    }
    counts
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn memory_beyond_the_lock_limit_gives_one_warning() {
    let test = "memory_lock_limit";
    if !need(test, "root (to run vault as another user)", is_root())
        || !need(
            test,
            "setpriv and prlimit (util-linux)",
            in_path("setpriv") && in_path("prlimit"),
        )
    {
        return;
    }
    let s = Sandbox::new();
    let u = Unpriv::new(&s);
    let dir = u.dir.join("vaultdir");
    fs::create_dir(&dir).unwrap();
    let v = dir.join("v.vault");
    at(&s, &v, PASS, b"", &["init"]).args(KDF).run().success();
    at(&s, &v, PASS, b"small", &["set", "--raw", "SMALL"])
        .run()
        .success();
    let pf = dir.join("pass");
    fs::write(&pf, format!("{PASS}\n")).unwrap();
    chown_tree(&dir);
    // As an ordinary user under a 64 KiB memory-lock limit (root ignores it).
    let get = |name: &str| {
        let mut c = u.command("prlimit");
        c.args(["--memlock=65536:65536", "--"])
            .arg(&u.bin)
            .arg("--vault")
            .arg(&v)
            .arg("--passphrase-file")
            .arg(&pf)
            .args(["get", "-n", name]);
        run_prog(c, "vault get under prlimit", DEFAULT_TIMEOUT)
    };
    let small = get("SMALL");
    assert_eq!(small.code, Some(0), "{small:?}");
    assert!(!small.stderr.contains("could not lock"), "{small:?}");
    // 1 MiB more: the plaintext and the value's copy no longer fit.
    at(&s, &v, PASS, &vec![b'x'; 1 << 20], &["set", "--raw", "BIG"])
        .run()
        .success();
    chown_tree(&dir);
    let big = get("BIG");
    assert_eq!(big.code, Some(0), "{big:?}");
    assert_eq!(big.stdout.len(), 1 << 20);
    assert_eq!(
        big.stderr.matches("could not lock").count(),
        1,
        "one warning, not one per buffer:{big:?}"
    );
    figure(&format!(
        "memory: under a 64 KiB memory-lock limit, a small vault opens silently; with a 1 MiB value, one warning: {}",
        big.stderr.trim()
    ));
}

#[test]
fn memory_gcore_of_a_masked_exec_shows_which_secrets_stay_in_memory() {
    let test = "memory_gcore";
    if !need(
        test,
        "root (to run vault as another user and take its core)",
        is_root(),
    ) || !need(test, "gdb's gcore", in_path("gcore") && in_path("gdb"))
        || !need(test, "setpriv (util-linux)", in_path("setpriv"))
    {
        return;
    }
    let s = Sandbox::new();
    let u = Unpriv::new(&s);
    let dir = u.dir.join("vaultdir");
    fs::create_dir(&dir).unwrap();
    let v = dir.join("v.vault");
    let pass = format!("gcore-passphrase-{}", random_hex(12));
    let injected = format!("INJECTED-{}", random_hex(16));
    let hidden = format!("NOT-INJECTED-{}", random_hex(16));
    at(&s, &v, &pass, b"", &["init"]).args(KDF).run().success();
    at(&s, &v, &pass, injected.as_bytes(), &["set", "--raw", "INJ"])
        .run()
        .success();
    at(&s, &v, &pass, hidden.as_bytes(), &["set", "--raw", "HID"])
        .run()
        .success();
    let pf = dir.join("pass");
    fs::write(&pf, format!("{pass}\n")).unwrap();
    fs::set_permissions(&pf, fs::Permissions::from_mode(0o600)).unwrap();
    chown_tree(&dir);
    // vault (as nobody) stays as the parent of the masked child.
    let mut c = u.vault(
        &v,
        &pf,
        &[
            "exec",
            "--mask",
            "--only",
            "INJ",
            "--",
            "sh",
            "-c",
            "echo ready \"$INJ\"; exec sleep 60",
        ],
    );
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let so = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(so).lines() {
            let _ = tx.send(l.unwrap_or_default());
        }
    });
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            // SIGTERM: vault forwards it to the child and exits with it.
            // SAFETY: kill on our own child's pid.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(child);
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            let _ = child.0.kill();
            let mut e = String::new();
            let _ = child.0.stderr.take().unwrap().read_to_string(&mut e);
            panic!("no `ready` from the masked command: {e}")
        });
    assert_eq!(line, "ready ***", "the injected value is masked on stdout");
    // The process runs as the unprivileged user, with core dumps off...
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    // ...and the pages of its keys and values locked in RAM (as an ordinary
    // user, within RLIMIT_MEMLOCK): VmLck counts them.
    let locked_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmLck in /proc/PID/status");
    assert!(locked_kb > 0, "no memory locked:\n{status}");
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(2),
        Some(NOBODY.to_string().as_str()),
        "{uid_line}"
    );
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().nth(4),
        Some("0"),
        "RLIMIT_CORE: {core}"
    );
    // ...and not dumpable: its /proc files belong to root, and its own user
    // can neither read its environment nor attach to it.
    let owner = fs::metadata(format!("/proc/{pid}/status")).unwrap().uid();
    assert_eq!(
        owner, 0,
        "/proc/{pid} owned by {owner}: the process is dumpable"
    );
    let mut cat = u.command("cat");
    cat.arg(format!("/proc/{pid}/environ"));
    let environ = run_prog(cat, "cat environ as nobody", DEFAULT_TIMEOUT);
    assert_ne!(
        environ.code,
        Some(0),
        "same user read the environment:{environ:?}"
    );
    assert!(environ.stderr.contains("Permission denied"), "{environ:?}");
    let mut gdb = u.command("gdb");
    gdb.args(["--batch", "--nx", "-p", &pid.to_string()]);
    let attach = run_prog(gdb, "gdb -p as nobody", Duration::from_secs(60));
    assert!(
        attach.stderr.contains("ptrace: Operation not permitted"),
        "same user could attach:{attach:?}"
    );
    // Root bypasses PR_SET_DUMPABLE and RLIMIT_CORE: take the core.
    let core_base = s.root().join("core");
    let mut gc = Command::new("gcore");
    gc.arg("-o").arg(&core_base).arg(pid.to_string());
    let gout = run_prog(gc, "gcore", Duration::from_secs(120));
    let core_file = PathBuf::from(format!("{}.{pid}", core_base.display()));
    if gout.code != Some(0) || !core_file.exists() {
        if on_ci() {
            panic!("gcore as root failed:{gout:?}");
        }
        figure(&format!(
            "\n\n*** memory: gcore as root FAILED here, so nothing could be searched: {} ***\n",
            gout.stderr.trim()
        ));
        return;
    }
    let size = fs::metadata(&core_file).unwrap().len();
    let counts = count_in_file(
        &core_file,
        &[pass.as_bytes(), injected.as_bytes(), hidden.as_bytes()],
    );
    let _ = fs::remove_file(&core_file);
    drop(child);
    figure(&format!(
        "memory: vault exec --mask as uid {NOBODY} (pid {pid}): RLIMIT_CORE 0, non-dumpable \
         (/proc/PID owned by root), same-user ptrace attach denied, same-user /proc/PID/environ denied; \
         {locked_kb} kB locked (VmLck); \
         gcore as root: {:.0} MB core; occurrences: passphrase {}, injected secret {}, \
         secret not injected (--only) {}",
        size as f64 / 1e6,
        counts[0],
        counts[1],
        counts[2]
    ));
    // Positive control: the masker needs the injected value, so it is there.
    assert!(
        counts[1] > 0,
        "the injected value is not in the core: the search is broken"
    );
    // The passphrase is dropped (wiped) once the vault is open, before the
    // command starts.
    assert_eq!(counts[0], 0, "the passphrase is still in memory");
    // The secret left out by --only was decrypted with the rest of the body
    // (in a zeroizing buffer, indexed in place) and then dropped: no copy
    // is left. Held in every run here.
    assert_eq!(
        counts[2], 0,
        "a secret that was not injected is still in memory"
    );
}
