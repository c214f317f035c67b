//! Members leave, and the tool tells the truth: `key remove` (the same as
//! `rekey --drop`) draws a new master key, body key, fingerprint key and
//! fresh keys for this machine's keyring slots, lists the secrets the
//! removed slot could read and marks them rotate pending until their values
//! change; `list`, `list --json` and `doctor` show the marks.

use std::fs;
use std::path::Path;

use crate::harness::*;
use vault::format::{self, FileHeader};
use vault::{Credential, Key, LockedVault, SecretBytes};

/// A vault with [`PASS`], secrets `A` and `B`, and a second passphrase
/// slot labelled "alice" ([`PASS2`]); returns alice's slot id.
fn vault_with_alice(s: &Sandbox) -> String {
    s.init().set("A", b"value-a").set("B", b"value-b");
    s.with_pass(
        PASS,
        format!("{PASS2}\n").as_bytes(),
        &[
            "key",
            "add",
            "passphrase",
            "--new-passphrase-stdin",
            "--label",
            "alice",
        ],
    )
    .args(KDF)
    .run()
    .success();
    s.slot_ids("passphrase").remove(1)
}

/// The master-key commitment of a version-2 file.
fn master_commitment(bytes: &[u8]) -> [u8; 32] {
    let FileHeader::V2(h) = format::parse_any(bytes).unwrap().header else {
        panic!("a version-2 file")
    };
    h.keys.master_commitment
}

/// `list --json` with [`PASS`]: (name, rotate_pending, conflict) per secret.
fn marks(s: &Sandbox) -> Vec<(String, bool, bool)> {
    let j = s
        .with_pass(PASS, b"", &["list", "--json"])
        .run()
        .success()
        .json();
    j.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["rotate_pending"].as_bool().unwrap(),
                e["conflict"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn m(name: &str, pending: bool) -> (String, bool, bool) {
    (name.to_string(), pending, false)
}

/// The vault at `path` opened with `cred` (the library, as a member who
/// kept a copy of the file and its keys would).
fn opens(bytes: &[u8], cred: &Credential) -> bool {
    LockedVault::parse(Path::new("copy"), bytes.to_vec())
        .and_then(|l| l.unlock(cred))
        .is_ok()
}

fn pass(p: &str) -> Credential {
    Credential::Passphrase(SecretBytes::copy_from(p.as_bytes()))
}

#[test]
fn key_remove_draws_a_new_master_key_and_lists_and_marks_what_the_slot_could_read() {
    let s = Sandbox::new();
    let alice = vault_with_alice(&s);
    let before = s.vault_bytes();
    // What alice keeps: a copy of the file (`cp` before the removal), and
    // the body key her passphrase opens in it.
    let copy = s.file("alice-copy.vault", &before);
    let old_body_key = LockedVault::parse(Path::new("copy"), before.clone())
        .and_then(|l| l.unlock(&pass(PASS2)))
        .unwrap()
        .body_key()
        .clone();
    let out = s
        .with_pass(PASS, b"", &["key", "remove", "alice"])
        .run()
        .success()
        .stderr_has(&format!(
            "removed passphrase slot {alice} (label \"alice\"); new master key; re-wrapped 1 slot(s), dropped 1"
        ))
        .stderr_has("2 secrets it could read are marked rotate pending")
        .stderr_has("`vault list` shows which remain")
        .stderr_lacks("value-a")
        .stderr_lacks("value-b");
    let today = &out.stderr[out.stderr.find("A (updated ").unwrap()..];
    assert!(
        today.starts_with("A (updated 20") && today.contains("B (updated 20"),
        "{}",
        out.stderr
    );
    let after = s.vault_bytes();
    assert_ne!(master_commitment(&after), master_commitment(&before));
    // The removed passphrase opens neither the new file nor, through the
    // keys of the copy, its body.
    s.with_pass(PASS2, b"", &["list"])
        .run()
        .code(3)
        .stderr_has(WRONG);
    assert!(
        opens(&before, &pass(PASS2)),
        "the copy still opens, as before"
    );
    assert!(!opens(&after, &pass(PASS2)));
    assert!(!opens(&after, &Credential::BodyKey(old_body_key)));
    s.at(&copy, PASS2, b"", &["get", "-n", "A"])
        .run()
        .success()
        .stdout_has("value-a");
    // Nor can she put her old slot back into the new file (whoever can
    // write it could): the key block's MAC is under the new master key.
    let spliced = {
        let old = format::parse_any(&before).unwrap();
        let new = format::parse_any(&after).unwrap();
        let (FileHeader::V2(old_h), FileHeader::V2(mut h)) = (old.header, new.header) else {
            panic!("version-2 files")
        };
        let slot = old_h.keys.slots.iter().find(|sl| sl.id.to_hex() == alice);
        h.keys.slots.push(slot.unwrap().clone());
        h.generation += 1;
        [format::write_prefix_v2(&h), new.ciphertext.to_vec()].concat()
    };
    let spliced = s.file("spliced.vault", &spliced);
    let out = s.at(&spliced, PASS2, b"", &["get", "-n", "A"]).run();
    assert!(matches!(out.code, Some(3 | 4)), "{out:?}");
    assert!(!out.stdout_str().contains("value-a"));
    // Piped, `list` prints names only; the JSON has the marks.
    assert_eq!(s.names(), ["A", "B"]);
    assert_eq!(marks(&s), [m("A", true), m("B", true)]);
    assert_eq!(s.get("A"), b"value-a");
}

#[test]
fn rotate_pending_clears_only_when_the_value_changes_and_doctor_counts_it() {
    let s = Sandbox::new();
    vault_with_alice(&s);
    s.with_pass(PASS, b"", &["key", "remove", "alice"])
        .run()
        .success();
    // The same bytes again: still pending, and said so.
    s.with_pass(PASS, b"value-a", &["set", "--raw", "A"])
        .run()
        .success()
        .stderr_has("A is still rotate pending");
    assert_eq!(marks(&s), [m("A", true), m("B", true)]);
    s.set("A", b"rotated-a");
    assert_eq!(marks(&s), [m("A", false), m("B", true)]);
    let doctor = s
        .with_pass(PASS, b"", &["doctor", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(doctor["secrets"]["rotate_pending"], 1, "{doctor}");
    assert_eq!(doctor["secrets"]["rotate_pending_names"][0], "B");
    let steps = doctor["next_steps"].to_string();
    assert!(steps.contains("1 secret is rotate pending"), "{steps}");
    s.with_pass(PASS, b"", &["doctor"])
        .run()
        .success()
        .stdout_has("rotate_pending: 1")
        .stdout_has("1 secret is rotate pending")
        .stdout_has("`vault set NAME`");
    // Deleting and other secrets' writes leave the mark alone.
    s.set("C", b"new");
    assert_eq!(marks(&s), [m("A", false), m("B", true), m("C", false)]);
    s.set("B", b"rotated-b");
    let doctor = s
        .with_pass(PASS, b"", &["doctor", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(doctor["secrets"]["rotate_pending"], 0);
    assert!(!doctor["next_steps"].to_string().contains("rotate pending"));
}

/// A value a removed member could read stays exposed under its name:
/// deleted and set again, or changed and changed back, it is rotate pending
/// again (the body keeps a digest of it, never the value); only a value
/// that was never exposed clears the mark.
#[test]
fn an_exposed_value_set_again_after_a_delete_or_a_change_is_rotate_pending_again() {
    let s = Sandbox::new();
    vault_with_alice(&s);
    s.with_pass(PASS, b"", &["key", "remove", "alice"])
        .run()
        .success();
    s.with_pass(PASS, b"", &["delete", "A"]).run().success();
    assert_eq!(marks(&s), [m("B", true)]);
    s.with_pass(PASS, b"value-a", &["set", "--raw", "A"])
        .run()
        .success()
        .stderr_has("A is still rotate pending");
    assert_eq!(marks(&s), [m("A", true), m("B", true)]);
    s.set("B", b"rotated-b");
    assert_eq!(marks(&s), [m("A", true), m("B", false)]);
    s.with_pass(PASS, b"value-b", &["set", "--raw", "B"])
        .run()
        .success()
        .stderr_has("B is still rotate pending");
    assert_eq!(marks(&s), [m("A", true), m("B", true)]);
    // Not a value of B's: not marked under another name.
    s.set("C", b"value-b");
    s.set("A", b"rotated-a");
    s.set("B", b"rotated-b");
    assert_eq!(marks(&s), [m("A", false), m("B", false), m("C", false)]);
}

#[test]
fn rekey_drop_marks_like_key_remove_and_a_plain_rekey_marks_nothing() {
    let s = Sandbox::new();
    let alice = vault_with_alice(&s);
    s.with_pass(PASS, b"", &["rekey"])
        .run()
        .success()
        .stderr_has("new master key; re-wrapped 2 slot(s), dropped 0")
        .stderr_lacks("rotate pending");
    assert_eq!(marks(&s), [m("A", false), m("B", false)]);
    s.with_pass(PASS, b"", &["rekey", "--drop", &alice])
        .run()
        .success()
        .stderr_has(&format!(
            "removed passphrase slot {alice} (label \"alice\")"
        ))
        .stderr_has("2 secrets it could read are marked rotate pending");
    assert_eq!(marks(&s), [m("A", true), m("B", true)]);
    s.with_pass(PASS2, b"", &["list"]).run().code(3);
}

#[test]
fn no_rotate_pending_removes_a_slot_added_by_mistake_without_marks() {
    let s = Sandbox::new();
    let alice = vault_with_alice(&s);
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["key", "remove", &alice, "--no-rotate-pending"])
        .run()
        .success()
        .stderr_has("new master key")
        .stderr_has("2 secrets it could read, not marked rotate pending (--no-rotate-pending)");
    assert_eq!(marks(&s), [m("A", false), m("B", false)]);
    // Still a rotation: the removed passphrase no longer opens it.
    assert_ne!(
        master_commitment(&s.vault_bytes()),
        master_commitment(&before)
    );
    s.with_pass(PASS2, b"", &["list"]).run().code(3);
    // rekey --drop takes the flag too; rekey alone does not (nothing to mark).
    s.with_pass(PASS, b"", &["rekey", "--no-rotate-pending"])
        .run()
        .code(2)
        .stderr_has("--drop");
    s.with_pass(
        PASS,
        format!("{PASS2}\n").as_bytes(),
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    let second = s.slot_ids("passphrase").remove(1);
    s.with_pass(
        PASS,
        b"",
        &["rekey", "--drop", &second, "--no-rotate-pending"],
    )
    .run()
    .success()
    .stderr_has("not marked rotate pending");
    assert_eq!(marks(&s), [m("A", false), m("B", false)]);
}

#[test]
fn removing_a_slot_from_an_empty_vault_says_nothing_needs_rotating() {
    let s = Sandbox::new();
    s.init();
    s.with_pass(
        PASS,
        format!("{PASS2}\n").as_bytes(),
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    let second = s.slot_ids("passphrase").remove(1);
    s.with_pass(PASS, b"", &["key", "remove", &second])
        .run()
        .success()
        .stderr_has("held no secret");
}

/// A version-1 slot's wrap is symmetric: removing another slot still needs
/// its passphrase, as `rekey` does (the same error, exit 2).
#[test]
fn key_remove_with_a_legacy_slot_left_needs_its_passphrase_as_rekey_does() {
    let s = Sandbox::new();
    let v1 = v1_with_second_slot(PASS2);
    fs::write(&s.vault, &v1).unwrap();
    // A third slot, so one can go and two stay.
    s.with_pass(
        VECTOR_PASS,
        b"third passphrase\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    let third = s.slot_ids("passphrase").remove(2);
    let before = s.vault_bytes();
    s.with_pass(VECTOR_PASS, b"", &["key", "remove", &third])
        .run()
        .code(2)
        .stderr_has(V1_SECOND_SLOT)
        .stderr_has("--other-passphrase-file");
    assert_eq!(s.vault_bytes(), before);
    let second = s.file("second", format!("{PASS2}\n").as_bytes());
    s.with_pass(VECTOR_PASS, b"", &["key", "remove", &third])
        .arg("--other-passphrase-file")
        .arg(&second)
        .run()
        .success()
        .stderr_has("marked rotate pending");
    s.with_pass(PASS2, b"", &["list"]).run().success();
}

/// On a terminal `list` shows the marks; piped it prints names only.
#[test]
fn list_on_a_terminal_shows_rotate_pending() {
    let Some((master, slave_path)) = require(Pty) else {
        return;
    };
    let s = Sandbox::new();
    vault_with_alice(&s);
    s.with_pass(PASS, b"", &["key", "remove", "alice"])
        .run()
        .success();
    s.set("A", b"rotated");
    let slave = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&slave_path)
        .unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&slave);
    let cmd = s.with_pass(PASS, b"", &["list"]);
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    let cmd = unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 1) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    cmd.run().success();
    // The output waits in the terminal's buffer while the slave is open.
    let mfd = std::os::fd::AsRawFd::as_raw_fd(&master);
    // SAFETY: fcntl on a descriptor this test owns.
    unsafe { libc::fcntl(mfd, libc::F_SETFL, libc::O_NONBLOCK) };
    let mut buf = [0u8; 4096];
    let n = std::io::Read::read(&mut &master, &mut buf).unwrap();
    let shown = String::from_utf8_lossy(&buf[..n]).replace('\r', "");
    assert!(shown.contains("A\n"), "{shown}");
    assert!(shown.contains("B  (rotate pending)\n"), "{shown}");
    assert!(shown.contains("1 rotate pending"), "{shown}");
    drop(slave);
}

/// The keyring slot of this machine gets a fresh key at a removal: a key
/// copied out of the keyring before it no longer opens the file.
#[test]
fn keyring_a_key_copied_before_key_remove_no_longer_opens_the_file() {
    let Some(s) = Sandbox::keyring() else {
        return;
    };
    if require(Program("secret-tool")).is_none() {
        return;
    }
    s.with_pass(PASS, b"", &["init", "--keyring"])
        .args(KDF)
        .run()
        .success();
    s.vault_cmd().args(["set", "A"]).stdin("v").run().success();
    s.with_pass(
        PASS,
        format!("{PASS2}\n").as_bytes(),
        &[
            "key",
            "add",
            "passphrase",
            "--new-passphrase-stdin",
            "--label",
            "alice",
        ],
    )
    .args(KDF)
    .run()
    .success();
    let kid = s.slot_ids("keyring").remove(0);
    let accounts = || -> String {
        s.vault_cmd()
            .args(["key", "list", "--json"])
            .run()
            .success()
            .json()["slots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == kid.as_str())
            .unwrap()["keyring_account"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let old_account = accounts();
    let copied = s
        .program("secret-tool")
        .args(["lookup", "service", "vault", "username", &old_account])
        .run()
        .success()
        .stdout;
    let copied = Key::from_slice(&copied).expect("a 32-byte keyring entry");
    let slot = format::SlotId::from_hex(&kid).unwrap();
    let stale = || Credential::SlotKey {
        slot,
        kek: copied.clone(),
    };
    let before = s.vault_bytes();
    assert!(opens(&before, &stale()));
    // Through the keyring alone: no passphrase needed to remove a member.
    s.vault_cmd()
        .args(["key", "remove", "alice"])
        .run()
        .success()
        .stderr_has("marked rotate pending")
        .stderr_has(&format!("slot {kid} has a fresh keyring entry"));
    let after = s.vault_bytes();
    assert_ne!(accounts(), old_account);
    assert!(
        !opens(&after, &stale()),
        "the copied key opens the new file"
    );
    // This machine still opens it through its fresh entry.
    assert_eq!(
        s.vault_cmd()
            .args(["get", "-n", "A"])
            .run()
            .success()
            .stdout,
        b"v"
    );
    // Where the keyring does not answer, the keyring slot keeps its key,
    // and the removal says so.
    s.with_pass(
        PASS,
        b"bob passphrase\n",
        &[
            "key",
            "add",
            "passphrase",
            "--new-passphrase-stdin",
            "--label",
            "bob",
        ],
    )
    .args(KDF)
    .run()
    .success();
    s.with_pass(PASS, b"", &["key", "remove", "bob"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .run()
        .success()
        .stderr_has(&format!("keyring slot {kid} keeps its key"));
    s.with_pass(PASS, b"", &["rekey"])
        .run()
        .success()
        .stderr_lacks("keeps its key");
    // Removing this machine's own keyring slot is a removal too.
    s.with_pass(PASS, b"", &["key", "remove", &kid])
        .run()
        .success()
        .stderr_has(&format!("removed keyring slot {kid}"))
        .stderr_has("1 secret it could read is marked rotate pending");
    assert!(s.slot_ids("keyring").is_empty());
    assert_eq!(marks(&s), [m("A", true)]);
}

/// On a terminal a mistyped passphrase is asked for again before a removal
/// (as it was before `key remove` became `rekey --drop`; `rekey` too now).
#[test]
fn terminal_key_remove_asks_again_for_a_mistyped_passphrase() {
    use std::io::Write;
    let Some((mut master, slave_path)) = require(Pty) else {
        return;
    };
    let s = Sandbox::new();
    vault_with_alice(&s);
    let screen = crate::passphrase::Screen::new(&master);
    let vault = s
        .vault_cmd()
        .args(["key", "remove", "alice"])
        .on_terminal(&slave_path)
        .spawn();
    assert!(screen.wait("Passphrase for", 1), "{:?}", screen.text());
    master.write_all(b"not the passphrase\n").unwrap();
    assert!(screen.wait("Passphrase for", 2), "{:?}", screen.text());
    master.write_all(format!("{PASS}\n").as_bytes()).unwrap();
    vault
        .finish()
        .success()
        .stderr_has("wrong passphrase; try again (2 left)")
        .stderr_has("marked rotate pending");
    drop(master);
    s.with_pass(PASS2, b"", &["list"]).run().code(3);
}
