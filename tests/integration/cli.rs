//! Integration tests of the `vault` binary: every command and exit code,
//! passphrase sources, names and sizes, tampering, committed test vectors,
//! concurrent writers, SIGKILL during writes, files on disk, and the real
//! keyring (Secret Service) — all through the real binary, with a fresh
//! temp HOME and a clean environment per test (see `common`).
//!
//! Keyring tests need the private Secret Service of
//! `scripts/with-secret-service.sh` (`scripts/test.sh` runs everything inside
//! it); without it they print a loud SKIPPED line, and fail when `CI=true`.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;

/// The message of a wrong passphrase (src/error.rs), without the path.
const WRONG: &str = "wrong passphrase (or the vault's passphrase slots have been tampered with)";

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------
// init and the passphrase sources
// ---------------------------------------------------------------------------

#[test]
fn init_with_passphrase_on_stdin_creates_a_0600_vault_that_opens() {
    let s = Sandbox::new();
    let out = s.with_pass(PASS, b"", &["init"]).args(KDF).run().code(0);
    assert!(out.stdout.is_empty(), "init prints nothing on stdout");
    out.stderr_has("created").stderr_has("passphrase");
    assert_eq!(mode(&s.vault), 0o600);
    assert!(fs::read(&s.vault).unwrap().starts_with(b"\x89vault\r\n"));
    assert!(s.names().is_empty());
    // The slot has exactly the cheap parameters asked for.
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    let slots = keys["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 1);
    assert_eq!(slots[0]["kind"], "passphrase");
    assert_eq!(slots[0]["memory_kib"], 8192);
    assert_eq!(slots[0]["time"], 1);
    assert_eq!(slots[0]["parallelism"], 1);
}

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
fn init_refuses_to_overwrite_an_existing_vault() {
    let s = Sandbox::new();
    s.init().set("KEEP", b"me");
    let before = s.vault_bytes();
    s.with_pass("other", b"", &["init"])
        .args(KDF)
        .run()
        .code(1)
        .stderr_has("already exists");
    assert_eq!(s.vault_bytes(), before);
    assert_eq!(s.get("KEEP"), b"me");
    // Not even an empty file is overwritten.
    let empty = s.root().join("empty.vault");
    fs::write(&empty, b"").unwrap();
    s.cmd()
        .arg("--vault")
        .arg(&empty)
        .args(["--passphrase-stdin", "init"])
        .args(KDF)
        .stdin("pw\n")
        .run()
        .code(1);
    assert_eq!(fs::read(&empty).unwrap(), b"");
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
fn init_rejects_out_of_bounds_kdf_parameters() {
    let s = Sandbox::new();
    let cases: [&[&str]; 8] = [
        &["--kdf-memory", "4GiB"],
        &["--kdf-memory", "7MiB"],
        &["--kdf-time", "0"],
        &["--kdf-time", "17"],
        &["--kdf-parallelism", "0"],
        &["--kdf-parallelism", "17"],
        &["--kdf-memory", "64"],
        &["--kdf-memory", "lots"],
    ];
    for extra in cases {
        let start = Instant::now();
        s.with_pass(PASS, b"", &["init"]).args(extra).run().code(2);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{extra:?} did KDF work"
        );
        assert!(!s.vault.exists(), "{extra:?} created a vault");
    }
    // The bounds themselves are accepted.
    s.with_pass(PASS, b"", &["init"])
        .args([
            "--kdf-memory",
            "8MiB",
            "--kdf-time",
            "1",
            "--kdf-parallelism",
            "16",
        ])
        .run()
        .success();
}

#[test]
fn init_recovery_code_is_printed_once_on_stdout_and_opens_the_vault() {
    let s = Sandbox::new();
    let out = s
        .with_pass(PASS, b"", &["init", "--recovery-code"])
        .args(KDF)
        .run()
        .success()
        .stderr_has("recovery code");
    let code = out.stdout_str();
    let code = code.strip_suffix('\n').expect("one line");
    assert!(!code.contains('\n'));
    assert!(code.len() >= 30, "a high-entropy code: {code:?}");
    assert!(!out.stderr.contains(code), "the code is only on stdout");
    assert_eq!(s.slot_ids("passphrase").len(), 2);
    s.set("A", b"1");
    assert_eq!(
        s.with_pass(code, b"", &["get", "A"]).run().success().stdout,
        b"1\n"
    );
    // Another vault gets another code.
    let s2 = Sandbox::new();
    let other = s2
        .with_pass(PASS, b"", &["init", "--recovery-code"])
        .args(KDF)
        .run()
        .success()
        .stdout_str();
    assert_ne!(other.trim_end(), code);
}

#[test]
fn init_without_a_passphrase_or_keyring_exits_3_with_guidance() {
    let s = Sandbox::new();
    let out = s.vault_cmd().arg("init").args(KDF).run().code(3);
    assert!(out.elapsed < Duration::from_secs(10));
    out.stderr_has("--passphrase-stdin").stderr_has("keyring");
    assert!(!s.vault.exists());
}

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
fn global_options_are_accepted_after_the_subcommand() {
    let s = Sandbox::new();
    s.cmd()
        .arg("init")
        .args(KDF)
        .arg("--vault")
        .arg(&s.vault)
        .arg("--passphrase-stdin")
        .stdin(format!("{PASS}\n"))
        .run()
        .success();
    s.cmd()
        .args(["set", "A", "--passphrase-stdin", "--vault"])
        .arg(&s.vault)
        .stdin(stdin_lines(PASS, b"after"))
        .run()
        .success();
    let out = s
        .cmd()
        .args(["get", "A", "-n", "--vault"])
        .arg(&s.vault)
        .arg("--passphrase-file")
        .arg(s.file("p", PASS.as_bytes()))
        .run()
        .success();
    assert_eq!(out.stdout, b"after");
    let keys = s
        .cmd()
        .args(["key", "list", "--json", "--vault"])
        .arg(&s.vault)
        .run()
        .success()
        .json();
    assert_eq!(keys["slots"].as_array().unwrap().len(), 1);
    s.cmd()
        .args(["list", "--no-keyring", "--passphrase-fd", "3", "--vault"])
        .arg(&s.vault)
        .fd(3, PASS)
        .run()
        .success();
}

#[test]
fn missing_vault_exits_1_and_says_vault_init() {
    let s = Sandbox::new();
    let runs = [
        s.with_pass(PASS, b"", &["list"]),
        s.with_pass(PASS, b"", &["get", "A"]),
        s.with_pass(PASS, b"v", &["set", "A"]),
        s.with_pass(PASS, b"", &["delete", "A"]),
        s.vault_cmd().args(["key", "list"]),
        s.with_pass(PASS, b"", &["rekey"]),
        s.vault_cmd().arg("list"),
    ];
    for r in runs {
        r.run()
            .code(1)
            .stderr_has("no vault at")
            .stderr_has(&s.vault.display().to_string())
            .stderr_has("vault init");
    }
    // A path under a missing directory is a missing vault too.
    s.cmd()
        .arg("--vault")
        .arg(s.root().join("no/such/dir/x.vault"))
        .arg("list")
        .run()
        .code(1)
        .stderr_has("vault init");
    // Nothing was created along the way.
    assert!(!s.vault.exists());
}

#[test]
fn usage_errors_exit_2_and_help_documents_the_exit_codes() {
    let s = Sandbox::new();
    s.cmd().arg("frobnicate").run().code(2);
    s.cmd().args(["list", "--bogus"]).run().code(2);
    s.cmd().arg("set").run().code(2);
    s.cmd().arg("delete").run().code(2);
    s.cmd().run().code(2);
    let help = s.cmd().arg("--help").run().success().stdout_str();
    for line in [
        "0  ok",
        "1  I/O",
        "2  usage",
        "3  cannot unlock",
        "4  the vault file is corrupt",
        "5  no such secret",
    ] {
        assert!(help.contains(line), "--help lacks {line:?}:\n{help}");
    }
    s.cmd().arg("--version").run().success();
}

#[test]
fn wrong_passphrase_exits_3_with_the_same_message_as_a_tampered_passphrase_slot() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let wrong = s
        .with_pass("not the passphrase", b"", &["get", "A"])
        .run()
        .code(3)
        .stderr_has(WRONG);
    let bytes = s.vault_bytes();
    for (field, len) in [("salt", 16), ("wrapped", 48)] {
        let r = bstr_field(&bytes, field, len, 0);
        for at in [r.start, r.end - 1] {
            let mut t = bytes.clone();
            t[at] ^= 0x01;
            fs::write(&s.vault, &t).unwrap();
            let tampered = s.with_pass(PASS, b"", &["get", "A"]).run().code(3);
            assert_eq!(tampered.stderr, wrong.stderr, "{field} byte {at}");
        }
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

// ---------------------------------------------------------------------------
// set / get / list / delete
// ---------------------------------------------------------------------------

#[test]
fn set_from_stdin_strips_one_trailing_newline_and_raw_keeps_it() {
    let s = Sandbox::new();
    s.init();
    let set = |args: &[&str], value: &[u8]| {
        s.with_pass(PASS, value, args)
            .run()
            .success()
            .stderr_lacks("warning")
    };
    set(&["set", "ONE"], b"value\n");
    set(&["set", "TWO"], b"value\n\n");
    set(&["set", "NONE"], b"value");
    set(&["set", "RAW", "--raw"], b"value\n");
    set(&["set", "MULTI"], b"line 1\nline 2\n");
    assert_eq!(s.get("ONE"), b"value");
    assert_eq!(s.get("TWO"), b"value\n");
    assert_eq!(s.get("NONE"), b"value");
    assert_eq!(s.get("RAW"), b"value\n");
    assert_eq!(s.get("MULTI"), b"line 1\nline 2");
}

#[test]
fn set_value_as_argument_is_stored_and_warns_on_stderr() {
    let s = Sandbox::new();
    s.init();
    let out = s
        .with_pass(PASS, b"", &["set", "TOKEN", "arg-value-x9"])
        .run()
        .success()
        .stderr_has("warning")
        .stderr_has("visible to other processes")
        .stderr_has("history")
        .stderr_lacks("arg-value-x9");
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr.matches("warning").count(), 1, "warns once");
    assert_eq!(s.get("TOKEN"), b"arg-value-x9");
}

#[test]
fn overwriting_a_secret_keeps_created_and_moves_updated() {
    let s = Sandbox::new();
    fs::copy(vectors_dir().join("ok_passphrase.vault"), &s.vault).unwrap();
    let meta = |name: &str| -> (u64, u64, u64) {
        let list = s
            .with_pass(VECTOR_PASS, b"", &["list", "--json"])
            .run()
            .success()
            .json();
        let e = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()
            .clone();
        (
            e["created"].as_u64().unwrap(),
            e["updated"].as_u64().unwrap(),
            e["size"].as_u64().unwrap(),
        )
    };
    let (created, updated, _) = meta("API_TOKEN");
    let start = unix_now();
    assert!(
        updated < start,
        "the committed vector is older than this run"
    );
    s.with_pass(
        VECTOR_PASS,
        b"a much longer new value",
        &["set", "API_TOKEN"],
    )
    .run()
    .success();
    let (c2, u2, size) = meta("API_TOKEN");
    assert_eq!(c2, created, "created is kept");
    assert!(u2 >= start, "updated moves to now: {u2} < {start}");
    assert_eq!(size, 23);
    // A new secret has created == updated == now.
    s.with_pass(VECTOR_PASS, b"n", &["set", "FRESH"])
        .run()
        .success();
    let (c3, u3, _) = meta("FRESH");
    assert_eq!(c3, u3);
    assert!(c3 >= start);
}

#[test]
fn get_prints_value_and_newline_n_omits_it_and_unknown_exits_5() {
    let s = Sandbox::new();
    s.init().set("A", b"abc");
    let out = s.with_pass(PASS, b"", &["get", "A"]).run().success();
    assert_eq!(out.stdout, b"abc\n");
    let out = s.with_pass(PASS, b"", &["get", "-n", "A"]).run().success();
    assert_eq!(out.stdout, b"abc");
    s.with_pass(PASS, b"", &["get", "MISSING"])
        .run()
        .code(5)
        .stderr_has("no secret named MISSING");
    // A name is case-sensitive.
    s.with_pass(PASS, b"", &["get", "a"]).run().code(5);
}

#[test]
fn list_is_sorted_and_json_has_metadata_but_never_values() {
    let s = Sandbox::new();
    s.init();
    assert_eq!(
        s.with_pass(PASS, b"", &["list", "--json"])
            .run()
            .success()
            .json(),
        serde_json::json!([])
    );
    let names = ["b", "Z_LAST", "_under", "B", "a1", "A"];
    for n in names {
        s.set(n, format!("secret-value-of-{n}").as_bytes());
    }
    let mut sorted: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    sorted.sort();
    let out = s.with_pass(PASS, b"", &["list"]).run().success();
    assert_eq!(out.stdout_lines(), sorted);
    assert!(!contains(&out.stdout, b"secret-value-of"));
    let out = s.with_pass(PASS, b"", &["list", "--json"]).run().success();
    assert!(!contains(&out.stdout, b"secret-value-of"));
    let items = out.json();
    let items = items.as_array().unwrap();
    let got: Vec<&str> = items.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(got, sorted);
    for e in items {
        let obj = e.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["created", "name", "size", "updated"]);
        let n = e["name"].as_str().unwrap();
        assert_eq!(
            e["size"].as_u64().unwrap() as usize,
            format!("secret-value-of-{n}").len()
        );
        assert!(e["created"].as_u64().unwrap() <= e["updated"].as_u64().unwrap());
    }
}

#[test]
fn delete_and_rm_are_all_or_nothing() {
    let s = Sandbox::new();
    s.init()
        .set("A", b"1")
        .set("B", b"2")
        .set("C", b"3")
        .set("D", b"4");
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["delete", "A", "NOPE", "B"])
        .run()
        .code(5)
        .stderr_has("NOPE");
    assert_eq!(s.vault_bytes(), before, "nothing deleted");
    s.with_pass(PASS, b"", &["rm", "A", "B", "NOPE"])
        .run()
        .code(5);
    assert_eq!(s.vault_bytes(), before, "nothing deleted");
    // An invalid name among valid ones: usage error, nothing deleted.
    s.with_pass(PASS, b"", &["delete", "A", "bad-name"])
        .run()
        .code(2);
    assert_eq!(s.vault_bytes(), before);
    s.with_pass(PASS, b"", &["delete", "A", "B"])
        .run()
        .success();
    assert_eq!(s.names(), ["C", "D"]);
    s.with_pass(PASS, b"", &["rm", "D"]).run().success();
    assert_eq!(s.names(), ["C"]);
    s.with_pass(PASS, b"", &["get", "A"]).run().code(5);
    s.with_pass(PASS, b"", &["rm", "D"]).run().code(5);
}

// ---------------------------------------------------------------------------
// names and sizes
// ---------------------------------------------------------------------------

#[test]
fn invalid_names_exit_2_without_repeating_the_name_and_leave_the_vault_unchanged() {
    let s = Sandbox::new();
    s.init().set("GOOD", b"v");
    let before = s.vault_bytes();
    let long = "N".repeat(129);
    let bad: [&str; 11] = [
        "1A",
        "A-B",
        "VAULT_X",
        &long,
        "",
        "tökén",
        "ghp_tok3n-with-dash",
        "9LEADINGDIGIT",
        "VAULT_TOKEN_LOOKALIKE",
        "has space",
        "semi;colon",
    ];
    for name in bad {
        for args in [
            vec!["set", name],
            vec!["set", name, "value-arg"],
            vec!["get", name],
            vec!["delete", name],
            vec!["rm", "GOOD", name],
        ] {
            let out = s
                .with_pass(PASS, b"some value", &args)
                .run()
                .code(2)
                .stderr_has("[A-Za-z_][A-Za-z0-9_]*")
                .stderr_has("128")
                .stderr_has("VAULT_");
            if name.len() >= 2 {
                out.stderr_lacks(name);
            }
            assert_eq!(s.vault_bytes(), before, "{args:?} changed the vault");
        }
    }
    // The limits themselves are fine.
    let max = "M".repeat(128);
    s.set(&max, b"x")
        .set("_", b"y")
        .set("a_1", b"z")
        .set("VAULTX", b"w");
    assert_eq!(s.get(&max), b"x");
}

#[test]
fn invalid_utf8_name_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let s = Sandbox::new();
    s.init();
    s.vault_cmd()
        .arg("get")
        .arg(std::ffi::OsStr::from_bytes(b"TOK\xffEN"))
        .env("VAULT_PASSPHRASE", PASS)
        .run()
        .code(2);
}

#[test]
fn value_of_exactly_1_mib_is_accepted_and_one_byte_more_is_refused() {
    let s = Sandbox::new();
    s.init();
    let mib = 1 << 20;
    let big: Vec<u8> = (0..mib).map(|i| (i % 251) as u8).collect();
    s.set("BIG", &big);
    assert_eq!(s.get("BIG"), big);
    // 1 MiB plus the one newline that is stripped is fine as well.
    let mut nl = big.clone();
    nl.push(b'\n');
    s.with_pass(PASS, &nl, &["set", "BIG_NL"]).run().success();
    assert_eq!(s.get("BIG_NL"), big);
    let before = s.vault_bytes();
    let mut over = big.clone();
    over.push(b'x');
    s.with_pass(PASS, &over, &["set", "--raw", "OVER"])
        .run()
        .code(2)
        .stderr_has("1 MiB");
    s.with_pass(PASS, &over, &["set", "BIG"]).run().code(2);
    let mut nl_raw = big.clone();
    nl_raw.push(b'\n');
    s.with_pass(PASS, &nl_raw, &["set", "--raw", "OVER"])
        .run()
        .code(2);
    let mut much = big;
    much.extend_from_slice(&[7u8; 4096]);
    s.with_pass(PASS, &much, &["set", "OVER"]).run().code(2);
    assert_eq!(s.vault_bytes(), before, "the vault is unchanged");
}

#[test]
fn empty_value_is_allowed() {
    let s = Sandbox::new();
    s.init();
    s.with_pass(PASS, b"", &["set", "EMPTY"]).run().success();
    s.with_pass(PASS, b"\n", &["set", "EMPTY_NL"])
        .run()
        .success();
    s.with_pass(PASS, b"", &["set", "EMPTY_ARG", ""])
        .run()
        .success();
    for n in ["EMPTY", "EMPTY_NL", "EMPTY_ARG"] {
        assert_eq!(s.get(n), b"");
        let out = s.with_pass(PASS, b"", &["get", n]).run().success();
        assert_eq!(out.stdout, b"\n");
    }
    let list = s
        .with_pass(PASS, b"", &["list", "--json"])
        .run()
        .success()
        .json();
    assert!(list.as_array().unwrap().iter().all(|e| e["size"] == 0));
}

#[test]
fn binary_value_with_nul_and_ff_round_trips_with_raw_and_get_n() {
    let s = Sandbox::new();
    s.init();
    let value: Vec<u8> = b"\x00\xff\x00bin\xfe\r\n\x00\xff\n".to_vec();
    s.with_pass(PASS, &value, &["set", "--raw", "BIN"])
        .run()
        .success();
    assert_eq!(s.get("BIN"), value);
    let all: Vec<u8> = (0..=255u8).collect();
    s.set("ALL_BYTES", &all);
    assert_eq!(s.get("ALL_BYTES"), all);
    let out = s.with_pass(PASS, b"", &["get", "BIN"]).run().success();
    assert_eq!(&out.stdout[..value.len()], &value[..]);
    assert_eq!(out.stdout.len(), value.len() + 1);
}

// ---------------------------------------------------------------------------
// key slots and rekey
// ---------------------------------------------------------------------------

#[test]
fn key_list_shows_slots_and_never_key_material() {
    let s = Sandbox::new();
    s.init();
    s.with_pass(
        PASS,
        b"second\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args([
        "--kdf-memory",
        "9MiB",
        "--kdf-time",
        "2",
        "--kdf-parallelism",
        "2",
    ])
    .run()
    .success();
    let bytes = s.vault_bytes();
    let text = s
        .vault_cmd()
        .args(["key", "list"])
        .run()
        .success()
        .stdout_str();
    let ids = s.slot_ids("passphrase");
    assert_eq!(ids.len(), 2);
    assert_eq!(text.lines().count(), 2, "{text}");
    for id in &ids {
        assert_eq!(id.len(), 8);
        assert!(text.contains(id.as_str()));
    }
    assert!(text.contains("m=8 MiB t=1 p=1"), "{text}");
    assert!(text.contains("m=9 MiB t=2 p=2"), "{text}");
    let json = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success();
    let v = json.json();
    assert_eq!(v["generation"].as_u64(), Some(2));
    assert_eq!(v["vault_id"].as_str().unwrap().len(), 32);
    for slot in v["slots"].as_array().unwrap() {
        let mut keys: Vec<&str> = slot
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            ["id", "kdf", "kind", "memory_kib", "parallelism", "time"]
        );
    }
    // No salt, nonce or wrapped key, raw or hex, in either listing.
    for (field, len) in [("salt", 16), ("wrapped", 48), ("nonce", 24)] {
        let r = bstr_field(&bytes, field, len, 0);
        let raw = &bytes[r];
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        for out in [text.as_bytes(), &json.stdout[..]] {
            assert!(!contains(out, raw));
            assert!(!contains(out, &hex.as_bytes()[..16]));
        }
    }
}

#[test]
fn key_add_passphrase_adds_a_second_way_in() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    s.with_pass(
        PASS,
        b"second pass\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success()
    .stderr_has("added passphrase slot");
    assert_eq!(
        s.with_pass("second pass", b"", &["get", "A"])
            .run()
            .success()
            .stdout,
        b"v\n"
    );
    assert_eq!(s.get("A"), b"v");
    // From a file, and opened with the second passphrase.
    let f = s.file("third", b"third pass\n");
    s.with_pass(
        "second pass",
        b"",
        &["key", "add", "passphrase", "--new-passphrase-file"],
    )
    .arg(&f)
    .args(KDF)
    .run()
    .success();
    s.with_pass("third pass", b"", &["list"]).run().success();
    assert_eq!(s.slot_ids("passphrase").len(), 3);
    let before = s.vault_bytes();
    // An empty new passphrase, bad KDF parameters, a wrong current
    // passphrase, no new passphrase and no terminal: refused, unchanged.
    s.with_pass(
        PASS,
        b"\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .code(2);
    s.with_pass(
        PASS,
        b"x\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(["--kdf-time", "17"])
    .run()
    .code(2);
    s.with_pass(
        "wrong",
        b"x\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .code(3);
    s.with_pass(PASS, b"", &["key", "add", "passphrase"])
        .args(KDF)
        .run()
        .code(3)
        .stderr_has("--new-passphrase-stdin");
    assert_eq!(s.vault_bytes(), before);
}

#[test]
fn key_remove_removes_a_slot_and_refuses_the_last_one() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    s.with_pass(
        PASS,
        b"other\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    let ids = s.slot_ids("passphrase");
    let (first, second) = (&ids[0], &ids[1]);
    // Malformed and unknown ids.
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["key", "remove", "xyz"])
        .run()
        .code(2);
    s.with_pass(PASS, b"", &["key", "remove", "deadbeef"])
        .run()
        .code(2)
        .stderr_has("deadbeef");
    assert_eq!(s.vault_bytes(), before);
    // Remove the second slot with the first passphrase.
    s.with_pass(PASS, b"", &["key", "remove", second])
        .run()
        .success()
        .stderr_has(second);
    assert_eq!(s.slot_ids("passphrase"), std::slice::from_ref(first));
    s.with_pass("other", b"", &["list"])
        .run()
        .code(3)
        .stderr_has(WRONG);
    assert_eq!(s.get("A"), b"v");
    // The last one stays.
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["key", "remove", first])
        .run()
        .code(2)
        .stderr_has("last slot");
    assert_eq!(s.vault_bytes(), before);
}

#[test]
fn key_passwd_old_passphrase_stops_working_and_new_one_works() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let id = s.slot_ids("passphrase").remove(0);
    // The current passphrase is the first line of stdin, the new one the second.
    s.with_pass(
        PASS,
        b"brand new\n",
        &["key", "passwd", &id, "--new-passphrase-stdin"],
    )
    .run()
    .success();
    s.with_pass(PASS, b"", &["list"])
        .run()
        .code(3)
        .stderr_has(WRONG);
    assert_eq!(
        s.with_pass("brand new", b"", &["get", "A"])
            .run()
            .success()
            .stdout,
        b"v\n"
    );
    // The slot keeps its id and (without --kdf-*) its parameters.
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(keys["slots"][0]["id"], id.as_str());
    assert_eq!(keys["slots"][0]["memory_kib"], 8192);
    // From a file, with new parameters.
    let f = s.file("newer", b"newer\n");
    s.with_pass(
        "brand new",
        b"",
        &["key", "passwd", &id, "--new-passphrase-file"],
    )
    .arg(&f)
    .args(["--kdf-memory", "10MiB"])
    .run()
    .success();
    s.with_pass("brand new", b"", &["list"]).run().code(3);
    s.with_pass("newer", b"", &["list"]).run().success();
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(keys["slots"][0]["memory_kib"], 10240);
    // A parameter not given keeps the slot's value, not the default (t=3 p=4).
    assert_eq!(keys["slots"][0]["time"], 1);
    assert_eq!(keys["slots"][0]["parallelism"], 1);
    // Refused: empty new passphrase, bad KDF, unknown slot, wrong current.
    let before = s.vault_bytes();
    s.with_pass(
        "newer",
        b"\n",
        &["key", "passwd", &id, "--new-passphrase-stdin"],
    )
    .run()
    .code(2);
    s.with_pass(
        "newer",
        b"x\n",
        &["key", "passwd", &id, "--new-passphrase-stdin"],
    )
    .args(["--kdf-parallelism", "17"])
    .run()
    .code(2);
    s.with_pass(
        "newer",
        b"x\n",
        &["key", "passwd", "00000000", "--new-passphrase-stdin"],
    )
    .run()
    .code(2);
    s.with_pass(
        "wrong",
        b"x\n",
        &["key", "passwd", &id, "--new-passphrase-stdin"],
    )
    .run()
    .code(3);
    assert_eq!(s.vault_bytes(), before);
}

/// The data-key commitment in the header: changes exactly when the data key does.
fn commitment(bytes: &[u8]) -> Vec<u8> {
    bytes[bstr_field(bytes, "commitment", 32, 0)].to_vec()
}

#[test]
fn rekey_needs_every_passphrase_slot_or_an_explicit_drop() {
    let s = Sandbox::new();
    s.init().set("A", b"v").set("B", b"w");
    s.with_pass(
        PASS,
        b"leaked\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    let ids = s.slot_ids("passphrase");
    let leaked = &ids[1];
    let before = s.vault_bytes();
    // The other slot's passphrase was not given: exit 2, naming the slot.
    s.with_pass(PASS, b"", &["rekey"])
        .run()
        .code(2)
        .stderr_has(leaked)
        .stderr_has("--drop");
    assert_eq!(s.vault_bytes(), before);
    // Drop it explicitly.
    s.with_pass(PASS, b"", &["rekey", "--drop", leaked])
        .run()
        .success();
    let after = s.vault_bytes();
    assert_ne!(commitment(&after), commitment(&before), "a new data key");
    assert_eq!(s.slot_ids("passphrase"), &ids[..1]);
    s.with_pass("leaked", b"", &["list"]).run().code(3);
    assert_eq!(s.get("A"), b"v");
    assert_eq!(s.get("B"), b"w");
    // An unknown or malformed --drop is a usage error; dropping every slot too.
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["rekey", "--drop", "00000000"])
        .run()
        .code(2);
    s.with_pass(PASS, b"", &["rekey", "--drop", "zz"])
        .run()
        .code(2);
    s.with_pass(PASS, b"", &["rekey", "--drop", &ids[0]])
        .run()
        .code(2);
    s.with_pass("wrong", b"", &["rekey"]).run().code(3);
    assert_eq!(s.vault_bytes(), before);
}

// ---------------------------------------------------------------------------
// the cached unlock (kernel keyring)
// ---------------------------------------------------------------------------

#[test]
fn unlock_caches_the_data_key_for_reads_and_writes_until_lock() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    s.vault_cmd().args(["get", "A"]).run().code(3);
    s.with_pass(PASS, b"", &["unlock", "--timeout", "10m"])
        .run()
        .success()
        .stderr_has("unlocked for 10m");
    // Reading, running and changing need no passphrase now.
    assert_eq!(
        s.vault_cmd()
            .args(["get", "-n", "A"])
            .run()
            .success()
            .stdout,
        b"v"
    );
    s.vault_cmd()
        .args(["set", "B"])
        .stdin(b"w".to_vec())
        .run()
        .success();
    let out = s
        .vault_cmd()
        .args(["exec", "--", "sh", "-c", "printf %s \"$A$B\""])
        .run()
        .success();
    assert_eq!(out.stdout, b"vw");
    // key list and doctor say so, with the expiry; never the key.
    s.vault_cmd()
        .args(["key", "list"])
        .run()
        .success()
        .stdout_has("cached unlock until");
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    assert!(keys["cached_unlock_expires_utc"].is_string(), "{keys}");
    let doctor = s
        .vault_cmd()
        .args(["doctor", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(doctor["cache"]["cached_key"], true, "{doctor}");
    // --no-cache skips it; slot management never uses it.
    s.vault_cmd().args(["--no-cache", "get", "A"]).run().code(3);
    s.vault_cmd()
        .args(["key", "add", "passphrase", "--new-passphrase-stdin"])
        .stdin(b"another\n".to_vec())
        .run()
        .code(3);
    s.vault_cmd().args(["rekey"]).run().code(3);
    // A passphrase given explicitly still wins (a wrong one fails).
    s.with_pass("wrong", b"", &["get", "A"]).run().code(3);
    // lock removes it.
    s.vault_cmd()
        .arg("lock")
        .run()
        .success()
        .stderr_has("removed the cached key");
    s.vault_cmd().args(["get", "A"]).run().code(3);
    s.vault_cmd()
        .arg("lock")
        .run()
        .success()
        .stderr_has("had no cached key");
}

#[test]
fn a_cached_unlock_works_from_the_default_and_from_fresh_session_keyrings() {
    // The cache lives in the user keyring, so it does not matter which
    // session keyring a process has: the machine's default `_uid_ses` one
    // (no PAM keyinit here) or a fresh one (`keyctl session -`).
    if which("keyctl").is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI must provide keyctl (keyutils); scripts/deps.sh installs it");
        }
        eprintln!("\n*** SKIPPED: keyctl (keyutils) is not installed ***\n");
        return;
    }
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let pf = s.file("pass", format!("{PASS}\n").as_bytes());
    // `keyctl session - vault ...` runs vault in a new anonymous session
    // keyring.
    let wrapped = |with_pass: bool, args: &[&str]| {
        let c = s
            .cmd_via(&["keyctl".as_ref(), "session".as_ref(), "-".as_ref()])
            .arg("--vault")
            .arg(&s.vault)
            .args(args);
        if with_pass {
            c.env("VAULT_PASSPHRASE_FILE", &pf)
        } else {
            c
        }
    };
    wrapped(true, &["unlock", "--timeout", "1m"])
        .run()
        .success();
    // The default session, then another fresh one, both see it.
    assert_eq!(
        s.vault_cmd()
            .args(["get", "-n", "A"])
            .run()
            .success()
            .stdout,
        b"v"
    );
    assert_eq!(
        wrapped(false, &["get", "-n", "A"]).run().success().stdout,
        b"v"
    );
    wrapped(false, &["lock"])
        .run()
        .success()
        .stderr_has("removed");
    s.vault_cmd().args(["get", "A"]).run().code(3);
}

#[test]
fn a_cached_unlock_expires_by_itself_and_a_rekey_ends_it() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    s.with_pass(PASS, b"", &["unlock", "--timeout", "2s"])
        .run()
        .success();
    s.vault_cmd().args(["get", "A"]).run().success();
    std::thread::sleep(Duration::from_millis(3500));
    s.vault_cmd().args(["get", "A"]).run().code(3);
    // A rekey makes a cached key useless, and removes it.
    s.with_pass(PASS, b"", &["unlock", "--timeout", "10m"])
        .run()
        .success();
    s.with_pass(PASS, b"", &["rekey"]).run().success();
    s.vault_cmd().args(["get", "A"]).run().code(3);
    s.vault_cmd()
        .arg("lock")
        .run()
        .success()
        .stderr_has("had no cached key");
}

#[test]
fn rekey_takes_the_other_slots_passphrases_from_files() {
    // The README's "after a leak" flow on a vault with a second (recovery)
    // passphrase: both slots survive the rekey, each with its own passphrase.
    let s = Sandbox::new();
    s.init().set("A", b"v");
    s.with_pass(
        PASS,
        b"recovery words\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    let before = s.vault_bytes();
    let wrong = s.file("wrong", b"not it\n");
    s.with_pass(PASS, b"", &["rekey", "--other-passphrase-file"])
        .arg(&wrong)
        .run()
        .code(2)
        .stderr_has("--other-passphrase-file");
    assert_eq!(s.vault_bytes(), before);
    let recovery = s.file("recovery", b"recovery words\n");
    s.with_pass(PASS, b"", &["rekey", "--other-passphrase-file"])
        .arg(&recovery)
        .run()
        .success()
        .stderr_has("re-wrapped 2");
    assert_ne!(commitment(&s.vault_bytes()), commitment(&before));
    assert_eq!(s.get("A"), b"v");
    s.with_pass("recovery words", b"", &["get", "A"])
        .run()
        .success();
}

#[test]
fn rekey_with_every_passphrase_rewraps_all_slots_and_keeps_secrets() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    // A second slot with the same passphrase: one passphrase opens both.
    s.with_pass(
        PASS,
        format!("{PASS}\n").as_bytes(),
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["rekey"])
        .run()
        .success()
        .stderr_has("re-wrapped 2");
    let after = s.vault_bytes();
    assert_ne!(commitment(&after), commitment(&before));
    assert_eq!(s.slot_ids("passphrase").len(), 2);
    assert_eq!(s.get("A"), b"v");
    // The old file does not open with the new file's slots: the data key changed.
    let mut franken = after[..header_end(&after)].to_vec();
    franken.extend_from_slice(&before[header_end(&before)..]);
    fs::write(&s.vault, &franken).unwrap();
    s.with_pass(PASS, b"", &["list"]).run().code(4);
}

// ---------------------------------------------------------------------------
// tampering, truncation, versions
// ---------------------------------------------------------------------------

/// A small vault (~300 bytes) with one passphrase slot and one secret.
fn small_vault() -> (Sandbox, Vec<u8>) {
    let s = Sandbox::new();
    s.init().set("A", b"value");
    let bytes = s.vault_bytes();
    assert!(bytes.len() < 400, "{} bytes", bytes.len());
    (s, bytes)
}

/// [`Sandbox::open_variants`] with the right passphrase for every variant.
fn open_variants(s: &Sandbox, variants: Vec<(String, Vec<u8>)>) -> Vec<(String, i32, String)> {
    s.open_variants(variants.into_iter().map(|(l, b)| (l, PASS, b)).collect())
}

#[test]
fn every_flipped_byte_exits_3_or_4_without_output_or_panic() {
    let start = Instant::now();
    let (s, bytes) = small_vault();
    let wrong = s
        .with_pass("wrong", b"", &["get", "A"])
        .run()
        .code(3)
        .stderr
        .replace(&s.vault.display().to_string(), "VAULT");
    let header_end = header_end(&bytes);
    let salt = bstr_field(&bytes, "salt", 16, 0);
    let wrapped = bstr_field(&bytes, "wrapped", 48, 0);
    let mut variants = Vec::new();
    for i in 0..bytes.len() {
        for x in [0x01u8, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= x;
            variants.push((format!("{i}^{x:02x}"), b));
        }
    }
    let results = open_variants(&s, variants);
    let mut threes = 0;
    for (label, code, stderr) in &results {
        let i: usize = label.split('^').next().unwrap().parse().unwrap();
        assert!(
            *code == 3 || *code == 4,
            "byte {label}: exit {code}: {stderr}"
        );
        if *code == 3 {
            threes += 1;
            // Exit 3 only ever says "wrong passphrase", the same way.
            assert_eq!(stderr, &wrong, "byte {label}");
        } else {
            assert!(
                stderr.contains("corrupt or has been tampered with")
                    || stderr.contains("format version"),
                "byte {label}: {stderr}"
            );
        }
        // Magic, version, header length and the body ciphertext: always 4.
        if i < PREFIX_LEN || i >= header_end {
            assert_eq!(*code, 4, "byte {label}: {stderr}");
        }
        // The salt and the wrapped key cannot be told from a wrong passphrase.
        if salt.contains(&i) || wrapped.contains(&i) {
            assert_eq!(*code, 3, "byte {label}: {stderr}");
        }
    }
    assert!(threes >= 2 * (16 + 48));
    eprintln!(
        "flipped {} bytes two ways ({} runs, {threes} exit 3) in {:?}",
        bytes.len(),
        results.len(),
        start.elapsed()
    );
    // The untouched file still opens.
    assert_eq!(s.get("A"), b"value");
}

#[test]
fn every_truncation_and_a_trailing_byte_exit_4() {
    let (s, bytes) = small_vault();
    let mut variants: Vec<(String, Vec<u8>)> = (0..bytes.len())
        .map(|n| (format!("truncated to {n}"), bytes[..n].to_vec()))
        .collect();
    for extra in [&b"\x00"[..], b"\xff", b"\x00\x00\x00\x00"] {
        let mut b = bytes.clone();
        b.extend_from_slice(extra);
        variants.push((format!("{} trailing byte(s)", extra.len()), b));
    }
    for (label, code, stderr) in open_variants(&s, variants) {
        assert_eq!(code, 4, "{label}: {stderr}");
        assert!(
            stderr.contains("corrupt or has been tampered with"),
            "{label}: {stderr}"
        );
    }
}

#[test]
fn unsupported_version_exits_4_and_names_the_version() {
    let (s, bytes) = small_vault();
    for v in [0u16, 2, 0x0100, 0xffff] {
        let mut b = bytes.clone();
        b[8..10].copy_from_slice(&v.to_be_bytes());
        fs::write(&s.vault, &b).unwrap();
        s.with_pass(PASS, b"", &["get", "A"])
            .run()
            .code(4)
            .stderr_has(&format!("version {v}"))
            .stderr_has("newer vault");
        // The header is not trusted either: key list refuses too.
        s.vault_cmd()
            .args(["key", "list"])
            .run()
            .code(4)
            .stderr_has(&format!("version {v}"));
    }
}

#[test]
fn an_older_copy_of_a_vault_seen_here_is_refused_as_a_rollback() {
    let s = Sandbox::new();
    s.init().set("A", b"old");
    let old = s.vault_bytes();
    s.set("A", b"new");
    fs::write(&s.vault, &old).unwrap();
    s.with_pass(PASS, b"", &["get", "A"])
        .run()
        .code(4)
        .stderr_has("--allow-rollback");
    s.with_pass(PASS, b"x", &["set", "B"]).run().code(4);
    assert_eq!(s.vault_bytes(), old);
    // Accepted on purpose, once; then it opens as usual.
    let out = s
        .with_pass(PASS, b"", &["get", "A", "--allow-rollback"])
        .run()
        .success();
    assert_eq!(out.stdout, b"old\n");
    assert_eq!(s.get("A"), b"old");
    // A machine that never saw the newer copy cannot tell.
    let fresh = Sandbox::new();
    fs::write(&fresh.vault, &old).unwrap();
    assert_eq!(fresh.get("A"), b"old");
}

#[test]
fn writes_refuse_a_corrupt_vault_and_leave_it_as_it_was() {
    let (s, mut bytes) = small_vault();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&s.vault, &bytes).unwrap();
    s.with_pass(PASS, b"new", &["set", "B"]).run().code(4);
    s.with_pass(PASS, b"", &["delete", "A"]).run().code(4);
    s.with_pass(PASS, b"", &["rekey"]).run().code(4);
    s.with_pass(
        PASS,
        b"x\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .code(4);
    assert_eq!(s.vault_bytes(), bytes);
}

// ---------------------------------------------------------------------------
// committed test vectors
// ---------------------------------------------------------------------------

/// The passphrase of `tests/vectors/ok_passphrase.vault` (README there).
const VECTOR_PASS: &str = "vault test vector v1";

/// The contents of `tests/vectors/ok_passphrase.vault` (README there).
const VECTOR_SECRETS: [(&str, &[u8]); 4] = [
    ("API_TOKEN", b"tok_live_0123456789abcdef"),
    ("BINARY", b"\x00\x01\x02\xff\xfe\n\x00"),
    ("EMPTY", b""),
    ("MULTI_LINE", b"line one\nline two\n"),
];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

#[test]
fn vector_ok_passphrase_still_opens_with_its_documented_contents() {
    let s = Sandbox::new();
    fs::copy(vectors_dir().join("ok_passphrase.vault"), &s.vault).unwrap();
    let names = s
        .with_pass(VECTOR_PASS, b"", &["list"])
        .run()
        .success()
        .stdout_lines();
    let want: Vec<&str> = VECTOR_SECRETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, want);
    for (name, value) in VECTOR_SECRETS {
        let out = s
            .with_pass(VECTOR_PASS, b"", &["get", "-n", name])
            .run()
            .success();
        assert_eq!(out.stdout, value, "{name}");
    }
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    let slots = keys["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 1);
    assert_eq!(slots[0]["memory_kib"], 8192);
    s.with_pass("not it", b"", &["list"]).run().code(3);
    // The README documents the passphrase and every secret.
    let readme = fs::read_to_string(vectors_dir().join("README.md")).unwrap();
    assert!(readme.contains(VECTOR_PASS));
    for (name, _) in VECTOR_SECRETS {
        assert!(readme.contains(name), "README lacks {name}");
    }
}

/// The rows of the `fail_*` table in `tests/vectors/README.md`:
/// file name, expected exit code, text stderr must contain.
fn documented_fail_vectors() -> Vec<(String, i32, String)> {
    let readme = fs::read_to_string(vectors_dir().join("README.md")).unwrap();
    readme
        .lines()
        .filter(|l| l.starts_with("| `fail_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_string();
            let code = cells[2]
                .parse()
                .unwrap_or_else(|_| panic!("exit code in {l}"));
            let needle = cells[3].trim_matches('`').to_string();
            (name, code, needle)
        })
        .collect()
}

#[test]
fn every_fail_vector_is_rejected_with_its_documented_exit_code() {
    let documented = documented_fail_vectors();
    let mut on_disk: Vec<String> = fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("fail_"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = documented.iter().map(|(n, _, _)| n.clone()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "fail_* files and the README table differ");
    assert!(listed.len() >= 10);
    let s = Sandbox::new();
    for (name, code, needle) in documented {
        let path = vectors_dir().join(&name);
        let before = fs::read(&path).unwrap();
        for args in [&["get", "API_TOKEN"][..], &["list"]] {
            let out = s
                .cmd()
                .arg("--vault")
                .arg(&path)
                .arg("--passphrase-stdin")
                .args(args)
                .stdin(format!("{VECTOR_PASS}\n"))
                .run();
            let out = out.code(code);
            if !needle.is_empty() {
                out.stderr_has(&needle);
            }
        }
        assert_eq!(fs::read(&path).unwrap(), before, "{name} was modified");
    }
}

#[test]
fn out_of_bounds_kdf_memory_in_a_header_is_refused_before_any_kdf_work() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .arg("--vault")
        .arg(vectors_dir().join("fail_kdf_memory_4gib.vault"))
        .args(["--passphrase-stdin", "list"])
        .stdin(format!("{VECTOR_PASS}\n"))
        .run()
        .code(4)
        .stderr_has("KDF memory 4 GiB");
    assert!(
        out.elapsed < Duration::from_secs(1),
        "took {:?}",
        out.elapsed
    );
}

/// Regenerates `tests/vectors/` (the files the other tests only read):
/// `VAULT_REGENERATE_VECTORS=1 cargo test --test integration -- --ignored cli::regenerate_test_vectors`
/// (`scripts/make-vectors.sh` runs exactly that). Then update the README if
/// a vector was added, and commit the files.
#[test]
#[ignore = "writes tests/vectors/; run through scripts/make-vectors.sh"]
fn regenerate_test_vectors() {
    if std::env::var_os("VAULT_REGENERATE_VECTORS").is_none_or(|v| v != "1") {
        eprintln!("set VAULT_REGENERATE_VECTORS=1 to rewrite tests/vectors/");
        return;
    }
    let s = Sandbox::new();
    s.init_with(VECTOR_PASS);
    for (name, value) in VECTOR_SECRETS {
        s.with_pass(VECTOR_PASS, value, &["set", "--raw", name])
            .run()
            .success();
    }
    let ok = s.vault_bytes();
    let dir = vectors_dir();
    fs::create_dir_all(&dir).unwrap();
    for e in fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().ends_with(".vault") {
            fs::remove_file(e.path()).unwrap();
        }
    }
    let header_end = header_end(&ok);
    let write = |name: &str, bytes: &[u8]| fs::write(dir.join(name), bytes).unwrap();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = ok.clone();
        f(&mut b);
        b
    };
    write("ok_passphrase.vault", &ok);
    write("fail_empty.vault", b"");
    write("fail_bad_magic.vault", &edit(&|b| b[1] = b'V'));
    write(
        "fail_truncated_in_header.vault",
        &ok[..PREFIX_LEN + (header_end - PREFIX_LEN) / 2],
    );
    write("fail_truncated_body.vault", &ok[..ok.len() - 1]);
    write(
        "fail_flipped_body_byte.vault",
        &edit(&|b| b[header_end + 3] ^= 0x01),
    );
    write(
        "fail_flipped_header_byte.vault",
        // The body nonce: the header still parses, the body's AAD check fails.
        &edit(&|b| {
            let r = bstr_field(&ok, "nonce", 24, 1);
            b[r.start + 5] ^= 0x01;
        }),
    );
    write(
        "fail_flipped_salt_byte.vault",
        &edit(&|b| {
            let r = bstr_field(&ok, "salt", 16, 0);
            b[r.start] ^= 0x01;
        }),
    );
    write(
        "fail_unknown_version.vault",
        &edit(&|b| b[8..10].copy_from_slice(&2u16.to_be_bytes())),
    );
    write("fail_trailing_byte.vault", &edit(&|b| b.push(0)));
    write(
        "fail_header_length_too_large.vault",
        &edit(&|b| b[10..14].copy_from_slice(&(64 * 1024 + 1u32).to_be_bytes())),
    );
    write(
        "fail_header_length_past_end.vault",
        &edit(&|b| b[10..14].copy_from_slice(&(60_000u32).to_be_bytes())),
    );
    // m = 8192 KiB (CBOR 0x19 0x2000) becomes m = 4 GiB = 4194304 KiB
    // (CBOR 0x1a 0x00400000), two bytes longer: the header length grows by 2
    // and the header is still canonical CBOR, so only the bound rejects it.
    let kdf = |m_cbor: &[u8]| {
        let mut b = ok[..header_end].to_vec();
        let at = find_one(&b, b"\x61m\x19\x20\x00");
        b.splice(at + 2..at + 5, m_cbor.iter().copied());
        let hlen = (b.len() - PREFIX_LEN) as u32;
        b[10..14].copy_from_slice(&hlen.to_be_bytes());
        b.extend_from_slice(&ok[header_end..]);
        b
    };
    write("fail_kdf_memory_4gib.vault", &kdf(b"\x1a\x00\x40\x00\x00"));
    write("fail_kdf_memory_4mib.vault", &kdf(b"\x19\x10\x00"));
    write(
        "fail_kdf_time_17.vault",
        &edit(&|b| {
            let at = find_one(&ok[..header_end], b"\x61t\x01");
            b[at + 2] = 17;
        }),
    );
    write(
        "fail_header_not_canonical.vault",
        // generation as a two-byte integer: the same number, another encoding.
        &{
            let mut b = ok[..header_end].to_vec();
            let at = find_one(&b, b"generation");
            let g = b[at + 10];
            assert!(g < 24, "small generation");
            b.splice(at + 10..at + 11, [0x18, g]);
            let hlen = (b.len() - PREFIX_LEN) as u32;
            b[10..14].copy_from_slice(&hlen.to_be_bytes());
            b.extend_from_slice(&ok[header_end..]);
            b
        },
    );
    eprintln!("wrote test vectors to {}", dir.display());
}

// ---------------------------------------------------------------------------
// files on disk: concurrency, crashes, plaintext, links, modes
// ---------------------------------------------------------------------------

#[test]
fn eight_concurrent_writers_of_25_sets_each_lose_no_update() {
    let start = Instant::now();
    let s = Sandbox::new();
    s.init();
    std::thread::scope(|scope| {
        for w in 0..8 {
            let s = &s;
            scope.spawn(move || {
                for i in 0..25 {
                    let name = format!("W{w}_{i}");
                    s.with_pass(PASS, format!("value {w} {i}").as_bytes(), &["set", &name])
                        .run()
                        .success();
                }
            });
        }
    });
    let list = s
        .with_pass(PASS, b"", &["list", "--json"])
        .run()
        .success()
        .json();
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 200, "lost updates");
    for w in 0..8 {
        for i in 0..25 {
            let name = format!("W{w}_{i}");
            let e = items
                .iter()
                .find(|e| e["name"] == name.as_str())
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(
                e["size"].as_u64().unwrap() as usize,
                format!("value {w} {i}").len()
            );
        }
    }
    assert_eq!(s.get("W7_24"), b"value 7 24");
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(keys["generation"], 201, "one write per set");
    eprintln!("8 x 25 concurrent sets in {:?}", start.elapsed());
}

/// Temp files of the atomic write beside `vault`: `.NAME.tmp-*`.
fn temp_files(vault: &Path) -> Vec<String> {
    let prefix = format!(".{}.tmp-", vault.file_name().unwrap().to_string_lossy());
    fs::read_dir(vault.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

fn big_value(i: usize) -> Vec<u8> {
    let mut v = format!("generation {i:06} ").into_bytes();
    v.extend((0..300_000).map(|j| b'a' + ((i + j) % 26) as u8));
    v
}

#[test]
fn sigkill_during_set_leaves_the_old_or_the_new_vault() {
    let kills: usize = std::env::var("VAULT_TEST_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let start = Instant::now();
    let mut rng = Rng::new("sigkill_during_set_leaves_the_old_or_the_new_vault");
    let s = Sandbox::new();
    s.init().set("SMALL", b"stays");
    s.set("BIG", &big_value(0));
    assert!(s.vault_bytes().len() > 300_000);
    // How long one set takes here, to spread the kills over it.
    let t0 = Instant::now();
    s.set("BIG", &big_value(1));
    let full = t0.elapsed().as_micros() as u64;
    let mut current = 1;
    let (mut old, mut new) = (0, 0);
    for i in 2..2 + kills {
        let mut run = s
            .with_pass(PASS, &big_value(i), &["set", "--raw", "BIG"])
            .spawn();
        std::thread::sleep(Duration::from_micros(rng.below(full * 3 / 2 + 1)));
        run.kill();
        let out = run.finish();
        assert!(
            out.code == Some(0) || out.signal == Some(libc::SIGKILL),
            "{out:?}"
        );
        let got = s.get("BIG");
        if got == big_value(i) {
            current = i;
            new += 1;
        } else {
            assert!(
                got == big_value(current),
                "iteration {i}: neither the old nor the new value (starts {:?})",
                String::from_utf8_lossy(&got[..got.len().min(20)])
            );
            old += 1;
        }
    }
    // A successful write leaves no temp file behind, even after crashes.
    s.set("BIG", b"done");
    assert_eq!(temp_files(&s.vault), Vec::<String>::new());
    assert_eq!(s.names(), ["BIG", "SMALL"]);
    assert_eq!(s.get("SMALL"), b"stays");
    eprintln!(
        "{kills} kills (set takes {full} us): {old} left the old value, {new} the new, in {:?}",
        start.elapsed()
    );
}

/// `strace`, or `None` after a loud SKIPPED line (a failure on CI, where
/// scripts/deps.sh installs it).
fn strace_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(p) = which("strace") {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: strace is needed on CI (scripts/deps.sh installs it)");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: {test}: strace not found (apt-get install strace) ***\n"
    );
    None
}

/// Crash points found by system call, not by timing: `strace` kills `set`
/// with SIGKILL at the k-th call of each file-changing system call — once
/// just before the call (it fails with EIO and the kill lands before the
/// process sees it) and, for write and rename, once just after it. Every
/// crash must leave a vault that opens with the old or the new contents, and
/// the next write must clear the temp files it left.
#[test]
fn sigkill_at_every_file_changing_syscall_of_set_leaves_the_old_or_the_new_vault() {
    let test = "sigkill_at_every_file_changing_syscall_of_set";
    let Some(strace) = strace_or_skip(test) else {
        return;
    };
    let start = Instant::now();
    let s = Sandbox::new();
    s.init().set("SMALL", b"stays").set("BIG", &big_value(0));
    let base = s.vault_bytes();
    let new = big_value(1);
    // Rollback memory is reset before each run, so every run makes the same
    // system calls and "the k-th call" means the same thing each time.
    let state = s.home.join(".local/state");
    let set_under = |strace_args: &[&str]| {
        fs::write(&s.vault, &base).unwrap();
        let _ = fs::remove_dir_all(&state);
        let mut wrapper: Vec<&std::ffi::OsStr> = vec![strace.as_os_str()];
        wrapper.extend(strace_args.iter().map(std::ffi::OsStr::new));
        let out = s
            .cmd_via(&wrapper)
            .arg("--vault")
            .arg(&s.vault)
            .args(["--passphrase-stdin", "set", "--raw", "BIG"])
            .stdin(stdin_lines(PASS, &new))
            .run();
        let _ = fs::remove_dir_all(&state);
        out
    };
    let syscalls = "openat,write,pwrite64,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat,mkdir,ftruncate";
    // A dry run lists the calls; the opens that only read (the loader, /proc,
    // the vault itself) are not crash points worth a run.
    let trace = s.root().join("dry-run.strace");
    let dry = set_under(&[
        "-f",
        "-qq",
        "-o",
        trace.to_str().unwrap(),
        "-e",
        &format!("trace={syscalls}"),
    ]);
    assert_eq!(dry.code, Some(0), "{dry:?}");
    let mut calls: Vec<(String, usize, bool)> = Vec::new();
    let mut count = std::collections::HashMap::<String, usize>::new();
    for line in fs::read_to_string(&trace).unwrap().lines() {
        // "PID name(args) = ret", or "PID name(args <unfinished ...>".
        let Some(rest) = line.split_once(' ').map(|(_, r)| r.trim_start()) else {
            continue;
        };
        if rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        let k = count.entry(name.to_string()).or_default();
        *k += 1;
        let changes = name != "openat"
            || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_DIRECTORY"]
                .iter()
                .any(|f| args.contains(f));
        calls.push((name.to_string(), *k, changes));
    }
    assert!(
        calls.iter().any(|(n, _, _)| n.starts_with("rename")),
        "the dry run renamed nothing: {calls:?}"
    );
    let (mut old_left, mut new_left, mut points) = (0, 0, 0);
    for (name, k, changes) in &calls {
        if !changes {
            continue;
        }
        let modes: &[bool] = match name.as_str() {
            "write" | "pwrite64" | "rename" | "renameat" | "renameat2" => &[true, false],
            _ => &[true],
        };
        for &before in modes {
            let inject = if before {
                format!("inject={name}:error=EIO:signal=SIGKILL:when={k}")
            } else {
                format!("inject={name}:signal=SIGKILL:when={k}")
            };
            let out = set_under(&["-f", "-qq", "-o", "/dev/null", "-e", &inject]);
            assert!(
                out.signal == Some(libc::SIGKILL) || out.code == Some(128 + libc::SIGKILL),
                "{inject}: not killed:{out:?}"
            );
            let got = s.get("BIG");
            if got == new {
                new_left += 1;
            } else {
                assert!(
                    got == big_value(0),
                    "{inject}: neither the old nor the new value"
                );
                old_left += 1;
            }
            points += 1;
        }
    }
    assert!(points >= 8, "only {points} crash points: {calls:?}");
    assert!(
        old_left > 0 && new_left > 0,
        "{old_left} old, {new_left} new"
    );
    assert_eq!(s.get("SMALL"), b"stays");
    // The next successful write removes every temp file crashed runs left.
    s.set("BIG", b"done");
    assert_eq!(temp_files(&s.vault), Vec::<String>::new());
    eprintln!(
        "{points} crash points ({} calls traced): {old_left} left the old value, {new_left} the new, in {:?}",
        calls.len(),
        start.elapsed()
    );
}

#[test]
fn no_plaintext_value_or_passphrase_reaches_any_file() {
    let s = Sandbox::new();
    let value = b"PLAINTEXT-CANARY-q8Zr3vXk1Lm0";
    let pass = "PASSPHRASE-CANARY-w4Tn7pQs2";
    let pass2 = "PASSPHRASE-CANARY-second-9yHb";
    s.with_pass(pass, b"", &["init"]).args(KDF).run().success();
    s.with_pass(pass, value, &["set", "CANARY"]).run().success();
    s.with_pass(pass, b"other", &["set", "OTHER"])
        .run()
        .success();
    let got = s.with_pass(pass, b"", &["get", "CANARY"]).run().success();
    assert_eq!(got.stdout, [&value[..], b"\n"].concat());
    s.with_pass(pass, b"", &["list"]).run().success();
    s.with_pass(pass, b"", &["list", "--json"]).run().success();
    s.with_pass(
        pass,
        format!("{pass2}\n").as_bytes(),
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    s.with_pass(pass2, b"", &["delete", "OTHER"])
        .run()
        .success();
    s.with_pass(pass2, b"", &["rekey"]).run().code(2);
    let files = all_files(s.root());
    assert!(files.len() >= 2, "{files:?}");
    for f in &files {
        let bytes = fs::read(f).unwrap();
        // "CANARY" is in the value, both passphrases and a secret's name.
        for needle in [
            &value[..],
            pass.as_bytes(),
            pass2.as_bytes(),
            b"other",
            b"CANARY",
        ] {
            assert!(
                !contains(&bytes, needle),
                "{} contains {:?}",
                f.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
    // And the secret is still there, under the ciphertext.
    assert_eq!(
        s.with_pass(pass, b"", &["get", "-n", "CANARY"])
            .run()
            .success()
            .stdout,
        value
    );
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
fn vault_path_that_is_a_directory_fifo_or_link_loop_exits_1_without_hanging() {
    let s = Sandbox::new();
    let dir = s.root().join("adir.vault");
    fs::create_dir(&dir).unwrap();
    let fifo = s.root().join("fifo.vault");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    for p in [&dir, &fifo] {
        for args in [
            &["list"][..],
            &["get", "A"],
            &["set", "A"],
            &["delete", "A"],
            &["rekey"],
            &["key", "list"],
        ] {
            s.cmd()
                .arg("--vault")
                .arg(p)
                .arg("--passphrase-stdin")
                .args(args)
                .stdin(stdin_lines(PASS, b"v"))
                .timeout(Duration::from_secs(20))
                .run()
                .code(1)
                .stderr_has("not a regular file");
        }
        s.cmd()
            .arg("--vault")
            .arg(p)
            .args(["--passphrase-stdin", "init"])
            .args(KDF)
            .stdin(format!("{PASS}\n"))
            .timeout(Duration::from_secs(20))
            .run()
            .code(1);
    }
    assert!(dir.is_dir());
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    // A symbolic link loop: exit 1, named, nothing created.
    let looped = s.root().join("loop.vault");
    std::os::unix::fs::symlink("loop.vault", &looped).unwrap();
    for args in [&["list"][..], &["init"]] {
        s.cmd()
            .arg("--vault")
            .arg(&looped)
            .arg("--passphrase-stdin")
            .args(args)
            .args(if args == ["init"] { &KDF[..] } else { &[] })
            .stdin(format!("{PASS}\n"))
            .run()
            .code(1)
            .stderr_has("too many levels of symbolic links");
    }
    assert!(fs::symlink_metadata(&looped)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_held_write_lock_makes_set_wait_then_give_up_with_exit_1() {
    let s = Sandbox::new();
    s.init().set("A", b"1");
    let before = s.vault_bytes();
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(s.home.join("test.vault.lock"))
        .unwrap();
    lock.lock().unwrap();
    s.with_pass(PASS, b"2", &["set", "A"])
        .env("VAULT_LOCK_TIMEOUT", "1")
        .run()
        .code(1)
        .stderr_has("waiting for another vault process")
        .stderr_has("gave up");
    assert_eq!(s.vault_bytes(), before);
    // Readers do not need the lock.
    assert_eq!(s.get("A"), b"1");
    lock.unlock().unwrap();
    s.set("A", b"2");
    assert_eq!(s.get("A"), b"2");
}

// ---------------------------------------------------------------------------
// the keyring (a real Secret Service; see scripts/with-secret-service.sh)
// ---------------------------------------------------------------------------

/// A sandbox whose children reach the private Secret Service, or `None`
/// (the test is skipped loudly, or fails on CI).
fn keyring_sandbox(test: &str) -> Option<Sandbox> {
    secret_service(test).map(Sandbox::with_bus)
}

/// Whether the keyring holds the entry of `account` (`secret-tool`, when
/// installed; `None` otherwise).
fn keyring_has(s: &Sandbox, account: &str) -> Option<bool> {
    let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS")?;
    let out = std::process::Command::new("secret-tool")
        .args(["lookup", "service", "vault", "username", account])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &s.home)
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    Some(out.status.success() && out.stdout.len() == 32)
}

fn keyring_account(s: &Sandbox, id: &str) -> String {
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    keys["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap()["keyring_account"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn keyring_init_with_no_passphrase_uses_the_keyring_and_recommends_a_recovery_slot() {
    let Some(s) = keyring_sandbox("keyring_init_with_no_passphrase_uses_the_keyring") else {
        return;
    };
    s.vault_cmd()
        .arg("init")
        .run()
        .success()
        .stderr_has("keyring")
        .stderr_has("recovery");
    let ids = s.slot_ids("keyring");
    assert_eq!(ids.len(), 1);
    assert!(s.slot_ids("passphrase").is_empty());
    let account = keyring_account(&s, &ids[0]);
    let vault_id = s.vault_id();
    assert_eq!(account, format!("{vault_id}:{}", ids[0]));
    if let Some(has) = keyring_has(&s, &account) {
        assert!(has, "the keyring holds the slot's key");
    }
    // Opened through the keyring, no passphrase anywhere.
    s.vault_cmd()
        .args(["set", "A"])
        .stdin("from keyring\n")
        .run()
        .success();
    assert_eq!(
        s.vault_cmd().args(["get", "A"]).run().success().stdout,
        b"from keyring\n"
    );
    s.vault_cmd().arg("list").run().success();
    // --keyring explicitly, on another vault: the same.
    let other = s.root().join("explicit.vault");
    s.cmd()
        .arg("--vault")
        .arg(&other)
        .args(["init", "--keyring"])
        .run()
        .success()
        .stderr_has("recovery");
}

#[test]
fn keyring_init_recovery_code_adds_a_passphrase_slot_without_the_warning() {
    let Some(s) = keyring_sandbox("keyring_init_recovery_code") else {
        return;
    };
    let out = s
        .vault_cmd()
        .args(["init", "--recovery-code"])
        .args(KDF)
        .run()
        .success()
        .stderr_lacks("warning");
    let code = out.stdout_str();
    assert_eq!(s.slot_ids("keyring").len(), 1);
    assert_eq!(s.slot_ids("passphrase").len(), 1);
    s.vault_cmd().args(["set", "A"]).stdin("v").run().success();
    // The code opens it where there is no keyring.
    let out = s
        .vault_cmd()
        .args(["--passphrase-stdin", "get", "A"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(code)
        .run()
        .success();
    assert_eq!(out.stdout, b"v\n");
}

#[test]
fn keyring_desktop_to_ci_flow_opens_by_passphrase_without_a_session_bus() {
    let Some(s) = keyring_sandbox("keyring_desktop_to_ci_flow") else {
        return;
    };
    // On the desktop: keyring vault, a secret, then a passphrase slot for CI.
    s.vault_cmd().args(["init", "--keyring"]).run().success();
    s.vault_cmd()
        .args(["set", "DEPLOY_KEY"])
        .stdin("ci-secret\n")
        .run()
        .success();
    s.vault_cmd()
        .args(["key", "add", "passphrase", "--new-passphrase-stdin"])
        .args(KDF)
        .stdin("ci pass\n")
        .run()
        .success();
    assert_eq!(s.slot_ids("keyring").len(), 1);
    assert_eq!(s.slot_ids("passphrase").len(), 1);
    // On CI: a clean environment with no session bus at all.
    let ci = Sandbox::new();
    fs::copy(&s.vault, &ci.vault).unwrap();
    let out = ci
        .with_pass("ci pass", b"", &["get", "DEPLOY_KEY"])
        .run()
        .success();
    assert_eq!(out.stdout, b"ci-secret\n");
    ci.with_pass("ci pass", b"from ci", &["set", "FROM_CI"])
        .run()
        .success();
    ci.with_pass("wrong", b"", &["list"])
        .run()
        .code(3)
        .stderr_has(WRONG);
    // No passphrase there: exit 3 saying the keyring is unusable and what to do.
    ci.vault_cmd()
        .arg("list")
        .run()
        .code(3)
        .stderr_has("session bus")
        .stderr_has("--passphrase-stdin");
    // Back on the desktop, the keyring still opens the CI-modified file.
    fs::copy(&ci.vault, &s.vault).unwrap();
    assert_eq!(
        s.vault_cmd()
            .args(["get", "FROM_CI"])
            .run()
            .success()
            .stdout,
        b"from ci\n"
    );
}

#[test]
fn keyring_no_keyring_flag_on_a_keyring_only_vault_exits_3() {
    let Some(s) = keyring_sandbox("keyring_no_keyring_flag") else {
        return;
    };
    s.vault_cmd().args(["init", "--keyring"]).run().success();
    s.vault_cmd()
        .args(["--no-keyring", "list"])
        .run()
        .code(3)
        .stderr_has("--no-keyring")
        .stderr_has("no passphrase slot");
    s.vault_cmd()
        .args(["get", "A", "--no-keyring"])
        .run()
        .code(3);
    // A passphrase on a keyring-only vault: exit 3, it has no passphrase slot.
    s.with_pass(PASS, b"", &["list"])
        .run()
        .code(3)
        .stderr_has("no passphrase slot");
    // An empty VAULT_PASSPHRASE (an unset CI variable) does not stand in the
    // keyring's way.
    s.vault_cmd()
        .arg("list")
        .env("VAULT_PASSPHRASE", "")
        .run()
        .success();
    // init --keyring with --no-keyring cannot make the slot.
    let other = s.root().join("o.vault");
    s.cmd()
        .arg("--vault")
        .arg(&other)
        .args(["init", "--keyring", "--no-keyring"])
        .run()
        .code(3);
    assert!(!other.exists());
}

#[test]
fn keyring_locked_collection_exits_3_init_falls_back_and_doctor_says_so() {
    // Its own Secret Service (tests share the suite's one, and this test
    // locks its collection): a nested scripts/with-secret-service.sh.
    if secret_service("keyring_locked_collection").is_none() {
        return;
    }
    let s = Sandbox::new();
    let script = s.file(
        "locked.sh",
        br#"V=$1; D=$2
"$V" --vault "$D/k.vault" init --keyring 2>/dev/null || exit 90
printf v | "$V" --vault "$D/k.vault" set A || exit 91
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
  org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login \
  >/dev/null || exit 92
"$V" --vault "$D/k.vault" get A; echo "get=$?" >&2
"$V" --vault "$D/p.vault" init; echo "init=$?" >&2
"$V" --vault "$D/k.vault" doctor --json >"$D/doctor.json"; echo "doctor=$?" >&2
"#,
    );
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(format!("{root}/scripts/with-secret-service.sh"))
        .arg("sh")
        .arg(&script)
        .arg(VAULT)
        .arg(s.root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &s.home)
        .env("TMPDIR", &s.tmp)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running scripts/with-secret-service.sh");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Reading through a locked collection: exit 3, saying it is locked.
    assert!(err.contains("get=3"), "{err}");
    assert!(err.contains("keyring collection is locked"), "{err}");
    // init with no flags does not take a locked keyring for a usable one:
    // exit 3 with the passphrase options, and no vault.
    assert!(err.contains("init=3"), "{err}");
    assert!(err.contains("--passphrase-stdin"), "{err}");
    assert!(!s.root().join("p.vault").exists());
    assert!(!s.root().join("p.vault.lock").exists());
    // doctor: answers, but locked, with a next step.
    assert!(err.contains("doctor=0"), "{err}");
    let d: serde_json::Value =
        serde_json::from_slice(&fs::read(s.root().join("doctor.json")).unwrap()).unwrap();
    assert_eq!(d["keyring"]["answers"], true, "{d}");
    assert!(
        d["keyring"]["default_collection"]
            .as_str()
            .unwrap()
            .contains("locked"),
        "{d}"
    );
    assert!(d["next_steps"].to_string().contains("unlock it"), "{d}");
}

#[test]
fn keyring_only_vault_with_no_session_bus_exits_3_saying_so() {
    let Some(s) = keyring_sandbox("keyring_only_vault_with_no_session_bus") else {
        return;
    };
    s.vault_cmd().args(["init", "--keyring"]).run().success();
    let out = s
        .vault_cmd()
        .arg("list")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .run()
        .code(3)
        .stderr_has("no D-Bus session bus");
    assert!(out.elapsed < Duration::from_secs(10));
    // A bus address where nothing listens: also exit 3, quickly.
    let out = s
        .vault_cmd()
        .arg("list")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/nobody-listens", s.root().display()),
        )
        .timeout(Duration::from_secs(30))
        .run()
        .code(3)
        .stderr_has("keyring");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[test]
fn keyring_entry_remembers_the_generation_when_the_state_file_is_gone() {
    let Some(s) = keyring_sandbox("keyring_rollback_memory") else {
        return;
    };
    s.vault_cmd().args(["init", "--keyring"]).run().success();
    s.vault_cmd()
        .args(["set", "A"])
        .stdin(b"1".to_vec())
        .run()
        .success();
    let old = s.vault_bytes();
    s.vault_cmd()
        .args(["set", "A"])
        .stdin(b"2".to_vec())
        .run()
        .success();
    // An old copy back in place, and the state directory's memory gone:
    // the keyring entry still remembers the newer generation.
    fs::write(&s.vault, &old).unwrap();
    fs::remove_dir_all(s.home.join(".local/state/vault")).unwrap();
    s.vault_cmd()
        .args(["get", "A"])
        .run()
        .code(4)
        .stderr_has("older than generation")
        .stderr_has("--allow-rollback");
    // Accepting it deliberately lowers both memories; then it opens.
    s.vault_cmd()
        .args(["--allow-rollback", "get", "-n", "A"])
        .run()
        .success();
    assert_eq!(
        s.vault_cmd()
            .args(["get", "-n", "A"])
            .run()
            .success()
            .stdout,
        b"1"
    );
}

#[test]
fn keyring_key_remove_deletes_the_keyring_entry() {
    let Some(s) = keyring_sandbox("keyring_key_remove_deletes_the_keyring_entry") else {
        return;
    };
    s.vault_cmd().args(["init", "--keyring"]).run().success();
    s.vault_cmd().args(["set", "A"]).stdin("v").run().success();
    s.vault_cmd()
        .args(["key", "add", "passphrase", "--new-passphrase-stdin"])
        .args(KDF)
        .stdin(format!("{PASS}\n"))
        .run()
        .success();
    let id = s.slot_ids("keyring").remove(0);
    let account = keyring_account(&s, &id);
    let with_keyring_slot = s.vault_bytes();
    if let Some(has) = keyring_has(&s, &account) {
        assert!(has);
    }
    s.with_pass(PASS, b"", &["key", "remove", &id])
        .run()
        .success()
        .stderr_has("deleted its keyring entry");
    assert!(s.slot_ids("keyring").is_empty());
    if let Some(has) = keyring_has(&s, &account) {
        assert!(!has, "the entry is gone from the keyring");
    }
    // The old file, which still has the slot, no longer opens by keyring.
    let without = s.vault_bytes();
    fs::write(&s.vault, &with_keyring_slot).unwrap();
    s.vault_cmd()
        .arg("list")
        .run()
        .code(3)
        .stderr_has("no entry");
    // The last slot (now the passphrase slot) cannot be removed.
    fs::write(&s.vault, &without).unwrap();
    let pid = s.slot_ids("passphrase").remove(0);
    s.with_pass(PASS, b"", &["key", "remove", &pid])
        .run()
        .code(2)
        .stderr_has("last slot");
    assert_eq!(s.vault_bytes(), without);
    assert_eq!(s.get("A"), b"v");
}

#[test]
fn keyring_key_add_keyring_gives_a_passphrase_vault_a_keyring_slot() {
    let Some(s) = keyring_sandbox("keyring_key_add_keyring") else {
        return;
    };
    s.init().set("A", b"v");
    s.vault_cmd().arg("list").run().code(3);
    s.with_pass(PASS, b"", &["key", "add", "keyring"])
        .run()
        .success()
        .stderr_has("added keyring slot");
    // Now no passphrase is needed.
    assert_eq!(
        s.vault_cmd().args(["get", "A"]).run().success().stdout,
        b"v\n"
    );
    let kid = s.slot_ids("keyring").remove(0);
    // key passwd refuses a keyring slot.
    s.with_pass(
        PASS,
        b"x\n",
        &["key", "passwd", &kid, "--new-passphrase-stdin"],
    )
    .run()
    .code(2)
    .stderr_has("keyring slot");
}

#[test]
fn keyring_rekey_rewraps_keyring_and_passphrase_slots() {
    let Some(s) = keyring_sandbox("keyring_rekey_rewraps_keyring_and_passphrase_slots") else {
        return;
    };
    s.with_pass(PASS, b"", &["init", "--keyring"])
        .args(KDF)
        .run()
        .success();
    assert_eq!(s.slot_ids("keyring").len(), 1);
    assert_eq!(s.slot_ids("passphrase").len(), 1);
    s.vault_cmd().args(["set", "A"]).stdin("v").run().success();
    let before = s.vault_bytes();
    // Through the keyring alone the passphrase slot cannot be re-wrapped.
    let pid = s.slot_ids("passphrase").remove(0);
    s.vault_cmd()
        .arg("rekey")
        .run()
        .code(2)
        .stderr_has(&pid)
        .stderr_has("--drop");
    assert_eq!(s.vault_bytes(), before);
    // With the passphrase: both slots re-wrapped under a new data key.
    s.with_pass(PASS, b"", &["rekey"])
        .run()
        .success()
        .stderr_has("re-wrapped 2");
    let after = s.vault_bytes();
    assert_ne!(commitment(&after), commitment(&before));
    assert_eq!(
        s.vault_cmd().args(["get", "A"]).run().success().stdout,
        b"v\n"
    );
    assert_eq!(s.get("A"), b"v");
    // Without a bus, the keyring slot cannot be re-wrapped: named, nothing changes.
    let kid = s.slot_ids("keyring").remove(0);
    s.with_pass(PASS, b"", &["rekey"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .run()
        .code(3)
        .stderr_has(&kid)
        .stderr_has("--drop");
    assert_eq!(s.vault_bytes(), after);
    // Dropping the keyring slot by passphrase deletes its entry.
    let account = keyring_account(&s, &kid);
    s.with_pass(PASS, b"", &["rekey", "--drop", &kid])
        .run()
        .success();
    assert!(s.slot_ids("keyring").is_empty());
    if let Some(has) = keyring_has(&s, &account) {
        assert!(!has, "the dropped slot's entry is deleted");
    }
    assert_eq!(s.get("A"), b"v");
}
