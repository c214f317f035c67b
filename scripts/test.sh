#!/usr/bin/env bash
# The whole test suite: the command the README gives and .ci/run runs.
# Installs what it needs, checks formatting and lints, then runs every test
# inside a private, throwaway Secret Service (scripts/with-secret-service.sh),
# so the keyring tests run against a real gnome-keyring.
#
# Fuzzing is a separate, optional step (`fuzz/run.sh SECONDS`: it installs
# cargo-fuzz from crates.io if missing, which needs the network, and builds
# the targets). Here it runs only on CI (CI=true, as .ci/run sets it) or
# when FUZZ_SECONDS is set: FUZZ_SECONDS seconds per target (CI: 10).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# Each step says how long the run has taken so far (a newcomer sees where
# the minutes go).
step() { printf '\n==== %s [%dm%02ds so far] ====\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

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

fuzz_default=0
[[ ${CI:-} == true ]] && fuzz_default=10
fuzz_seconds=${FUZZ_SECONDS:-$fuzz_default}
if [[ $fuzz_seconds != 0 && -x fuzz/run.sh ]]; then
    step "fuzzing, $fuzz_seconds s per target (installs cargo-fuzz from crates.io if missing)"
    fuzz/run.sh "$fuzz_seconds"
else
    step "fuzzing skipped (optional: fuzz/run.sh 60; CI runs it)"
fi

step "all test steps passed"
