//! A counting global allocator: the instrument behind every "allocates nothing" claim in
//! zerotick (its tests, and the `zerotick` CLI's steady-state figure), for your code too.
//!
//! Install it in a binary or test, then wrap the code under test in [`counting`]:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;
//!
//! assert_eq!(zerotick_mem::counting::counting(|| { /* hot path */ }), 0);
//! ```
//!
//! Only *watched* threads are counted: the thread inside [`counting`], or threads that called
//! [`watch_this_thread`] (a pipeline's own threads). Other tests running in parallel in the same
//! binary, and the harness's threads, cannot disturb the figures. `alloc`, `alloc_zeroed` and
//! `realloc` count; `dealloc` does not.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A global allocator that forwards to [`System`] and counts watched threads' allocations.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
    static MINE: Cell<u64> = const { Cell::new(0) };
}

static WATCHED_TOTAL: AtomicU64 = AtomicU64::new(0);

#[inline]
fn note() {
    // `try_with`: allocations during thread-local teardown are not counted, never a panic.
    if WATCHED.try_with(Cell::get).unwrap_or(false) {
        let _ = MINE.try_with(|n| n.set(n.get() + 1));
        WATCHED_TOTAL.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the same arguments, so `System`'s guarantees
// are ours; counting touches no allocation.
unsafe impl GlobalAlloc for CountingAlloc {
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

/// Runs `f` with the calling thread watched; returns the allocations it made.
pub fn counting(f: impl FnOnce()) -> u64 {
    let was = WATCHED.with(|w| w.replace(true));
    let before = MINE.with(Cell::get);
    f();
    let after = MINE.with(Cell::get);
    WATCHED.with(|w| w.set(was));
    after - before
}

/// Counts the calling thread's allocations from now on (in [`watched_total`]).
pub fn watch_this_thread() {
    WATCHED.with(|w| w.set(true));
}

/// Allocations made so far by the calling thread while it was watched.
pub fn thread_total() -> u64 {
    MINE.with(Cell::get)
}

/// Allocations made so far by every watched thread together.
pub fn watched_total() -> u64 {
    WATCHED_TOTAL.load(Ordering::Relaxed)
}
