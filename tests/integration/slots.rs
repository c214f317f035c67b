//! Key slots: `init` (the first slot, KDF parameters, a recovery code),
//! `key list`, `key add passphrase`, `key remove`, `key passwd`, and `rekey`
//! (a new data key, every slot re-wrapped or dropped). Keyring slots are
//! in `keyring`.

use std::fs;
use std::time::{Duration, Instant};

use vault::format::v2::SlotKindV2;
use vault::format::{self, FileHeader, KdfParams, SlotId};

use crate::harness::*;

#[test]
fn init_with_passphrase_on_stdin_creates_a_0600_vault_that_opens() {
    let s = Sandbox::new();
    let out = s.with_pass(PASS, b"", &["init"]).args(KDF).run().code(0);
    assert!(out.stdout.is_empty(), "init prints nothing on stdout");
    out.stderr_has("created").stderr_has("passphrase");
    assert_eq!(mode(&s.vault), 0o600);
    assert!(fs::read(&s.vault).unwrap().starts_with(b"\x89vault\r\n"));
    assert!(s.names().is_empty());
    // The slot has exactly the cheap parameters asked for.
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    let slots = keys["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 1);
    assert_eq!(slots[0]["kind"], "passphrase");
    assert_eq!(slots[0]["memory_kib"], 8192);
    assert_eq!(slots[0]["time"], 1);
    assert_eq!(slots[0]["parallelism"], 1);
}

#[test]
fn init_refuses_to_overwrite_an_existing_vault() {
    let s = Sandbox::new();
    s.init().set("KEEP", b"me");
    let before = s.vault_bytes();
    s.with_pass("other", b"", &["init"])
        .args(KDF)
        .run()
        .code(1)
        .stderr_has("already exists");
    assert_eq!(s.vault_bytes(), before);
    assert_eq!(s.get("KEEP"), b"me");
    // Not even an empty file is overwritten.
    let empty = s.root().join("empty.vault");
    fs::write(&empty, b"").unwrap();
    s.cmd()
        .arg("--vault")
        .arg(&empty)
        .args(["--passphrase-stdin", "init"])
        .args(KDF)
        .stdin("pw\n")
        .run()
        .code(1);
    assert_eq!(fs::read(&empty).unwrap(), b"");
}

#[test]
fn init_rejects_out_of_bounds_kdf_parameters() {
    let s = Sandbox::new();
    let cases: [&[&str]; 8] = [
        &["--kdf-memory", "4GiB"],
        &["--kdf-memory", "7MiB"],
        &["--kdf-time", "0"],
        &["--kdf-time", "17"],
        &["--kdf-parallelism", "0"],
        &["--kdf-parallelism", "17"],
        &["--kdf-memory", "64"],
        &["--kdf-memory", "lots"],
    ];
    for extra in cases {
        let start = Instant::now();
        s.with_pass(PASS, b"", &["init"]).args(extra).run().code(2);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{extra:?} did KDF work"
        );
        assert!(!s.vault.exists(), "{extra:?} created a vault");
    }
    // The bounds themselves are accepted.
    s.with_pass(PASS, b"", &["init"])
        .args([
            "--kdf-memory",
            "8MiB",
            "--kdf-time",
            "1",
            "--kdf-parallelism",
            "16",
        ])
        .run()
        .success();
}

#[test]
fn init_recovery_code_is_printed_once_on_stdout_and_opens_the_vault() {
    let s = Sandbox::new();
    let out = s
        .with_pass(PASS, b"", &["init", "--recovery-code"])
        .args(KDF)
        .run()
        .success()
        .stderr_has("recovery code");
    let code = out.stdout_str();
    let code = code.strip_suffix('\n').expect("one line");
    assert!(!code.contains('\n'));
    assert!(code.len() >= 30, "a high-entropy code: {code:?}");
    assert!(!out.stderr.contains(code), "the code is only on stdout");
    assert_eq!(s.slot_ids("passphrase").len(), 2);
    s.set("A", b"1");
    assert_eq!(
        s.with_pass(code, b"", &["get", "A"]).run().success().stdout,
        b"1\n"
    );
    // Another vault gets another code.
    let s2 = Sandbox::new();
    let other = s2
        .with_pass(PASS, b"", &["init", "--recovery-code"])
        .args(KDF)
        .run()
        .success()
        .stdout_str();
    assert_ne!(other.trim_end(), code);
}

#[test]
fn key_list_shows_slots_and_never_key_material() {
    let s = Sandbox::new();
    s.init();
    s.with_pass(
        PASS,
        b"second\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args([
        "--kdf-memory",
        "9MiB",
        "--kdf-time",
        "2",
        "--kdf-parallelism",
        "2",
    ])
    .run()
    .success();
    let bytes = s.vault_bytes();
    let text = s
        .vault_cmd()
        .args(["key", "list"])
        .run()
        .success()
        .stdout_str();
    let ids = s.slot_ids("passphrase");
    assert_eq!(ids.len(), 2);
    assert_eq!(text.lines().count(), 2, "{text}");
    for id in &ids {
        assert_eq!(id.len(), 8);
        assert!(text.contains(id.as_str()));
    }
    assert!(text.contains("m=8 MiB t=1 p=1"), "{text}");
    assert!(text.contains("m=9 MiB t=2 p=2"), "{text}");
    let json = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success();
    let v = json.json();
    assert_eq!(v["generation"].as_u64(), Some(2));
    assert_eq!(v["vault_id"].as_str().unwrap().len(), 32);
    for slot in v["slots"].as_array().unwrap() {
        let mut keys: Vec<&str> = slot
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            ["id", "kdf", "kind", "memory_kib", "parallelism", "time"]
        );
    }
    // No salt, sealed identity, age file, nonce, sealed body key,
    // commitment or MAC, raw or hex, in either listing.
    let mut fields: Vec<Vec<u8>> = [
        ("salt", 16),
        ("identity", 72),
        ("nonce", 24),
        ("master", 32),
        ("body_key", 72),
        ("body", 32),
        ("mac", 32),
    ]
    .iter()
    .map(|&(field, len)| bytes[bstr_field(&bytes, field, len, 0)].to_vec())
    .collect();
    let FileHeader::V2(h) = format::parse_any(&bytes).unwrap().header else {
        panic!("a version-2 file")
    };
    for sl in &h.keys.slots {
        let age = &sl.kind.wrap().expect("a version-2 slot").age;
        // The age file's stanza (ephemeral share and wrapped key) and its
        // binary payload.
        let age_text = String::from_utf8_lossy(age);
        let stanza = age_text.lines().nth(1).expect("a recipient stanza");
        let share = stanza.strip_prefix("-> X25519 ").expect(stanza);
        fields.push(share.as_bytes().to_vec());
        fields.push(age[age.len() - 32..].to_vec());
    }
    for raw in &fields {
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        for out in [text.as_bytes(), &json.stdout[..]] {
            assert!(!contains(out, raw));
            assert!(!contains(out, &hex.as_bytes()[..16]));
        }
    }
}

#[test]
fn key_add_passphrase_adds_a_second_way_in() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    s.with_pass(
        PASS,
        b"second pass\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success()
    .stderr_has("added passphrase slot");
    assert_eq!(
        s.with_pass("second pass", b"", &["get", "A"])
            .run()
            .success()
            .stdout,
        b"v\n"
    );
    assert_eq!(s.get("A"), b"v");
    // From a file, and opened with the second passphrase.
    let f = s.file("third", b"third pass\n");
    s.with_pass(
        "second pass",
        b"",
        &["key", "add", "passphrase", "--new-passphrase-file"],
    )
    .arg(&f)
    .args(KDF)
    .run()
    .success();
    s.with_pass("third pass", b"", &["list"]).run().success();
    assert_eq!(s.slot_ids("passphrase").len(), 3);
    let before = s.vault_bytes();
    // An empty new passphrase, bad KDF parameters, a wrong current
    // passphrase, no new passphrase and no terminal: refused, unchanged.
    s.with_pass(
        PASS,
        b"\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .code(2);
    s.with_pass(
        PASS,
        b"x\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(["--kdf-time", "17"])
    .run()
    .code(2);
    s.with_pass(
        "wrong",
        b"x\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .code(3);
    s.with_pass(PASS, b"", &["key", "add", "passphrase"])
        .args(KDF)
        .run()
        .code(3)
        .stderr_has("--new-passphrase-stdin");
    assert_eq!(s.vault_bytes(), before);
}

#[test]
fn passphrase_slots_that_would_pass_the_kdf_budget_together_are_refused_before_their_kdf_runs() {
    let s = Sandbox::new();
    s.init_two_slots(&s.vault);
    s.set("A", b"v");
    // The second slot made as costly as leaves room for one slot of
    // 8 MiB × 1 pass: 2047 MiB × 16 passes (its parameters are bound to its
    // wrap, so PASS2 no longer opens it; PASS opens the first slot).
    let crafted = resealed(&s.vault_bytes(), PASS, |h| {
        // A later generation, as a write would make (not a fork).
        h.generation += 1;
        let SlotKindV2::Passphrase { params, .. } = &mut h.keys.slots[1].kind else {
            panic!("a passphrase slot")
        };
        *params = KdfParams {
            memory_kib: 2047 * 1024,
            time: 16,
            parallelism: 1,
        };
    });
    fs::write(&s.vault, &crafted).unwrap();
    assert_eq!(s.get("A"), b"v");
    let first = s.slot_ids("passphrase").remove(0);
    let add = |kdf: &[&str]| {
        s.with_pass(
            PASS,
            b"third pass\n",
            &["key", "add", "passphrase", "--new-passphrase-stdin"],
        )
        .args(kdf)
        .run()
    };
    // 8 MiB × 2 passes does not fit: exit 2, what is left and what fits.
    add(&["--kdf-memory", "8MiB", "--kdf-time", "2", "--kdf-parallelism", "1"])
        .code(2)
        .stderr_has("a passphrase slot of 8 MiB × 2 passes (16 MiB-passes of Argon2id work) does not fit in the vault's KDF budget")
        .stderr_has("may ask for 32 GiB-passes")
        .stderr_has("the others leave 8 MiB-passes")
        .stderr_has("--kdf-time 1");
    assert_eq!(s.vault_bytes(), crafted);
    // 8 MiB × 1 pass fits, exactly at the budget.
    add(&KDF).success().stderr_has("added passphrase slot");
    assert_eq!(s.get("A"), b"v");
    // The new slot, last in the file, is tried before the dear one.
    assert_eq!(
        s.with_pass("third pass", b"", &["get", "-n", "A"])
            .run()
            .success()
            .stdout,
        b"v"
    );
    // A new passphrase for the first slot at twice its cost: refused, the
    // slot it replaces left out of the count.
    let full = s.vault_bytes();
    s.with_pass(
        PASS,
        b"new pass\n",
        &["key", "passwd", &first, "--new-passphrase-stdin"],
    )
    .args(["--kdf-time", "2"])
    .run()
    .code(2)
    .stderr_has("the others leave 8 MiB-passes");
    assert_eq!(s.vault_bytes(), full);
    // init: a passphrase and a recovery code of 2 GiB × 9 passes each, two
    // slots over the budget together: refused before either KDF, no vault.
    let other = Sandbox::new();
    let out = other
        .with_pass(PASS, b"", &["init", "--recovery-code"])
        .args(["--kdf-memory", "2GiB", "--kdf-time", "9"])
        .run()
        .code(2)
        .stderr_has("does not fit in the vault's KDF budget")
        .stderr_has("the others leave 14 GiB-passes")
        .stderr_has("--kdf-time 7");
    assert!(out.stdout.is_empty(), "no recovery code printed");
    assert!(!other.vault.exists());
}

#[test]
fn a_passphrase_is_tried_cheapest_slot_first_or_on_the_slot_named_by_slot_alone() {
    let s = Sandbox::new();
    s.init_two_slots(&s.vault);
    s.set("A", b"v");
    let bytes = s.vault_bytes();
    let ids = s.slot_ids("passphrase");
    // The first slot made dear (2047 MiB × 16 passes; PASS no longer opens
    // it), and a keyring slot added: PASS2 opens the second slot at once,
    // the dear one never tried. Were it tried, Argon2 would need 2 GiB and
    // minutes, and this would time out.
    let dear = resealed(&bytes, PASS, |h| {
        h.generation += 1;
        let SlotKindV2::Passphrase { params, .. } = &mut h.keys.slots[0].kind else {
            panic!("a passphrase slot")
        };
        *params = KdfParams {
            memory_kib: 2047 * 1024,
            time: 16,
            parallelism: 1,
        };
        let mut keyring = h.keys.slots[0].clone();
        keyring.id = SlotId([0xab; 4]);
        keyring.kind = SlotKindV2::Keyring(keyring.kind.wrap().unwrap().clone());
        h.keys.slots.push(keyring);
    });
    fs::write(&s.vault, &dear).unwrap();
    for slot in [&[][..], &["--slot", &ids[1]]] {
        let out = s
            .with_pass(PASS2, b"", &["get", "-n", "A"])
            .args(slot)
            .run()
            .success();
        assert_eq!(out.stdout, b"v");
    }
    // --slot naming no slot, a keyring slot, or nothing like a slot: exit 2.
    s.with_pass(PASS2, b"", &["get", "A", "--slot", "deadbeef"])
        .run()
        .code(2)
        .stderr_has("no slot deadbeef");
    s.with_pass(PASS2, b"", &["get", "A", "--slot", "abababab"])
        .run()
        .code(2)
        .stderr_has("slot abababab is not a passphrase slot");
    s.with_pass(PASS2, b"", &["get", "A", "--slot", "ci"])
        .run()
        .code(2)
        .stderr_has("no slot labelled \"ci\"");
    s.with_pass(PASS2, b"", &["get", "A", "--slot", " ci"])
        .run()
        .code(2)
        .stderr_has("8 hex digits");
    // No passphrase: not the keyring, exit 3 saying how to give one.
    s.vault_cmd()
        .args(["--slot", &ids[1], "get", "A"])
        .run()
        .code(3)
        .stderr_has(&format!("--slot {}", ids[1]))
        .stderr_has("--passphrase-stdin");
    s.vault_cmd()
        .args(["--slot", "abababab", "list"])
        .run()
        .code(2)
        .stderr_has("not a passphrase slot");
    assert_eq!(s.vault_bytes(), dear);
    // Named, the passphrase is tried on that slot alone, also to write (on
    // a copy of the vault as it was, both slots cheap).
    let cheap = s.file("cheap.vault", &bytes);
    s.at(&cheap, PASS2, b"", &["get", "A", "--slot", &ids[0]])
        .run()
        .code(3)
        .stderr_has(WRONG);
    s.at(&cheap, PASS2, b"w", &["set", "A", "--slot", &ids[1]])
        .run()
        .success();
    s.at(
        &cheap,
        PASS,
        b"",
        &["key", "remove", &ids[1], "--slot", &ids[1]],
    )
    .run()
    .code(3)
    .stderr_has(WRONG);
    let out = s.at(&cheap, PASS, b"", &["get", "-n", "A"]).run().success();
    assert_eq!(out.stdout, b"w");
}

#[test]
fn key_remove_removes_a_slot_and_refuses_the_last_one() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    s.with_pass(
        PASS,
        b"other\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    let ids = s.slot_ids("passphrase");
    let (first, second) = (&ids[0], &ids[1]);
    // Malformed and unknown ids.
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["key", "remove", "xyz"])
        .run()
        .code(2);
    s.with_pass(PASS, b"", &["key", "remove", "deadbeef"])
        .run()
        .code(2)
        .stderr_has("deadbeef");
    assert_eq!(s.vault_bytes(), before);
    // Remove the second slot with the first passphrase.
    s.with_pass(PASS, b"", &["key", "remove", second])
        .run()
        .success()
        .stderr_has(second);
    assert_eq!(s.slot_ids("passphrase"), std::slice::from_ref(first));
    s.with_pass("other", b"", &["list"])
        .run()
        .code(3)
        .stderr_has(WRONG);
    assert_eq!(s.get("A"), b"v");
    // The last one stays.
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["key", "remove", first])
        .run()
        .code(2)
        .stderr_has("last slot");
    assert_eq!(s.vault_bytes(), before);
}

#[test]
fn key_passwd_old_passphrase_stops_working_and_new_one_works() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let id = s.slot_ids("passphrase").remove(0);
    // The current passphrase is the first line of stdin, the new one the second.
    s.with_pass(
        PASS,
        b"brand new\n",
        &["key", "passwd", &id, "--new-passphrase-stdin"],
    )
    .run()
    .success();
    s.with_pass(PASS, b"", &["list"])
        .run()
        .code(3)
        .stderr_has(WRONG);
    assert_eq!(
        s.with_pass("brand new", b"", &["get", "A"])
            .run()
            .success()
            .stdout,
        b"v\n"
    );
    // The slot keeps its id and (without --kdf-*) its parameters.
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(keys["slots"][0]["id"], id.as_str());
    assert_eq!(keys["slots"][0]["memory_kib"], 8192);
    // From a file, with new parameters.
    let f = s.file("newer", b"newer\n");
    s.with_pass(
        "brand new",
        b"",
        &["key", "passwd", &id, "--new-passphrase-file"],
    )
    .arg(&f)
    .args(["--kdf-memory", "10MiB"])
    .run()
    .success();
    s.with_pass("brand new", b"", &["list"]).run().code(3);
    s.with_pass("newer", b"", &["list"]).run().success();
    let keys = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(keys["slots"][0]["memory_kib"], 10240);
    // A parameter not given keeps the slot's value, not the default (t=3 p=4).
    assert_eq!(keys["slots"][0]["time"], 1);
    assert_eq!(keys["slots"][0]["parallelism"], 1);
    // Refused: empty new passphrase, bad KDF, unknown slot, wrong current.
    let before = s.vault_bytes();
    s.with_pass(
        "newer",
        b"\n",
        &["key", "passwd", &id, "--new-passphrase-stdin"],
    )
    .run()
    .code(2);
    s.with_pass(
        "newer",
        b"x\n",
        &["key", "passwd", &id, "--new-passphrase-stdin"],
    )
    .args(["--kdf-parallelism", "17"])
    .run()
    .code(2);
    s.with_pass(
        "newer",
        b"x\n",
        &["key", "passwd", "00000000", "--new-passphrase-stdin"],
    )
    .run()
    .code(2);
    s.with_pass(
        "wrong",
        b"x\n",
        &["key", "passwd", &id, "--new-passphrase-stdin"],
    )
    .run()
    .code(3);
    assert_eq!(s.vault_bytes(), before);
}

/// Version 2: every slot is re-wrapped to its public key, so one
/// passphrase rekeys a vault whose other slots' passphrases it does not
/// know; every slot opens afterwards, the old file is refused at this path
/// (its master key is retired), and a leaked slot goes only when named.
#[test]
fn rekey_needs_no_other_passphrase_and_drops_only_the_slots_named() {
    let s = Sandbox::new();
    s.init().set("A", b"v").set("B", b"w");
    s.with_pass(
        PASS,
        b"leaked\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    let ids = s.slot_ids("passphrase");
    let leaked = &ids[1];
    let before = s.vault_bytes();
    // Only the first slot's passphrase is given: both slots re-wrapped.
    s.with_pass(PASS, b"", &["rekey"])
        .run()
        .success()
        .stderr_has("new master key; re-wrapped 2 slot(s), dropped 0");
    let after = s.vault_bytes();
    assert_ne!(commitment(&after), commitment(&before), "a new master key");
    assert_eq!(s.slot_ids("passphrase"), ids);
    assert_eq!(s.get("A"), b"v");
    s.with_pass("leaked", b"", &["get", "-n", "B"])
        .run()
        .success()
        .stdout_has("w");
    // The file from before the rekey, put back: its key is retired here.
    fs::write(&s.vault, &before).unwrap();
    s.with_pass(PASS, b"", &["list"])
        .run()
        .code(4)
        .stderr_has("retired");
    fs::write(&s.vault, &after).unwrap();
    // Drop the leaked slot explicitly.
    s.with_pass(PASS, b"", &["rekey", "--drop", leaked])
        .run()
        .success()
        .stderr_has("re-wrapped 1 slot(s), dropped 1");
    assert_ne!(commitment(&s.vault_bytes()), commitment(&after));
    assert_eq!(s.slot_ids("passphrase"), &ids[..1]);
    s.with_pass("leaked", b"", &["list"]).run().code(3);
    assert_eq!(s.get("A"), b"v");
    assert_eq!(s.get("B"), b"w");
    // An unknown or malformed --drop is a usage error; dropping every slot too.
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["rekey", "--drop", "00000000"])
        .run()
        .code(2);
    s.with_pass(PASS, b"", &["rekey", "--drop", "zz"])
        .run()
        .code(2);
    s.with_pass(PASS, b"", &["rekey", "--drop", &ids[0]])
        .run()
        .code(2);
    s.with_pass("wrong", b"", &["rekey"]).run().code(3);
    assert_eq!(s.vault_bytes(), before);
}

/// A version-1 file's slots are legacy slots, wrapped under a symmetric key:
/// rekey still needs each one's passphrase (from a file here) or a --drop,
/// and converts the slots it re-wraps to version 2.
#[test]
fn rekey_needs_a_legacy_slots_passphrase_from_a_file_or_an_explicit_drop() {
    let s = Sandbox::new();
    let v1 = v1_with_second_slot(PASS2);
    fs::write(&s.vault, &v1).unwrap();
    let rekey = |args: &[&str]| s.with_pass(VECTOR_PASS, b"", &[&["rekey"], args].concat());
    // Not given: exit 2, naming the slot; nothing written.
    rekey(&[])
        .run()
        .code(2)
        .stderr_has(V1_SECOND_SLOT)
        .stderr_has("--drop");
    assert_eq!(s.vault_bytes(), v1);
    let wrong = s.file("wrong", b"not it\n");
    rekey(&["--other-passphrase-file"])
        .arg(&wrong)
        .run()
        .code(2)
        .stderr_has("--other-passphrase-file");
    assert_eq!(s.vault_bytes(), v1);
    // Given: both slots re-wrapped, now in their version-2 form.
    let second = s.file("second", format!("{PASS2}\n").as_bytes());
    rekey(&["--other-passphrase-file"])
        .arg(&second)
        .run()
        .success()
        .stderr_has("re-wrapped 2");
    let after = s.vault_bytes();
    assert_eq!(after[8..10], [0, 2], "written as version 2");
    let list = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    let slots = list["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 2);
    assert!(slots.iter().all(|sl| sl.get("legacy").is_none()), "{list}");
    for pass in [VECTOR_PASS, PASS2] {
        s.with_pass(pass, b"", &["get", "-n", VECTOR_SECRETS[0].0])
            .run()
            .success()
            .stdout_has(std::str::from_utf8(VECTOR_SECRETS[0].1).unwrap());
    }
    // Or dropped: the legacy slot's passphrase no longer opens the file.
    let copy = s.root().join("dropped.vault");
    fs::write(&copy, &v1).unwrap();
    s.at(
        &copy,
        VECTOR_PASS,
        b"",
        &["rekey", "--drop", V1_SECOND_SLOT],
    )
    .run()
    .success()
    .stderr_has("re-wrapped 1 slot(s), dropped 1");
    s.at(&copy, PASS2, b"", &["list"]).run().code(3);
    s.at(&copy, VECTOR_PASS, b"", &["list"]).run().success();
}

#[test]
fn rekey_with_every_passphrase_rewraps_all_slots_and_keeps_secrets() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    // A second slot with the same passphrase: one passphrase opens both.
    s.with_pass(
        PASS,
        format!("{PASS}\n").as_bytes(),
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    let before = s.vault_bytes();
    s.with_pass(PASS, b"", &["rekey"])
        .run()
        .success()
        .stderr_has("re-wrapped 2");
    let after = s.vault_bytes();
    assert_ne!(commitment(&after), commitment(&before));
    assert_eq!(s.slot_ids("passphrase").len(), 2);
    assert_eq!(s.get("A"), b"v");
    // The old body does not open under the new header: the keys changed.
    let mut franken = after[..header_end(&after)].to_vec();
    franken.extend_from_slice(&before[header_end(&before)..]);
    fs::write(&s.vault, &franken).unwrap();
    s.with_pass(PASS, b"", &["list"]).run().code(4);
}

/// The labels of the vault's slots, by id, from `key list --json`.
fn labels(s: &Sandbox) -> Vec<(String, Option<String>)> {
    let v = s
        .vault_cmd()
        .args(["key", "list", "--json"])
        .run()
        .success()
        .json();
    v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sl| {
            (
                sl["id"].as_str().unwrap().to_string(),
                sl["label"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn slots_get_labels_and_every_argument_naming_a_slot_takes_a_label() {
    let s = Sandbox::new();
    s.init();
    s.set("A", b"v");
    // A labelled slot, made with --label.
    s.with_pass(
        PASS,
        format!("{PASS2}\n").as_bytes(),
        &[
            "key",
            "add",
            "passphrase",
            "--new-passphrase-stdin",
            "--label",
            "CI nightly",
        ],
    )
    .args(KDF)
    .run()
    .success();
    let first = s.slot_ids("passphrase").remove(0);
    let ci = labels(&s)
        .into_iter()
        .find(|(_, l)| l.as_deref() == Some("CI nightly"))
        .expect("the new slot carries its label")
        .0;
    assert_ne!(first, ci);
    // key list shows it; --slot takes it.
    s.vault_cmd()
        .args(["key", "list"])
        .run()
        .success()
        .stdout_has("label \"CI nightly\"");
    let out = s
        .with_pass(PASS2, b"", &["--slot", "CI nightly", "get", "-n", "A"])
        .run()
        .success();
    assert_eq!(out.stdout, b"v");
    // The first slot labelled with `key label`; a taken label is refused.
    s.with_pass(PASS, b"", &["key", "label", &first, "recovery"])
        .run()
        .success();
    s.with_pass(PASS, b"", &["key", "label", "recovery", "CI nightly"])
        .run()
        .code(2)
        .stderr_has("labelled \"CI nightly\" already");
    // Labels the rule refuses never reach the vault: exit 2 from the
    // argument parser, nothing written.
    let before = s.vault_bytes();
    for bad in ["0a0b0c0d", "a\u{202e}b", " padded", &"x".repeat(65)] {
        s.with_pass(PASS, b"", &["key", "label", "recovery", bad])
            .run()
            .code(2);
    }
    assert_eq!(s.vault_bytes(), before);
    // passwd and remove by label; an unknown label is named.
    s.with_pass(
        PASS2,
        b"third passphrase\n",
        &["key", "passwd", "CI nightly", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .success();
    s.with_pass(PASS, b"", &["key", "remove", "no such label"])
        .run()
        .code(2)
        .stderr_has("no slot labelled \"no such label\"");
    s.with_pass(PASS, b"", &["key", "remove", "CI nightly"])
        .run()
        .success();
    assert_eq!(labels(&s), vec![(first.clone(), Some("recovery".into()))]);
    // --clear takes a label off.
    s.with_pass(PASS, b"", &["key", "label", "recovery", "--clear"])
        .run()
        .success();
    assert_eq!(labels(&s), vec![(first, None)]);
}

/// `init --label` names the first slot; `--recovery-code`'s slot is
/// "recovery", unless `--label` took that name.
#[test]
fn init_label_names_the_first_slot_and_the_recovery_slot_is_recovery() {
    let labels = |s: &Sandbox| -> Vec<Option<String>> {
        s.vault_cmd()
            .args(["key", "list", "--json"])
            .run()
            .success()
            .json()["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sl| sl["label"].as_str().map(String::from))
            .collect()
    };
    let s = Sandbox::new();
    s.with_pass(PASS, b"", &["init", "--label", "laptop"])
        .args(KDF)
        .run()
        .success()
        .stderr_has("\"laptop\"");
    assert_eq!(labels(&s), [Some("laptop".to_string())]);
    s.with_pass(PASS, b"", &["--slot", "laptop", "list"])
        .run()
        .success();
    let s = Sandbox::new();
    s.with_pass(PASS, b"", &["init", "--recovery-code", "--label", "me"])
        .args(KDF)
        .run()
        .success();
    assert_eq!(
        labels(&s),
        [Some("me".to_string()), Some("recovery".to_string())]
    );
    let s = Sandbox::new();
    s.with_pass(PASS, b"", &["init", "--recovery-code"])
        .args(KDF)
        .run()
        .success();
    assert_eq!(labels(&s), [None, Some("recovery".to_string())]);
    let s = Sandbox::new();
    s.with_pass(
        PASS,
        b"",
        &["init", "--recovery-code", "--label", "recovery"],
    )
    .args(KDF)
    .run()
    .success();
    assert_eq!(labels(&s), [Some("recovery".to_string()), None]);
    // A label that reads as an id: a usage error, no vault made.
    let s = Sandbox::new();
    s.with_pass(PASS, b"", &["init", "--label", "0a0b0c0d"])
        .args(KDF)
        .run()
        .code(2);
    assert!(!s.vault.exists());
}

/// A version-2 file that still carries version-1 (legacy) slots: doctor
/// names them and advises one `vault rekey`; after it, nothing is left to
/// advise.
#[test]
fn doctor_advises_one_rekey_while_legacy_slots_remain() {
    let s = Sandbox::new();
    fs::write(&s.vault, v1_with_second_slot(PASS2)).unwrap();
    let steps = |s: &Sandbox| {
        s.with_pass(VECTOR_PASS, b"", &["doctor", "--json"])
            .run()
            .success()
            .json()["next_steps"]
            .to_string()
    };
    assert!(steps(&s).contains("format version 1"), "{}", steps(&s));
    // The first write converts the slot that opened it; the other stays.
    s.with_pass(VECTOR_PASS, b"x", &["set", "NEW"])
        .run()
        .success();
    let advice = steps(&s);
    assert!(
        advice.contains(&format!(
            "slot {V1_SECOND_SLOT} still in its version-1 form"
        )),
        "{advice}"
    );
    assert!(advice.contains("run `vault rekey` once"), "{advice}");
    let second = s.file("second", format!("{PASS2}\n").as_bytes());
    s.with_pass(VECTOR_PASS, b"", &["rekey", "--other-passphrase-file"])
        .arg(&second)
        .run()
        .success();
    let advice = steps(&s);
    assert!(!advice.contains("version-1"), "{advice}");
}
