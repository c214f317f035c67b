//! The cached unlock: `unlock` puts the data key in the kernel keyring for
//! a while, reads and writes use it, slot management never does; `lock`,
//! expiry and a rekey end it.

use std::time::Duration;

use crate::harness::*;

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
    if require(Program("keyctl")).is_none() {
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

/// The cache holds the body key, and a write made with a passphrase draws a
/// new one: the live cache is handed the new key for the rest of its time,
/// so `vault unlock` keeps working; the long-term key of a version-1 file
/// never goes to the cache (the file is converted first).
#[test]
fn a_write_with_a_passphrase_keeps_a_live_cache_working_and_a_v1_file_is_converted_before_caching()
{
    let s = Sandbox::new();
    s.init().set("A", b"v");
    s.with_pass(PASS, b"", &["unlock", "--timeout", "10m"])
        .run()
        .success();
    let before = s.vault_bytes();
    // A write made with the passphrase (not through the cache).
    s.with_pass(PASS, b"w", &["--no-cache", "set", "B"])
        .run()
        .success();
    let field = |b: &[u8]| b[crate::bytes::bstr_field(b, "body", 32, 0)].to_vec();
    assert_ne!(field(&before), field(&s.vault_bytes()), "a new body key");
    let out = s.vault_cmd().args(["get", "-n", "B"]).run().success();
    assert_eq!(out.stdout, b"w", "the cache still opens it");
    s.vault_cmd().arg("lock").run().success();

    // A version-1 file: unlock writes it as version 2 first. (Another
    // vault put at this path: its key does not descend from the one this
    // path held, so it is taken deliberately.)
    std::fs::copy(vectors_dir().join("ok_passphrase.vault"), &s.vault).unwrap();
    let out = s
        .with_pass(
            VECTOR_PASS,
            b"",
            &["--accept-new-key", "unlock", "--timeout", "10m"],
        )
        .run()
        .success();
    out.stderr_has("converted to format version 2");
    assert_eq!(&s.vault_bytes()[8..10], &[0, 2]);
    let out = s
        .vault_cmd()
        .args(["get", "-n", "API_TOKEN"])
        .run()
        .success();
    assert_eq!(out.stdout, b"tok_live_0123456789abcdef");
    s.vault_cmd().arg("lock").run().success();
}

/// The body key in the cache of vault file `bytes` (read in this process:
/// the kernel user keyring is this user's, shared with the children).
fn cached_body_key(bytes: &[u8]) -> Option<vault::Key> {
    let vault::format::FileHeader::V2(h) = vault::format::parse_any(bytes).unwrap().header else {
        panic!("a version-2 file")
    };
    vault::cache::get(&h.vault_id).map(|c| c.key)
}

fn opens_with_body_key(bytes: &[u8], bk: &vault::Key) -> bool {
    vault::LockedVault::parse(std::path::Path::new("v"), bytes.to_vec())
        .and_then(|l| l.unlock(&vault::Credential::BodyKey(bk.clone())))
        .is_ok()
}

/// A body key once in the kernel keyring may have been read there: a later
/// `unlock` draws a fresh one (a write with the master key) rather than
/// caching it again, so the first cache entry no longer opens the file.
#[test]
fn unlock_again_draws_a_fresh_body_key_so_the_one_cached_before_no_longer_opens() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    s.with_pass(PASS, b"", &["unlock"])
        .run()
        .success()
        .stderr_lacks("fresh body key");
    let first = cached_body_key(&s.vault_bytes()).expect("cached");
    s.vault_cmd().arg("lock").run().success();
    let generation = s.generation(&s.vault);
    s.with_pass(PASS, b"", &["unlock"])
        .run()
        .success()
        .stderr_has("drew a fresh body key");
    assert_eq!(s.generation(&s.vault), generation + 1, "one write");
    let now = s.vault_bytes();
    let second = cached_body_key(&now).expect("cached");
    assert!(!second.ct_eq(&first), "the same body key cached again");
    assert!(!opens_with_body_key(&now, &first));
    assert!(opens_with_body_key(&now, &second));
    assert_eq!(
        s.vault_cmd()
            .args(["get", "-n", "A"])
            .run()
            .success()
            .stdout,
        b"v"
    );
    // A write with the passphrase while cached hands the live cache its new
    // body key: that one was cached too, so the next unlock draws again.
    s.set("B", b"w");
    let third = cached_body_key(&s.vault_bytes()).expect("still cached");
    assert!(!third.ct_eq(&second));
    s.vault_cmd().arg("lock").run().success();
    s.with_pass(PASS, b"", &["unlock"])
        .run()
        .success()
        .stderr_has("drew a fresh body key");
    assert!(!opens_with_body_key(&s.vault_bytes(), &third));
    s.vault_cmd().arg("lock").run().success();
}
