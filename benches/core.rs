//! Format parse/write, body encode/decode, and open/seal of whole vaults at
//! 10, 1 000, 100 000 and 1 000 000 secrets (32-byte names, 64-byte values).
//!
//! "open" is what every command pays after it has the data key: parse the
//! file, check the commitment, AEAD-decrypt the body and decode its CBOR
//! (`LockedVault::parse` + `unlock(Credential::DataKey)`). "seal" is what
//! `set`/`delete` pay before the write: encode, encrypt, prefix.
//!
//! Run: `cargo bench --bench core` (add `-- --quick` for a short run).
//! `VAULT_BENCH_MAX=100000` skips the 1 000 000 size.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use vault::body_edit::{Entry, Secrets};
use vault::format::{self, decode_body, KdfParams};
use vault::vault::{Credential, LockedVault, NewSlot, Vault};
use vault::SecretBytes;

const SIZES: [usize; 4] = [10, 1_000, 100_000, 1_000_000];

/// Cheapest passphrase slot the bounds allow: the benches open with the data
/// key, so the slot only has to exist.
const CHEAP: KdfParams = KdfParams {
    memory_kib: 8 * 1024,
    time: 1,
    parallelism: 1,
};

fn sizes() -> Vec<usize> {
    let max = std::env::var("VAULT_BENCH_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    SIZES.into_iter().filter(|&n| n <= max).collect()
}

/// A 32-byte valid name for secret `i`.
fn name(i: usize) -> String {
    format!("SECRET_{i:025}")
}

/// 64 pseudo-random bytes for secret `i` (xorshift; deterministic).
fn value(i: usize) -> Vec<u8> {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..64)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An unlocked vault with `n` secrets.
fn make_vault(n: usize) -> Vault {
    let pass = SecretBytes::copy_from(b"bench passphrase");
    let mut v = Vault::create(
        Path::new("bench.vault"),
        &[NewSlot::Passphrase(&pass, CHEAP)],
    )
    .expect("create");
    for i in 0..n {
        v.set(&name(i), SecretBytes::new(value(i))).expect("set");
    }
    v
}

fn entries(n: usize) -> Secrets {
    let mut body = Secrets::new();
    for i in 0..n {
        body.insert(
            &name(i),
            Entry {
                value: SecretBytes::new(value(i)),
                created: 1_700_000_000,
                updated: 1_700_000_000,
                rotate_pending: false,
            },
        );
    }
    body
}

/// Fewer samples and shorter runs for the big sizes, so the whole bench
/// finishes in a few minutes.
fn tune(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, n: usize) {
    if n >= 1_000_000 {
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(10));
        g.warm_up_time(Duration::from_secs(1));
    } else if n >= 100_000 {
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(5));
        g.warm_up_time(Duration::from_secs(1));
    } else {
        g.sample_size(50);
    }
}

fn bench_format(c: &mut Criterion) {
    // parse/write of the file envelope: header decode and prefix + copy.
    let mut v = make_vault(10);
    let bytes = v.seal().expect("seal");
    let mut g = c.benchmark_group("format");
    g.bench_function("parse", |b| {
        b.iter(|| {
            format::parse_any(black_box(&bytes))
                .expect("parse")
                .aad
                .len()
        })
    });
    let f = format::parse_any(&bytes).expect("parse");
    let (header, ct) = (f.header.clone(), f.ciphertext.to_vec());
    g.bench_function("write", |b| {
        b.iter(|| {
            let mut out = format::write_prefix_any(black_box(&header));
            out.extend_from_slice(black_box(&ct));
            out
        })
    });
    g.finish();

    // Body CBOR: what grows with the number of secrets.
    let mut g = c.benchmark_group("body");
    for n in sizes() {
        tune(&mut g, n);
        // Encoding a body as read (not as built): the path `set` takes.
        let body = Secrets::parse(entries(n).encode(), 0).expect("decode");
        let plain = body.encode();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("encode", n), &body, |b, m| {
            b.iter(|| black_box(m).encode())
        });
        g.bench_with_input(BenchmarkId::new("decode", n), &plain, |b, p| {
            b.iter(|| decode_body(black_box(p)).expect("decode").len())
        });
    }
    g.finish();
}

fn bench_open_seal(c: &mut Criterion) {
    let mut g = c.benchmark_group("vault");
    for n in sizes() {
        tune(&mut g, n);
        let mut v = make_vault(n);
        let bytes = v.seal().expect("seal");
        let key = v.body_key().clone();
        let path = Path::new("bench.vault");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("open", n), &bytes, |b, bytes| {
            b.iter_batched(
                || bytes.clone(),
                |bytes| {
                    LockedVault::parse(path, bytes)
                        .expect("parse")
                        .unlock(&Credential::BodyKey(key.clone()))
                        .expect("unlock")
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(BenchmarkId::new("seal", n), |b| {
            b.iter(|| v.seal().expect("seal"))
        });
        // A `vault set` in cached mode, minus the file I/O: open, set, seal.
        g.bench_with_input(BenchmarkId::new("open_set_seal", n), &bytes, |b, bytes| {
            b.iter_batched(
                || bytes.clone(),
                |bytes| {
                    let mut v = LockedVault::parse(path, bytes)
                        .expect("parse")
                        .unlock(&Credential::BodyKey(key.clone()))
                        .expect("unlock");
                    v.set("NEW_SECRET", SecretBytes::copy_from(b"new value"))
                        .expect("set");
                    v.seal().expect("seal")
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench_format, bench_open_seal);
criterion_main!(benches);
