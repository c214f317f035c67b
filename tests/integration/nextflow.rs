//! `vault exec --nextflow`: the secrets reach a stand-in for Nextflow
//! (`tests/standin/nextflow`, which reproduces Nextflow's documented checks:
//! the store's permissions through links, its JSON, the `secret`
//! directive's file beside the store and the task wrapper that sources it)
//! only through its store: values arrive exactly, tasks get only what they
//! name, the environment holds no secret, nothing is written on disk, the
//! private RAM-backed directory is 0700 and gone after the run however it
//! ends (the next run removes what a killed vault left), refused values are
//! named and never shown, `--only` limits the store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::exec::{assert_status, text, with_secrets, TOKEN};
use crate::harness::*;

/// `tests/standin/`, holding the stand-in `nextflow`.
fn standin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin")
}

/// `statfs(path).f_type`.
fn f_type(path: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs into a zeroed local with a valid C string.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        (libc::statfs(c.as_ptr(), &mut st) == 0).then_some(st.f_type as i64)
    }
}

const TMPFS_MAGIC: i64 = 0x0102_1994;

/// A private directory on tmpfs (under /dev/shm) for `XDG_RUNTIME_DIR`,
/// removed when dropped; `None` when there is no tmpfs (skipped loudly).
struct RuntimeDir(tempfile::TempDir);

impl RuntimeDir {
    #[track_caller]
    fn new() -> Option<RuntimeDir> {
        require(Program("python3"))?;
        let made = match f_type(Path::new("/dev/shm")) {
            Some(TMPFS_MAGIC) => tempfile::Builder::new()
                .prefix("vault-test-rt.")
                .tempdir_in("/dev/shm")
                .map_err(|e| format!("creating a directory in /dev/shm: {e}")),
            _ => Err("/dev/shm is not a tmpfs".to_string()),
        };
        let dir = require(Works("a tmpfs at /dev/shm", made))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        Some(RuntimeDir(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// vault's per-user parent in it.
    fn parent(&self) -> PathBuf {
        self.path().join("vault-nextflow")
    }

    /// The entries of the per-user parent.
    fn runs(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.parent())
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// A sandbox whose vault holds `TOKEN` ([`TOKEN`]) and `OTHER`.
fn token_and_other() -> Sandbox {
    with_secrets(&[
        ("OTHER", b"other-secret-value"),
        ("TOKEN", TOKEN.as_bytes()),
    ])
}

/// `vault --passphrase-stdin exec --nextflow FLAGS -- CMD...` with the
/// stand-in first in `PATH` and `XDG_RUNTIME_DIR` at `rt`.
fn nf_cmd(s: &Sandbox, rt: &Path, flags: &[&str], cmd: &[&str]) -> Cmd {
    let path = format!(
        "{}:{}",
        standin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    s.with_pass(PASS, b"", &["exec", "--nextflow"])
        .env("PATH", path)
        .env("XDG_RUNTIME_DIR", rt)
        .args(flags)
        .arg("--")
        .args(cmd)
}

/// `nextflow STEPS...` (the stand-in) under `vault exec --nextflow FLAGS`.
fn nextflow(s: &Sandbox, rt: &Path, flags: &[&str], steps: &[&str]) -> Cmd {
    let mut cmd = vec!["nextflow"];
    cmd.extend_from_slice(steps);
    nf_cmd(s, rt, flags, &cmd)
}

/// The stand-in's output: each JSON line's one key and its value.
fn steps(out: &[u8]) -> BTreeMap<String, Value> {
    text(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.as_object().cloned())
        .flat_map(|o| o.into_iter())
        .collect()
}

/// The store's path and directory as the stand-in saw them.
fn store_dir(out: &[u8]) -> PathBuf {
    let s = steps(out);
    PathBuf::from(s["where"]["dir"].as_str().expect("a `where` step"))
}

/// A task script printing the given variables as JSON (`null` if unset).
fn print_vars(names: &[&str]) -> String {
    format!(
        "python3 -c 'import os, json, sys; print(json.dumps({{\"task\": {{k: os.environ.get(k) for k in sys.argv[1:]}}}}))' {}",
        names.join(" ")
    )
}

/// Values Nextflow's directive carries: `$`, quotes of the other kind,
/// `#`, `!`, `=`, tabs, CR, Unicode.
const ODD: &str = "tok $HOME $(id) ${X} 'q' #!= \t\r été ☃";

#[test]
fn values_arrive_exactly_and_a_task_gets_only_the_secrets_it_names() {
    let Some(rt) = RuntimeDir::new() else { return };
    let s = with_secrets(&[
        ("ODD", ODD.as_bytes()),
        ("OTHER", b"other-secret-value"),
        ("TOKEN", TOKEN.as_bytes()),
    ]);
    let out = nextflow(
        &s,
        rt.path(),
        &[],
        &[
            "print",
            "ODD,OTHER,TOKEN",
            "list",
            "task",
            "ODD,TOKEN",
            &print_vars(&["ODD", "OTHER", "TOKEN"]),
        ],
    )
    .run()
    .success();
    let got = steps(&out.stdout);
    assert_eq!(
        got["print"],
        serde_json::json!({"ODD": ODD, "OTHER": "other-secret-value", "TOKEN": TOKEN}),
        "secrets.NAME:{out:?}"
    );
    assert_eq!(
        got["list"],
        serde_json::json!(["ODD", "OTHER", "TOKEN"]),
        "{out:?}"
    );
    assert_eq!(
        got["task"],
        serde_json::json!({"ODD": ODD, "OTHER": null, "TOKEN": TOKEN}),
        "secret 'NAME':{out:?}"
    );
    // The command's own status is vault's.
    let out = nf_cmd(&s, rt.path(), &[], &["sh", "-c", "exit 42"]).run();
    assert_status(&out, 42, "exec --nextflow -- sh -c 'exit 42'");
}

#[test]
fn the_environment_holds_no_secret_and_points_at_the_store_in_a_private_ram_dir() {
    let Some(rt) = RuntimeDir::new() else { return };
    let s = token_and_other();
    let out = nextflow(&s, rt.path(), &[], &["where", "env"])
        .env("GH_TOKEN", "vault:TOKEN")
        .env("VAULT_PASSPHRASE_FILE", "/nonexistent")
        .run()
        .success()
        .stderr_has("$GH_TOKEN is passed on unchanged as vault:TOKEN");
    let got = steps(&out.stdout);
    let env = got["env"].as_object().expect("an env step");
    for (k, v) in env {
        let v = v.as_str().unwrap();
        assert!(
            !v.contains(TOKEN) && !v.contains("other-secret-value"),
            "${k} holds a secret:{out:?}"
        );
    }
    for k in ["TOKEN", "OTHER", "VAULT_PASSPHRASE_FILE"] {
        assert!(!env.contains_key(k), "${k} is set:{out:?}");
    }
    assert_eq!(env["GH_TOKEN"], "vault:TOKEN", "not resolved:{out:?}");
    // The store's directory: a run directory of the per-user parent, 0700.
    let store = PathBuf::from(env["NXF_SECRETS_FILE"].as_str().unwrap());
    let dir = store_dir(&out.stdout);
    assert_eq!(store.parent(), Some(dir.as_path()));
    assert_eq!(dir.parent(), Some(rt.parent().as_path()), "{out:?}");
    assert!(dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("run-"));
    assert_eq!(got["where"]["dir_mode"], "0700", "{out:?}");
    // After the run: the parent (ours, 0700) is left, empty.
    assert_eq!(mode(&rt.parent()), 0o700);
    assert!(!dir.exists(), "{} is left", dir.display());
    assert_eq!(rt.runs(), Vec::<String>::new());
}

#[test]
fn nothing_is_written_on_disk_and_the_directive_file_goes_with_the_private_dir() {
    let Some(rt) = RuntimeDir::new() else { return };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let before = s.snapshot();
    let out = nextflow(
        &s,
        rt.path(),
        &[],
        &[
            "where",
            "task",
            "TOKEN",
            "ls -A \"$(dirname \"$NXF_SECRETS_FILE\")\"",
        ],
    )
    .run()
    .success();
    // HOME (the vault's directory, ~/.nextflow), TMPDIR and the working
    // directory are all under the sandbox root.
    assert_eq!(s.snapshot(), before, "files changed on disk:{out:?}");
    let listing: Vec<String> = text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('{'))
        .map(String::from)
        .collect();
    assert_eq!(listing.len(), 2, "{out:?}");
    assert!(listing[0].starts_with(".nf-") && listing[0].ends_with(".secrets"));
    assert_eq!(listing[1], "store.json");
    assert!(!store_dir(&out.stdout).exists());
    assert_eq!(rt.runs(), Vec::<String>::new());
}

#[test]
fn only_limits_what_nextflow_sees() {
    let Some(rt) = RuntimeDir::new() else { return };
    let s = token_and_other();
    let out = nextflow(
        &s,
        rt.path(),
        &["--only", "TOKEN"],
        &["list", "print", "OTHER,TOKEN"],
    )
    .run()
    .success();
    let got = steps(&out.stdout);
    assert_eq!(got["list"], serde_json::json!(["TOKEN"]), "{out:?}");
    assert_eq!(
        got["print"],
        serde_json::json!({"OTHER": null, "TOKEN": TOKEN})
    );
    nextflow(&s, rt.path(), &["--only", "NOPE"], &["list"])
        .run()
        .code(5)
        .stderr_has("no secret named NOPE");
    assert_eq!(rt.runs(), Vec::<String>::new());
}

#[test]
fn values_the_directive_cannot_carry_are_refused_naming_the_secret_never_the_value() {
    let Some(rt) = RuntimeDir::new() else { return };
    for (value, why) in [
        (&b"pa\"ss-9Qz7"[..], "double quote"),
        (b"`touch pwned-9Qz7`", "backtick"),
        (b"pa\\ss-9Qz7", "backslash"),
        (b"line-9Qz7\nline-two", "newline"),
        (b"pa\0ss-9Qz7", "NUL byte"),
        (b"pa\xffss-9Qz7", "not UTF-8"),
    ] {
        let s = with_secrets(&[("BAD", value), ("GOOD", b"good-value")]);
        let out = nf_cmd(&s, rt.path(), &[], &["sh", "-c", "touch ran"])
            .run()
            .code(1)
            .stderr_has("the value of secret BAD ")
            .stderr_has(why)
            .stderr_has("--only");
        assert!(!out.stderr.contains("9Qz7"), "the value is shown:{out:?}");
        assert!(!s.root().join("ran").exists(), "the command ran:{out:?}");
        // No private directory is made for a refused plan.
        assert_eq!(rt.runs(), Vec::<String>::new(), "{why}");
        // --only narrows what is handed over.
        let out = nextflow(&s, rt.path(), &["--only", "GOOD"], &["print", "GOOD"])
            .run()
            .success();
        assert_eq!(steps(&out.stdout)["print"]["GOOD"], "good-value");
    }
    // A value holding `TOKEN=` would reach every task asking for TOKEN.
    let s = with_secrets(&[
        ("DSN", b"host=db TOKEN=x-9Qz7"),
        ("TOKEN", TOKEN.as_bytes()),
    ]);
    let out = nextflow(&s, rt.path(), &[], &["list"])
        .run()
        .code(1)
        .stderr_has("the value of secret DSN contains `TOKEN=`")
        .stderr_has("every task asking for secret TOKEN");
    assert!(!out.stderr.contains("9Qz7"), "{out:?}");
}

/// The directive exports a task's secrets into its environment, where one
/// `NAME=value` over 128 KiB (with its NUL: Linux's MAX_ARG_STRLEN) makes
/// every program the task starts fail with "Argument list too long".
#[test]
fn a_value_too_big_for_one_environment_variable_is_refused_and_only_leaves_it_out() {
    let Some(rt) = RuntimeDir::new() else { return };
    let big = "9Qz7".repeat(50 * 1024);
    let s = with_secrets(&[("BIG", big.as_bytes()), ("GOOD", b"good-value")]);
    let out = nf_cmd(&s, rt.path(), &[], &["sh", "-c", "touch ran"])
        .run()
        .code(1)
        .stderr_has(&format!(
            "the value of secret BIG is {} bytes, over the 128 KiB the OS allows for one environment variable",
            big.len()
        ))
        .stderr_has("`secret` directive")
        .stderr_has("--only");
    assert!(!out.stderr.contains("9Qz7"), "the value is shown");
    assert!(!s.root().join("ran").exists(), "the command ran");
    assert_eq!(rt.runs(), Vec::<String>::new());
    // --only narrows what is handed over: the rest reaches a task.
    let out = nextflow(
        &s,
        rt.path(),
        &["--only", "GOOD"],
        &["task", "GOOD", &print_vars(&["BIG", "GOOD"])],
    )
    .run()
    .success();
    assert_eq!(
        steps(&out.stdout)["task"],
        serde_json::json!({"BIG": null, "GOOD": "good-value"}),
        "{out:?}"
    );
}

/// Nextflow escapes `$` as `\$`; bash in a Big5, GBK, GB18030 or
/// Shift-JIS locale reads a byte over 0x7F and the `\` after it as one
/// character, so the `$` is live again: `中$(cmd)` (`中` ends in 0xAD, a
/// Big5 lead byte) runs `cmd` in every task sourcing the directive's file.
#[test]
fn a_dollar_right_after_a_non_ascii_character_is_refused() {
    let Some(rt) = RuntimeDir::new() else { return };
    for value in ["中$(touch pwned-9Qz7)", "é$HOME-9Qz7", "ends in 中$"] {
        let s = with_secrets(&[("CJK", value.as_bytes()), ("GOOD", b"good-value")]);
        let out = nf_cmd(&s, rt.path(), &[], &["sh", "-c", "touch ran"])
            .run()
            .code(1)
            .stderr_has("the value of secret CJK ")
            .stderr_has("`$` right after a non-ASCII character");
        assert!(!out.stderr.contains("9Qz7"), "the value is shown:{out:?}");
        assert!(!s.root().join("ran").exists(), "the command ran:{out:?}");
        assert_eq!(rt.runs(), Vec::<String>::new());
    }
    // Unicode elsewhere, and `$` after ASCII, are fine.
    let s = with_secrets(&[("CJK", "中 $HOME été☃".as_bytes())]);
    let out = nextflow(&s, rt.path(), &[], &["print", "CJK"])
        .run()
        .success();
    assert_eq!(steps(&out.stdout)["print"]["CJK"], "中 $HOME été☃");
}

#[test]
fn nextflow_conflicts_with_file_as_a_usage_error() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let t = s.file("t.tmpl", b"${secrets.TOKEN}");
    let out = s
        .with_pass(PASS, b"", &["exec", "--nextflow", "--file"])
        .arg(format!("F={}", t.display()))
        .args(["--", "true"])
        .run()
        .code(2)
        .stderr_has("cannot be used with");
    assert!(!out.stderr.contains(TOKEN));
}

#[test]
fn mask_hides_the_store_values_in_nextflows_output() {
    let Some(rt) = RuntimeDir::new() else { return };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let out = nextflow(&s, rt.path(), &["--mask"], &["print", "TOKEN"])
        .run()
        .success();
    assert_eq!(text(&out.stdout), "{\"print\": {\"TOKEN\": \"***\"}}\n");
    assert_eq!(rt.runs(), Vec::<String>::new());
}

/// Waits until process `pid` has exited (gone, or a zombie: its
/// descriptors, and so its locks, are released either way).
fn wait_exited(pid: u32) {
    let deadline = Instant::now() + LIVE_TIMEOUT;
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command name in parentheses.
        let exited = state
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'));
        if exited {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} is still running");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts the stand-in waiting under vault; returns the run, the stand-in's
/// pid and the store's directory.
fn waiting(s: &Sandbox, rt: &RuntimeDir) -> (Running, u32, PathBuf) {
    let mut run = nextflow(s, rt.path(), &[], &["where", "wait"]).spawn();
    assert!(
        run.wait_stdout(b"\"ready\"", LIVE_TIMEOUT),
        "the stand-in is not ready: {:?}",
        run.stdout_so_far()
    );
    let so_far = run.stdout_so_far();
    let got = steps(so_far.as_bytes());
    let pid = got["ready"].as_u64().expect("a pid") as u32;
    (run, pid, store_dir(so_far.as_bytes()))
}

#[test]
fn the_private_dir_is_removed_when_the_command_dies_of_a_signal() {
    let Some(rt) = RuntimeDir::new() else { return };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    // The command is killed: vault dies of the same signal, after cleaning up.
    let (run, pid, dir) = waiting(&s, &rt);
    assert!(dir.is_dir());
    send_signal(pid, libc::SIGKILL);
    let out = run.finish();
    assert_eq!(out.signal, Some(libc::SIGKILL), "{out:?}");
    assert!(!dir.exists(), "{} is left", dir.display());
    // SIGTERM to vault reaches the command (Python dies of it).
    let (run, _, dir) = waiting(&s, &rt);
    run.signal(libc::SIGTERM);
    let out = run.finish();
    assert_eq!(out.signal, Some(libc::SIGTERM), "{out:?}");
    assert!(!dir.exists(), "{} is left", dir.display());
    assert_eq!(rt.runs(), Vec::<String>::new());
}

/// Signals whose default action ends a process, sent to vault with
/// `kill`: vault passes them on and cleans up, as for SIGTERM, instead of
/// dying at once and leaving the directory to a later run.
#[test]
fn other_terminating_signals_to_vault_reach_the_command_and_the_dir_is_removed() {
    let Some(rt) = RuntimeDir::new() else { return };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    // Those that dump core (SIGXCPU, SIGXFSZ, SIGSYS, SIGABRT, SIGTRAP) are
    // forwarded alike; they are left out here so the stand-in leaves no core.
    let rt_signals = [libc::SIGRTMIN(), libc::SIGRTMAX()];
    let signals = [
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
        libc::SIGPWR,
        libc::SIGSTKFLT,
    ];
    for sig in signals.into_iter().chain(rt_signals) {
        let (run, pid, dir) = waiting(&s, &rt);
        run.signal(sig);
        let out = run.finish();
        let left = dir.exists();
        // Before the fix the command was left running: end it if it is.
        // SAFETY: kill with a pid and a valid signal; it may be gone.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        wait_exited(pid);
        assert_eq!(out.signal, Some(sig), "{out:?}");
        assert!(!left, "signal {sig}: {} is left", dir.display());
    }
    nextflow(&s, rt.path(), &[], &["list"]).run().success();
    assert_eq!(rt.runs(), Vec::<String>::new());
}

/// The run directory is made once the vault is open and the plan made:
/// while vault asks for the passphrase (or derives the key) there is none,
/// so Ctrl-C or a signal then leaves nothing behind; nor does a wrong
/// passphrase.
#[test]
fn no_run_dir_exists_before_the_unlock_so_ctrl_c_at_the_prompt_leaves_none() {
    use std::io::Write;
    let Some(rt) = RuntimeDir::new() else { return };
    let Some((mut master, slave_path)) = require(Pty) else {
        return;
    };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let screen = crate::passphrase::Screen::new(&master);
    let vault = s
        .vault_cmd()
        .args(["exec", "--nextflow", "--", "true"])
        .env("XDG_RUNTIME_DIR", rt.path())
        .on_terminal(&slave_path)
        .spawn();
    assert!(
        screen.wait("Passphrase for", 1),
        "no prompt: {:?}",
        screen.text()
    );
    let during = rt.runs();
    // Ctrl-C typed at the prompt.
    master.write_all(b"\x03").unwrap();
    let out = vault.finish();
    drop(master);
    assert_eq!(during, Vec::<String>::new(), "made before the unlock");
    assert_eq!(out.signal, Some(libc::SIGINT), "{out:?}");
    assert_eq!(rt.runs(), Vec::<String>::new(), "left by Ctrl-C");
    // A wrong passphrase: exit 3, nothing left.
    s.with_pass("not the passphrase", b"", &["exec", "--nextflow"])
        .env("XDG_RUNTIME_DIR", rt.path())
        .args(["--", "true"])
        .run()
        .code(3);
    assert_eq!(
        rt.runs(),
        Vec::<String>::new(),
        "left by a wrong passphrase"
    );
}

/// The place is still checked before the unlock: an unusable per-user
/// parent is refused (exit 1) where an unlock would fail (no passphrase:
/// exit 3). (`without_a_ram_backed_filesystem_it_is_refused_before_unlocking`
/// does the same for a missing tmpfs, as root.)
#[test]
fn an_unusable_parent_is_refused_before_unlocking() {
    let Some(rt) = RuntimeDir::new() else { return };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    std::fs::write(rt.parent(), b"").unwrap();
    s.vault_cmd()
        .args(["exec", "--nextflow", "--", "true"])
        .env("XDG_RUNTIME_DIR", rt.path())
        .run()
        .code(1)
        .stderr_has("is not a directory");
}

/// Kills process `pid`, which holds `dir`; once it has exited, the next
/// run removes `dir`, and leaves nothing behind.
fn next_run_removes_once_gone(s: &Sandbox, rt: &RuntimeDir, pid: u32, dir: &Path) {
    send_signal(pid, libc::SIGKILL);
    wait_exited(pid);
    nextflow(s, rt.path(), &[], &["list"]).run().success();
    assert!(
        !dir.exists(),
        "{} is left after the next run",
        dir.display()
    );
    assert_eq!(rt.runs(), Vec::<String>::new());
}

#[test]
fn a_dir_left_by_a_killed_vault_stays_while_its_command_runs_and_the_next_run_removes_it() {
    let Some(rt) = RuntimeDir::new() else { return };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let (mut run, pid, dir) = waiting(&s, &rt);
    run.kill();
    // vault is gone; the command it started still holds the directory.
    let out = nextflow(&s, rt.path(), &[], &["where"]).run().success();
    let second = store_dir(&out.stdout);
    assert_ne!(second, dir);
    assert!(!second.exists(), "the second run's directory is left");
    assert!(dir.is_dir(), "a running command's directory was removed");
    assert_eq!(
        rt.runs().len(),
        1,
        "only the running command's directory is left"
    );
    // Once the command is gone too, the next run removes what was left.
    next_run_removes_once_gone(&s, &rt, pid, &dir);
    let out = run.finish();
    assert_eq!(out.signal, Some(libc::SIGKILL), "{out:?}");
}

#[test]
fn a_process_the_command_leaves_behind_keeps_the_dir_until_it_ends() {
    let Some(rt) = RuntimeDir::new() else { return };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    // As `nextflow run -bg` does: a process that outlives the command.
    let script = "echo \"$NXF_SECRETS_FILE\"; sleep 60 </dev/null >/dev/null 2>&1 & echo $!";
    let out = nf_cmd(&s, rt.path(), &[], &["sh", "-c", script])
        .run()
        .success()
        .stderr_has("in place: a process the command started still holds it");
    let lines = out.stdout_lines();
    let dir = Path::new(&lines[0]).parent().unwrap().to_path_buf();
    let pid: u32 = lines[1].parse().unwrap();
    assert!(dir.is_dir(), "removed under a running process:{out:?}");
    next_run_removes_once_gone(&s, &rt, pid, &dir);
}

/// A directory on disk (not tmpfs or ramfs) for the test, or `None`.
fn disk_dir(s: &Sandbox) -> Option<PathBuf> {
    let on_disk = |p: &Path| !matches!(f_type(p), Some(TMPFS_MAGIC | 0x8584_58f6) | None);
    let found = [
        s.root().to_path_buf(),
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    ]
    .into_iter()
    .find(|p| on_disk(p))
    .ok_or_else(|| "the sandbox and the target directory are both in RAM".to_string());
    let base = require(Works("a directory on disk", found))?;
    let dir = tempfile::Builder::new()
        .prefix("vault-test-disk.")
        .tempdir_in(base)
        .unwrap()
        .keep();
    Some(dir)
}

#[test]
fn xdg_runtime_dir_on_disk_is_never_used_and_dev_shm_is() {
    let Some(_rt) = RuntimeDir::new() else { return };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let Some(disk) = disk_dir(&s) else { return };
    let out = nextflow(&s, &disk, &[], &["where", "task", "TOKEN", "true"])
        .run()
        .success();
    let dir = store_dir(&out.stdout);
    // SAFETY: geteuid has no arguments and cannot fail.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        dir.parent().unwrap(),
        Path::new(&format!("/dev/shm/vault-nextflow-{uid}")),
        "{out:?}"
    );
    assert!(!dir.exists());
    assert_eq!(
        std::fs::read_dir(&disk).unwrap().count(),
        0,
        "written to the disk directory"
    );
    let _ = std::fs::remove_dir_all(&disk);
}

/// An `XDG_RUNTIME_DIR` that others can write to (the XDG spec wants it
/// the user's own, 0700; `sudo -E` or `su` keep another user's) would let
/// them swap the per-user parent or a run directory between vault's checks
/// and its writes by path, and have Nextflow write the directive's file
/// into a directory of theirs. vault uses `/dev/shm` instead.
#[test]
fn an_xdg_runtime_dir_others_can_write_to_is_never_used() {
    use std::os::unix::fs::PermissionsExt;
    let Some(rt) = RuntimeDir::new() else { return };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    // SAFETY: geteuid has no arguments and cannot fail.
    let uid = unsafe { libc::geteuid() };
    for mode in [0o777, 0o1777, 0o770] {
        std::fs::set_permissions(rt.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        let out = nextflow(&s, rt.path(), &[], &["where"]).run().success();
        let dir = store_dir(&out.stdout);
        assert_eq!(
            dir.parent().unwrap(),
            Path::new(&format!("/dev/shm/vault-nextflow-{uid}")),
            "mode {mode:o}:{out:?}"
        );
        assert!(
            !rt.parent().exists(),
            "mode {mode:o}: used {}",
            rt.parent().display()
        );
    }
    std::fs::set_permissions(rt.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = nextflow(&s, rt.path(), &[], &["where"]).run().success();
    assert_eq!(store_dir(&out.stdout).parent().unwrap(), rt.parent());
}

/// A per-user parent another user made first (in `/dev/shm`, anyone can):
/// refused, and the message says what the user can do, since they cannot
/// remove it themselves.
#[test]
fn a_parent_another_user_owns_is_refused_saying_what_to_do() {
    use std::os::unix::fs::PermissionsExt;
    let Some(rt) = RuntimeDir::new() else { return };
    if require(Root).is_none() {
        return;
    }
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let parent = rt.parent();
    std::fs::create_dir(&parent).unwrap();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&parent, Some(4242), None).unwrap();
    let out = nextflow(&s, rt.path(), &[], &["list"])
        .run()
        .code(1)
        .stderr_has("belongs to another user (uid 4242)")
        .stderr_has("ask an administrator to remove it")
        .stderr_has("set XDG_RUNTIME_DIR");
    assert!(!out.stderr.contains("; remove it"), "{out:?}");
    assert_eq!(rt.runs(), Vec::<String>::new());
}

#[test]
fn without_a_ram_backed_filesystem_it_is_refused_before_unlocking() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let Some(disk) = disk_dir(&s) else { return };
    if require(Root).is_none() || require(Program("unshare")).is_none() {
        return;
    }
    // /dev/shm replaced by a directory on disk, in a mount namespace of its own.
    let shm = disk.join("shm");
    std::fs::create_dir(&shm).unwrap();
    let tried = s
        .program("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /dev/shm && exec \"$@\"")
        .arg(&shm)
        .args(["stat", "-f", "-c", "%T", "/dev/shm"])
        .run();
    let works = match (tried.code, text(&tried.stdout).trim()) {
        (Some(0), t) if t != "tmpfs" => Ok(()),
        _ => Err(format!("unshare --mount failed:{tried:?}")),
    };
    if require(Works("a private mount namespace", works)).is_none() {
        return;
    }
    let out = s
        .program("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /dev/shm && exec \"$@\"")
        .arg(&shm)
        .arg(VAULT)
        .arg("--vault")
        .arg(&s.vault)
        // No passphrase: an unlock would fail with exit 3.
        .args(["exec", "--nextflow", "--", "true"])
        .env("XDG_RUNTIME_DIR", &disk)
        .run()
        .code(1)
        .stderr_has("no RAM-backed filesystem")
        .stderr_has("is not on tmpfs")
        .stderr_has("/dev/shm is not a tmpfs")
        .stderr_has("never puts it on a disk");
    assert_eq!(
        std::fs::read_dir(&disk).unwrap().count(),
        1,
        "only shm/:{out:?}"
    );
    assert_eq!(std::fs::read_dir(&shm).unwrap().count(), 0, "{out:?}");
    let _ = std::fs::remove_dir_all(&disk);
}

/// The stand-in itself, without vault: it refuses a store whose
/// permissions through links are not exactly 0600, reads one by a link or
/// a `/dev/fd/N` path, cannot write the directive's file beside a
/// `/dev/fd/N` store, and its directive hands a task every line holding
/// `NAME=` (why vault refuses such values).
#[test]
fn the_standin_checks_what_nextflow_checks() {
    let Some(_) = require(Program("python3")) else {
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::new();
    let standin = standin_dir().join("nextflow");
    let dir = s.root().join("store");
    std::fs::create_dir(&dir).unwrap();
    let store = dir.join("store.json");
    std::fs::write(
        &store,
        br#"[{"name":"DSN","value":"host=db TOKEN=x"},{"name":"TOKEN","value":"t"}]"#,
    )
    .unwrap();
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&store, &link).unwrap();
    let run = |path: &Path, steps: &[&str]| {
        s.program(&standin)
            .env("NXF_SECRETS_FILE", path)
            .args(steps)
            .run()
    };
    for m in [0o644, 0o640, 0o700, 0o400] {
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(m)).unwrap();
        for p in [&store, &link] {
            run(p, &["list"])
                .code(1)
                .stderr_has("Invalid permissions for secret store file");
        }
    }
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(
        &link,
        &["list", "task", "TOKEN", &print_vars(&["DSN", "TOKEN"])],
    )
    .success();
    let got = steps(&out.stdout);
    assert_eq!(got["list"], serde_json::json!(["DSN", "TOKEN"]));
    assert_eq!(
        got["task"],
        serde_json::json!({"DSN": "host=db TOKEN=x", "TOKEN": "t"}),
        "grep -w picks DSN's line for TOKEN"
    );
    // A /dev/fd/N store (here standard input) reads, but the directive
    // cannot write beside it.
    let open = || std::fs::File::open(&store).unwrap();
    let out = s
        .program(&standin)
        .env("NXF_SECRETS_FILE", "/dev/fd/0")
        .stdin_file(open())
        .args(["print", "TOKEN"])
        .run()
        .success();
    assert_eq!(steps(&out.stdout)["print"]["TOKEN"], "t");
    s.program(&standin)
        .env("NXF_SECRETS_FILE", "/dev/fd/0")
        .stdin_file(open())
        .args(["task", "TOKEN", "true"])
        .run()
        .code(1)
        .stderr_has("/dev/fd/.nf-");
}
