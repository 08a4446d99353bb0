//! [`Pool`]: a bounded, lock-free set of pre-built objects handed out through RAII guards.
//!
//! # Structure
//! Objects live in a slot array allocated once, at construction, for the hard cap. Free slots
//! form a Treiber stack (LIFO, so the most recently returned, cache-hot object is handed out
//! next) threaded through the slots' `link` words. The stack top is one 64-bit word:
//!
//! ```text
//! head = [ pops: 44 bits | top: 20 bits ]    top = slot index + 1, 0 = empty
//! link = [ depth: 32 bits | next: 32 bits ]  next = slot index + 1, depth = free slots from here down
//! ```
//!
//! `pops` counts successful acquisitions from the stack. It is both the ABA tag (a slot's link
//! can only change after the slot is popped, which changes `pops`, so a stale compare-exchange
//! always fails) and the hit counter, for free. `depth` lets an acquirer compute the number of
//! objects in use, hence an exact high-water mark, from the slot it popped.

use core::fmt;
use core::mem::{ManuallyDrop, MaybeUninit};
use core::ops::{Deref, DerefMut};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, AtomicUsize, MutPtr, Ordering, UnsafeCell};

/// What a pool does when `acquire` finds no free object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissPolicy {
    /// Return [`PoolError::Exhausted`] at once.
    FailFast,
    /// Build a new object with the pool's factory (a heap allocation), until the pool holds
    /// `max` objects; past that, return [`PoolError::Exhausted`].
    Grow {
        /// Hard cap on the number of objects the pool will ever hold.
        max: usize,
    },
}

/// What happens to an object when its guard returns it to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResetPolicy {
    /// Nothing: the next user sees the contents and length the last one left.
    Keep,
    /// [`Reusable::clear`]: logical length back to the built state in O(1); contents kept.
    #[default]
    Clear,
    /// [`Reusable::zero`]: as `Clear`, and every element of the capacity set to zero (O(size)).
    Zero,
}

/// An object a [`Pool`] can reset between users.
pub trait Reusable {
    /// Resets the logical length or shape to the state the object was built in, in O(1),
    /// without touching the contents.
    fn clear(&mut self);
    /// As [`clear`](Self::clear), and sets every element of the storage to zero.
    fn zero(&mut self);
    /// Touches the object's memory so its pages are mapped before first use. Default: nothing.
    fn prefault(&mut self) {}
    /// Heap bytes the object owns, for footprint reports. Default: 0.
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// Errors from building or using a [`Pool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// Every object is in use and the miss policy allows no more.
    Exhausted {
        /// Objects the pool holds (all in use).
        capacity: usize,
    },
    /// The requested size is above what one pool can index.
    CapacityTooLarge {
        /// Objects requested.
        requested: usize,
        /// The largest supported size, [`Pool::MAX_CAPACITY`].
        max: usize,
    },
    /// `MissPolicy::Grow { max }` with `max` below the initial size.
    GrowCapBelowInitial {
        /// Objects built at construction.
        initial: usize,
        /// The cap given.
        max: usize,
    },
    /// Building the pool's objects failed.
    Alloc(crate::AllocError),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exhausted { capacity } => {
                write!(f, "pool exhausted: all {capacity} objects in use")
            }
            Self::CapacityTooLarge { requested, max } => {
                write!(
                    f,
                    "pool of {requested} objects is above the maximum of {max}"
                )
            }
            Self::GrowCapBelowInitial { initial, max } => {
                write!(f, "grow cap {max} is below the initial size {initial}")
            }
            Self::Alloc(e) => write!(f, "building pool objects failed: {e}"),
        }
    }
}

impl std::error::Error for PoolError {}

impl From<crate::AllocError> for PoolError {
    fn from(e: crate::AllocError) -> Self {
        Self::Alloc(e)
    }
}

/// A point-in-time copy of a pool's counters. Reading it never blocks acquirers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Objects the pool holds now (built at construction plus grown).
    pub capacity: usize,
    /// Hard cap on `capacity`.
    pub max_capacity: usize,
    /// Acquisitions served by a free object.
    pub hits: u64,
    /// Acquisitions that found no free object (`grown + exhausted`).
    pub misses: u64,
    /// Misses served by building a new object.
    pub grown: u64,
    /// Misses that returned [`PoolError::Exhausted`].
    pub exhausted: u64,
    /// Objects currently held by guards.
    pub in_use: usize,
    /// Most objects ever in use at once.
    pub high_water: usize,
}

impl PoolStats {
    /// `hits / (hits + misses)`, or `None` before the first acquisition.
    pub fn hit_rate(&self) -> Option<f64> {
        let total = self.hits + self.misses;
        (total > 0).then(|| self.hits as f64 / total as f64)
    }

    /// Sums two snapshots (for combined reports over several pools); the high-water marks add,
    /// an upper bound on the combined one.
    pub fn merge(&self, other: &Self) -> Self {
        Self {
            capacity: self.capacity + other.capacity,
            max_capacity: self.max_capacity + other.max_capacity,
            hits: self.hits + other.hits,
            misses: self.misses + other.misses,
            grown: self.grown + other.grown,
            exhausted: self.exhausted + other.exhausted,
            in_use: self.in_use + other.in_use,
            high_water: self.high_water + other.high_water,
        }
    }
}

const TOP_BITS: u32 = 20;
const TOP_MASK: u64 = (1 << TOP_BITS) - 1;
const POP_ONE: u64 = 1 << TOP_BITS;

#[inline(always)]
fn link(next: u64, depth: u64) -> u64 {
    (depth << 32) | next
}

struct Slot<T> {
    /// Free-list link, meaningful while the slot is free: `next` (low 32 bits, slot index + 1,
    /// 0 = bottom) and `depth` (high 32 bits, free slots from this one to the bottom,
    /// inclusive). Written only by the thread pushing the slot, before its Release
    /// compare-exchange on `head`.
    link: AtomicU64,
    /// The object. Invariant: initialised iff the slot index is below `constructed`; accessed
    /// only by the one thread holding the slot (it popped or built it) until it pushes it back.
    value: UnsafeCell<MaybeUninit<T>>,
}

struct Counters {
    misses: AtomicU64,
    grown: AtomicU64,
    exhausted: AtomicU64,
    heap_bytes: AtomicUsize,
}

/// A bounded pool of pre-built objects with lock-free acquire and release.
///
/// * Built fully at construction: `initial` objects are made by the factory up front.
/// * `acquire` pops the most recently returned object (one compare-exchange); dropping the
///   guard resets the object per the [`ResetPolicy`] and pushes it back (one
///   compare-exchange), also when the guard is dropped by a panic unwinding.
/// * A miss follows the [`MissPolicy`]: fail fast, or build another object up to a hard cap.
///   Nothing allocates after construction unless a miss grows the pool.
/// * `Send + Sync`: share it by reference (scoped threads) or in an `Arc`
///   ([`acquire_owned`](Self::acquire_owned) returns a guard that owns a clone of the `Arc`).
///
/// ```
/// use zerotick_mem::{AlignedBuf, MissPolicy, Pool, PoolError, ResetPolicy};
///
/// let pool = Pool::new(2, MissPolicy::FailFast, ResetPolicy::Zero, || AlignedBuf::<f64>::zeroed(1024))?;
/// {
///     let mut a = pool.acquire()?;
///     a[0] = 42.0;
///     let _b = pool.acquire()?;
///     assert!(matches!(pool.acquire(), Err(PoolError::Exhausted { capacity: 2 })));
/// } // both return here
/// let mut v = pool.acquire()?;
/// assert!(v.is_empty()); // `ResetPolicy::Zero` clears the length...
/// v.set_len(1024).unwrap();
/// assert_eq!(v[0], 0.0); // ...and zeroes the contents
/// drop(v);
/// let stats = pool.stats();
/// assert_eq!((stats.hits, stats.misses, stats.high_water), (3, 1, 2));
/// # Ok::<(), PoolError>(())
/// ```
pub struct Pool<T> {
    /// Top of the free stack: `pops << 20 | (index + 1)`. All writes are compare-exchanges.
    head: CachePadded<AtomicU64>,
    /// Objects built so far. Invariant: `constructed <= slots.len()`; slots below it hold an
    /// initialised value.
    constructed: CachePadded<AtomicUsize>,
    /// Most objects ever in use at once.
    high_water: CachePadded<AtomicUsize>,
    counters: CachePadded<Counters>,
    /// One slot per object the pool may ever hold (`max_capacity`), allocated once.
    slots: Box<[CachePadded<Slot<T>>]>,
    factory: Box<dyn Fn() -> Result<T, PoolError> + Send + Sync>,
    miss: MissPolicy,
    reset: ResetPolicy,
}

// SAFETY: each object is reachable by exactly one thread at a time (the holder of its slot,
// established by the free-stack compare-exchanges), so sharing the pool only ever moves `T`
// between threads: `T: Send` suffices, as for `Mutex<T>`.
unsafe impl<T: Send> Sync for Pool<T> {}
// SAFETY: the pool owns its objects; moving it moves them.
unsafe impl<T: Send> Send for Pool<T> {}

impl<T: Reusable> Pool<T> {
    /// The most objects one pool can hold (`2^20 - 1`), a limit of the packed stack word.
    pub const MAX_CAPACITY: usize = (1 << TOP_BITS) - 1;

    /// Builds a pool holding `initial` objects made by `factory`.
    ///
    /// # Errors
    /// [`PoolError::CapacityTooLarge`] above [`MAX_CAPACITY`](Self::MAX_CAPACITY) objects,
    /// [`PoolError::GrowCapBelowInitial`] for an inconsistent `Grow` cap.
    pub fn new(
        initial: usize,
        miss: MissPolicy,
        reset: ResetPolicy,
        factory: impl Fn() -> T + Send + Sync + 'static,
    ) -> Result<Self, PoolError> {
        Self::try_new(initial, miss, reset, move || Ok::<T, PoolError>(factory()))
    }

    /// As [`new`](Self::new), with a fallible factory whose error aborts construction.
    ///
    /// # Errors
    /// As [`new`](Self::new), and the factory's own error converted into [`PoolError`].
    pub fn try_new<E: Into<PoolError>>(
        initial: usize,
        miss: MissPolicy,
        reset: ResetPolicy,
        factory: impl Fn() -> Result<T, E> + Send + Sync + 'static,
    ) -> Result<Self, PoolError> {
        let max = match miss {
            MissPolicy::FailFast => initial,
            MissPolicy::Grow { max } if max < initial => {
                return Err(PoolError::GrowCapBelowInitial { initial, max });
            }
            MissPolicy::Grow { max } => max,
        };
        if max > Self::MAX_CAPACITY {
            return Err(PoolError::CapacityTooLarge {
                requested: max,
                max: Self::MAX_CAPACITY,
            });
        }
        let mut heap_bytes = 0;
        let mut slots = Vec::with_capacity(max);
        for i in 0..max {
            let value = if i < initial {
                let v = factory().map_err(Into::into)?;
                heap_bytes += v.heap_bytes();
                MaybeUninit::new(v)
            } else {
                MaybeUninit::uninit()
            };
            // Free stack: slot 0 on top, slot `initial - 1` at the bottom.
            let next = if i + 1 < initial { i as u64 + 2 } else { 0 };
            let depth = initial.saturating_sub(i) as u64;
            slots.push(CachePadded::new(Slot {
                link: AtomicU64::new(link(next, depth)),
                value: UnsafeCell::new(value),
            }));
        }
        Ok(Self {
            head: CachePadded::new(AtomicU64::new(u64::from(initial > 0))),
            constructed: CachePadded::new(AtomicUsize::new(initial)),
            high_water: CachePadded::new(AtomicUsize::new(0)),
            counters: CachePadded::new(Counters {
                misses: AtomicU64::new(0),
                grown: AtomicU64::new(0),
                exhausted: AtomicU64::new(0),
                heap_bytes: AtomicUsize::new(heap_bytes),
            }),
            slots: slots.into_boxed_slice(),
            factory: Box::new(move || factory().map_err(Into::into)),
            miss,
            reset,
        })
    }

    /// Takes a free object, or handles the miss per the pool's [`MissPolicy`].
    ///
    /// # Errors
    /// [`PoolError::Exhausted`] if no object is free and the pool may not grow.
    #[inline]
    pub fn acquire(&self) -> Result<PoolGuard<'_, T>, PoolError> {
        let index = self.take()?;
        Ok(Guard::new(self, index))
    }

    /// As [`acquire`](Self::acquire), returning a guard that keeps the pool alive through its
    /// own `Arc` clone, so it can be sent to another thread or stored without a lifetime.
    ///
    /// # Errors
    /// [`PoolError::Exhausted`] if no object is free and the pool may not grow.
    #[inline]
    pub fn acquire_owned(self: &Arc<Self>) -> Result<OwnedPoolGuard<T>, PoolError> {
        let index = self.take()?;
        Ok(Guard::new(Arc::clone(self), index))
    }

    /// Counters, read without blocking anyone. Under concurrent use each field is exact at
    /// some instant of the read, not all at the same instant.
    pub fn stats(&self) -> PoolStats {
        // Acquire: pairs with the Release compare-exchange in `put`, so the top slot's link
        // read below is the one written before it was pushed.
        let head = self.head.load(Ordering::Acquire);
        let top = head & TOP_MASK;
        let free = if top == 0 {
            0
        } else {
            (self.slots[top as usize - 1].link.load(Ordering::Relaxed) >> 32) as usize
        };
        let constructed = self.constructed.load(Ordering::Relaxed);
        let c = &self.counters;
        let grown = c.grown.load(Ordering::Relaxed);
        let exhausted = c.exhausted.load(Ordering::Relaxed);
        PoolStats {
            capacity: constructed,
            max_capacity: self.slots.len(),
            hits: head >> TOP_BITS,
            misses: c.misses.load(Ordering::Relaxed).max(grown + exhausted),
            grown,
            exhausted,
            in_use: constructed.saturating_sub(free),
            high_water: self.high_water.load(Ordering::Relaxed),
        }
    }

    /// Objects the pool holds now.
    pub fn capacity(&self) -> usize {
        self.constructed.load(Ordering::Relaxed)
    }

    /// Heap bytes held: the slot array plus what every built object reports through
    /// [`Reusable::heap_bytes`].
    pub fn footprint_bytes(&self) -> usize {
        self.slots.len() * size_of::<CachePadded<Slot<T>>>()
            + self.counters.heap_bytes.load(Ordering::Relaxed)
    }

    /// Touches every free object's memory ([`Reusable::prefault`]) so no page fault lands in
    /// the hot loop. Takes `&mut self`: run it before sharing the pool. Counts nothing.
    pub fn warm_up(&mut self) {
        let constructed = self.constructed.load(Ordering::Relaxed);
        for slot in &self.slots[..constructed] {
            let ptr = slot.value.get_mut();
            // SAFETY: `&mut self` means no guard is alive, so no other access exists; slots
            // below `constructed` are initialised (field invariant).
            unsafe { ptr.deref().assume_init_mut() }.prefault();
        }
    }

    /// The miss policy chosen at construction.
    pub fn miss_policy(&self) -> MissPolicy {
        self.miss
    }

    /// The reset policy chosen at construction.
    pub fn reset_policy(&self) -> ResetPolicy {
        self.reset
    }

    /// Pops a free slot index, or handles a miss.
    #[inline]
    fn take(&self) -> Result<usize, PoolError> {
        // Acquire: pairs with the Release compare-exchange in `put` (and, through the release
        // sequence of RMWs on `head`, with every earlier push) so the popped slot's link and
        // object contents are visible.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let top = (head & TOP_MASK) as usize;
            if top == 0 {
                return self.miss();
            }
            let link = self.slots[top - 1].link.load(Ordering::Relaxed);
            let new = ((head & !TOP_MASK).wrapping_add(POP_ONE)) | (link & TOP_MASK);
            // Acquire on both outcomes: same pairing as the load above.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => {
                    let free_after = (link >> 32) as usize - 1;
                    self.note_in_use(
                        self.constructed
                            .load(Ordering::Relaxed)
                            .saturating_sub(free_after),
                    );
                    return Ok(top - 1);
                }
                Err(actual) => head = actual,
            }
        }
    }

    /// Pushes slot `index` back on the free stack.
    #[inline]
    fn put(&self, index: usize) {
        let slot = &self.slots[index];
        // Acquire: pairs with the Release compare-exchange that pushed the current top, so its
        // link (and depth) read below is current.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let top = head & TOP_MASK;
            let depth_below = if top == 0 {
                0
            } else {
                self.slots[top as usize - 1].link.load(Ordering::Relaxed) >> 32
            };
            slot.link
                .store(link(top, depth_below + 1), Ordering::Relaxed);
            let new = (head & !TOP_MASK) | (index as u64 + 1);
            // Release: publishes the link and the object's contents to the next acquirer
            // (its Acquire load/compare-exchange in `take`). Acquire on failure: as above.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    #[inline]
    fn note_in_use(&self, in_use: usize) {
        if in_use > self.high_water.load(Ordering::Relaxed) {
            self.high_water.fetch_max(in_use, Ordering::Relaxed);
        }
    }

    #[cold]
    #[inline(never)]
    fn miss(&self) -> Result<usize, PoolError> {
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        if let MissPolicy::Grow { max } = self.miss {
            match self.grow(max) {
                Ok(Some(index)) => {
                    self.counters.grown.fetch_add(1, Ordering::Relaxed);
                    return Ok(index);
                }
                Ok(None) => {}
                Err(e) => {
                    self.counters.exhausted.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        self.counters.exhausted.fetch_add(1, Ordering::Relaxed);
        Err(PoolError::Exhausted {
            capacity: self.capacity(),
        })
    }

    /// Builds one more object into a fresh slot if the pool holds fewer than `max`;
    /// `Ok(None)` at the cap.
    fn grow(&self, max: usize) -> Result<Option<usize>, PoolError> {
        if self.constructed.load(Ordering::Relaxed) >= max {
            return Ok(None);
        }
        // Build before claiming a slot: if the factory fails or panics, no slot is left
        // claimed but uninitialised.
        let value = (self.factory)()?;
        let bytes = value.heap_bytes();
        let mut current = self.constructed.load(Ordering::Relaxed);
        loop {
            if current >= max {
                return Ok(None); // another thread took the last slot; `value` is dropped
            }
            match self.constructed.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        let ptr = self.slots[current].value.get_mut();
        // SAFETY: slot `current` was just claimed by this thread's compare-exchange and was
        // never handed out, so no other access to it exists.
        unsafe { ptr.deref().write(value) };
        // Under loom, dropping `ptr` ends the tracked access; outside loom it is a no-op.
        #[allow(clippy::drop_non_drop)]
        drop(ptr);
        self.counters.heap_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.note_in_use(self.stats().in_use);
        Ok(Some(current))
    }
}

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        let constructed = self.constructed.load(Ordering::Relaxed);
        for slot in &self.slots[..constructed] {
            let ptr = slot.value.get_mut();
            // SAFETY: `&mut self`: no guard is alive (guards borrow or own the pool), so no
            // other access exists; slots below `constructed` are initialised and dropped once.
            unsafe { ptr.deref().assume_init_drop() };
        }
    }
}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("max_capacity", &self.slots.len())
            .field("miss", &self.miss)
            .field("reset", &self.reset)
            .finish_non_exhaustive()
    }
}

/// Exclusive access to one pooled object; returns it to the pool when dropped.
///
/// `R` is how the guard reaches its pool: a reference ([`PoolGuard`]) or an `Arc`
/// ([`OwnedPoolGuard`]).
pub struct Guard<T: Reusable, R: Deref<Target = Pool<T>>> {
    /// The slot's object. Invariant: initialised, and this guard is its only accessor until
    /// `drop` pushes the slot back.
    value: ManuallyDrop<MutPtr<MaybeUninit<T>>>,
    index: usize,
    pool: R,
}

/// A guard borrowing its pool.
pub type PoolGuard<'a, T> = Guard<T, &'a Pool<T>>;
/// A guard holding its pool through an `Arc`: `'static`, can be sent across threads.
pub type OwnedPoolGuard<T> = Guard<T, Arc<Pool<T>>>;

// SAFETY: the guard is the sole accessor of its object (field invariant); sending it moves the
// object (`T: Send`) and the pool handle (`R: Send`) to the other thread.
unsafe impl<T: Reusable + Send, R: Deref<Target = Pool<T>> + Send> Send for Guard<T, R> {}
// SAFETY: `&Guard` only gives `&T` (`T: Sync`) and `&R` (`R: Sync`).
unsafe impl<T: Reusable + Sync, R: Deref<Target = Pool<T>> + Sync> Sync for Guard<T, R> {}

impl<T: Reusable, R: Deref<Target = Pool<T>>> Guard<T, R> {
    #[inline]
    fn new(pool: R, index: usize) -> Self {
        let value = ManuallyDrop::new(pool.slots[index].value.get_mut());
        Self { value, index, pool }
    }

    /// The pool this object returns to.
    pub fn pool(&self) -> &Pool<T> {
        &self.pool
    }
}

impl<T: Reusable, R: Deref<Target = Pool<T>>> Deref for Guard<T, R> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the object is initialised and only this guard accesses it (field
        // invariant); the shared borrow of `self` bounds the reference.
        unsafe { MutPtr::deref(&self.value).assume_init_ref() }
    }
}

impl<T: Reusable, R: Deref<Target = Pool<T>>> DerefMut for Guard<T, R> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; the exclusive borrow of `self` bounds the reference.
        unsafe { MutPtr::deref(&self.value).assume_init_mut() }
    }
}

impl<T: Reusable, R: Deref<Target = Pool<T>>> Drop for Guard<T, R> {
    #[inline]
    fn drop(&mut self) {
        match self.pool.reset {
            ResetPolicy::Keep => {}
            ResetPolicy::Clear => self.deref_mut().clear(),
            ResetPolicy::Zero => self.deref_mut().zero(),
        }
        // SAFETY: `value` is not used again: the slot is handed back just below.
        unsafe { ManuallyDrop::drop(&mut self.value) };
        self.pool.put(self.index);
    }
}

impl<T: Reusable + fmt::Debug, R: Deref<Target = Pool<T>>> fmt::Debug for Guard<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Guard").field(&**self).finish()
    }
}
