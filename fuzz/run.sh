#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each and prints a
# summary table. See fuzz/README.md.
#
#   fuzz/run.sh [SECONDS] [TARGET...]        SECONDS defaults to 60
#
# Environment:
#   FUZZ_SANITIZER  none (default) or address: the targets fuzz safe Rust
#                   (the vault crate forbids unsafe code), and ASan costs
#                   several times in executions; use address for a deep run.
#   FUZZ_JOBS       parallel libFuzzer workers per target (default 1).
#
# Exit status: 0 when every target ran without a finding, 1 when any target
# crashed (panic, failed assertion, timeout, out-of-memory; the reproducer is
# named in the table), 2 on bad usage. If the fuzzer cannot be built at all
# for tooling reasons (cargo-fuzz cannot be installed, the toolchain refuses
# the nightly-only flags even with RUSTC_BOOTSTRAP=1, no libFuzzer), it says
# so loudly and exits 0, so CI does not fail for tooling; a compile error in
# the targets or in the crate itself is a failure (exit 1).
set -uo pipefail

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$FUZZ_DIR")
ALL_TARGETS=(parse open body render mask)

budget=${1:-60}
[[ $# -gt 0 ]] && shift
if ! [[ $budget =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: fuzz/run.sh [SECONDS] [TARGET...]  (SECONDS a positive integer)" >&2
    exit 2
fi
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
    if [[ ! -f $FUZZ_DIR/fuzz_targets/$t.rs ]]; then
        echo "fuzz/run.sh: no target '$t' (targets: ${ALL_TARGETS[*]})" >&2
        exit 2
    fi
done
sanitizer=${FUZZ_SANITIZER:-none}
jobs=${FUZZ_JOBS:-1}

skip() {
    local bar='#######################################################################'
    {
        echo
        echo "$bar"
        echo "###"
        echo "###   FUZZING SKIPPED: $*"
        echo "###"
        echo "$bar"
        echo
    }
    exit 0
}

cd "$ROOT" || exit 1
# cargo-fuzz passes -Z flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
target_dir="$FUZZ_DIR/target/$sanitizer"  # one build per sanitizer, no thrash
logs="$target_dir/run-logs"
mkdir -p "$logs"

# 1. cargo-fuzz
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed; installing it (about 30 s to 2 min)"
    if ! cargo install cargo-fuzz --locked >"$logs/install.log" 2>&1 &&
        ! cargo install cargo-fuzz >>"$logs/install.log" 2>&1; then
        tail -n 20 "$logs/install.log" >&2
        skip "cannot install cargo-fuzz (log: $logs/install.log)"
    fi
fi
echo "$(cargo fuzz --version), $(rustc --version), sanitizer: $sanitizer"

# 2. build every target
fuzz_args=(--fuzz-dir "$FUZZ_DIR" --target-dir "$target_dir" --sanitizer "$sanitizer")
echo "building fuzz targets: ${targets[*]}"
build_start=$(date +%s)
build_ok=1
for t in "${targets[@]}"; do
    if ! cargo fuzz build "${fuzz_args[@]}" "$t" >"$logs/build-$t.log" 2>&1; then
        build_ok=0
        break
    fi
done
if [[ $build_ok == 0 ]]; then
    log="$logs/build-$t.log"
    # A compiler error located in this repository is a real failure; any other
    # build failure (flags refused, no libFuzzer, linker) is tooling.
    # (rustc names the fuzz crate's files relative to fuzz/, the vault
    # crate's absolutely.)
    if grep -Eq "^ *--> (src|fuzz_targets|examples)/" "$log" ||
        grep -Fq -- "--> $ROOT/" "$log"; then
        grep -E "^(error|warning: unused)|^ *-->" "$log" | head -n 40 >&2
        echo "FUZZING FAILED: the fuzz targets do not compile (log: $log)" >&2
        exit 1
    fi
    tail -n 25 "$log" >&2
    skip "cannot build the fuzz targets with $(rustc --version) (log: $log)"
fi
echo "built in $(($(date +%s) - build_start)) s"

# 3. seed corpora: committed seeds, plus the test vectors for the file targets
for t in "${targets[@]}"; do
    corpus="$FUZZ_DIR/corpus/$t"
    mkdir -p "$corpus"
    if [[ -d $FUZZ_DIR/seeds/$t ]]; then
        cp -n "$FUZZ_DIR/seeds/$t"/* "$corpus"/ 2>/dev/null || true
    fi
    if [[ ($t == parse || $t == open) && -d $ROOT/tests/vectors ]]; then
        while IFS= read -r -d '' f; do
            cp -n "$f" "$corpus/vector-$(basename "$f")" 2>/dev/null || true
        done < <(find "$ROOT/tests/vectors" -type f -name '*.vault' -size -64k -print0)
    fi
done

# 4. run
summary=()
crashed=0
final_stat() { # final_stat NAME LOG: libFuzzer's final `stat::NAME: value`
    grep -E "^stat::$1:" "$2" | tail -n 1 | awk '{print $2}'
}
for t in "${targets[@]}"; do
    log="$logs/run-$t.log"
    args=(-max_total_time="$budget" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048)
    [[ -f $FUZZ_DIR/dicts/$t.dict ]] && args+=(-dict="$FUZZ_DIR/dicts/$t.dict")
    [[ $jobs -gt 1 ]] && args+=(-fork="$jobs")
    echo "fuzzing $t for $budget s"
    start=$EPOCHREALTIME
    cargo fuzz run "${fuzz_args[@]}" "$t" "$FUZZ_DIR/corpus/$t" -- "${args[@]}" >"$log" 2>&1
    rc=$?
    elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
    execs=$(final_stat number_of_executed_units "$log")
    [[ -z $execs ]] && execs=$(grep -Eo '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 | tr -dc '0-9')
    [[ -z $execs ]] && execs=$(grep -Eo '^Done [0-9]+ runs' "$log" | tail -n 1 | tr -dc '0-9')
    execs=${execs:-0}
    rate=$(final_stat average_exec_per_sec "$log")
    if [[ -z $rate || $rate == 0 ]]; then
        rate=$(awk -v n="$execs" -v t="$elapsed" 'BEGIN { printf "%.0f", (t > 0) ? n / t : 0 }')
    fi
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | tr -dc '0-9')
    corp=$(find "$FUZZ_DIR/corpus/$t" -type f | wc -l)
    if [[ $rc == 0 ]]; then
        result=ok
    else
        crashed=1
        artifact=$(grep -Eo 'Test unit written to [^ ]+' "$log" | tail -n 1 | awk '{print $NF}')
        if grep -q 'panicked at' "$log"; then
            kind=panic
        else
            kind=$(grep -Eom1 'ERROR: libFuzzer: [a-z -]+' "$log" | sed 's/ERROR: libFuzzer: //')
        fi
        result="CRASH (${kind:-exit $rc}) ${artifact:-see $log}"
        echo "---- $t: last lines of $log" >&2
        grep -E -A6 "panicked at|ERROR: libFuzzer" "$log" | head -n 30 >&2
    fi
    summary+=("$(printf '%-11s %7s %12s %10s %6s %7s  %s' "$t" "$elapsed" "$execs" "${rate:-?}" "${cov:-?}" "$corp" "$result")")
done

echo
echo "fuzzing summary ($(date -u +%Y-%m-%dT%H:%MZ), $budget s per target, sanitizer $sanitizer, $(nproc) CPUs)"
printf '%-11s %7s %12s %10s %6s %7s  %s\n' target seconds executions "exec/s" cov corpus result
for line in "${summary[@]}"; do
    echo "$line"
done
if [[ $crashed == 1 ]]; then
    echo
    echo "FUZZING FOUND A CRASH. Reproduce with:"
    echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --sanitizer $sanitizer TARGET fuzz/artifacts/TARGET/<file>"
    exit 1
fi
exit 0
