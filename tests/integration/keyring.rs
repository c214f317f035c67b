//! Keyring slots against a real Secret Service (the private one of
//! `scripts/with-secret-service.sh`): init by keyring, the desktop-to-CI
//! flow, a locked collection, no session bus, a keyring-opened vault
//! under the rollback memory, adding, removing and re-wrapping keyring
//! slots, and copies that keep opening when a copy loses its keyring slot.

use std::fs;
use std::time::Duration;

use vault::format::{self, FileHeader, SlotId};

use crate::harness::*;

/// Whether the keyring holds the entry of `account`, asked with
/// `secret-tool`; `None` (after [`require`]'s SKIPPED line, or a failure
/// on CI) when it is not installed.
fn keyring_has(s: &Sandbox, account: &str) -> Option<bool> {
    require(Program("secret-tool"))?;
    let out = s
        .program("secret-tool")
        .args(["lookup", "service", "vault", "username", account])
        .run();
    Some(out.code == Some(0) && out.stdout.len() == 32)
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

/// The recipient (`age1…`) recorded in slot `id` of the version-2 file
/// `bytes`.
fn slot_recipient(bytes: &[u8], id: &str) -> String {
    let FileHeader::V2(h) = format::parse_any(bytes).unwrap().header else {
        panic!("a version-2 file")
    };
    let slot = h.keys.slot(SlotId::from_hex(id).unwrap()).unwrap();
    let recipient = &slot.kind.wrap().expect("a version-2 slot").recipient;
    assert!(recipient.starts_with("age1"), "{recipient}");
    recipient.clone()
}

#[test]
fn keyring_init_with_no_passphrase_uses_the_keyring_and_recommends_a_recovery_slot() {
    let Some(s) = Sandbox::keyring() else {
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
    // Version 2: the account names the slot's recipient, the public key of
    // the identity the entry holds.
    let account = keyring_account(&s, &ids[0]);
    let vault_id = s.vault_id();
    assert_eq!(
        account,
        format!("{vault_id}:{}", slot_recipient(&s.vault_bytes(), &ids[0]))
    );
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
    let Some(s) = Sandbox::keyring() else {
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
    let Some(s) = Sandbox::keyring() else {
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
    let Some(s) = Sandbox::keyring() else {
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
    if require(SecretService).is_none() {
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
    let Some(s) = Sandbox::keyring() else {
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

/// The keyring entry no longer keeps a generation (the per-id memory is
/// retired): a vault opened through its keyring slot is checked against
/// the memory of its path, like any other.
#[test]
fn a_vault_opened_by_keyring_is_checked_by_its_path_memory_and_the_entry_keeps_no_generation() {
    let Some(s) = Sandbox::keyring() else {
        return;
    };
    if require(Program("secret-tool")).is_none() {
        return;
    }
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
    fs::write(&s.vault, &old).unwrap();
    s.vault_cmd()
        .args(["get", "A"])
        .run()
        .code(4)
        .stderr_has("older than generation")
        .stderr_has("--allow-rollback");
    // No generation attribute on the entry, whatever was written through it.
    let attrs = s
        .program("secret-tool")
        .args(["search", "--all", "service", "vault"])
        .run()
        .success();
    // (The secret itself is printed too: not UTF-8.)
    let all = format!("{}{}", String::from_utf8_lossy(&attrs.stdout), attrs.stderr);
    assert!(all.contains("attribute.username"), "{all}");
    assert!(!all.contains("generation"), "{all}");
    // So the state directory is the one memory: without it, nothing
    // remembers (SECURITY.md says so).
    fs::remove_dir_all(s.home.join(".local/state/vault")).unwrap();
    assert_eq!(
        s.vault_cmd()
            .args(["get", "-n", "A"])
            .run()
            .success()
            .stdout,
        b"1"
    );
}

/// The README's desktop → CI flow: a keyring-only vault (what `vault init`
/// makes), a passphrase slot for CI, a copy. Taking the keyring slot out of
/// a copy (`key remove`, `rekey --drop`) keeps the keyring entry, so the
/// original still opens through it; only `--delete-keyring-entry` deletes
/// it. The copies sit at other paths, so the original's rollback memory
/// never sees them.
#[test]
fn keyring_removing_the_keyring_slot_from_a_copy_leaves_the_original_openable() {
    let Some(s) = Sandbox::keyring() else {
        return;
    };
    s.vault_cmd().arg("init").run().success();
    s.vault_cmd()
        .args(["set", "DEPLOY_KEY"])
        .stdin("v\n")
        .run()
        .success();
    s.vault_cmd()
        .args(["key", "add", "passphrase", "--new-passphrase-stdin"])
        .args(KDF)
        .stdin(format!("{PASS}\n"))
        .run()
        .success();
    let kid = s.slot_ids("keyring").remove(0);
    let account = keyring_account(&s, &kid);
    let original_opens = || s.vault_cmd().args(["get", "-n", "DEPLOY_KEY"]).run();
    for (copy, args) in [
        ("ci.vault", &["key", "remove", &kid][..]),
        ("ci2.vault", &["rekey", "--drop", &kid]),
    ] {
        let copy = s.root().join(copy);
        fs::copy(&s.vault, &copy).unwrap();
        s.at(&copy, PASS, b"", args)
            .run()
            .success()
            .stderr_has(&format!(
                "kept the keyring entry of removed slot {kid} (service `vault`, account `{account}`)"
            ))
            .stderr_has("a copy of this vault that still has the slot opens through it")
            .stderr_has(&format!(
                "`secret-tool clear service vault username {account}`"
            ));
        // The copy opens by passphrase, without a keyring slot.
        s.at(&copy, PASS, b"", &["list"]).run().success();
        let slots = s
            .cmd()
            .arg("--vault")
            .arg(&copy)
            .args(["key", "list", "--json"])
            .run()
            .success()
            .json();
        assert!(slots["slots"]
            .as_array()
            .unwrap()
            .iter()
            .all(|sl| sl["kind"] == "passphrase"));
        if let Some(has) = keyring_has(&s, &account) {
            assert!(has, "the entry is kept");
        }
        assert_eq!(original_opens().success().stdout, b"v");
    }
    // Asked for, the entry is deleted: the original no longer opens
    // through the keyring.
    let copy = s.root().join("ci3.vault");
    fs::copy(&s.vault, &copy).unwrap();
    s.at(
        &copy,
        PASS,
        b"",
        &["key", "remove", &kid, "--delete-keyring-entry"],
    )
    .run()
    .success()
    .stderr_has(&format!("deleted the keyring entry of removed slot {kid}"));
    if let Some(has) = keyring_has(&s, &account) {
        assert!(!has, "the entry is gone");
    }
    original_opens().code(3).stderr_has("no entry");
}

#[test]
fn keyring_key_remove_with_delete_keyring_entry_deletes_the_keyring_entry() {
    let Some(s) = Sandbox::keyring() else {
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
    s.with_pass(PASS, b"", &["key", "remove", &id, "--delete-keyring-entry"])
        .run()
        .success()
        .stderr_has("deleted the keyring entry");
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
    let Some(s) = Sandbox::keyring() else {
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
    let Some(s) = Sandbox::keyring() else {
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
    // Version 2: through the keyring alone, the passphrase slot is
    // re-wrapped too (to its public key); both slots open the new file.
    s.vault_cmd()
        .arg("rekey")
        .run()
        .success()
        .stderr_has("new master key; re-wrapped 2 slot(s), dropped 0");
    let after = s.vault_bytes();
    assert_ne!(commitment(&after), commitment(&before));
    assert_eq!(
        s.vault_cmd().args(["get", "A"]).run().success().stdout,
        b"v\n"
    );
    assert_eq!(s.get("A"), b"v");
    // The file from before, put back: its master key is retired here.
    fs::write(&s.vault, &before).unwrap();
    s.vault_cmd()
        .args(["get", "A"])
        .run()
        .code(4)
        .stderr_has("retired");
    fs::write(&s.vault, &after).unwrap();
    // Without a bus, by passphrase: the keyring slot needs no keyring to
    // be re-wrapped, and still opens through it afterwards.
    s.with_pass(PASS, b"", &["rekey"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .run()
        .success()
        .stderr_has("re-wrapped 2");
    assert_eq!(
        s.vault_cmd().args(["get", "A"]).run().success().stdout,
        b"v\n"
    );
    let kid = s.slot_ids("keyring").remove(0);
    // Dropping the keyring slot by passphrase, asked to, deletes its entry.
    let account = keyring_account(&s, &kid);
    s.with_pass(
        PASS,
        b"",
        &["rekey", "--drop", &kid, "--delete-keyring-entry"],
    )
    .run()
    .success()
    .stderr_has(&format!(
        "deleted the keyring entry of removed slot {kid} (account `{account}`)"
    ));
    assert!(s.slot_ids("keyring").is_empty());
    if let Some(has) = keyring_has(&s, &account) {
        assert!(!has, "the dropped slot's entry is deleted");
    }
    assert_eq!(s.get("A"), b"v");
}

#[test]
fn doctor_lists_keyring_entries_no_known_vault_uses_and_deletes_them_when_asked() {
    let Some(s) = Sandbox::keyring() else {
        return;
    };
    s.vault_cmd().arg("init").run().success();
    s.vault_cmd()
        .args(["set", "A"])
        .stdin("v\n")
        .run()
        .success();
    let id = s.slot_ids("keyring").remove(0);
    let first = keyring_account(&s, &id);
    // A copy opened once at another path: its slot keeps using the entry.
    let copy = s.root().join("copy.vault");
    fs::copy(&s.vault, &copy).unwrap();
    s.cmd()
        .arg("--vault")
        .arg(&copy)
        .args(["get", "A"])
        .run()
        .success();
    // The rekey gives this file's keyring slot a fresh identity (a new
    // entry); the old one is kept, and the copy still uses it.
    s.vault_cmd().arg("rekey").run().success();
    let second = keyring_account(&s, &id);
    assert_ne!(first, second);
    // The keyring is shared with the other tests: other sandboxes' vaults
    // are unknown here, listed apart and never deleted.
    let unused = |s: &Sandbox| -> Vec<String> {
        let r = s
            .vault_cmd()
            .args(["doctor", "--json"])
            .run()
            .success()
            .json();
        assert_eq!(r["keyring_entries"]["listed"], true, "{r}");
        r["keyring_entries"]["unused"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    assert!(unused(&s).is_empty(), "the copy still uses the old entry");
    // The copy gone: the old entry is unused, listed, and deleted on request.
    fs::remove_file(&copy).unwrap();
    assert_eq!(unused(&s), vec![first.clone()]);
    s.vault_cmd()
        .args(["doctor", "--delete-unused-keyring-entries"])
        .run()
        .success()
        .stderr_has(&format!(
            "deleted keyring entry (service vault, account {first})"
        ));
    if let Some(has) = keyring_has(&s, &first) {
        assert!(!has, "the unused entry is gone");
    }
    if let Some(has) = keyring_has(&s, &second) {
        assert!(has, "the entry in use is kept");
    }
    assert!(unused(&s).is_empty());
    assert_eq!(
        s.vault_cmd()
            .args(["get", "-n", "A"])
            .run()
            .success()
            .stdout,
        b"v"
    );
}
