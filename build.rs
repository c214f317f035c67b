//! `vault --version` names the commit it was built from when built from a
//! git checkout of this crate (`vault 0.1.0 (commit 1a2b3c4d5e6f)`), and is
//! the plain version otherwise (a crates.io download, a tarball, or this
//! crate vendored inside another repository: the work tree's top must be
//! this crate's own directory).
//!
//! Written by hand rather than with `vergen`/`built`: one `git` call and a
//! few `rerun-if-changed` lines, where those crates add a dependency tree
//! (and, for vergen's git2 backend, libgit2) to every build. No git on the
//! machine: the plain version.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn commit(dir: &Path) -> Option<String> {
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    // Rebuild when HEAD moves: HEAD itself, the branch it names, and the
    // packed refs (only files that exist: a missing one reruns every build).
    let git_dir = PathBuf::from(git(dir, &["rev-parse", "--absolute-git-dir"])?);
    let common = git(dir, &["rev-parse", "--git-common-dir"])
        .map(|c| dir.join(c))
        .unwrap_or_else(|| git_dir.clone());
    let mut watch = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch.push(common.join(branch));
    }
    for p in watch.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let hash = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    hash.bytes().all(|b| b.is_ascii_hexdigit()).then_some(hash)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = env!("CARGO_PKG_VERSION");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let long = match commit(&dir) {
        Some(c) => format!("{version} (commit {c})"),
        None => version.to_owned(),
    };
    println!("cargo:rustc-env=VAULT_LONG_VERSION={long}");
}
