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

    #[allow(dead_code)] // used by the merge tests
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
    assert!(fs::read_to_string(s.home.join(".gitconfig"))
        .unwrap()
        .contains("driver = vault merge %O %A %B"));
}

#[test]
fn git_diff_and_log_show_names_and_fingerprints_never_values() {
    let s = Sandbox::new();
    let Some(repo) = Repo::new(&s) else {
        return;
    };
    repo.setup().success();
    repo.init();
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
    for value in ["1111", "2222", "3333", "4444"] {
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
    // a write, never the rollback memory.
    let before = s.snapshot();
    let out = s
        .cmd()
        .env("VAULT_PASSPHRASE", PASS)
        .arg("textconv")
        .arg(&s.vault)
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
