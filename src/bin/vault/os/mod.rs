//! Raw OS calls and process plumbing, the only unsafe code of the binary:
//! process hardening and fd reads (`sys`), the allocator (`alloc`), sealed
//! in-memory files (`memfile`) and the masked child (`child`).

#[cfg(target_os = "linux")]
pub mod alloc;
pub mod child;
pub mod memfile;
pub mod sys;
