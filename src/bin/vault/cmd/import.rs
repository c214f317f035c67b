//! `vault import`: read a `.env` file, a JSON object or Nextflow's store
//! (parsed by `vault::interchange`), work out what happens to each name,
//! and write every change in one transaction, or nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use vault::error::Error;
use vault::interchange::{self, nextflow, ParseError, Parsed, MAX_INPUT_LEN};
use vault::{SecretBytes, Vault};

use crate::cli::{ImportArgs, ImportFormat};
use crate::error::{CliError, Result};
use crate::output::{stdout_write, warn};
use crate::unlock::Ctx;

/// What happens to one imported name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Not in the vault: added.
    New,
    /// In the vault with another value: replaced (`--replace`).
    Replace,
    /// In the vault with the same value: left alone.
    Unchanged,
    /// In the vault with another value: left alone (`--keep-existing`).
    Keep,
    /// In the vault with another value, and neither flag given: refused.
    Exists,
    /// Would empty a non-empty secret without `--allow-empty`: refused.
    Emptying,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::New => "new",
            Action::Replace => "replace",
            Action::Unchanged => "unchanged",
            Action::Keep => "keep",
            Action::Exists => "exists",
            Action::Emptying => "empty",
        }
    }
}

/// `vault import`.
pub fn run(ctx: &mut Ctx<'_>, args: &ImportArgs) -> Result<()> {
    let (what, input) = read_input(ctx, args)?;
    // Syntax and names are checked before anything is unlocked.
    let parsed = match args.format {
        ImportFormat::Dotenv => interchange::dotenv::parse(input.expose()),
        ImportFormat::Json => interchange::json::parse_object(input.expose()),
        ImportFormat::Nextflow => nextflow::parse(input.expose()),
    }
    .map_err(|e| located(&what, e))?;
    drop(input);
    for d in &parsed.duplicates {
        warn(&format!(
            "{d} is set more than once in {what}; the last one is imported"
        ));
    }
    if args.format == ImportFormat::Dotenv {
        let dollar: Vec<&str> = parsed
            .items
            .iter()
            .filter(|i| i.value.expose().contains(&b'$'))
            .map(|i| i.name.as_str())
            .collect();
        if !dollar.is_empty() {
            warn(&format!(
                "stored as written, nothing expanded: `$` in the value of {}",
                dollar.join(", ")
            ));
        }
    }
    if args.dry_run {
        let v = ctx.read()?;
        let actions = plan(&v, &parsed, args);
        // A refused import prints nothing on stdout, as every failure.
        refuse(&parsed, &actions)?;
        let mut out = String::new();
        for (item, a) in parsed.items.iter().zip(&actions) {
            out.push_str(&format!("{:<9} {}\n", a.word(), item.name));
        }
        stdout_write(out.as_bytes())?;
        summary("would import", &what, &actions);
        return Ok(());
    }
    let mut txn = ctx.prepare()?.begin()?;
    let actions = plan(txn.vault(), &parsed, args);
    refuse(&parsed, &actions)?;
    let mut changed = false;
    let mut loading = Vec::new();
    for (item, a) in parsed.items.into_iter().zip(&actions) {
        if matches!(a, Action::New | Action::Replace) {
            if vault::envnames::alters_program_loading(&item.name) {
                loading.push(item.name.clone());
            }
            txn.set(&item.name, item.value)?;
            changed = true;
        }
    }
    if changed {
        txn.commit()?;
    }
    summary("imported", &what, &actions);
    if !loading.is_empty() {
        warn(&format!(
            "{} change how programs load or how a shell starts: `vault exec` sets them only when named with --only",
            loading.join(", ")
        ));
    }
    Ok(())
}

/// A parse error with the input's name: exit 2, like a malformed template.
fn located(what: &str, e: ParseError) -> CliError {
    CliError::Usage(format!("{what}:{e}; nothing was imported"))
}

fn plan(v: &Vault, parsed: &Parsed, args: &ImportArgs) -> Vec<Action> {
    parsed
        .items
        .iter()
        .map(|item| match v.get(&item.name) {
            None => Action::New,
            Some(e) if e.expose_value() == item.value.expose() => Action::Unchanged,
            Some(_) if args.keep_existing => Action::Keep,
            Some(_) if !args.replace => Action::Exists,
            Some(e) if item.value.is_empty() && !e.is_empty() && !args.allow_empty => {
                Action::Emptying
            }
            Some(_) => Action::Replace,
        })
        .collect()
}

/// The refusals, naming every secret concerned (never a value).
fn refuse(parsed: &Parsed, actions: &[Action]) -> Result<()> {
    let names = |want: Action| -> Vec<&str> {
        parsed
            .items
            .iter()
            .zip(actions)
            .filter(|(_, a)| **a == want)
            .map(|(i, _)| i.name.as_str())
            .collect()
    };
    let exists = names(Action::Exists);
    if !exists.is_empty() {
        return Err(CliError::Usage(format!(
            "already in the vault with another value: {}; nothing was imported (give --replace to overwrite them, or --keep-existing to import only new names)",
            exists.join(", ")
        )));
    }
    let emptying = names(Action::Emptying);
    if !emptying.is_empty() {
        return Err(CliError::Usage(format!(
            "the import would empty the non-empty secret(s) {} (an unset variable in a generated file?); nothing was imported (give --allow-empty if that is meant)",
            emptying.join(", ")
        )));
    }
    Ok(())
}

fn summary(verb: &str, what: &str, actions: &[Action]) {
    let count = |a: Action| actions.iter().filter(|x| **x == a).count();
    eprintln!(
        "vault: {verb} {} from {what}: {} new, {} replaced, {} unchanged, {} kept as they were",
        count(Action::New) + count(Action::Replace),
        count(Action::New),
        count(Action::Replace),
        count(Action::Unchanged),
        count(Action::Keep)
    );
}

/// The input's name for messages and its bytes (in a zeroizing buffer).
fn read_input(ctx: &mut Ctx<'_>, args: &ImportArgs) -> Result<(String, SecretBytes)> {
    let path: Option<PathBuf> = match (&args.file, args.format) {
        (Some(p), _) if p.as_os_str() == "-" => None,
        (Some(p), _) => Some(p.clone()),
        (None, ImportFormat::Nextflow) => Some(nextflow_store()?),
        (None, _) => None,
    };
    let Some(path) = path else {
        if args.file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Err(CliError::Usage(
                "no FILE given and standard input is a terminal: give the file, or - to type it"
                    .into(),
            ));
        }
        // A passphrase on stdin comes first: read it before the file.
        if ctx.creds.passphrase_from_stdin() {
            ctx.creds.given_passphrase()?;
        }
        let bytes = vault::store::read_bounded(std::io::stdin().lock(), None, MAX_INPUT_LEN)
            .map_err(|e| Error::io("reading", "standard input", e))?
            .ok_or_else(|| too_large("standard input"))?;
        return Ok(("<stdin>".into(), bytes));
    };
    let what = path.display().to_string();
    let f = std::fs::File::open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if args.format == ImportFormat::Nextflow && args.file.is_none() => {
            CliError::Other(format!(
                "no Nextflow secrets store at {what} (it is $NXF_SECRETS_FILE, else $NXF_HOME/secrets/store.json, else ~/.nextflow/secrets/store.json); give its path as FILE"
            ))
        }
        _ => Error::io("opening", &path, e).into(),
    })?;
    let meta = f.metadata().map_err(|e| Error::io("reading", &path, e))?;
    if meta.is_dir() {
        return Err(CliError::Usage(format!(
            "{what} is a directory, not a file to import"
        )));
    }
    if meta.is_file() && meta.len() > MAX_INPUT_LEN as u64 {
        return Err(too_large(&what));
    }
    if args.format == ImportFormat::Nextflow {
        nextflow_checks(&path, &meta);
    }
    let hint = meta.is_file().then_some(meta.len());
    let bytes = vault::store::read_bounded(f, hint, MAX_INPUT_LEN)
        .map_err(|e| Error::io("reading", &path, e))?
        .ok_or_else(|| too_large(&what))?;
    Ok((what, bytes))
}

fn too_large(what: &str) -> CliError {
    CliError::Usage(format!(
        "{what} is over {} MiB; nothing was imported",
        MAX_INPUT_LEN >> 20
    ))
}

/// Where Nextflow keeps its store, from its environment variables.
fn nextflow_store() -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    nextflow::store_path(
        std::env::var_os("NXF_SECRETS_FILE").as_deref(),
        std::env::var_os("NXF_HOME").as_deref(),
        home.as_deref(),
    )
    .ok_or_else(|| {
        CliError::Usage(
            "cannot find Nextflow's store: HOME is not set; give its path as FILE".into(),
        )
    })
}

/// Warns about a store others can read and the plaintext copies Nextflow
/// leaves beside it.
fn nextflow_checks(path: &Path, meta: &std::fs::Metadata) {
    let mode = meta.permissions().mode() & 0o7777;
    if meta.is_file() && mode != 0o600 {
        warn(&format!(
            "Nextflow's store {} has mode {mode:04o}, not 0600: other users may have read it (Nextflow itself refuses it)",
            path.display()
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut leftovers: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| nextflow::is_leftover_file_name(&e.file_name()))
        .map(|e| e.path())
        .collect();
    if leftovers.is_empty() {
        return;
    }
    leftovers.sort();
    let quoted: Vec<String> = leftovers
        .iter()
        .map(|p| shell_quote(&p.display().to_string()))
        .collect();
    warn(&format!(
        "Nextflow left {} plaintext cop{} of its secrets beside the store (from the `secret` directive); once imported, remove them with:\n  rm -- {}",
        leftovers.len(),
        if leftovers.len() == 1 { "y" } else { "ies" },
        quoted.join(" ")
    ));
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn bounded_reads_grow_by_copy_and_stop_at_the_limit() {
        let data = vec![7u8; 200_000];
        let read = |r: &mut dyn Read, hint| vault::store::read_bounded(r, hint, MAX_INPUT_LEN);
        let got = read(&mut &data[..], None).unwrap().unwrap();
        assert_eq!(got.expose(), &data[..]);
        let got = read(&mut &data[..], Some(data.len() as u64))
            .unwrap()
            .unwrap();
        assert_eq!(got.len(), data.len());
        let mut big = std::io::repeat(1).take(MAX_INPUT_LEN as u64 + 10);
        assert!(read(&mut big, None).unwrap().is_none());
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a b/.nf-x.secrets"), "'/a b/.nf-x.secrets'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
