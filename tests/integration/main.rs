//! The integration tests: one binary that runs the real `vault` with real
//! child processes and a real Secret Service (inside
//! `scripts/with-secret-service.sh`), every test in a fresh temp HOME with a
//! clean environment and a cheap KDF.
//!
//! - [`cli`]: every command, exit code and passphrase source; key slots, the
//!   keyring, the cached unlock; tampering, vectors, limits (issue 2, 5);
//! - [`exec`]: `exec`, `render`, `--file`, `--mask`, signals (issue 3);
//! - [`suites`]: the fault, attack, rollback and memory suites (issue 4).
//!
//! Run one part with `cargo test --test integration cli::` (or `exec::`,
//! `suites::`).

mod cli;
mod common;
mod exec;
mod suites;
