//! The command line as typed: usage errors (exit 2) and `--help`'s table of
//! exit codes, global options after the subcommand, a vault that does not
//! exist, and the table of bad inputs (each with its exit code, its message
//! and the vault's bytes unchanged).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::*;

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
}

/// `--version` names the commit when built from this crate's git checkout
/// (CI builds a clean clone, so there it must), the plain version otherwise.
#[test]
fn version_names_the_commit_of_a_git_checkout() {
    let s = Sandbox::new();
    let out = s.cmd().arg("--version").run().success();
    let line = out.stdout_str();
    let plain = concat!("vault ", env!("CARGO_PKG_VERSION"));
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let checkout = git(&["rev-parse", "--show-toplevel"])
        .is_some_and(|top| fs::canonicalize(top).ok() == fs::canonicalize(dir).ok());
    if on_ci() {
        assert!(checkout, "CI builds a git checkout of this crate");
    }
    let expected = match checkout {
        true => format!(
            "{plain} (commit {})\n",
            git(&["rev-parse", "--short=12", "HEAD"]).expect("HEAD")
        ),
        false => format!("{plain}\n"),
    };
    assert_eq!(line, expected);
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

/// Which vault a row of [`BAD_INPUTS`] runs against.
#[derive(Clone, Copy)]
enum On {
    /// The sandbox vault: two passphrase slots, secrets `A` and `NULVAL`.
    Two,
    /// `one.vault`: one passphrase slot, secret `A`.
    One,
    /// `new.vault`, which must not be created.
    Fresh,
    /// `missing.vault`, which does not exist.
    Missing,
}

/// One row of [`BAD_INPUTS`].
struct BadInput {
    /// What is wrong, as the figure's table says it.
    input: &'static str,
    on: On,
    /// `Some(pass)`: `--passphrase-stdin` with `pass` as stdin's first line;
    /// `None`: no passphrase option (and stdin /dev/null).
    pass: Option<&'static str>,
    /// Stdin after the passphrase line; `MIB_PLUS_ONE` stands for a value
    /// of 1 MiB + 1 bytes.
    rest: &'static [u8],
    /// The arguments after `--vault V [--passphrase-stdin]`, where `$DIR`
    /// is the sandbox root, `$ID0`/`$ID1` the two-slot vault's slot ids,
    /// `$ONE_ID` the one-slot vault's and `$LONG_NAME` a 129-character name.
    args: &'static [&'static str],
    /// Extra environment.
    env: &'static [(&'static str, &'static str)],
    /// Whether another process holds the write lock during the run.
    hold_lock: bool,
    code: i32,
    /// Text that stderr must contain.
    msg: &'static str,
}

/// Stands for stdin of 1 MiB + 1 bytes in [`BadInput::rest`].
const MIB_PLUS_ONE: &[u8] = b"<1 MiB + 1>";

/// A row with the usual parts: the two-slot vault, [`PASS`], no more stdin.
const fn row(
    input: &'static str,
    args: &'static [&'static str],
    code: i32,
    msg: &'static str,
) -> BadInput {
    BadInput {
        input,
        on: On::Two,
        pass: Some(PASS),
        rest: b"",
        args,
        env: &[],
        hold_lock: false,
        code,
        msg,
    }
}

/// Bad inputs: each must exit with its code, say its message, print
/// nothing on stdout, and leave every vault's bytes as they were.
const BAD_INPUTS: &[BadInput] = &[
    BadInput {
        rest: b"x",
        ..row(
            "set 1BAD (bad name)",
            &["set", "1BAD"],
            2,
            "invalid secret name",
        )
    },
    BadInput {
        rest: b"x",
        ..row(
            "set A-B (bad character)",
            &["set", "A-B"],
            2,
            "invalid secret name",
        )
    },
    BadInput {
        rest: b"x",
        ..row(
            "set <129 characters>",
            &["set", "$LONG_NAME"],
            2,
            "at most 128 characters",
        )
    },
    BadInput {
        rest: b"x",
        ..row(
            "set VAULT_TOKEN (reserved prefix)",
            &["set", "VAULT_TOKEN"],
            2,
            "not start with VAULT_",
        )
    },
    BadInput {
        rest: MIB_PLUS_ONE,
        ..row(
            "set BIG, value 1 MiB + 1 on stdin",
            &["set", "--raw", "BIG"],
            2,
            "the limit is 1 MiB",
        )
    },
    row(
        "list --bogus (unknown flag)",
        &["list", "--bogus"],
        2,
        "unexpected argument '--bogus'",
    ),
    row(
        "get (missing NAME)",
        &["get"],
        2,
        "required arguments were not provided",
    ),
    BadInput {
        on: On::Fresh,
        ..row(
            "init --kdf-memory 3GiB",
            &["init", "--kdf-memory", "3GiB"],
            2,
            "KDF memory 3 GiB is outside 8 MiB to 2 GiB",
        )
    },
    BadInput {
        on: On::Fresh,
        ..row(
            "init --kdf-memory 64 (no unit)",
            &["init", "--kdf-memory", "64"],
            2,
            "is not a size like 64MiB",
        )
    },
    BadInput {
        on: On::Fresh,
        ..row(
            "init --kdf-time 0",
            &["init", "--kdf-time", "0"],
            2,
            "KDF time 0 is outside 1 to 16",
        )
    },
    BadInput {
        rest: b"new pass\n",
        ..row(
            "key add passphrase --kdf-parallelism 17",
            &[
                "key",
                "add",
                "passphrase",
                "--new-passphrase-stdin",
                "--kdf-parallelism",
                "17",
            ],
            2,
            "KDF parallelism 17 is outside 1 to 16",
        )
    },
    BadInput {
        on: On::Fresh,
        pass: Some(""),
        ..row(
            "init with an empty passphrase",
            &[
                "init",
                "--kdf-memory",
                "8MiB",
                "--kdf-time",
                "1",
                "--kdf-parallelism",
                "1",
            ],
            2,
            "refusing an empty passphrase",
        )
    },
    row(
        "init over an existing vault",
        &["init"],
        1,
        "a vault already exists",
    ),
    row(
        "exec --file CFG=<missing template>",
        &["exec", "--file", "CFG=$DIR/missing.tmpl", "--", "true"],
        1,
        "opening the template",
    ),
    row(
        "exec --file CFG (no =TEMPLATE)",
        &["exec", "--file", "CFG", "--", "true"],
        2,
        "--file takes VAR=TEMPLATE",
    ),
    row(
        "exec --file 1CFG=t (bad variable)",
        &["exec", "--file", "1CFG=$DIR/good.tmpl", "--", "true"],
        2,
        "VAR must match",
    ),
    row(
        "render <unclosed ${secrets.A>",
        &["render", "$DIR/malformed.tmpl"],
        2,
        "1:6: unclosed placeholder",
    ),
    row(
        "render <${secrets.NOPE}>",
        &["render", "$DIR/unknown.tmpl"],
        5,
        "no secret named NOPE (referenced at",
    ),
    row(
        "exec --only NOPE",
        &["exec", "--only", "NOPE", "--", "true"],
        5,
        "no secret named NOPE",
    ),
    row(
        "exec --only a secret with a NUL byte in its value",
        &["exec", "--only", "NULVAL", "--", "true"],
        1,
        "contains a NUL byte",
    ),
    row(
        "exec --only A -- /nonexistent/cmd",
        &["exec", "--only", "A", "--", "/nonexistent/cmd"],
        127,
        "command not found",
    ),
    BadInput {
        pass: None,
        ..row(
            "--passphrase-file <missing>",
            &["--passphrase-file", "/nonexistent/pass", "get", "A"],
            1,
            "opening",
        )
    },
    BadInput {
        pass: None,
        ..row(
            "--passphrase-file <5000 bytes>",
            &["--passphrase-file", "$DIR/long.pass", "get", "A"],
            2,
            "longer than 4096 bytes",
        )
    },
    BadInput {
        pass: None,
        ..row(
            "--passphrase-fd 99 (not open)",
            &["--passphrase-fd", "99", "get", "A"],
            2,
            "cannot read the passphrase from file descriptor 99",
        )
    },
    row(
        "--passphrase-stdin and --passphrase-file",
        &["--passphrase-file", "$DIR/pass", "get", "A"],
        2,
        "give the passphrase one way only",
    ),
    BadInput {
        pass: None,
        ..row(
            "no passphrase, no terminal, no keyring",
            &["--no-keyring", "get", "A"],
            3,
            "no passphrase was given",
        )
    },
    BadInput {
        pass: Some("not the passphrase"),
        ..row("wrong passphrase", &["get", "A"], 3, "wrong passphrase")
    },
    row("get NOPE", &["get", "NOPE"], 5, "no secret named NOPE"),
    row(
        "delete NOPE",
        &["delete", "NOPE"],
        5,
        "no secret named NOPE",
    ),
    row(
        "delete A NOPE (all or nothing)",
        &["delete", "A", "NOPE"],
        5,
        "no secret named NOPE",
    ),
    BadInput {
        on: On::Missing,
        ..row("--vault <missing file>", &["get", "A"], 1, "no vault at")
    },
    row(
        "key remove 00000000 (unknown id)",
        &["key", "remove", "00000000"],
        2,
        "no slot 00000000",
    ),
    row(
        "key remove ' xyz' (neither an id nor a label)",
        &["key", "remove", " xyz"],
        2,
        "8 hex digits",
    ),
    BadInput {
        on: On::One,
        ..row(
            "key remove <the last slot>",
            &["key", "remove", "$ONE_ID"],
            2,
            "refusing to remove the last slot",
        )
    },
    // Version 2 re-wraps every slot from its public key: `rekey` without
    // the second slot's passphrase succeeds. Only a version-1 (legacy)
    // slot still needs it: see rekey_without_a_legacy_slots_passphrase_*.
    row(
        "rekey --drop <every slot>",
        &["rekey", "--drop", "$ID0", "--drop", "$ID1"],
        2,
        "refusing to drop every slot",
    ),
    row(
        "unlock --timeout 0s",
        &["unlock", "--timeout", "0s"],
        2,
        "a timeout of 0",
    ),
    row(
        "unlock --timeout 25h",
        &["unlock", "--timeout", "25h"],
        2,
        "the longest cache timeout is 24h",
    ),
    BadInput {
        rest: b"new",
        env: &[("VAULT_LOCK_TIMEOUT", "0")],
        hold_lock: true,
        ..row(
            "VAULT_LOCK_TIMEOUT=0, lock held elsewhere",
            &["set", "A"],
            1,
            "gave up after 0 s waiting for the write lock",
        )
    },
];

#[test]
fn table_of_bad_inputs_each_with_exit_code_message_and_unchanged_vault() {
    let s = Sandbox::new();
    s.init_two_slots(&s.vault);
    s.set("A", b"alpha-value").set("NULVAL", b"nul\0inside");
    let one = s.root().join("one.vault");
    s.at(&one, PASS, b"", &["init"]).args(KDF).run().success();
    s.at(&one, PASS, b"v", &["set", "A"]).run().success();
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
    s.file("malformed.tmpl", b"user=${secrets.A\n");
    s.file("unknown.tmpl", b"x=${secrets.NOPE}\n");
    s.file("good.tmpl", b"x=${secrets.A}\n");
    s.file("long.pass", &[b'x'; 5000]);
    s.file("pass", format!("{PASS}\n").as_bytes());
    let mut mib_plus_one = vec![b'x'; 1024 * 1024 + 1];
    mib_plus_one[0] = b'y';
    let root = s.root().display().to_string();
    let long_name = "N".repeat(129);
    let expand = |a: &str| {
        a.replace("$DIR", &root)
            .replace("$ID0", &ids[0])
            .replace("$ID1", &ids[1])
            .replace("$ONE_ID", &one_id)
            .replace("$LONG_NAME", &long_name)
    };
    assert!(BAD_INPUTS.len() >= 20);
    let before2 = s.vault_bytes();
    let before1 = fs::read(&one).unwrap();
    let mut table = vec![
        "| # | input | exit | message (first line of stderr) |".to_string(),
        "|---|---|---|---|".to_string(),
    ];
    for (k, row) in BAD_INPUTS.iter().enumerate() {
        let path = match row.on {
            On::Two => s.vault.clone(),
            On::One => one.clone(),
            On::Fresh => fresh.clone(),
            On::Missing => s.root().join("missing.vault"),
        };
        let mut cmd = s.cmd().arg("--vault").arg(&path);
        if let Some(pass) = row.pass {
            let rest = if row.rest == MIB_PLUS_ONE {
                &mib_plus_one[..]
            } else {
                row.rest
            };
            cmd = cmd.arg("--passphrase-stdin").stdin(stdin_lines(pass, rest));
        }
        cmd = cmd.args(row.args.iter().map(|a| expand(a)));
        for (k, v) in row.env {
            cmd = cmd.env(k, v);
        }
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
        let out = cmd.run();
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
        assert!(temp_files(&s.vault).is_empty());
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

/// A malformed typed value (duration, size, slot id, `--file` spec) is exit
/// 2 from the argument parser itself: nothing is read or unlocked first, so
/// it is exit 2 even where there is no vault at all.
#[test]
fn malformed_typed_values_are_refused_before_anything_runs() {
    let s = Sandbox::new();
    for args in [
        &["unlock", "--timeout", "5x"][..],
        &["unlock", "--timeout", "0s"],
        &["unlock", "--timeout", "25h"],
        &["key", "add", "passphrase", "--kdf-memory", "64"],
        &["key", "remove", " zz"],
        &["key", "passwd", "id\u{202e}"],
        &["rekey", "--drop", ""],
        &["key", "label", "0a0b0c0d", "0a0b0c0e"],
        &["exec", "--file", "NOEQUALS", "--", "true"],
        &["exec", "--file", "1BAD=t.tmpl", "--", "true"],
        &["exec", "--file", "VAR=", "--", "true"],
    ] {
        let out = s.vault_cmd().args(args).run().code(2);
        // clap's own message, naming the flag or argument that was wrong.
        assert!(
            out.stderr.contains("invalid value"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!s.vault.exists());
    }
}

/// `doctor --json` describes a slot with the same fields as `key list
/// --json` (plus its own checks), e.g. the integer `memory_kib`.
#[test]
fn doctor_and_key_list_describe_a_slot_alike() {
    let s = Sandbox::new();
    s.init();
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    let doctor = s
        .vault_cmd()
        .args(["doctor", "--json"])
        .run()
        .success()
        .json();
    let listed = keys["slots"].as_array().expect("slots");
    let reported = doctor["vault"]["slots"].as_array().expect("slots");
    assert_eq!(listed.len(), reported.len());
    for (l, r) in listed.iter().zip(reported) {
        for (field, value) in l.as_object().unwrap() {
            assert_eq!(&r[field], value, "doctor's {field} differs: {r}");
        }
    }
    assert_eq!(listed[0]["memory_kib"], 8192, "{keys}");
}

/// A vault directly in a sticky world-writable directory (like /tmp): the
/// problem is sharing, and `chmod go-w` is not the fix (on /tmp it would
/// break the machine); doctor says so. A plain group/world-writable
/// directory still gets the chmod advice.
#[test]
fn doctor_advice_for_a_shared_sticky_directory_is_not_chmod() {
    let s = Sandbox::new();
    for (mode, has, lacks) in [
        (0o1777, "shared directory", "chmod go-w"),
        (0o0777, "chmod go-w", "shared directory"),
    ] {
        let dir = s.root().join(format!("d{mode:o}"));
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        let v = dir.join("v.vault");
        s.cmd()
            .arg("--vault")
            .arg(&v)
            .args(["--passphrase-stdin", "init"])
            .args(KDF)
            .stdin(stdin_lines(PASS, b""))
            .run()
            .success();
        let out = s
            .cmd()
            .arg("--vault")
            .arg(&v)
            .args(["doctor", "--json"])
            .run()
            .success()
            .json();
        let next = out["next_steps"].to_string();
        assert!(next.contains(has), "{mode:o}: {next}");
        assert!(!next.contains(lacks), "{mode:o}: {next}");
    }
}

/// `vault completions SHELL` prints a script for every shell clap knows; in
/// a real bash, `vault exe<TAB>` completes to `exec` and `vault key <TAB>`
/// offers the key subcommands.
#[test]
fn completions_complete_subcommands_in_a_real_bash() {
    let s = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = s.cmd().args(["completions", shell]).run().success();
        assert!(
            out.stdout.len() > 500,
            "{shell}: {} bytes",
            out.stdout.len()
        );
    }
    let Some(bash) = require(Program("bash")) else {
        return;
    };
    let script = s.file(
        "vault.bash",
        &s.cmd().args(["completions", "bash"]).run().success().stdout,
    );
    let complete = |words: &str| {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
             _vault vault \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        s.program(&bash)
            .args(["-c", &probe])
            .run()
            .success()
            .stdout_str()
    };
    assert_eq!(complete("vault exe").trim(), "exec");
    let key = complete("vault key ''");
    for sub in ["add", "list", "passwd", "remove"] {
        assert!(key.lines().any(|l| l == sub), "vault key <TAB>: {key:?}");
    }
}

/// `vault man` is a roff page that `man -l` renders, naming every
/// subcommand.
#[test]
fn man_page_renders_with_every_subcommand() {
    let s = Sandbox::new();
    let page = s.cmd().arg("man").run().success().stdout;
    let Some(man) = require(Program("man")) else {
        return;
    };
    let file = s.file("vault.1", &page);
    let out = s
        .program(&man)
        .arg("-l")
        .arg(&file)
        .env("MANWIDTH", "100")
        .run()
        .success();
    let text = out.stdout_str();
    assert!(
        text.contains("vault(1)") || text.contains("VAULT(1)"),
        "{text}"
    );
    for sub in [
        "init",
        "set",
        "get",
        "exec",
        "render",
        "import",
        "export",
        "completions",
        "doctor",
        "rekey",
    ] {
        assert!(text.contains(sub), "man page lacks {sub}");
    }
}
