//! Blocking on a ring: [`WaitStrategy`] (spin, then yield, then park with a bounded sleep) and
//! the waiter registry the rings use to unpark parked threads.
//!
//! # Cost on the fast path
//! A non-blocking `push` or `pop` pays one `Relaxed` load of a word that is written only when
//! a thread starts or stops parking (it stays shared in every core's cache): "is anyone parked
//! on the other side?". Only if so does it take the cold path that unparks them.
//!
//! # Missed wake-ups are bounded, not impossible
//! Making a wake-up impossible to miss needs a full fence (`mfence` on x86) between the
//! publishing store and that load, on every push and pop. The rings do not pay it. Instead a
//! parked thread sleeps with [`std::thread::park_timeout`], so a wake-up lost to that race
//! costs at most [`WaitStrategy::SpinYieldPark::park_timeout`] of extra latency, and `close`
//! wakes every parked thread the same way.
//!
//! ```
//! use std::time::Duration;
//! use zerotick_sync::{spsc, wait::WaitStrategy};
//!
//! let (mut tx, mut rx) = spsc::channel::<u64>(16)?;
//! let wait = WaitStrategy::SpinYieldPark { spins: 64, yields: 8, park_timeout: Duration::from_micros(200) };
//! let consumer = std::thread::spawn(move || {
//!     let mut sum = 0;
//!     while let Ok(v) = rx.pop_wait(wait) {
//!         sum += v;
//!     }
//!     sum // `pop_wait` ended: the ring is closed and drained
//! });
//! for i in 1..=100 {
//!     tx.push_wait(i, wait).unwrap();
//! }
//! tx.close();
//! assert_eq!(consumer.join().unwrap(), 5050);
//! # Ok::<(), zerotick_sync::spsc::CapacityError>(())
//! ```

use core::time::Duration;

use crate::sync::{AtomicUsize, Ordering, UnsafeCell, yield_now};

/// How a blocking call (`push_wait`, `pop_wait`) waits while the ring is full or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Spin (with [`core::hint::spin_loop`]) until the call can complete. Lowest latency;
    /// burns a core, so only for a thread pinned to a core of its own.
    Spin,
    /// Spin `spins` times, then [`std::thread::yield_now`] between attempts.
    SpinYield {
        /// Attempts separated by a spin-loop hint before yielding.
        spins: u32,
    },
    /// Spin `spins` times, yield `yields` times, then park. A parked thread is unparked by the
    /// other side (or by `close`), and in any case wakes after `park_timeout`: that is the
    /// bound on the extra latency of a missed wake-up (see the [module docs](self)).
    SpinYieldPark {
        /// Attempts separated by a spin-loop hint.
        spins: u32,
        /// Attempts separated by a yield, after the spins.
        yields: u32,
        /// Longest single park; the worst-case extra wake-up latency.
        park_timeout: Duration,
    },
}

impl Default for WaitStrategy {
    /// `SpinYieldPark { spins: 128, yields: 16, park_timeout: 1 ms }`.
    fn default() -> Self {
        Self::SpinYieldPark {
            spins: 128,
            yields: 16,
            park_timeout: Duration::from_millis(1),
        }
    }
}

/// The state of one backoff: how many attempts have failed so far.
#[derive(Debug)]
pub(crate) struct Backoff {
    strategy: WaitStrategy,
    step: u32,
}

impl Backoff {
    pub(crate) fn new(strategy: WaitStrategy) -> Self {
        Self { strategy, step: 0 }
    }

    /// Waits once after a failed attempt: spins, yields or parks according to the strategy
    /// and how many attempts failed. Parking registers in `waiters` and re-checks `ready`
    /// after registering, so a wake-up sent before the registration is not waited out.
    #[cold]
    pub(crate) fn wait<const N: usize>(&mut self, waiters: &Waiters<N>, ready: impl Fn() -> bool) {
        self.step = self.step.saturating_add(1);
        match self.strategy {
            WaitStrategy::Spin => relax(),
            WaitStrategy::SpinYield { spins } => {
                if self.step <= spins {
                    relax();
                } else {
                    yield_now();
                }
            }
            WaitStrategy::SpinYieldPark {
                spins,
                yields,
                park_timeout,
            } => {
                if self.step <= spins {
                    relax();
                } else if self.step <= spins.saturating_add(yields) {
                    yield_now();
                } else {
                    waiters.park(park_timeout, ready);
                }
            }
        }
    }
}

/// One spin-loop step; under loom a yield, so the model checker can schedule the other side.
#[inline(always)]
fn relax() {
    #[cfg(loom)]
    yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

const FREE: usize = 0;
/// Being written or read by one thread (waiter registering/deregistering, or a waker).
const BUSY: usize = 1;
const PARKED: usize = 2;
/// A waker has unparked this slot's thread; later wakers skip it.
const NOTIFIED: usize = 3;

/// A fixed registry of up to `N` parked threads on one side of a ring. Allocation-free: a
/// thread that finds every slot taken parks unregistered and relies on its timeout.
pub(crate) struct Waiters<const N: usize> {
    /// Number of registered threads. The fast path's only waiting cost is a `Relaxed` load
    /// of this word. Invariant: equals the number of slots not `FREE`, except while a waiter
    /// is between claiming or freeing its slot and adjusting the count.
    count: AtomicUsize,
    slots: [WaitSlot; N],
}

struct WaitSlot {
    /// `FREE`, `BUSY`, `PARKED` or `NOTIFIED`. Whoever moves it to `BUSY` (by
    /// compare-exchange) has exclusive access to `thread` until it stores another state.
    state: AtomicUsize,
    /// The parked thread's handle: `Some` while `PARKED` or `NOTIFIED`.
    thread: UnsafeCell<Option<std::thread::Thread>>,
}

// SAFETY: `thread` is only accessed by the one thread that moved its slot's `state` to `BUSY`
// (field invariant), and `Thread` is `Send + Sync`; everything else is atomics.
unsafe impl<const N: usize> Sync for Waiters<N> {}
// SAFETY: as above; a `Thread` handle may move between threads.
unsafe impl<const N: usize> Send for Waiters<N> {}

impl<const N: usize> Waiters<N> {
    pub(crate) fn new() -> Self {
        Self {
            count: AtomicUsize::new(0),
            slots: core::array::from_fn(|_| WaitSlot {
                state: AtomicUsize::new(FREE),
                thread: UnsafeCell::new(None),
            }),
        }
    }

    /// Wakes one parked thread, if any is registered. The fast-path check is one `Relaxed`
    /// load; see the module docs for why a wake-up may be missed and what bounds it.
    /// Whether a thread may be parked (a Relaxed hint, as in [`wake_one`](Self::wake_one)).
    #[inline(always)]
    pub(crate) fn is_waiting(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    #[inline(always)]
    pub(crate) fn wake_one(&self) {
        if self.count.load(Ordering::Relaxed) != 0 {
            self.wake(false);
        }
    }

    /// Wakes every registered thread (for `close` and handle drops).
    pub(crate) fn wake_all(&self) {
        // SeqCst: pairs with the SeqCst `fetch_add` in `park`; with the SeqCst RMW that
        // closed the ring (the caller's), either we see the waiter's registration or the
        // waiter's re-check after registering sees the close.
        if self.count.load(Ordering::SeqCst) != 0 {
            self.wake(true);
        }
    }

    #[cold]
    #[inline(never)]
    fn wake(&self, all: bool) {
        for slot in &self.slots {
            // Acquire: pairs with the Release store of `PARKED` in `park`, so the thread
            // handle written before it is visible.
            if slot
                .state
                .compare_exchange(PARKED, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                slot.thread.with(|t| {
                    // SAFETY: we moved the slot to `BUSY`, so no one else accesses `thread`
                    // (field invariant); it is `Some` while the slot was `PARKED`.
                    if let Some(t) = unsafe { &*t } {
                        wake_thread(t);
                    }
                });
                // Release: pairs with the Acquire compare-exchange in `park`'s deregistration,
                // which then owns `thread` again.
                slot.state.store(NOTIFIED, Ordering::Release);
                if !all {
                    return;
                }
            }
        }
    }

    /// Registers the calling thread, re-checks `ready`, parks for at most `timeout` unless
    /// ready, then deregisters.
    fn park(&self, timeout: Duration, ready: impl Fn() -> bool) {
        let mine = self.slots.iter().find(|s| {
            // Acquire: pairs with the Release store of `FREE` by the slot's last user.
            s.state
                .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        let Some(slot) = mine else {
            // Every slot taken: park unregistered, woken by the timeout alone.
            if !ready() {
                park_thread(timeout);
            }
            return;
        };
        slot.thread.with_mut(|t| {
            // SAFETY: the slot is `BUSY` and ours (field invariant).
            unsafe { *t = Some(std::thread::current()) };
        });
        // Release: pairs with the Acquire compare-exchange in `wake`.
        slot.state.store(PARKED, Ordering::Release);
        // SeqCst: orders our registration before the re-check below, against the wakers'
        // SeqCst load in `wake_all` (a close is never missed) and, as far as the fast path's
        // Relaxed load allows, against `wake_one`.
        self.count.fetch_add(1, Ordering::SeqCst);
        if ready() {
            // Ready already, but the caller's next attempt may still lose a race: pause, so a
            // string of such rounds is not a hot loop (nor, under loom, an unbounded path).
            relax();
        } else {
            park_thread(timeout);
        }
        // Deregister: take the slot back from `PARKED` or `NOTIFIED`, waiting out a waker that
        // holds it `BUSY` for the few instructions of an unpark.
        loop {
            let s = slot.state.load(Ordering::Relaxed);
            // Acquire: pairs with the waker's Release store of `NOTIFIED`, ending its access.
            if s != BUSY
                && slot
                    .state
                    .compare_exchange(s, BUSY, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                break;
            }
            yield_now();
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
        slot.thread.with_mut(|t| {
            // SAFETY: the slot is `BUSY` and ours again.
            unsafe { *t = None };
        });
        // Release: pairs with the Acquire compare-exchange of the slot's next registrant.
        slot.state.store(FREE, Ordering::Release);
    }
}

#[cfg(not(loom))]
fn park_thread(timeout: Duration) {
    std::thread::park_timeout(timeout);
}

/// Under loom, parking is a yield: loom cannot model timeouts, and a yield is what a timed
/// park amounts to for correctness.
#[cfg(loom)]
fn park_thread(_timeout: Duration) {
    yield_now();
}

#[cfg(not(loom))]
fn wake_thread(t: &std::thread::Thread) {
    t.unpark();
}

#[cfg(loom)]
fn wake_thread(_t: &std::thread::Thread) {}

impl<const N: usize> core::fmt::Debug for Waiters<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Waiters")
            .field("count", &self.count.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn wake_unparks_a_registered_thread_long_before_its_timeout() {
        let w = Arc::new(Waiters::<2>::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (w2, f2) = (w.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !f2.load(Ordering::Acquire) {
                w2.park(Duration::from_secs(10), || f2.load(Ordering::Acquire));
            }
            start.elapsed()
        });
        while w.count.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        flag.store(true, Ordering::Release);
        w.wake_all();
        assert!(t.join().unwrap() < Duration::from_secs(5));
        assert_eq!(w.count.load(Ordering::SeqCst), 0);
    }
}
