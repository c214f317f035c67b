//! Templates: `render` (placeholders replaced verbatim,
//! errors located by line and column, nothing printed on error) and
//! `exec --file VAR=TEMPLATE` (an in-memory, sealed, read-only file).

use crate::exec::{assert_status, sh, text, with_secrets, TOKEN};
use crate::harness::*;

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

fn render_world() -> Sandbox {
    with_secrets(&[
        ("ALPHA", b"alpha-value"),
        ("ML", b"line one\nline two\n\nline four"),
        ("DOLLAR", b"p$ss$$w${x}rd$"),
        ("NESTED", b"${secrets.ALPHA} and $${secrets.ALPHA}"),
    ])
}

#[test]
fn render_replaces_placeholders_verbatim() {
    let s = render_world();
    s.file("t.tmpl", RENDER_TEMPLATE.as_bytes());
    let out = s.with_pass(PASS, b"", &["render", "t.tmpl"]).run();
    assert_status(&out, 0, "render t.tmpl");
    assert_eq!(text(&out.stdout), RENDER_EXPECTED);
}

#[test]
fn render_from_stdin_after_the_passphrase_line() {
    let s = render_world();
    for args in [&["render", "-"][..], &["render"][..]] {
        let out = s.with_pass(PASS, RENDER_TEMPLATE.as_bytes(), args).run();
        assert_status(&out, 0, &format!("{args:?} from stdin"));
        assert_eq!(text(&out.stdout), RENDER_EXPECTED);
    }
    // Errors on stdin are located too.
    let out = s
        .with_pass(
            PASS,
            b"a=${secrets.ALPHA}\n  ${secrets.NOPE}\n",
            &["render", "-"],
        )
        .run();
    assert_status(&out, 5, "render - with an unknown name");
    assert!(out.stderr.contains("2:3"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[test]
fn render_errors_give_the_position_and_print_nothing() {
    let s = render_world();
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
        s.file("t.tmpl", template.as_bytes());
        let out = s.with_pass(PASS, b"", &["render", "t.tmpl"]).run();
        assert_status(&out, code, &format!("render {template:?}"));
        let err = out.stderr.clone();
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

#[test]
fn file_is_in_memory_sealed_and_readable_twice() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("USER", b"db-user-name")]);
    s.file(
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
    let before = s.snapshot();
    for flags in [&[][..], &["--mask"][..]] {
        let mut all = vec!["--file", "CREDS=creds.tmpl"];
        all.extend_from_slice(flags);
        let out = sh(&s, &all, script);
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
            s.snapshot(),
            before,
            "exec {flags:?} --file created or removed files under HOME or TMPDIR"
        );
    }
}

#[test]
fn file_errors_run_nothing() {
    let s = with_secrets(&[("TOKEN", TOKEN.as_bytes()), ("USER", b"db-user-name")]);
    s.file(
        "unknown.tmpl",
        b"user=${secrets.USER}\npw = ${secrets.NOPE}\n",
    );
    s.file("bad.tmpl", b"user=${secrets.USER}\n\n  ${secrets.}\n");
    s.file("ok.tmpl", b"user=${secrets.USER}\npw=${secrets.TOKEN}\n");
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
    let before = s.snapshot();
    for (flags, code, needles) in cases {
        for mask in [&[][..], &["--mask"][..]] {
            let mut all = flags.to_vec();
            all.extend_from_slice(mask);
            let out = sh(&s, &all, "touch ran-marker; cat \"$CFG\"");
            assert_status(&out, code, &format!("exec {all:?}"));
            let err = out.stderr.clone();
            for n in needles {
                assert!(err.contains(n), "exec {all:?}: {n} not in: {err}");
            }
            assert!(!err.contains("db-user-name"), "{err}");
            assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
            assert!(
                !s.root().join("ran-marker").exists(),
                "exec {all:?}: it ran"
            );
        }
    }
    assert_eq!(s.snapshot(), before);
}

#[test]
fn template_rendering_past_64_mib_is_refused_at_the_placeholder_and_prints_nothing() {
    // A 16 MiB template repeating a 1 MiB value would render to 1.2 TB.
    let big = vec![b'B'; 1 << 20];
    let s = with_secrets(&[("BIG", &big)]);
    let placeholder = "${secrets.BIG}";
    let template = placeholder.repeat((16 << 20) / placeholder.len());
    s.file("amp.tmpl", template.as_bytes());
    // 64 values fit; the 65th placeholder is where the cap is passed.
    let at = format!("amp.tmpl:1:{}", 64 * placeholder.len() + 1);
    let check = |out: &Out, what: &str| {
        assert_status(out, 2, what);
        assert!(
            out.stderr.contains(&at),
            "{what}: {at} not in {}",
            out.stderr
        );
        assert!(out.stderr.contains("64 MiB"), "{what}: {}", out.stderr);
        assert!(!out.stderr.contains("BBBB"), "{what}: {}", out.stderr);
        assert!(
            out.stdout.is_empty(),
            "{what}: printed {} bytes",
            out.stdout.len()
        );
    };
    let out = s.with_pass(PASS, b"", &["render", "amp.tmpl"]).run();
    check(&out, "render amp.tmpl");
    for mask in [&[][..], &["--mask"][..]] {
        let mut flags = vec!["--file", "CFG=amp.tmpl"];
        flags.extend_from_slice(mask);
        let out = sh(&s, &flags, "touch ran-marker");
        check(&out, &format!("exec {flags:?}"));
        assert!(
            !s.root().join("ran-marker").exists(),
            "exec {flags:?}: it ran"
        );
    }
    // Just under the cap renders in full.
    s.file("ok.tmpl", placeholder.repeat(64).as_bytes());
    let out = s.with_pass(PASS, b"", &["render", "ok.tmpl"]).run();
    assert_status(&out, 0, "render ok.tmpl");
    assert_eq!(out.stdout.len(), 64 << 20);
}
