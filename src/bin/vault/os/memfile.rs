//! `--file` and `--nextflow`: content (a rendered template, Nextflow's
//! secrets store) in an anonymous in-memory file the command can open by
//! path, with nothing created on any filesystem.
//!
//! Linux: a `memfd_create` file, mode 0600, sealed against writes and
//! resizing, left open across exec, reachable as `/dev/fd/N`. Other Unix
//! systems: a pipe would be read-once, so they are refused for now with a
//! clear message (see README).

use std::os::fd::OwnedFd;

use crate::error::{CliError, Result};

/// Creates the sealed in-memory file `vault-NAME` holding `bytes`; returns
/// it and the path the command opens it by. `what` starts its error
/// messages (the option that asked for it).
#[cfg(target_os = "linux")]
pub fn sealed(name: &str, what: &str, bytes: &[u8]) -> Result<(OwnedFd, String)> {
    use std::ffi::CString;
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd};

    let fail = |step: &str| {
        CliError::Other(format!(
            "{what}: {step}: {}",
            std::io::Error::last_os_error()
        ))
    };
    let name = CString::new(format!("vault-{name}")).expect("env names have no NUL");
    // No MFD_CLOEXEC: the descriptor must survive exec into the command.
    // SAFETY: a valid C string and flags; the result is checked.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_ALLOW_SEALING) };
    if raw < 0 {
        return Err(fail("memfd_create"));
    }
    // SAFETY: raw is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: fchmod on a descriptor we own.
    if unsafe { libc::fchmod(raw, 0o600) } != 0 {
        return Err(fail("fchmod"));
    }
    let mut f = std::fs::File::from(fd);
    f.write_all(bytes)
        .map_err(|e| CliError::Other(format!("{what}: writing the in-memory file: {e}")))?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(fail("sealing"));
    }
    let fd = OwnedFd::from(f);
    let path = format!("/dev/fd/{}", fd.as_raw_fd());
    Ok((fd, path))
}

#[cfg(not(target_os = "linux"))]
pub fn sealed(_name: &str, what: &str, _bytes: &[u8]) -> Result<(OwnedFd, String)> {
    Err(CliError::Other(format!(
        "{what}: in-memory files are implemented on Linux only in this build"
    )))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;

    #[test]
    fn sealed_file_reads_back_and_refuses_writes() {
        let (fd, path) = sealed("T", "--file T", b"hello").unwrap();
        assert_eq!(path, format!("/dev/fd/{}", fd.as_raw_fd()));
        let mut s = String::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
        let mut f = std::fs::File::from(fd);
        f.rewind().unwrap();
        assert!(f.write_all(b"x").is_err(), "sealed against writes");
        assert!(f.set_len(0).is_err(), "sealed against shrinking");
    }
}
