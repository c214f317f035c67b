#!/usr/bin/env bash
# Installs what the test suites need, only if missing, saying what it
# installs first. Debian packages: dbus + gnome-keyring (a private Secret
# Service), libsecret-tools (secret-tool), strace (no-plaintext checks), gdb
# (gcore), time (peak RSS), keyutils (keyctl: the cached unlock from a fresh
# session keyring), age (age, age-keygen) and openssh-client (ssh-keygen:
# recipient slots and the recovery of an exported slot), python3-venv, nodejs and npm (only if `node`/`npm` are
# missing: nodesource's nodejs bundles npm). Then the real .env parsers the
# import/export tests read back with, pinned: python-dotenv from PyPI into
# tests/interop/.venv, Node's dotenv from npm into tests/interop/node_modules.
# Needs the network only for what is missing.
#
# Usage: scripts/deps.sh [--best-effort] [PACKAGE...]
#   PACKAGE...     more Debian packages to install with these
#                  (benches/compare.sh adds the tools it times)
#   --best-effort  a package that cannot be installed (or no root and no
#                  sudo) is reported and skipped instead of failing
set -euo pipefail
best_effort=0
if [[ ${1:-} == --best-effort ]]; then
    best_effort=1
    shift
fi
packages=(dbus gnome-keyring libsecret-tools strace gdb time keyutils python3-venv age openssh-client "$@")
missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

install_debian() {
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        elif ((best_effort)); then
            echo "missing ${missing[*]}, and not root and no sudo: not installing" >&2
            return 0
        fi
    fi
    echo "installing (Debian packages, network): ${missing[*]}"
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
}

if ((${#missing[@]})); then
    install_debian
else
    echo "already installed: ${packages[*]} node npm"
fi

# The interop parsers (tests/integration/import_export.rs), pinned by
# tests/interop/requirements.txt and tests/interop/package-lock.json.
interop="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/interop"
if "$interop/.venv/bin/python" -c 'import dotenv' 2>/dev/null; then
    echo "already installed: python-dotenv (tests/interop/.venv)"
else
    echo "installing (PyPI, network): python-dotenv into tests/interop/.venv ($(cat "$interop/requirements.txt"))"
    python3 -m venv "$interop/.venv"
    "$interop/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$interop/requirements.txt" </dev/null
fi
if [[ -f $interop/node_modules/dotenv/package.json ]]; then
    echo "already installed: dotenv (npm, tests/interop/node_modules)"
else
    echo "installing (npm, network): dotenv into tests/interop/node_modules (npm ci, pinned by package-lock.json)"
    npm ci --prefix "$interop" --no-audit --no-fund </dev/null
fi
