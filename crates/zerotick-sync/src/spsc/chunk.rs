//! Zero-copy chunks of an [`spsc`](super) ring: free slots lent to the producer to write in
//! place, filled slots lent to the consumer to read in place.

use core::fmt;
use core::mem::MaybeUninit;

use super::{Consumer, Producer};
use crate::sync::Ordering;

/// Free slots lent by [`Producer::write_chunk_uninit`]: at most two contiguous regions to
/// write in place. Publishes nothing unless committed.
pub struct WriteChunkUninit<'a, T> {
    pub(super) producer: &'a mut Producer<T>,
    /// Position of the first lent slot (`producer.head`).
    pub(super) start: usize,
    /// Slots lent. Invariant: `len <=` free slots at creation.
    pub(super) len: usize,
}

impl<T> WriteChunkUninit<'_, T> {
    /// Slots lent (maybe fewer than requested).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no slot was lent (the ring is full).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lent slots: the run up to the end of the storage, then the wrapped-around run
    /// (often empty). Write them in order; [`commit`](Self::commit) publishes a prefix.
    pub fn as_mut_slices(&mut self) -> (&mut [MaybeUninit<T>], &mut [MaybeUninit<T>]) {
        let p = &*self.producer;
        let first = p.first_run(self.start, self.len);
        let at = self.start & p.mask;
        // SAFETY: slots `at .. at + first` and `0 .. len - first` lie inside the storage
        // (`first` stops at its end), are free (`len <=` free slots) and are not visible to
        // the consumer until published; the `&mut self` borrow makes them exclusive. The two
        // runs do not overlap: `len <= capacity <= storage length`.
        unsafe {
            (
                core::slice::from_raw_parts_mut(p.buf.as_ptr().add(at), first),
                core::slice::from_raw_parts_mut(p.buf.as_ptr(), self.len - first),
            )
        }
    }

    /// Publishes the first `n` lent slots (in the order of [`as_mut_slices`](Self::as_mut_slices)), as one batch.
    ///
    /// # Safety
    /// Those `n` slots have been initialised; `n <= self.len()`.
    pub unsafe fn commit(self, n: usize) {
        debug_assert!(n <= self.len);
        self.producer.publish(n.min(self.len));
    }

    /// Fills the lent slots from `iter` until either runs out, then publishes them; returns
    /// how many were written. The iterator is not advanced past the last item written.
    pub fn fill_from_iter(mut self, iter: impl IntoIterator<Item = T>) -> usize {
        let mut iter = iter.into_iter();
        let mut n = 0;
        if self.len > 0 {
            let (a, b) = self.as_mut_slices();
            for slot in a.iter_mut().chain(b.iter_mut()) {
                let Some(v) = iter.next() else { break };
                slot.write(v);
                n += 1;
            }
        }
        // If `iter.next()` panicked, the `n` written items leak (never dropped), which is
        // safe; otherwise they are published here.
        // SAFETY: exactly the first `n` slots were written above.
        unsafe { self.commit(n) };
        n
    }
}

impl<T> fmt::Debug for WriteChunkUninit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteChunkUninit")
            .field("len", &self.len)
            .finish()
    }
}

/// Filled slots lent by [`Consumer::read_chunk`], oldest first, as at most two contiguous
/// regions. Consumes nothing unless committed.
pub struct ReadChunk<'a, T> {
    pub(super) consumer: &'a mut Consumer<T>,
    /// Position of the first lent item (`consumer.tail`).
    pub(super) start: usize,
    /// Items lent. Invariant: `len <=` filled slots at creation.
    pub(super) len: usize,
}

impl<T> ReadChunk<'_, T> {
    /// Items lent (maybe fewer than requested).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no item was lent (the ring is empty).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pointers to the two runs of lent slots and their lengths.
    fn raw_parts(&self) -> (*mut MaybeUninit<T>, usize, *mut MaybeUninit<T>, usize) {
        let c = &*self.consumer;
        let at = self.start & c.mask;
        let first = self.len.min(c.mask + 1 - at);
        // SAFETY: `at <= mask`, inside the storage.
        let a = unsafe { c.buf.as_ptr().add(at) };
        (a, first, c.buf.as_ptr(), self.len - first)
    }

    pub(super) fn raw_slices(&self) -> (&[MaybeUninit<T>], &[MaybeUninit<T>]) {
        let (a, na, b, nb) = self.raw_parts();
        // SAFETY: both runs lie inside the storage (the first stops at its end) and hold
        // items published by the producer (`len <=` filled slots, seen through the Acquire
        // load of `head`); the producer does not touch them until we release them.
        unsafe {
            (
                core::slice::from_raw_parts(a, na),
                core::slice::from_raw_parts(b, nb),
            )
        }
    }

    /// The lent items: the run up to the end of the storage, then the wrapped-around run.
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let (a, na, b, nb) = self.raw_parts();
        // SAFETY: as in `raw_slices`; every lent slot holds an initialised item and
        // `MaybeUninit<T>` has the layout of `T`.
        unsafe {
            (
                core::slice::from_raw_parts(a.cast::<T>(), na),
                core::slice::from_raw_parts(b.cast::<T>(), nb),
            )
        }
    }

    /// As [`as_slices`](Self::as_slices), mutable (items can be edited or swapped out in place).
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let (a, na, b, nb) = self.raw_parts();
        // SAFETY: as in `as_slices`; the slots are lent to this chunk alone (the producer does
        // not touch filled slots), `&mut self` makes the borrow unique, the runs do not
        // overlap, and the storage is reached through the pointer from `Box::into_raw`.
        unsafe {
            (
                core::slice::from_raw_parts_mut(a.cast::<T>(), na),
                core::slice::from_raw_parts_mut(b.cast::<T>(), nb),
            )
        }
    }

    /// Consumes the first `n` lent items (dropping them) and gives their slots back to the
    /// producer, as one batch. `n` above [`len`](Self::len) is clamped.
    pub fn commit(self, n: usize) {
        let n = n.min(self.len);
        let (a, na, b, _) = self.raw_parts();
        let first = n.min(na);
        // SAFETY: the first `n` lent items are initialised and are released right after
        // without being read again, so each is dropped exactly once.
        unsafe {
            core::ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(a.cast::<T>(), first));
            core::ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(
                b.cast::<T>(),
                n - first,
            ));
        }
        self.release(n);
    }

    /// Consumes every lent item.
    pub fn commit_all(self) {
        let n = self.len;
        self.commit(n);
    }

    /// Gives back the first `n` slots without dropping their items (moved out by the caller).
    pub(super) fn release(self, n: usize) {
        debug_assert!(n <= self.len);
        let c = self.consumer;
        c.tail = c.tail.wrapping_add(n);
        let shared = c.shared();
        // Release: ends our reads of the slots before the producer reuses them; pairs with its
        // Acquire load of `tail`.
        shared.tail.store(c.tail, Ordering::Release);
        shared.ctl.producer.wake_one();
    }
}

impl<T> fmt::Debug for ReadChunk<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunk").field("len", &self.len).finish()
    }
}
