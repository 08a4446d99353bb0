//! A counting global allocator for the steady-state allocation figure.
//!
//! Only threads that opted in ([`watch_this_thread`]: the pipeline's feed and worker threads)
//! are counted, so the progress bar's drawing thread cannot inflate the figure. The counting
//! is one thread-local read and, for watched threads, one relaxed atomic add per allocation.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static WATCHED_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

#[inline]
fn note() {
    if WATCHED.try_with(Cell::get).unwrap_or(false) {
        WATCHED_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the same arguments, so `System`'s
// guarantees are ours; the counting touches no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we forward.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts the calling thread's allocations from now on.
pub fn watch_this_thread() {
    WATCHED.with(|w| w.set(true));
}

/// Allocations made so far by watched threads.
pub fn watched_allocations() -> u64 {
    WATCHED_ALLOCATIONS.load(Ordering::Relaxed)
}
