//! One file per subcommand, each a few lines over the library's opener and
//! write transaction. Shared plumbing lives outside: `unlock.rs`,
//! `output.rs`, `os/`.

pub mod cache;
pub mod doctor;
pub mod exec;
pub mod export;
pub mod import;
pub mod init;
pub mod key;
pub mod secrets;
