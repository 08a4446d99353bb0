//! Page-level control of large buffers: which pages map them ([`Pages`]) and faulting a
//! buffer's pages in from another thread ([`PageSpan::populate`]).
//!
//! Why another thread: a buffer that must be resident before the hot path starts (so that
//! no page faults in later) costs its page faults at start-up, and on a 2-core machine the
//! other core may be idle then. On the 2-vCPU Firecracker VMs this project is measured on,
//! the host takes freed memory back (`page_reporting.page_reporting_order=11`), and a 2 MiB
//! huge page taken from such memory costs ~2.5 ms to fault in (`examples/fault_in.rs` with
//! `keep`: 75-120 ms per 32 MiB, against 3-4 ms for recycled huge pages and 11-16 ms for
//! 4 KiB pages, AMD EPYC Zen 4, 2026-12-02).

use crate::AlignedBuf;
use crate::element::Element;

/// Which pages map a buffer of 2 MiB or more
/// ([`AlignedBuf::try_zeroed_unfaulted_with`]); smaller buffers come from the global
/// allocator whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pages {
    /// Transparent huge pages where whole 2 MiB pages fit (`madvise(MADV_HUGEPAGE)`): one
    /// TLB entry per 2 MiB, for buffers the hot path walks. The default.
    #[default]
    Huge,
    /// The base page size (4 KiB on x86-64): for large buffers that are written a row at a
    /// time and read rarely (a TLB miss per 4 KiB costs nothing there), where fresh huge
    /// pages would make start-up slow (see the module docs).
    Base,
}

/// The address range of a buffer's storage, to fault in with [`populate`](Self::populate)
/// from any thread. It holds no borrow: keep the buffer alive until `populate` returns (if
/// the storage was freed meanwhile, `populate` faults in whatever is mapped there now, or
/// fails; it never reads or changes any memory's contents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSpan {
    addr: usize,
    len: usize,
}

impl PageSpan {
    /// The span of `buf`'s storage (its whole capacity).
    pub fn of<T: Element>(buf: &AlignedBuf<T>) -> Self {
        Self {
            addr: buf.as_ptr() as usize,
            len: buf.capacity_bytes(),
        }
    }

    /// Bytes in the span.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the span is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Faults every page of the span in now, writable, as a write to each page would, but
    /// inside the kernel (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14 and later) and without
    /// writing anything: contents are unchanged, so this may run on any thread while the
    /// buffer's owner holds it. Returns `false` where the kernel cannot (an older kernel,
    /// not Linux, or memory it could not map); see [`can_populate`].
    pub fn populate(&self) -> bool {
        if self.len == 0 {
            return true;
        }
        let (start, len) = self.whole_pages();
        populate_range(start, len)
    }

    /// How many of the span's pages are resident now, and how many pages it touches
    /// (`mincore`; the page holding its first byte counts too): `None` off Linux or if the
    /// kernel refuses (the range is not mapped).
    pub fn resident_pages(&self) -> Option<(usize, usize)> {
        let (start, len) = self.whole_pages();
        let pages = len.div_ceil(crate::aligned::PAGE_BYTES);
        resident(start, len, pages).map(|n| (n, pages))
    }

    /// The span from the start of the page holding its first byte (`madvise` and `mincore`
    /// want a page-aligned start; that page belongs to the same mapping or allocation):
    /// `(start, len)`.
    fn whole_pages(&self) -> (usize, usize) {
        let start = self.addr & !(crate::aligned::PAGE_BYTES - 1);
        (start, self.addr + self.len - start)
    }
}

#[cfg(target_os = "linux")]
fn resident(start: usize, len: usize, pages: usize) -> Option<usize> {
    let mut vec = vec![0u8; pages];
    // SAFETY: `mincore` only reports on the range (an unmapped one is an error, ENOMEM);
    // `vec` has one byte per page of it.
    let rc = unsafe { libc::mincore(start as *mut libc::c_void, len, vec.as_mut_ptr()) };
    (rc == 0).then(|| vec.iter().filter(|v| **v & 1 != 0).count())
}

#[cfg(not(target_os = "linux"))]
fn resident(_start: usize, _len: usize, _pages: usize) -> Option<usize> {
    None
}

/// Whether [`PageSpan::populate`] works on this kernel, probed once (a one-page mapping).
pub fn can_populate() -> bool {
    static CAN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CAN.get_or_init(|| {
        AlignedBuf::<u8>::try_zeroed_unfaulted_with(crate::aligned::HUGE_PAGE_BYTES, Pages::Base)
            .is_ok_and(|probe| {
                let one = PageSpan {
                    addr: probe.as_ptr() as usize,
                    len: crate::aligned::PAGE_BYTES,
                };
                one.populate()
            })
    })
}

#[cfg(target_os = "linux")]
fn populate_range(start: usize, len: usize) -> bool {
    // SAFETY: MADV_POPULATE_WRITE changes page tables only: it maps the range's pages as a
    // write fault would, and the memory's contents stay as they are (fresh anonymous pages
    // read as zero either way). An unmapped range is an error, not undefined behaviour.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn populate_range(_start: usize, _len: usize) -> bool {
    false
}
