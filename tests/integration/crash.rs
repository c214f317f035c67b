//! Crashes and concurrency: `set` killed with SIGKILL at random moments and
//! at every file-changing system call must leave the old or the new vault
//! (never a broken one), and many processes writing at once must lose no
//! update and stay equivalent to a serial order that respects real time.

use std::collections::BTreeMap;
use std::fs;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::*;

/// A large value, distinct for each `n`.
fn big_value(n: usize) -> Vec<u8> {
    let mut v = format!("BIG-{n:06}-").into_bytes();
    let len = 512 * 1024;
    v.extend((0..len - v.len()).map(|i| (i.wrapping_mul(31).wrapping_add(n * 7)) as u8));
    v
}

fn filler_value(i: usize) -> Vec<u8> {
    (0..100_000)
        .map(|j| ((j * 13 + i * 101) % 251) as u8)
        .collect()
}

#[test]
fn sigkill_at_random_moments_during_set_leaves_the_old_or_the_new_value() {
    let kills = count("VAULT_SUITE_KILLS", 200);
    let start = Instant::now();
    let s = Sandbox::new();
    s.init();
    for i in 0..40 {
        s.set(&format!("FILL{i:02}"), &filler_value(i));
    }
    s.set("BIG", &big_value(0));
    let size = fs::metadata(&s.vault).unwrap().len();
    assert!(size > 4_000_000, "vault is {size} bytes");
    // How long an undisturbed set takes: the window to kill in.
    let mut current = 0;
    let mut durations = Vec::new();
    for n in 1..=3 {
        let out = s
            .with_pass(PASS, &big_value(n), &["set", "--raw", "BIG"])
            .run()
            .success();
        durations.push(out.elapsed);
        current = n;
        assert!(temp_files(&s.vault).is_empty());
    }
    durations.sort();
    let window = durations[1].as_micros() as u64 * 12 / 10;
    let mut rng = Rng::new("crash");
    let (mut interrupted, mut completed, mut old, mut new, mut stale) = (0, 0, 0, 0, 0);
    let mut mid_write = 0;
    for k in 0..kills {
        let next = 10 + k;
        let mut run = s
            .with_pass(PASS, &big_value(next), &["set", "--raw", "BIG"])
            .spawn();
        std::thread::sleep(Duration::from_micros(rng.below(window)));
        // Its temp file exists from create to rename: killed mid-write.
        let writing = !temp_files(&s.vault).is_empty();
        run.kill();
        let out = run.finish();
        // Killed while running (SIGKILL) or it had already exited 0.
        let was_running = out.signal == Some(libc::SIGKILL);
        if was_running {
            interrupted += 1;
            mid_write += usize::from(writing);
        } else {
            assert_eq!(out.code, Some(0), "kill {k}:{out:?}");
            completed += 1;
        }
        let got = s
            .with_pass(PASS, b"", &["get", "-n", "BIG"])
            .run()
            .code(0)
            .stdout;
        if got == big_value(current) {
            assert!(was_running, "kill {k}: a completed set left the old value");
            old += 1;
        } else if got == big_value(next) {
            new += 1;
            current = next;
        } else {
            panic!(
                "kill {k}: BIG is neither the old nor the new value ({} bytes, starts {:?})",
                got.len(),
                String::from_utf8_lossy(&got[..got.len().min(12)])
            );
        }
        if !temp_files(&s.vault).is_empty() {
            // A stray temp of the killed writer: the next write removes it.
            stale += 1;
            s.set("BIG", &big_value(current));
            assert_eq!(temp_files(&s.vault), Vec::<String>::new(), "kill {k}");
        }
    }
    // One more successful write: nothing left behind, everything readable.
    s.set("BIG", &big_value(current));
    assert_eq!(temp_files(&s.vault), Vec::<String>::new());
    assert_eq!(s.names().len(), 41);
    for i in [0, 17, 39] {
        assert_eq!(s.get(&format!("FILL{i:02}")), filler_value(i));
    }
    assert_eq!(s.get("BIG"), big_value(current));
    figure(&format!(
        "crash: vault {:.1} MB, undisturbed set {:?} (median), kill window 0..{} ms; \
         kills {kills}, survived {kills} (opened with old or new value: old {old}, new {new}), \
         interrupted {interrupted} (still running when killed; {mid_write} of them while its temp file existed), \
         completed before the kill {completed}, \
         stray temp files after a kill {stale} (all removed by the next write); {:?}",
        size as f64 / 1e6,
        durations[1],
        window / 1000,
        start.elapsed()
    ));
    assert!(
        interrupted > 0,
        "no kill landed while set was running: the test proves nothing"
    );
}

/// Crash points found by system call, not by timing: `strace` kills `set`
/// with SIGKILL at the k-th call of each file-changing system call — once
/// just before the call (it fails with EIO and the kill lands before the
/// process sees it) and, for write and rename, once just after it. Every
/// crash must leave a vault that opens with the old or the new contents, and
/// the next write must clear the temp files it left.
#[test]
fn sigkill_at_every_file_changing_syscall_of_set_leaves_the_old_or_the_new_vault() {
    let Some(strace) = require(Program("strace")) else {
        return;
    };
    let start = Instant::now();
    let s = Sandbox::new();
    s.init().set("SMALL", b"stays").set("BIG", &big_value(0));
    let base = s.vault_bytes();
    let new = big_value(1);
    // Rollback memory is reset before each run, so every run makes the same
    // system calls and "the k-th call" means the same thing each time.
    let state = s.home.join(".local/state");
    let set_under = |strace_args: &[&str]| {
        fs::write(&s.vault, &base).unwrap();
        let _ = fs::remove_dir_all(&state);
        let mut wrapper: Vec<&std::ffi::OsStr> = vec![strace.as_os_str()];
        wrapper.extend(strace_args.iter().map(std::ffi::OsStr::new));
        let out = s
            .cmd_via(&wrapper)
            .arg("--vault")
            .arg(&s.vault)
            .args(["--passphrase-stdin", "set", "--raw", "BIG"])
            .stdin(stdin_lines(PASS, &new))
            .run();
        let _ = fs::remove_dir_all(&state);
        out
    };
    let syscalls = "openat,write,pwrite64,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat,mkdir,ftruncate";
    // A dry run lists the calls; the opens that only read (the loader, /proc,
    // the vault itself) are not crash points worth a run.
    let trace = s.root().join("dry-run.strace");
    let dry = set_under(&[
        "-f",
        "-qq",
        "-o",
        trace.to_str().unwrap(),
        "-e",
        &format!("trace={syscalls}"),
    ]);
    assert_eq!(dry.code, Some(0), "{dry:?}");
    let mut calls: Vec<(String, usize, bool)> = Vec::new();
    let mut count = std::collections::HashMap::<String, usize>::new();
    for line in fs::read_to_string(&trace).unwrap().lines() {
        // "PID name(args) = ret", or "PID name(args <unfinished ...>".
        let Some(rest) = line.split_once(' ').map(|(_, r)| r.trim_start()) else {
            continue;
        };
        if rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        let k = count.entry(name.to_string()).or_default();
        *k += 1;
        let changes = name != "openat"
            || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_DIRECTORY"]
                .iter()
                .any(|f| args.contains(f));
        calls.push((name.to_string(), *k, changes));
    }
    assert!(
        calls.iter().any(|(n, _, _)| n.starts_with("rename")),
        "the dry run renamed nothing: {calls:?}"
    );
    let (mut old_left, mut new_left, mut points) = (0, 0, 0);
    for (name, k, changes) in &calls {
        if !changes {
            continue;
        }
        let modes: &[bool] = match name.as_str() {
            "write" | "pwrite64" | "rename" | "renameat" | "renameat2" => &[true, false],
            _ => &[true],
        };
        for &before in modes {
            let inject = if before {
                format!("inject={name}:error=EIO:signal=SIGKILL:when={k}")
            } else {
                format!("inject={name}:signal=SIGKILL:when={k}")
            };
            let out = set_under(&["-f", "-qq", "-o", "/dev/null", "-e", &inject]);
            assert!(
                out.signal == Some(libc::SIGKILL) || out.code == Some(128 + libc::SIGKILL),
                "{inject}: not killed:{out:?}"
            );
            let got = s.get("BIG");
            if got == new {
                new_left += 1;
            } else {
                assert!(
                    got == big_value(0),
                    "{inject}: neither the old nor the new value"
                );
                old_left += 1;
            }
            points += 1;
        }
    }
    assert!(points >= 8, "only {points} crash points: {calls:?}");
    assert!(
        old_left > 0 && new_left > 0,
        "{old_left} old, {new_left} new"
    );
    assert_eq!(s.get("SMALL"), b"stays");
    // The next successful write removes every temp file crashed runs left.
    s.set("BIG", b"done");
    assert_eq!(temp_files(&s.vault), Vec::<String>::new());
    eprintln!(
        "{points} crash points ({} calls traced): {old_left} left the old value, {new_left} the new, in {:?}",
        calls.len(),
        start.elapsed()
    );
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Set,
    Delete,
    Get,
}

/// One operation as the client saw it: times in ns since the test's epoch,
/// taken before the spawn and after the exit.
#[derive(Clone, Debug)]
struct Op {
    who: String,
    kind: Kind,
    name: usize,
    /// Set: the value written. Get: the value read (None: exit 5).
    value: Option<String>,
    /// Exit 0 (for delete: a committed write; exit 5 is "no such secret").
    ok: bool,
    /// A get refused as a rollback (exit 4): no observation.
    refused: bool,
    start: u128,
    end: u128,
}

impl Op {
    /// Whether this op wrote (and so bumped the generation).
    fn wrote(&self) -> bool {
        self.ok && matches!(self.kind, Kind::Set | Kind::Delete)
    }
    /// The name's value after this write.
    fn effect(&self) -> Option<&str> {
        match self.kind {
            Kind::Set => self.value.as_deref(),
            _ => None,
        }
    }
}

/// Whether observing `seen` for a name during `[rs, re]` is explainable by
/// some order of the committed `writes` to that name that respects real
/// time (an op that ended before another started is ordered before it):
/// some write `c` with that effect (or the initial absence) started before
/// the read ended, and no other write is definitely between `c` and the
/// read. A necessary condition of serial equivalence.
fn plausible(writes: &[&Op], seen: Option<&str>, rs: u128, re: u128) -> bool {
    let initial = (seen.is_none()).then_some((0u128, 0u128, usize::MAX));
    let candidates = writes
        .iter()
        .enumerate()
        .filter(|(_, w)| w.effect() == seen && w.start < re)
        .map(|(i, w)| (w.start, w.end, i))
        .chain(initial);
    for (_, cend, ci) in candidates {
        let overwritten = writes
            .iter()
            .enumerate()
            .any(|(i, w)| i != ci && cend < w.start && w.end < rs);
        if !overwritten {
            return true;
        }
    }
    false
}

#[test]
fn concurrent_writers_lose_no_update_and_fit_a_real_time_serial_order() {
    let procs = count("VAULT_SUITE_PROCS", 16);
    let ops = count("VAULT_SUITE_OPS", 50);
    let names = ["N0", "N1", "N2", "N3"];
    let s = Sandbox::new();
    s.init();
    let g0 = s.generation(&s.vault);
    let epoch = Instant::now();
    let mut seeder = Rng::new("concurrency");
    let seeds: Vec<u64> = (0..procs).map(|_| seeder.next_u64() | 1).collect();
    let log: Arc<Mutex<Vec<Op>>> = Arc::default();
    std::thread::scope(|scope| {
        for (p, seed) in seeds.into_iter().enumerate() {
            let s = &s;
            let log = Arc::clone(&log);
            scope.spawn(move || {
                let mut rng = SeedRng(seed);
                for i in 0..ops {
                    let name = rng.below(names.len() as u64) as usize;
                    let r = rng.below(10);
                    let kind = if r < 5 {
                        Kind::Set
                    } else if r < 7 {
                        Kind::Delete
                    } else {
                        Kind::Get
                    };
                    let value = format!("p{p}-o{i}");
                    let cmd = match kind {
                        Kind::Set => {
                            s.with_pass(PASS, value.as_bytes(), &["set", "--raw", names[name]])
                        }
                        Kind::Delete => s.with_pass(PASS, b"", &["delete", names[name]]),
                        Kind::Get => s.with_pass(PASS, b"", &["get", "-n", names[name]]),
                    }
                    .env("VAULT_LOCK_TIMEOUT", "300")
                    .timeout(Duration::from_secs(300));
                    let start = epoch.elapsed().as_nanos();
                    let out = cmd.run();
                    let end = epoch.elapsed().as_nanos();
                    let (ok, refused) = match (kind, out.code) {
                        (_, Some(0)) => (true, false),
                        (Kind::Delete | Kind::Get, Some(5)) => {
                            assert!(out.stderr.contains("no secret named"), "{out:?}");
                            (false, false)
                        }
                        // A reader that read generation N while a writer
                        // committed N+1 (and remembered it) is refused as
                        // a rollback: counted, and asserted below.
                        (Kind::Get, Some(4)) if out.stderr.contains("older than generation") => {
                            (false, true)
                        }
                        _ => panic!("p{p} op {i} {kind:?} failed:{out:?}"),
                    };
                    let value = match kind {
                        Kind::Set => Some(value),
                        Kind::Get if ok => Some(String::from_utf8(out.stdout).unwrap()),
                        _ => None,
                    };
                    log.lock().unwrap().push(Op {
                        who: format!("p{p}/{i}"),
                        kind,
                        name,
                        value,
                        ok,
                        refused,
                        start,
                        end,
                    });
                }
            });
        }
    });
    let elapsed = epoch.elapsed();
    let log = Arc::try_unwrap(log).unwrap().into_inner().unwrap();
    assert_eq!(log.len(), procs * ops);
    let g1 = s.generation(&s.vault);
    let writes = log.iter().filter(|o| o.wrote()).count() as u64;
    // 1. No lost update: each committed write moved the generation by one.
    let lost = writes as i64 - (g1 - g0) as i64;
    // 2. The final state and every read fit a serial order of the committed
    //    writes that respects real time.
    let final_names = s.names();
    let mut final_state: BTreeMap<usize, Option<String>> = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        let v = final_names
            .iter()
            .any(|f| f == n)
            .then(|| String::from_utf8(s.get(n)).unwrap());
        final_state.insert(i, v);
    }
    assert!(final_names.iter().all(|n| names.contains(&n.as_str())));
    let mut violations = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let w: Vec<&Op> = log.iter().filter(|o| o.name == i && o.wrote()).collect();
        let fin = final_state[&i].as_deref();
        if !plausible(&w, fin, u128::MAX, u128::MAX) {
            violations.push(format!("final {n} = {fin:?}"));
        }
        for r in log
            .iter()
            .filter(|o| o.name == i && !o.wrote() && !o.refused)
        {
            let seen = if r.ok { r.value.as_deref() } else { None };
            if !plausible(&w, seen, r.start, r.end) {
                violations.push(format!("{} {:?} {n} saw {seen:?}", r.who, r.kind));
            }
        }
    }
    let by_kind = |k: Kind, ok: bool| {
        log.iter()
            .filter(|o| o.kind == k && o.ok == ok && !o.refused)
            .count()
    };
    let refused = log.iter().filter(|o| o.refused).count();
    figure(&format!(
        "concurrency: {procs} processes x {ops} ops = {} ops in {elapsed:?} over {} names: \
         set {}, delete {} (+{} of absent names, exit 5), get {} (+{} absent); \
         committed writes {writes}, generation {g0} -> {g1}: lost updates {lost}; \
         real-time serial-equivalence violations {}; \
         gets wrongly refused as a rollback (exit 4) {refused}",
        log.len(),
        names.len(),
        by_kind(Kind::Set, true),
        by_kind(Kind::Delete, true),
        by_kind(Kind::Delete, false),
        by_kind(Kind::Get, true),
        by_kind(Kind::Get, false),
        violations.len()
    ));
    assert_eq!(
        lost, 0,
        "lost updates: {writes} writes, generation {g0} -> {g1}"
    );
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(by_kind(Kind::Set, true) > 0);
    // A get reads the file without the lock; when a writer commits and
    // records a newer generation before the reader's rollback check, the
    // reader sees "older than generation already seen" for a file that
    // was never rolled back (src/bin/vault/unlock.rs, open_read).
    assert_eq!(
        refused, 0,
        "{refused} concurrent gets were refused as a rollback (exit 4) although nothing was rolled back"
    );
}

/// A per-thread xorshift64* (common::Rng prints its seed; this one is
/// derived from it).
struct SeedRng(u64);

impl SeedRng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
fn plausibility_check_catches_lost_and_stale_values() {
    let op = |kind, value: Option<&str>, start, end| Op {
        who: String::new(),
        kind,
        name: 0,
        value: value.map(String::from),
        ok: true,
        refused: false,
        start,
        end,
    };
    let a = op(Kind::Set, Some("a"), 10, 20);
    let b = op(Kind::Set, Some("b"), 30, 40);
    let d = op(Kind::Delete, None, 50, 60);
    let w = vec![&a, &b];
    // Final: b is last in real time; a can no longer be the final value.
    assert!(plausible(&w, Some("b"), u128::MAX, u128::MAX));
    assert!(!plausible(&w, Some("a"), u128::MAX, u128::MAX));
    assert!(!plausible(&w, None, u128::MAX, u128::MAX));
    assert!(!plausible(&w, Some("zzz"), u128::MAX, u128::MAX));
    // Reads: a during b is fine, a after b ended is stale, b before it
    // started is from the future, absent after a set is stale.
    assert!(plausible(&w, Some("a"), 25, 35));
    assert!(!plausible(&w, Some("a"), 45, 46));
    assert!(!plausible(&w, Some("b"), 21, 25));
    assert!(plausible(&w, None, 0, 15));
    assert!(!plausible(&w, None, 21, 22));
    let w = vec![&a, &b, &d];
    assert!(plausible(&w, None, u128::MAX, u128::MAX));
    assert!(plausible(&w, None, 61, 62));
    assert!(!plausible(&w, Some("b"), 61, 62));
    // Overlapping writes: either may win.
    let c = op(Kind::Set, Some("c"), 15, 45);
    let w = vec![&a, &b, &c];
    assert!(plausible(&w, Some("b"), u128::MAX, u128::MAX));
    assert!(plausible(&w, Some("c"), u128::MAX, u128::MAX));
    assert!(!plausible(&w, Some("a"), u128::MAX, u128::MAX));
}
