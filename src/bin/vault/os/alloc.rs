//! The global allocator: the system allocator, except for large blocks
//! (2 MiB and up: the vault file and its plaintext, Argon2's 64 MiB). Each of
//! those is a private anonymous mapping of its own, 2 MiB-aligned and
//! advised to use transparent huge pages, so touching it costs one page
//! fault per 2 MiB instead of one per 4 KiB (16 384 for Argon2 alone), kept
//! out of core dumps, and unmapped when freed: its pages are never handed
//! out again inside the process.
//!
//! Which path a block took is decided by its `Layout` alone, which
//! `dealloc` and `realloc` receive unchanged, so no bookkeeping is needed.

use std::alloc::{GlobalAlloc, Layout, System};

/// The size of a transparent huge page on x86-64 and the mapping threshold.
const HUGE: usize = 2 << 20;

/// See the module documentation.
pub struct VaultAlloc;

fn mapped(layout: Layout) -> bool {
    layout.size() >= HUGE && layout.align() <= HUGE
}

/// The length a block of `size` bytes is mapped with.
fn map_len(size: usize) -> Option<usize> {
    size.checked_next_multiple_of(HUGE)
}

/// A fresh zero-filled mapping of at least `size` bytes, 2 MiB-aligned;
/// null on failure.
///
/// # Safety
/// `size` is at least [`HUGE`].
unsafe fn map(size: usize) -> *mut u8 {
    let Some(len) = map_len(size) else {
        return std::ptr::null_mut();
    };
    let Some(whole) = len.checked_add(HUGE) else {
        return std::ptr::null_mut();
    };
    // SAFETY: a new private anonymous mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            whole,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    let start = p as usize;
    let aligned = start.next_multiple_of(HUGE);
    let tail = start + whole - (aligned + len);
    // SAFETY: both trimmed ranges lie inside the mapping just made and
    // outside the part handed out; the advice only concerns that part.
    unsafe {
        if aligned > start {
            libc::munmap(p, aligned - start);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
        // Best effort: without them it is ordinary memory, just slower.
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_DONTDUMP);
    }
    aligned as *mut u8
}

// SAFETY: small blocks are the system allocator's; large ones are mappings
// of at least their size and alignment, unmapped with the same length they
// were mapped with (derived from the same layout).
unsafe impl GlobalAlloc for VaultAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(layout) {
            // SAFETY: the size is at least HUGE.
            unsafe { map(layout.size()) }
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(layout) {
            // SAFETY: as in `alloc`; a fresh anonymous mapping is zero-filled.
            unsafe { map(layout.size()) }
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(layout) {
            let len = map_len(layout.size()).expect("mapped with this length");
            // SAFETY: `ptr` came from `map` with this layout's size.
            unsafe { libc::munmap(ptr.cast(), len) };
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `realloc`'s contract guarantees a valid layout for the new size.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !mapped(layout) && !mapped(new) {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: allocate, copy what both blocks hold, free the old one.
        unsafe {
            let q = self.alloc(new);
            if !q.is_null() {
                std::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            q
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_are_aligned_zeroed_and_survive_realloc() {
        let a = VaultAlloc;
        for size in [HUGE, HUGE + 1, 3 * HUGE - 7] {
            let l = Layout::from_size_align(size, 64).unwrap();
            // SAFETY: valid non-zero layouts; every block is freed with its layout.
            unsafe {
                let p = a.alloc_zeroed(l);
                assert!(!p.is_null());
                assert_eq!(p as usize % HUGE, 0);
                let s = std::slice::from_raw_parts_mut(p, size);
                assert!(s.iter().all(|b| *b == 0));
                s.fill(0xA5);
                // Grow, shrink below the threshold, and grow back.
                let p = a.realloc(p, l, size + HUGE);
                let l2 = Layout::from_size_align(size + HUGE, 64).unwrap();
                assert!(std::slice::from_raw_parts(p, size)
                    .iter()
                    .all(|b| *b == 0xA5));
                let p = a.realloc(p, l2, 100);
                let l3 = Layout::from_size_align(100, 64).unwrap();
                assert!(std::slice::from_raw_parts(p, 100)
                    .iter()
                    .all(|b| *b == 0xA5));
                let p = a.realloc(p, l3, size);
                assert!(std::slice::from_raw_parts(p, 100)
                    .iter()
                    .all(|b| *b == 0xA5));
                a.dealloc(p, l);
            }
        }
    }

    #[test]
    fn argon2_gives_the_same_key_in_mapped_memory() {
        // The binary's Argon2 memory comes from here; the library's tests
        // and the test vectors pin the output computed in ordinary memory.
        use argon2::{Algorithm, Argon2, Block, Params};
        let a = Argon2::new(
            Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(8192, 1, 2, Some(32)).unwrap(),
        );
        let l = Layout::array::<Block>(8192).unwrap();
        let mut keys = [[0u8; 32]; 2];
        for (allocator, key) in [&VaultAlloc as &dyn GlobalAlloc, &System]
            .into_iter()
            .zip(&mut keys)
        {
            // SAFETY: a valid layout of 8192 zeroed blocks, freed with it.
            unsafe {
                let p = allocator.alloc_zeroed(l) as *mut Block;
                assert!(!p.is_null());
                let blocks = std::slice::from_raw_parts_mut(p, 8192);
                a.hash_password_into_with_memory(b"pw", b"saltsaltsaltsalt", key, &mut *blocks)
                    .unwrap();
                allocator.dealloc(p.cast(), l);
            }
        }
        assert_eq!(keys[0], keys[1]);
    }
}
