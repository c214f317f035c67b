#!/usr/bin/env bash
# Installs the Debian packages the test suites need, only if missing:
# dbus + gnome-keyring (a private Secret Service), libsecret-tools
# (secret-tool), strace (no-plaintext checks), gdb (gcore), time (peak RSS),
# keyutils (keyctl: the cached unlock from a fresh session keyring).
set -euo pipefail
packages=(dbus gnome-keyring libsecret-tools strace gdb time keyutils)
missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q </dev/null
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
else
    echo "already installed: ${packages[*]}"
fi
