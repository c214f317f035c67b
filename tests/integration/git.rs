//! Vault files in a real git repository: `vault git setup`, `git diff` and
//! `git log -p` through `vault textconv` (names and fingerprints, never
//! values), and `git merge` through the `vault merge` driver (per-name
//! three-way merge, conflicts marked in the file, merges across a
//! rotation). git runs with the sandbox HOME as its global config, no
//! system config, and the tested `vault` first on PATH.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::*;

/// A git repository in the sandbox holding `team.vault`.
struct Repo<'s> {
    s: &'s Sandbox,
    dir: PathBuf,
    vault: PathBuf,
}

/// PATH with the tested `vault` first.
fn path_with_vault() -> OsString {
    let dir = Path::new(VAULT).parent().unwrap().to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&rest))).unwrap()
}

impl<'s> Repo<'s> {
    fn new(s: &'s Sandbox) -> Option<Repo<'s>> {
        require(Program("git"))?;
        let dir = s.root().join("repo");
        fs::create_dir(&dir).unwrap();
        let r = Repo {
            s,
            vault: dir.join("team.vault"),
            dir,
        };
        r.git(&["init", "-q", "-b", "main"]).success();
        r.git(&["config", "user.name", "Vault Test"]).success();
        r.git(&["config", "user.email", "vault-test@example.invalid"])
            .success();
        Some(r)
    }

    /// [`Repo::new`], then `vault git setup` and a vault made with [`PASS`].
    fn with_vault(s: &'s Sandbox) -> Option<Repo<'s>> {
        let r = Repo::new(s)?;
        r.setup().success();
        r.init();
        Some(r)
    }

    /// `git ARGS` in the repository (no passphrase in its environment).
    fn git(&self, args: &[&str]) -> Out {
        self.git_cmd(args).run()
    }

    fn git_cmd(&self, args: &[&str]) -> Cmd {
        self.s
            .program("git")
            .env("PATH", path_with_vault())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.s.home.join(".gitconfig"))
            .env("GIT_PAGER", "cat")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
    }

    /// `git ARGS` with [`PASS`] in `VAULT_PASSPHRASE` (for the driver and
    /// the textconv git runs).
    fn git_pass(&self, args: &[&str]) -> Out {
        self.git_cmd(args).env("VAULT_PASSPHRASE", PASS).run()
    }

    /// `vault ARGS` on the repository's vault with [`PASS`], `rest` on stdin after it.
    fn vault(&self, rest: &[u8], args: &[&str]) -> Out {
        self.s.at(&self.vault, PASS, rest, args).run()
    }

    fn set(&self, name: &str, value: &[u8]) {
        self.vault(value, &["set", "--raw", name]).success();
    }

    fn get(&self, name: &str) -> Vec<u8> {
        self.vault(b"", &["get", "-n", name]).success().stdout
    }

    fn init(&self) {
        self.s
            .at(&self.vault, PASS, b"", &["init"])
            .args(KDF)
            .run()
            .success();
    }

    fn commit(&self, what: &str) {
        self.git(&["add", "-A"]).success();
        self.git(&["commit", "-q", "-m", what]).success();
    }

    /// `vault git setup` in the repository.
    fn setup(&self) -> Out {
        self.s
            .cmd()
            .env("PATH", path_with_vault())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.s.home.join(".gitconfig"))
            .current_dir(&self.dir)
            .args(["git", "setup"])
            .run()
    }
}

#[test]
fn git_setup_writes_the_attributes_line_once_and_configures_driver_and_textconv() {
    let s = Sandbox::new();
    let Some(repo) = Repo::new(&s) else {
        return;
    };
    fs::write(repo.dir.join(".gitattributes"), "*.png binary").unwrap();
    repo.git(&["config", "diff.vault.cachetextconv", "true"])
        .success();
    repo.setup().success();
    repo.setup().success().stderr_has("already had");
    let attrs = fs::read_to_string(repo.dir.join(".gitattributes")).unwrap();
    assert_eq!(
        attrs,
        "*.png binary\n*.vault merge=vault diff=vault -text\n"
    );
    // The write lock next to the vault stays out of `git status`.
    assert_eq!(
        fs::read_to_string(repo.dir.join(".gitignore")).unwrap(),
        "*.vault.lock\n"
    );
    fs::write(repo.dir.join("team.vault.lock"), "").unwrap();
    let status = repo
        .git(&["status", "--porcelain", "--ignored=no"])
        .stdout_str();
    assert!(!status.contains("team.vault.lock"), "{status}");
    let get = |k: &str| repo.git(&["config", "--get", k]).stdout_str();
    assert_eq!(get("merge.vault.driver"), "vault merge %O %A %B\n");
    assert_eq!(get("merge.vault.recursive"), "binary\n");
    assert_eq!(get("diff.vault.textconv"), "vault textconv\n");
    assert!(get("merge.vault.name").starts_with("vault"));
    // A cached textconv would keep names in git notes past a removal.
    repo.git(&["config", "--get", "diff.vault.cachetextconv"])
        .code(1);
    let attr = repo.git(&["check-attr", "-a", "x.vault"]).stdout_str();
    assert!(
        attr.contains("merge: vault") && attr.contains("diff: vault"),
        "{attr}"
    );
    // Outside a repository: a usage error naming --global; with it, the
    // user's own files.
    s.cmd()
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", s.home.join(".gitconfig"))
        .env("GIT_CEILING_DIRECTORIES", s.root())
        .current_dir(&s.home)
        .args(["git", "setup"])
        .run()
        .code(2)
        .stderr_has("--global");
    s.cmd()
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", s.home.join(".gitconfig"))
        .current_dir(&s.home)
        .args(["git", "setup", "--global"])
        .run()
        .success();
    let global = fs::read_to_string(s.home.join(".config/git/attributes")).unwrap();
    assert_eq!(global, "*.vault merge=vault diff=vault -text\n");
    let ignore = fs::read_to_string(s.home.join(".config/git/ignore")).unwrap();
    assert_eq!(ignore, "*.vault.lock\n");
    assert!(fs::read_to_string(s.home.join(".gitconfig"))
        .unwrap()
        .contains("driver = vault merge %O %A %B"));
}

#[test]
fn git_diff_and_log_show_names_and_fingerprints_never_values() {
    let s = Sandbox::new();
    let Some(repo) = Repo::with_vault(&s) else {
        return;
    };
    repo.set("API_TOKEN", b"first-value-1111");
    repo.set("DB_URL", b"postgres://secret-2222");
    repo.commit("two secrets");
    repo.set("API_TOKEN", b"second-value-3333");
    repo.vault(b"", &["delete", "DB_URL"]).success();
    repo.set("NEW_NAME", b"new-value-4444");
    let diff = repo.git_pass(&["diff", "team.vault"]).success();
    let text = diff.stdout_str();
    for line in [
        "-  DB_URL ",
        "+  NEW_NAME ",
        "-  API_TOKEN ",
        "+  API_TOKEN ",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    repo.commit("changed");
    let log = repo.git_pass(&["log", "-p", "team.vault"]).success();
    let text = log.stdout_str();
    assert!(
        text.contains("+  DB_URL ") && text.contains("generation: "),
        "{text}"
    );
    // Whole values: a bare "4444" once matched a commit id (c44446dd).
    for value in [
        "first-value-1111",
        "secret-2222",
        "second-value-3333",
        "new-value-4444",
    ] {
        assert!(!text.contains(value), "a value in git log -p:\n{text}");
    }
    // The same file gives the same text, run after run.
    let a = repo.git_pass(&["show", "HEAD:team.vault"]).stdout;
    let one = repo.git_pass(&["log", "-p", "team.vault"]).stdout;
    assert_eq!(one, log.stdout);
    assert!(!a.is_empty());
}

#[test]
fn textconv_without_a_credential_shows_the_header_and_exits_zero() {
    let s = Sandbox::new();
    s.init().set("SECRET_NAME", b"value-5555");
    let out = s
        .cmd()
        .args(["--no-keyring", "textconv"])
        .arg(&s.vault)
        .run()
        .success();
    let text = out.stdout_str();
    assert!(
        text.contains("format version 2") && text.contains("slots: 1"),
        "{text}"
    );
    assert!(text.contains("passphrase age1"), "{text}");
    assert!(text.contains("secrets: not shown"), "{text}");
    assert!(!text.contains("SECRET_NAME") && !text.contains("5555"));
    // Not a vault at all: still exit 0, one line saying so.
    let junk = s.file("junk.vault", b"not a vault");
    s.cmd()
        .arg("textconv")
        .arg(&junk)
        .run()
        .success()
        .stdout_has("not a vault file");
    // With the passphrase: the names, a fingerprint each, no value; never
    // a write, never the rollback memory (a copy at a new path, as git's
    // temporary files are, would get a memory file of its own).
    let copy = s.root().join("copy.vault");
    fs::copy(&s.vault, &copy).unwrap();
    let before = s.snapshot();
    let out = s
        .cmd()
        .env("VAULT_PASSPHRASE", PASS)
        .arg("textconv")
        .arg(&copy)
        .run()
        .success();
    let line = out
        .stdout_lines()
        .into_iter()
        .find(|l| l.starts_with("  SECRET_NAME "))
        .expect("a line for the secret");
    assert_eq!(line.len(), "  SECRET_NAME ".len() + 16, "{line}");
    assert!(!out.stdout_str().contains("5555"));
    assert_eq!(s.snapshot(), before, "textconv changed a file");
}

/// `vault list --json` of the repository's vault: name → conflict.
fn conflicts(repo: &Repo<'_>) -> Vec<(String, bool)> {
    let out = repo.vault(b"", &["list", "--json"]).success();
    out.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["conflict"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn edits_on_two_branches_merge_through_the_driver_with_nothing_left_behind() {
    let s = Sandbox::new();
    let Some(repo) = Repo::with_vault(&s) else {
        return;
    };
    repo.set("A", b"1");
    repo.set("B", b"1");
    repo.set("GONE", b"1");
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "side"]).success();
    repo.set("A", b"side");
    repo.set("C", b"side-new");
    repo.vault(b"", &["delete", "GONE"]).success();
    repo.commit("side");
    repo.git(&["checkout", "-q", "main"]).success();
    repo.set("B", b"main");
    repo.set("D", b"main-new");
    repo.commit("main");
    let out = repo
        .git_pass(&["merge", "-q", "--no-edit", "side"])
        .success();
    assert!(!out.stderr.contains("side-new"), "{}", out.stderr);
    for (name, value) in [
        ("A", "side"),
        ("B", "main"),
        ("C", "side-new"),
        ("D", "main-new"),
    ] {
        assert_eq!(repo.get(name), value.as_bytes(), "{name}");
    }
    assert!(conflicts(&repo).iter().all(|(n, c)| n != "GONE" && !c));
    // No lock or temp file left in the work tree; the merge is committed.
    assert_eq!(
        repo.git(&["status", "--porcelain"]).success().stdout_str(),
        ""
    );
    // The result's generation is above both sides'.
    let g = |rev: &str| {
        let t = repo
            .git_pass(&["show", &format!("{rev}:team.vault")])
            .stdout;
        let f = s.file("g.vault", &t);
        s.generation(&f)
    };
    assert!(g("HEAD") > g("HEAD^1").max(g("HEAD^2")));
}

#[test]
fn a_conflicting_edit_is_marked_while_every_other_change_of_both_sides_is_kept() {
    let s = Sandbox::new();
    let Some(repo) = Repo::with_vault(&s) else {
        return;
    };
    for n in ["A", "B", "C", "D"] {
        repo.set(n, b"base");
    }
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "side"]).success();
    repo.set("A", b"theirs-value-7777");
    repo.set("B", b"theirs-b");
    repo.set("T", b"theirs-new");
    repo.vault(b"", &["delete", "D"]).success();
    repo.commit("side");
    repo.git(&["checkout", "-q", "main"]).success();
    repo.set("A", b"ours-value-8888");
    repo.set("C", b"ours-c");
    repo.set("O", b"ours-new");
    repo.set("D", b"ours-d");
    repo.commit("main");
    let out = repo.git_pass(&["merge", "--no-edit", "side"]);
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout_str().contains("CONFLICT") || out.stderr.contains("conflict"),
        "{out:?}"
    );
    let all = format!("{}{}", out.stdout_str(), out.stderr);
    assert!(
        all.contains("conflict: A") && all.contains("conflict: D"),
        "{all}"
    );
    for v in ["7777", "8888", "theirs-b", "ours-c"] {
        assert!(!all.contains(v), "a value in git's output: {all}");
    }
    // Nothing lost: every one-sided change is in the result.
    for (name, value) in [
        ("A", "ours-value-8888"),
        ("B", "theirs-b"),
        ("C", "ours-c"),
        ("D", "ours-d"),
        ("O", "ours-new"),
        ("T", "theirs-new"),
    ] {
        assert_eq!(repo.get(name), value.as_bytes(), "{name}");
    }
    let marked: Vec<String> = conflicts(&repo)
        .into_iter()
        .filter(|(_, c)| *c)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(marked, ["A", "D"]);
    let diff = repo.git_pass(&["diff", "HEAD", "team.vault"]).success();
    assert!(diff.stdout_str().contains("[conflict"), "{diff:?}");
    // Resolved: A takes their value, D is set anew.
    repo.vault(b"", &["resolve", "A", "--other"]).success();
    assert_eq!(repo.get("A"), b"theirs-value-7777");
    repo.vault(b"", &["resolve", "B", "--keep"])
        .code(2)
        .stderr_has("no merge conflict");
    repo.set("D", b"settled");
    assert!(conflicts(&repo).iter().all(|(_, c)| !c));
    repo.commit("merged");
}

#[test]
fn resolve_keep_and_other_across_a_deletion() {
    let s = Sandbox::new();
    let Some(repo) = Repo::with_vault(&s) else {
        return;
    };
    repo.set("X", b"base");
    repo.set("Y", b"base");
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "side"]).success();
    repo.vault(b"", &["delete", "X", "Y"]).success();
    repo.commit("side");
    repo.git(&["checkout", "-q", "main"]).success();
    repo.set("X", b"changed");
    repo.set("Y", b"changed");
    repo.commit("main");
    repo.git_pass(&["merge", "--no-edit", "side"]);
    repo.vault(b"", &["resolve", "X", "--keep"]).success();
    assert_eq!(repo.get("X"), b"changed");
    repo.vault(b"", &["resolve", "Y", "--other"]).success();
    assert_eq!(
        conflicts(&repo),
        [("X".to_string(), false)],
        "Y deleted, as the other side had it"
    );
}

#[test]
fn merge_without_a_credential_or_across_two_rotations_writes_nothing() {
    let s = Sandbox::new();
    s.init().set("A", b"1");
    let base = s.root().join("base.vault");
    fs::copy(&s.vault, &base).unwrap();
    s.set("A", b"ours");
    let ours = s.root().join("ours.vault");
    fs::copy(&s.vault, &ours).unwrap();
    let before = fs::read(&ours).unwrap();
    let theirs = s.root().join("theirs.vault");
    fs::copy(&base, &theirs).unwrap();
    s.at(&theirs, PASS, b"theirs", &["set", "A"])
        .run()
        .success();
    // No passphrase, no keyring, no terminal: exit 3 at once, OURS untouched.
    s.cmd()
        .args(["--no-keyring", "merge"])
        .args([&base, &ours, &theirs])
        .run()
        .code(3);
    assert_eq!(fs::read(&ours).unwrap(), before);
    // Both sides rotated the master key since the base: exit 2.
    s.at(&ours, PASS, b"", &["rekey"]).run().success();
    s.at(&theirs, PASS, b"", &["rekey"]).run().success();
    let before = fs::read(&ours).unwrap();
    s.cmd()
        .env("VAULT_PASSPHRASE", PASS)
        .arg("merge")
        .args([&base, &ours, &theirs])
        .run()
        .code(2)
        .stderr_has("both sides rotated");
    assert_eq!(fs::read(&ours).unwrap(), before);
    // Two different vaults: exit 2.
    let other = s.root().join("other.vault");
    s.at(&other, PASS, b"", &["init"]).args(KDF).run().success();
    s.cmd()
        .env("VAULT_PASSPHRASE", PASS)
        .arg("merge")
        .args([&base, &ours, &other])
        .run()
        .code(2)
        .stderr_has("different vaults");
    // An empty base (no common ancestor): every difference is a conflict.
    let empty = s.file("empty", b"");
    let (ours, theirs) = (s.root().join("ours2.vault"), s.root().join("theirs2.vault"));
    fs::copy(&base, &theirs).unwrap();
    fs::copy(&base, &ours).unwrap();
    s.at(&ours, PASS, b"o", &["set", "A"]).run().success();
    s.at(&theirs, PASS, b"t", &["set", "B"]).run().success();
    let (ours_copy, theirs_copy) = (s.root().join("o3"), s.root().join("t3"));
    fs::copy(&ours, &ours_copy).unwrap();
    fs::copy(&theirs, &theirs_copy).unwrap();
    let before = s.snapshot();
    s.cmd()
        .env("VAULT_PASSPHRASE", PASS)
        .arg("merge")
        .args([&empty, &ours_copy, &theirs_copy])
        .run()
        .code(1)
        .stderr_has("conflict: B")
        .stderr_has("secret(s) in conflict keep our value");
    // Replaced in place: no lock file, no temp file, no rollback memory of
    // the new paths.
    assert_eq!(s.snapshot(), before);
}

/// `key add passphrase --label LABEL` on the repository's vault.
fn add_passphrase_slot(repo: &Repo<'_>, label: &str, pass: &str) {
    repo.s
        .at(
            &repo.vault,
            PASS,
            format!("{pass}\n").as_bytes(),
            &[
                "key",
                "add",
                "passphrase",
                "--label",
                label,
                "--new-passphrase-stdin",
            ],
        )
        .args(KDF)
        .run()
        .success();
}

/// The line of `textconv` (with [`PASS`]) that starts with `prefix`.
fn textconv_line(repo: &Repo<'_>, prefix: &str) -> Option<String> {
    repo.s
        .cmd()
        .env("VAULT_PASSPHRASE", PASS)
        .arg("textconv")
        .arg(&repo.vault)
        .run()
        .success()
        .stdout_lines()
        .into_iter()
        .find(|l| l.starts_with(prefix))
}

#[test]
fn a_merge_across_a_removal_keeps_the_new_key_refuses_the_old_branchs_slot_and_marks_its_changes() {
    let s = Sandbox::new();
    let Some(repo) = Repo::with_vault(&s) else {
        return;
    };
    add_passphrase_slot(&repo, "bob", PASS2);
    repo.set("A", b"1");
    repo.set("B", b"1");
    repo.set("C", b"1");
    repo.commit("base, with bob");
    // Bob's branch, from before his removal: he changes A, adds N, and
    // adds a slot of his own.
    repo.git(&["checkout", "-q", "-b", "bob"]).success();
    repo.set("A", b"changed-by-bob");
    repo.set("N", b"new-by-bob");
    repo.vault(b"", &["delete", "C"]).success();
    add_passphrase_slot(&repo, "bob-laptop", "bob's other passphrase");
    repo.commit("bob's changes");
    // Main removes bob: a new master key.
    repo.git(&["checkout", "-q", "main"]).success();
    repo.vault(b"", &["rekey", "--drop", "bob"])
        .success()
        .stderr_has("new master key");
    repo.set("R", b"after-removal");
    repo.commit("bob removed");
    let key = textconv_line(&repo, "master key:").unwrap();
    let out = repo.git_pass(&["merge", "--no-edit", "bob"]);
    assert_ne!(out.code, Some(0), "{out:?}");
    let all = format!("{}{}", out.stdout_str(), out.stderr);
    for needle in [
        "rotate pending: A",
        "rotate pending: N",
        "not carried over",
        "ours rotated",
        "1 slot conflict(s)",
    ] {
        assert!(all.contains(needle), "no {needle:?} in {all}");
    }
    // Only a slot is in conflict: no advice about secrets in conflict.
    assert!(!all.contains("secret(s) in conflict"), "{all}");
    // Every change of both branches is in the result, under main's key.
    for (name, value) in [
        ("A", "changed-by-bob"),
        ("B", "1"),
        ("N", "new-by-bob"),
        ("R", "after-removal"),
    ] {
        assert_eq!(repo.get(name), value.as_bytes(), "{name}");
    }
    assert!(conflicts(&repo).iter().all(|(n, _)| n != "C"));
    assert_eq!(textconv_line(&repo, "master key:").unwrap(), key);
    for name in ["A", "N"] {
        let line = textconv_line(&repo, &format!("  {name} ")).unwrap();
        assert!(line.ends_with("[rotate pending]"), "{line}");
    }
    // R was set on main after the removal: bob never could read it. (B,
    // unchanged, is pending from the removal itself: `key remove` marks
    // whatever the removed slot could read.)
    let line = textconv_line(&repo, "  R ").unwrap();
    assert!(!line.contains("rotate pending"), "{line}");
    // Neither bob's removed slot nor the one he added opens the result.
    for pass in [PASS2, "bob's other passphrase"] {
        s.at(&repo.vault, pass, b"", &["get", "A"]).run().code(3);
    }
    let slots = repo
        .vault(b"", &["key", "list", "--json"])
        .success()
        .stdout_str();
    assert!(!slots.contains("bob"), "{slots}");
}

#[test]
fn merge_and_textconv_open_through_this_machines_keyring_slot_without_a_passphrase() {
    let Some(s) = Sandbox::keyring() else {
        return;
    };
    let Some(repo) = Repo::new(&s) else {
        return;
    };
    let vault = |args: &[&str], stdin: &str| {
        s.cmd()
            .arg("--vault")
            .arg(&repo.vault)
            .args(args)
            .stdin(stdin.as_bytes().to_vec())
            .run()
    };
    repo.setup().success();
    vault(&["init", "--keyring"], "").success();
    vault(&["set", "A"], "base\n").success();
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "side"]).success();
    vault(&["set", "S"], "side-value-1234\n").success();
    repo.commit("side");
    repo.git(&["checkout", "-q", "main"]).success();
    vault(&["set", "A"], "main\n").success();
    repo.commit("main");
    // No passphrase anywhere: the keyring opens all three files.
    repo.git(&["merge", "-q", "--no-edit", "side"]).success();
    assert_eq!(
        vault(&["get", "-n", "S"], "").success().stdout,
        b"side-value-1234"
    );
    assert_eq!(vault(&["get", "-n", "A"], "").success().stdout, b"main");
    let log = repo
        .git(&["log", "-p", "-1", "HEAD^2", "team.vault"])
        .success();
    let text = log.stdout_str();
    assert!(text.contains("+  S "), "{text}");
    assert!(!text.contains("1234"), "{text}");
}

#[test]
fn textconv_of_a_version_1_file_shows_names_only() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .env("VAULT_PASSPHRASE", VECTOR_PASS)
        .arg("textconv")
        .arg(vectors_dir().join("ok_passphrase.vault"))
        .run()
        .success();
    let text = out.stdout_str();
    assert!(
        text.contains("format version 1") && text.contains("names only"),
        "{text}"
    );
    for (name, _) in VECTOR_SECRETS {
        assert!(out.stdout_lines().contains(&format!("  {name}")), "{text}");
    }
}

#[test]
fn merge_and_textconv_open_with_an_identity_file_alone() {
    let s = Sandbox::new();
    let Some(repo) = Repo::new(&s) else {
        return;
    };
    require(Program("age-keygen"));
    let key = s.root().join("member.key");
    s.program("age-keygen").arg("-o").arg(&key).run().success();
    let recipient = s
        .program("age-keygen")
        .arg("-y")
        .arg(&key)
        .run()
        .success()
        .stdout_str();
    repo.setup().success();
    repo.init();
    repo.vault(b"", &["key", "add", "recipient", recipient.trim()])
        .success();
    repo.set("A", b"base");
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "side"]).success();
    repo.set("S", b"side-value-4321");
    repo.commit("side");
    repo.git(&["checkout", "-q", "main"]).success();
    repo.set("A", b"main");
    repo.commit("main");
    // No passphrase: the member's identity file opens the three files.
    repo.git_cmd(&["merge", "-q", "--no-edit", "side"])
        .env("VAULT_IDENTITY_FILE", &key)
        .run()
        .success();
    assert_eq!(repo.get("S"), b"side-value-4321");
    assert_eq!(repo.get("A"), b"main");
    let log = repo
        .git_cmd(&["log", "-p", "-1", "HEAD^2", "team.vault"])
        .env("VAULT_IDENTITY_FILE", &key)
        .run()
        .success();
    assert!(log.stdout_str().contains("+  S "), "{log:?}");
    assert!(!log.stdout_str().contains("4321"));
}

/// Two people, two HOMEs, two clones: Alice opens with an identity made by
/// `age-keygen`, Bob with `~/.ssh/id_ed25519` made by `ssh-keygen` (his
/// default SSH identity: nothing given). Each changes the vault on their
/// own clone; Alice's pull merges through the driver: Bob's new secret
/// arrives, her change stays, and the name both changed is a conflict
/// that holds Bob's value until she resolves it.
#[test]
fn two_members_with_age_and_ssh_identities_merge_through_the_driver() {
    let s = Sandbox::new();
    let Some(repo) = Repo::new(&s) else {
        return;
    };
    require(Program("age-keygen"));
    require(Program("ssh-keygen"));
    let alice_key = s.root().join("alice.key");
    s.program("age-keygen")
        .arg("-o")
        .arg(&alice_key)
        .run()
        .success();
    let alice = s
        .program("age-keygen")
        .arg("-y")
        .arg(&alice_key)
        .run()
        .success();
    let bob_home = s.root().join("bob-home");
    fs::create_dir_all(bob_home.join(".ssh")).unwrap();
    s.program("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "bob", "-f"])
        .arg(bob_home.join(".ssh/id_ed25519"))
        .run()
        .success();
    let bob_pub = bob_home.join(".ssh/id_ed25519.pub");
    repo.setup().success();
    repo.init();
    let add = |r: &str, label: &str| {
        repo.vault(b"", &["key", "add", "recipient", r, "--label", label])
            .success();
    };
    add(alice.stdout_str().trim(), "alice");
    add(bob_pub.to_str().unwrap(), "bob");
    repo.set("API_TOKEN", b"tok-base");
    repo.commit("team vault");
    // Bob's clone, his HOME (git config, his ~/.ssh key), no passphrase.
    let bob_dir = s.root().join("bob-clone");
    let git_as_bob = |dir: &Path, args: &[&str]| {
        s.program("git")
            .env("PATH", path_with_vault())
            .env("HOME", &bob_home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", bob_home.join(".gitconfig"))
            .arg("-C")
            .arg(dir)
            .args(args)
            .run()
            .success()
    };
    git_as_bob(
        s.root(),
        &["clone", "-q", repo.dir.to_str().unwrap(), "bob-clone"],
    );
    git_as_bob(&bob_dir, &["config", "user.name", "Bob"]);
    git_as_bob(&bob_dir, &["config", "user.email", "bob@example.invalid"]);
    let bob_vault = |value: &[u8], args: &[&str]| {
        s.cmd()
            .env("HOME", &bob_home)
            .arg("--vault")
            .arg(bob_dir.join("team.vault"))
            .args(args)
            .stdin(value.to_vec())
            .run()
    };
    bob_vault(b"smtp-from-bob", &["set", "--raw", "SMTP_PASSWORD"]).success();
    bob_vault(b"tok-bob", &["set", "--raw", "API_TOKEN"]).success();
    git_as_bob(&bob_dir, &["commit", "-q", "-am", "bob: smtp, token"]);
    // Alice, meanwhile, with her identity only.
    let alice_vault = |value: &[u8], args: &[&str]| {
        s.cmd()
            .env("VAULT_IDENTITY_FILE", &alice_key)
            .arg("--vault")
            .arg(&repo.vault)
            .args(args)
            .stdin(value.to_vec())
            .run()
    };
    alice_vault(b"tok-alice", &["set", "--raw", "API_TOKEN"]).success();
    repo.commit("alice: token");
    let pull = repo
        .git_cmd(&[
            "pull",
            "-q",
            "--no-rebase",
            bob_dir.to_str().unwrap(),
            "main",
        ])
        .env("VAULT_IDENTITY_FILE", &alice_key)
        .run();
    assert_ne!(pull.code, Some(0), "a conflict stops git: {pull:?}");
    pull.stderr_has("conflict: API_TOKEN");
    let get = |name: &str| alice_vault(b"", &["get", "-n", name]).success().stdout;
    assert_eq!(get("SMTP_PASSWORD"), b"smtp-from-bob");
    assert_eq!(get("API_TOKEN"), b"tok-alice");
    alice_vault(b"", &["resolve", "API_TOKEN", "--other"]).success();
    assert_eq!(get("API_TOKEN"), b"tok-bob");
    repo.commit("merge bob");
    // Bob's default SSH key opens the merged file too.
    let out = s
        .cmd()
        .env("HOME", &bob_home)
        .arg("--vault")
        .arg(&repo.vault)
        .args(["get", "-n", "API_TOKEN"])
        .run()
        .success();
    assert_eq!(out.stdout, b"tok-bob");
    // And it is all Bob has when git runs the driver and textconv in his
    // clone: his default SSH key opens the three files (nothing given).
    let setup = s
        .cmd()
        .env("PATH", path_with_vault())
        .env("HOME", &bob_home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", bob_home.join(".gitconfig"))
        .current_dir(&bob_dir)
        .args(["git", "setup"])
        .run();
    setup.success();
    alice_vault(b"alice-only-8642", &["set", "--raw", "FROM_ALICE"]).success();
    repo.commit("alice: one more");
    bob_vault(b"bob-only-9753", &["set", "--raw", "FROM_BOB"]).success();
    git_as_bob(&bob_dir, &["commit", "-q", "-am", "bob: one more"]);
    git_as_bob(
        &bob_dir,
        &[
            "pull",
            "-q",
            "--no-rebase",
            "--no-edit",
            repo.dir.to_str().unwrap(),
            "main",
        ],
    );
    let bob_get = |name: &str| bob_vault(b"", &["get", "-n", name]).success().stdout;
    assert_eq!(bob_get("FROM_ALICE"), b"alice-only-8642");
    assert_eq!(bob_get("FROM_BOB"), b"bob-only-9753");
    let log = git_as_bob(&bob_dir, &["log", "-p", "-1", "HEAD^2", "--", "team.vault"]);
    let text = log.stdout_str();
    assert!(text.contains("+  FROM_ALICE "), "{text}");
    assert!(
        !text.contains("not shown") && !text.contains("alice-only-8642"),
        "{text}"
    );
}

/// Two members rotate the master key apart from each other (each rotation
/// links only from the key both started with), and a checkout puts the
/// other one's file at this path: its key was not endorsed by the one
/// this path last held (exit 4, even in a work tree). `--accept-new-key`
/// takes it, and it stays taken: the next plain open does not refuse it
/// again (it did, in a work tree, until `--allow-rollback` was added too).
#[test]
fn a_new_key_accepted_in_a_work_tree_stays_accepted() {
    let s = Sandbox::new();
    let Some(repo) = Repo::with_vault(&s) else {
        return;
    };
    repo.set("A", b"1");
    repo.commit("base");
    // Carol's copy, rotated elsewhere.
    let carol = s.root().join("carol.vault");
    fs::copy(&repo.vault, &carol).unwrap();
    s.at(&carol, PASS, b"", &["rekey"]).run().success();
    // Here: a rotation of our own.
    repo.vault(b"", &["rekey"]).success();
    repo.commit("rotated here");
    // Carol's file arrives at this path (her branch checked out).
    fs::copy(&carol, &repo.vault).unwrap();
    repo.vault(b"", &["list"])
        .code(4)
        .stderr_has("--accept-new-key");
    repo.vault(b"", &["--accept-new-key", "list"])
        .success()
        .stderr_has("accepted with --accept-new-key");
    repo.vault(b"", &["list"])
        .success()
        .stdout_has("A")
        .stderr_lacks("new master key");
    repo.vault(b"v", &["set", "B"]).success();
}

/// An ignore file vault cannot write (here a directory in its place) costs
/// only its line, with a warning: git still gets the driver and textconv.
#[test]
fn git_setup_without_a_writable_gitignore_still_configures_git() {
    let s = Sandbox::new();
    let Some(repo) = Repo::new(&s) else {
        return;
    };
    fs::create_dir(repo.dir.join(".gitignore")).unwrap();
    repo.setup()
        .success()
        .stderr_has("could not add `*.vault.lock`");
    let get = |k: &str| repo.git(&["config", "--get", k]).stdout_str();
    assert_eq!(get("merge.vault.driver"), "vault merge %O %A %B\n");
    assert_eq!(get("diff.vault.textconv"), "vault textconv\n");
    assert!(fs::read_to_string(repo.dir.join(".gitattributes"))
        .unwrap()
        .contains("merge=vault"));
}
