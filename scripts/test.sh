#!/usr/bin/env bash
# The whole test suite: the command the README gives and .ci/run runs.
# Installs what it needs, checks formatting and lints, then runs every test
# inside a private, throwaway Secret Service (scripts/with-secret-service.sh),
# so the keyring tests run against a real gnome-keyring.
#
# FUZZ_SECONDS (default 10 per target) sets the fuzzing budget; 0 skips it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==== %s ====\n' "$*"; }

step "system packages"
scripts/deps.sh

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "declared minimum Rust version = what the dependency tree needs (scripts/msrv.sh)"
scripts/msrv.sh

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo test (inside a private Secret Service)"
scripts/with-secret-service.sh cargo test --all-targets </dev/null

step "cargo test --doc (compile-fail examples: slot management needs a slot)"
cargo test --doc </dev/null

if [[ ${FUZZ_SECONDS:-10} != 0 && -x fuzz/run.sh ]]; then
    step "fuzzing, ${FUZZ_SECONDS:-10} s per target"
    fuzz/run.sh "${FUZZ_SECONDS:-10}"
fi

step "all test steps passed"
