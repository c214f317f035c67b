//! Argon2id at vault's default parameters (m = 64 MiB, t = 3, p = 4), with
//! the `argon2` crate's `parallel` feature (rayon, one thread per core) and
//! with the same four lanes computed on one thread.
//!
//! The single-threaded figure is the honest baseline for the passphrase-mode
//! target: `argon2` 0.6 computes the lanes of each slice with
//! `(0..lanes).into_par_iter()`, which runs on the *current* rayon pool, so
//! running it inside a one-thread pool's `install` computes all four lanes on
//! that thread (same code, same SIMD, no parallelism).
//!
//! Run: `cargo bench --bench kdf`.

use std::hint::black_box;
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, Version};
use criterion::{criterion_group, criterion_main, Criterion};
use vault::crypto::derive_kek;
use vault::format::KdfParams;

const SALT: &[u8; 16] = b"saltsaltsaltsalt";
const PASS: &[u8] = b"correct horse battery staple";

fn argon(params: KdfParams) -> Argon2<'static> {
    let p =
        Params::new(params.memory_kib, params.time, params.parallelism, Some(32)).expect("params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
}

fn bench_kdf(c: &mut Criterion) {
    let d = KdfParams::DEFAULT;
    let mut g = c.benchmark_group("argon2id_m64MiB_t3_p4");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));

    // What `vault` runs: bounds checks + the crate with rayon's global pool.
    g.bench_function("vault_derive_kek_parallel", |b| {
        b.iter(|| derive_kek(black_box(PASS), SALT, d, None).expect("kdf"))
    });

    // The crate directly, global pool (as many threads as cores).
    let a = argon(d);
    g.bench_function("argon2_crate_parallel", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            a.hash_password_into(black_box(PASS), SALT, &mut out)
                .expect("kdf");
            out
        })
    });

    // The same four lanes on one thread.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    g.bench_function("argon2_crate_one_thread", |b| {
        b.iter(|| {
            one.install(|| {
                let mut out = [0u8; 32];
                a.hash_password_into(black_box(PASS), SALT, &mut out)
                    .expect("kdf");
                out
            })
        })
    });

    // Reusing a preallocated 64 MiB block buffer: shows what allocation and
    // first-touch page faults of the memory cost.
    let mut blocks = vec![argon2::Block::default(); d.memory_kib as usize];
    g.bench_function("argon2_crate_parallel_prealloc", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            a.hash_password_into_with_memory(black_box(PASS), SALT, &mut out, &mut blocks)
                .expect("kdf");
            out
        })
    });
    g.finish();
}

criterion_group!(benches, bench_kdf);
criterion_main!(benches);
