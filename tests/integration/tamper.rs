//! What a damaged or hostile vault file does: every byte flipped, every
//! truncation, slots and bodies swapped between vaults, KDF parameters
//! beyond the bounds, an unknown version, an older copy put back (rollback),
//! and the committed vectors of `tests/vectors/` (a `fail_` prefix: must be
//! rejected). Always exit 3 or 4, never a panic, never partial output.

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, Instant};

use vault::format::v2::SlotKindV2;
use vault::format::{self, kdf, KdfParams, SlotId};

use crate::harness::*;

#[test]
fn wrong_passphrase_exits_3_with_the_same_message_as_a_tampered_passphrase_slot_and_a_damaged_age_file_exits_4(
) {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let wrong = s
        .with_pass("not the passphrase", b"", &["get", "A"])
        .run()
        .code(3)
        .stderr_has(WRONG);
    let bytes = s.vault_bytes();
    // The fields a passphrase slot opens with (the KDF salt, the sealed
    // identity): changed, the passphrase opens nothing, which is what a
    // wrong passphrase does too. The age file the identity decrypts is
    // another matter: once the passphrase opened the identity (sealed
    // under it, bound to the slot), an age file it cannot decrypt is
    // damage, exit 4, as a keyring slot's is. (The age file's first line
    // is a format rule, checked while parsing.)
    for (field, code) in [("salt", 3), ("identity", 3), ("age", 4)] {
        let r = own_slot_field(&bytes, field, 0);
        for at in [r.start, r.start + r.len() / 2, r.end - 1] {
            let mut t = bytes.clone();
            t[at] ^= 0x01;
            fs::write(&s.vault, &t).unwrap();
            let tampered = s.with_pass(PASS, b"", &["get", "A"]).run().code(code);
            match code {
                3 => assert_eq!(tampered.stderr, wrong.stderr, "{field} byte {at}"),
                _ => {
                    tampered.stderr_has("corrupt or has been tampered with");
                }
            }
        }
    }
}

/// The bytes of a passphrase slot's field (`"salt"`, `"identity"` or
/// `"age"`) in its `nth` slot that no parsing rule checks: changed, the
/// slot only fails to open. Of `"age"`, all but its first line
/// (`age-encryption.org/v1`, which the parser requires: exit 4).
fn own_slot_field(bytes: &[u8], field: &str, nth: usize) -> std::ops::Range<usize> {
    let r = bstr_value(bytes, field, nth);
    if field == "age" {
        return r.start + vault::format::v2::AGE_MAGIC.len()..r.end;
    }
    r
}

/// Every byte of a two-slot vault flipped two ways (xor 01 opened with the
/// first slot's passphrase, xor ff with the second's: either slot is the
/// one that opens), every truncation, and trailing bytes.
#[test]
fn every_flip_truncation_and_trailing_byte_of_a_two_slot_vault_is_detected() {
    let start = Instant::now();
    let s = Sandbox::new();
    s.init_two_slots(&s.vault);
    s.set("A", b"attack-secret-value");
    let bytes = s.vault_bytes();
    assert_eq!(s.slot_ids("passphrase").len(), 2);
    // Both passphrases open the original.
    for p in [PASS, PASS2] {
        assert_eq!(
            s.with_pass(p, b"", &["get", "-n", "A"])
                .run()
                .success()
                .stdout,
            b"attack-secret-value"
        );
    }
    let wrong = s
        .with_pass("wrong", b"", &["get", "A"])
        .run()
        .code(3)
        .stderr
        .replace(&s.vault.display().to_string(), "VAULT");
    let header_end = header_end(&bytes);
    // The salt and sealed identity of the slot each passphrase opens:
    // changed, the slot yields no master key (a wrong passphrase). Its age
    // file changed is damage (exit 4, below).
    let own = |slot: usize| {
        let fields = ["salt", "identity"].map(|f| own_slot_field(&bytes, f, slot));
        move |i: usize| fields.iter().any(|r| r.contains(&i))
    };
    let (own0, own1) = (own(0), own(1));
    let own_len: usize = ["salt", "identity"]
        .iter()
        .flat_map(|f| {
            [
                own_slot_field(&bytes, f, 0).len(),
                own_slot_field(&bytes, f, 1).len(),
            ]
        })
        .sum();
    // Once a slot yields the master key, anything else changed is
    // corruption: the other slot (the MAC covers it), the key block after
    // the slots (commitments, sealed body key) and the MAC itself.
    let slots = slot_ranges(&bytes);
    let after_slots = slots[1].end..bstr_value(&bytes, "mac", 0).end;
    let mut variants = Vec::new();
    for i in 0..bytes.len() {
        for (x, pass) in [(0x01u8, PASS), (0xff, PASS2)] {
            let mut b = bytes.clone();
            b[i] ^= x;
            variants.push((format!("flip {i}^{x:02x}"), pass, b));
        }
    }
    let flips = variants.len();
    for n in 0..bytes.len() {
        variants.push((format!("truncate to {n}"), PASS, bytes[..n].to_vec()));
    }
    for extra in [&b"\x00"[..], b"\xff", b"\x00\x00\x00\x00"] {
        let mut b = bytes.clone();
        b.extend_from_slice(extra);
        variants.push((format!("{} trailing byte(s)", extra.len()), PASS, b));
    }
    // open_variants asserts that nothing reaches stdout.
    let results = s.open_variants(variants);
    let tried = results.len();
    let mut codes: BTreeMap<i32, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    for (label, code, stderr) in &results {
        *codes.entry(*code).or_default() += 1;
        if !(*code == 3 || *code == 4) {
            bad.push(format!("{label}: exit {code}: {stderr}"));
            continue;
        }
        if *code == 3 {
            // Exit 3 only ever says "wrong passphrase", the same way.
            assert_eq!(stderr, &wrong, "{label}");
        } else {
            assert!(
                stderr.contains("corrupt or has been tampered with")
                    || stderr.contains("format version"),
                "{label}: {stderr}"
            );
        }
        if let Some(flip) = label.strip_prefix("flip ") {
            let (i, x) = flip.split_once('^').unwrap();
            let i: usize = i.parse().unwrap();
            // Magic, version, header length and the body ciphertext: always 4.
            if i < PREFIX_LEN || i >= header_end {
                assert_eq!(*code, 4, "{label}: {stderr}");
            }
            // The salt and the sealed identity of the slot the passphrase
            // opens cannot be told from a wrong passphrase.
            if (x == "01" && own0(i)) || (x == "ff" && own1(i)) {
                assert_eq!(*code, 3, "{label}: {stderr}");
            }
            // Its age file, once the identity opened, is damage.
            let own_age = bstr_value(&bytes, "age", if x == "01" { 0 } else { 1 });
            if own_age.contains(&i) {
                assert_eq!(*code, 4, "{label}: {stderr}");
            }
            let other = if x == "01" { &slots[1] } else { &slots[0] };
            let magic = |n| {
                let age = bstr_value(&bytes, "age", n);
                age.start..age.start + vault::format::v2::AGE_MAGIC.len()
            };
            if after_slots.contains(&i)
                || other.contains(&i)
                || magic(0).contains(&i)
                || magic(1).contains(&i)
            {
                assert_eq!(*code, 4, "{label}: {stderr}");
            }
        } else {
            // A cut or a longer file is never taken for a wrong passphrase.
            assert_eq!(*code, 4, "{label}: {stderr}");
            assert!(
                stderr.contains("corrupt or has been tampered with"),
                "{label}: {stderr}"
            );
        }
    }
    let threes = codes.get(&3).copied().unwrap_or(0);
    assert!(threes >= own_len, "only {threes} exit 3");
    let detected = tried - bad.len();
    figure(&format!(
        "attack: two-slot vault of {} bytes: tried {tried} ({flips} byte flips, {} truncations, 3 trailing), \
         detected {detected}; exit codes {codes:?}; {:?}",
        bytes.len(),
        bytes.len(),
        start.elapsed()
    ));
    assert!(bad.is_empty(), "undetected: {bad:#?}");
    // The untouched file still opens.
    assert_eq!(s.get("A"), b"attack-secret-value");
}

#[test]
fn unsupported_version_exits_4_and_names_the_version() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let bytes = s.vault_bytes();
    assert_eq!(&bytes[8..10], &[0, 2]);
    // Neither 1 nor 2 (a version-2 header read as version 1 is simply
    // corrupt); version 1 files are tests/vectors/ok_passphrase.vault.
    for v in [0u16, 3, 0x0100, 0xffff] {
        let mut b = bytes.clone();
        b[8..10].copy_from_slice(&v.to_be_bytes());
        fs::write(&s.vault, &b).unwrap();
        let out = s
            .with_pass(PASS, b"", &["get", "A"])
            .run()
            .code(4)
            .stderr_has(&format!("format version {v},"))
            .stderr_has("newer vault");
        if v == 3 {
            figure(&format!(
                "attack: version 3: exit 4: {}",
                out.stderr
                    .lines()
                    .next()
                    .unwrap()
                    .replace(&s.root().display().to_string(), "$DIR")
            ));
        }
        // The header is not trusted either: key list refuses too.
        s.vault_cmd()
            .args(["key", "list"])
            .run()
            .code(4)
            .stderr_has(&format!("version {v}"));
    }
}

/// A small vault (~900 bytes, most of it the slot's age file) with one
/// passphrase slot and one secret.
fn small_vault() -> (Sandbox, Vec<u8>) {
    let s = Sandbox::new();
    s.init().set("A", b"value");
    let bytes = s.vault_bytes();
    assert!(bytes.len() < 1200, "{} bytes", bytes.len());
    (s, bytes)
}

#[test]
fn writes_refuse_a_corrupt_vault_and_leave_it_as_it_was() {
    let (s, mut bytes) = small_vault();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&s.vault, &bytes).unwrap();
    s.with_pass(PASS, b"new", &["set", "B"]).run().code(4);
    s.with_pass(PASS, b"", &["delete", "A"]).run().code(4);
    s.with_pass(PASS, b"", &["rekey"]).run().code(4);
    s.with_pass(
        PASS,
        b"x\n",
        &["key", "add", "passphrase", "--new-passphrase-stdin"],
    )
    .args(KDF)
    .run()
    .code(4);
    assert_eq!(s.vault_bytes(), bytes);
}

/// The byte range of each slot map in the header: each starts with its
/// map head, then `62 69 64 44` ("id", 4 bytes; the vault id has 16); the
/// last ends where the key block's "master" key starts.
fn slot_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let end = header_end(bytes);
    let starts: Vec<usize> = find_all(&bytes[..end], &[0x62, 0x69, 0x64, 0x44])
        .map(|i| i - 1)
        .collect();
    let master = find_one(&bytes[..end], b"\x66master");
    let mut out = Vec::new();
    for (k, s) in starts.iter().enumerate() {
        out.push(*s..starts.get(k + 1).copied().unwrap_or(master));
    }
    out
}

/// `bytes` with `range` of its header replaced by `with`, the header
/// length field adjusted (a slot's age file varies in length).
fn spliced(bytes: &[u8], range: std::ops::Range<usize>, with: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let delta = with.len() as i64 - range.len() as i64;
    out.splice(range, with.iter().copied());
    adjust_header_len(&mut out, delta);
    out
}

#[test]
fn slot_or_body_swapped_between_vaults_with_the_same_passphrases_is_detected() {
    let s = Sandbox::new();
    let y_path = s.root().join("y.vault");
    s.init_two_slots(&s.vault);
    s.init_two_slots(&y_path);
    s.set("A", b"x-value");
    s.at(&y_path, PASS, b"y-value", &["set", "A"])
        .run()
        .success();
    let x = s.vault_bytes();
    let y = fs::read(&y_path).unwrap();
    let (xs, ys) = (slot_ranges(&x), slot_ranges(&y));
    assert_eq!(xs.len(), 2);
    assert_eq!(ys.len(), 2);
    let mut variants = Vec::new();
    for k in 0..2 {
        let b = spliced(&x, xs[k].clone(), &y[ys[k].clone()]);
        for pass in [PASS, PASS2] {
            variants.push((
                format!("slot {k} of y in x, opened with {pass:?}"),
                pass,
                b.clone(),
            ));
        }
    }
    let both = spliced(&x, xs[0].start..xs[1].end, &y[ys[0].start..ys[1].end]);
    variants.push(("both slots of y in x".into(), PASS, both));
    // y's whole key block (slots, commitments, sealed body key) and its
    // MAC, consistent with each other: y's slots still name y's vault id.
    let key_block =
        |b: &[u8]| find_one(&b[..header_end(b)], b"\x64keys")..bstr_value(b, "mac", 0).end;
    let keys = spliced(&x, key_block(&x), &y[key_block(&y)]);
    variants.push(("key block and MAC of y in x".into(), PASS, keys));
    let mut body = x[..header_end(&x)].to_vec();
    body.extend_from_slice(&y[header_end(&y)..]);
    let mut header = y[..header_end(&y)].to_vec();
    header.extend_from_slice(&x[header_end(&x)..]);
    for pass in [PASS, PASS2] {
        variants.push((
            format!("body of y under x's header, {pass:?}"),
            pass,
            body.clone(),
        ));
        variants.push((
            format!("header of y over x's body, {pass:?}"),
            pass,
            header.clone(),
        ));
    }
    let results = s.open_variants(variants);
    let mut results = results;
    results.sort();
    let mut lines = Vec::new();
    for (label, code, stderr) in &results {
        assert!(*code == 3 || *code == 4, "{label}: exit {code}: {stderr}");
        lines.push(format!("{label}: exit {code}"));
    }
    // A slot of y is bound to y's vault id (its sealed identity's AAD):
    // in x its own passphrase cannot open it, as if wrong (exit 3), alone
    // or with the rest of y's key block. Any
    // other swap passes a slot of x's, or y's whole header, and then
    // fails: the MAC over the slots and the vault id, or the body's
    // authentication. Corrupt: exit 4.
    for (label, code, stderr) in &results {
        let own_slot_moved = label.starts_with("both slots")
            || label.starts_with("key block")
            || (label.starts_with("slot 0") && label.ends_with(&format!("{PASS:?}")))
            || (label.starts_with("slot 1") && label.ends_with(&format!("{PASS2:?}")));
        if own_slot_moved {
            assert_eq!(*code, 3, "{label}: {stderr}");
        } else {
            assert_eq!(*code, 4, "{label}: {stderr}");
            assert!(
                stderr.contains("corrupt or has been tampered with"),
                "{label}: {stderr}"
            );
        }
    }
    figure(&format!(
        "attack: swaps between two vaults with the same passphrases: {} tried, {} detected ({})",
        results.len(),
        results.len(),
        lines.join("; ")
    ));
}

/// `bytes` with the only occurrence of `from` in the header replaced by `to`.
fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = find_one(&bytes[..header_end(bytes)], from);
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&bytes[at + from.len()..]);
    out
}

/// Adds `delta` to the header length field (bytes 10..14).
fn adjust_header_len(bytes: &mut [u8], delta: i64) {
    let h = u32::from_be_bytes(bytes[10..14].try_into().unwrap()) as i64 + delta;
    bytes[10..14].copy_from_slice(&(h as u32).to_be_bytes());
}

#[test]
fn kdf_parameters_beyond_the_bounds_in_a_header_are_refused_before_any_kdf_work() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let bytes = s.vault_bytes();
    let normal = s
        .with_pass(PASS, b"", &["get", "A"])
        .run()
        .success()
        .elapsed;
    // m = 8192 KiB is `61 6d 19 20 00`; 4 GiB = 4194304 KiB needs the
    // 4-byte form `1a 00 40 00 00`, two bytes longer: canonical CBOR, with
    // the header length adjusted, so only the bound can refuse it.
    let mut m4g = replace_bytes(
        &bytes,
        &[0x61, 0x6d, 0x19, 0x20, 0x00],
        &[0x61, 0x6d, 0x1a, 0x00, 0x40, 0x00, 0x00],
    );
    adjust_header_len(&mut m4g, 2);
    let t17 = replace_bytes(&bytes, &[0x61, 0x74, 0x01], &[0x61, 0x74, 0x11]);
    let p0 = replace_bytes(&bytes, &[0x61, 0x70, 0x01], &[0x61, 0x70, 0x00]);
    let m4k = replace_bytes(
        &bytes,
        &[0x61, 0x6d, 0x19, 0x20, 0x00],
        &[0x61, 0x6d, 0x19, 0x10, 0x00],
    );
    let cases = [
        (
            "memory 4 GiB",
            m4g,
            "KDF memory 4 GiB is outside 8 MiB to 2 GiB",
        ),
        ("time 17", t17, "KDF time 17 is outside 1 to 16"),
        ("parallelism 0", p0, "KDF parallelism 0 is outside 1 to 16"),
        (
            "memory 4 MiB",
            m4k,
            "KDF memory 4 MiB is outside 8 MiB to 2 GiB",
        ),
    ];
    for (what, b, msg) in cases {
        fs::write(&s.vault, &b).unwrap();
        let t = Instant::now();
        let out = s.with_pass(PASS, b"", &["get", "A"]).run();
        let took = t.elapsed();
        let out = out.code(4).stderr_has(msg).stderr_has("corrupt");
        assert!(took < Duration::from_secs(1), "{what}: took {took:?}");
        figure(&format!(
            "attack: header with KDF {what}: exit 4 in {:.1} ms (a normal open with 8 MiB: {:.1} ms): {}",
            took.as_secs_f64() * 1e3,
            normal.as_secs_f64() * 1e3,
            out.stderr.lines().next().unwrap().replace(&s.root().display().to_string(), "$DIR")
        ));
    }
}

#[test]
fn passphrase_slots_beyond_the_kdf_budget_together_are_refused_before_any_kdf_work() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let bytes = s.vault_bytes();
    // The most slots, each at the per-slot bounds (2 GiB, 16 passes): each
    // alone is allowed, together they ask for eight times the budget. Were
    // any Argon2 run, it would take 2 GiB and many seconds.
    let top = KdfParams {
        memory_kib: *kdf::MEMORY_KIB.end(),
        time: *kdf::TIME.end(),
        parallelism: 1,
    };
    let crafted = resealed(&bytes, PASS, |h| {
        let mut slot = h.keys.slots[0].clone();
        let SlotKindV2::Passphrase { params, .. } = &mut slot.kind else {
            panic!("a passphrase slot")
        };
        *params = top;
        h.keys.slots = (0..format::MAX_SLOTS as u8)
            .map(|n| {
                let mut s = slot.clone();
                s.id = SlotId([n; 4]);
                s
            })
            .collect();
    });
    fs::write(&s.vault, &crafted).unwrap();
    for args in [&["get", "A"][..], &["set", "A"], &["key", "list"]] {
        let out = s
            .with_pass(PASS, b"w", args)
            .run()
            .code(4)
            .stderr_has("corrupt or has been tampered with")
            .stderr_has("ask for more Argon2id work than the KDF budget of 32 GiB-passes")
            .stderr_has("2 GiB × 16 passes")
            .stderr_has("refused before any key derivation");
        if args[0] == "get" {
            figure(&format!(
                "attack: 8 passphrase slots at 2 GiB × 16 passes: exit 4: {}",
                out.stderr
                    .lines()
                    .next()
                    .unwrap()
                    .replace(&s.root().display().to_string(), "$DIR")
            ));
        }
    }
    assert_eq!(s.vault_bytes(), crafted);
}

#[test]
fn a_generation_past_the_bound_is_corrupt_and_the_last_one_is_never_written_past() {
    let s = Sandbox::new();
    s.init().set("A", b"v");
    let bytes = s.vault_bytes();
    // At the bound: it opens, but no write can follow, and none is made.
    let last = resealed(&bytes, PASS, |h| h.generation = format::MAX_GENERATION);
    fs::write(&s.vault, &last).unwrap();
    assert_eq!(s.get("A"), b"v");
    s.with_pass(PASS, b"w", &["set", "A"])
        .run()
        .code(4)
        .stderr_has(&format!("generation {}", format::MAX_GENERATION))
        .stderr_has("the highest a vault can have");
    assert_eq!(s.vault_bytes(), last, "a refused write changed the file");
    // Past it (the first value out, 2^63, and the largest u64): corrupt,
    // before any key work, for readers, writers and `key list` alike.
    for g in [format::MAX_GENERATION + 1, 1 << 63, u64::MAX] {
        let past = resealed(&bytes, PASS, |h| h.generation = g);
        fs::write(&s.vault, &past).unwrap();
        for args in [&["get", "A"][..], &["set", "A"], &["key", "list"]] {
            s.with_pass(PASS, b"w", args)
                .run()
                .code(4)
                .stderr_has("corrupt")
                .stderr_has("generation out of bounds");
        }
        assert_eq!(s.vault_bytes(), past);
    }
}

#[test]
fn an_older_copy_is_refused_as_a_rollback_until_accepted_and_a_fresh_home_cannot_see_it() {
    let s = Sandbox::new();
    s.init().set("A", b"one");
    let old = s.vault_bytes();
    let g_old = s.generation(&s.vault);
    s.set("A", b"two").set("A", b"three");
    let g_new = s.generation(&s.vault);
    assert_eq!(g_new, g_old + 2);
    let newest = s.vault_bytes();
    // The memory of this path holds the newest generation.
    assert_eq!(s.remembered_generation(&s.vault), Some(g_new));
    // Restore the old copy: refused, naming both generations and the way out.
    fs::write(&s.vault, &old).unwrap();
    for args in [&["get", "A"][..], &["set", "A"], &["list"]] {
        let out = s
            .with_pass(PASS, b"x", args)
            .run()
            .code(4)
            .stderr_has(&format!(
                "generation {g_old}, older than generation {g_new}"
            ))
            .stderr_has("--allow-rollback");
        if args[0] == "get" {
            figure(&format!(
                "rollback: exit 4: {}",
                out.stderr
                    .replace(&s.root().display().to_string(), "$DIR")
                    .trim()
            ));
        }
    }
    assert_eq!(s.vault_bytes(), old, "a refused write changed the file");
    // A fresh HOME (no memory, like a new CI runner) cannot tell.
    let fresh = s.root().join("fresh-home");
    fs::create_dir(&fresh).unwrap();
    let out = s
        .with_pass(PASS, b"", &["get", "A"])
        .env("HOME", &fresh)
        .run()
        .success();
    assert_eq!(
        out.stdout, b"one\n",
        "a fresh HOME opens the rolled-back file"
    );
    // Accepted deliberately: opens, and the memory is lowered to it.
    let out = s
        .with_pass(PASS, b"", &["get", "A", "--allow-rollback"])
        .run()
        .success();
    assert_eq!(out.stdout, b"one\n");
    assert_eq!(s.remembered_generation(&s.vault), Some(g_old));
    assert_eq!(
        s.get("A"),
        b"one",
        "the old generation is accepted from now on"
    );
    // Writing from there goes on from the old generation; the newer copy
    // is still newer than what is remembered, so it opens too.
    s.set("A", b"four");
    assert_eq!(s.generation(&s.vault), g_old + 1);
    fs::write(&s.vault, &newest).unwrap();
    assert_eq!(s.get("A"), b"three");
    assert_eq!(s.remembered_generation(&s.vault), Some(g_new));
    figure(&format!(
        "rollback: generation {g_old} refused after {g_new} was seen (exit 4); \
         --allow-rollback opens it and lowers the memory to {g_old}; a fresh HOME opens it unnoticed"
    ));
}

#[test]
fn vector_ok_passphrase_still_opens_with_its_documented_contents() {
    // Version 1 (a legacy slot) and version 2, the same passphrase and contents.
    for (file, version) in [("ok_passphrase.vault", 1u16), ("ok_v2_passphrase.vault", 2)] {
        let s = Sandbox::new();
        fs::copy(vectors_dir().join(file), &s.vault).unwrap();
        assert_eq!(s.vault_bytes()[8..10], version.to_be_bytes(), "{file}");
        let names = s
            .with_pass(VECTOR_PASS, b"", &["list"])
            .run()
            .success()
            .stdout_lines();
        let want: Vec<&str> = VECTOR_SECRETS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, want, "{file}");
        for (name, value) in VECTOR_SECRETS {
            let out = s
                .with_pass(VECTOR_PASS, b"", &["get", "-n", name])
                .run()
                .success();
            assert_eq!(out.stdout, value, "{file}: {name}");
        }
        let keys = s
            .vault_cmd()
            .args(["key", "list", "--json"])
            .run()
            .success()
            .json();
        let slots = keys["slots"].as_array().unwrap();
        assert_eq!(slots.len(), 1, "{file}");
        assert_eq!(slots[0]["memory_kib"], 8192, "{file}");
        s.with_pass("not it", b"", &["list"]).run().code(3);
        // Reading never rewrites it.
        assert_eq!(s.vault_bytes(), fs::read(vectors_dir().join(file)).unwrap());
    }
    // The README documents the passphrase and every secret.
    let readme = fs::read_to_string(vectors_dir().join("README.md")).unwrap();
    assert!(readme.contains(VECTOR_PASS));
    for (name, _) in VECTOR_SECRETS {
        assert!(readme.contains(name), "README lacks {name}");
    }
}

/// The rows of the `fail_*` table in `tests/vectors/README.md`:
/// file name, expected exit code, text stderr must contain.
fn documented_fail_vectors() -> Vec<(String, i32, String)> {
    let readme = fs::read_to_string(vectors_dir().join("README.md")).unwrap();
    readme
        .lines()
        .filter(|l| l.starts_with("| `fail_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_string();
            let code = cells[2]
                .parse()
                .unwrap_or_else(|_| panic!("exit code in {l}"));
            let needle = cells[3].trim_matches('`').to_string();
            (name, code, needle)
        })
        .collect()
}

#[test]
fn every_fail_vector_is_rejected_with_its_documented_exit_code() {
    let documented = documented_fail_vectors();
    let mut on_disk: Vec<String> = fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("fail_"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = documented.iter().map(|(n, _, _)| n.clone()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "fail_* files and the README table differ");
    assert!(listed.len() >= 10);
    let s = Sandbox::new();
    for (name, code, needle) in documented {
        let path = vectors_dir().join(&name);
        let before = fs::read(&path).unwrap();
        for args in [&["get", "API_TOKEN"][..], &["list"]] {
            let out = s
                .cmd()
                .arg("--vault")
                .arg(&path)
                .arg("--passphrase-stdin")
                .args(args)
                .stdin(format!("{VECTOR_PASS}\n"))
                .run();
            let out = out.code(code);
            if !needle.is_empty() {
                out.stderr_has(&needle);
            }
        }
        assert_eq!(fs::read(&path).unwrap(), before, "{name} was modified");
    }
}
