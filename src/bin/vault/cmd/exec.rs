//! `vault exec` and `vault render`: hand secrets to a command as
//! environment variables, as sealed in-memory files (`--file`), or as a
//! rendered template on stdout. Nothing secret is written to a file.
//!
//! Without `--mask` the process replaces itself with the command (execvp):
//! no parent is left holding secrets, the PID, signals and exit status are
//! the command's own. With `--mask` it stays as the command's parent to
//! filter its output (see `os/child.rs`). With `--nextflow` the secrets go
//! into Nextflow's store, an in-memory file reached through a link in a
//! private RAM-backed directory (`os/ramdir.rs`), and vault stays as the
//! parent to remove that directory when the command ends. The plan itself,
//! every rule of what the command gets, is the library's `vault::exec`;
//! this file tells the user what the plan left out. The command is looked
//! up in the caller's `PATH` before any secret is in sight, so a secret
//! `PATH` (even one named with `--only`) never chooses which program runs.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use vault::error::Error;
use vault::exec::{plan, plan_nextflow, render_error, EnvValue, FileTemplate, Note};
use vault::interchange::nextflow::SECRETS_FILE_VAR;
use vault::render;
use vault::Vault;

use crate::cli::FileSpec;
use crate::cmd::check_name;
use crate::error::{CliError, Result};
use crate::output::{stdout_write, warn};
use crate::unlock::Ctx;

/// Largest template accepted, bytes.
const MAX_TEMPLATE: usize = 16 << 20;

/// A `--file VAR=TEMPLATE` request with its template read.
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

/// `vault exec`: unlock, plan, then exec (or run masked, or run Nextflow
/// with its store).
pub fn exec_cmd(
    ctx: &mut Ctx<'_>,
    only: &[String],
    file_specs: &[FileSpec],
    mask: bool,
    nextflow: bool,
    command: &[OsString],
) -> Result<()> {
    for n in only {
        check_name(n)?;
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
    let path = std::env::var_os("PATH");
    let resolved = find_program(program, path.as_deref()).ok_or_else(|| {
        crate::os::child::spawn_error(program, std::io::ErrorKind::NotFound.into())
    })?;
    // Where Nextflow's store will be linked from: refused before any unlock
    // when there is no RAM-backed place for it.
    let ram_parent = nextflow.then(crate::os::ramdir::Parent::open).transpose()?;
    let v = ctx.read()?;
    let labels: Vec<String> = files
        .iter()
        .map(|f| f.template_path.display().to_string())
        .collect();
    let templates: Vec<FileTemplate<'_>> = files
        .iter()
        .zip(&labels)
        .map(|(f, label)| FileTemplate {
            var: &f.var,
            label,
            template: &f.template,
        })
        .collect();
    let plan = match nextflow {
        true => plan_nextflow(&v, only, std::env::vars_os()),
        false => plan(&v, only, &templates, std::env::vars_os()),
    }
    .map_err(|e| match &e {
        Error::NoSuchSecret {
            name,
            context: None,
        } => crate::cmd::missing(&v, name),
        _ => e.into(),
    })?;
    for note in &plan.notes {
        warn(&note_text(note, &v));
    }
    // What the command does not need goes now: with --mask this process
    // stays alive as long as the command does.
    drop(v);
    ctx.creds.forget();
    let mut command = std::process::Command::new(resolved);
    command.arg0(program).args(args).env_clear();
    for (k, val) in &plan.env {
        match val {
            EnvValue::Plain(p) => command.env(k, p),
            EnvValue::Secret(_, sec) => command.env(k, OsStr::from_bytes(sec.expose())),
        };
    }
    // The in-memory files stay open (not close-on-exec) for the command.
    let mut _keep = Vec::new();
    for f in &plan.files {
        let (fd, path) =
            crate::os::memfile::sealed(&f.var, &format!("--file {}", f.var), &f.contents)?;
        command.env(&f.var, path);
        _keep.push(fd);
    }
    if let (Some(ram_parent), Some(store)) = (ram_parent, &plan.nextflow) {
        // Made only now, with the vault open and the plan made: a prompt
        // interrupted, a signal during the key derivation or a refusal
        // leaves no directory behind. Removed when dropped.
        let run_dir = ram_parent.create_run()?;
        let (fd, path) =
            crate::os::memfile::sealed("nextflow-store", "--nextflow", store.json.expose())?;
        // Nextflow writes the `secret` directive's file into the store's
        // directory: a link in our private one, resolved by Nextflow to its
        // own inherited descriptor.
        command.env(SECRETS_FILE_VAR, run_dir.link("store.json", &path)?);
        _keep.push(fd);
        let status = crate::os::child::supervise(command, program, plan, mask);
        drop(_keep);
        drop(run_dir);
        crate::os::child::exit_as(status?);
    }
    if mask {
        let status = crate::os::child::supervise(command, program, plan, true)?;
        crate::os::child::exit_as(status)
    } else {
        drop(plan);
        Err(exec(command, program))
    }
}

/// What the user is told about a [`Note`] of the plan: names, never a value.
fn note_text(note: &Note, v: &Vault) -> String {
    match note {
        Note::LoadingNames(names) => format!(
            "left out secret{} {}: a variable by that name changes how programs load or how a shell starts, so a secret sets it only when named with --only (see `vault doctor`)",
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        ),
        Note::NotAnEnvValue { name, why } => format!(
            "left out secret {name}: its value {why}; pass it as a file with --file VAR=TEMPLATE (a template containing ${{secrets.{name}}})"
        ),
        Note::FileOnly { name, why, vars } => format!(
            "secret {name} is not set as a variable (its value {why}): the command gets it only in the file at ${}",
            vars.join(", $")
        ),
        Note::StoreOnly { var, name } => format!(
            "${} is passed on unchanged as vault:{name}: with --nextflow secrets reach Nextflow only through its store (use secrets.{name} in the pipeline, or `secret '{name}'` in a process)",
            var.to_string_lossy()
        ),
        Note::NotAReference { var, name } => {
            let hint = match v.closest_name(name) {
                Some(n) => format!(" (did you mean vault:{n}?)"),
                None => String::new(),
            };
            format!(
                "${} looks like a reference (vault:NAME) but no secret has that name: passed on unchanged{hint}",
                var.to_string_lossy()
            )
        }
    }
}

/// Where `program` is, found as `execvp` would but in the caller's `PATH`
/// (`path`; unset: `/bin:/usr/bin`, glibc's default): a name with a `/` is
/// itself; else the first regular file `DIR/program` with an execute bit, or the
/// first one that exists if none is executable (running it then fails with
/// "permission denied", 126). `None`: not found (127).
fn find_program(program: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    if program.is_empty() {
        return None;
    }
    let path = path.unwrap_or(OsStr::new("/bin:/usr/bin"));
    let mut not_executable = None;
    for dir in path.as_bytes().split(|b| *b == b':') {
        // An empty entry is the current directory, as for execvp.
        let dir = if dir.is_empty() { b"." } else { dir };
        let candidate = Path::new(OsStr::from_bytes(dir)).join(program);
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Some(candidate),
            Ok(_) => {
                not_executable.get_or_insert(candidate);
            }
            Err(_) => {}
        }
    }
    not_executable
}

/// Replaces this process with `command`; returns only on failure, with the
/// shell's codes: 127 not found, 126 found but not executable.
#[cfg(unix)]
fn exec(mut command: std::process::Command, program: &OsStr) -> CliError {
    crate::os::sys::restore_core_limit();
    let e = command.exec();
    crate::os::sys::harden_process();
    crate::os::child::spawn_error(program, e)
}
