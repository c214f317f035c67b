#!/usr/bin/env bash
# Installs the Debian packages the test suites need, only if missing:
# dbus + gnome-keyring (a private Secret Service), libsecret-tools
# (secret-tool), strace (no-plaintext checks), gdb (gcore), time (peak RSS),
# keyutils (keyctl: the cached unlock from a fresh session keyring);
# python3-venv, nodejs and npm for the real .env parsers the import/export
# tests read back with (python-dotenv from PyPI into tests/interop/.venv,
# Node's dotenv from npm into tests/interop/node_modules, both pinned).
set -euo pipefail
packages=(dbus gnome-keyring libsecret-tools strace gdb time keyutils python3-venv)
missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done
# Node may come from elsewhere (nodesource bundles npm): ask for the commands.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
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

# The interop parsers (tests/integration/import_export.rs), pinned by
# tests/interop/requirements.txt and tests/interop/package-lock.json.
interop="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/interop"
if "$interop/.venv/bin/python" -c 'import dotenv' 2>/dev/null; then
    echo "already installed: python-dotenv (tests/interop/.venv)"
else
    echo "installing: python-dotenv from PyPI into tests/interop/.venv ($(cat "$interop/requirements.txt"))"
    python3 -m venv "$interop/.venv"
    "$interop/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$interop/requirements.txt" </dev/null
fi
if [[ -f $interop/node_modules/dotenv/package.json ]]; then
    echo "already installed: dotenv (npm, tests/interop/node_modules)"
else
    echo "installing: dotenv from npm into tests/interop/node_modules (npm ci, pinned by package-lock.json)"
    npm ci --prefix "$interop" --no-audit --no-fund </dev/null
fi
