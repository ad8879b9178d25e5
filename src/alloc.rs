//! The process's allocator wrapper: survives the allocation a malformed
//! Kafka answer asks for.
//!
//! The kafka-protocol crate decodes an array with
//! `Vec::with_capacity(length read from the wire)` before it reads the
//! elements. A corrupt or hostile length (up to 2³² elements of up to a few
//! hundred bytes) asks for hundreds of gigabytes; the allocator refuses,
//! and Rust aborts the process: a failed allocation is not a panic that
//! anything could catch. Such requests are served here by an anonymous
//! mapping with `MAP_NORESERVE` instead: it only reserves address space
//! (Linux backs pages when they are first written), decoding stops at the
//! end of the frame (at most `MAX_RESPONSE_BYTES`), and the vector is
//! freed with the error. Real allocations this large do not happen in
//! kafka-pulse (its heap is ~150 MiB at 40,000 partitions); if one did, it
//! would work the same, from a mapping.

use std::alloc::{GlobalAlloc, Layout};

/// Allocations from this size on bypass the inner allocator.
pub const RESERVE_ONLY_FROM: usize = 1 << 30;

/// Page alignment of a mapping; larger alignments go to the inner
/// allocator.
const MAPPING_ALIGN: usize = 4096;

/// Wraps the process's allocator ([`PROCESS_ALLOCATOR`]).
pub struct LargeAllocsReserved<A>(pub A);

/// The allocator of the binary (src/main.rs) and of the memory benches
/// (benches/common), so what they measure is the app's: mimalloc, wrapped.
/// mimalloc rather than glibc's malloc: each tick frees a sample and a
/// snapshot of tens of MiB in many small pieces, and glibc kept 50-60 MiB of
/// that resident at 50,000 groups (`cargo bench --bench analysis`).
/// mimalloc rather than jemalloc: its C library builds in seconds where
/// jemalloc's took about 110 s of a clean build's CPU, late on its critical
/// path (bench/README.md, "Clean release build"), for a few MiB more: 228
/// against 221 MiB peak at 40,000 partitions / 50,000 groups against the
/// fake cluster (`bench/collector-fake/run`, same code, same run).
#[cfg(not(target_env = "msvc"))]
pub type ProcessAllocator = LargeAllocsReserved<mimalloc::MiMalloc>;
#[cfg(not(target_env = "msvc"))]
pub const PROCESS_ALLOCATOR: ProcessAllocator = LargeAllocsReserved(mimalloc::MiMalloc);

/// mimalloc's options, set first thing in `main` (and by the benches):
/// freed pages go back to the OS at once instead of after its default 1 s.
/// A tick frees a sample and the previous snapshot and allocates the next
/// ones; with the delay, both generations were resident at the tick's peak
/// (204 instead of 195 MiB at 40,000 partitions / 50,000 groups, `cargo
/// bench --bench analysis`).
pub fn tune_process_allocator() {
    // `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (the same in
    // mimalloc 2 and 3); libmimalloc-sys names the options before it only.
    #[cfg(not(target_env = "msvc"))]
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    #[cfg(not(target_env = "msvc"))]
    // SAFETY: sets one integer option; mimalloc reads it at each purge.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

#[cfg(target_env = "msvc")]
pub type ProcessAllocator = LargeAllocsReserved<std::alloc::System>;
#[cfg(target_env = "msvc")]
pub const PROCESS_ALLOCATOR: ProcessAllocator = LargeAllocsReserved(std::alloc::System);

fn mapped(layout: &Layout) -> bool {
    cfg!(unix) && layout.size() >= RESERVE_ONLY_FROM && layout.align() <= MAPPING_ALIGN
}

#[cfg(unix)]
unsafe fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping touches no existing memory.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if address == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        address.cast()
    }
}

#[cfg(unix)]
unsafe fn unmap(ptr: *mut u8, size: usize) {
    // SAFETY: `ptr` and `size` are those of a mapping made by `map`.
    unsafe {
        libc::munmap(ptr.cast(), size);
    }
}

#[cfg(not(unix))]
unsafe fn map(_size: usize) -> *mut u8 {
    std::ptr::null_mut()
}

#[cfg(not(unix))]
unsafe fn unmap(_ptr: *mut u8, _size: usize) {}

// SAFETY: every block is freed by the side that made it, told apart by the
// size and alignment of its layout, which `dealloc` and `realloc` receive
// unchanged from `alloc`.
unsafe impl<A: GlobalAlloc> GlobalAlloc for LargeAllocsReserved<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            unsafe { map(layout.size()) }
        } else {
            unsafe { self.0.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            // Fresh anonymous pages read as zero.
            unsafe { map(layout.size()) }
        } else {
            unsafe { self.0.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(&layout) {
            unsafe { unmap(ptr, layout.size()) }
        } else {
            unsafe { self.0.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with this alignment is a
        // valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !mapped(&layout) && !mapped(&new_layout) {
            return unsafe { self.0.realloc(ptr, layout, new_size) };
        }
        // Across the threshold (or within mappings): move.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::alloc::System;

    static WRAPPED: LargeAllocsReserved<System> = LargeAllocsReserved(System);

    #[test]
    fn a_huge_reservation_succeeds_and_small_ones_pass_through() {
        // 1 TiB: more than any machine here has, only reserved.
        let huge = Layout::from_size_align(1 << 40, 8).unwrap();
        let small = Layout::from_size_align(64, 8).unwrap();
        unsafe {
            let ptr = WRAPPED.alloc(huge);
            assert!(!ptr.is_null());
            // Writing a few pages backs only those.
            ptr.write(7);
            ptr.add(1 << 39).write(9);
            assert_eq!(ptr.read() + ptr.add(1 << 39).read(), 16);
            WRAPPED.dealloc(ptr, huge);

            let ptr = WRAPPED.alloc(small);
            assert!(!ptr.is_null());
            ptr.write_bytes(1, 64);
            // Grown across the threshold and back, contents kept.
            let grown = WRAPPED.realloc(ptr, small, RESERVE_ONLY_FROM + 1);
            assert!(!grown.is_null());
            assert_eq!(*grown.add(63), 1);
            let big = Layout::from_size_align(RESERVE_ONLY_FROM + 1, 8).unwrap();
            let shrunk = WRAPPED.realloc(grown, big, 32);
            assert_eq!(*shrunk.add(31), 1);
            WRAPPED.dealloc(shrunk, Layout::from_size_align(32, 8).unwrap());
        }
    }
}
