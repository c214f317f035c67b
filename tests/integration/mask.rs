//! `vault exec --mask`: the child's output with every injected value
//! replaced by `***` (split writes, both streams, order, live output, short
//! values, CRLF, overlapping values, a value split between stdout and
//! stderr when both go to one file), and signals passed on to the masked
//! child (but a terminal's Ctrl-C not twice).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::exec::{assert_status, exec, pass_file, sh, text, with_secrets, TOKEN};
use crate::harness::*;

#[test]
fn mask_catches_a_value_written_in_two_pieces() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let (a, b) = TOKEN.split_at(9);
    let out = sh(
        &s,
        &["--mask"],
        &format!("printf 'A:{a}'; sleep 0.3; printf '{b}:B\\n'"),
    );
    assert_status(&out, 0, "exec --mask");
    assert_eq!(text(&out.stdout), "A:***:B\n");
}

#[test]
fn mask_on_stderr_and_streams_stay_apart() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let out = sh(
        &s,
        &["--mask"],
        "printf 'err %s\\n' \"$TOKEN\" >&2; printf 'out %s\\n' \"$TOKEN\"; echo plain-err >&2",
    );
    assert_status(&out, 0, "exec --mask");
    assert_eq!(text(&out.stdout), "out ***\n");
    assert_eq!(out.stderr.clone(), "err ***\nplain-err\n");
}

#[test]
fn mask_keeps_order_within_each_stream() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("OTHER", b"other-value-5")]);
    let script = r#"
        i=1
        while [ $i -le 100 ]; do
            printf 'line %d %s\n' $i "$TOKEN"
            printf 'err %d %s%s\n' $i "$OTHER" "$TOKEN" >&2
            [ $((i % 10)) -eq 0 ] && printf 'x%sy\n' "$OTHER"
            i=$((i + 1))
        done
    "#;
    let out = sh(&s, &["--mask"], script);
    assert_status(&out, 0, "exec --mask");
    let mut want_out = String::new();
    let mut want_err = String::new();
    for i in 1..=100 {
        want_out.push_str(&format!("line {i} ***\n"));
        // Two values back to back are one run: one `***`.
        want_err.push_str(&format!("err {i} ***\n"));
        if i % 10 == 0 {
            want_out.push_str("x***y\n");
        }
    }
    assert_eq!(text(&out.stdout), want_out);
    assert_eq!(out.stderr.clone(), want_err);
}

#[test]
fn mask_hides_every_byte_of_overlapping_values() {
    // The second value starts with the end of the first: printed together,
    // no tail of either may show.
    let s = with_secrets(&[
        ("AUTH", b"auth=K7fPq2Zq9"),
        ("TAIL", b"Zq9XK2pLmNvR4sT"),
        ("INNER", b"fPq2Zq9XK2"),
    ]);
    let out = sh(
        &s,
        &["--mask"],
        "printf '%s%s\\n' \"$AUTH\" XK2pLmNvR4sT; printf '[%s] [%s] [%s]\\n' \"$AUTH\" \"$TAIL\" \"$INNER\"; \
         printf 'auth=K7'; sleep 0.3; printf 'fPq2Zq9XK2pL'; sleep 0.3; printf 'mNvR4sT.\\n'",
    );
    assert_status(&out, 0, "exec --mask");
    assert_eq!(text(&out.stdout), "***\n[***] [***] [***]\n***.\n");
}

/// Runs `script` under `vault exec --mask` with vault's stdout and stderr
/// made one: the harness's stdout pipe (`2>&1` into a pipe), or with
/// `file`, that file for both (`>log 2>&1`). Returns the run and what
/// the one destination received.
fn masked_into_one_destination(s: &Sandbox, script: &str, file: Option<&Path>) -> (Out, String) {
    let pass_file = pass_file(s);
    let cmd = s
        .vault_cmd()
        .env("VAULT_PASSPHRASE_FILE", &pass_file)
        .args(["exec", "--mask", "--", "sh", "-c", script]);
    let log = file.map(|p| std::fs::File::create(p).unwrap());
    let log_fd = log.as_ref().map(|f| f.as_raw_fd());
    // SAFETY: only dup2 (async-signal-safe) between fork and exec, on
    // descriptors open in the parent until spawn returns.
    let cmd = unsafe {
        cmd.pre_exec(move || {
            let ok = match log_fd {
                Some(fd) => libc::dup2(fd, 1) != -1 && libc::dup2(fd, 2) != -1,
                None => libc::dup2(1, 2) != -1,
            };
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    let out = cmd.run();
    drop(log);
    let got = match file {
        Some(p) => text(&std::fs::read(p).unwrap()),
        None => text(&out.stdout),
    };
    (out, got)
}

#[test]
fn mask_catches_a_value_split_between_stdout_and_stderr_sent_to_one_file() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let (a, b) = TOKEN.split_at(9);
    // Half the value on stdout, the rest on stderr, then lines on each: in
    // one log the order must be kept and the value must not show.
    let script = format!(
        "printf 'A:{a}'; sleep 0.2; printf '{b}:B\\n' >&2; echo err-line >&2; echo out-line; \
         printf '{b}' >&2; echo"
    );
    let want = format!("A:***:B\nerr-line\nout-line\n{b}\n");
    let (out, got) = masked_into_one_destination(&s, &script, None);
    assert_status(&out, 0, "exec --mask 2>&1 into a pipe");
    assert_eq!(got, want, "2>&1 into a pipe");
    let log = s.root().join("ci.log");
    let (out, got) = masked_into_one_destination(&s, &script, Some(&log));
    assert_status(&out, 0, "exec --mask >log 2>&1");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    assert_eq!(got, want, ">log 2>&1");
}

#[test]
fn mask_output_is_live() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let (a, b) = TOKEN.split_at(9);
    // A line, then the start of a secret: everything before the secret's
    // start must be passed on at once; the child then sleeps 2 s.
    let script = format!("echo first line; printf 'A:{a}'; sleep 2; printf '{b}:B\\n'");
    let mut run = exec(&s, &["--mask"], &["sh", "-c", &script]).spawn();
    let arrived = run.wait_stdout(b"first line\nA:", LIVE_TIMEOUT);
    let t_arrived = Instant::now();
    let running = run.is_running();
    let so_far = run.stdout_so_far();
    assert!(
        arrived,
        "no live output within {LIVE_TIMEOUT:?}: {so_far:?}"
    );
    assert_eq!(
        so_far, "first line\nA:",
        "only the possible secret start is held back"
    );
    assert!(running, "vault had already exited when the output arrived");
    let out = run.finish();
    let waited = t_arrived.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "the output arrived only {waited:?} before the child exited (it sleeps 2 s)"
    );
    assert_status(&out, 0, "exec --mask");
    assert_eq!(text(&out.stdout), "first line\nA:***:B\n");
}

#[test]
fn mask_short_values_are_not_masked_and_named_in_a_warning() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("SHORTV", b"ab7")]);
    let out = sh(
        &s,
        &["--mask"],
        "printf 'x%sy %s\\n' \"$SHORTV\" \"$TOKEN\"; echo 'cab7 ab7'",
    );
    assert_status(&out, 0, "exec --mask");
    assert_eq!(text(&out.stdout), "xab7y ***\ncab7 ab7\n");
    let err = out.stderr.clone();
    assert!(
        err.contains("warning") && err.contains("SHORTV"),
        "the warning names the short secret: {err}"
    );
    assert!(!err.contains("TOKEN"), "TOKEN is masked: {err}");
}

#[test]
fn mask_multiline_value_printed_with_crlf() {
    let key = "-----BEGIN TEST KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\nQ2hlbGxvV29ybGQxMjM0NTY3\nshort}\n-----END TEST KEY-----";
    let s = with_secrets(&[("KEY", key.as_bytes())]);
    // As stored (LF), then with CRLF line endings.
    let script = r#"printf '%s\n' "$KEY"; printf '%s\n' "$KEY" | sed 's/$/\r/'"#;
    let out = sh(&s, &["--mask"], script);
    assert_status(&out, 0, "exec --mask");
    let got = text(&out.stdout);
    assert!(!got.contains("MIIBOgIBAAJBAKj34GkxFhD9"), "{got:?}");
    assert!(!got.contains("Q2hlbGxvV29ybGQxMjM0NTY3"), "{got:?}");
    assert_eq!(
        got,
        "***\n-----BEGIN TEST KEY-----\r\n***\r\n***\r\nshort}\r\n-----END TEST KEY-----\r\n"
    );
}

/// Runs a child trapping `sig_name` under `vault exec --mask`, waits for it
/// to be ready, sends `sig` to vault and checks the child got it.
fn signal_reaches_masked_child(sig: libc::c_int, sig_name: &str, code: i32) {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let pass_file = pass_file(&s);
    let script = format!(
        "trap 'echo got-{sig_name} \"$TOKEN\"; exit {code}' {sig_name}; echo ready; \
         i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; echo no-signal; exit 99"
    );
    let mut run = s
        .vault_cmd()
        .env("VAULT_PASSPHRASE_FILE", &pass_file)
        .args(["exec", "--mask", "--", "sh", "-c", &script])
        .spawn();
    assert!(
        run.wait_stdout(b"ready\n", LIVE_TIMEOUT),
        "child not ready: {:?}",
        run.stdout_so_far()
    );
    run.signal(sig);
    assert!(
        run.wait_stdout(b"got-", LIVE_TIMEOUT),
        "SIG{sig_name} sent to vault did not reach the child within {LIVE_TIMEOUT:?}: {:?}",
        run.stdout_so_far()
    );
    let out = run.finish();
    assert_eq!(
        text(&out.stdout),
        format!("ready\ngot-{sig_name} ***\n"),
        "SIG{sig_name}:{out:?}"
    );
    assert_status(&out, code, &format!("SIG{sig_name}"));
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

/// Ctrl-C at a terminal reaches the whole foreground process group, the
/// child included: `vault --mask` must not forward that SIGINT a second time.
/// vault runs on a pseudo-terminal as its controlling terminal; `strace -p`
/// (attached once the child is ready) shows the SIGINT vault received from
/// the terminal and every kill(2) it makes.
#[test]
fn terminal_ctrl_c_is_not_forwarded_twice() {
    let Some(strace) = require(Program("strace")) else {
        return;
    };
    let Some((mut master, slave_path)) = require(Pty) else {
        return;
    };
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes())]);
    let pass_file = pass_file(&s);
    let script = "trap 'echo got-INT' INT; echo ready; \
                  i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done; echo no-signal";
    let cmd = s
        .vault_cmd()
        .env("VAULT_PASSPHRASE_FILE", &pass_file)
        .args(["exec", "--mask", "--", "sh", "-c", script])
        .on_terminal(&slave_path);
    let mut vault = cmd.spawn();
    assert!(
        vault.wait_stdout(b"ready\n", LIVE_TIMEOUT),
        "child not ready: {:?}",
        vault.stdout_so_far()
    );

    let log = s.tmp.join("strace-ctrl-c.log");
    let mut tracer = s
        .program(&strace)
        .args(["-f", "-e", "trace=kill,tgkill,tkill", "-o"])
        .arg(&log)
        .args(["-p", &vault.pid().to_string()])
        .spawn();
    if !tracer.wait_stderr(b"attached", LIVE_TIMEOUT) {
        tracer.kill();
        let why = format!("strace -p failed:{:?}", tracer.finish());
        require(Works(
            "strace attaching to a running vault",
            Err::<(), _>(why),
        ));
        return;
    }

    // Ctrl-C typed at the terminal.
    master.write_all(b"\x03").unwrap();
    let got = vault.wait_stdout(b"got-INT\n", LIVE_TIMEOUT);
    // Time for a (wrong) forwarded SIGINT to show up in the trace.
    std::thread::sleep(Duration::from_millis(500));
    vault.signal(libc::SIGTERM);
    let out = vault.finish();
    let st = tracer.finish();
    let trace = std::fs::read_to_string(&log).unwrap_or_default();
    drop(master);
    let all = text(&out.stdout);
    assert!(got, "the child did not get the terminal's SIGINT: {all:?}");
    assert!(
        trace.contains("--- SIGINT") && trace.contains("SI_KERNEL"),
        "vault did not receive the terminal's SIGINT (strace:{st:?}):\n{trace}"
    );
    assert!(
        !trace.contains("SIGINT)"),
        "vault forwarded the terminal's SIGINT to the child:\n{trace}"
    );
    assert!(
        trace.contains("SIGTERM)"),
        "the SIGTERM sent afterwards was not forwarded:\n{trace}"
    );
    assert_eq!(all, "ready\ngot-INT\n", "{out:?}");
    assert_eq!(out.signal, Some(libc::SIGTERM), "vault's status:{out:?}");
}
