#!/usr/bin/env bash
# A first run of vault, end to end: build it, create a throwaway vault
# opened by a passphrase, store secrets, and hand them to commands with
# `vault exec` (environment, --only, --file, --mask) and `vault render`.
# Everything happens in a temporary directory that is removed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The dev profile (see Cargo.toml), the one scripts/test.sh builds with, so
# a newcomer running both compiles the dependency tree once. Without the
# Secret Service (keyring) feature: this tour opens its vault with a
# passphrase, and the D-Bus client stack is 52 of the ~280 crates, a third
# of the build (cargo build --timings); scripts/test.sh and `cargo install`
# build it. Cargo's progress is shown.
echo "# building vault (cargo build --locked --no-default-features: the keyring is not used here;"
echo "# about 1½ minutes on a fresh 2-core machine, progress below)"
cargo build --locked --no-default-features --bin vault
bin="$PWD/target/debug/vault"
vault() { "$bin" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export VAULT_FILE="$work/tour.vault"
umask 077
printf 'correct horse battery staple\n' > pass.txt
export VAULT_PASSPHRASE_FILE="$work/pass.txt"

show() { printf '\n$ %s\n' "$*"; }

show vault init
vault init
show 'printf %s ghp_example_token_1234 | vault set GITHUB_TOKEN'
printf %s ghp_example_token_1234 | vault set GITHUB_TOKEN
show 'printf %s s3cr3t-db-pass | vault set DB_PASSWORD'
printf %s s3cr3t-db-pass | vault set DB_PASSWORD
show vault list
vault list
show vault get DB_PASSWORD
vault get DB_PASSWORD

show "vault exec -- sh -c 'echo token length: \${#GITHUB_TOKEN}'"
vault exec -- sh -c 'echo token length: ${#GITHUB_TOKEN}'

show "vault exec --only DB_PASSWORD -- sh -c 'env | grep -c GITHUB_TOKEN || true'"
vault exec --only DB_PASSWORD -- sh -c 'env | grep -c GITHUB_TOKEN || true'

printf '[db]\npassword = "${secrets.DB_PASSWORD}"\n' > app.toml.tmpl
show 'vault exec --file APP_CONFIG=app.toml.tmpl -- sh -c '\''echo "config at $APP_CONFIG:"; cat "$APP_CONFIG"'\'''
vault exec --file APP_CONFIG=app.toml.tmpl -- sh -c 'echo "config at $APP_CONFIG:"; cat "$APP_CONFIG"'

show "vault exec --mask -- sh -c 'echo \"leaked into a CI log: \$DB_PASSWORD\"'"
vault exec --mask -- sh -c 'echo "leaked into a CI log: $DB_PASSWORD"'

show vault render app.toml.tmpl
vault render app.toml.tmpl

show 'ls -A (no plaintext anywhere: only the encrypted vault, its lock file and this tour'"'"'s inputs)'
ls -A
echo
echo "# tour done; the vault and everything above are deleted now"
