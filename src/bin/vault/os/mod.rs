//! Raw OS calls and process plumbing, the only unsafe code of the binary:
//! process hardening and fd reads (`sys`), the allocator (`alloc`), sealed
//! in-memory files (`memfile`), the supervised child (`child`) and the
//! private RAM-backed directory of `exec --nextflow` (`ramdir`).

#[cfg(target_os = "linux")]
pub mod alloc;
pub mod child;
pub mod memfile;
pub mod ramdir;
pub mod sys;
