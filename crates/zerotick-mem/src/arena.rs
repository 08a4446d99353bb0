//! [`Arena`]: bump allocation of 64-byte-aligned slices from one pre-allocated block, freed all
//! at once by an O(1) [`reset`](Arena::reset); [`ArenaSet`]: one arena per worker thread.

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;

use crate::aligned::{ALIGN, AlignedBuf};
use crate::element::Element;
use crate::error::AllocError;

/// An arena allocation could not be served. The arena is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArenaError {
    /// Not enough room left before the next reset.
    Exhausted {
        /// Bytes the request needed (including alignment padding).
        requested_bytes: usize,
        /// Bytes left in the arena.
        remaining_bytes: usize,
    },
    /// The requested length in bytes overflows `usize`.
    SizeOverflow,
}

impl fmt::Display for ArenaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exhausted {
                requested_bytes,
                remaining_bytes,
            } => write!(
                f,
                "arena exhausted: {requested_bytes} bytes requested, {remaining_bytes} left"
            ),
            Self::SizeOverflow => f.write_str("arena request size overflows usize"),
        }
    }
}

impl std::error::Error for ArenaError {}

/// Usage counters of an [`Arena`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArenaStats {
    /// Size of the block.
    pub capacity_bytes: usize,
    /// Bytes handed out since the last reset, including alignment padding.
    pub used_bytes: usize,
    /// Most bytes ever in use between two resets.
    pub high_water_bytes: usize,
    /// Resets so far.
    pub resets: u64,
    /// Requests refused with [`ArenaError::Exhausted`].
    pub exhausted: u64,
}

/// A bump arena: scratch slices for one batch of work, all freed by one O(1) [`reset`].
///
/// * Allocates its block once, at construction; every slice it hands out starts on a 64-byte
///   boundary. Allocation is a bounds check and an add: no locking, no system call.
/// * Allocation takes `&self`, so several slices can be alive at once; [`reset`] takes
///   `&mut self`, so the borrow checker proves no slice outlives it.
/// * Full arena: the `try_*` calls return [`ArenaError::Exhausted`]; the others panic.
/// * `Send` but not `Sync`: one thread allocates from it at a time. For parallel scratch give
///   each worker its own arena from an [`ArenaSet`].
/// * Values placed in the arena are never dropped (only `Copy` data and raw bytes go in).
///
/// [`reset`]: Arena::reset
///
/// ```
/// use zerotick_mem::{Arena, ArenaError};
///
/// let mut arena = Arena::new(4096);
/// let a = arena.try_alloc_zeroed::<f64>(100)?;
/// let b = arena.try_alloc_copy(&[1u32, 2, 3])?;
/// a[0] = b[2] as f64;
/// assert_eq!(a.as_ptr() as usize % 64, 0);
/// assert!(arena.try_alloc_zeroed::<u8>(8192).is_err()); // larger than what is left
/// arena.reset(); // `a` and `b` can no longer be used: the borrow checker enforces it
/// assert_eq!(arena.used_bytes(), 0);
/// # Ok::<(), ArenaError>(())
/// ```
///
/// # Scratch for faer
/// faer's kernels take scratch as a `dyn_stack::MemStack`, which wraps a byte slice. An arena
/// slice is exactly that, so scratch comes from the arena with no heap allocation:
///
/// ```
/// use dyn_stack::MemStack;
/// use zerotick_mem::Arena;
///
/// let arena = Arena::new(1 << 16);
/// let bytes = arena.try_alloc_bytes(1 << 12)?; // size it with faer's `*_scratch` query
/// let stack = MemStack::new(bytes);
/// let (tmp, _rest) = stack.make_with(16, |i| i as f64);
/// assert_eq!(tmp[15], 15.0);
/// # Ok::<(), zerotick_mem::ArenaError>(())
/// ```
pub struct Arena {
    /// The block. Its length is the arena's capacity in bytes; it is only ever accessed
    /// through slices handed out below `used`, which never overlap between resets.
    block: AlignedBuf<u8>,
    /// Address of the block's first byte (cached from `block`).
    base: usize,
    /// Address one past the block's last byte: `base + block.capacity()`.
    limit: usize,
    /// Address of the end of the last allocation. Invariant: `base <= cursor <= limit`;
    /// bytes `[cursor, limit)` are not referenced by any live slice.
    cursor: Cell<usize>,
    high_water: Cell<usize>,
    resets: u64,
    exhausted: Cell<u64>,
    /// `Cell` fields already make the arena `!Sync`; this documents it.
    _not_sync: PhantomData<Cell<u8>>,
}

// SAFETY: the arena owns its block; moving it to another thread moves the block and the
// borrows of handed-out slices prevent a move while any is alive.
unsafe impl Send for Arena {}

impl Arena {
    /// Builds an arena of `capacity_bytes` bytes.
    ///
    /// # Errors
    /// [`AllocError`] if the allocator refuses.
    pub fn try_new(capacity_bytes: usize) -> Result<Self, AllocError> {
        Ok(Self::with_block(AlignedBuf::<u8>::try_zeroed(
            capacity_bytes,
        )?))
    }

    /// As [`try_new`](Self::try_new), with a block of 2 MiB or more not yet mapped in:
    /// the pages fault in on first use, or all at once on [`prefault`](Self::prefault),
    /// which can run on another thread than this (see
    /// [`AlignedBuf::try_zeroed_unfaulted`]).
    ///
    /// # Errors
    /// As [`try_new`](Self::try_new).
    pub fn try_new_unfaulted(capacity_bytes: usize) -> Result<Self, AllocError> {
        Ok(Self::with_block(AlignedBuf::<u8>::try_zeroed_unfaulted(
            capacity_bytes,
        )?))
    }

    fn with_block(block: AlignedBuf<u8>) -> Self {
        let capacity_bytes = block.capacity();
        let base = block.as_ptr().addr();
        Self {
            base,
            limit: base + capacity_bytes,
            cursor: Cell::new(base),
            block,
            high_water: Cell::new(0),
            resets: 0,
            exhausted: Cell::new(0),
            _not_sync: PhantomData,
        }
    }

    /// Builds an arena of `capacity_bytes` bytes.
    ///
    /// # Panics
    /// If the allocation fails; see [`try_new`](Self::try_new).
    #[track_caller]
    pub fn new(capacity_bytes: usize) -> Self {
        match Self::try_new(capacity_bytes) {
            Ok(a) => a,
            Err(e) => panic!("Arena::new({capacity_bytes}): {e}"),
        }
    }

    /// Size of the block in bytes.
    #[inline]
    pub fn capacity_bytes(&self) -> usize {
        self.block.capacity()
    }

    /// Bytes handed out since the last reset, including alignment padding.
    #[inline]
    pub fn used_bytes(&self) -> usize {
        self.cursor.get() - self.base
    }

    /// Bytes left before the next reset (an allocation may also need up to 63 padding bytes).
    #[inline]
    pub fn remaining_bytes(&self) -> usize {
        self.limit - self.cursor.get()
    }

    /// Usage counters.
    pub fn stats(&self) -> ArenaStats {
        ArenaStats {
            capacity_bytes: self.capacity_bytes(),
            used_bytes: self.used_bytes(),
            high_water_bytes: self.high_water.get().max(self.used_bytes()),
            resets: self.resets,
            exhausted: self.exhausted.get(),
        }
    }

    /// Frees every slice handed out, in O(1). Contents are not cleared.
    #[inline]
    pub fn reset(&mut self) {
        let used = self.used_bytes();
        if used > self.high_water.get() {
            self.high_water.set(used);
        }
        self.cursor.set(self.base);
        self.resets += 1;
    }

    /// Touches every page of the block so none faults in a hot loop.
    pub fn prefault(&mut self) {
        self.block.prefault();
    }

    /// Reserves `len` uninitialised `T`s, aligned to 64 bytes (or more if `T` needs it).
    ///
    /// # Errors
    /// [`ArenaError::Exhausted`] if they do not fit, [`ArenaError::SizeOverflow`] if
    /// `len * size_of::<T>()` overflows. The arena is unchanged on error.
    #[inline]
    #[allow(clippy::mut_from_ref)] // disjoint slices of the block; see the SAFETY notes
    pub fn try_alloc_uninit<T>(&self, len: usize) -> Result<&mut [MaybeUninit<T>], ArenaError> {
        let align = if align_of::<T>() > ALIGN {
            align_of::<T>()
        } else {
            ALIGN
        };
        let Some(bytes) = len.checked_mul(size_of::<T>()) else {
            return Err(ArenaError::SizeOverflow);
        };
        let cursor = self.cursor.get();
        // Round the address up to `align`. No overflow: `cursor <= limit`, an address inside
        // an allocation, is far below `usize::MAX - align`.
        let start = (cursor + (align - 1)) & !(align - 1);
        if start > self.limit || bytes > self.limit - start {
            return Err(self.exhausted((start - cursor).saturating_add(bytes)));
        }
        self.cursor.set(start + bytes);
        // Same provenance as the block, at address `start`, which lies in `[base, limit]`.
        let ptr = self.block.as_ptr().cast_mut().with_addr(start);
        // SAFETY: bytes `[start, start + bytes)` lie inside the block (checked above), are
        // aligned for `T`, and are referenced by no other live slice: earlier slices end at or
        // before `cursor <= start`, and the next allocation starts at or after
        // `start + bytes` until `reset(&mut self)`, which cannot run while this borrow of
        // `self` is alive. `MaybeUninit<T>` needs no initialisation.
        Ok(unsafe { core::slice::from_raw_parts_mut(ptr.cast::<MaybeUninit<T>>(), len) })
    }

    #[cold]
    #[inline(never)]
    fn exhausted(&self, requested_bytes: usize) -> ArenaError {
        self.exhausted.set(self.exhausted.get() + 1);
        ArenaError::Exhausted {
            requested_bytes,
            remaining_bytes: self.remaining_bytes(),
        }
    }

    /// Reserves `len` raw bytes, 64-byte aligned: scratch for kernels (faer's `MemStack`).
    ///
    /// # Errors
    /// As [`try_alloc_uninit`](Self::try_alloc_uninit).
    #[inline]
    #[allow(clippy::mut_from_ref)] // disjoint slices of the block; see the SAFETY notes
    pub fn try_alloc_bytes(&self, len: usize) -> Result<&mut [MaybeUninit<u8>], ArenaError> {
        self.try_alloc_uninit::<u8>(len)
    }

    /// Reserves `len` elements, every one set to `value`.
    ///
    /// # Errors
    /// As [`try_alloc_uninit`](Self::try_alloc_uninit).
    #[inline]
    #[allow(clippy::mut_from_ref)] // disjoint slices of the block; see the SAFETY notes
    pub fn try_alloc_fill<T: Copy>(&self, len: usize, value: T) -> Result<&mut [T], ArenaError> {
        let slice = self.try_alloc_uninit::<T>(len)?;
        for slot in slice.iter_mut() {
            slot.write(value);
        }
        // SAFETY: every element was written just above.
        Ok(unsafe { assume_init_slice(slice) })
    }

    /// Reserves `len` zeroed elements.
    ///
    /// # Errors
    /// As [`try_alloc_uninit`](Self::try_alloc_uninit).
    #[inline]
    #[allow(clippy::mut_from_ref)] // disjoint slices of the block; see the SAFETY notes
    pub fn try_alloc_zeroed<T: Element>(&self, len: usize) -> Result<&mut [T], ArenaError> {
        self.try_alloc_fill(len, T::ZERO)
    }

    /// Reserves a copy of `values`.
    ///
    /// # Errors
    /// As [`try_alloc_uninit`](Self::try_alloc_uninit).
    #[inline]
    #[allow(clippy::mut_from_ref)] // disjoint slices of the block; see the SAFETY notes
    pub fn try_alloc_copy<T: Copy>(&self, values: &[T]) -> Result<&mut [T], ArenaError> {
        let slice = self.try_alloc_uninit::<T>(values.len())?;
        for (slot, v) in slice.iter_mut().zip(values) {
            slot.write(*v);
        }
        // SAFETY: every element was written just above (the lengths are equal).
        Ok(unsafe { assume_init_slice(slice) })
    }

    /// Reserves `len` zeroed elements.
    ///
    /// # Panics
    /// If the arena is exhausted; see [`try_alloc_zeroed`](Self::try_alloc_zeroed).
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_zeroed<T: Element>(&self, len: usize) -> &mut [T] {
        match self.try_alloc_zeroed(len) {
            Ok(s) => s,
            Err(e) => alloc_failed(e),
        }
    }

    /// Reserves a copy of `values`.
    ///
    /// # Panics
    /// If the arena is exhausted; see [`try_alloc_copy`](Self::try_alloc_copy).
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_copy<T: Copy>(&self, values: &[T]) -> &mut [T] {
        match self.try_alloc_copy(values) {
            Ok(s) => s,
            Err(e) => alloc_failed(e),
        }
    }
}

#[cold]
#[track_caller]
fn alloc_failed(e: ArenaError) -> ! {
    panic!("arena allocation failed: {e}")
}

/// # Safety
/// Every element of `slice` is initialised.
#[inline]
unsafe fn assume_init_slice<T>(slice: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: `MaybeUninit<T>` has the layout of `T`; the caller guarantees initialisation.
    unsafe { &mut *(slice as *mut [MaybeUninit<T>] as *mut [T]) }
}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("stats", &self.stats())
            .finish()
    }
}

/// One [`Arena`] per worker: parallel scratch without sharing.
///
/// ```
/// use zerotick_mem::ArenaSet;
///
/// let mut set = ArenaSet::new(2, 1 << 16);
/// std::thread::scope(|s| {
///     for (i, arena) in set.iter_mut().enumerate() {
///         s.spawn(move || {
///             let scratch = arena.alloc_zeroed::<f64>(1024);
///             scratch[0] = i as f64;
///         });
///     }
/// });
/// set.reset_all();
/// ```
#[derive(Debug)]
pub struct ArenaSet {
    arenas: Box<[Arena]>,
}

impl ArenaSet {
    /// Builds `workers` arenas of `capacity_bytes` each.
    ///
    /// # Errors
    /// [`AllocError`] if any allocation fails.
    pub fn try_new(workers: usize, capacity_bytes: usize) -> Result<Self, AllocError> {
        let arenas = (0..workers)
            .map(|_| Arena::try_new(capacity_bytes))
            .collect::<Result<_, _>>()?;
        Ok(Self { arenas })
    }

    /// Builds `workers` arenas of `capacity_bytes` each.
    ///
    /// # Panics
    /// If an allocation fails; see [`try_new`](Self::try_new).
    #[track_caller]
    pub fn new(workers: usize, capacity_bytes: usize) -> Self {
        match Self::try_new(workers, capacity_bytes) {
            Ok(s) => s,
            Err(e) => panic!("ArenaSet::new({workers}, {capacity_bytes}): {e}"),
        }
    }

    /// Number of arenas.
    pub fn len(&self) -> usize {
        self.arenas.len()
    }

    /// Whether the set holds no arena.
    pub fn is_empty(&self) -> bool {
        self.arenas.is_empty()
    }

    /// Arena `i`, for worker `i`.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Arena> {
        self.arenas.get_mut(i)
    }

    /// Every arena, one per worker, to move into scoped threads.
    pub fn iter_mut(&mut self) -> core::slice::IterMut<'_, Arena> {
        self.arenas.iter_mut()
    }

    /// Resets every arena.
    pub fn reset_all(&mut self) {
        self.arenas.iter_mut().for_each(Arena::reset);
    }

    /// Counters of every arena.
    pub fn stats(&self) -> impl Iterator<Item = ArenaStats> + '_ {
        self.arenas.iter().map(Arena::stats)
    }
}
