//! Crate-private shim: the atomics and the cell the lock-free code uses, switched to loom's
//! model-checked versions under `--cfg loom` so the same code is what loom explores.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::cell::{MutPtr, UnsafeCell};

/// Mirror of `loom::cell::UnsafeCell`: access goes through a [`MutPtr`] so loom can track how
/// long it lasts.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn get_mut(&self) -> MutPtr<T> {
        MutPtr(self.0.get())
    }
}

/// Mirror of `loom::cell::MutPtr`: a raw pointer into an [`UnsafeCell`].
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct MutPtr<T>(*mut T);

#[cfg(not(loom))]
impl<T> MutPtr<T> {
    /// Takes `&mut self` (loom's takes `&self`) so a `&mut T` cannot be made from a shared
    /// borrow of the pointer's holder (a shared `Guard`): shared access goes through
    /// [`with`](Self::with).
    ///
    /// # Safety
    /// As for dereferencing a `*mut T`: the cell is alive and no other reference to its
    /// contents exists for the lifetime of the returned one.
    #[inline(always)]
    pub(crate) unsafe fn deref(&mut self) -> &mut T {
        // SAFETY: forwarded to the caller (see `# Safety`).
        unsafe { &mut *self.0 }
    }

    /// Runs `f` with the raw pointer, creating no reference (as `loom`'s `MutPtr::with`): for
    /// shared access, which must not go through a `&mut T`.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0)
    }
}
