#!/usr/bin/env bash
# The fault, attack, rollback and memory suites of tests/integration/ (crash, files,
# tamper, replicas, leaks and the bad-input table of usage) at the
# full counts of issue 4: 200 SIGKILLs during `set` (VAULT_SUITE_KILLS),
# 16 processes x 50 mixed operations (VAULT_SUITE_PROCS, VAULT_SUITE_OPS).
# Every byte flip and every truncation is tried at any count. These are
# also the defaults, so `cargo test` (and .ci/run) runs the same counts;
# this script runs one test at a time and collects the figures in a file.
#
# One test at a time, so timing figures are not disturbed by the others.
# Figures are printed with the prefix [suites] and collected in
# $VAULT_SUITE_REPORT (default target/suites-figures.txt).
#
# Run as root for the tmpfs (disk full, read-only file system) and gcore
# suites; elsewhere they print a loud SKIPPED line (and fail with CI=true).
#
# Usage: scripts/suites-full.sh [TEST-NAME-FILTER...]   (default: the modules above)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
export VAULT_SUITE_KILLS=${VAULT_SUITE_KILLS:-200}
export VAULT_SUITE_PROCS=${VAULT_SUITE_PROCS:-16}
export VAULT_SUITE_OPS=${VAULT_SUITE_OPS:-50}
export VAULT_SUITE_REPORT=${VAULT_SUITE_REPORT:-$PWD/target/suites-figures.txt}
mkdir -p "$(dirname "$VAULT_SUITE_REPORT")"
{
    echo "# tests/integration/ suites, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, uid $(id -u)"
    echo "# VAULT_SUITE_KILLS=$VAULT_SUITE_KILLS VAULT_SUITE_PROCS=$VAULT_SUITE_PROCS VAULT_SUITE_OPS=$VAULT_SUITE_OPS scripts/suites-full.sh $*"
} >"$VAULT_SUITE_REPORT"
status=0
filters=("$@")
[[ ${#filters[@]} -gt 0 ]] || filters=(crash:: files:: tamper:: replicas:: leaks:: usage::table_of_bad_inputs)
time cargo test --test integration -- --test-threads=1 "${filters[@]}" </dev/null || status=$?
printf '\n==== figures (%s) ====\n' "$VAULT_SUITE_REPORT"
cat "$VAULT_SUITE_REPORT"
exit "$status"
