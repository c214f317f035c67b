//! The integration tests: one binary that runs the real `vault` with real
//! child processes and a real Secret Service (inside
//! `scripts/with-secret-service.sh`), every test in a fresh temp HOME with a
//! clean environment and a cheap KDF ([`harness`]). A file per behaviour:
//!
//! - [`passphrase`]: where the passphrase comes from, which wins, its bytes;
//! - [`secrets`]: `set`, `get`, `list`, `delete`; names; values and sizes;
//! - [`slots`]: `init`, `key list/add/remove/passwd`, `rekey`;
//! - [`removal`]: `key remove` / `rekey --drop` rotate every key and mark
//!   the secrets the removed slot could read rotate pending;
//! - [`keyring`]: keyring slots against a real Secret Service;
//! - [`recipients`]: recipient slots, identities (`--identity`,
//!   `VAULT_IDENTITY*`, the personal identity, `~/.ssh`), `key export-slot`
//!   read by the real `age`;
//! - [`cache`]: `unlock` and `lock` (the cached data key);
//! - [`exec`]: `exec`: statuses, signals, environment, stdin, limits;
//! - [`mask`]: `exec --mask`, and signals passed to the masked child;
//! - [`nextflow`]: `exec --nextflow` against a stand-in for Nextflow
//!   (tests/standin/nextflow): the store, the `secret` directive, the
//!   private RAM-backed directory and its removal;
//! - [`render`]: `render` and `exec --file`;
//! - [`import_export`]: `import` and `export`, round trips through python-dotenv,
//!   Node's dotenv, bash and JSON parsers (tests/interop/);
//! - [`usage`]: usage errors, `--help`, global options, the bad-input table;
//! - [`files`]: the vault file on disk: paths, modes, links, full or
//!   read-only disks, the write lock;
//! - [`tamper`]: flipped, cut, swapped, rolled-back and out-of-bounds vault
//!   files, and the committed vectors of `tests/vectors/`;
//! - [`git`]: `git setup`, `git diff`/`git log -p` through `textconv`, `git
//!   merge` through the `merge` driver (conflicts, rotations), `resolve`;
//! - [`replicas`]: copies at several paths, forks, rotated keys, git
//!   checkouts: the rollback memory of each path;
//! - [`crash`]: SIGKILL during `set`, concurrent writers;
//! - [`leaks`]: no secret in any file, in a core, or in unlocked memory.
//!
//! A test that needs a real part (a Secret Service, strace, gdb, root, a
//! pty) asks [`harness::require`]: skipped loudly here, a failure under
//! `CI=true`. Run one part with `cargo test --test integration tamper::`.

mod bytes;
mod cache;
mod crash;
mod exec;
mod files;
mod git;
mod harness;
mod import_export;
mod keyring;
mod leaks;
mod mask;
mod nextflow;
mod passphrase;
mod recipients;
mod removal;
mod render;
mod replicas;
mod secrets;
mod slots;
mod tamper;
mod usage;
