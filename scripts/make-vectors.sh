#!/usr/bin/env bash
# Regenerate the committed test vectors in tests/vectors/ (ok_passphrase.vault
# and every fail_*.vault) with the current `vault` binary. The tests only read
# these files; after running this, check `git diff --stat tests/vectors`,
# update tests/vectors/README.md if a vector was added, and commit.
#
# The generator is the ignored test `regenerate_test_vectors` in tests/integration/cli.rs,
# so the byte edits are written once, in Rust, next to the tests that use them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VAULT_REGENERATE_VECTORS=1 cargo test --test integration -- --ignored --exact cli::regenerate_test_vectors --nocapture
ls -l tests/vectors
