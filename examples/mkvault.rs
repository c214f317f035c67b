//! Fills an existing vault with many secrets in one write, for
//! `benches/compare.sh` (100 000 `vault set` calls would rewrite the file
//! 100 000 times).
//!
//! `cargo run --release --example mkvault -- VAULT PASSPHRASE-FILE N` opens
//! VAULT (which has a passphrase slot) with the passphrase in
//! PASSPHRASE-FILE (one trailing newline removed), adds N secrets
//! `BULK_<27 digits>` (32-byte names) with 64-byte values, and replaces the
//! file atomically.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use vault::store;
use vault::vault::{Credential, LockedVault};
use vault::SecretBytes;

fn value(i: usize) -> Vec<u8> {
    // 64 printable bytes, so `vault get` prints them as they are.
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..64)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(x % 64) as usize]
        })
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let [file, passfile, n] = &args[..] else {
        eprintln!("usage: mkvault VAULT PASSPHRASE-FILE N");
        return ExitCode::from(2);
    };
    let Some(n) = n.to_str().and_then(|n| n.parse::<usize>().ok()) else {
        eprintln!("mkvault: N must be a number");
        return ExitCode::from(2);
    };
    let (path, passfile) = (PathBuf::from(file), PathBuf::from(passfile));
    let t = Instant::now();
    let mut pass = store::read_small(&passfile, 4096).expect("reading the passphrase");
    pass.strip_one_newline();
    let bytes = store::read(&path).expect("reading the vault");
    let mut v = LockedVault::parse(&path, bytes)
        .expect("parsing the vault")
        .unlock(&Credential::Passphrase(pass))
        .expect("unlocking the vault");
    for i in 0..n {
        v.set(&format!("BULK_{i:027}"), SecretBytes::new(value(i)))
            .expect("set");
    }
    let out = v.seal().expect("sealing the vault");
    let lock = store::lock(&path, Duration::from_secs(10), &mut || {}).expect("lock");
    store::write_atomic(&path, &out, &lock).expect("write");
    eprintln!(
        "mkvault: {} now holds {} secrets ({} bytes) in {:.1} s",
        path.display(),
        v.len(),
        out.len(),
        t.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
