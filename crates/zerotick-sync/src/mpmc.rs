//! A bounded, lock-free multi-producer multi-consumer ring (Vyukov's array queue with per-slot
//! sequence numbers).
//!
//! * [`Ring::new`] allocates once; nothing allocates afterwards.
//! * Every method takes `&self`; the ring is `Send + Sync` (for `T: Send`): share it by
//!   reference (scoped threads) or in an `Arc`.
//! * [`push`](Ring::push) / [`pop`](Ring::pop): one compare-exchange each when uncontended;
//!   lock-free (a thread can only retry because another one made progress).
//! * Batches: [`push_slice`](Ring::push_slice) and [`pop_into`](Ring::pop_into) claim a run
//!   of slots with a single compare-exchange.
//! * Blocking: [`push_wait`](Ring::push_wait) / [`pop_wait`](Ring::pop_wait) with a
//!   [`WaitStrategy`], and [`close`](Ring::close): pushes then fail with `Closed`, pops drain
//!   what was pushed before the close and then return [`PopError::Closed`].
//!
//! # Capacity
//! Rounded up to a power of two (positions map to slots with a mask): `Ring::new(5)` holds 8
//! items. [`capacity`](Ring::capacity) reports the real figure.
//!
//! # Structure
//! `head` and `tail` count positions in steps of 2; bit 0 of `head` is the closed mark, so a
//! push's compare-exchange fails once the ring is closed and no push can slip in after a close.
//! Slot `p` (position `p`, at index `(p / 2) & mask`) carries a sequence number: `p` when it is
//! free for the push at `p`, `p + 1` once that push wrote it, `p + 2 * len` once the pop at `p`
//! emptied it (free for the next lap).
//!
//! ```
//! use std::sync::Arc;
//! use zerotick_sync::mpmc::Ring;
//! use zerotick_sync::spsc::{PopError, PushError};
//!
//! let ring = Arc::new(Ring::<u64>::new(4)?);
//! let producers: Vec<_> = (0..2)
//!     .map(|p| {
//!         let ring = Arc::clone(&ring);
//!         std::thread::spawn(move || {
//!             for i in 0..100 {
//!                 ring.push_wait(p * 1000 + i, Default::default()).unwrap();
//!             }
//!         })
//!     })
//!     .collect();
//! let consumer = {
//!     let ring = Arc::clone(&ring);
//!     std::thread::spawn(move || {
//!         let mut n = 0;
//!         while ring.pop_wait(Default::default()).is_ok() {
//!             n += 1;
//!         }
//!         n
//!     })
//! };
//! producers.into_iter().for_each(|p| p.join().unwrap());
//! ring.close();
//! assert_eq!(consumer.join().unwrap(), 200);
//! assert_eq!(ring.push(1), Err(PushError::Closed(1)));
//! assert_eq!(ring.pop(), Err(PopError::Closed));
//! # Ok::<(), zerotick_sync::spsc::CapacityError>(())
//! ```

use core::fmt;
use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::spsc::storage_len;
pub use crate::spsc::{CapacityError, ClosedError, PopError, PushError};
use crate::sync::{AtomicUsize, Ordering, UnsafeCell};
use crate::wait::{Backoff, WaitStrategy, Waiters};

/// One position step; bit 0 of `head` is [`CLOSED`].
const ONE: usize = 2;
const CLOSED: usize = 1;
/// Threads per side that can park registered (more park unregistered, on their timeout).
const WAIT_SLOTS: usize = 8;

struct Slot<T> {
    /// `p` free for the push at position `p`; `p + 1` filled by it; `p + 2 * len` emptied by
    /// the pop at `p`. Stored (Release) only by the thread that claimed `p`.
    seq: AtomicUsize,
    /// Initialised iff `seq` is odd (filled), and then accessed only by the claimer of `p`.
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded lock-free MPMC ring. See the [module docs](self).
pub struct Ring<T> {
    /// Next push position (a multiple of [`ONE`]) `|` [`CLOSED`]. Advanced by
    /// compare-exchange only. Invariant: `tail <= head & !CLOSED <= tail + len * ONE`.
    head: CachePadded<AtomicUsize>,
    /// Next pop position. Advanced by compare-exchange only.
    tail: CachePadded<AtomicUsize>,
    /// Parked threads, read (Relaxed) on every push and pop, written only when parking.
    waiters: CachePadded<Control>,
    /// `len` slots, `len` a power of two.
    slots: Box<[Slot<T>]>,
    /// `len - 1`.
    mask: usize,
}

struct Control {
    consumers: Waiters<WAIT_SLOTS>,
    producers: Waiters<WAIT_SLOTS>,
}

// SAFETY: a slot's value is accessed only by the one thread that claimed its position (by
// compare-exchange on `head` or `tail`), and handed between threads through the Release /
// Acquire pair on `seq`; so sharing the ring only moves `T` across threads (`T: Send`).
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: the ring owns its items; moving it moves them.
unsafe impl<T: Send> Send for Ring<T> {}

impl<T> Ring<T> {
    /// A ring holding `capacity` items, rounded up to a power of two.
    ///
    /// # Errors
    /// [`CapacityError::Zero`] for 0; [`CapacityError::TooLarge`] above what can be indexed or
    /// allocated for `T`; [`CapacityError::AllocFailed`] if the allocator refuses.
    pub fn new(capacity: usize) -> Result<Self, CapacityError> {
        let len = storage_len::<T>(capacity)?;
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(len)
            .map_err(|_| CapacityError::AllocFailed {
                bytes: len.saturating_mul(size_of::<Slot<T>>()),
            })?;
        slots.extend((0..len).map(|i| Slot {
            seq: AtomicUsize::new(i * ONE),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }));
        Ok(Self {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            waiters: CachePadded::new(Control {
                consumers: Waiters::new(),
                producers: Waiters::new(),
            }),
            slots: slots.into_boxed_slice(),
            mask: len - 1,
        })
    }

    /// Items the ring holds when full (the requested capacity rounded up to a power of two).
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    #[inline(always)]
    fn slot(&self, pos: usize) -> &Slot<T> {
        let i = (pos / ONE) & self.mask;
        debug_assert!(i < self.slots.len());
        // SAFETY: `i <= mask = slots.len() - 1`.
        unsafe { self.slots.get_unchecked(i) }
    }

    /// One lap of positions: what `seq` advances by when a slot is emptied.
    #[inline(always)]
    fn lap(&self) -> usize {
        (self.mask + 1) * ONE
    }

    /// Pushes `value`, or hands it back if the ring is full or closed. Lock-free.
    ///
    /// # Errors
    /// [`PushError::Full`] if every slot is taken; [`PushError::Closed`] after
    /// [`close`](Self::close).
    #[inline]
    pub fn push(&self, value: T) -> Result<(), PushError<T>> {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if head & CLOSED != 0 {
                return Err(PushError::Closed(value));
            }
            let slot = self.slot(head);
            // Acquire: pairs with the Release store of `seq` by the pop that emptied the slot,
            // so its read of the old item happens before our write.
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq.wrapping_sub(head) as isize;
            if diff == 0 {
                // Relaxed: the claim needs no ordering of its own; the slot's contents are
                // ordered by `seq`.
                match self.head.compare_exchange_weak(
                    head,
                    head.wrapping_add(ONE),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.value.with_mut(|p| {
                            // SAFETY: our compare-exchange claimed position `head`, whose slot
                            // is free (`seq == head`): we are its only accessor.
                            unsafe { p.write(MaybeUninit::new(value)) };
                        });
                        // Release: publishes the item; pairs with the Acquire load of `seq`
                        // in `pop`.
                        slot.seq.store(head.wrapping_add(1), Ordering::Release);
                        self.waiters.consumers.wake_one();
                        return Ok(());
                    }
                    Err(actual) => head = actual,
                }
            } else if diff < 0 {
                // The slot still holds the item from the previous lap: full.
                return Err(PushError::Full(value));
            } else {
                // Another push took `head`; catch up.
                retry_hint();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Pops the oldest item available. Lock-free.
    ///
    /// # Errors
    /// [`PopError::Empty`] if there is nothing to take; [`PopError::Closed`] once the ring is
    /// closed and every item pushed before the close has been taken.
    #[inline]
    pub fn pop(&self) -> Result<T, PopError> {
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(tail);
            // Acquire: pairs with the Release store of `seq` in `push`: the item is visible.
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq.wrapping_sub(tail.wrapping_add(1)) as isize;
            if diff == 0 {
                // Relaxed: as in `push`.
                match self.tail.compare_exchange_weak(
                    tail,
                    tail.wrapping_add(ONE),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let value = slot.value.with(|p| {
                            // SAFETY: our compare-exchange claimed position `tail`, whose slot
                            // is filled (`seq == tail + 1`): we are its only accessor, and we
                            // move the item out once (the slot is marked empty below).
                            unsafe { (*p).assume_init_read() }
                        });
                        // Release: ends our read before the next lap's push writes; pairs with
                        // the Acquire load of `seq` in `push`.
                        slot.seq
                            .store(tail.wrapping_add(self.lap()), Ordering::Release);
                        self.waiters.producers.wake_one();
                        return Ok(value);
                    }
                    Err(actual) => tail = actual,
                }
            } else if diff < 0 {
                return Err(self.empty_or_closed(tail));
            } else {
                // Another pop took `tail`; catch up.
                retry_hint();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Whether an empty-looking ring at pop position `tail` is closed and drained.
    #[cold]
    #[inline(never)]
    fn empty_or_closed(&self, tail: usize) -> PopError {
        // Acquire: pairs with the SeqCst `fetch_or` in `close`. Once closed, `head` is frozen:
        // if it equals `tail`, every push made before the close has been claimed by a pop.
        let head = self.head.load(Ordering::Acquire);
        if head & CLOSED != 0 && head & !CLOSED == tail {
            PopError::Closed
        } else {
            PopError::Empty
        }
    }

    /// Pushes as many of `items` as there are free slots, in order, claiming them with one
    /// compare-exchange; returns how many. Other producers' items never interleave with one
    /// batch.
    ///
    /// # Errors
    /// [`ClosedError`] if the ring is closed (nothing is pushed).
    pub fn push_slice(&self, items: &[T]) -> Result<usize, ClosedError>
    where
        T: Copy,
    {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if head & CLOSED != 0 {
                return Err(ClosedError);
            }
            let want = items.len().min(self.capacity());
            let mut n = 0;
            let mut first_diff = 0;
            while n < want {
                let p = head.wrapping_add(n * ONE);
                // Acquire: as in `push`, for every slot of the run.
                let seq = self.slot(p).seq.load(Ordering::Acquire);
                if seq != p {
                    if n == 0 {
                        first_diff = seq.wrapping_sub(p) as isize;
                    }
                    break;
                }
                n += 1;
            }
            if n == 0 {
                if first_diff < 0 || want == 0 {
                    return Ok(0); // full
                }
                retry_hint();
                head = self.head.load(Ordering::Relaxed);
                continue;
            }
            // Relaxed: as in `push`. A success claims positions `head .. head + n`, all seen
            // free above; no one else can change their `seq` without claiming them first.
            match self.head.compare_exchange_weak(
                head,
                head.wrapping_add(n * ONE),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    for (k, item) in items[..n].iter().enumerate() {
                        let p = head.wrapping_add(k * ONE);
                        let slot = self.slot(p);
                        slot.value.with_mut(|ptr| {
                            // SAFETY: position `p` is ours (claimed above) and its slot free.
                            unsafe { ptr.write(MaybeUninit::new(*item)) };
                        });
                        // Release: publishes the item, as in `push`.
                        slot.seq.store(p.wrapping_add(1), Ordering::Release);
                    }
                    self.waiters.consumers.wake_one();
                    return Ok(n);
                }
                Err(actual) => head = actual,
            }
        }
    }

    /// Moves up to `dst.len()` available items into `dst` (oldest first, overwriting and
    /// dropping what was there), claiming them with one compare-exchange; returns how many.
    ///
    /// # Errors
    /// [`ClosedError`] if the ring is closed and drained (and `dst` is not empty).
    pub fn pop_into(&self, dst: &mut [T]) -> Result<usize, ClosedError> {
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let want = dst.len().min(self.capacity());
            let mut n = 0;
            let mut first_diff = 0;
            while n < want {
                let p = tail.wrapping_add(n * ONE);
                // Acquire: as in `pop`, for every slot of the run.
                let seq = self.slot(p).seq.load(Ordering::Acquire);
                if seq != p.wrapping_add(1) {
                    if n == 0 {
                        first_diff = seq.wrapping_sub(p.wrapping_add(1)) as isize;
                    }
                    break;
                }
                n += 1;
            }
            if n == 0 {
                if want == 0 {
                    return Ok(0);
                }
                if first_diff < 0 {
                    return match self.empty_or_closed(tail) {
                        PopError::Closed => Err(ClosedError),
                        PopError::Empty => Ok(0),
                    };
                }
                retry_hint();
                tail = self.tail.load(Ordering::Relaxed);
                continue;
            }
            // Relaxed: as in `pop`; a success claims the `n` filled positions seen above.
            match self.tail.compare_exchange_weak(
                tail,
                tail.wrapping_add(n * ONE),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if core::mem::needs_drop::<T>() {
                        // Wakes a parked producer when done (or unwinding).
                        self.swap_into(tail, &mut dst[..n]);
                        return Ok(n);
                    } else {
                        for (k, out) in dst[..n].iter_mut().enumerate() {
                            let p = tail.wrapping_add(k * ONE);
                            let slot = self.slot(p);
                            // No drop glue: overwriting `out` runs no user code.
                            *out = slot.value.with(|ptr| {
                                // SAFETY: position `p` is ours (claimed above) and its slot
                                // filled; the item is moved out once.
                                unsafe { (*ptr).assume_init_read() }
                            });
                            // Release: as in `pop`.
                            slot.seq
                                .store(p.wrapping_add(self.lap()), Ordering::Release);
                        }
                    }
                    self.waiters.producers.wake_one();
                    return Ok(n);
                }
                Err(actual) => tail = actual,
            }
        }
    }

    /// `pop_into`'s move for types with drop glue, where dropping `dst`'s old values runs user
    /// code that may panic. The claimed positions `tail ..` are emptied with no user code
    /// running: each item trades places with the value in `dst`, which is parked in its slot;
    /// then the parked values are dropped one by one, each slot given back before its value's
    /// `Drop` runs. A panic there still gives back (and drops) the rest, so no slot is left
    /// claimed and the ring is not wedged.
    fn swap_into(&self, tail: usize, dst: &mut [T]) {
        for (k, out) in dst.iter_mut().enumerate() {
            let slot = self.slot(tail.wrapping_add(k * ONE));
            slot.value.with_mut(|ptr| {
                // SAFETY: the position is ours (claimed by the caller's compare-exchange) and
                // its slot filled; `out` is a valid `T` distinct from the ring's storage. After
                // the swap the slot holds `out`'s old value, still initialised.
                unsafe { core::ptr::swap(out, (*ptr).as_mut_ptr()) };
            });
        }
        let mut parked = Parked {
            ring: self,
            pos: tail,
            end: tail.wrapping_add(dst.len() * ONE),
        };
        parked.release_all();
    }

    /// Pushes `value`, waiting per `strategy` while the ring is full.
    ///
    /// # Errors
    /// [`PushError::Closed`] if the ring is or becomes closed (never `Full`).
    pub fn push_wait(&self, value: T, strategy: WaitStrategy) -> Result<(), PushError<T>> {
        let mut value = match self.push(value) {
            Err(PushError::Full(v)) => v,
            done => return done,
        };
        let mut backoff = Backoff::new(strategy);
        loop {
            backoff.wait(&self.waiters.producers, || {
                // Acquire: pairs with the Release store of `seq` by a pop / the SeqCst close.
                let head = self.head.load(Ordering::Acquire);
                head & CLOSED != 0 || self.slot(head).seq.load(Ordering::Acquire) == head
            });
            value = match self.push(value) {
                Err(PushError::Full(v)) => v,
                done => return done,
            };
        }
    }

    /// Pops an item, waiting per `strategy` while the ring is empty.
    ///
    /// # Errors
    /// [`PopError::Closed`] once the ring is closed and drained (never `Empty`).
    pub fn pop_wait(&self, strategy: WaitStrategy) -> Result<T, PopError> {
        match self.pop() {
            Err(PopError::Empty) => {}
            done => return done,
        }
        let mut backoff = Backoff::new(strategy);
        loop {
            backoff.wait(&self.waiters.consumers, || {
                // Ready when `pop` would not say `Empty`: the slot at `tail` is filled, or the
                // ring is closed and drained (not merely closed: a push claimed before the
                // close may still be writing its item). Acquire: pairs with the Release store
                // of `seq` in `push` / the SeqCst close.
                let tail = self.tail.load(Ordering::Relaxed);
                self.slot(tail).seq.load(Ordering::Acquire) == tail.wrapping_add(1) || {
                    let head = self.head.load(Ordering::Acquire);
                    head & CLOSED != 0 && head & !CLOSED == tail
                }
            });
            match self.pop() {
                Err(PopError::Empty) => {}
                done => return done,
            }
        }
    }

    /// Closes the ring: later pushes fail with `Closed` (a push racing with the close either
    /// completes before it or fails); pops drain what was pushed, then return
    /// [`PopError::Closed`]. Wakes every parked thread. Idempotent.
    pub fn close(&self) {
        // SeqCst: a Release RMW on `head` (pairs with the Acquire loads in `empty_or_closed`
        // and the wait re-checks) in the single order with the SeqCst load in `wake_all`, so a
        // thread parking concurrently either sees the close or is woken.
        self.head.fetch_or(CLOSED, Ordering::SeqCst);
        self.waiters.consumers.wake_all();
        self.waiters.producers.wake_all();
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.head.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Items in the ring, approximately under concurrent use (claimed pushes count, claimed
    /// pops do not); exact when no call is in flight.
    pub fn len(&self) -> usize {
        // `tail` first: `head` read later is at least the `tail` read earlier.
        let tail = self.tail.load(Ordering::Acquire);
        let head = self.head.load(Ordering::Acquire) & !CLOSED;
        let d = head.wrapping_sub(tail) as isize;
        (d.max(0) as usize / ONE).min(self.capacity())
    }

    /// Whether the ring holds no item at some instant of the call.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Positions `pos .. end`, claimed by one `pop_into`, whose slots hold the values displaced
/// from its `dst`. Dropping it drops them and gives the slots back, so a panicking `Drop`
/// cannot leave a slot claimed (the ring wedged) or a value undropped.
struct Parked<'a, T> {
    ring: &'a Ring<T>,
    /// Next slot to empty. Invariant: positions `pos .. end` are claimed by this call and
    /// their slots hold initialised (parked) values.
    pos: usize,
    end: usize,
}

impl<T> Parked<'_, T> {
    fn release_all(&mut self) {
        while self.pos != self.end {
            let p = self.pos;
            self.pos = p.wrapping_add(ONE);
            let slot = self.ring.slot(p);
            let old = slot.value.with(|ptr| {
                // SAFETY: position `p` was in `pos .. end` (field invariant): claimed by us and
                // holding a parked value, read once (`pos` has moved past it).
                unsafe { (*ptr).assume_init_read() }
            });
            // Release: as in `pop`: ends our access to the slot before the next lap's push.
            slot.seq
                .store(p.wrapping_add(self.ring.lap()), Ordering::Release);
            // User code, after the slot is given back.
            drop(old);
        }
    }
}

impl<T> Drop for Parked<'_, T> {
    fn drop(&mut self) {
        // Normally a no-op; while unwinding from a panicking `Drop`, empties the rest.
        self.release_all();
        self.ring.waiters.producers.wake_one();
    }
}

/// Before re-reading a position another thread moved. Real hardware makes the new value
/// visible soon without help; loom may keep serving the stale one until the thread yields.
#[inline(always)]
fn retry_hint() {
    #[cfg(loom)]
    crate::sync::yield_now();
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self` means every push and pop has returned, and whatever handed us
        // the ring (a join, an `Arc` drop) ordered their effects before this.
        let mut items = Remaining {
            ring: self,
            pos: self.tail.load(Ordering::Relaxed),
            end: self.head.load(Ordering::Relaxed) & !CLOSED,
        };
        items.drop_all();
    }
}

/// Items of a ring being dropped, positions `pos .. end`. Dropping it drops them, so if one
/// item's `Drop` panics the unwinding still drops the ones after it (as a `Vec` does).
struct Remaining<'a, T> {
    ring: &'a Ring<T>,
    /// Next item to drop. Invariant: positions `pos .. end` were pushed and not popped.
    pos: usize,
    end: usize,
}

impl<T> Remaining<'_, T> {
    fn drop_all(&mut self) {
        while self.pos != self.end {
            let p = self.pos;
            // Advanced first: the item is gone once its `Drop` starts, even if that panics.
            self.pos = p.wrapping_add(ONE);
            self.ring.slot(p).value.with_mut(|ptr| {
                // SAFETY: position `p` was pushed (claimed and, since no call is in flight,
                // written) and not popped, so its slot holds an item; `pos` has moved past it,
                // so it is dropped once.
                unsafe { (*ptr).assume_init_drop() };
            });
        }
    }
}

impl<T> Drop for Remaining<'_, T> {
    fn drop(&mut self) {
        // Normally a no-op; while unwinding from a panicking item, drops the rest.
        self.drop_all();
    }
}

impl<T> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
