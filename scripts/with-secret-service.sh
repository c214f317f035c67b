#!/usr/bin/env bash
# Run CMD [ARGS...] against a private, throwaway Secret Service.
#
# Starts a private D-Bus session bus and gnome-keyring-daemon (secrets
# component only) with a fresh, unlocked "login" collection as the default
# collection, runs CMD with DBUS_SESSION_BUS_ADDRESS pointing at that bus,
# then stops both daemons and deletes all their files. The caller's real
# keyring is never touched: only the daemons get a fresh HOME and XDG dirs;
# CMD keeps the caller's environment (plus the variables below).
#
# Exit status: CMD's exit status; 1 if the Secret Service could not be set up.
#
# Environment for CMD:
#   DBUS_SESSION_BUS_ADDRESS  the private bus
#   VAULT_SS_PRIVATE=1        marks "running inside this script"
# Options (environment):
#   VAULT_SS_LOCKED=1   lock the default collection before running CMD
#                       (there is no prompter, so unlocking it fails at once)
#   VAULT_SS_VERBOSE=1  print the daemons' logs when done
#
# Needs: apt-get install -y dbus gnome-keyring   (libsecret-tools is handy)
# Does not use dbus-run-session: where PID 1 does not reap, that leaves zombies.
# shellcheck disable=SC2317  # functions run from traps
set -euo pipefail

me=with-secret-service
die() {
    echo "$me: $*" >&2
    exit 1
}

[[ $# -ge 1 ]] || die "usage: $0 CMD [ARGS...]"
for tool in dbus-daemon dbus-send gnome-keyring-daemon; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "'$tool' not found; install it: apt-get install -y dbus gnome-keyring libsecret-tools"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vault-ss.XXXXXXXX")
chmod 0700 "$tmp"
mkdir -m 0700 "$tmp/run" "$tmp/data" "$tmp/home" "$tmp/config" "$tmp/cache"
dbus_pid=
keyring_pid=

# True while PID is running (a zombie, i.e. exited but not yet reaped, is not).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# Stop one of our own children by PID: TERM, up to 5 s, then KILL; then reap it.
stop() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

show_logs() {
    local f
    for f in "$tmp/dbus.log" "$tmp/keyring.log"; do
        [[ -s $f ]] || continue
        echo "$me: --- ${f##*/} ---" >&2
        cat "$f" >&2
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    [[ ${VAULT_SS_VERBOSE:-} == 1 ]] && show_logs
    stop "$keyring_pid"
    stop "$dbus_pid"
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    show_logs
    die "$*"
}

# Environment for the daemons (and anything the bus activates): fresh dirs, no display.
daemon_env=(env -u DISPLAY -u WAYLAND_DISPLAY -u DBUS_SESSION_BUS_ADDRESS
    -u GNOME_KEYRING_CONTROL -u SSH_AUTH_SOCK
    HOME="$tmp/home" XDG_RUNTIME_DIR="$tmp/run" XDG_DATA_HOME="$tmp/data"
    XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/cache")

# --- 1. private session bus ---------------------------------------------------
listen=()
# The socket goes into $tmp when the path needs no escaping in a D-Bus address.
if [[ $tmp =~ ^[-0-9A-Za-z_/.]+$ ]] && ((${#tmp} < 100)); then
    listen=(--address="unix:path=$tmp/bus")
fi
"${daemon_env[@]}" dbus-daemon --session --nofork --nopidfile "${listen[@]}" \
    --print-address=3 3>"$tmp/addr" </dev/null >"$tmp/dbus.log" 2>&1 &
dbus_pid=$!

for ((i = 0; i < 100; i++)); do # up to 10 s
    [[ -s $tmp/addr ]] && break
    alive "$dbus_pid" || fail "dbus-daemon exited during start-up"
    sleep 0.1
done
[[ -s $tmp/addr ]] || fail "dbus-daemon printed no address within 10 s"
DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$tmp/addr")
export DBUS_SESSION_BUS_ADDRESS
daemon_env+=(DBUS_SESSION_BUS_ADDRESS="$DBUS_SESSION_BUS_ADDRESS")

# dbus-send with a bounded reply time; prints the reply.
call() {
    dbus-send --session --print-reply --reply-timeout=2000 "$@" 2>&1
}

# --- 2. gnome-keyring-daemon, login keyring created and unlocked --------------
printf '%s' "vault-test-keyring-password" >"$tmp/password"
"${daemon_env[@]}" gnome-keyring-daemon --foreground --unlock --components=secrets \
    <"$tmp/password" >"$tmp/keyring.log" 2>&1 &
keyring_pid=$!

ss=org.freedesktop.secrets
login=/org/freedesktop/secrets/collection/login
# reply_has PATTERN DBUS-SEND-ARGS...: the call succeeds and its reply contains PATTERN.
reply_has() {
    local pattern=$1 out
    shift
    out=$(call "$@") || return 1
    [[ $out == *"$pattern"* ]]
}
ready=
for ((i = 0; i < 100; i++)); do # up to 10 s
    alive "$keyring_pid" || fail "gnome-keyring-daemon exited during start-up"
    if reply_has 'boolean true' --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner "string:$ss" &&
        reply_has "object path \"$login\"" --dest=$ss /org/freedesktop/secrets \
            org.freedesktop.Secret.Service.ReadAlias string:default &&
        reply_has 'boolean false' --dest=$ss $login org.freedesktop.DBus.Properties.Get \
            string:org.freedesktop.Secret.Collection string:Locked; then
        ready=1
        break
    fi
    sleep 0.1
done
[[ -n $ready ]] || fail "no unlocked default collection on $ss within 10 s"

if [[ ${VAULT_SS_LOCKED:-} == 1 ]]; then
    call --dest=$ss /org/freedesktop/secrets org.freedesktop.Secret.Service.Lock \
        "array:objpath:$login" >/dev/null || fail "could not lock $login"
    reply_has 'boolean true' --dest=$ss $login org.freedesktop.DBus.Properties.Get \
        string:org.freedesktop.Secret.Collection string:Locked ||
        fail "$login is still unlocked after Lock"
fi

# --- 3. the command ----------------------------------------------------------
# Run in the foreground, so it keeps the terminal, stdin and signal dispositions.
# A TERM/INT to this script takes effect once CMD has exited.
export VAULT_SS_PRIVATE=1
set +e
"$@"
status=$?
set -e
exit "$status"
