//! Where the passphrase comes from: `--passphrase-stdin`, `-file`, `-fd`,
//! `VAULT_PASSPHRASE(_FILE)`, which wins, which bytes count, lengths and
//! empties, and what happens when there is none and no terminal.

use std::time::Duration;

use crate::harness::*;

#[test]
fn passphrase_from_file_fd_env_and_env_file_all_open_the_same_vault() {
    let s = Sandbox::new();
    let file = s.file("pass.txt", format!("{PASS}\n").as_bytes());
    // Created with --passphrase-file ...
    s.vault_cmd()
        .arg("--passphrase-file")
        .arg(&file)
        .arg("init")
        .args(KDF)
        .run()
        .success();
    s.set("A", b"via-stdin");
    // ... opened by every other means.
    let by_file = s
        .vault_cmd()
        .arg("--passphrase-file")
        .arg(&file)
        .args(["get", "A"])
        .run()
        .success();
    assert_eq!(by_file.stdout, b"via-stdin\n");
    let by_fd = s
        .vault_cmd()
        .args(["--passphrase-fd", "3", "get", "A"])
        .fd(3, format!("{PASS}\n"))
        .run()
        .success();
    assert_eq!(by_fd.stdout, b"via-stdin\n");
    let by_high_fd = s
        .vault_cmd()
        .args(["--passphrase-fd", "7", "get", "A"])
        .fd(7, PASS)
        .run()
        .success();
    assert_eq!(by_high_fd.stdout, b"via-stdin\n");
    let by_env = s
        .vault_cmd()
        .args(["get", "A"])
        .env("VAULT_PASSPHRASE", PASS)
        .run()
        .success();
    assert_eq!(by_env.stdout, b"via-stdin\n");
    let by_env_file = s
        .vault_cmd()
        .args(["get", "A"])
        .env("VAULT_PASSPHRASE_FILE", &file)
        .run()
        .success();
    assert_eq!(by_env_file.stdout, b"via-stdin\n");
}

#[test]
fn init_with_passphrase_fd_env_and_env_file() {
    let s = Sandbox::new();
    let a = s.root().join("fd.vault");
    s.cmd()
        .arg("--vault")
        .arg(&a)
        .args(["--passphrase-fd", "3", "init"])
        .args(KDF)
        .fd(3, "fd-pass\n")
        .run()
        .success();
    let b = s.root().join("env.vault");
    s.cmd()
        .arg("--vault")
        .arg(&b)
        .arg("init")
        .args(KDF)
        .env("VAULT_PASSPHRASE", "env-pass")
        .run()
        .success();
    let c = s.root().join("envfile.vault");
    let f = s.file("p", b"envfile-pass\n");
    s.cmd()
        .arg("--vault")
        .arg(&c)
        .arg("init")
        .args(KDF)
        .env("VAULT_PASSPHRASE_FILE", &f)
        .run()
        .success();
    for (v, p) in [(&a, "fd-pass"), (&b, "env-pass"), (&c, "envfile-pass")] {
        s.cmd()
            .arg("--vault")
            .arg(v)
            .args(["--passphrase-stdin", "list"])
            .stdin(format!("{p}\n"))
            .run()
            .success();
        s.cmd()
            .arg("--vault")
            .arg(v)
            .args(["--passphrase-stdin", "list"])
            .stdin("not-it\n")
            .run()
            .code(3);
    }
}

#[test]
fn passphrase_is_exact_bytes_minus_one_trailing_newline_or_crlf() {
    let s = Sandbox::new();
    // From a file: "pw\r\n" is the passphrase "pw".
    let crlf = s.file("crlf", b" spaced pw \r\n");
    s.vault_cmd()
        .arg("--passphrase-file")
        .arg(&crlf)
        .arg("init")
        .args(KDF)
        .run()
        .success();
    let open_env = |p: &str| s.vault_cmd().arg("list").env("VAULT_PASSPHRASE", p).run();
    open_env(" spaced pw ").success();
    // No other normalisation: no trimming of spaces, no dropped \r.
    open_env("spaced pw").code(3);
    open_env(" spaced pw \r").code(3);
    // Only one newline goes: "x\n\n" is the passphrase "x\n".
    let s2 = Sandbox::new();
    let two = s2.file("two", b"pw\n\n");
    s2.vault_cmd()
        .arg("--passphrase-file")
        .arg(&two)
        .arg("init")
        .args(KDF)
        .run()
        .success();
    s2.vault_cmd()
        .arg("list")
        .env("VAULT_PASSPHRASE", "pw")
        .run()
        .code(3);
    s2.vault_cmd()
        .arg("list")
        .env("VAULT_PASSPHRASE", "pw\n")
        .run()
        .success();
    // The environment variable is taken as is: a trailing newline is kept.
    let s3 = Sandbox::new();
    s3.vault_cmd()
        .arg("init")
        .args(KDF)
        .env("VAULT_PASSPHRASE", "pw\n")
        .run()
        .success();
    s3.with_pass("pw", b"", &["list"]).run().code(3);
    s3.vault_cmd()
        .arg("--passphrase-file")
        .arg(s3.file("p", b"pw\n\n"))
        .arg("list")
        .run()
        .success();
}

#[test]
fn passphrase_flags_win_over_vault_passphrase_file_which_wins_over_vault_passphrase() {
    let s = Sandbox::new();
    s.init();
    let good = s.file("good", PASS.as_bytes());
    let bad = s.file("bad", b"nope");
    // A flag wins over both variables.
    s.with_pass(PASS, b"", &["list"])
        .env("VAULT_PASSPHRASE_FILE", &bad)
        .env("VAULT_PASSPHRASE", "nope")
        .run()
        .success();
    // VAULT_PASSPHRASE_FILE wins over VAULT_PASSPHRASE.
    s.vault_cmd()
        .arg("list")
        .env("VAULT_PASSPHRASE_FILE", &good)
        .env("VAULT_PASSPHRASE", "nope")
        .run()
        .success();
    s.vault_cmd()
        .arg("list")
        .env("VAULT_PASSPHRASE_FILE", &bad)
        .env("VAULT_PASSPHRASE", PASS)
        .run()
        .code(3);
    // Set but empty (an unset CI variable) counts as not given, for both.
    s.vault_cmd()
        .arg("list")
        .env("VAULT_PASSPHRASE_FILE", "")
        .env("VAULT_PASSPHRASE", "")
        .run()
        .code(3)
        .stderr_has("no passphrase was given");
}

#[test]
fn two_passphrase_flags_at_once_are_a_usage_error() {
    let s = Sandbox::new();
    s.init();
    let f = s.file("p", PASS.as_bytes());
    s.with_pass(PASS, b"", &["list", "--passphrase-file"])
        .arg(&f)
        .run()
        .code(2)
        .stderr_has("one way only");
}

#[test]
fn passphrase_fd_that_is_not_open_is_a_usage_error() {
    let s = Sandbox::new();
    s.init();
    s.vault_cmd()
        .args(["--passphrase-fd", "9", "list"])
        .run()
        .code(2)
        .stderr_has("file descriptor 9");
}

#[test]
fn passphrase_longer_than_4_kib_is_refused() {
    let s = Sandbox::new();
    let long = "x".repeat(4097);
    s.with_pass(&long, b"", &["init"])
        .args(KDF)
        .run()
        .code(2)
        .stderr_has("longer than 4096");
    assert!(!s.vault.exists());
    // 4096 bytes is fine.
    let ok = "y".repeat(4096);
    s.with_pass(&ok, b"", &["init"]).args(KDF).run().success();
    s.with_pass(&ok, b"", &["list"]).run().success();
}

#[test]
fn init_refuses_an_empty_passphrase_from_every_source() {
    let s = Sandbox::new();
    let empty_file = s.file("empty", b"\n");
    let runs = [
        s.with_pass("", b"", &["init"]),
        s.vault_cmd().arg("init").env("VAULT_PASSPHRASE", ""),
        s.vault_cmd()
            .arg("init")
            .env("VAULT_PASSPHRASE_FILE", &empty_file),
        s.vault_cmd()
            .arg("--passphrase-file")
            .arg(&empty_file)
            .arg("init"),
        s.vault_cmd()
            .args(["--passphrase-fd", "3", "init"])
            .fd(3, ""),
    ];
    for r in runs {
        r.args(KDF).run().code(2).stderr_has("empty passphrase");
        assert!(!s.vault.exists(), "a vault was created");
    }
}

#[test]
fn no_passphrase_and_no_terminal_exits_3_at_once_with_guidance() {
    let s = Sandbox::new();
    s.init();
    for args in [
        &["list"][..],
        &["get", "A"],
        &["set", "A"],
        &["delete", "A"],
        &["rekey"],
    ] {
        let out = s
            .vault_cmd()
            .args(args)
            .timeout(Duration::from_secs(20))
            .run()
            .code(3)
            .stderr_has("--passphrase-stdin");
        assert!(
            out.elapsed < Duration::from_secs(3),
            "took {:?}",
            out.elapsed
        );
    }
}

#[test]
fn init_without_a_passphrase_or_keyring_exits_3_with_guidance() {
    let s = Sandbox::new();
    let out = s.vault_cmd().arg("init").args(KDF).run().code(3);
    assert!(out.elapsed < Duration::from_secs(10));
    out.stderr_has("--passphrase-stdin").stderr_has("keyring");
    assert!(!s.vault.exists());
}

/// Descriptors 0, 1 and 2 belong to the process's standard streams: reading
/// a passphrase from them (and then closing them) is refused by the
/// argument parser, before anything is opened.
#[test]
fn passphrase_fd_0_1_and_2_are_refused() {
    let s = Sandbox::new();
    s.init();
    for (fd, says) in [
        ("0", "--passphrase-stdin"),
        ("1", "standard output"),
        ("2", "standard error"),
    ] {
        s.vault_cmd()
            .args(["--passphrase-fd", fd, "list"])
            .run()
            .code(2)
            .stderr_has(says);
    }
}

/// `printf '%s\n' "$UNSET" | vault --passphrase-stdin ...` sends an empty
/// line: say so (is a CI variable unset?) instead of "wrong passphrase".
/// The same for an empty passphrase file or descriptor.
#[test]
fn empty_passphrase_given_on_purpose_says_it_is_empty() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let empty_file = s.file("empty", b"\n");
    for r in [
        s.with_pass("", b"", &["get", "A"]),
        s.vault_cmd()
            .arg("--passphrase-file")
            .arg(&empty_file)
            .args(["get", "A"]),
        s.vault_cmd()
            .args(["--passphrase-fd", "3", "get", "A"])
            .fd(3, b"\n".to_vec()),
    ] {
        r.run()
            .code(3)
            .stderr_has("is empty (is a CI variable unset?)")
            .stderr_lacks("wrong passphrase");
    }
}

/// A new passphrase that is easy to guess: without a terminal (scripts, CI)
/// a warning naming the strength; `--weak-passphrase-ok` accepts it quietly.
/// A strong one says nothing.
#[test]
fn weak_new_passphrase_is_warned_about_without_a_terminal() {
    let s = Sandbox::new();
    s.with_pass("abc", b"", &["init"])
        .args(KDF)
        .run()
        .success()
        .stderr_has("easy to guess: strength 0 of 4");
    s.with_pass(
        "abc",
        b"password\n",
        &[
            "key",
            "add",
            "passphrase",
            "--new-passphrase-stdin",
            "--weak-passphrase-ok",
        ],
    )
    .args(KDF)
    .run()
    .success()
    .stderr_lacks("easy to guess");
    let s = Sandbox::new();
    s.with_pass(PASS, b"", &["init"])
        .args(KDF)
        .run()
        .success()
        .stderr_lacks("easy to guess");
}

/// What a terminal shows: everything vault wrote to it so far, read by a
/// thread from the pseudo-terminal's master side.
pub struct Screen(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Screen {
    pub fn new(master: &std::fs::File) -> Screen {
        use std::io::Read;
        let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut r = master.try_clone().unwrap();
        let sink = shown.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Screen(shown)
    }

    /// Waits until `needle` has been shown `times` times.
    pub fn wait(&self, needle: &str, times: usize) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < LIVE_TIMEOUT {
            let shown = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
            if shown.matches(needle).count() >= times {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// On a terminal, `vault set X` asks for the passphrase and checks it
/// before asking for the value (a typo must not throw away a typed value),
/// and a wrong passphrase is asked for again, up to three times.
#[test]
fn terminal_set_checks_the_passphrase_first_and_asks_again() {
    use std::io::Write;
    let Some((mut master, slave_path)) = require(Pty) else {
        return;
    };
    let s = Sandbox::new();
    s.init();
    let cmd = s
        .vault_cmd()
        .args(["set", "TYPED"])
        .on_terminal(&slave_path);
    let screen = Screen::new(&master);
    let vault = cmd.spawn();
    assert!(
        screen.wait("Passphrase for", 1),
        "no prompt: {:?}",
        screen.text()
    );
    master.write_all(b"not the passphrase\n").unwrap();
    // Asked again, and not yet for the value.
    assert!(
        screen.wait("Passphrase for", 2),
        "not asked again: {:?}",
        screen.text()
    );
    assert!(!screen.text().contains("Value:"), "{:?}", screen.text());
    master.write_all(format!("{PASS}\n").as_bytes()).unwrap();
    assert!(
        screen.wait("Value:", 1),
        "no value prompt: {:?}",
        screen.text()
    );
    master.write_all(b"typed-value-42\n").unwrap();
    let out = vault.finish().success();
    assert!(
        out.stderr.contains("wrong passphrase; try again (2 left)"),
        "{}",
        out.stderr
    );
    drop(master);
    assert_eq!(s.get("TYPED"), b"typed-value-42");
}

/// On a terminal a new passphrase that is easy to guess is refused (nothing
/// is created) unless `--weak-passphrase-ok`.
#[test]
fn terminal_init_refuses_a_weak_passphrase() {
    use std::io::Write;
    for (extra, created) in [(None, false), (Some("--weak-passphrase-ok"), true)] {
        let Some((mut master, slave_path)) = require(Pty) else {
            return;
        };
        let s = Sandbox::new();
        let cmd = s
            .vault_cmd()
            .arg("init")
            .args(KDF)
            .args(extra)
            .on_terminal(&slave_path);
        let screen = Screen::new(&master);
        let vault = cmd.spawn();
        assert!(screen.wait("New passphrase:", 1), "{:?}", screen.text());
        master.write_all(b"abc123\n").unwrap();
        assert!(
            screen.wait("Repeat the passphrase:", 1),
            "{:?}",
            screen.text()
        );
        master.write_all(b"abc123\n").unwrap();
        let out = vault.finish();
        drop(master);
        if created {
            out.success();
        } else {
            out.code(2)
                .stderr_has("easy to guess")
                .stderr_has("--weak-passphrase-ok");
        }
        assert_eq!(s.vault.exists(), created);
    }
}
