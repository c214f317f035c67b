#!/usr/bin/env python3
"""Writes docs/BENCHMARKS.md and docs/benchmarks.svg from the results of
benches/compare.sh. Standard library only.

Usage: report.py RESULTS_DIR OUT_MD OUT_SVG

RESULTS_DIR holds what compare.sh wrote: meta.txt (key=value), rows.tsv
(id, group, category, label, wrapped, command), skipped.tsv (id, label,
reason), notes.txt, rss.tsv (id, KiB values), hf-*.json (hyperfine exports).
benches/notes.md, hand-written analysis, is copied into the report.
"""

import glob
import html
import json
import math
import os
import statistics
import sys
import time

res_dir, out_md, out_svg = sys.argv[1:4]
here = os.path.dirname(os.path.abspath(__file__))


def read_lines(name):
    p = os.path.join(res_dir, name)
    if not os.path.exists(p):
        return []
    with open(p, encoding="utf-8", errors="replace") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


meta = {}
for l in read_lines("meta.txt"):
    k, _, v = l.partition("=")
    meta[k] = v

rows = {}
order = []
for l in read_lines("rows.tsv"):
    rid, group, cat, label, wrapped, cmd = (l.split("\t") + [""] * 6)[:6]
    rows[rid] = dict(id=rid, group=group, cat=cat, label=label, wrapped=wrapped == "sh", cmd=cmd)
    order.append(rid)

skipped = [l.split("\t") for l in read_lines("skipped.tsv")]
notes = read_lines("notes.txt")

rss = {}
for l in read_lines("rss.tsv"):
    rid, vals = l.split("\t")
    v = [int(x) for x in vals.split()]
    if v:
        rss[rid] = statistics.median(v)

# hyperfine results, keyed by row id (the --command-name). The fast rows
# come in several files (ROUNDS, one per round): each row's runs are pooled
# and its figures computed from all of them.
res = {}
pooled = {}
for p in sorted(glob.glob(os.path.join(res_dir, "hf-*.json"))):
    with open(p) as f:
        for r in json.load(f)["results"]:
            pooled.setdefault(r["command"], []).append(r)
for rid, parts in pooled.items():
    times = [t for r in parts for t in (r.get("times") or [])]
    if times:
        res[rid] = dict(
            median=statistics.median(times),
            min=min(times),
            max=max(times),
            mean=statistics.fmean(times),
            stddev=statistics.stdev(times) if len(times) > 1 else 0.0,
            runs=len(times),
        )
    else:
        r = parts[-1]
        res[rid] = dict(
            median=r["median"],
            min=r["min"],
            max=r["max"],
            mean=r["mean"],
            stddev=r.get("stddev") or 0.0,
            runs=0,
        )

# Criterion estimates (in-process), from the target dir.
crit = []
cdir = meta.get("criterion_dir", "")
# An empty criterion_dir: criterion was not run this time (VAULT_BENCH_ONLY).
for est in sorted(glob.glob(os.path.join(cdir, "**", "new", "estimates.json"), recursive=True)) if cdir else []:
    bdir = os.path.dirname(est)
    try:
        with open(est) as f:
            e = json.load(f)
        with open(os.path.join(bdir, "benchmark.json")) as f:
            b = json.load(f)
    except (OSError, ValueError):
        continue
    med = e["median"]["point_estimate"] / 1e9
    lo = e["median"]["confidence_interval"]["lower_bound"] / 1e9
    hi = e["median"]["confidence_interval"]["upper_bound"] / 1e9
    tp = b.get("throughput") or {}
    crit.append(
        dict(
            id=b["full_id"],
            group=b["group_id"],
            function=b.get("function_id") or "",
            value=b.get("value_str") or "",
            median=med,
            lo=lo,
            hi=hi,
            throughput=tp,
            mtime=os.path.getmtime(est),
        )
    )
crit_by_id = {c["id"]: c for c in crit}
ONE_THREAD = "argon2id_m64MiB_t3_p4/argon2_crate_one_thread"
PARALLEL = "argon2id_m64MiB_t3_p4/argon2_crate_parallel"


def fmt_t(s):
    if s is None:
        return "–"
    ms = s * 1e3
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        us = s * 1e6
        return f"{us:.2f} µs" if us < 10 else (f"{us:.1f} µs" if us < 100 else f"{us:.0f} µs")
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 100:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def fmt_kib(k):
    if k is None:
        return "–"
    return f"{k / 1024:.1f} MiB"


def fmt_ratio(x):
    if x is None:
        return "–"
    if x >= 10:
        return f"{x:.0f}×"
    if x >= 1:
        return f"{x:.2f}×"
    return f"{x:.3f}×"


def cell(text):
    """Text for a markdown table cell."""
    return text.replace("|", "\\|")


def med(rid):
    return res.get(rid, {}).get("median")


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_bytes_per_s(bps):
    if bps >= 1e9:
        return f"{bps / 1e9:.2f} GB/s"
    if bps >= 1e6:
        return f"{bps / 1e6:.0f} MB/s"
    return f"{bps / 1e3:.0f} kB/s"


one_thread = crit_by_id.get(ONE_THREAD, {}).get("median")
mask_mb = None
try:
    with open(os.path.join(res_dir, "mask_mb")) as f:
        mask_mb = int(f.read().strip())
except (OSError, ValueError):
    pass

# --- targets -------------------------------------------------------------------
# Every target and its limit, in this one table (docs/BENCHMARKS.md's table is
# made from it; nothing else states a limit). Each entry: text, what is
# measured (from this run's medians and peak RSS), the limit, "le" (at most)
# or "ge" (at least), the format, and what to show when it was not measured.
NOT_1M = "not measured (VAULT_BENCH_1M=1)"
NO_RAGE = "not measured (rage is not installed: `cargo install --locked rage --version 0.12.1`)"
NO_GIT = "not measured (this vault has no `merge`/`textconv`, or the row was skipped)"
TARGETS = [
    ("keyring mode: `vault exec -- true` ÷ `envchain ns true` (20 secrets)",
     ratio(med("kr_exec"), med("envchain")), 0.25, "le", fmt_ratio,
     "not measured (envchain is not on this machine)"),
    ("keyring mode: `vault exec -- true` ÷ `secret-tool lookup`",
     ratio(med("kr_exec"), med("secret_tool")), 1.0, "le", fmt_ratio, None),
    ("cached mode: `vault exec -- true` ÷ `env FOO=bar true`",
     ratio(med("ca_exec"), med("env")), 2.5, "le", fmt_ratio, None),
    ("passphrase mode: `vault exec -- true` ÷ `argon2` CLI (same parameters)",
     ratio(med("pp_exec"), med("argon2_cli")), 0.6, "le", fmt_ratio, None),
    ("passphrase mode: `vault exec -- true` ÷ Argon2id on one thread (argon2 crate, criterion)",
     ratio(med("pp_exec"), one_thread), 0.6, "le", fmt_ratio, None),
    ("100 000 secrets, cached: `vault get`", med("s100k_get"), 0.050, "le", fmt_t, None),
    ("100 000 secrets, cached: `vault set`", med("s100k_set"), 0.120, "le", fmt_t, None),
    ("1 000 000 secrets: `vault get` ÷ its 100 000 figure",
     ratio(med("s1m_get"), med("s100k_get")), 10.0, "le", fmt_ratio, NOT_1M),
    ("1 000 000 secrets: `vault set` ÷ its 100 000 figure",
     ratio(med("s1m_set"), med("s100k_set")), 10.0, "le", fmt_ratio, NOT_1M),
    ("peak RSS of `vault get`, keyring mode, 20 secrets", rss.get("kr_get"), 8 * 1024, "le", fmt_kib, None),
    ("identity mode: `vault --identity key.txt get` (20 secrets) ÷ `rage -d -i key.txt` (20-line file)",
     ratio(med("id_get"), med("rage")), 1.0, "le", fmt_ratio, NO_RAGE),
    ("identity mode: `vault --identity key.txt exec -- true` ÷ Go `age -d -i key.txt` (20-line file)",
     ratio(med("id_exec"), med("age")), 1.0, "le", fmt_ratio, None),
    ("identity mode: `vault get` with 64 recipient slots (ours last) ÷ with one slot",
     ratio(med("id64_get"), med("id_get")), 1.1, "le", fmt_ratio, None),
    ("`vault merge` of two 10 000-secret vaults, 100 changes per side (cached)",
     med("git_merge"), 0.150, "le", fmt_t, NO_GIT),
    ("`vault textconv` of a 10 000-secret vault (cached)", med("git_textconv"), 0.050, "le", fmt_t, NO_GIT),
    ("`vault exec --mask -- cat FILE` throughput ÷ `cat FILE | cat`",
     ratio(med("mask_cat"), med("mask_vault")), 0.5, "ge", fmt_ratio, None),
]

targets = []  # (text, measured text, limit text, status)
for text, value, limit, better, fmt, missing in TARGETS:
    if value is None:
        targets.append((text, missing or "not measured", "", "—"))
        continue
    ok = value <= limit if better == "le" else value >= limit
    if ok:
        status = "met"
    else:
        by = value / limit if better == "le" else limit / value
        status = f"**missed** ({by:.2f}× over)" if better == "le" else f"**missed** ({by:.2f}× short)"
    targets.append((text, fmt(value), ("≤ " if better == "le" else "≥ ") + fmt(limit), status))

VAULT_CATS = ("keyring", "cached", "passphrase", "identity")

# --- markdown --------------------------------------------------------------------
md = []
w = md.append
w("# Benchmarks")
w("")
w(
    "<!-- Generated by benches/compare.sh (benches/report.py); edit benches/notes.md "
    "for the analysis, then re-run the script. -->"
)
w("")
w(
    f"Measured on {meta.get('date', '?')} on {meta.get('nproc', '?')} cores "
    f"({meta.get('cpu', '?')}), vault {meta.get('vault_rev', '?')}. "
    "Medians of one side-by-side run; lower is better. "
    f"Load average before / after timing: {meta.get('load_before', '?')} / {meta.get('load_after', '?')}"
    + (
        " — **the machine was busy, so these figures are noisy**."
        if any(float(x) > float(meta.get("nproc", "1") or 1) * 0.5 for x in
               (meta.get("load_before", "0 0 0").split()[:1] + meta.get("load_after", "0 0 0").split()[:1]))
        else "."
    )
)
w("")
if meta.get("only"):
    w(
        f"**Partial run** (`VAULT_BENCH_ONLY={meta['only']}`): only those sections and the `env` floor "
        "were timed; every other target reads *not measured*."
    )
    w("")
head = []
if med("ca_exec") and med("env"):
    head.append(f"cached `vault exec` {fmt_t(med('ca_exec'))} ({fmt_ratio(ratio(med('ca_exec'), med('env')))} the `env` floor)")
if med("kr_exec"):
    s = f"keyring `vault exec` {fmt_t(med('kr_exec'))}"
    if med("secret_tool"):
        s += f" ({fmt_ratio(ratio(med('kr_exec'), med('secret_tool')))} `secret-tool lookup`)"
    head.append(s)
if med("pp_exec"):
    s = f"passphrase `vault exec` {fmt_t(med('pp_exec'))}"
    if med("argon2_cli"):
        s += f" ({fmt_ratio(ratio(med('pp_exec'), med('argon2_cli')))} the `argon2` CLI)"
    head.append(s)
if med("id_get"):
    s = f"identity `vault get` {fmt_t(med('id_get'))}"
    if med("rage"):
        s += f" ({fmt_ratio(ratio(med('id_get'), med('rage')))} `rage -d`)"
    head.append(s)
if head:
    w("**Headline:** " + "; ".join(head) + ".")
    w("")
w("![Per-call time of vault and other tools, log scale](benchmarks.svg)")
w("")

w("## Side by side")
w("")
w(
    "Each row is one command timed by `hyperfine -N` (no shell in between); rows of one group "
    "(fast, slow, scale, mask) ran in one hyperfine invocation, the fast rows in "
    f"{meta.get('rounds', '1')} such invocations one after the other, each row's runs pooled "
    "(a slow stretch of the machine falls on every row alike)"
    + (
        f", and pinned to CPU {meta['pin']} (`taskset`: unpinned, a 2 ms command's times were "
        "bimodal, whichever CPU it landed on)"
        if meta.get("pin", "none") != "none"
        else ""
    )
    + (
        "; the page cache was dropped just before timing (every binary read back from disk "
        "alike: how its pages came into the cache changes its page faults)"
        if meta.get("caches") == "dropped"
        else ""
    )
    + ". Peak RSS: GNU `time -f %M`, "
    f"median of {meta.get('rss_runs', '?')} runs. *vs floor*: median ÷ `env FOO=bar true`."
)
w("")
w("| command | median | min | max | runs | peak RSS | vs floor |")
w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
timed = [r for r in order if r in res and rows[r]["group"] != "mask"]
timed.sort(key=lambda r: ({"fast": 0, "slow": 1, "scale": 2, "big": 3}.get(rows[r]["group"], 9), res[r]["median"]))
for rid in timed:
    r = res[rid]
    label = cell(rows[rid]["label"])
    if rows[rid]["cat"] in VAULT_CATS:
        label = f"**{label}**"
    if rows[rid]["wrapped"]:
        label += " ¹"
    w(
        f"| {label} | {fmt_t(r['median'])} | {fmt_t(r['min'])} | {fmt_t(r['max'])} | {r['runs']} | "
        f"{fmt_kib(rss.get(rid))} | {fmt_ratio(ratio(r['median'], med('env')))} |"
    )
if one_thread:
    c = crit_by_id[ONE_THREAD]
    w(
        f"| Argon2id m=64MiB t=3 p=4, argon2 crate on one thread (in-process, criterion) ² | "
        f"{fmt_t(one_thread)} | {fmt_t(c['lo'])} | {fmt_t(c['hi'])} | – | – | "
        f"{fmt_ratio(ratio(one_thread, med('env')))} |"
    )
if PARALLEL in crit_by_id:
    c = crit_by_id[PARALLEL]
    w(
        f"| Argon2id m=64MiB t=3 p=4, argon2 crate, parallel lanes (in-process, criterion) ² | "
        f"{fmt_t(c['median'])} | {fmt_t(c['lo'])} | {fmt_t(c['hi'])} | – | – | "
        f"{fmt_ratio(ratio(c['median'], med('env')))} |"
    )
w("")
if any(rows[r]["wrapped"] for r in timed):
    w(
        "¹ Reads its password from standard input: this hyperfine has no `--input`, so the row runs "
        "`sh -c 'exec CMD < FILE'`, one extra exec of `sh` (about one floor) on top of the tool."
    )
if one_thread:
    w(
        "² Not a command: criterion's median (min/max columns: its 95 % confidence interval) from "
        "`cargo bench --bench kdf`, run by the same script just before the table."
    )
w("")

if "mask_vault" in res and "mask_cat" in res and mask_mb:
    w("### `--mask` throughput")
    w("")
    w("| command | median | min | max | runs | throughput |")
    w("| --- | ---: | ---: | ---: | ---: | ---: |")
    for rid in ("mask_vault", "mask_cat"):
        r = res[rid]
        w(
            f"| {cell(rows[rid]['label'])} | {fmt_t(r['median'])} | {fmt_t(r['min'])} | {fmt_t(r['max'])} | "
            f"{r['runs']} | {fmt_bytes_per_s(mask_mb * 1e6 / r['median'])} |"
        )
    w("")
    w(f"Peak RSS of the masking `vault`: {fmt_kib(rss.get('mask_vault'))}.")
    w("")

w("## Targets")
w("")
w("From the issue; medians of the run above.")
w("")
w("| target | measured | limit | |")
w("| --- | ---: | ---: | --- |")
for t in targets:
    w(f"| {cell(t[0])} | {t[1]} | {t[2]} | {t[3]} |")
w("")

# Ratios of each vault figure to every other tool.
vault_ids = [r for r in ("kr_exec", "kr_get", "ca_exec", "ca_get", "id_exec", "id_get", "id64_get", "pp_exec", "pp_get")
             if r in res]
others = [r for r in ("env", "secret_tool", "envchain", "pass", "keepassxc", "rage", "age", "py_keyring", "argon2_cli")
          if r in res]
if vault_ids and others:
    w("## Ratios")
    w("")
    w("Each vault median ÷ each other tool's median (below 1: vault is faster).")
    w("")
    short = {
        "env": "env floor",
        "secret_tool": "secret-tool",
        "envchain": "envchain",
        "pass": "pass",
        "keepassxc": "keepassxc-cli",
        "rage": "rage -d",
        "age": "age -d (Go)",
        "py_keyring": "python keyring",
        "argon2_cli": "argon2 CLI",
    }
    cols = [short[o] for o in others]
    if one_thread:
        cols.append("Argon2id 1 thread")
    w("| vault | " + " | ".join(cols) + " |")
    w("| --- | " + " | ".join("---:" for _ in cols) + " |")
    for v in vault_ids:
        cells = [fmt_ratio(ratio(med(v), med(o))) for o in others]
        if one_thread:
            cells.append(fmt_ratio(ratio(med(v), one_thread)))
        w(f"| {cell(rows[v]['label'])} | " + " | ".join(cells) + " |")
    w("")

if crit:
    w("## Criterion (in-process)")
    w("")
    newest = max(c["mtime"] for c in crit)
    oldest = min(c["mtime"] for c in crit)
    w(
        "From `cargo bench` (`benches/core.rs`, `kdf.rs`, `mask.rs`), median with its 95 % confidence "
        "interval; results dated "
        + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(oldest))
        + (
            " to " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(newest))
            if newest - oldest > 3600
            else ""
        )
        + ". *open* = parse + commitment check + AEAD + CBOR decode with the data key; *seal* = "
        "CBOR encode + AEAD; *open_set_seal* = a cached `vault set` without the file I/O."
    )
    w("")
    w("| bench | median | 95 % CI | per element / throughput |")
    w("| --- | ---: | ---: | ---: |")
    for c in sorted(crit, key=lambda c: (c["group"], c["function"], float(c["value"]) if c["value"].replace(".", "").isdigit() else 0)):
        tp = c["throughput"]
        extra = ""
        if "Bytes" in tp:
            extra = fmt_bytes_per_s(tp["Bytes"] / c["median"])
        elif "Elements" in tp and tp["Elements"]:
            per = c["median"] / tp["Elements"]
            extra = f"{per * 1e9:.0f} ns/secret"
        name = c["id"]
        w(f"| `{name}` | {fmt_t(c['median'])} | {fmt_t(c['lo'])} – {fmt_t(c['hi'])} | {extra} |")
    w("")

w("## Machine")
w("")
ram = meta.get("ram_kib")
w(f"- CPU: {meta.get('cpu', '?')}, {meta.get('nproc', '?')} cores (`nproc`)")
w(f"- RAM: {int(ram) / 1024 / 1024:.1f} GiB" if ram and ram.isdigit() else "- RAM: ?")
w(f"- Kernel: {meta.get('kernel', '?')}; {meta.get('os', '?')}")
w(f"- Date: {meta.get('date', '?')}")
w(f"- vault: {meta.get('vault_version', '?')}, commit {meta.get('vault_rev', '?')}, {meta.get('rustc', '?')}")
if meta.get("rage"):
    w(f"- {meta['rage']} (`cargo install --locked rage`)")
pk = [f"{k[4:]} {v}" for k, v in meta.items() if k.startswith("pkg_") and v != "-"]
w("- Debian packages: " + ", ".join(pk))
w(
    f"- Runs: {meta.get('runs')} (fast rows), {meta.get('slow_runs')} (Argon2id and Python rows), "
    f"{meta.get('scale_runs')} (100 000 secrets), {meta.get('big_runs')} (1 000 000), "
    f"{meta.get('mask_runs')} (mask); {meta.get('warmup')} warm-up runs (1 for the mask and 1 000 000 rows); "
    f"the fast rows in {meta.get('rounds', '1')} rounds"
)
w(
    "- Secret Service: a private gnome-keyring-daemon on a private D-Bus session "
    "(`scripts/with-secret-service.sh`); the cached key is in the kernel user keyring."
)
w("")

w("## Reproduce")
w("")
w("```sh")
w("benches/compare.sh                       # installs what it needs (Debian), about 5 minutes")
w("VAULT_BENCH_1M=1 benches/compare.sh      # with the 1 000 000-secret rows")
w("VAULT_BENCH_CRITERION=1 benches/compare.sh  # also refresh every criterion bench")
w("VAULT_BENCH_ONLY=identity,git benches/compare.sh  # some sections only; report in target/bench-partial/")
w("cargo install --locked rage --version 0.12.1  # for the rage row (skipped without it)")
w("cargo bench -- --warm-up-time 1 --measurement-time 3   # the criterion benches alone")
w("```")
w("")
w(
    "Set-up, in a temp dir: 20 secrets per vault; the keyring vault is `vault init --keyring`, the "
    "passphrase vault uses the default Argon2id parameters (m = 64 MiB, t = 3, p = 4) with "
    "`--passphrase-file`, the cached vault is the same after `vault unlock --timeout 15m`. "
    "The 100 000- and 1 000 000-secret vaults (32-byte names, 64-byte values) are filled in one write by "
    "`examples/mkvault.rs`. The mask file is log-like text with one of the 100 secrets planted every "
    "512 lines. `pass` uses a gpg key without a passphrase; `keepassxc-cli` a database made by "
    "`db-create` with its defaults. Identity mode: an X25519 identity made by `age-keygen` in a "
    "recipient slot (`vault key add recipient age1…`), the vault's only slot, or the last of 64 (the "
    "other 63 for throwaway `age-keygen` identities); `rage` and Go `age` decrypt a 20-line file "
    "encrypted to the same identity. Merge and textconv: a 10 000-secret vault and two copies with "
    "100 different values changed on each (`vault import --replace`), opened from the cached unlock."
)
w("")

if skipped or notes:
    w("## Skipped and notes")
    w("")
    for s in skipped:
        s = s + ["", "", ""]
        w(f"- **skipped** {s[1]}: {s[2]}")
    for n in notes:
        w(f"- {n}")
    w("")

notes_md = os.path.join(here, "notes.md")
if os.path.exists(notes_md):
    with open(notes_md, encoding="utf-8") as f:
        w(f.read().rstrip())
    w("")

with open(out_md, "w", encoding="utf-8") as f:
    f.write("\n".join(md))

# --- SVG -----------------------------------------------------------------------------
COLORS = {
    "floor": "#8c8c8c",
    "keyring": "#1f6fb4",
    "cached": "#23a047",
    "passphrase": "#8e5cc2",
    "identity": "#c2185b",
    "tool": "#e8862a",
    "crit": "#c9a227",
}
LEGEND = [
    ("cached", "vault, cached unlock"),
    ("keyring", "vault, keyring"),
    ("passphrase", "vault, passphrase"),
    ("identity", "vault, identity file"),
    ("tool", "other tools"),
    ("floor", "floor (one exec)"),
    ("crit", "in-process (criterion)"),
]
bars = []
for rid in order:
    if rid in res and rows[rid]["group"] != "mask":
        r = res[rid]
        bars.append((rows[rid]["label"], r["median"], r["min"], r["max"], rows[rid]["cat"]))
if one_thread:
    c = crit_by_id[ONE_THREAD]
    bars.append(("Argon2id 64MiB/t3/p4, one thread (crate)", c["median"], c["lo"], c["hi"], "crit"))
bars.sort(key=lambda b: b[1])

if bars:
    row_h, top, left, plot_w, right = 24, 78, 360, 430, 90
    width = left + plot_w + right
    # Legend entries (x, y), wrapped onto a second line when too wide.
    legend, lx, ly = [], 10, 48
    for cat, text in LEGEND:
        if not any(b[4] == cat for b in bars):
            continue
        w_entry = 24 + 6.3 * len(text)
        if lx + w_entry > width and lx > 10:
            lx, ly = 10, ly + 18
        legend.append((lx, ly, cat, text))
        lx += w_entry
    top += ly - 48
    height = top + row_h * len(bars) + 40
    lo_v = min(b[2] for b in bars) * 1e3
    hi_v = max(b[3] for b in bars) * 1e3
    # Axis from the largest 1-2-5 step below 0.7 × the smallest value.
    steps = [m * 10.0**e for e in range(-4, 8) for m in (1, 2, 5)]
    lo_axis = max(v for v in steps if v <= max(lo_v * 0.7, 1e-4))
    hi_axis = min(v for v in steps if v >= hi_v * 1.05)
    lo_l, hi_l = math.log10(lo_axis), math.log10(hi_axis)

    def x(ms):
        ms = max(ms, lo_axis)
        return left + (math.log10(ms) - lo_l) / (hi_l - lo_l) * plot_w

    s = []
    a = s.append
    a(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">'
    )
    a(f'<rect width="{width}" height="{height}" fill="#ffffff"/>')
    a(
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">'
        "Time per call, median (lower is better)</text>"
    )
    a(
        f'<text x="{width / 2}" y="37" text-anchor="middle" fill="#555">'
        f"log scale; whiskers: min–max; {html.escape(meta.get('nproc', '?'))} cores, "
        f"{html.escape(meta.get('date', ''))}</text>"
    )
    # legend
    for lx, ly, cat, text in legend:
        a(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{COLORS[cat]}"/>')
        a(f'<text x="{lx + 16}" y="{ly + 10}">{html.escape(text)}</text>')
    # grid
    for v in steps:
        if lo_axis <= v <= hi_axis:
            m = round(v / 10 ** math.floor(math.log10(v) + 1e-9))
            gx = x(v)
            a(
                f'<line x1="{gx:.1f}" y1="{top - 6}" x2="{gx:.1f}" y2="{top + row_h * len(bars)}" '
                f'stroke="{"#cccccc" if m == 1 else "#eeeeee"}"/>'
            )
            if m != 1 and plot_w / (hi_l - lo_l) < 220:
                continue  # too tight to label
            lab = f"{v:g} ms" if v < 1000 else f"{v / 1000:g} s"
            a(
                f'<text x="{gx:.1f}" y="{top + row_h * len(bars) + 16}" text-anchor="middle" '
                f'fill="#555" font-size="11">{lab}</text>'
            )
    for i, (label, m, mn, mx, cat) in enumerate(bars):
        y = top + i * row_h
        a(
            f'<text x="{left - 8}" y="{y + row_h / 2 + 4}" text-anchor="end"'
            + (' font-weight="bold"' if cat in VAULT_CATS else "")
            + f">{html.escape(label)}</text>"
        )
        bx = x(m * 1e3)
        a(
            f'<rect x="{left}" y="{y + 4}" width="{max(bx - left, 1):.1f}" height="{row_h - 8}" '
            f'fill="{COLORS.get(cat, "#999")}"/>'
        )
        cy = y + row_h / 2
        a(f'<line x1="{x(mn * 1e3):.1f}" y1="{cy}" x2="{x(mx * 1e3):.1f}" y2="{cy}" stroke="#333" stroke-width="1"/>')
        for wx in (x(mn * 1e3), x(mx * 1e3)):
            a(f'<line x1="{wx:.1f}" y1="{cy - 4}" x2="{wx:.1f}" y2="{cy + 4}" stroke="#333"/>')
        a(f'<text x="{max(bx, x(mx * 1e3)) + 6:.1f}" y="{cy + 4}">{fmt_t(m)}</text>')
    a("</svg>")
    with open(out_svg, "w", encoding="utf-8") as f:
        f.write("\n".join(s) + "\n")
