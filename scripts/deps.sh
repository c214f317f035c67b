#!/usr/bin/env bash
# Installs the Debian packages the test suites need, only if missing:
# dbus + gnome-keyring (a private Secret Service), libsecret-tools
# (secret-tool), strace (no-plaintext checks), gdb (gcore), time (peak RSS),
# keyutils (keyctl: the cached unlock from a fresh session keyring).
#
# Usage: scripts/deps.sh [--best-effort] [PACKAGE...]
#   PACKAGE...     more packages to install with these (benches/compare.sh
#                  adds the tools it times)
#   --best-effort  a package that cannot be installed (or no root and no
#                  sudo) is reported and skipped instead of failing
set -euo pipefail
best_effort=0
if [[ ${1:-} == --best-effort ]]; then
    best_effort=1
    shift
fi
packages=(dbus gnome-keyring libsecret-tools strace gdb time keyutils "$@")
missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((!${#missing[@]})); then
    echo "already installed: ${packages[*]}"
    exit 0
fi
sudo=()
if [[ $(id -u) != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    elif ((best_effort)); then
        echo "missing ${missing[*]}, and not root and no sudo: not installing" >&2
        exit 0
    fi
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ((best_effort)); then
    "${sudo[@]}" apt-get update -q </dev/null || echo "apt-get update failed; trying anyway" >&2
    if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null; then
        # One by one, so one unavailable package does not stop the others.
        for p in "${missing[@]}"; do
            "${sudo[@]}" apt-get install -y -q --no-install-recommends "$p" </dev/null ||
                echo "could not install $p" >&2
        done
    fi
else
    "${sudo[@]}" apt-get update -q </dev/null
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi
