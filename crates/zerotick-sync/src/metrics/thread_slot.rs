//! Process-wide thread slots: the index of the per-thread cell a thread records into.
//!
//! A thread claims the lowest free slot the first time it records into any counter, from a
//! global bitmap, and keeps it in a thread-local. The claim is released when the thread exits
//! (a thread-local destructor clears the bit), so a later thread reuses the slot and the values
//! the old thread left in its cells, which are kept: a counter never goes down.
//!
//! Slot states kept in the thread-local:
//! - `0..MAX_SLOTS`: a claimed slot, the thread's alone;
//! - [`UNCLAIMED`]: the thread has not recorded yet;
//! - [`SHARED`]: no slot: the bitmap was full, or the thread is exiting. Such a thread
//!   records into the shared overflow cells with an atomic add.
//!
//! Both sentinels are above every registry's thread count, so the hot path needs one
//! comparison to tell "my private cell" from "anything else".

use std::cell::Cell;

use crate::sync::{AtomicU64, Ordering};

/// Most slots the process hands out at once; threads past it share the overflow cells.
pub(crate) const MAX_SLOTS: usize = if cfg!(loom) { 64 } else { 1024 };
const WORDS: usize = MAX_SLOTS / 64;

/// The thread has not claimed a slot yet.
pub(crate) const UNCLAIMED: usize = usize::MAX;
/// The thread has no slot of its own and records into the overflow cells.
pub(crate) const SHARED: usize = usize::MAX - 1;

// Both sentinels are distinct and above every slot (and so every registry's thread count).
const _: () = assert!(SHARED >= MAX_SLOTS && SHARED < UNCLAIMED);

/// Bit `i` set: slot `i` is claimed by a live thread.
///
/// Partner orderings: a slot is released with a Release `fetch_and` and claimed with an
/// Acquire compare-exchange, so the previous owner's last stores into the slot's cells
/// happen-before the new owner's first load of them.
#[cfg(not(loom))]
static BITMAP: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

#[cfg(loom)]
loom::lazy_static! {
    static ref BITMAP: [AtomicU64; WORDS] = std::array::from_fn(|_| AtomicU64::new(0));
}

/// Releases the thread's slot when the thread exits.
struct Release(Cell<usize>);

impl Drop for Release {
    fn drop(&mut self) {
        let slot = self.0.get();
        if slot >= MAX_SLOTS {
            return;
        }
        // From here on this thread must not touch the slot's cells: anything it records
        // during the rest of its teardown goes to the overflow cells.
        let _ = SLOT.try_with(|s| s.set(SHARED));
        // Release: pairs with the Acquire compare-exchange in `take_free_slot` of the next
        // owner, publishing our last (Relaxed) stores into the slot's cells.
        BITMAP[slot / 64].fetch_and(!(1u64 << (slot % 64)), Ordering::Release);
    }
}

#[cfg(not(loom))]
std::thread_local! {
    /// This thread's slot, or a sentinel. Const-initialised without a destructor, so reading
    /// it is one thread-pointer-relative load.
    static SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Holds the claim; registered for destruction only when a slot is claimed.
    static CLAIM: Release = const { Release(Cell::new(UNCLAIMED)) };
}

#[cfg(loom)]
loom::thread_local! {
    static SLOT: Cell<usize> = Cell::new(UNCLAIMED);
    static CLAIM: Release = Release(Cell::new(UNCLAIMED));
}

/// The calling thread's slot, or [`UNCLAIMED`] / [`SHARED`].
#[inline(always)]
pub(crate) fn current() -> usize {
    SLOT.with(Cell::get)
}

/// Claims a slot for the calling thread if it has none yet; returns its slot or [`SHARED`].
#[cold]
#[inline(never)]
pub(crate) fn claim() -> usize {
    let now = current();
    if now != UNCLAIMED {
        return now;
    }
    // `try_with` fails while the thread's locals are being destroyed: record shared then.
    let slot = CLAIM
        .try_with(|c| {
            let slot = take_free_slot();
            c.0.set(slot);
            slot
        })
        .unwrap_or(SHARED);
    SLOT.with(|s| s.set(slot));
    slot
}

/// Sets the lowest clear bit of the bitmap; [`SHARED`] if every bit is set.
fn take_free_slot() -> usize {
    for (w, word) in BITMAP.iter().enumerate() {
        let mut cur = word.load(Ordering::Relaxed);
        while cur != u64::MAX {
            let bit = (!cur).trailing_zeros();
            // Acquire: pairs with the Release `fetch_and` in `Release::drop` of the slot's
            // previous owner (see `BITMAP`).
            match word.compare_exchange_weak(
                cur,
                cur | (1u64 << bit),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return w * 64 + bit as usize,
                Err(seen) => cur = seen,
            }
        }
    }
    SHARED
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_claims_once_and_releases_on_exit() {
        let (a, a_again) = std::thread::spawn(|| (claim(), claim())).join().unwrap();
        assert!(a < MAX_SLOTS);
        assert_eq!(a, a_again);
        // The slot was released at exit: the bit is clear again (other tests may hold it
        // by now, so only check that claiming still works).
        let b = std::thread::spawn(|| {
            let s = claim();
            assert_eq!(current(), s);
            s
        })
        .join()
        .unwrap();
        assert!(b < MAX_SLOTS);
    }
}
