//! The vault file on disk: where it lives (the default path, `VAULT_FILE`),
//! its modes, symbolic links, paths that are not a regular file, a full
//! disk, a read-only directory, and the write lock held by another process.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::*;

#[test]
fn default_vault_path_is_under_home_with_0700_dirs_and_0600_file() {
    let s = Sandbox::new();
    s.cmd()
        .args(["--passphrase-stdin", "init"])
        .args(KDF)
        .stdin(format!("{PASS}\n"))
        .run()
        .success();
    let dir = s.home.join(".local/share/vault");
    let file = dir.join("default.vault");
    assert_eq!(mode(&file), 0o600);
    for d in [
        s.home.join(".local"),
        s.home.join(".local/share"),
        dir.clone(),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    // Rewritten by set: still 0600; the lock file too.
    s.cmd()
        .args(["--passphrase-stdin", "set", "A"])
        .stdin(stdin_lines(PASS, b"x"))
        .run()
        .success();
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&dir.join("default.vault.lock")), 0o600);
    assert_eq!(
        s.cmd()
            .args(["--passphrase-stdin", "get", "A"])
            .stdin(format!("{PASS}\n"))
            .run()
            .success()
            .stdout,
        b"x\n"
    );
    // XDG_DATA_HOME, when absolute, is used instead.
    let xdg = s.root().join("xdg");
    s.cmd()
        .args(["--passphrase-stdin", "init"])
        .args(KDF)
        .env("XDG_DATA_HOME", &xdg)
        .stdin(format!("{PASS}\n"))
        .run()
        .success();
    assert_eq!(mode(&xdg.join("vault/default.vault")), 0o600);
    assert_eq!(mode(&xdg.join("vault")), 0o700);
}

#[test]
fn vault_file_environment_variable_selects_the_vault() {
    let s = Sandbox::new();
    let p = s.root().join("env-chosen.vault");
    s.cmd()
        .args(["--passphrase-stdin", "init"])
        .args(KDF)
        .env("VAULT_FILE", &p)
        .stdin(format!("{PASS}\n"))
        .run()
        .success();
    assert!(p.exists());
    s.cmd()
        .args(["--passphrase-stdin", "set", "A"])
        .env("VAULT_FILE", &p)
        .stdin(stdin_lines(PASS, b"from env"))
        .run()
        .success();
    // --vault wins over VAULT_FILE.
    s.init();
    s.vault_cmd()
        .args(["--passphrase-stdin", "get", "A"])
        .env("VAULT_FILE", &p)
        .stdin(format!("{PASS}\n"))
        .run()
        .code(5);
    let out = s
        .cmd()
        .args(["--passphrase-stdin", "get", "A"])
        .env("VAULT_FILE", &p)
        .stdin(format!("{PASS}\n"))
        .run()
        .success();
    assert_eq!(out.stdout, b"from env\n");
}

#[test]
fn symlinked_vault_survives_set_and_points_to_the_updated_file() {
    let s = Sandbox::new();
    let dotfiles = s.root().join("dotfiles");
    fs::create_dir(&dotfiles).unwrap();
    let target = dotfiles.join("real.vault");
    // A relative link, as dotfile managers make them.
    std::os::unix::fs::symlink("../dotfiles/real.vault", &s.vault).unwrap();
    // Dangling link: init creates the target.
    s.init().set("A", b"1");
    let link_meta = fs::symlink_metadata(&s.vault).unwrap();
    assert!(link_meta.file_type().is_symlink(), "the link survives init");
    assert!(target.is_file());
    assert_eq!(mode(&target), 0o600);
    let before = fs::read(&target).unwrap();
    s.set("B", b"2");
    assert!(fs::symlink_metadata(&s.vault)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_link(&s.vault).unwrap(),
        Path::new("../dotfiles/real.vault")
    );
    let after = fs::read(&target).unwrap();
    assert_ne!(before, after, "the target was updated");
    assert_eq!(fs::read(&s.vault).unwrap(), after);
    // The write happened beside the target, not beside the link.
    assert!(dotfiles.join("real.vault.lock").exists());
    assert!(!s.home.join("test.vault.lock").exists());
    assert_eq!(s.get("A"), b"1");
    assert_eq!(s.get("B"), b"2");
    // Opening the target directly gives the same secrets.
    let out = s
        .cmd()
        .arg("--vault")
        .arg(&target)
        .args(["--passphrase-stdin", "list"])
        .stdin(format!("{PASS}\n"))
        .run()
        .success();
    assert_eq!(out.stdout_lines(), ["A", "B"]);
    // A chain of links is followed too.
    let chain = s.root().join("chain.vault");
    std::os::unix::fs::symlink(&s.vault, &chain).unwrap();
    s.cmd()
        .arg("--vault")
        .arg(&chain)
        .args(["--passphrase-stdin", "set", "C"])
        .stdin(stdin_lines(PASS, b"3"))
        .run()
        .success();
    assert!(fs::symlink_metadata(&chain)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(s.get("C"), b"3");
}

#[test]
fn vault_path_that_is_a_directory_fifo_or_link_is_a_clear_error_without_hanging() {
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
        for args in [
            &["get", "A"][..],
            &["set", "A"],
            &["list"],
            &["delete", "A"],
            &["rekey"],
            &["key", "list"],
        ] {
            let out = s
                .at(path, PASS, b"value", args)
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
    // init never overwrites a directory or a FIFO, says what is there, and
    // names a link loop.
    for (path, msg) in [
        (&dir, "is not a regular file"),
        (&fifo, "is not a regular file"),
        (&looping, "too many levels of symbolic links"),
    ] {
        s.at(path, PASS, b"", &["init"])
            .args(KDF)
            .timeout(Duration::from_secs(10))
            .run()
            .code(1)
            .stderr_has(msg);
    }
    // Nothing was created or replaced: still a directory, a FIFO, links.
    assert!(fs::metadata(&dir).unwrap().is_dir());
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::symlink_metadata(&looping)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!s.root().join("missing-target.vault").exists());
}

/// Another process (`flock`) holds the write lock.
#[test]
fn lock_held_by_another_process_waits_with_a_message_and_gives_up_in_bounded_time() {
    if require(Program("flock")).is_none() {
        return;
    }
    let s = Sandbox::new();
    s.init().set("A", b"old");
    let lock = s.home.join("test.vault.lock");
    let hold = |secs: &str| {
        let mut holder = s
            .program("flock")
            .args(["-x", "-o"])
            .arg(&lock)
            .args(["sh", "-c"])
            .arg(format!("echo locked; exec sleep {secs}"))
            .spawn();
        assert!(
            holder.wait_stdout(b"locked\n", LIVE_TIMEOUT),
            "flock did not take the lock: {}",
            holder.stdout_so_far()
        );
        holder
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
    // Readers do not need the lock.
    assert_eq!(s.get("A"), b"old");
    // SIGKILL ends flock, which held the lock (-o: its command does not).
    holder.kill();
    holder.finish();
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
    let holder = hold("3");
    let out = s
        .with_pass(PASS, b"new", &["set", "A"])
        .env("VAULT_LOCK_TIMEOUT", "10")
        .run()
        .success()
        .stderr_has("waiting for another vault process");
    holder.finish().success();
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

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[test]
fn disk_full_fails_with_a_clear_message_and_keeps_the_old_vault() {
    if require(Root).is_none() {
        return;
    }
    let s = Sandbox::new();
    let dir = s.root().join("full");
    let Some(mnt) = require(Works("a tmpfs mount", Mounted::tmpfs(&dir, "1M"))) else {
        return;
    };
    let v = dir.join("v.vault");
    s.at(&v, PASS, b"", &["init"]).args(KDF).run().success();
    let old: Vec<u8> = (0..200_000).map(|i| (i % 253) as u8).collect();
    s.at(&v, PASS, &old, &["set", "--raw", "OLD"])
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
    let out = s
        .at(&v, PASS, &big, &["set", "--raw", "BIG"])
        .run()
        .code(1)
        .stderr_has("No space left on device")
        .stderr_has(&dir.display().to_string());
    assert_eq!(fs::read(&v).unwrap(), before, "the old vault changed");
    assert_eq!(temp_files(&v), Vec::<String>::new(), "a temp file was left");
    assert_eq!(
        s.at(&v, PASS, b"", &["get", "-n", "OLD"])
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
    s.at(&v, PASS, &big, &["set", "--raw", "BIG"])
        .run()
        .success();
    assert_eq!(temp_files(&v), Vec::<String>::new());
    assert_eq!(
        s.at(&v, PASS, b"", &["get", "-n", "BIG"])
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
    let s = Sandbox::new();
    let mut cases = 0;
    if is_root() {
        // 1. A read-only file system.
        let dir = s.root().join("ro");
        if let Some(mnt) = require(Works("a tmpfs mount", Mounted::tmpfs(&dir, "4M"))) {
            let v = dir.join("v.vault");
            s.at(&v, PASS, b"", &["init"]).args(KDF).run().success();
            s.at(&v, PASS, b"old", &["set", "A"]).run().success();
            let before = fs::read(&v).unwrap();
            mnt.remount("ro");
            for args in [&["set", "A"][..], &["delete", "A"]] {
                let out = s
                    .at(&v, PASS, b"new", args)
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
                s.at(&v, PASS, b"", &["get", "A"]).run().success().stdout,
                b"old\n"
            );
            mnt.remount("rw");
            cases += 1;
        }
        // 2. A 0500 directory, vault run as an unprivileged user.
        if require(Program("setpriv")).is_some() {
            let u = Unpriv::new(&s);
            let dir = u.dir.join("vaultdir");
            fs::create_dir(&dir).unwrap();
            let v = dir.join("v.vault");
            s.at(&v, PASS, b"", &["init"]).args(KDF).run().success();
            s.at(&v, PASS, b"old", &["set", "A"]).run().success();
            let pf = u.dir.join("pass");
            fs::write(&pf, format!("{PASS}\n")).unwrap();
            chown_tree(&dir);
            std::os::unix::fs::chown(&pf, Some(NOBODY), Some(NOBODY)).unwrap();
            fs::set_permissions(&pf, fs::Permissions::from_mode(0o600)).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).unwrap();
            let before = fs::read(&v).unwrap();
            let out = u
                .vault(&s, &v, &pf, &["set", "A", "new"])
                .run()
                .code(1)
                .stderr_has("Permission denied")
                .stderr_has(&dir.display().to_string());
            assert_eq!(fs::read(&v).unwrap(), before);
            assert_eq!(temp_files(&v), Vec::<String>::new());
            let got = u.vault(&s, &v, &pf, &["get", "A"]).run().success();
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
        s.at(&v, PASS, b"", &["init"]).args(KDF).run().success();
        s.at(&v, PASS, b"old", &["set", "A"]).run().success();
        let before = fs::read(&v).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).unwrap();
        let out = s
            .at(&v, PASS, b"new", &["set", "A"])
            .run()
            .code(1)
            .stderr_has("Permission denied")
            .stderr_has(&dir.display().to_string());
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(fs::read(&v).unwrap(), before);
        assert_eq!(temp_files(&v), Vec::<String>::new());
        figure(&format!(
            "0500 directory: exit 1: {}",
            out.stderr.lines().next().unwrap_or("")
        ));
        cases += 1;
    }
    assert!(cases > 0 || !on_ci());
}

/// In a sticky world-writable directory (`/tmp`), a link another user
/// planted where the vault would be must not redirect it: `init` would
/// create the vault in their directory and later writes would land in their
/// file. vault applies the kernel's protected_symlinks rule to the links it
/// resolves itself. One's own link there still works.
#[test]
fn another_users_link_in_a_shared_sticky_directory_is_not_followed() {
    if require(Root).is_none() {
        return; // a link owned by another user needs lchown
    }
    let s = Sandbox::new();
    let shared = s.root().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let theirs = s.root().join("theirs");
    fs::create_dir(&theirs).unwrap();
    let planted = shared.join("team.vault");
    std::os::unix::fs::symlink(theirs.join("captured.vault"), &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(NOBODY), Some(NOBODY)).unwrap();
    s.cmd()
        .arg("--vault")
        .arg(&planted)
        .args(["--passphrase-stdin", "init"])
        .args(KDF)
        .stdin(stdin_lines(PASS, b""))
        .run()
        .code(1)
        .stderr_has("refusing to follow")
        .stderr_has("owned by another user");
    assert!(
        !theirs.join("captured.vault").exists(),
        "nothing created in their directory"
    );
    // One's own link in the same directory is followed.
    let own = shared.join("mine.vault");
    std::os::unix::fs::symlink(s.root().join("mine-target.vault"), &own).unwrap();
    s.cmd()
        .arg("--vault")
        .arg(&own)
        .args(["--passphrase-stdin", "init"])
        .args(KDF)
        .stdin(stdin_lines(PASS, b""))
        .run()
        .success();
    assert!(s.root().join("mine-target.vault").exists());
}
