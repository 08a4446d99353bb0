//! [`AlignedBuf`]: fixed-capacity, 64-byte-aligned storage of plain numbers.

use core::alloc::Layout;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use std::alloc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::element::Element;
use crate::error::{AllocError, CapacityError};
use crate::pages::Pages;

/// Alignment, in bytes, of every buffer this crate hands out: one cache line, and the width of
/// an AVX-512 register, so aligned SIMD loads never split a line.
pub const ALIGN: usize = 64;

/// Bytes between two writes when touching a buffer to fault its pages in.
pub(crate) const PAGE_BYTES: usize = 4096;

/// Buffers of at least this many bytes are aligned to it and, on Linux, advised to the kernel
/// as transparent-huge-page candidates (`madvise(MADV_HUGEPAGE)`): one 2 MiB page instead of
/// 512 small ones means 512 times fewer page faults when the buffer is built and fewer TLB
/// misses when the hot path walks it. (The pipeline's 8 MiB PCA matrices were half of a run's
/// start-up time in page faults on the AMD EPYC VM, 2026-11-30.) Where huge pages are off or
/// unavailable the advice is ignored and small pages are used, as before.
pub const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Fixed-capacity storage of `T`, 64-byte aligned, that never reallocates.
///
/// The whole capacity is initialised (zeroed) when the buffer is built, so the length is only a
/// logical bound: [`set_len`](Self::set_len) is safe and O(1), and reading past what was written
/// yields zeros or earlier values, never undefined behaviour. Growing past the capacity is an
/// error ([`CapacityError`]), never a reallocation.
///
/// ```
/// use zerotick_mem::AlignedBuf;
///
/// let mut buf = AlignedBuf::<f64>::with_capacity(4);
/// buf.try_push(1.5)?;
/// buf.try_extend_from_slice(&[2.0, 3.0])?;
/// assert_eq!(&buf[..], &[1.5, 2.0, 3.0]);
/// assert_eq!(buf.as_ptr() as usize % 64, 0);
/// assert!(buf.try_extend_from_slice(&[4.0, 5.0]).is_err()); // would pass capacity 4
/// # Ok::<(), zerotick_mem::CapacityError>(())
/// ```
pub struct AlignedBuf<T: Element> {
    /// Start of the storage. Invariant: aligned to [`Self::layout_align`]; when
    /// `cap * size_of::<T>() > 0`, its `cap` elements are all initialised and it either owns
    /// an allocation of `Self::layout(cap)` (`slab` is `None`) or is the start of a chunk of
    /// a slab's storage that only this buffer uses (`slab` holds that storage); otherwise it
    /// is a dangling, aligned, non-null pointer.
    ptr: NonNull<T>,
    /// Logical length. Invariant: `len <= cap`.
    len: usize,
    /// Elements the storage holds; fixed for the buffer's life.
    cap: usize,
    /// `Some` when the storage is a chunk of a [`Slab`] rather than an allocation of its
    /// own: the chunk is this buffer's alone (carved once), the mapping is freed when its
    /// last holder drops it, and this buffer's `Drop` frees nothing itself.
    slab: Option<Arc<AlignedBuf<u8>>>,
}

// SAFETY: `AlignedBuf` owns its storage exclusively (like `Box<[T]>`); `T: Element` is
// `Send + Sync`.
unsafe impl<T: Element> Send for AlignedBuf<T> {}
// SAFETY: shared access only reads through `&self`; see `Send` above.
unsafe impl<T: Element> Sync for AlignedBuf<T> {}

impl<T: Element> AlignedBuf<T> {
    const fn layout_align() -> usize {
        if align_of::<T>() > ALIGN {
            align_of::<T>()
        } else {
            ALIGN
        }
    }

    fn layout(cap: usize) -> Result<Layout, AllocError> {
        let bytes = cap
            .checked_mul(size_of::<T>())
            .ok_or(AllocError::CapacityOverflow)?;
        let align = if bytes >= HUGE_PAGE_BYTES {
            HUGE_PAGE_BYTES.max(Self::layout_align())
        } else {
            Self::layout_align()
        };
        Layout::from_size_align(bytes, align).map_err(|_| AllocError::CapacityOverflow)
    }

    fn dangling() -> NonNull<T> {
        // A non-null address that is a multiple of the alignment; never dereferenced for a
        // non-zero number of bytes.
        NonNull::new(core::ptr::without_provenance_mut::<T>(Self::layout_align()))
            .expect("alignment is non-zero")
    }

    /// Builds a buffer of `capacity` zeroed elements with length `capacity`, its pages
    /// resident (every page has been written) when this returns.
    ///
    /// # Errors
    /// [`AllocError`] if the size overflows or the allocator refuses.
    pub fn try_zeroed(capacity: usize) -> Result<Self, AllocError> {
        let mut buf = Self::try_zeroed_unfaulted(capacity)?;
        if buf.capacity_bytes() >= HUGE_PAGE_BYTES {
            // Fresh pages from the kernel (or, off Linux, zeroed by the allocator path):
            // one write per page maps them without a second pass of zeros.
            buf.prefault_zeroed();
        }
        Ok(buf)
    }

    /// Builds a buffer of `capacity` zeroed elements with length `capacity` whose pages
    /// need not be resident yet: a buffer of 2 MiB or more comes straight from the kernel
    /// (`mmap` on Linux), reads as zeros, and is mapped page by page (2 MiB at a time where
    /// transparent huge pages are on) on first touch. Build it where errors are handled and
    /// call [`prefault`](Self::prefault) on the thread that should pay for the page faults
    /// (the pipeline faults its PCA scratch in on the PCA thread, beside the rest of its
    /// start-up). Smaller buffers come zeroed from the global allocator, as from
    /// [`try_zeroed`](Self::try_zeroed).
    ///
    /// # Errors
    /// [`AllocError`] if the size overflows or the allocator (or the kernel) refuses.
    pub fn try_zeroed_unfaulted(capacity: usize) -> Result<Self, AllocError> {
        Self::try_zeroed_unfaulted_with(capacity, Pages::Huge)
    }

    /// [`try_zeroed_unfaulted`](Self::try_zeroed_unfaulted), with a buffer of 2 MiB or
    /// more mapped with `pages` ([`Pages::Base`]: 4 KiB pages, no huge-page advice; its
    /// pages can be faulted in from another thread with
    /// [`PageSpan::populate`](crate::PageSpan::populate)).
    ///
    /// ```
    /// use zerotick_mem::{AlignedBuf, PageSpan, Pages};
    /// let window = AlignedBuf::<f64>::try_zeroed_unfaulted_with(1 << 20, Pages::Base)?;
    /// let span = PageSpan::of(&window);
    /// std::thread::scope(|s| s.spawn(|| span.populate()).join().unwrap());
    /// assert!(window.iter().all(|v| *v == 0.0));
    /// # Ok::<(), zerotick_mem::AllocError>(())
    /// ```
    ///
    /// # Errors
    /// As [`try_zeroed_unfaulted`](Self::try_zeroed_unfaulted).
    pub fn try_zeroed_unfaulted_with(capacity: usize, pages: Pages) -> Result<Self, AllocError> {
        let layout = Self::layout(capacity)?;
        let ptr = if layout.size() == 0 {
            Self::dangling()
        } else {
            let raw = if layout.align() >= HUGE_PAGE_BYTES {
                huge::alloc_zeroed(layout.size(), pages == Pages::Huge)
            } else {
                // SAFETY: `layout` has a non-zero size (checked just above).
                unsafe { alloc::alloc_zeroed(layout) }
            };
            NonNull::new(raw.cast::<T>()).ok_or(AllocError::OutOfMemory {
                bytes: layout.size(),
            })?
        };
        Ok(Self {
            ptr,
            len: capacity,
            cap: capacity,
            slab: None,
        })
    }

    /// Builds a buffer of `capacity` zeroed elements with length `capacity`.
    ///
    /// # Panics
    /// If the allocation fails; see [`try_zeroed`](Self::try_zeroed).
    #[track_caller]
    pub fn zeroed(capacity: usize) -> Self {
        match Self::try_zeroed(capacity) {
            Ok(buf) => buf,
            Err(e) => panic!("AlignedBuf::zeroed({capacity}): {e}"),
        }
    }

    /// Builds an empty buffer (length 0) with room for `capacity` elements.
    ///
    /// # Errors
    /// [`AllocError`] if the size overflows or the allocator refuses.
    pub fn try_with_capacity(capacity: usize) -> Result<Self, AllocError> {
        let mut buf = Self::try_zeroed(capacity)?;
        buf.len = 0;
        Ok(buf)
    }

    /// Builds an empty buffer (length 0) with room for `capacity` elements.
    ///
    /// # Panics
    /// If the allocation fails; see [`try_with_capacity`](Self::try_with_capacity).
    #[track_caller]
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Self::zeroed(capacity);
        buf.len = 0;
        buf
    }

    /// Builds a buffer holding a copy of `values`, with capacity `values.len()`.
    ///
    /// # Errors
    /// [`AllocError`] if the allocation fails.
    pub fn try_from_slice(values: &[T]) -> Result<Self, AllocError> {
        let mut buf = Self::try_zeroed(values.len())?;
        buf.copy_from_slice(values);
        Ok(buf)
    }

    /// Logical length.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the length is 0.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fixed capacity in elements.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Whether the length equals the capacity.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == self.cap
    }

    /// Bytes of storage this buffer owns on the heap.
    #[inline]
    pub fn capacity_bytes(&self) -> usize {
        self.cap * size_of::<T>()
    }

    /// Pointer to the first element (64-byte aligned).
    #[inline]
    pub fn as_ptr(&self) -> *const T {
        self.ptr.as_ptr()
    }

    /// Mutable pointer to the first element (64-byte aligned).
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// The first `len` elements.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: `ptr` is aligned and non-null, and `len <= cap` elements are initialised
        // (type invariant); `&self` forbids concurrent mutation.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The first `len` elements, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`; `&mut self` gives exclusive access.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The whole capacity, whatever the length: elements past `len` hold zeros or values
    /// written earlier.
    #[inline]
    pub fn as_capacity_slice_mut(&mut self) -> &mut [T] {
        // SAFETY: all `cap` elements are initialised (type invariant); exclusive via `&mut`.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }

    /// Sets the logical length in O(1). Elements newly inside the length keep whatever they
    /// held (zeros if never written).
    ///
    /// # Errors
    /// [`CapacityError`] if `len > capacity`; the buffer is unchanged.
    #[inline]
    pub fn set_len(&mut self, len: usize) -> Result<(), CapacityError> {
        if len > self.cap {
            return Err(CapacityError {
                capacity: self.cap,
                requested: len,
            });
        }
        self.len = len;
        Ok(())
    }

    /// Sets the length to 0 (O(1), contents kept).
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens the length to `len` if it is longer; no effect otherwise.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Appends one element.
    ///
    /// # Errors
    /// [`CapacityError`] if the buffer is full; the buffer is unchanged.
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), CapacityError> {
        if self.len == self.cap {
            return Err(CapacityError {
                capacity: self.cap,
                requested: self.cap + 1,
            });
        }
        // SAFETY: `len < cap`, so the slot is inside the allocation.
        unsafe { self.ptr.as_ptr().add(self.len).write(value) };
        self.len += 1;
        Ok(())
    }

    /// Appends all of `values`, or nothing.
    ///
    /// # Errors
    /// [`CapacityError`] if they do not all fit; the buffer is unchanged.
    #[inline]
    pub fn try_extend_from_slice(&mut self, values: &[T]) -> Result<(), CapacityError> {
        let end = self.len.saturating_add(values.len());
        if end > self.cap {
            return Err(CapacityError {
                capacity: self.cap,
                requested: end,
            });
        }
        let start = self.len;
        self.len = end;
        self.as_mut_slice()[start..].copy_from_slice(values);
        Ok(())
    }

    /// Sets the length to `len`, writing `value` into every element past the old length.
    ///
    /// # Errors
    /// [`CapacityError`] if `len > capacity`; the buffer is unchanged.
    pub fn resize(&mut self, len: usize, value: T) -> Result<(), CapacityError> {
        let old = self.len;
        self.set_len(len)?;
        if len > old {
            self.as_mut_slice()[old..].fill(value);
        }
        Ok(())
    }

    /// Writes zero into every element of the capacity (the length is unchanged).
    pub fn zero(&mut self) {
        self.as_capacity_slice_mut().fill(T::ZERO);
    }

    /// Touches every page of the storage so the operating system maps it now rather than on
    /// first use in a hot loop. Contents are unchanged.
    pub fn prefault(&mut self) {
        // Writing back the byte just read leaves the contents as they were. (Not an atomic
        // `fetch_or(0)`: x86 code generation turns that no-op into a plain load, which maps
        // the shared zero page and leaves the page to fault in later.)
        // SAFETY: `p` is a byte of the storage (`touch_pages`), initialised.
        self.touch_pages(|p| unsafe { core::ptr::write_volatile(p, core::ptr::read_volatile(p)) });
    }

    /// [`prefault`](Self::prefault) for storage known to hold only zeros (fresh from
    /// [`try_zeroed_unfaulted`](Self::try_zeroed_unfaulted)): one write of a zero a page,
    /// so each page faults once (a read first would map the shared zero page, then fault
    /// again to copy it).
    fn prefault_zeroed(&mut self) {
        // SAFETY: `p` is a byte of the storage (`touch_pages`), already 0 (the caller's
        // contract), so writing 0 changes nothing.
        self.touch_pages(|p| unsafe { core::ptr::write_volatile(p, 0) });
    }

    /// Calls `touch` with the first byte of every page of the storage, in order. `&mut self`:
    /// nothing else reads or writes the storage meanwhile.
    fn touch_pages(&mut self, touch: impl Fn(*mut u8)) {
        let bytes = self.capacity_bytes();
        let base = self.ptr.as_ptr().cast::<u8>();
        for offset in (0..bytes).step_by(PAGE_BYTES) {
            // `offset < bytes`: inside the allocation.
            touch(base.wrapping_add(offset));
        }
    }
}

/// Advises the kernel that the whole 2 MiB pages inside `region` may be backed by
/// transparent huge pages (`madvise(MADV_HUGEPAGE)` on Linux), for memory the caller is
/// about to fill for the first time, such as the spare capacity of a freshly reserved `Vec`:
/// the first write to each 2 MiB then maps one huge page instead of faulting 512 small ones.
/// (A sparse product's fresh 120 MB output spent about a quarter of its time in page faults
/// on the Xeon VM, 2026-12-01.) Returns whether the advice was given and accepted. Contents
/// are unchanged and nothing is freed.
///
/// Regions below 4 MiB are left alone (they may hold no whole 2 MiB page); the partial pages
/// at either end of a larger region keep small pages. Best effort: where transparent huge
/// pages are off, unavailable or not Linux, it does nothing and returns `false`.
///
/// ```
/// let mut v: Vec<f64> = Vec::with_capacity(1 << 20); // 8 MiB
/// zerotick_mem::advise_huge_pages(v.spare_capacity_mut());
/// v.extend((0..1 << 20).map(|i| i as f64));
/// assert_eq!(v[12345], 12345.0);
/// ```
pub fn advise_huge_pages<T>(region: &mut [T]) -> bool {
    let bytes = size_of_val(region);
    if bytes < 2 * HUGE_PAGE_BYTES {
        return false;
    }
    let addr = region.as_mut_ptr() as usize;
    let start = addr.next_multiple_of(HUGE_PAGE_BYTES);
    let end = (addr + bytes) & !(HUGE_PAGE_BYTES - 1);
    // `bytes >= 4 MiB`, so at least one whole 2 MiB page lies inside: `start < end`.
    let offset = start - addr;
    madvise_huge_pages(
        region.as_mut_ptr().cast::<u8>().wrapping_add(offset),
        end - start,
    )
}

/// Advises the kernel that `[ptr, ptr + len)` (start 2 MiB aligned, inside one live
/// allocation the caller owns) may use transparent huge pages. Best effort: an error (huge
/// pages disabled, an old kernel) changes nothing. Returns whether the kernel accepted it.
fn madvise_huge_pages(ptr: *mut u8, len: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `madvise` only reads the range's addresses; the range is inside one live
        // allocation (the caller's contract), and MADV_HUGEPAGE neither frees nor changes
        // its contents.
        unsafe { libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (ptr, len);
        false
    }
}

/// Storage of 2 MiB or more, 2 MiB aligned, zeroed.
///
/// On Linux it is mapped straight from the kernel: fresh anonymous pages read as zero, so
/// nothing is written here (the global allocator may hand back recycled memory that needs
/// a pass of zeros, and the page faults of a fresh mapping zero every page again: two
/// passes where one will do; on the Xeon VM they were half of the pipeline's start-up).
/// The whole 2 MiB pages are advised as transparent huge pages before anything touches
/// them. Elsewhere it is the global allocator's, zeroed.
mod huge {
    use super::HUGE_PAGE_BYTES;

    /// Bytes mapped for a buffer of `size` bytes: whole 2 MiB pages, so the mapping's ends
    /// are page aligned whatever the base page size. `None` on overflow.
    #[cfg(target_os = "linux")]
    fn mapped_len(size: usize) -> Option<usize> {
        size.checked_next_multiple_of(HUGE_PAGE_BYTES)
    }

    /// `size` (> 0) zeroed bytes, 2 MiB aligned, advised as huge pages if `huge`; null if
    /// the kernel refuses.
    #[cfg(target_os = "linux")]
    pub(super) fn alloc_zeroed(size: usize, huge: bool) -> *mut u8 {
        let Some(len) = mapped_len(size) else {
            return core::ptr::null_mut();
        };
        let Some(total) = len.checked_add(HUGE_PAGE_BYTES) else {
            return core::ptr::null_mut();
        };
        // SAFETY: a new private anonymous mapping: no file, no fixed address, so it
        // aliases nothing.
        let raw = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return core::ptr::null_mut();
        }
        let base = raw.cast::<u8>();
        let head = (base as usize).next_multiple_of(HUGE_PAGE_BYTES) - base as usize;
        let tail = total - head - len;
        // SAFETY: `head + len + tail = total`: the three ranges tile the mapping just made.
        // `head` and `tail` are multiples of the page size (the mapping's start is page
        // aligned, `start` and `len` are 2 MiB multiples); unmapping them leaves exactly
        // `[start, start + len)`, which nothing else refers to.
        let start = unsafe {
            let start = base.add(head);
            if head > 0 {
                libc::munmap(base.cast(), head);
            }
            if tail > 0 {
                libc::munmap(start.add(len).cast(), tail);
            }
            start
        };
        // Huge pages only where whole: the partial page at the end keeps small pages, so
        // touching the buffer's last bytes does not map 2 MiB for them.
        let whole = size & !(HUGE_PAGE_BYTES - 1);
        if huge && whole > 0 {
            super::madvise_huge_pages(start, whole);
        }
        start
    }

    /// Frees what [`alloc_zeroed`] returned.
    ///
    /// # Safety
    /// `ptr` came from `alloc_zeroed(size)` with this `size` and is not used again.
    #[cfg(target_os = "linux")]
    pub(super) unsafe fn dealloc(ptr: *mut u8, size: usize) {
        if let Some(len) = mapped_len(size) {
            // SAFETY: `[ptr, ptr + len)` is the mapping `alloc_zeroed(size)` kept (the
            // caller's contract); nothing refers to it any more.
            unsafe { libc::munmap(ptr.cast(), len) };
        }
    }

    /// The layout the non-Linux path allocates with.
    #[cfg(not(target_os = "linux"))]
    fn layout(size: usize) -> Option<std::alloc::Layout> {
        std::alloc::Layout::from_size_align(size, HUGE_PAGE_BYTES).ok()
    }

    /// `size` (> 0) zeroed bytes, 2 MiB aligned; null if the allocator refuses (`huge`
    /// has no meaning off Linux).
    #[cfg(not(target_os = "linux"))]
    pub(super) fn alloc_zeroed(size: usize, _huge: bool) -> *mut u8 {
        match layout(size) {
            // SAFETY: `size > 0` (the caller's contract).
            Some(l) => unsafe { std::alloc::alloc_zeroed(l) },
            None => core::ptr::null_mut(),
        }
    }

    /// Frees what [`alloc_zeroed`] returned.
    ///
    /// # Safety
    /// `ptr` came from `alloc_zeroed(size)` with this `size` and is not used again.
    #[cfg(not(target_os = "linux"))]
    pub(super) unsafe fn dealloc(ptr: *mut u8, size: usize) {
        if let Some(l) = layout(size) {
            // SAFETY: allocated with this layout (the caller's contract).
            unsafe { std::alloc::dealloc(ptr, l) };
        }
    }
}

impl<T: Element> Drop for AlignedBuf<T> {
    fn drop(&mut self) {
        if self.slab.is_some() {
            // A chunk of a slab: the slab's storage goes when its last holder does.
            return;
        }
        // The layout was valid when the buffer was built and `cap` never changes.
        if let Ok(layout) = Self::layout(self.cap)
            && layout.size() != 0
        {
            if layout.align() >= HUGE_PAGE_BYTES {
                // SAFETY: `ptr` came from `huge::alloc_zeroed(layout.size())` (the same
                // condition chose that path when the buffer was built) and is freed once.
                unsafe { huge::dealloc(self.ptr.as_ptr().cast(), layout.size()) };
            } else {
                // SAFETY: `ptr` owns an allocation of exactly `layout` (type invariant).
                unsafe { alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
            }
        }
    }
}

impl<T: Element> Deref for AlignedBuf<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Element> DerefMut for AlignedBuf<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

/// One zeroed mapping carved into [`AlignedBuf`]s: buffers built together (a pool's
/// batches, say) share whole 2 MiB pages instead of each faulting in its own small ones.
///
/// A 512 KiB buffer is too small for a transparent huge page, so sixteen of them cost 2,048
/// page faults at start-up (about 5 ms on the 2-vCPU VMs, 2026-12-02) and as many TLB
/// entries in the hot path; carved from one 8 MiB slab they take 4 huge pages. The storage
/// is freed when the slab and every buffer carved from it have been dropped. Carving is
/// lock-free (`&self`), so a pool's factory can carve its objects.
///
/// ```
/// use zerotick_mem::{AlignedBuf, Slab};
///
/// let slab = Slab::try_zeroed(2 * Slab::bytes_for::<f64>(1000).unwrap())?;
/// let mut a: AlignedBuf<f64> = slab.try_carve(1000)?;
/// let b: AlignedBuf<f64> = slab.try_carve(1000)?;
/// a[999] = 1.5;
/// assert_eq!((a[999], b[999], a.as_ptr() as usize % 64), (1.5, 0.0, 0));
/// assert!(slab.try_carve::<f64>(1).is_err()); // full
/// drop(slab); // the buffers keep the storage
/// assert_eq!(a.len(), 1000);
/// # Ok::<(), zerotick_mem::AllocError>(())
/// ```
pub struct Slab {
    /// The storage, one zeroed and resident buffer. Not read or written through this handle:
    /// its bytes are reached only through the disjoint chunks carved from it, and it is freed
    /// (by its own `Drop`) when the slab and every carved buffer have let go of it.
    storage: Arc<AlignedBuf<u8>>,
    /// Bytes carved so far, a multiple of [`ALIGN`]; only grows, at most the storage's size.
    used: AtomicUsize,
}

impl Slab {
    /// Bytes a buffer of `capacity` `T`s takes in a slab (its size rounded up to [`ALIGN`]);
    /// `None` on overflow. Size a slab as the sum over the buffers it will hold.
    pub fn bytes_for<T: Element>(capacity: usize) -> Option<usize> {
        capacity
            .checked_mul(size_of::<T>())?
            .checked_next_multiple_of(ALIGN)
    }

    /// A slab of `bytes` zeroed bytes (rounded up to [`ALIGN`]), every page resident when
    /// this returns. From 2 MiB on it is mapped from the kernel and advised as transparent
    /// huge pages, as [`AlignedBuf::try_zeroed`]'s large buffers are.
    ///
    /// # Errors
    /// [`AllocError`] if the size overflows or the allocator (or the kernel) refuses.
    pub fn try_zeroed(bytes: usize) -> Result<Self, AllocError> {
        let bytes = bytes
            .checked_next_multiple_of(ALIGN)
            .ok_or(AllocError::CapacityOverflow)?;
        let mut storage = AlignedBuf::<u8>::try_zeroed_unfaulted(bytes)?;
        // Resident whatever its size (`try_zeroed` leaves buffers below 2 MiB to the
        // allocator, which may hand back pages not mapped yet).
        storage.prefault_zeroed();
        Ok(Self {
            storage: Arc::new(storage),
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes not carved yet.
    pub fn remaining(&self) -> usize {
        self.storage.capacity_bytes() - self.used.load(Ordering::Relaxed)
    }

    /// Carves the next [`bytes_for::<T>(capacity)`](Self::bytes_for) bytes into a zeroed
    /// buffer of length `capacity`.
    ///
    /// # Errors
    /// [`AllocError::SlabFull`] when fewer bytes remain (nothing is carved);
    /// [`AllocError::CapacityOverflow`] if the size overflows.
    pub fn try_carve<T: Element>(&self, capacity: usize) -> Result<AlignedBuf<T>, AllocError> {
        const { assert!(align_of::<T>() <= ALIGN) };
        let need = Self::bytes_for::<T>(capacity).ok_or(AllocError::CapacityOverflow)?;
        if need == 0 || size_of::<T>() == 0 {
            return AlignedBuf::try_zeroed(capacity);
        }
        let total = self.storage.capacity_bytes();
        let start = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(need).filter(|&end| end <= total)
            })
            .map_err(|used| AllocError::SlabFull {
                requested: need,
                remaining: total - used,
            })?;
        // SAFETY: `start + need <= total`, so the chunk lies in the storage, whose pointer
        // (its own field, with the allocation's provenance; no reference to its bytes is
        // ever made) is non-null; `start` is a multiple of `ALIGN` (every `need` is), so
        // the chunk is `ALIGN` aligned, enough for `T`; the atomic update hands `[start,
        // start + need)` to this call alone, so the new buffer writes it exclusively.
        let ptr = unsafe { NonNull::new_unchecked(self.storage.ptr.as_ptr().add(start)) };
        Ok(AlignedBuf {
            ptr: ptr.cast::<T>(),
            len: capacity,
            cap: capacity,
            slab: Some(Arc::clone(&self.storage)),
        })
    }
}

impl fmt::Debug for Slab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slab")
            .field("bytes", &self.storage.capacity_bytes())
            .field("remaining", &self.remaining())
            .finish()
    }
}

impl<T: Element> Clone for AlignedBuf<T> {
    /// Allocates a buffer of the same capacity and copies the whole capacity.
    ///
    /// # Panics
    /// If the allocation fails.
    fn clone(&self) -> Self {
        let mut out = Self::zeroed(self.cap);
        // SAFETY: all `cap` elements of `self` are initialised (type invariant).
        let src = unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.cap) };
        out.as_capacity_slice_mut().copy_from_slice(src);
        out.len = self.len;
        out
    }
}

impl<T: Element + fmt::Debug> fmt::Debug for AlignedBuf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.cap)
            .field("data", &self.as_slice())
            .finish()
    }
}

impl<T: Element + PartialEq> PartialEq for AlignedBuf<T> {
    /// Compares the logical contents (capacity is not compared).
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_zero_is_aligned_and_empty() {
        let mut b = AlignedBuf::<f64>::zeroed(0);
        assert_eq!(b.len(), 0);
        assert_eq!(b.as_ptr() as usize % ALIGN, 0);
        assert!(b.try_push(1.0).is_err());
        b.prefault();
        b.zero();
    }

    #[test]
    fn zero_sized_elements() {
        let mut b = AlignedBuf::<()>::with_capacity(usize::MAX / 2);
        b.try_push(()).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b.capacity_bytes(), 0);
        assert_eq!(b.as_ptr() as usize % ALIGN, 0);
    }

    #[test]
    fn a_huge_page_sized_buffer_is_huge_page_aligned_and_zeroed() {
        let n = HUGE_PAGE_BYTES / 8 + 3;
        let mut buf = AlignedBuf::<f64>::zeroed(n);
        assert_eq!(buf.as_ptr() as usize % HUGE_PAGE_BYTES, 0);
        assert!(buf.iter().all(|v| *v == 0.0));
        buf.prefault();
        buf[n - 1] = 1.5;
        assert_eq!(buf[n - 1], 1.5);
        // Just below the threshold: cache-line alignment only is promised.
        let small = AlignedBuf::<u8>::zeroed(HUGE_PAGE_BYTES - 1);
        assert_eq!(small.as_ptr() as usize % ALIGN, 0);
        assert!(small.iter().all(|v| *v == 0));
    }

    #[test]
    fn an_unfaulted_huge_buffer_reads_zeros_and_keeps_what_is_written() {
        // Sizes that are not multiples of 2 MiB nor of 4 KiB: the mapping is rounded up,
        // the buffer's own bytes are what it promises.
        for n in [
            HUGE_PAGE_BYTES / 8,
            HUGE_PAGE_BYTES / 8 + 3,
            5 * HUGE_PAGE_BYTES / 16 + 1,
        ] {
            let mut buf = AlignedBuf::<f64>::try_zeroed_unfaulted(n).unwrap();
            assert_eq!(buf.as_ptr() as usize % HUGE_PAGE_BYTES, 0);
            assert_eq!((buf.len(), buf.capacity()), (n, n));
            assert!(buf.iter().all(|v| *v == 0.0));
            buf[0] = 1.0;
            buf[n - 1] = 2.0;
            buf.prefault();
            assert_eq!((buf[0], buf[n - 1], buf[n / 2]), (1.0, 2.0, 0.0));
            let copy = buf.clone();
            assert_eq!(copy, buf);
        }
        // Built and dropped over and over: each mapping is returned (a leak of 4 MiB a
        // round would show as address space far above the 64 rounds' one buffer).
        let before = crate::process::MemoryStatus::read().vm_size_bytes;
        for _ in 0..64 {
            let mut b = AlignedBuf::<u8>::try_zeroed_unfaulted(2 * HUGE_PAGE_BYTES + 1).unwrap();
            b.prefault();
        }
        let after = crate::process::MemoryStatus::read().vm_size_bytes;
        if let (Some(a), Some(b)) = (before, after) {
            assert!(b < a + 64 * HUGE_PAGE_BYTES as u64, "VmSize {a} -> {b}");
        }
    }

    /// Pages of `buf` the kernel has mapped in (`mincore`), and its page count.
    #[cfg(target_os = "linux")]
    fn resident_pages(buf: &AlignedBuf<u8>) -> (usize, usize) {
        crate::PageSpan::of(buf).resident_pages().expect("mincore")
    }

    /// Release builds too: a prefault the compiler reduced to loads would map the shared
    /// zero page and leave every page to fault in on first use (as an atomic `fetch_or(0)`
    /// did: +184% RSS after the pipeline's warm-up, 2026-12-02).
    #[cfg(target_os = "linux")]
    #[test]
    fn prefault_and_try_zeroed_leave_every_page_resident() {
        let n = 4 * HUGE_PAGE_BYTES + 12_345;
        let mut lazy = AlignedBuf::<u8>::try_zeroed_unfaulted(n).unwrap();
        let (before, pages) = resident_pages(&lazy);
        assert!(
            before < pages / 2,
            "{before} of {pages} resident before any touch"
        );
        lazy.prefault();
        assert_eq!(resident_pages(&lazy), (pages, pages));
        let eager = AlignedBuf::<u8>::try_zeroed(n).unwrap();
        let (resident, pages) = resident_pages(&eager);
        assert_eq!(resident, pages);
        assert!(eager.iter().all(|v| *v == 0));
        // A slab is resident when built, huge (2 MiB aligned) or not.
        for bytes in [n - n % ALIGN, 64 * 4096] {
            let slab = Slab::try_zeroed(bytes).unwrap();
            let whole = slab.try_carve::<u8>(bytes).unwrap();
            let (resident, pages) = resident_pages(&whole);
            assert_eq!(resident, pages, "slab of {bytes} bytes");
            assert!(whole.iter().all(|v| *v == 0));
        }
    }

    /// A base-page buffer's span faulted in from another thread: every page resident, the
    /// contents unchanged (where the kernel has `MADV_POPULATE_WRITE`; elsewhere `populate`
    /// says it did nothing, and nothing changed).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_span_populated_on_another_thread_is_resident_and_unchanged() {
        let n = 3 * HUGE_PAGE_BYTES + 777;
        let mut buf = AlignedBuf::<u8>::try_zeroed_unfaulted_with(n, crate::Pages::Base).unwrap();
        buf[n - 1] = 7;
        let (before, pages) = resident_pages(&buf);
        assert!(before < pages / 2, "{before} of {pages} resident");
        let span = crate::PageSpan::of(&buf);
        assert_eq!(span.len(), n);
        let done = std::thread::scope(|s| s.spawn(|| span.populate()).join().unwrap());
        assert_eq!(done, crate::can_populate());
        if done {
            assert_eq!(resident_pages(&buf), (pages, pages));
        }
        assert!(buf[..n - 1].iter().all(|v| *v == 0));
        assert_eq!(buf[n - 1], 7);
        assert!(crate::PageSpan::of(&AlignedBuf::<u8>::try_zeroed(0).unwrap()).populate());
    }

    #[test]
    fn huge_page_advice_keeps_contents_and_skips_small_regions() {
        let mut small = vec![7u8; 2 * HUGE_PAGE_BYTES - 1];
        assert!(!advise_huge_pages(&mut small));
        assert!(small.iter().all(|&b| b == 7));
        // An odd start and length: only the whole 2 MiB pages inside are advised.
        let mut v: Vec<u32> = (0..(3 * HUGE_PAGE_BYTES / 2 + 5) as u32).collect();
        let accepted = advise_huge_pages(&mut v[1..]);
        if cfg!(target_os = "linux")
            && std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
                .is_ok_and(|s| !s.contains("[never]"))
        {
            assert!(accepted);
        }
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
        let mut spare: Vec<f64> = Vec::with_capacity(HUGE_PAGE_BYTES);
        let _ = advise_huge_pages(spare.spare_capacity_mut());
        spare.extend((0..HUGE_PAGE_BYTES).map(|i| i as f64));
        assert_eq!(spare[HUGE_PAGE_BYTES - 1], (HUGE_PAGE_BYTES - 1) as f64);
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(
            AlignedBuf::<f64>::try_zeroed(usize::MAX).unwrap_err(),
            AllocError::CapacityOverflow
        );
    }

    #[test]
    fn slab_chunks_are_aligned_disjoint_zeroed_and_outlive_the_slab() {
        // Small (global allocator) and huge (2 MiB mapping) slabs alike.
        for per in [1000, 100_000] {
            let bytes = Slab::bytes_for::<f64>(per).unwrap();
            assert_eq!(bytes % ALIGN, 0);
            let slab = Slab::try_zeroed(3 * bytes).unwrap();
            // A huge slab took the kernel's 2 MiB-aligned mapping.
            if 3 * bytes >= HUGE_PAGE_BYTES {
                assert_eq!(slab.storage.as_ptr() as usize % HUGE_PAGE_BYTES, 0);
            }
            let mut bufs: Vec<AlignedBuf<f64>> =
                (0..3).map(|_| slab.try_carve(per).unwrap()).collect();
            assert_eq!(slab.remaining(), 0);
            assert_eq!(
                slab.try_carve::<f64>(1).unwrap_err(),
                AllocError::SlabFull {
                    requested: ALIGN,
                    remaining: 0
                }
            );
            for (k, b) in bufs.iter_mut().enumerate() {
                assert_eq!(b.as_ptr() as usize % ALIGN, 0);
                assert!(b.iter().all(|&v| v == 0.0));
                b.as_capacity_slice_mut().fill(k as f64 + 1.0);
            }
            for (k, b) in bufs.iter().enumerate() {
                assert!(
                    b.iter().all(|&v| v == k as f64 + 1.0),
                    "chunk {k} overwritten"
                );
            }
            // The slab goes first, then the buffers one by one: the storage stays until
            // the last (AddressSanitizer checks the accesses in between).
            drop(slab);
            let last = bufs.pop().unwrap();
            drop(bufs);
            assert!(last.iter().all(|&v| v == 3.0));
            // A clone is a buffer of its own.
            let c = last.clone();
            drop(last);
            assert!(c.iter().all(|&v| v == 3.0));
        }
    }

    #[test]
    fn slab_carving_from_threads_hands_out_each_byte_once() {
        let slab = Slab::try_zeroed(64 * Slab::bytes_for::<u64>(100).unwrap()).unwrap();
        let bufs: Vec<AlignedBuf<u64>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut got = Vec::new();
                        while let Ok(mut b) = slab.try_carve::<u64>(100) {
                            let id = b.as_ptr() as u64;
                            b.as_capacity_slice_mut().fill(id);
                            got.push(b);
                        }
                        got
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(bufs.len(), 64);
        for b in &bufs {
            assert!(b.iter().all(|&v| v == b.as_ptr() as u64));
        }
    }

    #[test]
    fn slab_sizes_out_of_range_are_errors() {
        assert_eq!(
            Slab::try_zeroed(usize::MAX).unwrap_err(),
            AllocError::CapacityOverflow
        );
        assert_eq!(Slab::bytes_for::<f64>(usize::MAX), None);
        let empty = Slab::try_zeroed(0).unwrap();
        assert_eq!(empty.remaining(), 0);
        // Zero-sized buffers need no room.
        assert_eq!(empty.try_carve::<f64>(0).unwrap().capacity(), 0);
        assert!(matches!(
            empty.try_carve::<f64>(usize::MAX),
            Err(AllocError::CapacityOverflow)
        ));
    }
}
