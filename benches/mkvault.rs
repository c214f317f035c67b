//! Not a benchmark: a helper for `benches/compare.sh` that fills an existing
//! vault with many secrets in one write (100 000 `vault set` calls would
//! rewrite the file 100 000 times).
//!
//! `cargo bench --bench mkvault` with
//!   VAULT_MKVAULT_FILE=PATH        an existing vault with a passphrase slot
//!   VAULT_MKVAULT_PASSFILE=PATH    its passphrase (one trailing newline removed)
//!   VAULT_MKVAULT_N=100000         how many secrets to add
//! opens it with the passphrase, adds N secrets `BULK_<25 digits>` (32-byte
//! names) with 64-byte values, and replaces the file atomically. Without
//! VAULT_MKVAULT_FILE it does nothing, so a plain `cargo bench` is unharmed.

use std::path::PathBuf;
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

fn main() {
    let Some(file) = std::env::var_os("VAULT_MKVAULT_FILE") else {
        eprintln!("mkvault: a helper for benches/compare.sh (set VAULT_MKVAULT_FILE); nothing to benchmark");
        return;
    };
    let path = PathBuf::from(file);
    let passfile =
        PathBuf::from(std::env::var_os("VAULT_MKVAULT_PASSFILE").expect("VAULT_MKVAULT_PASSFILE"));
    let n: usize = std::env::var("VAULT_MKVAULT_N")
        .expect("VAULT_MKVAULT_N")
        .parse()
        .expect("VAULT_MKVAULT_N: a number");
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
    let out = v.seal();
    let lock = store::lock(&path, Duration::from_secs(10), &mut || {}).expect("lock");
    store::write_atomic(&path, &out, &lock).expect("write");
    eprintln!(
        "mkvault: {} now holds {} secrets ({} bytes) in {:.1} s",
        path.display(),
        v.len(),
        out.len(),
        t.elapsed().as_secs_f64()
    );
}
