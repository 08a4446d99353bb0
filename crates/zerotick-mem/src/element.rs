//! The plain numbers that aligned buffers and arena slices hold.

/// A plain number that can live in an [`AlignedBuf`](crate::AlignedBuf) or be zero-filled in an
/// [`Arena`](crate::Arena).
///
/// Implemented for every primitive integer and float type, and for `()` (a zero-sized element,
/// useful in tests).
///
/// # Safety
/// Implementors must be `Copy`, contain no padding and no pointers, and every bit pattern of
/// their size (in particular all zero bits) must be a valid value. Buffers rely on this to hand
/// out zero-initialised or previously used memory as `&[T]` without tracking which elements were
/// written.
pub unsafe trait Element: Copy + Send + Sync + 'static {
    /// The value whose bits are all zero (`0`, `0.0`, `()`).
    const ZERO: Self;
}

macro_rules! impl_element {
    ($($t:ty = $zero:expr),* $(,)?) => {
        $(
            // SAFETY: a primitive number: no padding, no pointers, every bit pattern valid.
            unsafe impl Element for $t {
                const ZERO: Self = $zero;
            }
        )*
    };
}

impl_element!(
    f32 = 0.0,
    f64 = 0.0,
    u8 = 0,
    u16 = 0,
    u32 = 0,
    u64 = 0,
    u128 = 0,
    usize = 0,
    i8 = 0,
    i16 = 0,
    i32 = 0,
    i64 = 0,
    i128 = 0,
    isize = 0,
    () = (),
);
