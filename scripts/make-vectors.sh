#!/usr/bin/env bash
# Regenerate the committed test vectors in tests/vectors/ (ok_passphrase.vault
# and every fail_*.vault) with the current `vault` binary. The tests only read
# these files; after running this, check `git diff --stat tests/vectors`,
# update tests/vectors/README.md if a vector was added, and commit.
#
# The byte edits live in examples/make_vectors.rs, which drives the real
# binary (init, set) and finds header fields the way the tamper tests do
# (tests/integration/bytes.rs).
#
# Usage: scripts/make-vectors.sh [OUT_DIR]   (default tests/vectors)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=${1:-tests/vectors}
cargo build --quiet --bin vault --example make_vectors
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
"$target/debug/examples/make_vectors" "$target/debug/vault" "$out"
ls -l "$out"
