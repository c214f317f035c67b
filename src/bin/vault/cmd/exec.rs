//! `vault exec` and `vault render`: hand secrets to a command as
//! environment variables, as sealed in-memory files (`--file`), or as a
//! rendered template on stdout. Nothing secret is written to a file.
//!
//! Without `--mask` the process replaces itself with the command (execvp):
//! no parent is left holding secrets, the PID, signals and exit status are
//! the command's own. With `--mask` it stays as the command's parent to
//! filter its output (see `masked.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use vault::error::Error;

use crate::error::{CliError, Result};
use vault::render::{self, RenderError, RenderErrorKind, Template};
use vault::vault::validate_name;
use vault::{SecretBytes, Vault};

use crate::cli::FileSpec;
use crate::output::stdout_write;
use crate::unlock::Ctx;

/// Longest value one environment variable may carry (Linux MAX_ARG_STRLEN,
/// which counts `NAME=value` and its terminating NUL).
pub const MAX_ENV_STRLEN: usize = 128 * 1024;

/// Largest template accepted, bytes.
const MAX_TEMPLATE: usize = 16 << 20;

/// The passphrase variables, never passed to a child.
const PASSPHRASE_VARS: [&str; 2] = ["VAULT_PASSPHRASE", "VAULT_PASSPHRASE_FILE"];

/// A `--file VAR=TEMPLATE` request.
#[derive(Debug)]
pub struct FileArg {
    pub var: String,
    pub template_path: std::path::PathBuf,
    pub template: Vec<u8>,
}

/// Reads the template of a `--file` request.
pub fn read_file_arg(spec: &FileSpec) -> Result<FileArg> {
    Ok(FileArg {
        var: spec.var.clone(),
        template_path: spec.path.clone(),
        template: read_template(&spec.path)?,
    })
}

fn read_template(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| Error::io("opening the template", path, e))?;
    let mut buf = Vec::new();
    f.take(MAX_TEMPLATE as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("reading the template", path, e))?;
    if buf.len() > MAX_TEMPLATE {
        return Err(CliError::Usage(format!(
            "the template {} is over 16 MiB",
            path.display()
        )));
    }
    Ok(buf)
}

/// A render error as the crate error, with the template's name and the
/// position: malformed → exit 2, unknown secret → exit 5.
pub fn render_error(what: &str, e: RenderError) -> Error {
    match e.kind {
        RenderErrorKind::Malformed(m) => Error::Template {
            what: what.to_string(),
            line: e.line,
            column: e.column,
            message: m.to_string(),
        },
        RenderErrorKind::UnknownSecret(name) => Error::NoSuchSecret {
            name: name.to_string(),
            context: Some(format!("referenced at {what}:{}:{}", e.line, e.column)),
        },
    }
}

/// `vault render [TEMPLATE | -]`.
pub fn render_cmd(ctx: &mut Ctx<'_>, template: Option<&str>) -> Result<()> {
    let (what, bytes) = match template {
        None | Some("-") => {
            // A passphrase on stdin comes first: read it before the template.
            if ctx.creds.passphrase_from_stdin() {
                ctx.creds.given_passphrase()?;
            }
            use std::io::Read;
            let mut buf = Vec::new();
            std::io::stdin()
                .lock()
                .take(MAX_TEMPLATE as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io("reading the template from", "standard input", e))?;
            if buf.len() > MAX_TEMPLATE {
                return Err(CliError::Usage(
                    "the template on standard input is over 16 MiB".into(),
                ));
            }
            ("<stdin>".to_string(), buf)
        }
        Some(p) => (p.to_string(), read_template(Path::new(p))?),
    };
    // Syntax errors need no unlock.
    let t = render::parse(&bytes).map_err(|e| render_error(&what, e))?;
    let v = ctx.read()?;
    let out = t
        .render(&|n| v.get(n).map(|e| e.expose_value()))
        .map_err(|e| render_error(&what, e))?;
    stdout_write(&out)
}

/// What `exec` hands to the command, worked out before anything runs.
pub struct Plan {
    /// The whole environment of the command.
    pub env: Vec<(OsString, SecretOrPlain)>,
    /// Values to mask under `--mask`: (secret name, value).
    pub injected: BTreeMap<String, SecretBytes>,
    /// Rendered `--file` contents: (VAR, bytes).
    pub files: Vec<(String, zeroize::Zeroizing<Vec<u8>>)>,
}

/// An environment value: inherited (not secret) or a secret (with its name).
pub enum SecretOrPlain {
    Plain(OsString),
    Secret(String, SecretBytes),
}

/// Why `value` cannot travel as environment variable `var`, if it cannot.
fn env_unusable(var: &OsStr, value: &[u8]) -> Option<String> {
    if value.contains(&0) {
        Some("contains a NUL byte, which an environment variable cannot carry".into())
    } else if var.len() + 1 + value.len() + 1 > MAX_ENV_STRLEN {
        Some(format!(
            "is {} bytes, over the {} KiB the OS allows for one environment variable",
            value.len(),
            MAX_ENV_STRLEN / 1024
        ))
    } else {
        None
    }
}

/// Works out the command's environment from the inherited one and the
/// vault: secrets (all, or the `--only` names), references `vault:NAME`,
/// `--file` templates. Every error happens here, before anything runs.
pub fn plan(
    v: &Vault,
    only: &[String],
    files: &[FileArg],
    inherited: impl Iterator<Item = (OsString, OsString)>,
) -> Result<Plan> {
    let restrict: Option<BTreeSet<&str>> = if only.is_empty() {
        None
    } else {
        Some(only.iter().map(String::as_str).collect())
    };
    for n in only {
        if v.get(n).is_none() {
            return Err(Error::no_such_secret(n).into());
        }
    }
    let allowed = |name: &str| restrict.as_ref().is_none_or(|r| r.contains(name));
    let lookup = |name: &str, what: &str| -> Result<SecretBytes> {
        if !allowed(name) {
            return Err(Error::NoSuchSecret {
                name: name.to_string(),
                context: Some(format!(
                    "{what}; not among the --only secrets this command was given"
                )),
            }
            .into());
        }
        v.get(name).map(|e| e.value_copy()).ok_or_else(|| {
            Error::NoSuchSecret {
                name: name.to_string(),
                context: Some(what.to_string()),
            }
            .into()
        })
    };
    let mut injected: BTreeMap<String, SecretBytes> = BTreeMap::new();
    let mut env: BTreeMap<OsString, SecretOrPlain> = BTreeMap::new();
    for (k, val) in inherited {
        if PASSPHRASE_VARS.iter().any(|p| OsStr::new(p) == k) {
            continue;
        }
        let reference = val
            .as_bytes()
            .strip_prefix(b"vault:")
            .and_then(|n| std::str::from_utf8(n).ok())
            .filter(|n| validate_name(n).is_ok());
        match reference {
            Some(name) => {
                let what = format!("referenced by ${}", k.to_string_lossy());
                let value = lookup(name, &what)?;
                injected.insert(name.to_string(), value.clone());
                env.insert(k, SecretOrPlain::Secret(name.to_string(), value));
            }
            None => {
                env.insert(k, SecretOrPlain::Plain(val));
            }
        }
    }
    let mut rendered = Vec::new();
    let mut in_files: BTreeSet<&str> = BTreeSet::new();
    for f in files {
        let what = f.template_path.display().to_string();
        let t: Template<'_> = render::parse(&f.template).map_err(|e| render_error(&what, e))?;
        for (name, line, col) in t.references() {
            let value = lookup(name, &format!("referenced at {what}:{line}:{col}"))?;
            injected.insert(name.to_string(), value);
            if let Some(e) = v.get(name) {
                in_files.insert(e.name);
            }
        }
        let out = t
            .render(&|n| v.get(n).map(|e| e.expose_value()))
            .map_err(|e| render_error(&what, e))?;
        rendered.push((f.var.clone(), out));
    }
    for e in v.entries() {
        let name = e.name;
        if !allowed(name) {
            continue;
        }
        // A value that cannot be a variable but that a --file template
        // carries is handed over by the file only.
        if in_files.contains(name) && env_unusable(OsStr::new(name), e.expose_value()).is_some() {
            env.remove(OsStr::new(name));
            continue;
        }
        injected.insert(name.to_string(), e.value_copy());
        env.insert(
            name.into(),
            SecretOrPlain::Secret(name.to_string(), e.value_copy()),
        );
    }
    // Every value must be able to travel as an environment variable.
    for (k, val) in &env {
        if let SecretOrPlain::Secret(name, s) = val {
            if let Some(why) = env_unusable(k, s.expose()) {
                return Err(Error::NotAnEnvValue {
                    name: name.clone(),
                    why,
                }
                .into());
            }
        }
    }
    Ok(Plan {
        env: env.into_iter().collect(),
        injected,
        files: rendered,
    })
}

/// `vault exec`: unlock, plan, then exec (or run masked).
pub fn exec_cmd(
    ctx: &mut Ctx<'_>,
    only: &[String],
    file_specs: &[FileSpec],
    mask: bool,
    command: &[OsString],
) -> Result<()> {
    for n in only {
        validate_name(n)?;
    }
    let files: Vec<FileArg> = file_specs
        .iter()
        .map(read_file_arg)
        .collect::<Result<_>>()?;
    for (i, f) in files.iter().enumerate() {
        if files[..i].iter().any(|g| g.var == f.var) {
            return Err(CliError::Usage(format!(
                "--file {}=... is given twice; give each variable one template",
                f.var
            )));
        }
    }
    let (program, args) = command.split_first().ok_or_else(|| {
        CliError::Usage("no command given: vault exec [OPTIONS] -- CMD [ARGS...]".into())
    })?;
    let v = ctx.read()?;
    let plan = plan(&v, only, &files, std::env::vars_os())?;
    // What the command does not need goes now: with --mask this process
    // stays alive as long as the command does.
    drop(v);
    ctx.creds.forget();
    let mut command = std::process::Command::new(program);
    command.args(args).env_clear();
    for (k, val) in &plan.env {
        match val {
            SecretOrPlain::Plain(p) => command.env(k, p),
            SecretOrPlain::Secret(_, sec) => command.env(k, OsStr::from_bytes(sec.expose())),
        };
    }
    // The in-memory files stay open (not close-on-exec) for the command.
    let mut _keep = Vec::new();
    for (var, bytes) in &plan.files {
        let (fd, path) = crate::os::memfile::sealed(var, bytes)?;
        command.env(var, path);
        _keep.push(fd);
    }
    if mask {
        crate::os::child::run(command, program, plan)
    } else {
        drop(plan);
        Err(exec(command, program))
    }
}

/// Replaces this process with `command`; returns only on failure, with the
/// shell's codes: 127 not found, 126 found but not executable.
#[cfg(unix)]
fn exec(mut command: std::process::Command, program: &OsStr) -> CliError {
    use std::os::unix::process::CommandExt;
    crate::os::sys::restore_core_limit();
    let e = command.exec();
    crate::os::sys::harden_process();
    crate::os::child::spawn_error(program, e)
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_names_for_file_vars() {
        use vault::format::is_env_name;
        assert!(is_env_name(b"AWS_FILE") && is_env_name(b"_x1") && is_env_name(b"VAULT_OK"));
        for bad in ["", "1A", "A-B", "A=B", "A B"] {
            assert!(!is_env_name(bad.as_bytes()), "{bad}");
        }
    }
}
