//! Writes the committed test vectors of `tests/vectors/`: every version-1
//! `fail_*.vault`, each one byte edit of the committed version-1
//! `ok_passphrase.vault` (kept as it is: no build writes version 1 any
//! more), and `ok_v2_passphrase.vault` (made with the real `vault` binary,
//! `init` and `set`) with its `fail_v2_*.vault` edits, all as documented in
//! `tests/vectors/README.md`. The tests only read these files; run this
//! through `scripts/make-vectors.sh` (it builds the binary first) only when
//! the format changes on purpose, then commit.
//!
//! Usage: `make_vectors VAULT_BINARY OUT_DIR`

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

// The same byte searches as the tamper tests.
#[allow(dead_code)]
#[path = "../tests/integration/bytes.rs"]
mod bytes;

use bytes::{bstr_field, bstr_value, find_one, header_end, PREFIX_LEN};

/// The passphrase of `ok_passphrase.vault` (README there).
const VECTOR_PASS: &str = "vault test vector v1";

/// The contents of `ok_passphrase.vault` (README there).
const VECTOR_SECRETS: [(&str, &[u8]); 4] = [
    ("API_TOKEN", b"tok_live_0123456789abcdef"),
    ("BINARY", b"\x00\x01\x02\xff\xfe\n\x00"),
    ("EMPTY", b""),
    ("MULTI_LINE", b"line one\nline two\n"),
];

/// Runs `vault --vault VAULT --passphrase-stdin ARGS` with the passphrase
/// and then `rest` on stdin, in a clean environment whose HOME is `home`
/// (so neither the caller's keyring nor its rollback memory is touched).
fn vault(bin: &Path, home: &Path, vault: &Path, args: &[&str], rest: &[u8]) {
    let mut child = Command::new(bin)
        .env_clear()
        .env("HOME", home)
        .arg("--vault")
        .arg(vault)
        .arg("--passphrase-stdin")
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{VECTOR_PASS}\n").as_bytes())
        .unwrap();
    stdin.write_all(rest).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "vault {args:?}: {status}");
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let [_, bin, dir] = &argv[..] else {
        eprintln!("usage: make_vectors VAULT_BINARY OUT_DIR");
        std::process::exit(2);
    };
    let (bin, dir) = (Path::new(bin), Path::new(dir));
    // Every write is version 2 now: the version-1 vectors are byte edits of
    // the committed version-1 `ok_passphrase.vault`, which no build can
    // write again (so it is read, never remade).
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/ok_passphrase.vault");
    let ok = fs::read(&committed).unwrap_or_else(|e| panic!("{}: {e}", committed.display()));
    assert_eq!(&ok[8..10], &[0, 1], "ok_passphrase.vault is version 1");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ok.vault");
    vault(
        bin,
        tmp.path(),
        &path,
        &[
            "init",
            "--kdf-memory",
            "8MiB",
            "--kdf-time",
            "1",
            "--kdf-parallelism",
            "1",
        ],
        b"",
    );
    for (name, value) in VECTOR_SECRETS {
        let mut args = vec!["set", "--raw", name];
        if value.is_empty() {
            args.push("--allow-empty");
        }
        vault(bin, tmp.path(), &path, &args, value);
    }
    let ok2 = fs::read(&path).unwrap();
    assert_eq!(&ok2[8..10], &[0, 2], "the binary writes version 2");

    fs::create_dir_all(dir).unwrap();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().ends_with(".vault") {
            fs::remove_file(e.path()).unwrap();
        }
    }
    let header_end = header_end(&ok);
    let write = |name: &str, bytes: &[u8]| fs::write(dir.join(name), bytes).unwrap();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = ok.clone();
        f(&mut b);
        b
    };
    write("ok_passphrase.vault", &ok);
    write("fail_empty.vault", b"");
    write("fail_bad_magic.vault", &edit(&|b| b[1] = b'V'));
    write(
        "fail_truncated_in_header.vault",
        &ok[..PREFIX_LEN + (header_end - PREFIX_LEN) / 2],
    );
    write("fail_truncated_body.vault", &ok[..ok.len() - 1]);
    write(
        "fail_flipped_body_byte.vault",
        &edit(&|b| b[header_end + 3] ^= 0x01),
    );
    write(
        "fail_flipped_header_byte.vault",
        // The body nonce: the header still parses, the body's AAD check fails.
        &edit(&|b| {
            let r = bstr_field(&ok, "nonce", 24, 1);
            b[r.start + 5] ^= 0x01;
        }),
    );
    write(
        "fail_flipped_salt_byte.vault",
        &edit(&|b| {
            let r = bstr_field(&ok, "salt", 16, 0);
            b[r.start] ^= 0x01;
        }),
    );
    write(
        "fail_unknown_version.vault",
        // Neither 1 nor 2: a version this build does not know.
        &edit(&|b| b[8..10].copy_from_slice(&3u16.to_be_bytes())),
    );
    write("fail_trailing_byte.vault", &edit(&|b| b.push(0)));
    write(
        "fail_header_length_too_large.vault",
        &edit(&|b| b[10..14].copy_from_slice(&(64 * 1024 + 1u32).to_be_bytes())),
    );
    write(
        "fail_header_length_past_end.vault",
        &edit(&|b| b[10..14].copy_from_slice(&(60_000u32).to_be_bytes())),
    );
    // m = 8192 KiB (CBOR 0x19 0x2000) becomes m = 4 GiB = 4194304 KiB
    // (CBOR 0x1a 0x00400000), two bytes longer: the header length grows by 2
    // and the header is still canonical CBOR, so only the bound rejects it.
    let kdf = |m_cbor: &[u8]| {
        let mut b = ok[..header_end].to_vec();
        let at = find_one(&b, b"\x61m\x19\x20\x00");
        b.splice(at + 2..at + 5, m_cbor.iter().copied());
        let hlen = (b.len() - PREFIX_LEN) as u32;
        b[10..14].copy_from_slice(&hlen.to_be_bytes());
        b.extend_from_slice(&ok[header_end..]);
        b
    };
    write("fail_kdf_memory_4gib.vault", &kdf(b"\x1a\x00\x40\x00\x00"));
    write("fail_kdf_memory_4mib.vault", &kdf(b"\x19\x10\x00"));
    write(
        "fail_kdf_time_17.vault",
        &edit(&|b| {
            let at = find_one(&ok[..header_end], b"\x61t\x01");
            b[at + 2] = 17;
        }),
    );
    write(
        "fail_header_not_canonical.vault",
        // generation as a two-byte integer: the same number, another encoding.
        &{
            let mut b = ok[..header_end].to_vec();
            let at = find_one(&b, b"generation");
            let g = b[at + 10];
            assert!(g < 24, "small generation");
            b.splice(at + 10..at + 11, [0x18, g]);
            let hlen = (b.len() - PREFIX_LEN) as u32;
            b[10..14].copy_from_slice(&hlen.to_be_bytes());
            b.extend_from_slice(&ok[header_end..]);
            b
        },
    );
    // Version 2: one byte of a field flipped. The slot's sealed identity
    // and age file yield no master key (a wrong passphrase); the MAC, the
    // master-key commitment and the sealed body key fail once it is known.
    write("ok_v2_passphrase.vault", &ok2);
    let flip2 = |field: &str| {
        let mut b = ok2.clone();
        let r = bstr_value(&ok2, field, 0);
        b[r.start + r.len() / 2] ^= 0x01;
        b
    };
    write("fail_v2_flipped_identity_byte.vault", &flip2("identity"));
    write("fail_v2_flipped_age_byte.vault", &flip2("age"));
    write("fail_v2_flipped_mac_byte.vault", &flip2("mac"));
    write("fail_v2_flipped_master_byte.vault", &flip2("master"));
    write("fail_v2_flipped_body_key_byte.vault", &flip2("body_key"));
    eprintln!("wrote the test vectors to {}", dir.display());
}
