//! Secrets: `set`, `get`, `list`, `delete`/`rm`; what a name may be; which
//! values are stored exactly (newlines, binary, empty, the 1 MiB limit).

use std::fs;

use crate::harness::*;

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
        assert_eq!(
            keys,
            [
                "conflict",
                "created",
                "name",
                "rotate_pending",
                "size",
                "updated"
            ]
        );
        assert_eq!(
            (&e["rotate_pending"], &e["conflict"]),
            (&false.into(), &false.into())
        );
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

/// An unset CI variable piped in (`echo "$UNSET" | vault set`) sends just
/// a newline: that must not wipe a secret. Empty values need --allow-empty.
#[test]
fn empty_value_is_refused_unless_allowed() {
    let s = Sandbox::new();
    s.init().set("EMPTY", b"keep me");
    let before = s.vault_bytes();
    for (stdin, args) in [
        (&b""[..], &["set", "EMPTY"][..]),
        (b"\n", &["set", "EMPTY"]),
        (b"", &["set", "--raw", "EMPTY"]),
        (b"", &["set", "EMPTY", ""]),
    ] {
        s.with_pass(PASS, stdin, args)
            .run()
            .code(2)
            .stderr_has("--allow-empty");
    }
    assert_eq!(s.vault_bytes(), before, "nothing was changed");
    assert_eq!(s.get("EMPTY"), b"keep me");
    s.with_pass(PASS, b"", &["set", "--allow-empty", "EMPTY"])
        .run()
        .success();
    s.with_pass(PASS, b"\n", &["set", "EMPTY_NL", "--allow-empty"])
        .run()
        .success();
    s.with_pass(PASS, b"", &["set", "EMPTY_ARG", "", "--allow-empty"])
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

/// A bad name says what is wrong and the fix, without repeating what was
/// typed (no terminal here: the corrected name is not shown either, since
/// a mistyped command can put a token where a name goes).
#[test]
fn bad_name_says_what_is_wrong_without_echoing_it() {
    let s = Sandbox::new();
    s.init();
    s.with_pass(PASS, b"v", &["set", "MY-TOKEN"])
        .run()
        .code(2)
        .stderr_has("contains `-` (character 3); use `_` instead")
        .stderr_lacks("MY-TOKEN")
        .stderr_lacks("MY_TOKEN");
    s.with_pass(PASS, b"v", &["set", "9LIVES"])
        .run()
        .code(2)
        .stderr_has("starts with a digit")
        .stderr_lacks("9LIVES");
    s.with_pass(PASS, b"v", &["set", "S3CR3TÉ"])
        .run()
        .code(2)
        .stderr_has("character 7 is not")
        .stderr_lacks("S3CR3T");
}

/// A mistyped name gets the closest name the vault holds (names only).
#[test]
fn unknown_name_suggests_the_closest_one() {
    let s = Sandbox::new();
    s.init()
        .set("GITHUB_TOKEN", b"ghp-value-1234")
        .set("AWS_KEY", b"a");
    for cmd in [&["get", "GITHUB_TOKN"][..], &["delete", "GITHUB_TOKN"]] {
        s.with_pass(PASS, b"", cmd)
            .run()
            .code(5)
            .stderr_has("did you mean GITHUB_TOKEN?")
            .stderr_lacks("ghp-value");
    }
    // Nothing close: no suggestion.
    s.with_pass(PASS, b"", &["get", "ZZZZZZZ"])
        .run()
        .code(5)
        .stderr_lacks("did you mean");
}
