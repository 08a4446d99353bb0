//! Errors of the rings, shared by [`spsc`](super) and [`mpmc`](crate::mpmc).

use core::fmt;

/// A ring could not be built with the requested capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityError {
    /// Capacity 0: a ring must hold at least one item.
    Zero,
    /// Above what the ring can index or the address space can hold for this item type.
    TooLarge {
        /// Items requested.
        requested: usize,
        /// The largest capacity for this item type.
        max: usize,
    },
    /// The allocator refused the storage.
    AllocFailed {
        /// Bytes requested.
        bytes: usize,
    },
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zero => f.write_str("ring capacity must be at least 1"),
            Self::TooLarge { requested, max } => {
                write!(f, "ring capacity {requested} is above the maximum of {max}")
            }
            Self::AllocFailed { bytes } => write!(f, "allocating {bytes} bytes of ring failed"),
        }
    }
}

impl std::error::Error for CapacityError {}

/// A push that did not happen; the value is handed back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// The ring is full.
    Full(T),
    /// The ring is closed (by `close` or because a handle was dropped): nothing more can be
    /// pushed.
    Closed(T),
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(v) | Self::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("ring is full"),
            Self::Closed(_) => f.write_str("ring is closed"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

/// A pop that found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopError {
    /// The ring is empty for now.
    Empty,
    /// The ring is closed and drained: nothing will ever arrive.
    Closed,
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("ring is empty"),
            Self::Closed => f.write_str("ring is closed and drained"),
        }
    }
}

impl std::error::Error for PopError {}

/// A batch or chunk call on a closed ring: for pushes, closed at all; for pops, closed and
/// drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedError;

impl fmt::Display for ClosedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ring is closed")
    }
}

impl std::error::Error for ClosedError {}
