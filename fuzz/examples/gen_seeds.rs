//! Writes the seed corpora under a directory (default `fuzz/seeds`):
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds [DIR]`.
//!
//! The `open` seeds are the fixture vault sealed with a few bodies (they
//! open with the fixture key) and bare body plaintexts (the target seals
//! those itself); `parse` gets the sealed vaults; `body` the plaintexts;
//! `render` hand-written templates; `mask` streams for the fixed values.
//! Everything is deterministic, so rerunning rewrites identical files.

use std::fs;
use std::path::{Path, PathBuf};

use vault_fuzz::{body, fixture_header, seal};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).expect("create seed directory");
    fs::write(d.join(name), bytes).expect("write seed");
}

fn main() {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds")));

    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", body(&[])),
        ("one", body(&[("API_KEY", b"hunter22")])),
        (
            "several",
            body(&[
                ("A", b"alpha"),
                ("EMPTY", b""),
                ("MULTI", b"line1\nline2\r\n"),
                ("NUL", b"a\0b\xff"),
                ("_x9", b"${secrets.A}"),
            ]),
        ),
        // Decodes, but the name is invalid: unlock must refuse it (exit 4).
        ("badname", body(&[("9bad-name", b"v")])),
    ];
    let header = fixture_header();
    for (name, plain) in &bodies {
        let file = seal(&header, plain);
        write(&dir, "open", &format!("{name}.vault"), &file);
        write(&dir, "parse", &format!("{name}.vault"), &file);
        write(&dir, "open", &format!("{name}.body"), plain);
        write(&dir, "body", &format!("{name}.body"), plain);
    }
    // A header with one slot only, and one with the maximum generation.
    let mut one = header.clone();
    one.slots.truncate(1);
    one.generation = u64::MAX;
    write(&dir, "parse", "one-slot.vault", &seal(&one, &bodies[1].1));

    let templates: &[(&str, &[u8])] = &[
        ("plain", b"no placeholders at all\n"),
        ("simple", b"key = '${secrets.A}'\n"),
        (
            "mixed",
            b"a=${secrets.A}\r\nb=$${secrets.B} $$ $ ${HOME}\nc=${secrets.MULTI}${secrets.NESTED}\n",
        ),
        ("unknown", b"x ${secrets.NOPE} y"),
        ("escapes", b"$$${secrets.A}$${$${secrets.}${secrets._}"),
        ("empty-name", b"ok\n  ${secrets.}"),
        ("unclosed", b"${secrets.TOKEN_1\n}"),
        ("invalid", b"${secrets.9A} ${secrets.A-B}"),
        ("binary", b"\xff\xfe${secrets.BIN}\x00${secrets.EMPTY}"),
    ];
    for (name, t) in templates {
        write(&dir, "render", name, t);
    }
    let mut long = b"${secrets.".to_vec();
    long.extend(std::iter::repeat_n(b'N', 129));
    long.push(b'}');
    write(&dir, "render", "too-long", &long);

    // mask: byte 0 = mode (0: fixed values), then split count and lengths.
    let streams: &[(&str, &[u8])] = &[
        ("fixed-plain", b"\x00\x03\x01\x07\x00token: supersecret and abcdefghij.\n"),
        (
            "fixed-overlap",
            b"\x00\x02\x05\x0babcdefghij supersecre abcd xcdefghij ghp_0123456789abcdefXYZ 0123456789abcdef tok_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        (
            "fixed-pem",
            b"\x00\x01\x0d-----BEGIN KEY-----\r\nMIIEvQIBADANBgkq\r\nline-two-secret!\r\nshort\r\n-----END KEY-----\r\n-----BEGIN KEY-----\nMIIEvQIBADANBgkq\r\nline-two-secret!\nshort\n-----END KEY-----\n",
        ),
        // mode 1: two values from the input, "abcab" and "bcabcabc\nxyzxyzxyz".
        (
            "derived",
            b"\x01\x02\x05abcab\x12bcabcabc\nxyzxyzxyz\x02\x03\x01abcabcabcabxyzxyzxyzbcabcabc\n",
        ),
    ];
    for (name, s) in streams {
        write(&dir, "mask", name, s);
    }
    eprintln!("seeds written under {}", dir.display());
}
