//! `vault import` and `vault export`: all-or-nothing imports, refusals,
//! `--dry-run`, Nextflow's store, and round trips through the real readers:
//! python-dotenv (interpolation off) and Node's `dotenv`
//! (tests/interop/, installed by scripts/deps.sh), bash `source` and `eval`,
//! JSON parsers.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use vault::interchange::dotenv::{self, Spelling};

use crate::exec::{assert_status, text, with_secrets};
use crate::harness::*;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// A python that can import python-dotenv: tests/interop/.venv's, else
/// `python3` if it has it.
fn python_dotenv() -> Option<PathBuf> {
    let venv = interop_dir().join(".venv/bin/python");
    let found = if venv.exists() {
        Ok(venv)
    } else {
        match Command::new("python3")
            .args(["-c", "import dotenv, sys; print(sys.executable)"])
            .output()
        {
            Ok(o) if o.status.success() => Ok(PathBuf::from(text(&o.stdout).trim())),
            _ => Err("neither tests/interop/.venv nor python3 can import dotenv".to_string()),
        }
    };
    require(Works(
        "python-dotenv (PyPI; scripts/deps.sh installs it)",
        found,
    ))
}

/// `node` with tests/interop/node_modules/dotenv.
fn node_dotenv() -> Option<PathBuf> {
    let found = match which("node") {
        None => Err("node is not in PATH".to_string()),
        Some(_)
            if !interop_dir()
                .join("node_modules/dotenv/package.json")
                .exists() =>
        {
            Err("tests/interop/node_modules/dotenv is missing (npm ci)".to_string())
        }
        Some(node) => Ok(node),
    };
    require(Works(
        "Node's dotenv (npm; scripts/deps.sh installs it)",
        found,
    ))
}

type Read = BTreeMap<String, Option<Vec<u8>>>;

/// What a reader script prints for each file: name → exact bytes.
fn run_reader(program: &Path, script: &str, files: &[PathBuf]) -> Vec<Read> {
    let out = Command::new(program)
        .arg(interop_dir().join(script))
        .args(files)
        .output()
        .expect("running an interop reader");
    assert!(out.status.success(), "{script}: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reader output");
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let bytes = v
                        .as_array()
                        .map(|a| a.iter().map(|b| b.as_u64().unwrap() as u8).collect());
                    (k.clone(), bytes)
                })
                .collect()
        })
        .collect()
}

/// The corpus: values that broke hand-written .env files and templates,
/// then random strings over the characters that matter to quoting.
fn nasty_values() -> Vec<Vec<u8>> {
    let fixed: &[&str] = &[
        "",
        "plain",
        "p@ss w0rd",
        " leading",
        "trailing ",
        "  both  ",
        "\ttab",
        "'single'",
        "\"double\"",
        "it's",
        "say \"hi\"",
        "both ' and \"",
        "`backtick`",
        "'\"`",
        "back\\slash",
        "C:\\new\\table",
        "\\\\",
        "\\n literal",
        "\\\"",
        "\\'",
        "a\\'b",
        "$HOME",
        "${X:-default}",
        "$(id)",
        "pa$word",
        "#hash",
        "a #b",
        "a#b",
        "x=y=z",
        "=",
        "line1\nline2",
        "\n",
        "trailing\n",
        "\r\n",
        "cr\rcr",
        "multi\nline 'single'",
        "multi\nline \"double\"",
        "multi\n'both'\n\"kinds\"",
        "héllo wörld ✓ 😀",
        "\u{a0}nbsp\u{a0}",
        "\u{2028}ls",
        "\u{feff}bom",
        "{\"json\": [1]}",
        "-----BEGIN KEY-----\nMIIBOgIBAAJB\n-----END KEY-----\n",
        "\x1b[31mred\x1b[0m",
        "del\x7f",
        "ends\\ x",
        "# ends\\",
    ];
    let mut v: Vec<Vec<u8>> = fixed.iter().map(|s| s.as_bytes().to_vec()).collect();
    let alphabet: &[&str] = &[
        "a", "Z", "0", " ", " ", "\t", "'", "\"", "`", "\\", "$", "{", "}", "#", "=", "\n", "\r",
        "é", "😀", "\u{a0}", "n", "r", "t", "-",
    ];
    let mut rng = Rng::new("import_export::nasty_values");
    for _ in 0..300 {
        let len = rng.below(10) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
            .collect();
        v.push(s.into_bytes());
    }
    v
}

fn name(i: usize) -> String {
    format!("V{i:03}")
}

/// A sandbox whose vault holds `values` as V000, V001, ... (one import of
/// a JSON object).
fn vault_with(values: &[Vec<u8>]) -> Sandbox {
    let s = Sandbox::new();
    s.init();
    let obj: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                name(i),
                serde_json::Value::String(String::from_utf8(v.clone()).unwrap()),
            )
        })
        .collect();
    let json = serde_json::to_vec(&obj).unwrap();
    s.with_pass(PASS, &json, &["import", "--format", "json", "-"])
        .run()
        .success();
    s
}

fn export(s: &Sandbox, args: &[&str]) -> Out {
    let mut a = vec!["export"];
    a.extend_from_slice(args);
    s.with_pass(PASS, b"", &a).run()
}

#[test]
fn export_dotenv_reads_back_in_python_dotenv_and_node() {
    let Some(python) = python_dotenv() else {
        return;
    };
    let Some(node) = node_dotenv() else { return };
    let values: Vec<Vec<u8>> = nasty_values()
        .into_iter()
        .filter(|v| dotenv::spelling(v).is_ok())
        .collect();
    let s = vault_with(&values);
    let out = export(&s, &["--format", "dotenv"]).success();
    let file = s.file("exported.env", &out.stdout);
    let py = run_reader(&python, "read_dotenv.py", std::slice::from_ref(&file)).remove(0);
    let js = run_reader(&node, "read_dotenv.js", std::slice::from_ref(&file)).remove(0);
    let mut python_only = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let n = name(i);
        assert_eq!(
            py.get(&n),
            Some(&Some(v.clone())),
            "python-dotenv read {n} ({:?}) differently",
            text(v)
        );
        if dotenv::spelling(v) == Ok(Spelling::PythonOnly) {
            python_only.push(n);
        } else {
            assert_eq!(
                js.get(&n),
                Some(&Some(v.clone())),
                "Node's dotenv read {n} ({:?}) differently",
                text(v)
            );
        }
    }
    assert!(
        !python_only.is_empty(),
        "the corpus has values no spelling suits both parsers"
    );
    assert!(
        out.stderr.contains(&python_only.join(", ")),
        "the warning names them: {}",
        out.stderr
    );
    // And our own parser reads it back too, in a fresh vault.
    let t = Sandbox::new();
    t.init();
    t.with_pass(PASS, &out.stdout, &["import", "-"])
        .run()
        .success();
    let back = export(&t, &["--format", "json"]).success();
    let again = export(&s, &["--format", "json"]).success();
    assert_eq!(back.stdout, again.stdout);
}

#[test]
fn export_dotenv_refuses_what_it_cannot_carry() {
    for (value, why) in [
        (&b"a\0b"[..], "NUL"),
        (b"\xff\xfe", "not UTF-8"),
        (b"# needs quotes\\", "backslash"),
    ] {
        let s = with_secrets(&[("OK", b"fine"), ("BAD", value)]);
        let out = export(&s, &["--format", "dotenv"]).code(1);
        assert!(
            out.stderr.contains("secret BAD") && out.stderr.contains(why),
            "{}",
            out.stderr
        );
        export(&s, &["--format", "dotenv", "--only", "OK"])
            .success()
            .stdout_has("OK=fine");
    }
    let s = with_secrets(&[("BIN", b"\xff")]);
    export(&s, &["--format", "json"])
        .code(1)
        .stderr_has("secret BIN");
    export(&s, &["--format", "nextflow"])
        .code(1)
        .stderr_has("secret BIN");
    let s = with_secrets(&[("NUL", b"\0")]);
    export(&s, &["--format", "shell"])
        .code(1)
        .stderr_has("secret NUL");
}

#[test]
fn export_shell_reads_back_in_bash_source_and_eval() {
    let Some(bash) = require(Program("bash")) else {
        return;
    };
    let mut values = nasty_values();
    values.truncate(120);
    let s = vault_with(&values);
    // Bytes that are not UTF-8 travel too (set one by one: JSON cannot).
    let binary: &[(&str, &[u8])] = &[
        ("BIN", b"\xff\xfe'\x01\n"),
        ("LD_PRELOAD", b"/tmp/evil.so"),
        ("PATH", b"/evil"),
    ];
    for (n, v) in binary {
        s.set(n, v);
    }
    let out = export(&s, &["--format", "shell"]).success();
    assert!(
        out.stderr.contains("left out LD_PRELOAD, PATH"),
        "{}",
        out.stderr
    );
    let file = s.file("exported.sh", &out.stdout);
    let mut names: Vec<String> = (0..values.len()).map(name).collect();
    names.push("BIN".into());
    let print = "for n in $NAMES; do printf '%s\\0' \"${!n}\"; done";
    for how in ["source \"$F\"", "eval \"$(cat \"$F\")\""] {
        let got = s
            .program(&bash)
            .args(["-c", &format!("{how}; [ \"$PATH\" != /evil ] && {print}")])
            .env("F", &file)
            .env("NAMES", names.join(" "))
            .run()
            .success()
            .stdout;
        let got: Vec<&[u8]> = got.split(|&b| b == 0).collect();
        for (i, n) in names.iter().enumerate() {
            let want: &[u8] = if n == "BIN" { binary[0].1 } else { &values[i] };
            assert_eq!(got[i], want, "{how}: {n}");
        }
    }
    // Named with --only, a left-out name is exported.
    export(&s, &["--format", "shell", "--only", "LD_PRELOAD"])
        .success()
        .stdout_has("export LD_PRELOAD='/tmp/evil.so'");
}

#[test]
fn export_json_and_nextflow_read_back_exactly() {
    let values: Vec<Vec<u8>> = nasty_values().into_iter().take(100).collect();
    let s = vault_with(&values);
    let json = export(&s, &["--format", "json"]).success();
    let obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&json.stdout).unwrap();
    let nf = export(&s, &["--format", "nextflow"]).success();
    let arr: Vec<serde_json::Value> = serde_json::from_slice(&nf.stdout).unwrap();
    assert!(!text(&nf.stdout).contains('='), "Gson escapes `=`");
    for (i, v) in values.iter().enumerate() {
        assert_eq!(obj[&name(i)].as_str().unwrap().as_bytes(), &v[..]);
        assert_eq!(arr[i]["name"], name(i));
        assert_eq!(arr[i]["value"].as_str().unwrap().as_bytes(), &v[..]);
    }
    // Nextflow's store format imports back into a fresh vault unchanged.
    let t = Sandbox::new();
    t.init();
    let store = t.file("store.json", &nf.stdout);
    t.with_pass(PASS, b"", &["import", "--format", "nextflow"])
        .arg(&store)
        .run()
        .success();
    assert_eq!(
        export(&t, &["--format", "json"]).success().stdout,
        json.stdout
    );
}

/// .env inputs; wherever python-dotenv and Node's dotenv read one the same,
/// `vault import` must read it so too.
const ENV_CORPUS: &[&str] = &[
    "A=1\nB=hello world\n",
    "# comment\n\n  export A=1 # trailing comment\nB = spaced \n",
    "A='single $X \\n'\nB=\"double \\n newline\"\n",
    "A=\"multi\nline\"\nB='multi\nline'\n",
    "A=pa$word\nB=${X:-default}\nC=$(id)\n",
    "A=\"l1\r\nl2\"\r\nB=x\r\n",
    "A=\nB=''\nC=\"\"\n",
    "A=x=y=z\nB=a\"b'c\n",
    "A=\"x\" # c\nB='y'#c\n",
    "A=  x  \nB=\tx\t\n",
    "A=1\nA=2\n",
    "A=C:\\dir\\\nB=ends\\\n",
    "A=\"it's\"\nB='say \"hi\"'\n",
    "A=héllo ✓\nB=\"😀\"\n",
    "A=a #b\n",
    "export A='x'\nexport B=\"y\"\n",
    "A=\"\\$x\"\n",
];

/// The disagreements the README lists: each really is one.
const DISAGREEMENTS: &[&str] = &[
    "A=pa#ss\n",
    "A= #x\n",
    "A=#x\n",
    "A='it\\'s'\n",
    "A='a\\\\b'\n",
    "A=\"a\\tb\"\n",
    "A=`x`\n",
    "A=\"x\"y\n",
    "A=\"a\\\\\"\nB=\"x\"\n",
    "\u{feff}A=bom\n",
    "A=\"\\\\n\"\n",
];

#[test]
fn import_dotenv_matches_python_and_node_where_they_agree() {
    let Some(python) = python_dotenv() else {
        return;
    };
    let Some(node) = node_dotenv() else { return };
    let s = Sandbox::new();
    let files: Vec<PathBuf> = ENV_CORPUS
        .iter()
        .chain(DISAGREEMENTS)
        .enumerate()
        .map(|(i, c)| s.file(&format!("c{i}.env"), c.as_bytes()))
        .collect();
    let py = run_reader(&python, "read_dotenv.py", &files);
    let js = run_reader(&node, "read_dotenv.js", &files);
    for (i, input) in ENV_CORPUS.iter().enumerate() {
        assert_eq!(
            py[i], js[i],
            "python-dotenv and Node disagree on {input:?}: move it to DISAGREEMENTS"
        );
        let ours: Read = dotenv::parse(input.as_bytes())
            .unwrap_or_else(|e| panic!("{input:?}: {e}"))
            .items
            .iter()
            .map(|it| (it.name.clone(), Some(it.value.expose().to_vec())))
            .collect();
        assert_eq!(ours, py[i], "{input:?}");
    }
    for (k, input) in DISAGREEMENTS.iter().enumerate() {
        let i = ENV_CORPUS.len() + k;
        assert_ne!(
            py[i], js[i],
            "{input:?} is listed as a disagreement, but both read it the same"
        );
    }
    // End to end: the whole corpus in one file, through the binary.
    let all: String = ENV_CORPUS[..5].concat();
    s.init();
    let out = s
        .with_pass(PASS, all.as_bytes(), &["import", "-"])
        .run()
        .success();
    assert!(
        out.stderr.contains("`$` in the value of A, B, C"),
        "{}",
        out.stderr
    );
    assert_eq!(s.get("A"), b"pa$word");
    assert_eq!(s.get("B"), b"${X:-default}");
}

#[test]
fn import_is_all_or_nothing_and_never_quotes_the_file() {
    let s = with_secrets(&[("KEEP", b"old")]);
    let before = s.vault_bytes();
    let f = s.file(".env", b"A=1\nB=2\nsk_live_123-not-a-name=x\n");
    let out = s.with_pass(PASS, b"", &["import"]).arg(&f).run().code(2);
    assert!(
        out.stderr.contains(".env:3:1: invalid secret name"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("sk_live"), "{}", out.stderr);
    let f = s.file("q.env", b"A=1\nB='unclosed secret\n");
    let out = s.with_pass(PASS, b"", &["import"]).arg(&f).run().code(2);
    assert!(
        out.stderr.contains("q.env:2:3: unclosed single quote"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("unclosed secret"));
    let f = s.file("n.json", br#"{"A": "1", "DB": {"user": "x"}}"#);
    s.with_pass(PASS, b"", &["import", "--format", "json"])
        .arg(&f)
        .run()
        .code(2)
        .stderr_has("the value of DB is an object");
    assert_eq!(s.vault_bytes(), before, "a failed import changes nothing");
    assert_eq!(s.names(), vec!["KEEP"]);
}

#[test]
fn import_refuses_existing_names_and_emptying_unless_asked() {
    let s = with_secrets(&[("A", b"old-a"), ("B", b"same"), ("C", b"old-c")]);
    let env = s.file(".env", b"A=new-a\nB=same\nC=\nD=new-d\n");
    let run = |flags: &[&str]| {
        s.with_pass(PASS, b"", &["import"])
            .args(flags)
            .arg(&env)
            .run()
    };
    let before = s.vault_bytes();
    run(&[])
        .code(2)
        .stderr_has("already in the vault with another value: A, C");
    run(&["--replace"])
        .code(2)
        .stderr_has("empty the non-empty secret(s) C");
    assert_eq!(s.vault_bytes(), before);
    // --dry-run: names and actions, never values, nothing written.
    let out = run(&["--dry-run", "--replace", "--allow-empty"]).success();
    assert_eq!(
        out.stdout_lines(),
        vec!["replace   A", "unchanged B", "replace   C", "new       D"]
    );
    assert!(!text(&out.stdout).contains("new-a") && !out.stderr.contains("new-a"));
    assert_eq!(s.vault_bytes(), before);
    let out = run(&["--dry-run"]).code(2);
    assert!(
        out.stderr.contains("already in the vault"),
        "{}",
        out.stderr
    );
    // --keep-existing: only D.
    run(&["--keep-existing"])
        .success()
        .stderr_has("1 new, 0 replaced, 1 unchanged, 2 kept");
    assert_eq!(s.get("A"), b"old-a");
    assert_eq!(s.get("D"), b"new-d");
    run(&["--replace", "--allow-empty"]).success();
    assert_eq!(s.get("A"), b"new-a");
    assert_eq!(s.get("C"), b"");
    // Unchanged values are not rewritten.
    let gen = s.generation(&s.vault);
    run(&["--replace", "--allow-empty"])
        .success()
        .stderr_has("0 new, 0 replaced, 4 unchanged");
    assert_eq!(s.generation(&s.vault), gen);
}

#[test]
fn import_reads_stdin_after_the_passphrase_line() {
    let s = Sandbox::new();
    s.init();
    s.with_pass(PASS, b"A=1\nB=\"two\nlines\"\n", &["import", "-"])
        .run()
        .success();
    assert_eq!(s.get("B"), b"two\nlines");
    s.with_pass(PASS, br#"{"C": "\u003d"}"#, &["import", "--format", "json"])
        .run()
        .success();
    assert_eq!(s.get("C"), b"=");
}

#[test]
fn import_nextflow_store_where_nextflow_keeps_it() {
    let s = Sandbox::new();
    s.init();
    let nxf = s.root().join("nxf");
    std::fs::create_dir_all(nxf.join("secrets")).unwrap();
    let store = nxf.join("secrets/store.json");
    std::fs::write(
        &store,
        "[\n  {\n    \"name\": \"NF_TOKEN\",\n    \"value\": \"abc\\u003d\\u003d\"\n  },\n  {\n    \"name\": \"NF_HTML\",\n    \"value\": \"\\u003ca\\u003e \\u0026 \\u0027\",\n    \"extra\": [1]\n  }\n]",
    )
    .unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o644)).unwrap();
    let leftover = nxf.join("secrets/.nf-0123abcd.secrets");
    std::fs::write(&leftover, "export NF_TOKEN=\"abc==\"\n").unwrap();
    let out = s
        .with_pass(PASS, b"", &["import", "--format", "nextflow"])
        .env("NXF_HOME", &nxf)
        .run()
        .success();
    assert!(out.stderr.contains("mode 0644, not 0600"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("rm -- '{}'", leftover.display())),
        "{}",
        out.stderr
    );
    assert_eq!(s.get("NF_TOKEN"), b"abc==");
    assert_eq!(s.get("NF_HTML"), b"<a> & '");
    // NXF_SECRETS_FILE relative to NXF_HOME; an empty store holds nothing.
    std::fs::write(nxf.join("other.json"), "null").unwrap();
    s.with_pass(PASS, b"", &["import", "--format", "nextflow"])
        .env("NXF_HOME", &nxf)
        .env("NXF_SECRETS_FILE", "other.json")
        .run()
        .success()
        .stderr_has("imported 0");
    // No store: says where it looked.
    let out = s
        .with_pass(PASS, b"", &["import", "--format", "nextflow"])
        .env("NXF_HOME", s.root().join("none"))
        .run()
        .code(1);
    assert!(
        out.stderr.contains("no Nextflow secrets store at"),
        "{}",
        out.stderr
    );
}

#[test]
fn export_refuses_a_terminal_unless_forced() {
    let Some((_master, slave_path)) = require(Pty) else {
        return;
    };
    let s = with_secrets(&[("A", b"secret-value")]);
    for (force, code) in [(false, 2), (true, 0)] {
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave_path)
            .unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&slave);
        let mut args = vec!["export", "--format", "dotenv"];
        if force {
            args.push("--force");
        }
        let cmd = s.with_pass(PASS, b"", &args);
        // SAFETY: only dup2 (async-signal-safe) between fork and exec.
        let cmd = unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 1) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        let out = cmd.run();
        assert_status(&out, code, &format!("export to a terminal, force={force}"));
        if !force {
            assert!(
                out.stderr
                    .contains("refusing to print secrets on a terminal"),
                "{}",
                out.stderr
            );
        }
        drop(slave);
    }
}

#[test]
fn export_only_names_must_exist() {
    let s = with_secrets(&[("A", b"1"), ("B", b"2")]);
    export(&s, &["--format", "json", "--only", "NOPE"]).code(5);
    let out = export(&s, &["--format", "dotenv", "--only", "B"]).success();
    assert_eq!(out.stdout, b"B=2\n");
}

/// An import can store names that change how programs load, as `set` can:
/// it warns the same way, naming them (never the values).
#[test]
fn import_warns_about_names_that_change_how_programs_load() {
    let s = with_secrets(&[]);
    let f = s.file(
        ".env",
        b"API=1\nLD_PRELOAD=/tmp/evil.so\nBASH_ENV=/tmp/x.sh\n",
    );
    s.with_pass(PASS, b"", &["import"])
        .arg(&f)
        .run()
        .success()
        .stderr_has("LD_PRELOAD, BASH_ENV change how programs load")
        .stderr_lacks("evil");
}
