//! Copies of one vault and the rollback memory of each path: replicas at
//! two paths never affect each other; at one path an older generation, a
//! fork (the same generation with other contents) and a key retired by a
//! rekey are refused (exit 4), a key rotated elsewhere is accepted with a
//! notice; in a git work tree that tracks the file a checkout is a notice,
//! and a retired key still refuses writes. (An older generation refused and
//! accepted with --allow-rollback: `tamper.rs`.)

use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::*;

/// `set --raw NAME` at `path` with [`PASS`].
fn set_at(s: &Sandbox, path: &Path, name: &str, value: &[u8]) {
    s.at(path, PASS, value, &["set", "--raw", name])
        .run()
        .success();
}

/// `get -n NAME` at `path` with [`PASS`], as run.
fn get_at(s: &Sandbox, path: &Path, name: &str) -> Out {
    s.at(path, PASS, b"", &["get", "-n", name]).run()
}

fn rekey_at(s: &Sandbox, path: &Path) {
    s.at(path, PASS, b"", &["rekey"])
        .run()
        .success()
        .stderr_has("new master key");
}

#[test]
fn replicas_at_two_paths_do_not_affect_each_other() {
    let s = Sandbox::new();
    s.init().set("A", b"1");
    let b = s.root().join("replica.vault");
    fs::copy(&s.vault, &b).unwrap();
    s.set("A", b"2").set("A", b"3");
    // The older replica opens and takes writes at its own path ...
    let out = get_at(&s, &b, "A").success().stderr_lacks("generation");
    assert_eq!(out.stdout, b"1");
    set_at(&s, &b, "B", b"replica");
    // ... and rekeying it (a backup, a CI copy) leaves the original alone.
    rekey_at(&s, &b);
    assert_eq!(s.get("A"), b"3");
    s.set("A", b"4");
    assert_eq!(get_at(&s, &b, "B").success().stdout, b"replica");
}

#[test]
fn a_fork_replacing_a_file_is_refused_until_accepted_with_allow_rollback() {
    let s = Sandbox::new();
    s.init().set("A", b"1");
    let theirs = s.root().join("teammate.vault");
    fs::copy(&s.vault, &theirs).unwrap();
    // Both edit generation 2; theirs is copied over ours.
    s.set("MINE", b"x");
    set_at(&s, &theirs, "THEIRS", b"y");
    fs::copy(&theirs, &s.vault).unwrap();
    let forked = s.vault_bytes();
    let out = s
        .with_pass(PASS, b"", &["get", "A"])
        .run()
        .code(4)
        .stderr_has("generation 3, as already seen at this path, but with other contents")
        .stderr_has("--allow-rollback");
    figure(&format!(
        "fork: exit 4: {}",
        out.stderr
            .replace(&s.root().display().to_string(), "$DIR")
            .trim()
    ));
    s.with_pass(PASS, b"z", &["set", "C"]).run().code(4);
    assert_eq!(s.vault_bytes(), forked, "a refused write changed the file");
    // Accepted deliberately, once: from then on it is what the path holds.
    s.with_pass(PASS, b"", &["--allow-rollback", "list"])
        .run()
        .success()
        .stdout_has("THEIRS");
    assert_eq!(s.names(), ["A", "THEIRS"]);
    s.set("C", b"z");
}

#[test]
fn a_foreign_file_with_the_same_id_at_another_path_does_not_lock_out_the_real_one() {
    let s = Sandbox::new();
    s.init().set("A", b"real");
    let foreign = s.root().join("foreign.vault");
    fs::copy(&s.vault, &foreign).unwrap();
    for i in 0..5 {
        set_at(&s, &foreign, "A", format!("foreign {i}").as_bytes());
    }
    assert_eq!(get_at(&s, &foreign, "A").success().stdout, b"foreign 4");
    assert!(s.generation(&foreign) > s.generation(&s.vault) + 4);
    assert_eq!(s.get("A"), b"real");
    s.set("A", b"still mine");
    assert_eq!(s.get("A"), b"still mine");
}

#[test]
fn a_key_rotated_elsewhere_is_accepted_with_a_notice_and_the_old_file_is_then_refused() {
    let s = Sandbox::new();
    s.init().set("A", b"1");
    let before_rekey = s.vault_bytes();
    let b = s.root().join("b.vault");
    fs::copy(&s.vault, &b).unwrap();
    rekey_at(&s, &b);
    fs::copy(&b, &s.vault).unwrap();
    s.with_pass(PASS, b"", &["get", "A"])
        .run()
        .success()
        .stderr_has("sealed with a new master key since this machine last saw it (rotated by a holder of the previous key)");
    // Said once.
    s.with_pass(PASS, b"", &["get", "A"])
        .run()
        .success()
        .stderr_lacks("new key");
    // The file from before the rotation, put back: refused for reading and
    // writing; --allow-rollback reads it, with a warning, and never writes.
    fs::write(&s.vault, &before_rekey).unwrap();
    let out = s
        .with_pass(PASS, b"", &["get", "A"])
        .run()
        .code(4)
        .stderr_has("sealed with a key retired at this path");
    figure(&format!(
        "retired key: exit 4: {}",
        out.stderr
            .replace(&s.root().display().to_string(), "$DIR")
            .trim()
    ));
    s.with_pass(PASS, b"", &["--allow-rollback", "get", "-n", "A"])
        .run()
        .success()
        .stderr_has("warning:")
        .stderr_has("nothing will be written to it");
    s.with_pass(PASS, b"2", &["--allow-rollback", "set", "A"])
        .run()
        .code(4)
        .stderr_has("retired");
    assert_eq!(s.vault_bytes(), before_rekey);
}

/// The cache holds the body key, which writes through the cache keep: two
/// copies edited through one cached unlock share it, so the cache opens
/// either, and the fork is refused all the same.
#[test]
fn a_fork_is_refused_whatever_opens_the_vault_the_cached_unlock_too() {
    let s = Sandbox::new();
    s.init().set("A", b"1");
    s.with_pass(PASS, b"", &["unlock", "--timeout", "1m"])
        .run()
        .success();
    let theirs = s.root().join("teammate.vault");
    fs::copy(&s.vault, &theirs).unwrap();
    // No passphrase: both writes go through the cached body key.
    let cached_set = |path: &Path, value: &str| {
        s.cmd()
            .arg("--vault")
            .arg(path)
            .args(["set", "--raw", "A"])
            .stdin(value)
            .run()
            .success();
    };
    cached_set(&s.vault, "mine");
    cached_set(&theirs, "theirs");
    fs::copy(&theirs, &s.vault).unwrap();
    let out = s.vault_cmd().args(["get", "-n", "A"]).run();
    s.vault_cmd().arg("lock").run().success();
    out.code(4).stderr_has("other contents");
    // The same fork opened by passphrase: refused too.
    s.with_pass(PASS, b"", &["get", "-n", "A"])
        .run()
        .code(4)
        .stderr_has("other contents");
}

#[test]
fn doctor_reports_this_paths_memory_and_lists_the_vaults_known_here() {
    let s = Sandbox::new();
    s.init().set("A", b"1");
    let gone = s.root().join("gone.vault");
    fs::copy(&s.vault, &gone).unwrap();
    get_at(&s, &gone, "A").success();
    fs::remove_file(&gone).unwrap();
    let d = s
        .vault_cmd()
        .args(["doctor", "--json"])
        .run()
        .success()
        .json();
    let m = &d["rollback_memory"];
    assert_eq!(m["this_path"]["remembered"]["generation"], 2, "{m}");
    assert_eq!(
        m["this_path"]["file_header_compared"],
        "the file remembered"
    );
    let known = m["vaults_known_here"].as_array().unwrap();
    let exists = |p: &PathBuf| {
        let p = fs::canonicalize(p.parent().unwrap())
            .unwrap()
            .join(p.file_name().unwrap());
        known
            .iter()
            .find(|k| k["path"] == p.display().to_string())
            .unwrap_or_else(|| panic!("{} not in {known:?}", p.display()))["exists"]
            .clone()
    };
    assert_eq!(known.len(), 2, "{known:?}");
    assert_eq!(exists(&s.vault).as_bool(), Some(true));
    assert_eq!(exists(&gone).as_bool(), Some(false));
    // An older file: doctor says how an open would take it, and what to do.
    let old = s.vault_bytes();
    s.set("A", b"2");
    fs::write(&s.vault, &old).unwrap();
    let d = s
        .vault_cmd()
        .args(["doctor", "--json"])
        .run()
        .success()
        .json();
    let compared = d["rollback_memory"]["this_path"]["file_header_compared"]
        .as_str()
        .unwrap();
    assert!(
        compared.starts_with("older than remembered: refused"),
        "{compared}"
    );
    let next = d["next_steps"].to_string();
    assert!(next.contains("--allow-rollback"), "{next}");
}

/// A git repository in the sandbox with a committer, and `git` run in it.
struct Repo<'s> {
    s: &'s Sandbox,
    dir: PathBuf,
}

impl<'s> Repo<'s> {
    fn new(s: &'s Sandbox) -> Option<Repo<'s>> {
        require(Program("git"))?;
        let dir = s.root().join("repo");
        fs::create_dir(&dir).unwrap();
        let r = Repo { s, dir };
        r.git(&["init", "-q"]);
        r.git(&["config", "user.name", "Vault Test"]);
        r.git(&["config", "user.email", "vault-test@example.invalid"]);
        Some(r)
    }

    fn git(&self, args: &[&str]) -> Out {
        self.s
            .program("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .run()
            .success()
    }

    fn commit(&self, what: &str) {
        self.git(&["add", "team.vault"]);
        self.git(&["commit", "-q", "-m", what]);
    }
}

#[test]
fn in_git_checking_out_an_older_commit_of_a_tracked_vault_gives_a_notice_not_a_refusal() {
    let s = Sandbox::new();
    let Some(repo) = Repo::new(&s) else {
        return;
    };
    let v = repo.dir.join("team.vault");
    s.at(&v, PASS, b"", &["init"]).args(KDF).run().success();
    set_at(&s, &v, "A", b"1");
    repo.commit("one");
    set_at(&s, &v, "A", b"2");
    repo.commit("two");
    let main = repo
        .git(&["rev-parse", "--abbrev-ref", "HEAD"])
        .stdout_str();
    repo.git(&["checkout", "-q", "HEAD~1"]);
    let out = get_at(&s, &v, "A")
        .success()
        .stderr_has("older than generation 3 last seen at this path; git tracks it");
    assert_eq!(out.stdout, b"1");
    figure(&format!(
        "git checkout of an older commit: exit 0, notice: {}",
        out.stderr
            .replace(&s.root().display().to_string(), "$DIR")
            .trim()
    ));
    // Writing there is git's business too (a branch from the old commit).
    repo.git(&["checkout", "-q", "-b", "side"]);
    set_at(&s, &v, "B", b"side");
    repo.commit("side");
    // The same generation as main's, other contents: a notice, not a fork.
    get_at(&s, &v, "B")
        .success()
        .stderr_has("with other contents; git tracks it");
    repo.git(&["checkout", "-q", main.trim()]);
    assert_eq!(get_at(&s, &v, "A").success().stdout, b"2");
    // The same older file outside git is refused.
    let outside = s.root().join("outside.vault");
    fs::copy(&v, &outside).unwrap();
    set_at(&s, &outside, "A", b"3");
    let old = s
        .program("git")
        .arg("-C")
        .arg(&repo.dir)
        .args(["show", "HEAD~1:team.vault"])
        .run()
        .success()
        .stdout;
    fs::write(&outside, old).unwrap();
    get_at(&s, &outside, "A")
        .code(4)
        .stderr_has("older than generation");
}

#[test]
fn in_git_a_retired_key_is_read_only_when_asked_and_never_written() {
    let s = Sandbox::new();
    let Some(repo) = Repo::new(&s) else {
        return;
    };
    let v = repo.dir.join("team.vault");
    s.at(&v, PASS, b"", &["init"]).args(KDF).run().success();
    set_at(&s, &v, "A", b"1");
    repo.commit("before the rekey");
    rekey_at(&s, &v);
    repo.commit("rekeyed");
    repo.git(&["checkout", "-q", "HEAD~1"]);
    // Refused by default even here: an ex-member holds the retired key
    // and could have committed values of their own under it (below).
    get_at(&s, &v, "A")
        .code(4)
        .stderr_has("retired at this path")
        .stderr_has("--allow-rollback");
    let out = s
        .at(&v, PASS, b"", &["--allow-rollback", "get", "-n", "A"])
        .run()
        .success()
        .stderr_has("warning:")
        .stderr_has("in an older git checkout?");
    assert_eq!(out.stdout, b"1");
    s.at(&v, PASS, b"new value", &["--allow-rollback", "set", "A"])
        .run()
        .code(4)
        .stderr_has("retired");
    repo.git(&["diff", "--exit-code", "--quiet"]);
    figure("git: a checkout from before a rekey is refused (exit 4), read with --allow-rollback and a warning, never written");
}

/// An ex-member keeps the file from before their removal and its key:
/// they write a value of their own into it and commit it. A machine that
/// saw the removal never hands that value to a command.
#[test]
fn in_git_an_ex_members_commit_under_the_retired_key_is_not_used() {
    let s = Sandbox::new();
    let Some(repo) = Repo::new(&s) else {
        return;
    };
    let v = repo.dir.join("team.vault");
    s.at(&v, PASS, b"", &["init"]).args(KDF).run().success();
    let bob_pass = format!("{PASS2}\n");
    s.at(
        &v,
        PASS,
        bob_pass.as_bytes(),
        &[
            "key",
            "add",
            "passphrase",
            "--label",
            "bob",
            "--new-passphrase-stdin",
        ],
    )
    .args(KDF)
    .run()
    .success();
    set_at(&s, &v, "DB_URL", b"postgres://real");
    repo.commit("with bob");
    let before_removal = fs::read(&v).unwrap();
    s.at(&v, PASS, b"", &["key", "remove", "bob"])
        .run()
        .success();
    repo.commit("bob removed");
    // Bob, elsewhere (his own state), writes into his old copy.
    let bob = s.root().join("bob.vault");
    fs::write(&bob, &before_removal).unwrap();
    s.at(
        &bob,
        PASS2,
        b"postgres://bobs-server",
        &["set", "--raw", "DB_URL"],
    )
    .env("XDG_STATE_HOME", s.root().join("bob-state"))
    .run()
    .success();
    fs::copy(&bob, &v).unwrap();
    repo.commit("bob: innocent-looking change");
    for args in [
        &["get", "DB_URL"][..],
        &["exec", "--", "printenv", "DB_URL"][..],
    ] {
        s.at(&v, PASS, b"", args)
            .run()
            .code(4)
            .stderr_has("retired")
            .stderr_lacks("bobs-server");
    }
}

/// A version-1 file converted to version 2 on another machine keeps its
/// key: this machine, which remembered the version-1 file, sees a newer
/// generation under the same key (no "new key" notice that would teach
/// users to ignore it), and the version-1 file put back is an older
/// generation, still refused.
#[test]
fn a_conversion_to_version_2_elsewhere_is_not_a_new_key() {
    let s = Sandbox::new();
    let v1 = fs::read(vectors_dir().join("ok_passphrase.vault")).unwrap();
    fs::write(&s.vault, &v1).unwrap();
    s.with_pass(VECTOR_PASS, b"", &["list"]).run().success();
    // The other machine: its own state directory, the same file.
    let elsewhere = s.root().join("other-machine-state");
    s.with_pass(VECTOR_PASS, b"x", &["set", "--raw", "CONVERTED"])
        .env("XDG_STATE_HOME", &elsewhere)
        .run()
        .success();
    assert!(s.vault_bytes() != v1, "the write converted the file");
    s.with_pass(VECTOR_PASS, b"", &["get", "-n", "CONVERTED"])
        .run()
        .success()
        .stderr_lacks("new key")
        .stdout_has("x");
    fs::write(&s.vault, &v1).unwrap();
    s.with_pass(VECTOR_PASS, b"", &["list"])
        .run()
        .code(4)
        .stderr_has("older than generation");
}

/// Whoever can write the file but holds no key can replace it with one
/// whose new master key is wrapped to the same public recipients: the
/// owner's passphrase opens it. A machine that saw the vault before
/// refuses it (exit 4, nothing read or written), with or without a
/// lineage of the forger's own: only a holder of the previous master key
/// can endorse a new one. `--accept-new-key` takes it deliberately; a
/// member's rekey elsewhere, even twice, is endorsed and accepted.
#[test]
fn a_file_replaced_by_someone_without_the_key_is_refused() {
    let s = Sandbox::new();
    s.init().set("DB_URL", b"postgres://real");
    let real = s.vault_bytes();
    for with_lineage in [false, true] {
        fs::write(
            &s.vault,
            forged(&real, &[("DB_URL", b"postgres://attacker")], with_lineage),
        )
        .unwrap();
        for args in [&["get", "DB_URL"][..], &["set", "NEW"][..]] {
            s.with_pass(PASS, b"v", args)
                .run()
                .code(4)
                .stderr_has("did not endorse")
                .stderr_has("--accept-new-key")
                .stderr_lacks("postgres");
        }
    }
    let forged_bytes = s.vault_bytes();
    // A machine that never saw the vault cannot tell (SECURITY.md).
    let fresh = s.root().join("fresh-machine-state");
    s.with_pass(PASS, b"", &["get", "-n", "DB_URL"])
        .env("XDG_STATE_HOME", &fresh)
        .run()
        .success()
        .stdout_has("attacker");
    // Accepted deliberately, once.
    s.with_pass(PASS, b"", &["--accept-new-key", "get", "-n", "DB_URL"])
        .run()
        .success()
        .stderr_has("accepted with --accept-new-key");
    s.with_pass(PASS, b"", &["get", "-n", "DB_URL"])
        .run()
        .success()
        .stderr_lacks("new master key");
    assert_eq!(s.vault_bytes(), forged_bytes);
    // The real file is now sealed with a key retired here.
    fs::write(&s.vault, &real).unwrap();
    s.with_pass(PASS, b"", &["get", "DB_URL"]).run().code(4);
}

#[test]
fn a_members_rekeys_elsewhere_are_endorsed_through_every_link() {
    let s = Sandbox::new();
    s.init().set("A", b"1");
    let b = s.root().join("b.vault");
    fs::copy(&s.vault, &b).unwrap();
    rekey_at(&s, &b);
    set_at(&s, &b, "A", b"2");
    rekey_at(&s, &b);
    fs::copy(&b, &s.vault).unwrap();
    let out = get_at(&s, &s.vault, "A")
        .success()
        .stderr_has("rotated by a holder of the previous key");
    assert_eq!(out.stdout, b"2");
}

/// A forger's key at an older generation, or at the same generation, is
/// judged a rollback or a fork before anything looks at its key: the
/// lineage must be checked there too, or `--allow-rollback` (which the
/// rollback refusal itself suggests) takes a key no member endorsed, and
/// sets the path's memory to it.
#[test]
fn a_forged_key_at_an_older_or_the_same_generation_is_not_taken_by_allow_rollback() {
    let s = Sandbox::new();
    s.init().set("DB_URL", b"postgres://real");
    set_at(&s, &s.vault, "B", b"2");
    let real = s.vault_bytes();
    for generation in [1, 3] {
        fs::write(
            &s.vault,
            forged_at(
                &real,
                &[("DB_URL", b"postgres://attacker")],
                true,
                generation,
            ),
        )
        .unwrap();
        for args in [&["get", "DB_URL"][..], &["set", "NEW"][..]] {
            s.with_pass(PASS, b"v", &[&["--allow-rollback"][..], args].concat())
                .run()
                .code(4)
                .stderr_has("did not endorse")
                .stderr_lacks("postgres");
        }
        // The memory was not moved to the forger's key: the real file opens.
        fs::write(&s.vault, &real).unwrap();
        let out = get_at(&s, &s.vault, "DB_URL").success();
        assert_eq!(out.stdout, b"postgres://real");
    }
}

/// The same forger through git: whoever can push to the repository
/// commits a file under their own key at an older generation; git tracks
/// it, so it used to be "a checkout" (a notice), read and written under
/// the forger's key. Refused like a forged later generation.
#[test]
fn in_git_a_forged_key_at_an_older_generation_is_refused_not_taken_for_a_checkout() {
    let s = Sandbox::new();
    let Some(repo) = Repo::new(&s) else {
        return;
    };
    let v = repo.dir.join("team.vault");
    s.at(&v, PASS, b"", &["init"]).args(KDF).run().success();
    set_at(&s, &v, "DB_URL", b"postgres://real");
    set_at(&s, &v, "B", b"2");
    repo.commit("real");
    let real = fs::read(&v).unwrap();
    fs::write(
        &v,
        forged_at(&real, &[("DB_URL", b"postgres://attacker")], true, 1),
    )
    .unwrap();
    repo.commit("forged");
    get_at(&s, &v, "DB_URL")
        .code(4)
        .stderr_has("did not endorse")
        .stderr_lacks("postgres");
    s.at(&v, PASS, b"postgres://mine", &["set", "DB_URL2"])
        .run()
        .code(4)
        .stderr_has("did not endorse");
    repo.git(&["diff", "--exit-code", "--quiet"]);
}

/// The memory was kept under the path with every link followed: whoever
/// can write the vault's directory (or push to its git repository, where a
/// link is content) replaced the file with a link to a forged file
/// elsewhere, and this path's memory was never consulted (a "first" open,
/// silently accepted). The path the vault is named by keeps its memory,
/// whatever its links point at.
#[test]
fn a_vault_replaced_by_a_link_to_a_forged_file_is_judged_by_the_paths_memory() {
    let s = Sandbox::new();
    s.init().set("DB_URL", b"postgres://real");
    let real = s.vault_bytes();
    let elsewhere = s.root().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let target = elsewhere.join("planted.vault");
    fs::write(
        &target,
        forged(&real, &[("DB_URL", b"postgres://attacker")], true),
    )
    .unwrap();
    fs::remove_file(&s.vault).unwrap();
    std::os::unix::fs::symlink(&target, &s.vault).unwrap();
    s.with_pass(PASS, b"", &["get", "DB_URL"])
        .run()
        .code(4)
        .stderr_has("did not endorse")
        .stderr_lacks("postgres");
}

/// A machine that last saw a version-1 file remembered no lineage key, so
/// any new key was "unchecked" and accepted with a notice: a forger took
/// the version-2 file a teammate's conversion published (its passphrase
/// slot's sealed identity is reusable as it is) and re-wrapped a key of
/// their own. The opener holds the version-1 data key, which is the
/// master key: its lineage key is remembered, and the forgery refused.
#[test]
fn a_machine_that_last_saw_version_1_refuses_a_forged_key_after_the_conversion() {
    let s = Sandbox::new();
    let v1 = fs::read(vectors_dir().join("ok_passphrase.vault")).unwrap();
    fs::write(&s.vault, &v1).unwrap();
    s.with_pass(VECTOR_PASS, b"", &["list"]).run().success();
    // As a memory written before lineages were remembered: no lineage line.
    // The next open, of the same file, learns it.
    for f in fs::read_dir(s.home.join(".local/state/vault/paths")).unwrap() {
        let f = f.unwrap().path();
        let t: String = fs::read_to_string(&f)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("lineage "))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(&f, t).unwrap();
    }
    s.with_pass(VECTOR_PASS, b"", &["list"]).run().success();
    let elsewhere = s.root().join("other-machine-state");
    let converted = s.root().join("converted.vault");
    fs::copy(&s.vault, &converted).unwrap();
    s.at(
        &converted,
        VECTOR_PASS,
        b"x",
        &["set", "--raw", "CONVERTED"],
    )
    .env("XDG_STATE_HOME", &elsewhere)
    .run()
    .success();
    let real = fs::read(&converted).unwrap();
    fs::write(
        &s.vault,
        forged(&real, &[("DB_URL", b"postgres://attacker")], true),
    )
    .unwrap();
    s.with_pass(VECTOR_PASS, b"", &["get", "DB_URL"])
        .run()
        .code(4)
        .stderr_has("did not endorse")
        .stderr_lacks("postgres");
    // The real conversion, rekeyed by a member, is endorsed.
    s.at(&converted, VECTOR_PASS, b"", &["rekey"])
        .env("XDG_STATE_HOME", &elsewhere)
        .run()
        .success();
    fs::copy(&converted, &s.vault).unwrap();
    s.with_pass(VECTOR_PASS, b"", &["get", "-n", "CONVERTED"])
        .run()
        .success()
        .stderr_has("rotated by a holder of the previous key")
        .stdout_has("x");
}

/// A vault reached through a link had its memory kept under the link's
/// target (every link followed). Now that the path as named keeps it, the
/// link starts from the target's memory, not from nothing: an older file
/// put back behind the link is still refused.
#[test]
fn a_link_to_a_remembered_vault_starts_from_the_memory_of_its_target() {
    let s = Sandbox::new();
    let dir = s.root().join("dotfiles");
    fs::create_dir(&dir).unwrap();
    let target = dir.join("real.vault");
    s.at(&target, PASS, b"", &["init"])
        .args(KDF)
        .run()
        .success();
    set_at(&s, &target, "A", b"1");
    let old = fs::read(&target).unwrap();
    set_at(&s, &target, "A", b"2");
    let link = s.root().join("link.vault");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    fs::write(&target, &old).unwrap();
    get_at(&s, &link, "A")
        .code(4)
        .stderr_has("older than generation");
}

/// A reader of the cached body key cannot change the key block (its MAC
/// needs the master key), and the cache does not check that MAC: so the
/// lineage key of a file opened through the cache is never learnt from it.
/// Otherwise: rewrite the lineage key to one of your own, have the owner
/// read through the cache, then put in a file under a master key of your
/// own "endorsed" by it, which the owner's passphrase opens.
#[test]
fn a_cache_reader_cannot_plant_a_lineage_of_their_own() {
    let s = Sandbox::new();
    s.init().set("DB_URL", b"postgres://real");
    s.with_pass(PASS, b"", &["unlock", "--timeout", "5m"])
        .run()
        .success();
    let attacker = vault::Key::random();
    let planted = relineaged(&s.vault_bytes(), PASS, &attacker);
    fs::write(&s.vault, &planted).unwrap();
    // The owner reads through the cache (no passphrase given).
    s.vault_cmd().args(["get", "-n", "DB_URL"]).run().success();
    s.vault_cmd().arg("lock").run().success();
    let taken = forged_endorsed_by(&planted, &[("DB_URL", b"postgres://attacker")], &attacker);
    fs::write(&s.vault, &taken).unwrap();
    s.with_pass(PASS, b"", &["get", "DB_URL"])
        .run()
        .code(4)
        .stderr_has("did not endorse")
        .stderr_lacks("attacker");
}
