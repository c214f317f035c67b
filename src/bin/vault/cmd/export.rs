//! `vault export`: the secrets (all, or the `--only` names) on standard
//! output as dotenv, JSON, shell or a Nextflow store, written by
//! `vault::interchange`. Never to a file path, never to a terminal unless
//! asked.

use std::io::IsTerminal;

use vault::envnames::alters_program_loading;
use vault::error::Error;
use vault::interchange::{self, Format};
use vault::vault::validate_name;

use crate::cli::{ExportArgs, ExportFormat};
use crate::error::{CliError, Result};
use crate::output::{stdout_write, warn};
use crate::unlock::Ctx;

/// `vault export`.
pub fn run(ctx: &mut Ctx<'_>, args: &ExportArgs) -> Result<()> {
    for n in &args.only {
        validate_name(n)?;
    }
    if !args.force && std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "refusing to print secrets on a terminal; redirect standard output (> FILE, or | COMMAND), or give --force".into(),
        ));
    }
    let format = match args.format {
        ExportFormat::Dotenv => Format::Dotenv,
        ExportFormat::Json => Format::Json,
        ExportFormat::Shell => Format::Shell,
        ExportFormat::Nextflow => Format::Nextflow,
    };
    let v = ctx.read()?;
    for n in &args.only {
        if v.get(n).is_none() {
            return Err(Error::no_such_secret(n).into());
        }
    }
    let mut left_out = Vec::new();
    let mut entries: Vec<(&str, &[u8])> = Vec::with_capacity(v.len());
    for e in v.entries() {
        if !args.only.is_empty() {
            if args.only.iter().any(|n| n == e.name) {
                entries.push((e.name, e.expose_value()));
            }
            continue;
        }
        if format == Format::Shell && alters_program_loading(e.name) {
            left_out.push(e.name);
            continue;
        }
        entries.push((e.name, e.expose_value()));
    }
    let out = interchange::export(format, &entries).map_err(|e| {
        CliError::Other(format!(
            "{e}; nothing was written (leave it out with --only NAME...)"
        ))
    })?;
    if !left_out.is_empty() {
        warn(&format!(
            "left out {}: a shell variable by that name changes how programs load or how the shell runs; name it with --only to export it anyway",
            left_out.join(", ")
        ));
    }
    if !out.python_only.is_empty() {
        warn(&format!(
            "no .env spelling reads back the same in python-dotenv and Node's dotenv for the value of {}: written for python-dotenv (Node's dotenv will read it differently)",
            out.python_only.join(", ")
        ));
    }
    stdout_write(out.bytes.expose())
}
