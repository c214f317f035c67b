//! One file per subcommand, each a few lines over the library's opener and
//! write transaction. Shared plumbing lives outside: `unlock.rs`,
//! `output.rs`, `os/`.

pub mod cache;
pub mod doctor;
pub mod exec;
pub mod export;
pub mod git;
pub mod help;
pub mod identity;
pub mod import;
pub mod init;
pub mod key;
pub mod secrets;

use std::io::IsTerminal;

use vault::error::Error;
use vault::vault::validate_name;
use vault::Vault;

use crate::error::CliError;

/// Checks a secret name typed on the command line. The corrected name is
/// suggested only when stderr is a terminal: a mistyped command can put a
/// token where a name goes, and CI logs keep stderr.
pub fn check_name(name: &str) -> Result<(), CliError> {
    validate_name(name).map_err(|error| {
        let fixed: String = name
            .chars()
            .map(|c| {
                if c == '-' || c == '.' || c == ' ' {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        match std::io::stderr().is_terminal() && validate_name(&fixed).is_ok() {
            true => CliError::Hinted {
                error,
                hint: format!("did you mean {fixed}?"),
            },
            false => error.into(),
        }
    })
}

/// "No secret named X", with the vault's closest name as a suggestion
/// (names are not secret to whoever opened the vault; never a value).
pub fn missing(v: &Vault, name: &str) -> CliError {
    let error = Error::no_such_secret(name);
    match v.closest_name(name) {
        Some(n) => CliError::Hinted {
            error,
            hint: format!("did you mean {n}? (`vault list` shows every name)"),
        },
        None => error.into(),
    }
}
