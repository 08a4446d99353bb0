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
//!
//! # Release without reading the stack
//! A pool guard keeps the head word its acquire installed (its `hint`). The release
//! compare-exchanges `head` against that word first: if nobody acquired or released since
//! (the common case for a thread that takes an object and gives it back), `head` still holds
//! it, and the slot's link, unchanged since the acquire read it, already names the top and
//! the depth below. The release then reads nothing from the pool and writes nothing but
//! `head`: one compare-exchange with no load before it. Otherwise the failed compare-exchange
//! returns the current head and the release proceeds as a plain Treiber push. The guess is
//! safe because `head` never takes a value twice (see `Guard::hint`): a stale hint only fails
//! the compare-exchange.
//!
//! # Acquire without a dependent load
//! Next to `head`, on its cache line, `top_link` keeps a copy of a slot's link tagged with
//! the slot, written by every push that writes links. An acquirer loads both words together;
//! when the tag names the head's top it pops with the copied link instead of loading the top
//! slot's link after `head` (see `Stack::top_link` for why the copy is then the real link).

use core::fmt;
use core::marker::PhantomData;
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
    /// Acquisitions served by a free object (thread caches' hits included once they publish
    /// them: on refill, flush and drop).
    pub hits: u64,
    /// Acquisitions that found no free object (`grown + exhausted`).
    pub misses: u64,
    /// Misses served by building a new object.
    pub grown: u64,
    /// Misses that returned [`PoolError::Exhausted`].
    pub exhausted: u64,
    /// Objects off the free stack: held by guards, or by [`PoolCache`](crate::PoolCache)s.
    pub in_use: usize,
    /// Of `in_use`, objects held by thread caches (idle there or lent to their guards).
    pub cached: usize,
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
            cached: self.cached + other.cached,
            high_water: self.high_water + other.high_water,
        }
    }
}

const TOP_BITS: u32 = 20;
const TOP_MASK: u64 = (1 << TOP_BITS) - 1;
const POP_ONE: u64 = 1 << TOP_BITS;
/// A `hint` that `head` never holds: `top == TOP_MASK` would name slot `2^20 - 2`, one past
/// the last slot of the largest pool ([`Pool::MAX_CAPACITY`] is `2^20 - 2`).
pub(crate) const NO_HINT: u64 = TOP_MASK;

#[inline(always)]
fn link(next: u64, depth: u64) -> u64 {
    (depth << 32) | next
}

/// The [`Stack::top_link`] word for slot `top - 1` with link `link`:
/// `depth << 40 | next << 20 | top` (each below `2^20`).
#[inline(always)]
fn top_link(top: u64, link: u64) -> u64 {
    ((link >> 32) << 40) | ((link & TOP_MASK) << TOP_BITS) | top
}

/// The link stored in a [`Stack::top_link`] word.
#[inline(always)]
fn link_of(top_link: u64) -> u64 {
    link((top_link >> TOP_BITS) & TOP_MASK, top_link >> 40)
}

/// The free stack's shared words.
struct Stack {
    /// Top of the free stack: `pops << 20 | (index + 1)`. All writes are compare-exchanges.
    head: AtomicU64,
    /// A copy of a slot's link tagged with the slot (see [`top_link`]), so an acquirer reads
    /// the top's link together with `head`, from the same line, instead of after it.
    /// Written (Relaxed) by every push that writes links (`put_chain_from`, the only writer
    /// of links) for its new top, before its Release compare-exchange on `head`; `put`'s
    /// fast path leaves the slot's link, and so this word, as they are.
    ///
    /// Invariant: when an acquirer's Acquire load of `head` reads a push of slot `x`, its
    /// later load of this word reads the write of the latest link-writing push of `x` (whose
    /// link `x` still has) or a later write. A later write tagged `x` comes from a later
    /// holder of `x`, so `x` was popped since and that acquirer's compare-exchange fails. So
    /// when the tag matches the head's top and the compare-exchange succeeds, the copied link
    /// is the top's real one; when the tag differs, the acquirer reads the slot's own link.
    top_link: AtomicU64,
}

pub(crate) struct Slot<T> {
    /// Free-list link, meaningful while the slot is free: `next` (low 32 bits, slot index + 1,
    /// 0 = bottom) and `depth` (high 32 bits, free slots from this one to the bottom,
    /// inclusive). Written only by the thread pushing the slot, before its Release
    /// compare-exchange on `head`.
    link: AtomicU64,
    /// The object. Invariant: initialised iff the slot index is below `constructed`; accessed
    /// only by the one thread holding the slot (it popped or built it) until it pushes it back.
    pub(crate) value: UnsafeCell<MaybeUninit<T>>,
}

pub(crate) struct Counters {
    misses: AtomicU64,
    grown: AtomicU64,
    exhausted: AtomicU64,
    heap_bytes: AtomicUsize,
    /// Slots moved from the free stack into thread caches (counted in `pops`, not hits).
    pub(crate) refilled: AtomicU64,
    /// Slots a cache got from a miss (grown) rather than from the stack.
    pub(crate) adopted: AtomicU64,
    /// Slots moved from thread caches back onto the free stack.
    pub(crate) flushed: AtomicU64,
    /// Acquisitions served by thread caches, published in batches.
    pub(crate) cache_hits: AtomicU64,
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
    /// The free stack's top and a copy of the top slot's link, on one cache line.
    stack: CachePadded<Stack>,
    /// Objects built so far. Invariant: `constructed <= slots.len()`; slots below it hold an
    /// initialised value.
    constructed: CachePadded<AtomicUsize>,
    /// Most objects ever in use at once.
    high_water: CachePadded<AtomicUsize>,
    pub(crate) counters: CachePadded<Counters>,
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
    /// The most objects one pool can hold (`2^20 - 2`), a limit of the packed stack word
    /// (its `top` field, with one value kept free as a marker no head word holds).
    pub const MAX_CAPACITY: usize = (1 << TOP_BITS) - 2;

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
        // Built into a `Vec<T>` first, so objects already built are dropped if the factory
        // fails or panics part-way (in `MaybeUninit` slots they would leak).
        let mut heap_bytes = 0;
        let mut objects = Vec::with_capacity(initial);
        for _ in 0..initial {
            let v = factory().map_err(Into::into)?;
            heap_bytes += v.heap_bytes();
            objects.push(v);
        }
        let mut objects = objects.into_iter();
        let mut slots = Vec::with_capacity(max);
        for i in 0..max {
            let value = match objects.next() {
                Some(v) => MaybeUninit::new(v),
                None => MaybeUninit::uninit(),
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
            stack: CachePadded::new(Stack {
                head: AtomicU64::new(u64::from(initial > 0)),
                top_link: AtomicU64::new(if initial > 0 {
                    top_link(1, link(u64::from(initial > 1) * 2, initial as u64))
                } else {
                    0
                }),
            }),
            constructed: CachePadded::new(AtomicUsize::new(initial)),
            high_water: CachePadded::new(AtomicUsize::new(0)),
            counters: CachePadded::new(Counters {
                misses: AtomicU64::new(0),
                grown: AtomicU64::new(0),
                exhausted: AtomicU64::new(0),
                heap_bytes: AtomicUsize::new(heap_bytes),
                refilled: AtomicU64::new(0),
                adopted: AtomicU64::new(0),
                flushed: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
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
        let (index, hint) = self.take()?;
        // SAFETY: `take` popped (or built) slot `index` for this caller alone, and `hint` is
        // the head it installed (or `NO_HINT`).
        Ok(unsafe { Guard::new(self, index, hint) })
    }

    /// As [`acquire`](Self::acquire), returning a guard that keeps the pool alive through its
    /// own `Arc` clone, so it can be sent to another thread or stored without a lifetime.
    ///
    /// # Errors
    /// [`PoolError::Exhausted`] if no object is free and the pool may not grow.
    #[inline]
    pub fn acquire_owned(self: &Arc<Self>) -> Result<OwnedPoolGuard<T>, PoolError> {
        let (index, hint) = self.take()?;
        // SAFETY: as in `acquire`.
        Ok(unsafe { Guard::new(Arc::clone(self), index, hint) })
    }

    /// Counters, read without blocking anyone. Under concurrent use each field is exact at
    /// some instant of the read, not all at the same instant.
    pub fn stats(&self) -> PoolStats {
        // Acquire: pairs with the Release compare-exchange in `put`, so the top slot's link
        // read below is the one written before it was pushed.
        let head = self.stack.head.load(Ordering::Acquire);
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
        let refilled = c.refilled.load(Ordering::Relaxed);
        let returned = c.flushed.load(Ordering::Relaxed);
        let entered = refilled + c.adopted.load(Ordering::Relaxed);
        PoolStats {
            capacity: constructed,
            max_capacity: self.slots.len(),
            hits: ((head >> TOP_BITS).wrapping_sub(refilled) & (u64::MAX >> TOP_BITS))
                + c.cache_hits.load(Ordering::Relaxed),
            cached: entered.saturating_sub(returned) as usize,
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
            #[cfg_attr(loom, allow(unused_mut))]
            let mut ptr = slot.value.get_mut();
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

    /// Pops a free slot index, or handles a miss; with the index, the `head` word the pop
    /// installed ([`NO_HINT`] after a miss), for [`put`](Self::put).
    #[inline]
    pub(crate) fn take(&self) -> Result<(usize, u64), PoolError> {
        let mut index = 0;
        match self.take_chain(1, |_, i| index = i) {
            (0, _) => Ok((self.miss()?, NO_HINT)),
            (_, installed) => Ok((index, installed)),
        }
    }

    /// Pushes slot `index` back on the free stack: first against `hint`, the head its acquire
    /// installed (see the module docs), else as [`put_chain`](Self::put_chain).
    #[inline]
    pub(crate) fn put(&self, index: usize, hint: u64) {
        if hint == NO_HINT {
            return self.put_slow(self.stack.head.load(Ordering::Acquire), index);
        }
        // If `head == hint`, the stack is exactly as the acquire of this slot left it
        // (invariant on `Guard::hint`), and the slot's link, unchanged since that acquire
        // read it, still names the top (`next`) and the depth from this slot down: pushing
        // the slot back needs no write but `head`. A stale `hint` fails the exchange.
        // Release on success: publishes the object's contents to the next acquirer (its
        // Acquire load or compare-exchange in `take_chain`), and with them the link: its store
        // by the slot's previous pusher happens-before this slot's acquire, which precedes
        // this exchange.
        // Acquire on failure: the current head goes on to `put_slow`, which reads the
        // top's link (as `put_chain`'s own Acquire load).
        // The link is left as is, so `Stack::top_link` needs no write either.
        let top = index as u64 + 1;
        match self.stack.head.compare_exchange(
            hint,
            (hint & !TOP_MASK) | top,
            Ordering::Release,
            Ordering::Acquire,
        ) {
            Ok(_) => {}
            Err(head) => self.put_slow(head, index),
        }
    }

    /// `put` when the hint did not hold: a Treiber push from `head` (loaded, or returned by a
    /// failed compare-exchange, with Acquire). Out of line so `put` stays small enough for
    /// the guard's drop to inline.
    #[cold]
    #[inline(never)]
    fn put_slow(&self, head: u64, index: usize) {
        self.put_chain_from(head, 1, |_| index);
    }

    /// Pops up to `want` free slots with one compare-exchange, handing each index to
    /// `sink(position, index)`, top first; returns how many were popped (0 if the stack is
    /// empty or `want` is 0) and the `head` word installed (meaningless when none were). The
    /// caller then holds those slots exclusively.
    #[inline]
    pub(crate) fn take_chain(
        &self,
        want: usize,
        mut sink: impl FnMut(usize, usize),
    ) -> (usize, u64) {
        if want == 0 {
            return (0, NO_HINT);
        }
        // Acquire: pairs with the Release compare-exchange in `put_chain` (and, through the
        // release sequence of RMWs on `head`, with every earlier push), so the links read
        // below and the popped objects' contents are visible.
        let mut head = self.stack.head.load(Ordering::Acquire);
        'retry: loop {
            let top = (head & TOP_MASK) as usize;
            if top == 0 {
                return (0, NO_HINT);
            }
            // Links are read before the compare-exchange validates them: if `head` is
            // unchanged when it succeeds, no slot was pushed or popped in between (every pop
            // bumps `pops`, every push changes `top`), so the chain read is the real one.
            // A stale read only costs a retry; every link ever stored names a real slot.
            // After the Acquire load of `head` (see `Stack::top_link`).
            let cached = self.stack.top_link.load(Ordering::Relaxed);
            let mut link = if cached & TOP_MASK == top as u64 {
                link_of(cached)
            } else {
                self.slot(top - 1).link.load(Ordering::Relaxed)
            };
            let free = (link >> 32) as usize;
            let n = want.min(free).max(1);
            sink(0, top - 1);
            for position in 1..n {
                let next = (link & TOP_MASK) as usize;
                if next == 0 {
                    // Inconsistent snapshot: the stack changed under us.
                    head = self.stack.head.load(Ordering::Acquire);
                    continue 'retry;
                }
                sink(position, next - 1);
                link = self.slot(next - 1).link.load(Ordering::Relaxed);
            }
            let new = (head & !TOP_MASK).wrapping_add(POP_ONE * n as u64) | (link & TOP_MASK);
            // Acquire on both outcomes: same pairing as the load above.
            match self.stack.head.compare_exchange_weak(
                head,
                new,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let free_after = free.saturating_sub(n);
                    let constructed = self.constructed.load(Ordering::Relaxed);
                    self.note_in_use(constructed.saturating_sub(free_after));
                    return (n, new);
                }
                Err(actual) => head = actual,
            }
        }
    }

    /// Pushes the `n >= 1` slots `index(0) .. index(n - 1)` (held exclusively by the caller)
    /// with one compare-exchange; `index(0)` ends on top.
    #[inline]
    pub(crate) fn put_chain(&self, n: usize, index: impl Fn(usize) -> usize) {
        // Acquire: pairs with the Release compare-exchange that pushed the current top, so its
        // depth read in `put_chain_from` is current.
        self.put_chain_from(self.stack.head.load(Ordering::Acquire), n, index);
    }

    /// As [`put_chain`](Self::put_chain), starting from `head`, a value of `head` loaded (or
    /// returned by a failed compare-exchange) with Acquire.
    #[inline]
    fn put_chain_from(&self, mut head: u64, n: usize, index: impl Fn(usize) -> usize) {
        debug_assert!(n >= 1);
        loop {
            let top = head & TOP_MASK;
            let depth_below = if top == 0 {
                0
            } else {
                self.slot(top as usize - 1).link.load(Ordering::Relaxed) >> 32
            };
            let mut first = 0;
            for position in 0..n {
                let next = if position + 1 < n {
                    index(position + 1) as u64 + 1
                } else {
                    top
                };
                let depth = depth_below + (n - position) as u64;
                let l = link(next, depth);
                if position == 0 {
                    first = l;
                }
                self.slot(index(position)).link.store(l, Ordering::Relaxed);
            }
            let new = (head & !TOP_MASK) | (index(0) as u64 + 1);
            // Before the exchange (see `Stack::top_link`).
            self.stack
                .top_link
                .store(top_link(index(0) as u64 + 1, first), Ordering::Relaxed);
            // Release: publishes the links and the objects' contents to the next acquirer
            // (its Acquire load or compare-exchange in `take_chain`). Acquire on failure: as
            // above.
            match self.stack.head.compare_exchange_weak(
                head,
                new,
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    #[inline(always)]
    pub(crate) fn slot(&self, index: usize) -> &Slot<T> {
        &self.slots[index]
    }

    #[inline]
    fn note_in_use(&self, in_use: usize) {
        if in_use > self.high_water.load(Ordering::Relaxed) {
            self.high_water.fetch_max(in_use, Ordering::Relaxed);
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn miss(&self) -> Result<usize, PoolError> {
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
        #[cfg_attr(loom, allow(unused_mut))]
        let mut ptr = self.slots[current].value.get_mut();
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
        let mut objects = Remaining {
            slots: &self.slots[..self.constructed.load(Ordering::Relaxed)],
        };
        objects.drop_all();
    }
}

/// The objects of a pool being dropped. Dropping it drops them, so if one object's `Drop`
/// panics the unwinding still drops the rest (as a `Vec` does).
struct Remaining<'a, T> {
    /// Invariant: every slot holds an initialised object no one else accesses.
    slots: &'a [CachePadded<Slot<T>>],
}

impl<T> Remaining<'_, T> {
    fn drop_all(&mut self) {
        while let Some((slot, rest)) = self.slots.split_first() {
            // Advanced first: the object is gone once its `Drop` starts, even if that panics.
            self.slots = rest;
            #[cfg_attr(loom, allow(unused_mut))]
            let mut ptr = slot.value.get_mut();
            // SAFETY: `Pool::drop` has `&mut self`: no guard is alive (guards borrow or own the
            // pool), so no other access exists; slots below `constructed` are initialised
            // (field invariant) and this one has left `self.slots`, so it is dropped once.
            unsafe { ptr.deref().assume_init_drop() };
        }
    }
}

impl<T> Drop for Remaining<'_, T> {
    fn drop(&mut self) {
        // Normally a no-op; while unwinding from a panicking object, drops the rest.
        self.drop_all();
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

/// Where a [`Guard`] returns its object: the pool itself (by reference or `Arc`) or a
/// thread's [`PoolCache`](crate::PoolCache). Sealed: only this crate implements it.
pub trait PoolHandle<T: Reusable>: sealed::Sealed {
    /// The pool the object belongs to.
    fn pool(&self) -> &Pool<T>;
    /// Takes back slot `index`, which the caller held exclusively; `hint` is the guard's
    /// (see [`Guard`]'s field).
    #[doc(hidden)]
    fn give_back(&self, index: usize, hint: u64);
    /// The reset policy applied before `give_back`.
    #[doc(hidden)]
    #[inline]
    fn reset_policy(&self) -> ResetPolicy {
        self.pool().reset
    }
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

impl<T: Reusable> sealed::Sealed for &Pool<T> {}
impl<T: Reusable> PoolHandle<T> for &Pool<T> {
    #[inline]
    fn pool(&self) -> &Pool<T> {
        self
    }
    #[inline]
    fn give_back(&self, index: usize, hint: u64) {
        self.put(index, hint);
    }
}

impl<T: Reusable> sealed::Sealed for Arc<Pool<T>> {}
impl<T: Reusable> PoolHandle<T> for Arc<Pool<T>> {
    #[inline]
    fn pool(&self) -> &Pool<T> {
        self
    }
    #[inline]
    fn give_back(&self, index: usize, hint: u64) {
        self.put(index, hint);
    }
}

/// Exclusive access to one pooled object; hands it back when dropped (also during a panic),
/// after resetting it per the pool's [`ResetPolicy`].
///
/// `H` is where it goes back: [`PoolGuard`] (borrowed pool), [`OwnedPoolGuard`] (pool in an
/// `Arc`) or [`CacheGuard`](crate::CacheGuard) (a thread's cache).
pub struct Guard<T: Reusable, H: PoolHandle<T>> {
    /// The slot's object. Invariant: initialised, and this guard is its only accessor until
    /// `drop` hands the slot back.
    value: ManuallyDrop<MutPtr<MaybeUninit<T>>>,
    index: usize,
    /// For a guard of the pool itself: the `head` word installed by the acquire that took
    /// slot `index` off the stack, or [`NO_HINT`] (a slot built by a miss; a cache's guard).
    /// Invariant: `head` equals it only while the stack is exactly as that acquire left it.
    /// `head` never repeats a value (each acquire adds to `pops`; each release sets `top` to a
    /// slot that was not on the stack, so `top` goes back to an earlier value only through an
    /// acquire; `pops` wraps after 2^44 acquisitions, as for the ABA tag) and never holds
    /// `NO_HINT`.
    hint: u64,
    home: H,
}

/// A guard borrowing its pool.
pub type PoolGuard<'a, T> = Guard<T, &'a Pool<T>>;
/// A guard holding its pool through an `Arc`: `'static`, can be sent across threads.
pub type OwnedPoolGuard<T> = Guard<T, Arc<Pool<T>>>;

// SAFETY: the guard is the sole accessor of its object (field invariant); sending it moves the
// object (`T: Send`) and the handle (`H: Send`) to the other thread.
unsafe impl<T: Reusable + Send, H: PoolHandle<T> + Send> Send for Guard<T, H> {}
// SAFETY: `&Guard` only gives `&T` (`T: Sync`) and `&H` (`H: Sync`).
unsafe impl<T: Reusable + Sync, H: PoolHandle<T> + Sync> Sync for Guard<T, H> {}

impl<T: Reusable, H: PoolHandle<T>> Guard<T, H> {
    /// # Safety
    /// The caller holds slot `index` of `home.pool()` exclusively and hands that over;
    /// `hint` is as the field says.
    #[inline]
    pub(crate) unsafe fn new(home: H, index: usize, hint: u64) -> Self {
        let value = ManuallyDrop::new(home.pool().slot(index).value.get_mut());
        Self {
            value,
            index,
            hint,
            home,
        }
    }

    /// The pool this object belongs to.
    pub fn pool(&self) -> &Pool<T> {
        self.home.pool()
    }
}

impl<T: Reusable, H: PoolHandle<T>> Guard<T, H> {
    /// Raw pointer to the object; creates no reference.
    #[inline(always)]
    fn object(&self) -> *mut T {
        self.value.with(|p| p.cast::<T>())
    }
}

impl<T: Reusable, H: PoolHandle<T>> Deref for Guard<T, H> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the object is initialised and only this guard accesses it (field
        // invariant), so no `&mut T` to it exists while `self` is shared: only `&T` are made
        // from `&self` (the guard is `Sync`, so several threads may hold them at once). The
        // shared borrow of `self` bounds the reference. `MaybeUninit<T>` has `T`'s layout.
        unsafe { &*self.object() }
    }
}

impl<T: Reusable, H: PoolHandle<T>> DerefMut for Guard<T, H> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; the exclusive borrow of `self` makes this the only reference.
        unsafe { &mut *self.object() }
    }
}

impl<T: Reusable, H: PoolHandle<T>> Drop for Guard<T, H> {
    #[inline]
    fn drop(&mut self) {
        let object = self.object();
        // Hands the slot back when dropped: after the reset, or while unwinding from a reset
        // (user code) that panicked, so the pool never loses the slot. The object then goes
        // back in whatever state the panic left it (a valid `T`).
        let back = GiveBack {
            value: &mut self.value,
            home: &self.home,
            index: self.index,
            hint: self.hint,
            _object: PhantomData,
        };
        match back.home.reset_policy() {
            ResetPolicy::Keep => {}
            // SAFETY: as in `deref_mut`: `&mut self`, and `back` does not touch the object.
            ResetPolicy::Clear => unsafe { (*object).clear() },
            // SAFETY: as for `Clear`.
            ResetPolicy::Zero => unsafe { (*object).zero() },
        }
        drop(back);
    }
}

/// The end of a [`Guard`]: ends its access to the object, then hands the slot back.
struct GiveBack<'g, T: Reusable, H: PoolHandle<T>> {
    value: &'g mut ManuallyDrop<MutPtr<MaybeUninit<T>>>,
    home: &'g H,
    index: usize,
    hint: u64,
    _object: PhantomData<T>,
}

impl<T: Reusable, H: PoolHandle<T>> Drop for GiveBack<'_, T, H> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: made only in `Guard::drop`: the guard's `value` is not used again, and the
        // slot is handed back just below.
        unsafe { ManuallyDrop::drop(self.value) };
        self.home.give_back(self.index, self.hint);
    }
}

impl<T: Reusable + fmt::Debug, H: PoolHandle<T>> fmt::Debug for Guard<T, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Guard").field(&**self).finish()
    }
}
