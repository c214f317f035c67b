//! `vault exec`: the child's exit status and signals, its environment
//! (`--only`, `vault:NAME` references, passphrase variables, secrets whose
//! names change how programs load), which program runs, its standard
//! input, resource limits and descriptors, and values that cannot be
//! environment variables; with real child processes (`sh`, `bash`, `cat`,
//! `env`).
//! `--mask` is in `mask`, `render` and `--file` in `render`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::harness::*;

/// A secret long enough to be masked, with nothing special for `sh`.
pub const TOKEN: &str = "tok-9Qz7-secret-value";

/// Lossy text of output bytes.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A sandbox whose vault ([`PASS`]) holds these secrets.
pub fn with_secrets(secrets: &[(&str, &[u8])]) -> Sandbox {
    let s = Sandbox::new();
    s.init();
    for (name, value) in secrets {
        s.set(name, value);
    }
    s
}

/// `vault --passphrase-stdin exec FLAGS -- CMD...`, the passphrase on stdin.
pub fn exec(s: &Sandbox, flags: &[&str], cmd: &[&str]) -> Cmd {
    s.with_pass(PASS, b"", &["exec"])
        .args(flags)
        .arg("--")
        .args(cmd)
}

/// Runs `sh -c SCRIPT` under `vault exec FLAGS`, the passphrase on stdin.
pub fn sh(s: &Sandbox, flags: &[&str], script: &str) -> Out {
    exec(s, flags, &["sh", "-c", script]).run()
}

/// A file holding the passphrase, for `VAULT_PASSPHRASE_FILE` (where stdin
/// belongs to the child).
pub fn pass_file(s: &Sandbox) -> PathBuf {
    s.file("passphrase", format!("{PASS}\n").as_bytes())
}

/// Asserts the exit code of `out`, saying `what` ran.
#[track_caller]
pub fn assert_status(out: &Out, code: i32, what: &str) {
    assert_eq!(out.code, Some(code), "{what}:{out:?}");
}

/// `env` output as a map (single-line values only).
fn env_map(out: &[u8]) -> BTreeMap<String, String> {
    text(out)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// Exit statuses, signals, resource limits, PID
// ---------------------------------------------------------------------------

#[test]
fn exit_statuses_propagate_with_and_without_mask() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    for flags in [&[][..], &["--mask"][..]] {
        for code in [0, 1, 42] {
            let out = sh(&s, flags, &format!("exit {code}"));
            assert_status(&out, code, &format!("exec {flags:?} exit {code}"));
        }
    }
}

#[test]
fn death_by_signal_propagates_with_and_without_mask() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    for flags in [&[][..], &["--mask"][..]] {
        let out = sh(&s, flags, "echo before; kill -TERM $$; echo after");
        assert_eq!(out.signal, Some(libc::SIGTERM), "exec {flags:?}:{out:?}");
        assert_eq!(out.code, None);
        assert_eq!(text(&out.stdout), "before\n");
    }
}

/// vault turns core dumps off for itself (RLIMIT_CORE 0) but gives the
/// child the limit its caller had: a soft limit above 0, set here in the
/// caller, must reach the child. Needs a hard limit above 0 to set it.
#[test]
fn child_core_limit_is_the_callers() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut lim) }, 0);
    let mut soft: libc::rlim_t = 1234 * 1024;
    if lim.rlim_max != libc::RLIM_INFINITY && lim.rlim_max < soft {
        soft = lim.rlim_max;
    }
    let above_0 = if soft > 0 {
        Ok(())
    } else {
        Err("the hard limit is 0 here, so the caller's limit cannot differ from the one vault sets on itself".to_string())
    };
    if require(Works("a hard core-file limit above 0", above_0)).is_none() {
        return;
    }
    let hard = lim.rlim_max;
    let set_limit = move || {
        let l = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit is async-signal-safe; `l` is a local.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &l) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let script = "ulimit -c; grep '^Max core file size' /proc/$$/limits";
    // What the shell reports for that limit when started directly.
    // SAFETY: the hook only calls setrlimit (async-signal-safe).
    let base = unsafe { s.program("sh").args(["-c", script]).pre_exec(set_limit) }.run();
    assert_status(&base, 0, "sh without vault");
    let base = text(&base.stdout);
    let base_ulimit = base.lines().next().unwrap().to_string();
    assert_ne!(base_ulimit, "0", "the test limit did not take");

    for flags in [&[][..], &["--mask"][..]] {
        // SAFETY: as above.
        let out = unsafe { exec(&s, flags, &["sh", "-c", script]).pre_exec(set_limit) }.run();
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
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let run = exec(&s, &[], &["sh", "-c", "echo $$"]).spawn();
    let pid = run.pid();
    let out = run.finish();
    assert_status(&out, 0, "exec echo $$");
    assert_eq!(text(&out.stdout).trim(), pid.to_string());
}

/// Whether the `SigIgn` mask of a `/proc/PID/status` text has SIGPIPE.
fn ignores_sigpipe(status: &str) -> bool {
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .expect("a SigIgn line");
    let mask = u64::from_str_radix(mask.trim(), 16).expect("a hex mask");
    mask & (1 << (libc::SIGPIPE - 1)) != 0
}

#[test]
fn vault_ignores_sigpipe_and_the_command_gets_the_default() {
    // vault starts its own runtime (a measured start-up cost, main.rs):
    // as Rust's would, it ignores SIGPIPE itself (a closed pipe is an
    // error it handles, never its death), and the command starts with
    // the default disposition, as when run directly.
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    for flags in [&[][..], &["--mask"][..]] {
        let out = sh(&s, flags, "cat /proc/$$/status");
        assert_status(&out, 0, &format!("exec {flags:?}"));
        assert!(
            !ignores_sigpipe(&text(&out.stdout)),
            "exec {flags:?}: the command inherited an ignored SIGPIPE"
        );
    }
    // With --mask vault stays the command's parent: its own disposition.
    let out = sh(&s, &["--mask"], "cat /proc/$PPID/status");
    assert_status(&out, 0, "exec --mask, the parent's status");
    assert!(
        ignores_sigpipe(&text(&out.stdout)),
        "vault itself does not ignore SIGPIPE"
    );
    // A reader that goes away is not an error, and vault is not killed.
    let script = r#"set -o pipefail; printf '%s\n' "$P" | "$V" --passphrase-stdin list | true"#;
    let out = s
        .program("bash")
        .args(["-c", script])
        .env("P", PASS)
        .env("V", VAULT)
        .env("VAULT_FILE", &s.vault)
        .run();
    assert_status(&out, 0, "vault list | true");
}

#[test]
fn closed_standard_descriptors_are_reopened_on_dev_null() {
    // Started with 0, 1 and 2 closed, vault must not let a file it opens
    // take their numbers (output meant for them would land in it): they
    // are open on /dev/null, and the command inherits them so.
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let report = s.root().join("fds");
    let pf = pass_file(&s);
    let script = format!(
        "a=$(readlink /proc/$$/fd/0) b=$(readlink /proc/$$/fd/1) c=$(readlink /proc/$$/fd/2); printf '%s\\n' \"$a\" \"$b\" \"$c\" > '{}'",
        report.display()
    );
    let close = || {
        for fd in 0..3 {
            // SAFETY: close is async-signal-safe.
            unsafe { libc::close(fd) };
        }
        Ok(())
    };
    // SAFETY: the hook only calls close (async-signal-safe).
    let out = unsafe {
        s.vault_cmd()
            .env("VAULT_PASSPHRASE_FILE", &pf)
            .args(["exec", "--", "sh", "-c", &script])
            .pre_exec(close)
    }
    .run();
    assert_status(&out, 0, "exec with 0, 1 and 2 closed");
    let fds = std::fs::read_to_string(&report).unwrap();
    assert_eq!(fds, "/dev/null\n/dev/null\n/dev/null\n", "{out:?}");
}

#[test]
fn missing_command_is_127_and_non_executable_is_126() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let script = s.file("not-executable.sh", b"#!/bin/sh\necho ran\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    for flags in [&[][..], &["--mask"][..]] {
        for missing in ["no-such-command-8d1e", "./no-such-file-8d1e"] {
            let out = exec(&s, flags, &[missing]).run();
            assert_status(&out, 127, &format!("exec {flags:?} {missing}"));
            let err = out.stderr.clone();
            assert!(
                err.contains(missing) && err.contains("not found"),
                "message for {missing}: {err}"
            );
            assert!(out.stdout.is_empty());
        }
        let out = exec(&s, flags, &["./not-executable.sh"]).run();
        assert_status(&out, 126, &format!("exec {flags:?} non-executable"));
        let err = out.stderr.clone();
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
    let s = with_secrets(&[
        ("ALPHA", b"alpha-value-1"),
        ("BRAVO", b"bravo-value-2"),
        ("CHARLIE", b"charlie-value-3"),
    ]);
    let out = exec(&s, &[], &["env"]).run();
    assert_status(&out, 0, "exec env");
    let all = env_map(&out.stdout);
    assert_eq!(all.get("ALPHA").map(String::as_str), Some("alpha-value-1"));
    assert_eq!(all.get("BRAVO").map(String::as_str), Some("bravo-value-2"));
    assert_eq!(
        all.get("CHARLIE").map(String::as_str),
        Some("charlie-value-3")
    );

    let out = exec(&s, &["--only", "ALPHA", "--only", "BRAVO"], &["env"]).run();
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
        Some(s.home.as_path())
    );
    assert!(only.contains_key("PATH"));
}

#[test]
fn unknown_only_name_is_5_and_nothing_runs() {
    let s = with_secrets(&[("ALPHA", b"alpha-value-1")]);
    for flags in [
        &["--only", "ALPHA", "--only", "NOPE"][..],
        &["--mask", "--only", "NOPE"][..],
    ] {
        let out = sh(&s, flags, "touch ran-marker");
        assert_status(&out, 5, &format!("exec {flags:?}"));
        assert!(
            out.stderr.clone().contains("NOPE"),
            "{}",
            out.stderr.clone()
        );
        assert!(!s.root().join("ran-marker").exists(), "the command ran");
    }
}

#[test]
fn passphrase_variables_are_not_passed_on() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let pass_file = pass_file(&s);
    for flags in [&[][..], &["--mask"][..]] {
        // Unlocked through VAULT_PASSPHRASE.
        let out = s
            .vault_cmd()
            .env("VAULT_PASSPHRASE", PASS)
            .arg("exec")
            .args(flags)
            .args(["--", "env"])
            .run();
        assert_status(&out, 0, &format!("exec {flags:?} with VAULT_PASSPHRASE"));
        let env = env_map(&out.stdout);
        assert!(env.contains_key("TOKEN"), "unlocked: {env:?}");
        assert!(!env.contains_key("VAULT_PASSPHRASE"), "{env:?}");
        assert!(!text(&out.stdout).contains(PASS));

        // Unlocked through VAULT_PASSPHRASE_FILE, with VAULT_PASSPHRASE set too.
        let out = s
            .vault_cmd()
            .env("VAULT_PASSPHRASE_FILE", &pass_file)
            .env("VAULT_PASSPHRASE", PASS)
            .arg("exec")
            .args(flags)
            .args(["--", "env"])
            .run();
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
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let out = exec(&s, &[], &["sh", "-c", "printf '%s\\n' \"$TOKEN\""])
        .env("TOKEN", "inherited-value")
        .run();
    assert_status(&out, 0, "exec with an inherited TOKEN");
    assert_eq!(text(&out.stdout), format!("{TOKEN}\n"));
}

#[test]
fn references_get_the_secret_value() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("OTHER", b"other-value-5")]);
    let script = "printf '%s|%s|%s\\n' \"$DB_PASSWORD\" \"$NOT_A_REF\" \"$ALMOST\"";
    for flags in [&[][..], &["--only", "TOKEN"][..]] {
        let out = exec(&s, flags, &["sh", "-c", script])
            .env("DB_PASSWORD", "vault:TOKEN")
            .env("NOT_A_REF", "vault:not a name")
            .env("ALMOST", " vault:TOKEN")
            .run();
        assert_status(&out, 0, &format!("exec {flags:?} with a reference"));
        assert_eq!(
            text(&out.stdout),
            format!("{TOKEN}|vault:not a name| vault:TOKEN\n")
        );
    }
}

#[test]
fn reference_to_no_secret_passes_through_unchanged_with_a_warning() {
    // Names are case-sensitive: `vault:latest` (the HashiCorp Vault image)
    // is not a reference to LATEST.
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("LATEST", b"latest-value")]);
    let script = "touch ran-marker; printf '%s|%s\\n' \"$DOCKER_IMAGE\" \"$DB_PASSWORD\"";
    for flags in [&[][..], &["--mask"][..], &["--only", "TOKEN"][..]] {
        let _ = std::fs::remove_file(s.root().join("ran-marker"));
        let out = exec(&s, flags, &["sh", "-c", script])
            .env("DOCKER_IMAGE", "vault:latest")
            .env("DB_PASSWORD", "vault:TOKN")
            .run();
        assert_status(&out, 0, &format!("exec {flags:?}, references to no secret"));
        assert_eq!(text(&out.stdout), "vault:latest|vault:TOKN\n");
        assert!(
            s.root().join("ran-marker").exists(),
            "the command did not run"
        );
        let err = out.stderr.clone();
        for var in ["$DOCKER_IMAGE", "$DB_PASSWORD"] {
            assert_eq!(
                err.matches(var).count(),
                1,
                "one warning naming {var}: {err}"
            );
        }
        assert!(err.contains("passed on unchanged"), "{err}");
        // A near miss of a secret's name is suggested (a name, never a value).
        assert!(err.contains("did you mean vault:TOKEN?"), "{err}");
        assert!(
            !err.contains(TOKEN) && !err.contains("latest-value"),
            "{err}"
        );
    }
}

#[test]
fn reference_to_an_existing_secret_is_resolved_case_sensitively() {
    let s = with_secrets(&[
        ("latest", b"lower-case-value"),
        ("LATEST", b"upper-case-value"),
    ]);
    let out = exec(&s, &[], &["sh", "-c", "printf '%s\\n' \"$DOCKER_IMAGE\""])
        .env("DOCKER_IMAGE", "vault:latest")
        .run();
    assert_status(
        &out,
        0,
        "exec with DOCKER_IMAGE=vault:latest and a secret latest",
    );
    assert_eq!(text(&out.stdout), "lower-case-value\n");
    assert!(!out.stderr.contains("DOCKER_IMAGE"), "{}", out.stderr);
}

#[test]
fn reference_outside_only_is_5_and_nothing_runs() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("OTHER", b"other-value-5")]);
    let out = exec(
        &s,
        &["--only", "TOKEN"],
        &["sh", "-c", "touch ran-marker; echo $STEAL"],
    )
    .env("STEAL", "vault:OTHER")
    .run();
    assert_status(&out, 5, "exec --only TOKEN with STEAL=vault:OTHER");
    let err = out.stderr.clone();
    assert!(err.contains("OTHER"), "{err}");
    assert!(!err.contains("other-value-5"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(!s.root().join("ran-marker").exists(), "the command ran");
}

// ---------------------------------------------------------------------------
// Standard input, descriptors, values that cannot be environment variables
// ---------------------------------------------------------------------------

#[test]
fn passphrase_stdin_leaves_the_rest_for_the_child() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let mut data = b"id,name\n1,first line\n2,second\r\n\n".to_vec();
    data.extend((0..=255u8).cycle().take(3 * 256 + 17));
    data.extend_from_slice(b"\nlast line without newline");
    // Large enough that vault would have read into it with a buffered reader.
    data.extend(std::iter::repeat_n(b'z', 100_000));
    for flags in [&[][..], &["--mask"][..]] {
        let out = s
            .with_pass(PASS, &data, &["exec"])
            .args(flags)
            .args(["--", "cat"])
            .run();
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
fn child_inherits_no_descriptor_of_the_vault_or_passphrase_files() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let pass_file = pass_file(&s);
    s.file("ok.tmpl", b"pw=${secrets.TOKEN}\n");
    let script =
        "for f in /proc/$$/fd/*; do printf '%s -> %s\\n' \"$f\" \"$(readlink \"$f\")\"; done";
    for mask in [&[][..], &["--mask"][..]] {
        let out = s
            .vault_cmd()
            .env("VAULT_PASSPHRASE_FILE", &pass_file)
            .arg("exec")
            .args(["--file", "CFG=ok.tmpl"])
            .args(mask)
            .args(["--", "sh", "-c", script])
            .run();
        assert_status(&out, 0, &format!("exec {mask:?}"));
        let fds = text(&out.stdout);
        assert!(fds.contains("/memfd:"), "the --file descriptor: {fds}");
        for line in fds.lines() {
            assert!(
                !line.contains(s.root().to_str().unwrap()),
                "exec {mask:?}: the child holds a descriptor of a file of the sandbox: {line}"
            );
        }
    }
}

#[test]
fn value_with_nul_not_named_is_left_out_with_a_warning() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("BINARY", b"ab\0cd-efgh")]);
    for flags in [&[][..], &["--mask"][..]] {
        let out = exec(&s, flags, &["env"]).run();
        assert_status(&out, 0, &format!("exec {flags:?}, a NUL in a value"));
        let env = env_map(&out.stdout);
        assert!(!env.contains_key("BINARY"), "{env:?}");
        assert!(env.contains_key("TOKEN"), "{env:?}");
        let err = out.stderr.clone();
        assert_eq!(
            err.lines().filter(|l| l.contains("BINARY")).count(),
            1,
            "{err}"
        );
        assert!(err.contains("NUL byte"), "{err}");
        assert!(err.contains("--file"), "the warning suggests --file: {err}");
        assert!(!err.contains("efgh"), "{err}");
    }
}

#[test]
fn value_with_nul_named_is_refused_naming_it() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("BINARY", b"ab\0cd-efgh")]);
    let by_only = |flags: &[&str]| sh(&s, flags, "touch ran-marker");
    let by_reference = || {
        exec(&s, &[], &["sh", "-c", "touch ran-marker"])
            .env("BIN", "vault:BINARY")
            .run()
    };
    for (what, out) in [
        ("--only BINARY", by_only(&["--only", "BINARY"])),
        (
            "--mask --only BINARY",
            by_only(&["--mask", "--only", "BINARY"]),
        ),
        ("BIN=vault:BINARY", by_reference()),
    ] {
        assert_status(&out, 1, &format!("exec {what}, a NUL in a value"));
        let err = out.stderr.clone();
        assert!(
            err.contains("BINARY"),
            "the message names the secret: {err}"
        );
        assert!(err.contains("--file"), "the message suggests --file: {err}");
        assert!(
            !s.root().join("ran-marker").exists(),
            "{what}: the command ran"
        );
    }
    // Not injected: not a problem.
    let out = sh(&s, &["--only", "TOKEN"], "echo ok");
    assert_status(&out, 0, "exec --only TOKEN");
}

#[test]
fn value_over_the_env_limit_not_named_is_left_out_with_a_warning() {
    // Linux allows 128 KiB for `NAME=value` and its NUL: FIT is exactly that.
    let fit = vec![b'f'; 128 * 1024 - "FIT=".len() - 1];
    let big = vec![b'b'; 266 * 1024];
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("FIT", &fit), ("BIG", &big)]);
    for flags in [&[][..], &["--mask"][..]] {
        let out = sh(&s, flags, "echo ${#FIT} ${#BIG}");
        assert_status(&out, 0, &format!("exec {flags:?}, a value over 128 KiB"));
        assert_eq!(text(&out.stdout), format!("{} 0\n", fit.len()));
        let err = out.stderr.clone();
        assert_eq!(
            err.lines().filter(|l| l.contains("BIG")).count(),
            1,
            "{err}"
        );
        assert!(!err.contains("FIT"), "FIT fits: {err}");
        assert!(err.contains("--file"), "the warning suggests --file: {err}");
    }
}

#[test]
fn value_over_the_env_limit_named_by_only_is_refused_naming_it() {
    let big = vec![b'b'; 128 * 1024 - "BIG=".len()];
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("BIG", &big)]);
    for flags in [&["--only", "BIG"][..], &["--mask", "--only", "BIG"][..]] {
        let out = sh(&s, flags, "touch ran-marker");
        assert_status(&out, 1, &format!("exec {flags:?}, a value over 128 KiB"));
        let err = out.stderr.clone();
        assert!(err.contains("BIG"), "the message names the secret: {err}");
        assert!(err.contains("--file"), "the message suggests --file: {err}");
        assert!(!s.root().join("ran-marker").exists(), "the command ran");
    }
}

#[test]
fn value_over_the_env_limit_named_with_a_file_is_said_to_go_by_the_file_only() {
    let big = vec![b'b'; 266 * 1024];
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("BIG", &big)]);
    s.file("cert.tmpl", b"${secrets.BIG}");
    for flags in [&["--only", "BIG"][..], &[][..]] {
        let out = exec(
            &s,
            &[flags, &["--file", "CERT_FILE=cert.tmpl"][..]].concat(),
            &["sh", "-c", "echo ${#BIG} $(wc -c < \"$CERT_FILE\")"],
        )
        .run();
        assert_status(&out, 0, &format!("exec {flags:?} --file with a big value"));
        assert_eq!(text(&out.stdout), format!("0 {}\n", big.len()));
        let err = out.stderr.clone();
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("BIG")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(
            lines[0].contains("not set as a variable") && lines[0].contains("$CERT_FILE"),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------
// Secrets whose names change how programs load or which program runs
// ---------------------------------------------------------------------------

/// A directory holding an executable `true` (and `sh`) that leave a marker
/// if they ever run.
fn evil_dir(s: &Sandbox) -> PathBuf {
    let dir = s.root().join("evil");
    std::fs::create_dir(&dir).unwrap();
    for name in ["true", "sh", "env"] {
        let p = dir.join(name);
        let script = format!(
            "#!/bin/sh\ntouch '{}'\n",
            s.root().join("evil-ran").display()
        );
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

#[test]
fn a_secret_path_never_chooses_the_program() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let evil = evil_dir(&s);
    s.set("PATH", evil.to_str().unwrap().as_bytes());
    for flags in [&[][..], &["--mask"][..], &["--only", "PATH"][..]] {
        let out = exec(&s, flags, &["true"]).run();
        assert_status(&out, 0, &format!("exec {flags:?} true"));
        assert!(
            !s.root().join("evil-ran").exists(),
            "exec {flags:?}: the secret PATH chose the program"
        );
    }
    // Not named: the child keeps the caller's PATH, and is told once.
    let out = exec(&s, &[], &["sh", "-c", "printf '%s\\n' \"$PATH\""]).run();
    assert_status(&out, 0, "exec sh");
    assert_eq!(text(&out.stdout).trim_end(), std::env::var("PATH").unwrap());
    let err = out.stderr.clone();
    assert_eq!(
        err.lines().filter(|l| l.contains("PATH")).count(),
        1,
        "{err}"
    );
    assert!(err.contains("--only"), "{err}");
    assert!(
        !err.contains(evil.to_str().unwrap()),
        "the value is not shown: {err}"
    );
    // Named with --only, the child gets it; the program is still the
    // caller's `sh`.
    let out = exec(
        &s,
        &["--only", "PATH"],
        &["sh", "-c", "printf '%s\\n' \"$PATH\""],
    )
    .run();
    assert_status(&out, 0, "exec --only PATH sh");
    assert_eq!(text(&out.stdout).trim_end(), evil.to_str().unwrap());
    assert!(
        !s.root().join("evil-ran").exists(),
        "the secret PATH chose sh"
    );
    assert!(!out.stderr.contains("PATH"), "{}", out.stderr);
}

#[test]
fn program_lookup_skips_a_non_executable_file_and_keeps_argv0() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let first = s.root().join("first");
    let second = s.root().join("second");
    std::fs::create_dir(&first).unwrap();
    std::fs::create_dir(&second).unwrap();
    std::fs::write(first.join("tool"), "#!/bin/sh\necho wrong\n").unwrap();
    std::fs::write(second.join("tool"), "#!/bin/sh\necho \"right $0\"\n").unwrap();
    std::fs::set_permissions(second.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}:{}",
        first.display(),
        second.display(),
        std::env::var("PATH").unwrap()
    );
    for flags in [&[][..], &["--mask"][..]] {
        let out = exec(&s, flags, &["tool"]).env("PATH", &path).run();
        assert_status(&out, 0, &format!("exec {flags:?} tool"));
        assert_eq!(
            text(&out.stdout),
            format!("right {}\n", second.join("tool").display())
        );
    }
    // Only a non-executable one: 126, as execvp.
    let path = format!("{}:{}", first.display(), std::env::var("PATH").unwrap());
    let out = exec(&s, &[], &["tool"]).env("PATH", &path).run();
    assert_status(&out, 126, "exec tool, not executable");
}

#[test]
fn loading_names_are_left_out_unless_named_with_only() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let marker = s.root().join("bash-env-ran");
    let script = s.file(
        "evil.sh",
        format!("touch '{}'\n", marker.display()).as_bytes(),
    );
    s.set("BASH_ENV", script.to_str().unwrap().as_bytes());
    // Were it injected, the loader would complain on stderr.
    s.set("LD_PRELOAD", b"/nonexistent-8d1e/evil.so");
    s.set("NODE_OPTIONS", b"--require /nonexistent-8d1e/evil.js");
    let check = "echo task; printf '%s|%s\\n' \"${LD_PRELOAD-unset}\" \"${NODE_OPTIONS-unset}\"";
    for flags in [&[][..], &["--mask"][..]] {
        let out = exec(&s, flags, &["bash", "-c", check]).run();
        assert_status(&out, 0, &format!("exec {flags:?} bash"));
        assert_eq!(text(&out.stdout), "task\nunset|unset\n");
        assert!(!marker.exists(), "exec {flags:?}: BASH_ENV ran");
        let err = out.stderr.clone();
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("left out")).collect();
        assert_eq!(lines.len(), 1, "one warning: {err}");
        for name in ["BASH_ENV", "LD_PRELOAD", "NODE_OPTIONS"] {
            assert!(lines[0].contains(name), "{name}: {err}");
        }
        assert!(
            !err.contains("nonexistent-8d1e") && !err.contains("evil"),
            "{err}"
        );
    }
    // Named with --only: the command gets it.
    let out = exec(&s, &["--only", "BASH_ENV"], &["bash", "-c", "echo task"]).run();
    assert_status(&out, 0, "exec --only BASH_ENV bash");
    assert!(
        marker.exists(),
        "BASH_ENV named with --only did not reach bash"
    );
}

#[test]
fn set_warns_when_a_loading_name_is_stored() {
    let s = with_secrets(&[]);
    let out = s
        .with_pass(PASS, b"/opt/lib.so", &["set", "LD_PRELOAD"])
        .run();
    assert_status(&out, 0, "set LD_PRELOAD");
    assert!(
        out.stderr.contains("LD_PRELOAD") && out.stderr.contains("--only LD_PRELOAD"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("/opt/lib.so"), "{}", out.stderr);
    let out = s.with_pass(PASS, b"value-1", &["set", "API_KEY"]).run();
    assert_status(&out, 0, "set API_KEY");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn doctor_lists_stored_loading_names() {
    let s = with_secrets(&[
        ("TOKEN", TOKEN.as_bytes()),
        ("PATH", b"/evil"),
        ("LD_AUDIT", b"x"),
    ]);
    let out = s.with_pass(PASS, b"", &["doctor", "--json"]).run();
    assert_status(&out, 0, "doctor --json");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["secrets"]["names_that_alter_program_loading"],
        serde_json::json!(["LD_AUDIT", "PATH"])
    );
    let next = report["next_steps"].to_string();
    assert!(next.contains("LD_AUDIT, PATH"), "{next}");
    assert!(!text(&out.stdout).contains("/evil"));
    // Without a passphrase it does not prompt, and says why.
    let out = s.vault_cmd().args(["doctor", "--json"]).run();
    assert_status(&out, 0, "doctor --json without a passphrase");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["secrets"]["checked"], serde_json::json!(false));
}
