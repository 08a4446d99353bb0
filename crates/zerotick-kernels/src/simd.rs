//! Runtime dispatch: one CPU detection, cached, choosing the widest tier the CPU has, and a
//! way to force a narrower tier for tests and benchmarks.
//!
//! Every kernel in this crate is written once, as a portable loop over fixed-width chunks with
//! several independent accumulators, and compiled three times: plainly (the scalar tier, the
//! reference), inside `#[target_feature(enable = "avx2,fma")]` and inside
//! `#[target_feature(enable = "avx512f,...")]`, where LLVM turns the chunks into 256- or
//! 512-bit vector code and fused multiply-adds. A crate-private macro generates the three copies
//! and the `match` that picks one per call.

use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};

/// A compiled variant of every kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Portable code with no instruction-set assumption beyond x86-64 (SSE2) or the target's
    /// baseline; no fused multiply-add. The reference every other tier is tested against.
    Scalar,
    /// AVX2 with FMA: 4 `f64` lanes.
    Avx2,
    /// AVX-512 (F, DQ, VL): 8 `f64` lanes.
    Avx512,
}

impl Tier {
    /// Every tier, narrowest first.
    pub const ALL: [Tier; 3] = [Tier::Scalar, Tier::Avx2, Tier::Avx512];

    /// `f64` lanes of one vector of this tier.
    pub const fn lanes_f64(self) -> usize {
        match self {
            Tier::Scalar => 1,
            Tier::Avx2 => 4,
            Tier::Avx512 => 8,
        }
    }

    /// The lower-case name used by `ZEROTICK_SIMD` and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Tier::Scalar => "scalar",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
        }
    }

    /// Parses a [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Tier> {
        Tier::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this CPU can run the tier.
    pub fn is_supported(self) -> bool {
        match self {
            Tier::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && Tier::Avx2.is_supported()
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    fn to_u8(self) -> u8 {
        self as u8 + 1
    }

    fn from_u8(v: u8) -> Option<Tier> {
        Tier::ALL.get(usize::from(v).checked_sub(1)?).copied()
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Forcing a tier the CPU cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedTier(pub Tier);

impl fmt::Display for UnsupportedTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "this CPU cannot run the {} tier", self.0)
    }
}

impl std::error::Error for UnsupportedTier {}

/// The tier in use: 0 = not decided yet, else `Tier::to_u8`.
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The tier kernels use now: the forced one if any, else the widest the CPU supports, capped
/// by the environment variable `ZEROTICK_SIMD` (`scalar`, `avx2` or `avx512`) when set.
/// Detected once; later calls are one relaxed load.
///
/// `ZEROTICK_SIMD` only ever lowers the tier: naming a tier this CPU lacks (`avx512` on an
/// AVX2-only machine) runs the widest tier it has, and an unknown name runs the detected
/// tier; either way one line on stderr says so, once per process. A tier the CPU lacks is
/// never run.
#[inline]
pub fn active_tier() -> Tier {
    match Tier::from_u8(ACTIVE.load(Ordering::Relaxed)) {
        Some(t) => t,
        None => detect(),
    }
}

#[cold]
#[inline(never)]
fn detect() -> Tier {
    let widest = Tier::ALL
        .into_iter()
        .rev()
        .find(|t| t.is_supported())
        .unwrap_or(Tier::Scalar);
    let capped = match std::env::var("ZEROTICK_SIMD") {
        Err(_) => widest,
        Ok(v) => env_tier(&v, widest),
    };
    debug_assert!(capped.is_supported());
    ACTIVE.store(capped.to_u8(), Ordering::Relaxed);
    capped
}

/// The tier `ZEROTICK_SIMD=value` selects on a CPU whose widest tier is `widest`, saying on
/// stderr when the request cannot be honoured as written.
fn env_tier(value: &str, widest: Tier) -> Tier {
    match Tier::from_name(value) {
        Some(t) if t <= widest => t,
        Some(t) => {
            eprintln!(
                "zerotick-kernels: ZEROTICK_SIMD={value}: this CPU cannot run the {t} tier; \
                 using {widest}"
            );
            widest
        }
        None => {
            eprintln!(
                "zerotick-kernels: ZEROTICK_SIMD={value} is not one of scalar, avx2, avx512; \
                 using {widest}"
            );
            widest
        }
    }
}

/// The widest tier this CPU supports (ignores forcing and `ZEROTICK_SIMD`).
pub fn best_supported_tier() -> Tier {
    Tier::ALL
        .into_iter()
        .rev()
        .find(|t| t.is_supported())
        .unwrap_or(Tier::Scalar)
}

/// Forces every kernel onto `tier` (process-wide), or back to automatic choice with `None`.
///
/// # Errors
/// [`UnsupportedTier`] if the CPU cannot run `tier`; nothing changes then.
pub fn force_tier(tier: Option<Tier>) -> Result<(), UnsupportedTier> {
    match tier {
        Some(t) if !t.is_supported() => Err(UnsupportedTier(t)),
        Some(t) => {
            ACTIVE.store(t.to_u8(), Ordering::Relaxed);
            Ok(())
        }
        None => {
            ACTIVE.store(0, Ordering::Relaxed);
            Ok(())
        }
    }
}

/// A handle that runs every kernel on one tier. `Copy`, one byte: keep one where the tier
/// should be fixed (tests, benchmarks), or use [`Kernels::active`] per call.
///
/// ```
/// use zerotick_kernels::{Kernels, Tier};
///
/// let k = Kernels::active();
/// let mut x = [1.0, -2.0, 3.0];
/// k.abs_in_place(&mut x);
/// assert_eq!(k.sum(&x), 6.0);
/// let scalar = Kernels::new(Tier::Scalar)?; // always available: the reference
/// assert_eq!(scalar.max(&x), Some(3.0));
/// # Ok::<(), zerotick_kernels::UnsupportedTier>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernels {
    /// Invariant: `tier.is_supported()`; the unsafe dispatch in [`multiversion!`] relies on it.
    tier: Tier,
}

impl Kernels {
    /// Kernels on `tier`.
    ///
    /// # Errors
    /// [`UnsupportedTier`] if this CPU cannot run it.
    pub fn new(tier: Tier) -> Result<Self, UnsupportedTier> {
        if tier.is_supported() {
            Ok(Self { tier })
        } else {
            Err(UnsupportedTier(tier))
        }
    }

    /// Kernels on the [`active_tier`].
    #[inline]
    pub fn active() -> Self {
        Self {
            tier: active_tier(),
        }
    }

    /// The tier these kernels run on.
    #[inline]
    pub fn tier(&self) -> Tier {
        self.tier
    }
}

/// Defines a kernel body once and compiles it for every tier.
///
/// `multiversion! { pub(crate) fn name(args) -> Ret { body } }` defines
/// `name(k: Kernels, args) -> Ret`. Inside the body, the const `FMA: bool` says whether fused
/// multiply-add is a single instruction in this copy (see [`madd`]).
///
/// The dispatch takes the [`Kernels`] handle, not a raw [`Tier`]: a `Kernels` can only be
/// made for a tier [`Tier::is_supported`] confirmed (its field is private, and every
/// constructor checks or reads the detected tier), so safe code cannot reach the
/// `target_feature` copy of a tier the CPU lacks.
macro_rules! multiversion {
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $vis fn $name(k: $crate::simd::Kernels, $($arg: $ty),*) -> $ret {
            #[inline(always)]
            #[allow(clippy::needless_range_loop)]
            fn body<const FMA: bool>($($arg: $ty),*) -> $ret $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
            fn avx512($($arg: $ty),*) -> $ret {
                body::<true>($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) -> $ret {
                body::<true>($($arg),*)
            }

            match k.tier() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Kernels`' invariant: its tier passed `Tier::is_supported` on this
                // CPU, i.e. avx512f, avx512dq, avx512vl, avx2 and fma are all present.
                $crate::simd::Tier::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Kernels`' invariant: avx2 and fma are present on this CPU.
                $crate::simd::Tier::Avx2 => unsafe { avx2($($arg),*) },
                _ => body::<false>($($arg),*),
            }
        }
    };
}
pub(crate) use multiversion;

/// `a * b + c`: one fused instruction where the tier has FMA, two roundings otherwise (the
/// scalar tier must not call the slow software `fma`).
#[inline(always)]
pub(crate) fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Tier::ALL {
            assert_eq!(Tier::from_name(t.name()), Some(t));
            assert_eq!(Tier::from_u8(t.to_u8()), Some(t));
        }
        assert_eq!(Tier::from_name("AVX2 "), Some(Tier::Avx2));
        assert_eq!(Tier::from_name("sse"), None);
    }

    #[test]
    fn env_override_only_lowers() {
        let widest = best_supported_tier();
        assert_eq!(env_tier("scalar", widest), Tier::Scalar);
        assert_eq!(
            env_tier("avx512", widest),
            widest,
            "never above what the CPU has"
        );
        assert_eq!(env_tier("bogus", widest), widest);
        for t in Tier::ALL {
            assert!(env_tier(t.name(), widest).is_supported());
            assert!(env_tier(t.name(), Tier::Scalar) == Tier::Scalar);
        }
    }

    #[test]
    fn a_kernels_handle_only_exists_for_a_supported_tier() {
        for t in Tier::ALL {
            assert_eq!(Kernels::new(t).is_ok(), t.is_supported());
        }
        assert!(Kernels::active().tier().is_supported());
    }

    #[test]
    fn scalar_is_always_supported() {
        assert!(Tier::Scalar.is_supported());
        assert!(best_supported_tier() >= Tier::Scalar);
    }
}
