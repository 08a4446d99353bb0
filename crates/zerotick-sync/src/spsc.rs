//! A bounded, wait-free single-producer single-consumer ring with split handles.
//!
//! * [`channel`] allocates the ring once; nothing allocates afterwards.
//! * [`Producer::push`] and [`Consumer::pop`] are wait-free: a bounded number of steps, no
//!   locks, no compare-exchange loops. A full ring hands the value back
//!   ([`PushError::Full`]), an empty one says so ([`PopError::Empty`]).
//! * Batches: [`Producer::push_slice`], [`Producer::push_iter`], [`Consumer::pop_into`], and
//!   zero-copy chunks over the contiguous free or filled regions
//!   ([`Producer::write_chunk_uninit`], [`Consumer::read_chunk`]): one index publication per
//!   batch.
//! * Blocking: [`Producer::push_wait`], [`Consumer::pop_wait`] with a
//!   [`WaitStrategy`]; [`Producer::close`] (or [`Consumer::close`], or dropping a handle) ends
//!   the stream: `pop` returns [`PopError::Closed`] once the ring is closed *and* drained.
//!
//! # Capacity
//! Exact: a ring of capacity 5 holds 5 items. Storage is rounded up to a power of two (so
//! positions map to slots with a mask, not a division), the count is limited to `capacity`.
//!
//! # Structure
//! `head` and `tail` are free-running positions (wrapping `usize`), each on its own cache line
//! and written by one side only. Each handle keeps its own index in a plain field and a cached
//! copy of the other side's: the producer reads the shared `tail` only when its cached copy
//! says the ring is full, the consumer reads `head` only when its copy says empty.
//!
//! ```
//! use zerotick_sync::spsc::{self, PopError, PushError};
//!
//! let (mut tx, mut rx) = spsc::channel::<String>(2)?;
//! tx.push("a".into()).unwrap();
//! tx.push("b".into()).unwrap();
//! assert_eq!(tx.push("c".into()), Err(PushError::Full("c".into()))); // value handed back
//! assert_eq!(rx.pop().as_deref(), Ok("a"));
//! drop(tx); // closes the ring; what was pushed can still be popped
//! assert!(rx.is_abandoned());
//! assert_eq!(rx.pop().as_deref(), Ok("b"));
//! assert_eq!(rx.pop(), Err(PopError::Closed));
//! # Ok::<(), spsc::CapacityError>(())
//! ```

use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicUsize, Ordering};
use crate::wait::{Backoff, WaitStrategy, Waiters};

mod chunk;
mod error;
pub use chunk::{ReadChunk, WriteChunkUninit};
pub use error::{CapacityError, ClosedError, PopError, PushError};

// ---------------------------------------------------------------------------------------------
// Storage (shared with `mpmc`'s capacity checks)

/// The largest ring capacity for items of type `T`: positions must stay far from wrapping
/// ambiguity (`2^(BITS-2)`), and the power-of-two storage must fit in `isize::MAX` bytes.
pub(crate) fn max_capacity<T>() -> usize {
    let by_index = 1usize << (usize::BITS - 2);
    match size_of::<T>() {
        0 => by_index,
        size => {
            // Largest power of two whose byte size fits in isize::MAX.
            let fit = isize::MAX as usize / size;
            let pow2 = if fit == 0 {
                0
            } else {
                1usize << (usize::BITS - 1 - fit.leading_zeros())
            };
            by_index.min(pow2)
        }
    }
}

/// Checks `capacity` and returns the power-of-two storage length for it.
pub(crate) fn storage_len<T>(capacity: usize) -> Result<usize, CapacityError> {
    let max = max_capacity::<T>();
    if capacity == 0 {
        return Err(CapacityError::Zero);
    }
    if capacity > max {
        return Err(CapacityError::TooLarge {
            requested: capacity,
            max,
        });
    }
    Ok(capacity.next_power_of_two())
}

/// A fixed array of possibly-uninitialised slots addressed through a raw pointer, so slices of
/// it can be lent out (chunks). Under loom a parallel array of cells lets the model checker
/// track every slot access and report unsynchronised ones.
struct Buffer<T> {
    /// `len` slots, allocated once. Which are initialised is the ring's business.
    ptr: NonNull<MaybeUninit<T>>,
    /// A power of two.
    len: usize,
    #[cfg(loom)]
    shadow: Box<[crate::sync::UnsafeCell<()>]>,
}

impl<T> Buffer<T> {
    fn new(len: usize) -> Result<Self, CapacityError> {
        debug_assert!(len.is_power_of_two());
        let mut v: Vec<MaybeUninit<T>> = Vec::new();
        v.try_reserve_exact(len)
            .map_err(|_| CapacityError::AllocFailed {
                bytes: len.saturating_mul(size_of::<T>()),
            })?;
        // SAFETY: capacity is at least `len` (reserved above) and `MaybeUninit` needs no
        // initialisation.
        unsafe { v.set_len(len) };
        let raw = Box::into_raw(v.into_boxed_slice());
        Ok(Self {
            // SAFETY: `Box::into_raw` never returns null.
            ptr: unsafe { NonNull::new_unchecked(raw.cast::<MaybeUninit<T>>()) },
            len,
            #[cfg(loom)]
            shadow: (0..len).map(|_| crate::sync::UnsafeCell::new(())).collect(),
        })
    }

    /// Pointer to slot `i`.
    ///
    /// # Safety
    /// `i < self.len`.
    #[inline(always)]
    unsafe fn slot(&self, i: usize) -> *mut MaybeUninit<T> {
        debug_assert!(i < self.len);
        // SAFETY: `i < len` (caller), so the offset stays inside the allocation.
        unsafe { self.ptr.as_ptr().add(i) }
    }

    /// Tells loom that slots `i .. i + n` are written now (no-op outside loom).
    #[inline(always)]
    fn track_write(&self, _i: usize, _n: usize) {
        #[cfg(loom)]
        for k in _i.._i + _n {
            self.shadow[k].with_mut(|_| ());
        }
    }

    /// Tells loom that slots `i .. i + n` are read now (no-op outside loom).
    #[inline(always)]
    fn track_read(&self, _i: usize, _n: usize) {
        #[cfg(loom)]
        for k in _i.._i + _n {
            self.shadow[k].with(|_| ());
        }
    }
}

impl<T> Drop for Buffer<T> {
    fn drop(&mut self) {
        let slice = core::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
        // SAFETY: `ptr`/`len` came from `Box::into_raw` of a boxed slice of exactly `len`
        // `MaybeUninit<T>` in `new`; dropping it frees the storage without touching items.
        drop(unsafe { Box::from_raw(slice) });
    }
}

// ---------------------------------------------------------------------------------------------
// The ring

const CLOSED: usize = 1;
const PRODUCER_ALIVE: usize = 2;
const CONSUMER_ALIVE: usize = 4;

/// Everything both handles touch. Freed by whichever handle is dropped last.
struct Shared<T> {
    /// Next position the producer writes; stored (Release) only by the producer. Invariant:
    /// `head - tail <= capacity` (wrapping), and slots `tail .. head` hold initialised items.
    head: CachePadded<AtomicUsize>,
    /// Next position the consumer reads; stored (Release) only by the consumer.
    tail: CachePadded<AtomicUsize>,
    /// Read-mostly control words, written only by `close`, handle drops and parking threads.
    ctl: CachePadded<Control>,
    buffer: Buffer<T>,
}

struct Control {
    /// `CLOSED | PRODUCER_ALIVE | CONSUMER_ALIVE`. Each handle clears its own `*_ALIVE` bit
    /// when dropped; the one that clears the last frees the ring.
    state: AtomicUsize,
    /// The consumer, when parked in `pop_wait`.
    consumer: Waiters<1>,
    /// The producer, when parked in `push_wait`.
    producer: Waiters<1>,
    /// Free slots the parked producer waits for (1 for `push_wait`, more for
    /// [`Producer::push_wait_refill`]): the consumer wakes it only once that many are free.
    /// Written only by the producer, before it registers as a waiter.
    producer_wants: AtomicUsize,
}

/// Builds a ring holding exactly `capacity` items and returns its two handles.
///
/// # Errors
/// [`CapacityError::Zero`] for 0; [`CapacityError::TooLarge`] above what can be indexed or
/// allocated for `T`; [`CapacityError::AllocFailed`] if the allocator refuses.
pub fn channel<T>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), CapacityError> {
    channel_at(capacity, 0)
}

/// As [`channel`], with both positions starting at `start` (tests drive index wraparound
/// with a start near `usize::MAX`).
fn channel_at<T>(
    capacity: usize,
    start: usize,
) -> Result<(Producer<T>, Consumer<T>), CapacityError> {
    let len = storage_len::<T>(capacity)?;
    let shared = Box::new(Shared {
        head: CachePadded::new(AtomicUsize::new(start)),
        tail: CachePadded::new(AtomicUsize::new(start)),
        ctl: CachePadded::new(Control {
            state: AtomicUsize::new(PRODUCER_ALIVE | CONSUMER_ALIVE),
            consumer: Waiters::new(),
            producer: Waiters::new(),
            producer_wants: AtomicUsize::new(1),
        }),
        buffer: Buffer::new(len)?,
    });
    let buf = shared.buffer.ptr;
    // SAFETY: `Box::into_raw` never returns null.
    let shared = unsafe { NonNull::new_unchecked(Box::into_raw(shared)) };
    let producer = Producer {
        shared,
        buf,
        head: start,
        cached_tail: start,
        capacity,
        mask: len - 1,
        _owns: PhantomData,
    };
    let consumer = Consumer {
        shared,
        buf,
        tail: start,
        cached_head: start,
        capacity,
        mask: len - 1,
        _owns: PhantomData,
    };
    Ok((producer, consumer))
}

/// The writing half of an [`spsc`](self) ring. `Send` (for `T: Send`), not `Clone`.
pub struct Producer<T> {
    /// The ring; alive while this handle's `PRODUCER_ALIVE` bit is set.
    shared: NonNull<Shared<T>>,
    /// `shared.buffer.ptr`, copied so a push needs no extra indirection.
    buf: NonNull<MaybeUninit<T>>,
    /// Our own position: equal to `shared.head` (only we store it).
    head: usize,
    /// The consumer's position as last read. Invariant: `head - cached_tail <= capacity` and it
    /// lags the real `tail` (positions only grow), so the free space it implies is a lower
    /// bound.
    cached_tail: usize,
    capacity: usize,
    mask: usize,
    _owns: PhantomData<T>,
}

/// The reading half of an [`spsc`](self) ring. `Send` (for `T: Send`), not `Clone`.
pub struct Consumer<T> {
    /// The ring; alive while this handle's `CONSUMER_ALIVE` bit is set.
    shared: NonNull<Shared<T>>,
    /// `shared.buffer.ptr`, copied so a pop needs no extra indirection.
    buf: NonNull<MaybeUninit<T>>,
    /// Our own position: equal to `shared.tail` (only we store it).
    tail: usize,
    /// The producer's position as last read. Invariant: it lags the real `head`, so the item
    /// count it implies (`cached_head - tail`) is a lower bound.
    cached_head: usize,
    capacity: usize,
    mask: usize,
    _owns: PhantomData<T>,
}

// SAFETY: a handle is the only accessor of its side's slots and positions; moving it to
// another thread moves `T` values across (`T: Send`). The shared words are atomics.
unsafe impl<T: Send> Send for Producer<T> {}
// SAFETY: as for `Producer`.
unsafe impl<T: Send> Send for Consumer<T> {}

impl<T> Producer<T> {
    #[inline(always)]
    fn shared(&self) -> &Shared<T> {
        // SAFETY: our `PRODUCER_ALIVE` bit keeps the ring allocated while `self` exists.
        unsafe { self.shared.as_ref() }
    }

    /// Pushes `value`, or hands it back if the ring is full or closed. Wait-free.
    ///
    /// # Errors
    /// [`PushError::Full`] if the ring holds `capacity` items; [`PushError::Closed`] after
    /// `close` on either side or once the consumer is dropped.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        if self.shared().ctl.state.load(Ordering::Relaxed) & CLOSED != 0 {
            return Err(PushError::Closed(value));
        }
        if self.head.wrapping_sub(self.cached_tail) == self.capacity && self.refresh_free() == 0 {
            return Err(PushError::Full(value));
        }
        let i = self.head & self.mask;
        self.shared().buffer.track_write(i, 1);
        // SAFETY: `i <= mask < len`; the slot is free (`head - tail < capacity`, and the
        // consumer's Release store of `tail`, read by our Acquire load in `refresh_free`,
        // ended its last read of it), and only the producer writes slots.
        unsafe { self.buf.as_ptr().add(i).write(MaybeUninit::new(value)) };
        self.head = self.head.wrapping_add(1);
        let shared = self.shared();
        // Release: publishes the item; pairs with the consumer's Acquire load of `head`.
        shared.head.store(self.head, Ordering::Release);
        shared.ctl.consumer.wake_one();
        Ok(())
    }

    /// Re-reads the consumer's position; returns the free slots.
    #[cold]
    #[inline(never)]
    fn refresh_free(&mut self) -> usize {
        // Acquire: pairs with the consumer's Release store of `tail`, so its reads of the
        // slots it freed happen before we overwrite them.
        self.cached_tail = self.shared().tail.load(Ordering::Acquire);
        debug_assert!(self.head.wrapping_sub(self.cached_tail) <= self.capacity);
        self.capacity - self.head.wrapping_sub(self.cached_tail)
    }

    /// Free slots, refreshed from the consumer only if the cached view shows fewer than `n`.
    #[inline]
    fn free_at_least(&mut self, n: usize) -> usize {
        let free = self.capacity - self.head.wrapping_sub(self.cached_tail);
        if free >= n { free } else { self.refresh_free() }
    }

    /// Lends the free slots, up to `n`, as at most two contiguous regions to write in place.
    /// Nothing is published until [`WriteChunkUninit::commit`] (or
    /// [`fill_from_iter`](WriteChunkUninit::fill_from_iter)); dropping the chunk publishes
    /// nothing. The chunk may be shorter than `n` (down to empty, if the ring is full).
    ///
    /// ```
    /// use zerotick_sync::spsc;
    /// let (mut tx, mut rx) = spsc::channel::<u32>(8)?;
    /// let mut chunk = tx.write_chunk_uninit(3).unwrap();
    /// let (a, b) = chunk.as_mut_slices();
    /// for (k, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
    ///     slot.write(k as u32 * 10);
    /// }
    /// // SAFETY: all 3 slots were just initialised.
    /// unsafe { chunk.commit(3) };
    /// let mut out = [0; 4];
    /// assert_eq!(rx.pop_into(&mut out), Ok(3));
    /// assert_eq!(out[..3], [0, 10, 20]);
    /// # Ok::<(), spsc::CapacityError>(())
    /// ```
    ///
    /// # Errors
    /// [`ClosedError`] if the ring is closed.
    #[inline]
    pub fn write_chunk_uninit(&mut self, n: usize) -> Result<WriteChunkUninit<'_, T>, ClosedError> {
        if self.shared().ctl.state.load(Ordering::Relaxed) & CLOSED != 0 {
            return Err(ClosedError);
        }
        let len = n.min(self.free_at_least(n));
        let start = self.head;
        self.shared()
            .buffer
            .track_write(start & self.mask, self.first_run(start, len));
        self.shared()
            .buffer
            .track_write(0, len - self.first_run(start, len));
        Ok(WriteChunkUninit {
            producer: self,
            start,
            len,
        })
    }

    /// Length of the first contiguous run of `len` slots from position `pos`.
    #[inline(always)]
    fn first_run(&self, pos: usize, len: usize) -> usize {
        len.min(self.mask + 1 - (pos & self.mask))
    }

    /// Publishes `n` slots written from `head` on.
    #[inline]
    fn publish(&mut self, n: usize) {
        debug_assert!(self.head.wrapping_add(n).wrapping_sub(self.cached_tail) <= self.capacity);
        self.head = self.head.wrapping_add(n);
        // Release: publishes the items; pairs with the consumer's Acquire load of `head`.
        self.shared().head.store(self.head, Ordering::Release);
        self.shared().ctl.consumer.wake_one();
    }

    /// Pushes as many of `items` as fit, in order, with one publication; returns how many.
    ///
    /// # Errors
    /// [`ClosedError`] if the ring is closed (nothing is pushed).
    #[inline]
    pub fn push_slice(&mut self, items: &[T]) -> Result<usize, ClosedError>
    where
        T: Copy,
    {
        let mut chunk = self.write_chunk_uninit(items.len())?;
        let n = chunk.len();
        let (a, b) = chunk.as_mut_slices();
        let (first, second) = items[..n].split_at(a.len());
        copy_into(a, first);
        copy_into(b, second);
        // SAFETY: the `n = a.len() + b.len()` slots were all written just above.
        unsafe { chunk.commit(n) };
        Ok(n)
    }

    /// Pushes items from `iter` until the ring is full or the iterator ends, with one
    /// publication; returns how many were pushed. Items the ring had no room for stay in the
    /// iterator (it is not advanced past the last one pushed).
    ///
    /// # Errors
    /// [`ClosedError`] if the ring is closed (the iterator is not touched).
    pub fn push_iter(&mut self, iter: impl IntoIterator<Item = T>) -> Result<usize, ClosedError> {
        let free = self.free_at_least(usize::MAX);
        Ok(self.write_chunk_uninit(free)?.fill_from_iter(iter))
    }

    /// Pushes `value`, waiting per `strategy` while the ring is full.
    ///
    /// # Errors
    /// [`PushError::Closed`] if the ring is or becomes closed (never `Full`).
    pub fn push_wait(&mut self, value: T, strategy: WaitStrategy) -> Result<(), PushError<T>> {
        self.push_wait_refill(value, strategy, 1)
    }

    /// As [`push_wait`](Self::push_wait), with hysteresis: when the ring is full, waits until
    /// at least `free` slots are free (clamped to `1..=capacity`) before pushing again.
    ///
    /// A producer that outruns its consumer otherwise waits for one slot at a time: it
    /// re-reads the consumer's position on every push (the cache line holding it moves
    /// between the two cores on every item), and a parked producer is woken once per item
    /// consumed. Waiting for a refill of `free` slots makes that once per `free` items; the
    /// consumer checks the wanted count before it pays for a wake-up. Use it only when the
    /// consumer drains the ring by itself (it must not wait on this producer while fewer
    /// than `free` slots are free), as a pipeline stage's consumer does.
    ///
    /// ```
    /// use zerotick_sync::spsc;
    /// use zerotick_sync::wait::WaitStrategy;
    /// let (mut tx, mut rx) = spsc::channel::<u32>(8)?;
    /// let t = std::thread::spawn(move || {
    ///     for i in 0..1000 {
    ///         tx.push_wait_refill(i, WaitStrategy::default(), 4).unwrap();
    ///     }
    /// });
    /// let mut sum = 0;
    /// while let Ok(v) = rx.pop_wait(WaitStrategy::default()) {
    ///     sum += v;
    /// }
    /// t.join().unwrap();
    /// assert_eq!(sum, 999 * 1000 / 2);
    /// # Ok::<(), spsc::CapacityError>(())
    /// ```
    ///
    /// # Errors
    /// [`PushError::Closed`] if the ring is or becomes closed (never `Full`).
    pub fn push_wait_refill(
        &mut self,
        value: T,
        strategy: WaitStrategy,
        free: usize,
    ) -> Result<(), PushError<T>> {
        let value = match self.push(value) {
            Err(PushError::Full(v)) => v,
            done => return done,
        };
        self.wait_for_room(value, strategy, free.clamp(1, self.capacity))
    }

    #[cold]
    #[inline(never)]
    fn wait_for_room(
        &mut self,
        mut value: T,
        strategy: WaitStrategy,
        want: usize,
    ) -> Result<(), PushError<T>> {
        // Relaxed: only a hint to the consumer's wake-up; a stale value costs one early or
        // one late (timed-out) wake-up, never a lost item.
        self.shared()
            .ctl
            .producer_wants
            .store(want, Ordering::Relaxed);
        let mut backoff = Backoff::new(strategy);
        loop {
            let shared = self.shared();
            let (head, capacity) = (self.head, self.capacity);
            let room = || {
                // Acquire: pairs with the consumer's Release store of `tail` / the Release
                // RMW of `close`.
                capacity - head.wrapping_sub(shared.tail.load(Ordering::Acquire)) >= want
                    || shared.ctl.state.load(Ordering::Acquire) & CLOSED != 0
            };
            if !room() {
                backoff.wait(&shared.ctl.producer, room);
                continue;
            }
            value = match self.push(value) {
                Err(PushError::Full(v)) => v,
                done => return done,
            };
        }
    }

    /// Closes the ring: later pushes fail with `Closed`; the consumer drains what is in it,
    /// then gets [`PopError::Closed`]. Wakes a parked consumer. Idempotent.
    pub fn close(&self) {
        close(self.shared());
    }

    /// Whether the ring is closed (by either side or a dropped handle).
    pub fn is_closed(&self) -> bool {
        self.shared().ctl.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Whether the consumer has been dropped: nothing pushed will ever be read.
    pub fn is_abandoned(&self) -> bool {
        // Acquire: pairs with the AcqRel `fetch_and` in `Consumer::drop`.
        self.shared().ctl.state.load(Ordering::Acquire) & CONSUMER_ALIVE == 0
    }

    /// Free slots right now (a lower bound once returned: the consumer may free more).
    pub fn slots(&mut self) -> usize {
        self.refresh_free()
    }

    /// The exact number of items the ring holds when full.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<T> Consumer<T> {
    #[inline(always)]
    fn shared(&self) -> &Shared<T> {
        // SAFETY: our `CONSUMER_ALIVE` bit keeps the ring allocated while `self` exists.
        unsafe { self.shared.as_ref() }
    }

    /// Pops the oldest item. Wait-free.
    ///
    /// # Errors
    /// [`PopError::Empty`] if there is nothing yet; [`PopError::Closed`] once the ring is
    /// closed and everything pushed before the close has been popped.
    #[inline]
    pub fn pop(&mut self) -> Result<T, PopError> {
        if self.cached_head == self.tail && self.refresh_filled() == 0 {
            return Err(self.empty_or_closed());
        }
        let i = self.tail & self.mask;
        self.shared().buffer.track_read(i, 1);
        // SAFETY: `i < len`; `tail < head`, so the slot holds an item, published by the
        // producer's Release store of `head` that our Acquire load in `refresh_filled` read;
        // moving it out is fine because advancing `tail` below gives the slot back.
        let value = unsafe { self.buf.as_ptr().add(i).read().assume_init() };
        self.tail = self.tail.wrapping_add(1);
        let shared = self.shared();
        // Release: ends our read of the slot before the producer reuses it; pairs with its
        // Acquire load of `tail`.
        shared.tail.store(self.tail, Ordering::Release);
        self.wake_producer();
        Ok(value)
    }

    /// Wakes a parked producer once as many slots are free as it waits for.
    #[inline(always)]
    pub(crate) fn wake_producer(&self) {
        let ctl = &self.shared().ctl;
        if ctl.producer.is_waiting() {
            self.wake_producer_if_room();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_producer_if_room(&self) {
        let shared = self.shared();
        // Relaxed: the wanted count is a hint (see `Producer::wait_for_room`); the head read
        // only sizes the free space (a stale, lower head overstates it: an early wake-up,
        // after which the producer checks again).
        let want = shared.ctl.producer_wants.load(Ordering::Relaxed);
        let filled = shared.head.load(Ordering::Relaxed).wrapping_sub(self.tail);
        if self.capacity.saturating_sub(filled) >= want {
            shared.ctl.producer.wake_one();
        }
    }

    /// Re-reads the producer's position; returns the filled slots.
    #[cold]
    #[inline(never)]
    fn refresh_filled(&mut self) -> usize {
        // Acquire: pairs with the producer's Release store of `head`: the items below it are
        // initialised and visible.
        self.cached_head = self.shared().head.load(Ordering::Acquire);
        debug_assert!(self.cached_head.wrapping_sub(self.tail) <= self.capacity);
        self.cached_head.wrapping_sub(self.tail)
    }

    /// Filled slots, refreshed from the producer only if the cached view shows fewer than `n`.
    #[inline]
    fn filled_at_least(&mut self, n: usize) -> usize {
        let filled = self.cached_head.wrapping_sub(self.tail);
        if filled >= n {
            filled
        } else {
            self.refresh_filled()
        }
    }

    #[cold]
    #[inline(never)]
    fn empty_or_closed(&mut self) -> PopError {
        // Acquire: pairs with the Release RMW in `close`: every push before the close (in the
        // producer's program order) is then visible in the `head` read below.
        if self.shared().ctl.state.load(Ordering::Acquire) & CLOSED != 0
            && self.refresh_filled() == 0
        {
            PopError::Closed
        } else {
            PopError::Empty
        }
    }

    /// Lends the filled slots, up to `n`, as at most two contiguous regions, oldest first.
    /// [`ReadChunk::commit`] consumes (drops) a prefix of them; dropping the chunk consumes
    /// nothing.
    ///
    /// ```
    /// use zerotick_sync::spsc;
    /// let (mut tx, mut rx) = spsc::channel::<u8>(4)?;
    /// tx.push_slice(b"abc").unwrap();
    /// let chunk = rx.read_chunk(8).unwrap();
    /// let (a, b) = chunk.as_slices();
    /// assert_eq!([a, b].concat(), b"abc");
    /// chunk.commit(2);
    /// assert_eq!(rx.pop(), Ok(b'c'));
    /// # Ok::<(), spsc::CapacityError>(())
    /// ```
    ///
    /// # Errors
    /// [`ClosedError`] if the ring is closed and drained.
    #[inline]
    pub fn read_chunk(&mut self, n: usize) -> Result<ReadChunk<'_, T>, ClosedError> {
        let mut len = n.min(self.filled_at_least(n));
        if len == 0 && n > 0 {
            if self.empty_or_closed() == PopError::Closed {
                return Err(ClosedError);
            }
            len = n.min(self.cached_head.wrapping_sub(self.tail));
        }
        let start = self.tail;
        let first = len.min(self.mask + 1 - (start & self.mask));
        self.shared().buffer.track_read(start & self.mask, first);
        self.shared().buffer.track_read(0, len - first);
        Ok(ReadChunk {
            consumer: self,
            start,
            len,
        })
    }

    /// Moves up to `dst.len()` items into `dst` (oldest first, overwriting and dropping what
    /// was there) with one index publication; returns how many.
    ///
    /// # Errors
    /// [`ClosedError`] if the ring is closed and drained (and `dst` is not empty).
    #[inline]
    pub fn pop_into(&mut self, dst: &mut [T]) -> Result<usize, ClosedError> {
        let chunk = self.read_chunk(dst.len())?;
        let n = chunk.len;
        // `moved` gives back every slot whose item has left the ring, also when dropping an
        // old value of `dst` panics part-way.
        let (mut moved, (a, na, b, _)) = chunk.into_consumed();
        let (first, second) = dst[..n].split_at_mut(na.min(n));
        // SAFETY: the runs `a .. a + first.len()` and `b .. b + second.len()` are the lent
        // filled slots, in order (`first.len() = min(na, n)`, `n <= len` of the chunk).
        unsafe {
            move_into(first, a, &mut moved.done);
            move_into(second, b, &mut moved.done);
        }
        Ok(n)
    }

    /// Pops the oldest item, waiting per `strategy` while the ring is empty.
    ///
    /// # Errors
    /// [`PopError::Closed`] once the ring is closed and drained (never `Empty`).
    pub fn pop_wait(&mut self, strategy: WaitStrategy) -> Result<T, PopError> {
        self.pop_waiting(strategy, None)
    }

    /// As [`pop_wait`](Self::pop_wait), but gives up at `deadline`: then
    /// [`PopError::Empty`]. The deadline holds within one wait step (at most the strategy's
    /// park timeout past it).
    ///
    /// # Errors
    /// [`PopError::Closed`] once the ring is closed and drained; [`PopError::Empty`] if the
    /// deadline passed first.
    pub fn pop_wait_until(
        &mut self,
        strategy: WaitStrategy,
        deadline: std::time::Instant,
    ) -> Result<T, PopError> {
        self.pop_waiting(strategy, Some(deadline))
    }

    fn pop_waiting(
        &mut self,
        strategy: WaitStrategy,
        deadline: Option<std::time::Instant>,
    ) -> Result<T, PopError> {
        match self.pop() {
            Err(PopError::Empty) => {}
            done => return done,
        }
        let mut backoff = Backoff::new(strategy);
        loop {
            let shared = self.shared();
            let tail = self.tail;
            backoff.wait(&shared.ctl.consumer, || {
                // Acquire: pairs with the producer's Release store of `head` / the Release
                // RMW of `close`.
                shared.head.load(Ordering::Acquire) != tail
                    || shared.ctl.state.load(Ordering::Acquire) & CLOSED != 0
            });
            match self.pop() {
                Err(PopError::Empty) if deadline.is_none_or(|d| std::time::Instant::now() < d) => {}
                done => return done,
            }
        }
    }

    /// Closes the ring from the reading side: the producer's pushes fail with `Closed`; items
    /// already pushed can still be popped. Wakes a parked producer. Idempotent.
    pub fn close(&self) {
        close(self.shared());
    }

    /// Whether the ring is closed (by either side or a dropped handle).
    pub fn is_closed(&self) -> bool {
        self.shared().ctl.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Whether the producer has been dropped: nothing more will arrive.
    pub fn is_abandoned(&self) -> bool {
        // Acquire: pairs with the AcqRel `fetch_and` in `Producer::drop`.
        self.shared().ctl.state.load(Ordering::Acquire) & PRODUCER_ALIVE == 0
    }

    /// Items in the ring right now (a lower bound once returned: the producer may add more).
    pub fn len(&mut self) -> usize {
        self.refresh_filled()
    }

    /// Whether the ring is empty right now.
    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// The exact number of items the ring holds when full.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[inline]
fn copy_into<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        d.write(*s);
    }
}

/// Moves the items of the run at `src` into `dst`, dropping `dst`'s old values; counts each
/// item in `*done` as it leaves its slot, before the old value's `Drop` can run.
///
/// # Safety
/// `src .. src + dst.len()` are filled slots lent to the caller, and every slot counted in
/// `*done` is given back to the producer without being read again.
#[inline]
unsafe fn move_into<T>(dst: &mut [T], src: *mut MaybeUninit<T>, done: &mut usize) {
    for (k, d) in dst.iter_mut().enumerate() {
        // SAFETY: slot `k` of the run is filled (caller); it is read once, then counted in
        // `done` so it is released rather than read or dropped again.
        let v = unsafe { src.add(k).read().assume_init() };
        *done += 1;
        // Drops the old value (user code, may panic): `v` is in `dst` or dropped by the
        // unwinding either way, and its slot is already counted as given back.
        *d = v;
    }
}

fn close<T>(shared: &Shared<T>) {
    // SeqCst: a Release RMW (pairs with the Acquire loads of `state` in `empty_or_closed` and
    // the wait re-checks) that is also in the single order with the SeqCst load in
    // `wake_all`, so a thread parking concurrently either sees the close or is woken.
    shared.ctl.state.fetch_or(CLOSED, Ordering::SeqCst);
    shared.ctl.consumer.wake_all();
    shared.ctl.producer.wake_all();
}

/// Closes the ring and clears `alive`; frees the ring if the other handle is already gone.
fn release_handle<T>(ptr: NonNull<Shared<T>>, alive: usize) {
    {
        // SAFETY: our alive bit is still set, so the ring is allocated.
        let shared = unsafe { ptr.as_ref() };
        close(shared);
        // AcqRel: Release publishes our last accesses of the ring to the other handle's drop,
        // Acquire (if we are last) makes its last accesses visible before we free the ring.
        let before = shared.ctl.state.fetch_and(!alive, Ordering::AcqRel);
        if before & (PRODUCER_ALIVE | CONSUMER_ALIVE) != alive {
            return;
        }
    }
    // SAFETY: both alive bits are now clear and ours was the last: no handle refers to the
    // ring; it came from `Box::into_raw` in `channel_at`.
    drop(unsafe { Box::from_raw(ptr.as_ptr()) });
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Relaxed: the AcqRel RMW in `release_handle` already ordered both handles' accesses
        // before this.
        let mut items = Remaining {
            buffer: &self.buffer,
            pos: self.tail.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
        };
        items.drop_all();
    }
}

/// The items still in a ring being freed: positions `pos .. head`. Dropping it drops them, so
/// if one item's `Drop` panics the unwinding still drops the ones after it (as a `Vec` does).
struct Remaining<'a, T> {
    buffer: &'a Buffer<T>,
    /// Next item to drop. Invariant: slots `pos .. head` hold initialised items.
    pos: usize,
    head: usize,
}

impl<T> Remaining<'_, T> {
    fn drop_all(&mut self) {
        let mask = self.buffer.len - 1;
        while self.pos != self.head {
            let i = self.pos & mask;
            // Advanced first: the item is gone once its `Drop` starts, even if that panics.
            self.pos = self.pos.wrapping_add(1);
            self.buffer.track_write(i, 1);
            // SAFETY: slot `i` was in `pos .. head`, so it holds an initialised item (field
            // invariant on `Shared::head`); `pos` has moved past it, so it is dropped once. No
            // handle is left to touch it.
            unsafe { (*self.buffer.slot(i)).assume_init_drop() };
        }
    }
}

impl<T> Drop for Remaining<'_, T> {
    fn drop(&mut self) {
        // Normally a no-op (`drop_all` ran to the end); while unwinding from a panicking item,
        // drops the rest.
        self.drop_all();
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        release_handle(self.shared, PRODUCER_ALIVE);
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        release_handle(self.shared, CONSUMER_ALIVE);
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity)
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn positions_wrap_around_usize_max() {
        for cap in [1, 2, 3, 4, 5] {
            let (mut tx, mut rx) = channel_at::<u64>(cap, usize::MAX - 7).unwrap();
            let mut next_in = 0u64;
            let mut next_out = 0u64;
            for round in 0..40 {
                let k = 1 + round % cap;
                for _ in 0..k {
                    tx.push(next_in).unwrap();
                    next_in += 1;
                }
                if round % 3 == 0 {
                    let mut buf = [0u64; 8];
                    let n = rx.pop_into(&mut buf[..k]).unwrap();
                    for v in &buf[..n] {
                        assert_eq!(*v, next_out);
                        next_out += 1;
                    }
                } else {
                    let chunk = rx.read_chunk(k).unwrap();
                    let (a, b) = chunk.as_slices();
                    for v in a.iter().chain(b) {
                        assert_eq!(*v, next_out);
                        next_out += 1;
                    }
                    chunk.commit_all();
                }
                assert_eq!(rx.pop(), Err(PopError::Empty));
            }
            assert!(tx.head < usize::MAX - 7, "positions wrapped");
        }
    }

    #[test]
    fn max_capacity_fits_the_address_space() {
        assert_eq!(max_capacity::<()>(), 1 << (usize::BITS - 2));
        assert!(max_capacity::<u64>() * 8 <= isize::MAX as usize);
        assert!(max_capacity::<u64>().is_power_of_two());
    }
}
