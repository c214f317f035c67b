#!/usr/bin/env bash
# Checks the declared minimum Rust version (`rust-version` in Cargo.toml)
# against the one the locked dependency tree needs: the highest
# `rust-version` of any crate a build of vault compiles (normal and build
# dependencies of this platform, from Cargo.lock; dev-dependencies are not
# needed to install vault). The two must be equal: lower would promise a
# toolchain the tree refuses, higher would refuse toolchains that work.
# Our own code's use of newer std APIs is clippy's `incompatible_msrv` lint
# (scripts/test.sh runs clippy with -D warnings). Only one toolchain is on
# these machines, so this derivation is the check (no build with 1.89).
#
# Usage: scripts/msrv.sh   (exit 0: equal; 1: they differ; prints both)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
cargo metadata --locked --format-version 1 --filter-platform "$host" | python3 -c '
import json, sys
m = json.load(sys.stdin)
pkgs = {p["id"]: p for p in m["packages"]}
nodes = {n["id"]: n for n in m["resolve"]["nodes"]}
root = m["resolve"]["root"]
def ver(v):
    t = tuple(int(x) for x in (v or "0").split("."))
    return t + (0,) * (3 - len(t))
seen, todo = set(), [root]
while todo:
    n = todo.pop()
    if n in seen:
        continue
    seen.add(n)
    for d in nodes[n]["deps"]:
        kinds = {k["kind"] for k in d["dep_kinds"]}
        if kinds & {None, "build"}:
            todo.append(d["pkg"])
seen.discard(root)
need = max(seen, key=lambda i: ver(pkgs[i].get("rust_version")))
needed = pkgs[need].get("rust_version")
declared = pkgs[root].get("rust_version")
name, version = pkgs[need]["name"], pkgs[need]["version"]
print(f"declared rust-version {declared}; the dependency tree ({len(seen)} crates) needs {needed} ({name} {version})")
sys.exit(0 if ver(declared) == ver(needed) else 1)
'
