//! Throughput of the `--mask` stream masker over 4 MiB of log-like text, fed
//! in 64 KiB chunks (a pipe read's size), with 1 and 100 secrets of mixed
//! lengths; a few occurrences are planted so the replace path runs too.
//!
//! Run: `cargo bench --bench mask`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vault::mask::Masker;

const TEXT_LEN: usize = 4 << 20;
const CHUNK: usize = 64 << 10;

/// Secret `i`: lengths cycle through 8..=72 bytes (short ones go to the
/// aho-corasick groups, long ones to the sparse filter).
fn secret(i: usize) -> Vec<u8> {
    let len = 8 + (i * 13) % 65;
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(x % 62) as usize]
        })
        .collect()
}

/// Log-like text with each secret planted a few times.
fn text(secrets: &[Vec<u8>]) -> Vec<u8> {
    let mut t = Vec::with_capacity(TEXT_LEN + 4096);
    let mut line = 0usize;
    while t.len() < TEXT_LEN {
        t.extend_from_slice(
            format!(
                "2024-05-01T12:{:02}:{:02}.{:03}Z INFO worker[{}] request id={:08x} path=/api/v1/items/{} status=200 bytes={}\n",
                line / 60 % 60,
                line % 60,
                line % 1000,
                line % 7,
                line.wrapping_mul(2_654_435_761),
                line % 997,
                line * 31 % 65_536
            )
            .as_bytes(),
        );
        if line % 1000 == 17 {
            let s = &secrets[line / 1000 % secrets.len()];
            t.extend_from_slice(b"token=");
            t.extend_from_slice(s);
            t.push(b'\n');
        }
        line += 1;
    }
    t
}

fn bench_mask(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    for n in [1usize, 100] {
        let secrets: Vec<Vec<u8>> = (0..n).map(secret).collect();
        let data = text(&secrets);
        let refs: Vec<&[u8]> = secrets.iter().map(|s| s.as_slice()).collect();
        let (mut masker, short) = Masker::new(&refs);
        assert!(short.is_empty());
        g.throughput(Throughput::Bytes(data.len() as u64));
        let mut out = Vec::with_capacity(data.len() + 4096);
        g.bench_with_input(BenchmarkId::new("secrets", n), &data, |b, data| {
            b.iter(|| {
                out.clear();
                for chunk in data.chunks(CHUNK) {
                    masker.feed(black_box(chunk), &mut out);
                }
                masker.finish(&mut out);
                out.len()
            })
        });
    }
    // The floor: copying the same bytes chunk by chunk.
    let data = text(&[secret(0)]);
    g.throughput(Throughput::Bytes(data.len() as u64));
    let mut out = Vec::with_capacity(data.len());
    g.bench_function("memcpy_floor", |b| {
        b.iter(|| {
            out.clear();
            for chunk in data.chunks(CHUNK) {
                out.extend_from_slice(black_box(chunk));
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_mask);
criterion_main!(benches);
