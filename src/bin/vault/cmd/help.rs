//! `vault completions SHELL` and `vault man`: generated from the one
//! clap definition of the flags (`cli::command`), so they can never
//! disagree with `--help`.

use crate::error::{CliError, Result};
use crate::output::stdout_write;

pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = crate::cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "vault", &mut out);
    stdout_write(&out)
}

pub fn man() -> Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(crate::cli::command())
        .render(&mut out)
        .map_err(|e| CliError::Other(format!("rendering the manual page: {e}")))?;
    stdout_write(&out)
}
