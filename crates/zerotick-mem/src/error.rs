//! Error types of the memory layer. Every fallible operation returns one of these; none of
//! them allocates.

use core::fmt;

/// Building a buffer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocError {
    /// The requested size in bytes does not fit in `isize`.
    CapacityOverflow,
    /// The system allocator refused a request of this many bytes.
    OutOfMemory {
        /// Bytes requested.
        bytes: usize,
    },
    /// A [`Slab`](crate::Slab) had fewer bytes left than a buffer carved from it needed.
    SlabFull {
        /// Bytes the buffer needed.
        requested: usize,
        /// Bytes the slab had left.
        remaining: usize,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CapacityOverflow => f.write_str("requested capacity overflows isize"),
            Self::OutOfMemory { bytes } => write!(f, "allocator refused {bytes} bytes"),
            Self::SlabFull {
                requested,
                remaining,
            } => write!(
                f,
                "slab has {remaining} bytes left, a buffer needs {requested}"
            ),
        }
    }
}

impl std::error::Error for AllocError {}

/// An operation would have taken a fixed-capacity container past its capacity. The container
/// is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityError {
    /// The container's fixed capacity (elements or rows).
    pub capacity: usize,
    /// The length the operation needed.
    pub requested: usize,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "needs {} but capacity is {}",
            self.requested, self.capacity
        )
    }
}

impl std::error::Error for CapacityError {}

/// A shape did not match what the container holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeError {
    /// A row of the wrong width was offered.
    WidthMismatch {
        /// Width the container was built with.
        expected: usize,
        /// Width offered.
        got: usize,
    },
    /// The requested shape needs more elements than the buffer holds.
    TooLarge(CapacityError),
    /// An index was past the current length.
    OutOfBounds {
        /// Index asked for.
        index: usize,
        /// Current length.
        len: usize,
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WidthMismatch { expected, got } => {
                write!(f, "row width {got} does not match {expected}")
            }
            Self::TooLarge(e) => write!(f, "shape too large: {e}"),
            Self::OutOfBounds { index, len } => {
                write!(f, "index {index} out of bounds (len {len})")
            }
        }
    }
}

impl std::error::Error for ShapeError {}

impl From<CapacityError> for ShapeError {
    fn from(e: CapacityError) -> Self {
        Self::TooLarge(e)
    }
}
