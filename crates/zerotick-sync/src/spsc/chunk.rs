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
    /// how many were written. The iterator is not advanced past the last item written. If the
    /// iterator panics, the items written before the panic are published (not leaked).
    pub fn fill_from_iter(self, iter: impl IntoIterator<Item = T>) -> usize {
        let mut iter = iter.into_iter();
        let p = &*self.producer;
        let first = p.first_run(self.start, self.len);
        // SAFETY: `start & mask <= mask`, inside the storage.
        let a = unsafe { p.buf.as_ptr().add(self.start & p.mask) };
        let b = p.buf.as_ptr();
        // Publishes the slots written so far when dropped, also while `iter.next()` unwinds.
        let mut written = Published {
            producer: self.producer,
            done: 0,
        };
        while written.done < self.len {
            let Some(v) = iter.next() else { break };
            let k = written.done;
            let slot = if k < first {
                a.wrapping_add(k)
            } else {
                b.wrapping_add(k - first)
            };
            // SAFETY: slot `k < len` of the lent runs (see `as_mut_slices`): free, inside the
            // storage and invisible to the consumer until published; `written` holds the only
            // borrow of the producer.
            unsafe { slot.write(MaybeUninit::new(v)) };
            written.done = k + 1;
        }
        written.done
    }
}

/// Publishes the first `done` slots from the producer's `head` when dropped, so items written
/// before a panicking iterator are handed to the consumer rather than leaked.
struct Published<'a, T> {
    producer: &'a mut Producer<T>,
    /// Slots written from `head` on. Invariant: `done <=` the slots lent.
    done: usize,
}

impl<T> Drop for Published<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.producer.publish(self.done);
    }
}

impl<T> fmt::Debug for WriteChunkUninit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteChunkUninit")
            .field("len", &self.len)
            .finish()
    }
}

/// The two runs of lent slots as `(first, first_len, second, second_len)`.
pub(super) type RawRuns<T> = (*mut MaybeUninit<T>, usize, *mut MaybeUninit<T>, usize);

/// Filled slots lent by [`Consumer::read_chunk`], oldest first, as at most two contiguous
/// regions. Consumes nothing unless committed.
pub struct ReadChunk<'a, T> {
    pub(super) consumer: &'a mut Consumer<T>,
    /// Position of the first lent item (`consumer.tail`).
    pub(super) start: usize,
    /// Items lent. Invariant: `len <=` filled slots at creation.
    pub(super) len: usize,
}

impl<'a, T> ReadChunk<'a, T> {
    /// Items lent (maybe fewer than requested).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no item was lent (the ring is empty).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pointers to the two runs of lent slots and their lengths.
    fn raw_parts(&self) -> RawRuns<T> {
        let c = &*self.consumer;
        let at = self.start & c.mask;
        let first = self.len.min(c.mask + 1 - at);
        // SAFETY: `at <= mask`, inside the storage.
        let a = unsafe { c.buf.as_ptr().add(at) };
        (a, first, c.buf.as_ptr(), self.len - first)
    }

    /// The lent items: the run up to the end of the storage, then the wrapped-around run.
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let (a, na, b, nb) = self.raw_parts();
        // SAFETY: both runs lie inside the storage (the first stops at its end) and hold
        // items published by the producer (`len <=` filled slots, seen through the Acquire
        // load of `head`); the producer does not touch them until we release them, and
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
    ///
    /// If an item's `Drop` panics, the items up to and including it are consumed and the rest
    /// stay in the ring, oldest first: nothing is dropped twice and the ring stays usable.
    pub fn commit(self, n: usize) {
        let n = n.min(self.len);
        let (a, na, b, _) = self.raw_parts();
        let first = n.min(na);
        let mut dropped = Consumed {
            consumer: self.consumer,
            done: 0,
        };
        if core::mem::needs_drop::<T>() {
            for k in 0..n {
                let slot = if k < first {
                    a.wrapping_add(k)
                } else {
                    b.wrapping_add(k - first)
                };
                // Counted before its `Drop` runs: if that panics, the slot is still given back
                // (the item is gone either way) and is never dropped again.
                dropped.done = k + 1;
                // SAFETY: slot `k < n <= len` of the lent runs holds an initialised item
                // (see `as_slices`); counting it in `dropped.done` above gives the slot back
                // without reading it again, so the item is dropped exactly once.
                unsafe { core::ptr::drop_in_place(slot.cast::<T>()) };
            }
        }
        dropped.done = n;
    }

    /// Consumes every lent item.
    pub fn commit_all(self) {
        let n = self.len;
        self.commit(n);
    }

    /// Splits the chunk into its raw runs `(a, len_a, b, len_b)` and a [`Consumed`] guard
    /// over the consumer, which gives back `done` slots when dropped.
    pub(super) fn into_consumed(self) -> (Consumed<'a, T>, RawRuns<T>) {
        let parts = self.raw_parts();
        (
            Consumed {
                consumer: self.consumer,
                done: 0,
            },
            parts,
        )
    }
}

/// Gives the first `done` lent slots back to the producer when dropped (also while
/// unwinding), without dropping their items: they were moved out or dropped by the holder.
pub(super) struct Consumed<'a, T> {
    pub(super) consumer: &'a mut Consumer<T>,
    /// Slots whose items have left the ring. Invariant: `done <=` the slots lent.
    pub(super) done: usize,
}

impl<T> Drop for Consumed<'_, T> {
    #[inline]
    fn drop(&mut self) {
        let c = &mut *self.consumer;
        c.tail = c.tail.wrapping_add(self.done);
        let shared = c.shared();
        // Release: ends our reads of the slots before the producer reuses them; pairs with its
        // Acquire load of `tail`.
        shared.tail.store(c.tail, Ordering::Release);
        c.wake_producer();
    }
}

impl<T> fmt::Debug for ReadChunk<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunk").field("len", &self.len).finish()
    }
}
