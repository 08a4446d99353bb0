//! [`PoolCache`]: one thread's private stock of a [`Pool`]'s objects, so the hot loop acquires
//! and releases with no atomic read-modify-write at all.
//!
//! A shared lock-free pool pays one compare-exchange to acquire and one to release: the floor
//! for objects that any thread may take. A thread that acquires and releases in a loop can do
//! better, as thread-caching allocators do: keep a small stack of free slot indices of its own,
//! refill it from the pool half a stack at a time (one compare-exchange for the whole chain) and
//! flush half back when it overflows. Acquire and release then touch only the cache.

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;

use crate::pool::{Guard, NO_HINT, Pool, PoolError, PoolHandle, Reusable, sealed};
use crate::sync::Ordering;

/// Counters of one [`PoolCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Acquisitions served from the cache's own stock.
    pub hits: u64,
    /// Acquisitions the cache could not serve from its stock nor by a refill (handed to the
    /// pool's miss policy).
    pub misses: u64,
    /// Refills from the pool (each one compare-exchange).
    pub refills: u64,
    /// Flushes to the pool (each one compare-exchange).
    pub flushes: u64,
    /// Objects idle in the cache now.
    pub idle: usize,
    /// Objects lent to the cache's guards now.
    pub lent: usize,
}

/// How a [`PoolCache`] reaches its pool: `&Pool<T>` or `Arc<Pool<T>>`.
///
/// Sealed: the cache keeps slot indices of the pool it dereferences to and trusts every
/// `deref` to reach the same pool, which an arbitrary `Deref` need not do (one alternating
/// between two pools would hand out two guards to one object). Only this crate implements it,
/// for the two types whose `deref` is fixed:
///
/// ```compile_fail
/// use std::cell::Cell;
/// use std::ops::Deref;
/// use zerotick_mem::{AlignedBuf, MissPolicy, Pool, PoolCache, ResetPolicy};
///
/// type Buf = AlignedBuf<f64>;
/// struct Flip<'p>(&'p Pool<Buf>, &'p Pool<Buf>, Cell<bool>);
/// impl Deref for Flip<'_> {
///     type Target = Pool<Buf>;
///     fn deref(&self) -> &Pool<Buf> {
///         self.2.set(!self.2.get());
///         if self.2.get() { self.0 } else { self.1 }
///     }
/// }
/// let new = || Pool::new(2, MissPolicy::FailFast, ResetPolicy::Keep, || Buf::with_capacity(1)).unwrap();
/// let (a, b) = (new(), new());
/// let cache = PoolCache::new(Flip(&a, &b, Cell::new(false)), 2).unwrap(); // refused
/// let _g = cache.acquire();
/// ```
pub trait PoolRef<T: Reusable>: Deref<Target = Pool<T>> + sealed::Sealed {}

impl<T: Reusable> PoolRef<T> for &Pool<T> {}
impl<T: Reusable> PoolRef<T> for std::sync::Arc<Pool<T>> {}

// The loom models share the pool through loom's `Arc` (its `deref` is as fixed as std's).
#[cfg(loom)]
impl<T: Reusable> sealed::Sealed for loom::sync::Arc<Pool<T>> {}
#[cfg(loom)]
impl<T: Reusable> PoolRef<T> for loom::sync::Arc<Pool<T>> {}

/// A per-thread cache of a [`Pool`]'s objects.
///
/// * `acquire` and guard drop touch only this cache while it has stock and room: no atomic
///   read-modify-write, no allocation. Every `capacity / 2` misses or overflows cost one
///   compare-exchange on the pool (a chain of slots moves at once).
/// * Not `Sync`, and its guards are not `Send`: an object acquired here returns here. To hand
///   an object to another thread, take it from the pool with
///   [`Pool::acquire_owned`](crate::Pool::acquire_owned) instead.
/// * Objects idle in a cache are unavailable to other threads until flushed: size the cache
///   small next to the pool. Dropping the cache returns them all.
/// * `R` reaches the pool: `&Pool<T>` or `Arc<Pool<T>>` ([`PoolRef`], sealed).
///
/// ```
/// use zerotick_mem::{AlignedBuf, MissPolicy, Pool, PoolCache, ResetPolicy};
///
/// let pool = Pool::new(64, MissPolicy::FailFast, ResetPolicy::Clear, || AlignedBuf::<f64>::with_capacity(1024))?;
/// let cache = PoolCache::new(&pool, 8)?; // holds at most 8 idle objects
/// for i in 0..1000 {
///     let mut v = cache.acquire()?; // no atomic RMW after the first refill
///     v.try_push(i as f64).unwrap();
/// }
/// assert_eq!(cache.stats().refills, 1);
/// drop(cache); // idle objects go back to the pool
/// let s = pool.stats();
/// assert_eq!((s.hits, s.in_use, s.cached), (1000, 0, 0));
/// # Ok::<(), zerotick_mem::PoolError>(())
/// ```
pub struct PoolCache<T: Reusable, R: PoolRef<T>> {
    pool: R,
    /// The pool's reset policy, copied here to save a dependent load on every release.
    reset: crate::ResetPolicy,
    /// Free slot indices held by this cache, most recently returned last. Invariant:
    /// `idle[..len]` are distinct slots of `pool`, popped from its free stack (or grown) for
    /// this cache, and lent to no guard.
    idle: Box<[Cell<usize>]>,
    len: Cell<usize>,
    /// Objects this cache has handed to guards, ever: the one counter on the hot path (the
    /// number lent is derived from it and the cold counters in `moved`).
    acquired: Cell<u64>,
    /// Objects moved `(in from the pool, out to the pool)` by refills and flushes, ever.
    moved: Cell<(u64, u64)>,
    /// Acquisitions served by the pool building a new object (misses that succeeded).
    grown: Cell<u64>,
    /// Counters of the cold paths; `hits` in it is the count already published to the pool.
    stats: Cell<CacheStats>,
    /// Names `T` for the bound on `R` (changes no auto trait: `R` decides those).
    _objects: PhantomData<fn() -> T>,
}

impl<T: Reusable, R: PoolRef<T>> PoolCache<T, R> {
    /// A cache holding at most `capacity` idle objects of `pool` (it starts empty and refills
    /// on first use).
    ///
    /// # Errors
    /// [`PoolError::CapacityTooLarge`] if `capacity` is 0 or above the pool's maximum size.
    pub fn new(pool: R, capacity: usize) -> Result<Self, PoolError> {
        if capacity == 0 || capacity > Pool::<T>::MAX_CAPACITY {
            return Err(PoolError::CapacityTooLarge {
                requested: capacity,
                max: Pool::<T>::MAX_CAPACITY,
            });
        }
        Ok(Self {
            reset: pool.reset_policy(),
            pool,
            idle: (0..capacity).map(|_| Cell::new(0)).collect(),
            len: Cell::new(0),
            acquired: Cell::new(0),
            moved: Cell::new((0, 0)),
            grown: Cell::new(0),
            stats: Cell::new(CacheStats::default()),
            _objects: PhantomData,
        })
    }

    /// Takes an object from the cache's stock, refilling it from the pool when empty.
    ///
    /// # Errors
    /// [`PoolError::Exhausted`] if the cache and the pool have no free object and the pool
    /// may not grow.
    #[inline]
    pub fn acquire(&self) -> Result<CacheGuard<'_, T, R>, PoolError> {
        let len = self.len.get();
        let index = if len > 0 {
            self.len.set(len - 1);
            self.idle[len - 1].get()
        } else {
            self.refill_and_take()?
        };
        self.acquired.set(self.acquired.get() + 1);
        // SAFETY: `index` left the idle stock (or came fresh from the pool) for this caller
        // alone (field invariant).
        // The cache keeps its own stock: no head hint (`put` is never reached from here).
        Ok(unsafe { Guard::new(self, index, NO_HINT) })
    }

    /// The pool behind the cache.
    pub fn pool(&self) -> &Pool<T> {
        &self.pool
    }

    /// The cache's counters.
    pub fn stats(&self) -> CacheStats {
        let mut s = self.stats.get();
        s.hits = self.hits();
        s.idle = self.len.get();
        // Every object the cache got (refilled or grown) is idle, lent, or flushed back.
        let (moved_in, moved_out) = self.moved.get();
        s.lent = (moved_in + self.grown.get() - moved_out) as usize - s.idle;
        s
    }

    /// Returns every idle object to the pool (one compare-exchange).
    pub fn flush(&self) {
        self.flush_oldest(self.len.get());
        self.publish();
    }

    #[cold]
    #[inline(never)]
    fn refill_and_take(&self) -> Result<usize, PoolError> {
        let want = self.idle.len().div_ceil(2);
        let idle = &self.idle;
        // The chain comes top first; store it reversed so the pool's most recently returned
        // object is handed out first.
        let (got, _) = self
            .pool
            .take_chain(want, |position, index| idle[want - 1 - position].set(index));
        let mut s = self.stats.get();
        if got == 0 {
            s.misses += 1;
            self.stats.set(s);
            let index = self.pool.miss()?;
            self.grown.set(self.grown.get() + 1);
            self.pool.counters.adopted.fetch_add(1, Ordering::Relaxed);
            return Ok(index);
        }
        if got < want {
            // Fewer than asked: move them down to the bottom of the stock.
            for i in 0..got {
                idle[i].set(idle[want - got + i].get());
            }
        }
        s.refills += 1;
        self.stats.set(s);
        let (moved_in, moved_out) = self.moved.get();
        self.moved.set((moved_in + got as u64, moved_out));
        self.pool
            .counters
            .refilled
            .fetch_add(got as u64, Ordering::Relaxed);
        self.publish();
        self.len.set(got - 1);
        Ok(idle[got - 1].get())
    }

    #[inline]
    fn put_back(&self, index: usize) {
        let len = self.len.get();
        if len == self.idle.len() {
            self.overflow(index);
            return;
        }
        self.idle[len].set(index);
        self.len.set(len + 1);
    }

    #[cold]
    #[inline(never)]
    fn overflow(&self, index: usize) {
        self.flush_oldest(self.idle.len().div_ceil(2));
        self.publish();
        self.put_back(index);
    }

    /// Pushes the `n` least recently returned idle objects back onto the pool.
    fn flush_oldest(&self, n: usize) {
        if n == 0 {
            return;
        }
        let idle = &self.idle;
        self.pool.put_chain(n, |position| idle[position].get());
        let len = self.len.get();
        for i in n..len {
            idle[i - n].set(idle[i].get());
        }
        self.len.set(len - n);
        self.pool
            .counters
            .flushed
            .fetch_add(n as u64, Ordering::Relaxed);
        let mut s = self.stats.get();
        s.flushes += 1;
        self.stats.set(s);
        let (moved_in, moved_out) = self.moved.get();
        self.moved.set((moved_in, moved_out + n as u64));
    }

    /// Acquisitions served from stock (a refill's included): all but those the pool's miss
    /// policy served by growing.
    fn hits(&self) -> u64 {
        self.acquired.get() - self.grown.get()
    }

    /// Adds the hits made since the last call to the pool's counters.
    fn publish(&self) {
        let hits = self.hits();
        let mut s = self.stats.get();
        if hits > s.hits {
            self.pool
                .counters
                .cache_hits
                .fetch_add(hits - s.hits, Ordering::Relaxed);
            s.hits = hits;
            self.stats.set(s);
        }
    }
}

impl<T: Reusable, R: PoolRef<T>> Drop for PoolCache<T, R> {
    fn drop(&mut self) {
        // Guards borrow the cache, so none is alive: every object the cache holds is idle.
        self.flush();
    }
}

impl<T: Reusable, R: PoolRef<T>> fmt::Debug for PoolCache<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolCache")
            .field("capacity", &self.idle.len())
            .field("stats", &self.stats())
            .finish()
    }
}

/// A guard from a [`PoolCache`]: returns its object to that cache.
pub type CacheGuard<'c, T, R> = Guard<T, &'c PoolCache<T, R>>;

impl<T: Reusable, R: PoolRef<T>> sealed::Sealed for &PoolCache<T, R> {}
impl<T: Reusable, R: PoolRef<T>> PoolHandle<T> for &PoolCache<T, R> {
    #[inline]
    fn pool(&self) -> &Pool<T> {
        &self.pool
    }
    #[inline]
    fn give_back(&self, index: usize, _hint: u64) {
        PoolCache::put_back(self, index);
    }
    #[inline]
    fn reset_policy(&self) -> crate::ResetPolicy {
        self.reset
    }
}
