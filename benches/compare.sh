#!/usr/bin/env bash
# benches/compare.sh: times `vault` side by side with the tools people use
# today for the same job, and writes docs/BENCHMARKS.md and
# docs/benchmarks.svg from the figures.
#
# Usage: benches/compare.sh            (from anywhere; needs root or sudo
#                                       only to install missing packages)
#
# What it does, in one run:
#  1. installs the Debian packages it needs, if missing, through
#     scripts/deps.sh --best-effort: a package that fails to install only
#     skips its rows;
#  2. re-runs itself under scripts/with-secret-service.sh (a private, throwaway
#     D-Bus session and gnome-keyring), so no real keyring is touched;
#  3. builds vault and examples/mkvault.rs in release, and sets up in a
#     temp dir: vaults of 20 secrets
#     in keyring, passphrase (default Argon2id parameters) and cached
#     (`vault unlock`) mode, one secret-tool item, one python3-keyring item,
#     a KeePassXC database, a pass store, and (optionally) bigger vaults;
#  4. times every row with hyperfine (-N, no shell in between), a few runs of
#     GNU time for peak RSS, and Argon2id on one thread through criterion;
#  5. writes the report (benches/report.py): medians, min/max, ratios,
#     targets met or missed, the machine, and an SVG bar chart.
# Any row whose tool is missing or fails its first run is reported as
# skipped, not fatal.
#
# Environment:
#   RUNS=100             hyperfine runs of each fast row (warm-up: WARMUP=10;
#                        30 runs let one slow stretch of a noisy machine move
#                        a 2 ms row by a third)
#   ROUNDS=5             the fast rows are timed in this many rounds of
#                        RUNS/ROUNDS runs each, every row in each round, and
#                        each row's runs pooled: a slow stretch of the machine
#                        then falls on every row alike instead of on the one
#                        row hyperfine was timing (one round of 100 runs each
#                        once gave the 64-slot row 0.80x the one-slot row)
#   VAULT_BENCH_PIN=CPU  the fast rows' hyperfine (and so each command it
#                        runs) is pinned to this CPU (default: the last one;
#                        "none": not pinned). On a 2-vCPU VM unpinned times
#                        of a 2 ms command came out bimodal (1.65 or 2.15 ms,
#                        whichever CPU the child landed on), and a row's
#                        median was whichever mode held more of its runs:
#                        the same binary read 0.94x rage in one run and
#                        1.19x in the next. Pinned, the modes vanish. The
#                        daemons (gnome-keyring, gpg-agent) are not pinned.
#   SLOW_RUNS=10         runs of rows that pay Argon2id or start Python
#   SCALE_RUNS=10        runs of the 100 000-secret rows
#   RSS_RUNS=5           GNU time runs per row for peak RSS (median taken)
#   VAULT_BENCH_SCALE=1  the 100 000-secret rows (0: skip)
#   VAULT_BENCH_1M=0     the 1 000 000-secret rows (1: build and time them;
#                        BIG_RUNS=10 runs, 1 warm-up)
#   VAULT_BENCH_MASK_MB=100  size of the --mask throughput file (0: skip)
#   MASK_RUNS=10         runs of the mask rows
#   VAULT_BENCH_CRITERION=0  1: also run every criterion bench (a few
#                        minutes) so the report's criterion table is fresh;
#                        the kdf bench always runs (the one-thread baseline)
#   VAULT_BENCH_OUT=docs/BENCHMARKS.md, VAULT_BENCH_SVG=docs/benchmarks.svg
#   VAULT_BENCH_KEEP=1   keep the temp dir (printed at the end)
#   VAULT_BENCH_NO_INSTALL=1  never call apt-get
#   VAULT_BENCH_DROP_CACHES=1  drop the page cache (root only) just before
#                        timing, so every binary is read back from disk the
#                        same way: how a file's pages came into the cache
#                        changes how many page faults running it takes (the
#                        same vault binary: 253 copied with cp, 267 linked
#                        in place or read from disk; rage, copied by cargo
#                        install, 235 before and 237 after a drop). 0: leave
#                        the cache as it is
#   VAULT_BENCH_ONLY=identity,git  only these sections (comma-separated; the
#                        env floor always runs): base (keyring, passphrase and
#                        cached vaults of 20 secrets and the other tools),
#                        identity (--identity rows, 64 recipient slots, rage,
#                        Go age), scale (100 000 / 1 000 000 secrets), io
#                        (import/export), git (merge, textconv), mask,
#                        criterion (the kdf bench). A partial run writes its
#                        report to TARGET/bench-partial/ unless
#                        VAULT_BENCH_OUT/VAULT_BENCH_SVG say where, never over
#                        docs/BENCHMARKS.md.
#   RAGE=PATH            the rage binary (default: rage on PATH, else
#                        ~/.cargo/bin/rage; install it with
#                        `cargo install --locked rage --version 0.12.1`);
#                        without it the rage row is skipped
#   VAULT_BENCH_SESSION_BUS=1  use the current D-Bus session (and so the
#                        user's real Secret Service) instead of a private one
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
me=compare

say() { printf '%s: %s\n' "$me" "$*" >&2; }
loud() {
    printf '\n%s: ************************************************************\n' "$me" >&2
    printf '%s: %s\n' "$me" "$@" >&2
    printf '%s: ************************************************************\n\n' "$me" >&2
}
die() {
    say "error: $*"
    exit 1
}

# --- 1. packages -------------------------------------------------------------
# The tools timed here, on top of what the test suites need (scripts/deps.sh).
packages=(hyperfine libsecret-tools python3-keyring keepassxc pass argon2 age time
    gnupg dbus gnome-keyring python3)
install_packages() {
    if [[ ${VAULT_BENCH_NO_INSTALL:-} == 1 ]]; then
        say "not installing packages (VAULT_BENCH_NO_INSTALL=1)"
        return 0
    fi
    "$repo/scripts/deps.sh" --best-effort "${packages[@]}" >&2 ||
        say "installing packages failed: the rows of missing tools will be skipped"
}

if [[ ${VAULT_SS_PRIVATE:-} != 1 && ${VAULT_BENCH_REEXEC:-} != 1 ]]; then
    install_packages
    command -v hyperfine >/dev/null 2>&1 || die "hyperfine is needed (apt-get install hyperfine)"
    if [[ ${VAULT_BENCH_SESSION_BUS:-} == 1 && -n ${DBUS_SESSION_BUS_ADDRESS:-} ]]; then
        say "using the current D-Bus session (VAULT_BENCH_SESSION_BUS=1)"
    else
        # Always a private Secret Service unless asked otherwise: the rows
        # store items in it, and a desktop keyring's timings differ.
        say "re-running under scripts/with-secret-service.sh"
        VAULT_BENCH_REEXEC=1 exec "$repo/scripts/with-secret-service.sh" "$self" "$@"
    fi
fi

# --- 2. settings -------------------------------------------------------------
RUNS=${RUNS:-100}
SLOW_RUNS=${SLOW_RUNS:-10}
SCALE_RUNS=${SCALE_RUNS:-10}
BIG_RUNS=${BIG_RUNS:-10}
MASK_RUNS=${MASK_RUNS:-10}
RSS_RUNS=${RSS_RUNS:-5}
WARMUP=${WARMUP:-10}
ROUNDS=${ROUNDS:-5}
PIN=${VAULT_BENCH_PIN:-$(($(nproc) - 1))}
pin=()
if [[ $PIN != none ]]; then
    command -v taskset >/dev/null 2>&1 || die "VAULT_BENCH_PIN=$PIN: taskset (util-linux) is missing; VAULT_BENCH_PIN=none times unpinned"
    taskset -c "$PIN" true || die "VAULT_BENCH_PIN=$PIN: cannot pin to that CPU"
    pin=(taskset -c "$PIN")
fi
((ROUNDS >= 1 && RUNS / ROUNDS >= 2)) || die "ROUNDS=$ROUNDS: need 1 to RUNS/2 rounds"
SCALE=${VAULT_BENCH_SCALE:-1}
BIG=${VAULT_BENCH_1M:-0}
MASK_MB=${VAULT_BENCH_MASK_MB:-100}
CRITERION_ALL=${VAULT_BENCH_CRITERION:-0}
ONLY=${VAULT_BENCH_ONLY:-}
OUT_MD=${VAULT_BENCH_OUT:-}
OUT_SVG=${VAULT_BENCH_SVG:-}
# want SECTION: is this section of rows part of this run (VAULT_BENCH_ONLY)?
want() { [[ -z $ONLY || ,$ONLY, == *",$1,"* ]]; }
for s in ${ONLY//,/ }; do
    case $s in
    base | identity | scale | io | git | mask | criterion) ;;
    *) die "VAULT_BENCH_ONLY: unknown section '$s' (base, identity, scale, io, git, mask, criterion)" ;;
    esac
done
# rage is usually installed by cargo, and HOME moves into the temp dir below.
RAGE=${RAGE:-$(command -v rage 2>/dev/null || true)}
[[ -z $RAGE && -x ${HOME:-/nonexistent}/.cargo/bin/rage ]] && RAGE=$HOME/.cargo/bin/rage
PY=python3
SYS_PY=/usr/bin/python3 # Debian's python3-keyring is for the system python
[[ -x $SYS_PY ]] || SYS_PY=python3

# Never inherit a vault or passphrase from the caller.
unset VAULT_FILE VAULT_PASSPHRASE VAULT_PASSPHRASE_FILE

work=$(mktemp -d "${TMPDIR:-/tmp}/vault-bench.XXXXXXXX")
chmod 0700 "$work"
res="$work/results"
mkdir -p "$res" "$work/home"
: >"$res/rows.tsv"
: >"$res/skipped.tsv"
: >"$res/notes.txt"
: >"$res/rss.tsv"

V= # the vault binary, once built
cached_vaults=()
cleanup() {
    local rc=$? v
    set +e
    for v in "${cached_vaults[@]}"; do
        "$V" --vault "$v" lock >/dev/null 2>&1
    done
    [[ -n ${GNUPGHOME:-} && -d ${GNUPGHOME:-/nonexistent} ]] &&
        gpgconf --homedir "$GNUPGHOME" --kill all >/dev/null 2>&1
    if [[ ${VAULT_BENCH_KEEP:-} == 1 ]]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

note() {
    printf '%s\n' "$*" >>"$res/notes.txt"
    say "note: $*"
}
skip() { # skip ID LABEL REASON
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$res/skipped.tsv"
    loud "SKIPPED $2: $3"
}
have() { command -v "$1" >/dev/null 2>&1; }
q() { printf '%q' "$1"; }

# --- 3. build ------------------------------------------------------------------
cd "$repo"
target=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') ||
    target=${CARGO_TARGET_DIR:-$repo/target}
say "building vault and examples/mkvault.rs (release) into $target"
cargo build --release --bin vault --example mkvault >&2
V="$target/release/vault"
if [[ -n $ONLY ]]; then
    # A partial run never replaces the full report.
    OUT_MD=${OUT_MD:-$target/bench-partial/BENCHMARKS.md}
    OUT_SVG=${OUT_SVG:-$target/bench-partial/benchmarks.svg}
else
    OUT_MD=${OUT_MD:-$repo/docs/BENCHMARKS.md}
    OUT_SVG=${OUT_SVG:-$repo/docs/benchmarks.svg}
fi
MKVAULT="$target/release/examples/mkvault"
[[ -x $V && -x $MKVAULT ]] || die "no binary at $V or $MKVAULT"
# Criterion first, while nothing of ours is running.
crit_args=(--warm-up-time 1 --measurement-time 3)
if ! want criterion; then
    say "criterion: not run (VAULT_BENCH_ONLY=$ONLY)"
elif [[ $CRITERION_ALL == 1 ]]; then
    say "criterion: all benches (VAULT_BENCH_CRITERION=1)"
    cargo bench --bench core --bench kdf --bench mask -- "${crit_args[@]}" >&2 ||
        note "cargo bench failed; the criterion table may be stale"
else
    say "building the kdf bench"
    cargo bench --no-run --bench kdf >&2
    say "criterion: the kdf bench (one-thread Argon2id baseline)"
    cargo bench --bench kdf -- "${crit_args[@]}" >&2 ||
        note "cargo bench --bench kdf failed; no one-thread Argon2id baseline"
fi

# The rest does not need cargo: move HOME (gpg, pass, keepassxc, python
# keyring and vault's own state go there) into the temp dir.
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" \
    XDG_DATA_HOME="$work/home/.local/share" XDG_STATE_HOME="$work/home/.local/state" \
    XDG_CACHE_HOME="$work/home/.cache"
cd "$work"

# mkvault VAULT N: add N secrets (32-byte names, 64-byte values) in one write.
mkvault() { "$MKVAULT" "$1" "$pf" "$2" >&2; }

# --- 4. set-up -----------------------------------------------------------------
pf="$work/passphrase"
head -c 18 /dev/urandom | base64 >"$pf"
chmod 0600 "$pf"
names=()
for i in $(seq -w 1 20); do names+=("SECRET_$i"); done
fill20() { # fill20 VAULT [global flags...]
    local v=$1 n
    shift
    for n in "${names[@]}"; do
        head -c 24 /dev/urandom | base64 | "$V" --vault "$v" "$@" set "$n" >/dev/null
    done
}

if want base; then
    kv="$work/keyring.vault"
    pv="$work/passphrase.vault"
    cv="$work/cached.vault"
    kv_ok=0 pv_ok=0 cv_ok=0
    say "set-up: keyring-mode vault (20 secrets)"
    if "$V" --vault "$kv" init --keyring >/dev/null && fill20 "$kv"; then kv_ok=1; else
        skip kr "vault, keyring mode" "vault init --keyring or set failed (no Secret Service?)"
    fi
    say "set-up: passphrase-mode vault (20 secrets, default Argon2id parameters)"
    if "$V" --vault "$pv" --passphrase-file "$pf" init >/dev/null &&
        fill20 "$pv" --passphrase-file "$pf"; then pv_ok=1; else
        skip pp "vault, passphrase mode" "vault init/set with a passphrase failed"
    fi
    say "set-up: cached-mode vault (20 secrets; vault unlock --timeout 15m)"
    if "$V" --vault "$cv" --passphrase-file "$pf" init >/dev/null &&
        fill20 "$cv" --passphrase-file "$pf" &&
        "$V" --vault "$cv" --passphrase-file "$pf" unlock --timeout 15m; then
        cached_vaults+=("$cv")
        cv_ok=1
    else
        skip ca "vault, cached mode" "vault unlock failed"
    fi

    # secret-tool
    st_ok=0
    if have secret-tool && printf 'value-%s' "$RANDOM" |
        secret-tool store --label="vault bench" service vault-bench account one 2>"$work/st.err"; then
        st_ok=1
    fi
    # python3 -m keyring (Secret Service backend)
    export PYTHON_KEYRING_BACKEND=keyring.backends.SecretService.Keyring
    pk_ok=0
    if "$SYS_PY" -c 'import keyring' 2>/dev/null &&
        printf 'value-%s\n' "$RANDOM" | "$SYS_PY" -m keyring set vault-bench one 2>"$work/pk.err"; then
        pk_ok=1
    fi
    # KeePassXC
    kp_ok=0
    kdb="$work/bench.kdbx"
    printf 'kdb-password\n' >"$work/kdb.pw"
    if have keepassxc-cli &&
        printf 'kdb-password\nkdb-password\n' | keepassxc-cli db-create -p "$kdb" >/dev/null 2>&1 &&
        printf 'kdb-password\nentry-pw\nentry-pw\n' | keepassxc-cli add -p "$kdb" bench >/dev/null 2>&1; then
        kp_ok=1
        kdf=$(keepassxc-cli db-info "$kdb" <"$work/kdb.pw" 2>/dev/null | sed -n 's/^KDF: //p' || true)
        note "KeePassXC database made by 'keepassxc-cli db-create' with its defaults (KDF: ${kdf:-unknown})"
    fi
    # pass
    ps_ok=0
    export GNUPGHOME="$work/gnupg" PASSWORD_STORE_DIR="$work/pass"
    mkdir -m 0700 "$GNUPGHOME"
    if have pass && have gpg &&
        gpg --batch --passphrase '' --quick-gen-key 'vault bench <bench@example.invalid>' \
            default default never >/dev/null 2>&1 &&
        pass init bench@example.invalid >/dev/null 2>&1 &&
        printf 'pass-value\n' | pass insert -e bench/one >/dev/null 2>&1; then
        ps_ok=1
    fi
    # envchain (not in Debian)
    ec_ok=0
    if have envchain; then
        ok=1
        for n in "${names[@]}"; do
            printf 'value-%s\n' "$RANDOM" | envchain --set --noecho vaultbench "$n" >/dev/null 2>&1 || ok=0
        done
        ((ok)) && ec_ok=1
    fi
    # argon2 CLI input
    printf '%s' "pw" >"$work/argon2.pw"
fi

# Identity mode: vaults opened by `--identity key.txt` (an X25519 identity
# made by age-keygen, in a recipient slot), next to rage and Go age
# decrypting a 20-line file to the same identity.
# identity_vault PATH N: a vault of the 20 secrets whose slots are N-1
# recipients of throwaway identities, then ours (added last). It is made
# with a cheap passphrase slot, removed at the end.
identity_vault() {
    local v=$1 n=$2 i r
    "$V" --vault "$v" --passphrase-file "$pf" init --label setup \
        --kdf-memory 8MiB --kdf-time 1 --kdf-parallelism 1 >/dev/null 2>&1 || return 1
    for ((i = 1; i < n; i++)); do
        r=$(age-keygen 2>/dev/null | age-keygen -y) || return 1
        "$V" --vault "$v" --passphrase-file "$pf" key add recipient "$r" >/dev/null 2>&1 || return 1
    done
    "$V" --vault "$v" --passphrase-file "$pf" key add recipient "$recipient" --label ours \
        >/dev/null 2>&1 || return 1
    fill20 "$v" --identity "$key" || return 1
    "$V" --vault "$v" --identity "$key" key remove setup --no-rotate-pending >/dev/null 2>&1 || return 1
    [[ $("$V" --vault "$v" --identity "$key" key list | grep -c recipient) == "$n" ]]
}
id_ok=0 id64_ok=0 agefile_ok=0
if want identity; then
    key="$work/key.txt"
    if have age-keygen && age-keygen -o "$key" 2>/dev/null && recipient=$(age-keygen -y "$key"); then
        say "set-up: identity-mode vault (20 secrets, one recipient slot)"
        if identity_vault "$work/identity.vault" 1; then id_ok=1; else
            skip id "vault, identity mode" "making the vault (init, key add recipient, set, key remove) failed"
        fi
        say "set-up: identity-mode vault (20 secrets, 64 recipient slots, ours added last)"
        if identity_vault "$work/identity-64.vault" 64; then id64_ok=1; else
            skip id64 "vault, 64 recipient slots" "making the vault failed"
        fi
        # The age file: 20 lines like the vaults' secrets, to the same identity.
        for n in "${names[@]}"; do
            printf '%s=%s\n' "$n" "$(head -c 24 /dev/urandom | base64)"
        done >"$work/20.txt"
        if age -r "$recipient" -o "$work/20.age" "$work/20.txt" 2>"$work/age.err"; then agefile_ok=1; fi
    else
        skip id "identity mode" "age-keygen (Debian's age package) is missing"
    fi
fi

# --- 5. rows ---------------------------------------------------------------------
# row ID GROUP CATEGORY LABEL STDIN CMD...
#   GROUP: fast | slow | scale | big | mask (one hyperfine run each)
#   CATEGORY: floor | keyring | passphrase | cached | tool | mask
# CMD is run without a shell by hyperfine. A row that needs standard input
# gets it through `sh -c 'exec CMD < FILE'` (this hyperfine has no --input;
# that costs one extra exec of sh, about one env-floor).
hf_input=0
hyperfine --help 2>&1 | grep -q -- '--input' && hf_input=1
declare -A R_GROUP R_CAT R_LABEL R_STDIN R_CMD
ids=()
row() {
    local id=$1 group=$2 cat=$3 label=$4 stdin=$5 cmd=""
    shift 5
    local a
    for a in "$@"; do cmd+="${cmd:+ }$(q "$a")"; done
    ids+=("$id")
    R_GROUP[$id]=$group R_CAT[$id]=$cat R_LABEL[$id]=$label R_STDIN[$id]=$stdin R_CMD[$id]=$cmd
}

row env fast floor "env FOO=bar true (floor: one exec)" "" env FOO=bar true
if want base; then
    if ((kv_ok)); then
        row kr_exec fast keyring "vault exec -- true (keyring)" "" "$V" --vault "$kv" exec -- true
        row kr_get fast keyring "vault get (keyring)" "" "$V" --vault "$kv" get SECRET_07
    fi
    if ((cv_ok)); then
        row ca_exec fast cached "vault exec -- true (cached)" "" "$V" --vault "$cv" exec -- true
        row ca_get fast cached "vault get (cached)" "" "$V" --vault "$cv" get SECRET_07
    fi
    if ((pv_ok)); then
        row pp_exec slow passphrase "vault exec -- true (passphrase, m=64MiB t=3 p=4)" "" \
            "$V" --vault "$pv" --passphrase-file "$pf" exec -- true
        row pp_get slow passphrase "vault get (passphrase, m=64MiB t=3 p=4)" "" \
            "$V" --vault "$pv" --passphrase-file "$pf" get SECRET_07
    fi
    if ((st_ok)); then
        row secret_tool fast tool "secret-tool lookup (1 item)" "" secret-tool lookup service vault-bench account one
    else
        skip secret_tool "secret-tool lookup" "secret-tool missing or store failed: $(tail -n1 "$work/st.err" 2>/dev/null)"
    fi
    if ((ec_ok)); then
        row envchain fast tool "envchain ns true (20 secrets)" "" envchain vaultbench true
    else
        skip envchain "envchain ns true" "envchain is not on PATH (it is not packaged in Debian)"
    fi
    if ((kp_ok)); then
        row keepassxc fast tool "keepassxc-cli show (password on stdin)" "$work/kdb.pw" \
            keepassxc-cli show -q -s -a Password "$kdb" bench
    else
        skip keepassxc "keepassxc-cli show" "keepassxc-cli missing or database set-up failed"
    fi
    if ((ps_ok)); then
        row pass fast tool "pass show (gpg, no passphrase)" "" pass show bench/one
    else
        skip pass "pass show" "pass/gpg missing or set-up failed"
    fi
    if ((pk_ok)); then
        row py_keyring slow tool "python3 -m keyring get" "" "$SYS_PY" -m keyring get vault-bench one
    else
        skip py_keyring "python3 -m keyring get" "python3-keyring missing or set failed: $(tail -n1 "$work/pk.err" 2>/dev/null)"
    fi
    if have argon2; then
        # -r: print the raw hash only. Without it the CLI also verifies the hash
        # it printed, which runs Argon2 a second time and doubles its figure.
        row argon2_cli slow tool "argon2 CLI (reference C, m=64MiB t=3 p=4)" "$work/argon2.pw" \
            argon2 saltsaltsaltsalt -id -m 16 -t 3 -p 4 -l 32 -r
    else
        skip argon2_cli "argon2 CLI" "the argon2 package is not installed"
    fi
fi
if want identity; then
    if ((id_ok)); then
        row id_exec fast identity "vault --identity key.txt exec -- true (20 secrets)" "" \
            "$V" --vault "$work/identity.vault" --identity "$key" exec -- true
        row id_get fast identity "vault --identity key.txt get (20 secrets)" "" \
            "$V" --vault "$work/identity.vault" --identity "$key" get SECRET_07
    fi
    if ((id64_ok)); then
        row id64_get fast identity "vault --identity key.txt get (64 recipient slots, ours last)" "" \
            "$V" --vault "$work/identity-64.vault" --identity "$key" get SECRET_07
    fi
    if ((agefile_ok)) && [[ -n $RAGE ]]; then
        row rage fast tool "rage -d -i key.txt (20-line file, $("$RAGE" --version 2>/dev/null | head -n 1))" "" \
            "$RAGE" -d -i "$key" "$work/20.age"
    elif ((agefile_ok)); then
        skip rage "rage -d -i key.txt" "rage is not installed (cargo install --locked rage --version 0.12.1)"
    fi
    if ((agefile_ok)); then
        row age fast tool "age -d -i key.txt (Go, 20-line file)" "" age -d -i "$key" "$work/20.age"
    elif have age-keygen; then
        skip age "age -d -i key.txt" "age -r failed: $(tail -n 1 "$work/age.err" 2>/dev/null)"
    fi
fi

# Scale: 100 000 and 1 000 000 secrets, cached mode.
# big_vault PATH N: a vault with N secrets, unlocked (cached mode).
big_vault() {
    local v=$1 n=$2
    "$V" --vault "$v" --passphrase-file "$pf" init >/dev/null || return 1
    mkvault "$v" "$n" || return 1
    "$V" --vault "$v" --passphrase-file "$pf" unlock --timeout 1h || return 1
    cached_vaults+=("$v")
}
if ! want scale; then
    : # not in VAULT_BENCH_ONLY
elif [[ $SCALE == 1 ]]; then
    say "set-up: 100 000 secrets (cached mode)"
    sv="$work/scale-100k.vault"
    if big_vault "$sv" 100000; then
        row s100k_get scale cached "vault get, 100 000 secrets (cached)" "" \
            "$V" --vault "$sv" get BULK_000000000000000000000050000
        row s100k_set scale cached "vault set, 100 000 secrets (cached)" "" \
            "$V" --vault "$sv" set NEW_SECRET new-value-0123456789
    else
        skip s100k "100 000 secrets" "building the vault failed"
    fi
else
    skip s100k "100 000 secrets" "VAULT_BENCH_SCALE=0"
fi
if ! want scale; then
    :
elif [[ $BIG == 1 ]]; then
    say "set-up: 1 000 000 secrets (cached mode)"
    bv="$work/scale-1m.vault"
    if big_vault "$bv" 1000000; then
        row s1m_get big cached "vault get, 1 000 000 secrets (cached)" "" \
            "$V" --vault "$bv" get BULK_000000000000000000000500000
        row s1m_set big cached "vault set, 1 000 000 secrets (cached)" "" \
            "$V" --vault "$bv" set NEW_SECRET new-value-0123456789
    else
        skip s1m "1 000 000 secrets" "building the vault failed"
    fi
else
    skip s1m "1 000 000 secrets" "off by default (building it takes a while): VAULT_BENCH_1M=1"
fi

# import / export of 10 000 secrets (cached mode). Every import run
# replaces all 10 000 values in one write: it starts from a copy of the
# vault (sh and cp are in the figure; --allow-rollback because the copy is
# older than what the previous run wrote).
if ! want io; then
    :
elif "$V" import --help >/dev/null 2>&1; then
    say "set-up: import/export of 10 000 secrets (cached mode)"
    # Two vaults: the import's copies share their vault's id, whose rollback
    # memory they advance, so the export reads a vault of its own.
    iov="$work/io-10k.vault"
    iiv="$work/import-10k.vault"
    if big_vault "$iov" 10000 && big_vault "$iiv" 10000 && "$PY" - "$work/io-10k.env" <<'EOF'; then
import sys
with open(sys.argv[1], "w") as f:
    f.write("# 10 000 secrets, the names of benches/mkvault.rs, other values\n")
    for i in range(10000):
        name = "BULK_%027d" % i
        if i % 3 == 0:
            f.write('%s="value %d with spaces, a # and \\"quotes\\""\n' % (name, i))
        elif i % 3 == 1:
            f.write("export %s='single-quoted $NOT_EXPANDED %d'\n" % (name, i))
        else:
            f.write("%s=plain-%d-0123456789abcdef0123456789abcdef # comment\n" % (name, i))
EOF
        row io_import scale cached "vault import, 10 000-line .env (cached)" "" \
            sh -c "cp $(q "$iiv") $(q "$iiv.run") && exec $(q "$V") --vault $(q "$iiv.run") --allow-rollback import --replace $(q "$work/io-10k.env")"
        row io_export scale cached "vault export --format dotenv, 10 000 secrets (cached)" "" \
            "$V" --vault "$iov" export --format dotenv
    else
        skip io "import/export of 10 000 secrets" "building the vault or the .env failed"
    fi
else
    skip io "import/export of 10 000 secrets" "this build of vault has no 'import'"
fi

# Git: `vault merge` (git's merge driver) of two 10 000-secret vaults with
# 100 changed values on each side (different names, so it merges without a
# conflict), and `vault textconv` (git diff's text view) of a 10 000-secret
# vault, all in cached mode. merge replaces OURS, so every run starts from a
# copy of it (sh and cp are in the figure). Both commands are newer than
# this script: their rows are skipped when `vault merge --help` or
# `vault textconv --help` fails.
# changes_env FILE OFFSET WHO: 100 new values for BULK_<OFFSET + 100 k>.
changes_env() {
    local i
    for ((i = $2; i < 10000; i += 100)); do
        printf 'BULK_%027d=%s-change-%d\n' "$i" "$3" "$i"
    done >"$1"
}
if want git; then
    have_merge=0 have_textconv=0
    "$V" merge --help >/dev/null 2>&1 && have_merge=1
    "$V" textconv --help >/dev/null 2>&1 && have_textconv=1
    ((have_merge)) || skip git_merge "vault merge" "this build of vault has no 'merge'"
    ((have_textconv)) || skip git_textconv "vault textconv" "this build of vault has no 'textconv'"
    if ((have_merge || have_textconv)); then
        say "set-up: 10 000-secret vaults for merge/textconv (cached mode)"
        gb="$work/merge-base.vault" go="$work/merge-ours.vault" gt="$work/merge-theirs.vault"
        # The copies share the base's body key, which the cache holds, and
        # `import` through the cache keeps it: all three open from the cache.
        if big_vault "$gb" 10000 && cp "$gb" "$go" && cp "$gb" "$gt" &&
            changes_env "$work/ours.env" 0 ours && changes_env "$work/theirs.env" 50 theirs &&
            "$V" --vault "$go" import --replace "$work/ours.env" >/dev/null 2>&1 &&
            "$V" --vault "$gt" import --replace "$work/theirs.env" >/dev/null 2>&1; then
            if ((have_merge)); then
                row git_merge scale cached "vault merge, 10 000 secrets, 100 changes per side (cached; cp of OURS included)" "" \
                    sh -c "cp $(q "$go") $(q "$go.run") && exec $(q "$V") merge $(q "$gb") $(q "$go.run") $(q "$gt")"
            fi
            if ((have_textconv)); then
                row git_textconv scale cached "vault textconv, 10 000 secrets (cached)" "" \
                    "$V" textconv "$gb"
            fi
        else
            skip git "merge/textconv of 10 000 secrets" "building the vaults failed"
        fi
    fi
fi

# Mask throughput: 100 MB of log-like text with the 100 secrets planted.
if ! want mask; then
    :
elif ((MASK_MB > 0)); then
    say "set-up: --mask throughput (${MASK_MB} MB, 100 secrets, cached mode)"
    mv="$work/mask.vault"
    mf="$work/mask.txt"
    if big_vault "$mv" 100 &&
        "$V" --vault "$mv" get BULK_000000000000000000000000007 >"$work/planted" &&
        "$PY" - "$mf" "$MASK_MB" "$work/planted" <<'EOF'; then
import sys
path, mb, planted = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "rb").read().strip()
size = mb * 1000 * 1000
lines = []
for i in range(4096):
    lines.append(b"2024-05-01T12:%02d:%02d.%03dZ INFO worker[%d] request id=%08x path=/api/v1/items/%d status=200 bytes=%d\n"
                 % (i // 60 % 60, i % 60, i % 1000, i % 7, (i * 2654435761) & 0xFFFFFFFF, i % 997, i * 31 % 65536))
    if i % 512 == 17:
        lines.append(b"token=" + planted + b"\n")
block = b"".join(lines)
with open(path, "wb") as f:
    n = 0
    while n < size:
        chunk = block[: size - n]
        f.write(chunk)
        n += len(chunk)
EOF
        masked=$("$V" --vault "$mv" exec --mask -- cat "$mf" | grep -c 'token=\*\*\*' || true)
        if ((masked > 0)); then
            note "mask check: $masked planted occurrences came out as *** in one run"
        else
            note "mask check FAILED: no planted occurrence came out masked"
        fi
        row mask_vault mask mask "vault exec --mask -- cat FILE (${MASK_MB} MB, 100 secrets)" "" \
            "$V" --vault "$mv" exec --mask -- cat "$mf"
        row mask_cat mask mask "cat FILE | cat (${MASK_MB} MB)" "" sh -c "cat $(q "$mf") | cat"
        echo "$MASK_MB" >"$res/mask_mb"
    else
        skip mask "--mask throughput" "building the vault or the file failed"
    fi
else
    skip mask "--mask throughput" "VAULT_BENCH_MASK_MB=0"
fi

# --- 6. check each row once, then time --------------------------------------
# The command line hyperfine runs for a row.
hf_cmd() {
    local id=$1
    if [[ -n ${R_STDIN[$id]} && $hf_input == 0 ]]; then
        printf 'sh -c %q' "exec ${R_CMD[$id]} < $(q "${R_STDIN[$id]}")"
    else
        printf '%s' "${R_CMD[$id]}"
    fi
}
run_once() { # run_once ID: the row's command, its stdin, output discarded
    local id=$1
    local in=${R_STDIN[$id]:-/dev/null}
    eval "timeout 300 ${R_CMD[$id]}" <"$in" >/dev/null 2>"$work/err.$id"
}
live=()
for id in "${ids[@]}"; do
    if run_once "$id"; then
        live+=("$id")
    else
        skip "$id" "${R_LABEL[$id]}" "its first run failed: $(tail -n 2 "$work/err.$id" | tr '\n' ' ')"
    fi
done

runs_for() {
    case $1 in
    fast) echo "$RUNS" ;; slow) echo "$SLOW_RUNS" ;; scale) echo "$SCALE_RUNS" ;;
    big) echo "$BIG_RUNS" ;; mask) echo "$MASK_RUNS" ;;
    esac
}
warmup_for() { [[ $1 == big || $1 == mask ]] && echo 1 || echo "$WARMUP"; }

caches=kept
if [[ ${VAULT_BENCH_DROP_CACHES:-1} == 1 ]]; then
    if sync && { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
        caches=dropped
    else
        note "the page cache could not be dropped before timing (not root?): binaries ran in whatever cache state they were in"
    fi
fi
cat /proc/loadavg >"$res/load_before"
hf_run() { # hf_run OUTJSON RUNS WARMUP ID... (PINNED=1: under "${pin[@]}")
    local out=$1 runs=$2 warm=$3 args=() id how=()
    shift 3
    [[ ${PINNED:-0} == 1 ]] && how=("${pin[@]}")
    for id in "$@"; do
        args+=(--command-name "$id")
        if [[ -n ${R_STDIN[$id]} && $hf_input == 1 ]]; then
            die "internal: rows with stdin need their own run"
        fi
        args+=("$(hf_cmd "$id")")
    done
    "${how[@]}" hyperfine -N --style basic --warmup "$warm" --runs "$runs" --export-json "$out" "${args[@]}" >&2
}
for group in fast slow scale big mask; do
    members=()
    solo=()
    for id in "${live[@]}"; do
        [[ ${R_GROUP[$id]} == "$group" ]] || continue
        if [[ -n ${R_STDIN[$id]} && $hf_input == 1 ]]; then solo+=("$id"); else members+=("$id"); fi
    done
    runs=$(runs_for "$group")
    warm=$(warmup_for "$group")
    if ((${#members[@]})); then
        # Fast rows: ROUNDS rounds (see ROUNDS above), the warm-up split
        # among them too; report.py pools each row's runs over the files.
        rounds=1
        [[ $group == fast ]] && rounds=$ROUNDS
        say "timing group '$group': ${members[*]} ($runs runs, in $rounds round(s))"
        for ((k = 1; k <= rounds; k++)); do
            n=$((runs / rounds + (k <= runs % rounds ? 1 : 0)))
            w=$((warm / rounds + (k <= warm % rounds ? 1 : 0)))
            if ! PINNED=$([[ $group == fast ]] && echo 1 || echo 0) \
                hf_run "$res/hf-$group.r$k.json" "$n" "$w" "${members[@]}"; then
                say "group '$group' failed as a whole; timing its rows one by one"
                rm -f "$res/hf-$group".r*.json
                solo+=("${members[@]}")
                break
            fi
        done
    fi
    solo_pin=()
    [[ $group == fast ]] && solo_pin=("${pin[@]}")
    for id in "${solo[@]}"; do
        if [[ -n ${R_STDIN[$id]} && $hf_input == 1 ]]; then
            "${solo_pin[@]}" hyperfine -N --style basic --warmup "$warm" --runs "$runs" --input "${R_STDIN[$id]}" \
                --export-json "$res/hf-$group-$id.json" --command-name "$id" "${R_CMD[$id]}" >&2 ||
                skip "$id" "${R_LABEL[$id]}" "hyperfine failed on it"
        else
            PINNED=$([[ $group == fast ]] && echo 1 || echo 0) \
                hf_run "$res/hf-$group-$id.json" "$runs" "$warm" "$id" ||
                skip "$id" "${R_LABEL[$id]}" "hyperfine failed on it"
        fi
    done
done
cat /proc/loadavg >"$res/load_after"

# Peak RSS (GNU time %M, KiB): median of RSS_RUNS runs.
if [[ -x /usr/bin/time ]]; then
    for id in "${live[@]}"; do
        [[ $id == mask_cat ]] && continue # a shell pipeline: not one process
        vals=()
        for ((i = 0; i < RSS_RUNS; i++)); do
            in=${R_STDIN[$id]:-/dev/null}
            if eval "/usr/bin/time -f %M -o $(q "$work/rss") ${R_CMD[$id]}" <"$in" >/dev/null 2>&1; then
                vals+=("$(tail -n 1 "$work/rss")")
            fi
        done
        ((${#vals[@]})) && printf '%s\t%s\n' "$id" "${vals[*]}" >>"$res/rss.tsv"
    done
else
    note "GNU time (/usr/bin/time) missing: no peak RSS column"
fi

# --- 7. report -----------------------------------------------------------------
for id in "${ids[@]}"; do
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "${R_GROUP[$id]}" "${R_CAT[$id]}" "${R_LABEL[$id]}" \
        "$([[ -n ${R_STDIN[$id]} && $hf_input == 0 ]] && echo sh || echo -)" "$(hf_cmd "$id")" >>"$res/rows.tsv"
done
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "ram_kib=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"
    echo "kernel=$(uname -sr)"
    # shellcheck disable=SC1091
    echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
    echo "vault_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "vault_version=$("$V" --version 2>/dev/null)"
    echo "rustc=$(rustc --version 2>/dev/null)"
    for p in hyperfine libsecret-tools python3-keyring keepassxc pass argon2 age gnupg gnome-keyring; do
        echo "pkg_$p=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo '-')"
    done
    echo "runs=$RUNS"
    echo "slow_runs=$SLOW_RUNS"
    echo "scale_runs=$SCALE_RUNS"
    echo "big_runs=$BIG_RUNS"
    echo "mask_runs=$MASK_RUNS"
    echo "rss_runs=$RSS_RUNS"
    echo "warmup=$WARMUP"
    echo "rounds=$ROUNDS"
    echo "pin=$PIN"
    echo "caches=$caches"
    echo "hf_input=$hf_input"
    echo "load_before=$(cut -d' ' -f1-3 "$res/load_before")"
    echo "load_after=$(cut -d' ' -f1-3 "$res/load_after")"
    # Criterion's figures come from an earlier run when it was not run now.
    echo "criterion_dir=$(want criterion && echo "$target/criterion")"
    echo "only=$ONLY"
    echo "rage=$([[ -n $RAGE ]] && "$RAGE" --version 2>/dev/null | head -n 1)"
    echo "repo=$repo"
} >"$res/meta.txt"

mkdir -p "$(dirname "$OUT_MD")" "$(dirname "$OUT_SVG")"
"$PY" "$here/report.py" "$res" "$OUT_MD" "$OUT_SVG"
say "wrote $OUT_MD and $OUT_SVG"
