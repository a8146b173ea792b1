//! SQLite's memory through Rust's global allocator (mimalloc in the `skyport` binary) instead
//! of the C library's `malloc`. SQLite allocates for every page it reads into its cache and
//! every statement it prepares; in a profile of TAP cones on 10⁶ rows glibc's `malloc` and
//! `free` under SQLite took about 9% of the CPU, with the reader threads contending for its
//! arenas.
//!
//! The layout follows SQLite's own default (`mem1.c` without `malloc_usable_size`): each
//! allocation carries its size in an 8-byte header, which `xSize` reads and `xFree` and
//! `xRealloc` need to rebuild the [`Layout`]. SQLite asks for 8-byte alignment.

use std::alloc::Layout;
use std::ffi::{c_int, c_void};

use rusqlite::ffi;

/// Bytes before each allocation that hold its size.
const HEADER: usize = 8;
/// SQLite's required alignment.
const ALIGN: usize = 8;

/// The methods to hand to `sqlite3_config(SQLITE_CONFIG_MALLOC, …)`, which copies them.
pub(crate) fn methods() -> ffi::sqlite3_mem_methods {
    ffi::sqlite3_mem_methods {
        xMalloc: Some(x_malloc),
        xFree: Some(x_free),
        xRealloc: Some(x_realloc),
        xSize: Some(x_size),
        xRoundup: Some(x_roundup),
        xInit: Some(x_init),
        xShutdown: Some(x_shutdown),
        pAppData: std::ptr::null_mut(),
    }
}

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, ALIGN).ok()
}

/// The start of the block holding user pointer `p`, and the size it was asked for.
///
/// # Safety
/// `p` must come from [`x_malloc`] or [`x_realloc`] and not have been freed.
unsafe fn block_of(p: *mut c_void) -> (*mut u8, usize) {
    // SAFETY: `p` lies HEADER bytes into a block whose first 8 bytes hold its size (the
    // caller's contract), and the block is 8-byte aligned.
    unsafe {
        let base = p.cast::<u8>().sub(HEADER);
        (base, base.cast::<u64>().read() as usize)
    }
}

unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    let Some(layout) = usize::try_from(n).ok().and_then(layout) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout's size is at least HEADER, never zero.
    unsafe {
        let base = std::alloc::alloc(layout);
        if base.is_null() {
            return std::ptr::null_mut();
        }
        base.cast::<u64>().write(n as u64);
        base.add(HEADER).cast()
    }
}

unsafe extern "C" fn x_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what its xMalloc or xRealloc returned, once; the layout is
    // the one it was allocated with (the size came from the header and was valid then).
    unsafe {
        let (base, size) = block_of(p);
        std::alloc::dealloc(
            base,
            Layout::from_size_align_unchecked(size + HEADER, ALIGN),
        );
    }
}

unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    if p.is_null() {
        // SAFETY: as a fresh allocation.
        return unsafe { x_malloc(n) };
    }
    let Some(new) = usize::try_from(n).ok().and_then(layout) else {
        return std::ptr::null_mut();
    };
    // SAFETY: `p` is a live allocation of ours (SQLite's contract) with the layout rebuilt
    // from its header; the new size is non-zero and fits a Layout (checked above). On
    // failure the old block stays valid, as SQLite expects.
    unsafe {
        let (base, size) = block_of(p);
        let old = Layout::from_size_align_unchecked(size + HEADER, ALIGN);
        let moved = std::alloc::realloc(base, old, new.size());
        if moved.is_null() {
            return std::ptr::null_mut();
        }
        moved.cast::<u64>().write(n as u64);
        moved.add(HEADER).cast()
    }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    if p.is_null() {
        return 0;
    }
    // SAFETY: SQLite asks the size of live allocations only.
    let (_, size) = unsafe { block_of(p) };
    c_int::try_from(size).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn x_roundup(n: c_int) -> c_int {
    n.saturating_add(7) & !7
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_survive_allocation_and_reallocation() {
        // SAFETY: each pointer comes from these functions and is freed once.
        unsafe {
            let p = x_malloc(13);
            assert!(!p.is_null());
            assert_eq!(p as usize % ALIGN, 0);
            assert_eq!(x_size(p), 13);
            std::ptr::write_bytes(p.cast::<u8>(), 7, 13);
            let q = x_realloc(p, 4000);
            assert_eq!(x_size(q), 4000);
            assert!(std::slice::from_raw_parts(q.cast::<u8>(), 13)
                .iter()
                .all(|b| *b == 7));
            x_free(q);
            assert!(x_malloc(-1).is_null());
            assert_eq!(x_roundup(13), 16);
            x_free(std::ptr::null_mut());
        }
    }
}
