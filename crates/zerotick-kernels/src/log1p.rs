//! `ln(1 + x)` without the cancellation of `ln` applied to a rounded `1 + x`.
//!
//! With `u = fl(1 + x)`, `ln(1 + x) = ln(u) * x / (u - 1)` (Goldberg, "What every computer
//! scientist should know about floating-point arithmetic", theorem 4): `u - 1` is exact and
//! the quotient `x / (u - 1)` corrects the rounding of `u`, so the result is within a few ULP
//! wherever `ln` is. When `u == 1` (|x| below half an ULP of 1, incl. subnormals and -0) the
//! result is `x` itself. Specials follow std: NaN -> NaN, -1 -> -inf, below -1 -> NaN,
//! +inf -> +inf.
//!
//! Accuracy against `f64::ln_1p`, checked by `tests/log1p.rs` on every tier: at most
//! [`LN_1P_MAX_ULPS`] ULP over the whole domain.

use crate::elementwise::map_in_place;
use crate::error::KernelError;
use crate::math;
use crate::simd::{Kernels, multiversion};

/// Largest distance in ULP from `f64::ln_1p` the tests accept: 2 ULP of the vectorised `ln`,
/// plus the rounding of the product and the quotient (1 ULP each) and of `x / (u - 1)`.
pub const LN_1P_MAX_ULPS: u64 = 5;

/// `ln(1 + x)`.
#[inline(always)]
pub(crate) fn ln_1p<const FMA: bool>(x: f64) -> f64 {
    let u = 1.0 + x;
    let y = math::ln::<FMA>(u) * (x / (u - 1.0));
    let y = if u == 1.0 { x } else { y };
    if x == f64::INFINITY { x } else { y }
}

multiversion! {
    fn ln_1p_in_place_v(x: &mut [f64]) -> () { map_in_place(x, ln_1p::<FMA>) }
}

impl Kernels {
    /// `x[i] = ln(1 + x[i])`, within [`LN_1P_MAX_ULPS`] ULP of `f64::ln_1p`.
    #[inline]
    pub fn ln_1p_in_place(&self, x: &mut [f64]) {
        ln_1p_in_place_v(*self, x);
    }

    /// As [`ln_1p_in_place`](Self::ln_1p_in_place), writing into `out`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the slices differ in length; nothing is written.
    #[inline]
    pub fn ln_1p_into(&self, out: &mut [f64], x: &[f64]) -> Result<(), KernelError> {
        if out.len() != x.len() {
            return Err(KernelError::LengthMismatch {
                expected: out.len(),
                got: x.len(),
            });
        }
        out.copy_from_slice(x);
        self.ln_1p_in_place(out);
        Ok(())
    }
}
