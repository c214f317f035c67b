//! Where a secret must not end up: in any file (a scan of every file the
//! vault wrote; every write(2) traced by strace), in the core of a running
//! `vault` (gcore, as root, of a masked exec run as an ordinary user), or
//! in unlocked memory without a warning.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::*;

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
    // Re-wraps both slots from their public keys (no other passphrase).
    s.with_pass(pass2, b"", &["rekey"]).run().success();
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
    // And the secret is still there, under the ciphertext, for both.
    for p in [pass, pass2] {
        assert_eq!(
            s.with_pass(p, b"", &["get", "-n", "CANARY"])
                .run()
                .success()
                .stdout,
            value
        );
    }
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
    String::from_utf8_lossy(&out).into_owned()
}

/// The path `strace -y` gives the descriptor that is the first argument of
/// the system call on `line`, e.g. `pipe:[123]` or `/memfd:name`.
fn first_fd_path(line: &str) -> Option<String> {
    let args = &line[line.find('(')? + 1..];
    let digits = args.find(|c: char| !c.is_ascii_digit())?;
    let rest = args[digits..].strip_prefix('<')?;
    Some(unescape(&rest[..rest.find('>')?]))
}

/// Runs `vault --vault V --passphrase-stdin ARGS` under `strace -f`, and
/// checks that every traced write carrying `secret` goes to a pipe or a
/// memfd, that at least one does, and that nothing written carries the
/// passphrase. Returns the command's output.
fn assert_secret_only_in_pipes_and_memfds(
    s: &Sandbox,
    strace: &Path,
    what: &str,
    args: &[&str],
    secret: &[u8],
) -> Out {
    let log = s.tmp.join(format!("strace-{}.log", what.replace(' ', "-")));
    let wrapper: Vec<&OsStr> = [strace.as_os_str()]
        .into_iter()
        .chain(
            ["-f", "-y", "-xx", "-s", "1000000", "-o"]
                .iter()
                .map(OsStr::new),
        )
        .chain([log.as_os_str()])
        .chain(
            ["-e", "trace=write,pwrite64,writev,pwritev,pwritev2", "--"]
                .iter()
                .map(OsStr::new),
        )
        .collect();
    let out = s
        .cmd_via(&wrapper)
        .arg("--vault")
        .arg(&s.vault)
        .arg("--passphrase-stdin")
        .args(args)
        .stdin(stdin_lines(PASS, b""))
        .run();
    let log_text = fs::read_to_string(&log).expect("the strace log");
    fs::remove_file(&log).unwrap();
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
        "{what}: no traced write carried the secret; is the trace complete?{out:?}\nlog:\n{}",
        unescape(&log_text)
    );
    out
}

#[test]
fn strace_shows_no_secret_written_to_a_file_by_exec_render_or_mask() {
    let Some(strace) = require(Program("strace")) else {
        return;
    };
    let secret = b"strace-canary-5be1c9d0-value";
    let s = Sandbox::new();
    s.init().set("TOKEN", secret).set("OTHER", b"other-value-5");
    s.file("cfg.tmpl", b"[x]\ntoken=${secrets.TOKEN}\n");
    let want = format!("{}\n", String::from_utf8_lossy(secret));
    let print_token = ["sh", "-c", "printf '%s\\n' \"$TOKEN\""];
    let cases: [(&str, Vec<&str>, String); 4] = [
        (
            "exec",
            [&["exec", "--"][..], &print_token].concat(),
            want.clone(),
        ),
        (
            "exec --file",
            vec![
                "exec",
                "--file",
                "CFG=cfg.tmpl",
                "--",
                "sh",
                "-c",
                "cat \"$CFG\"",
            ],
            format!("[x]\ntoken={want}"),
        ),
        (
            "render",
            vec!["render", "cfg.tmpl"],
            format!("[x]\ntoken={want}"),
        ),
        (
            "exec --mask",
            [&["exec", "--mask", "--"][..], &print_token].concat(),
            "***\n".to_string(),
        ),
    ];
    for (what, args, stdout) in cases {
        let out =
            assert_secret_only_in_pipes_and_memfds(&s, &strace, what, &args, secret).success();
        assert_eq!(out.stdout_str(), stdout, "{what} under strace");
    }
}

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
    if require(Root).is_none()
        || require(Program("setpriv")).is_none()
        || require(Program("prlimit")).is_none()
    {
        return;
    }
    let s = Sandbox::new();
    let u = Unpriv::new(&s);
    let dir = u.dir.join("vaultdir");
    fs::create_dir(&dir).unwrap();
    let v = dir.join("v.vault");
    s.at(&v, PASS, b"", &["init"]).args(KDF).run().success();
    s.at(&v, PASS, b"small", &["set", "--raw", "SMALL"])
        .run()
        .success();
    let pf = dir.join("pass");
    fs::write(&pf, format!("{PASS}\n")).unwrap();
    chown_tree(&dir);
    // As an ordinary user under a 64 KiB memory-lock limit (root ignores it).
    let get = |name: &str| {
        u.command(&s, "prlimit")
            .args(["--memlock=65536:65536", "--"])
            .arg(&u.bin)
            .arg("--vault")
            .arg(&v)
            .arg("--passphrase-file")
            .arg(&pf)
            .args(["get", "-n", name])
            .run()
    };
    let small = get("SMALL");
    assert_eq!(small.code, Some(0), "{small:?}");
    assert!(!small.stderr.contains("could not lock"), "{small:?}");
    // 1 MiB more: the plaintext and the value's copy no longer fit.
    s.at(&v, PASS, &vec![b'x'; 1 << 20], &["set", "--raw", "BIG"])
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
    // Root: to run vault as another user and take its core.
    if require(Root).is_none()
        || require(Program("gdb")).is_none()
        || require(Program("gcore")).is_none()
        || require(Program("setpriv")).is_none()
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
    s.at(&v, &pass, b"", &["init"]).args(KDF).run().success();
    s.at(&v, &pass, injected.as_bytes(), &["set", "--raw", "INJ"])
        .run()
        .success();
    s.at(&v, &pass, hidden.as_bytes(), &["set", "--raw", "HID"])
        .run()
        .success();
    let pf = dir.join("pass");
    fs::write(&pf, format!("{pass}\n")).unwrap();
    fs::set_permissions(&pf, fs::Permissions::from_mode(0o600)).unwrap();
    chown_tree(&dir);
    // vault (as nobody) stays as the parent of the masked child.
    let mut child = u
        .vault(
            &s,
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
        )
        .timeout(Duration::from_secs(300))
        .spawn();
    let pid = child.pid();
    assert!(
        child.wait_stdout(b"\n", Duration::from_secs(30)),
        "no `ready` from the masked command: {}",
        child.stdout_so_far()
    );
    let line = child.stdout_so_far();
    let line = line.trim_end();
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
    let environ = u
        .command(&s, "cat")
        .arg(format!("/proc/{pid}/environ"))
        .run();
    assert_ne!(
        environ.code,
        Some(0),
        "same user read the environment:{environ:?}"
    );
    assert!(environ.stderr.contains("Permission denied"), "{environ:?}");
    let attach = u
        .command(&s, "gdb")
        .args(["--batch", "--nx", "-p", &pid.to_string()])
        .run();
    assert!(
        attach.stderr.contains("ptrace: Operation not permitted"),
        "same user could attach:{attach:?}"
    );
    // Root bypasses PR_SET_DUMPABLE and RLIMIT_CORE: take the core.
    let core_base = s.root().join("core");
    let gout = s
        .program("gcore")
        .arg("-o")
        .arg(&core_base)
        .arg(pid.to_string())
        .timeout(Duration::from_secs(120))
        .run();
    let core_file = PathBuf::from(format!("{}.{pid}", core_base.display()));
    let taken = if gout.code == Some(0) && core_file.exists() {
        Ok(())
    } else {
        Err(format!("gcore as root failed:{gout:?}"))
    };
    if require(Works("a core taken by gcore", taken)).is_none() {
        return;
    }
    let size = fs::metadata(&core_file).unwrap().len();
    let counts = count_in_file(
        &core_file,
        &[pass.as_bytes(), injected.as_bytes(), hidden.as_bytes()],
    );
    let _ = fs::remove_file(&core_file);
    // Ends vault and its child (SIGKILL to both).
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

/// With `VAULT_PASSPHRASE`, the `--mask` parent lives as long as the
/// command: the variable's bytes are wiped in the process's environment
/// block at start-up (so `/proc/PID/environ`, which shows that block, no
/// longer holds them) and the variable is unset.
#[test]
fn vault_passphrase_is_wiped_from_the_environment_block_at_start() {
    if require(Root).is_none() {
        return; // /proc/PID/environ of a non-dumpable process needs root
    }
    let s = Sandbox::new();
    let pass = format!("env-passphrase-{}", random_hex(12));
    s.init_with(&pass);
    s.with_pass(&pass, b"value-1234", &["set", "A"])
        .run()
        .success();
    let mut child = s
        .vault_cmd()
        .env("VAULT_PASSPHRASE", &pass)
        .args([
            "exec",
            "--mask",
            "--",
            "sh",
            "-c",
            "echo ready; exec sleep 60",
        ])
        .spawn();
    assert!(
        child.wait_stdout(b"ready", Duration::from_secs(30)),
        "no `ready`: {}",
        child.stdout_so_far()
    );
    let environ = fs::read(format!("/proc/{}/environ", child.pid())).unwrap();
    drop(child);
    // Positive control: the block is the one the test passed in.
    assert!(contains(&environ, b"HOME="), "not the environment block");
    assert!(
        !contains(&environ, pass.as_bytes()),
        "the passphrase is still in the environment block"
    );
}
