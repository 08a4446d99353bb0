#![doc = include_str!("../README.md")]

mod columns;
pub mod dense;
mod dots;
mod elementwise;
mod ema;
mod error;
pub mod fft;
mod log1p;
mod math;
pub mod simd;
pub mod sparse;
mod squash;
mod stats;

pub use columns::ColumnStats;
pub use ema::{EmaBank, MAX_EMA_BLOCK};
pub use error::KernelError;
pub use log1p::LN_1P_MAX_ULPS;
pub use simd::{Kernels, Tier, UnsupportedTier, active_tier, best_supported_tier, force_tier};
pub use squash::{Squash, TANH_F32_MAX_REL_ERR, TANH_FAST_MAX_REL_ERR, TANH_RATIONAL_MAX_REL_ERR};
pub use stats::{BLOCK, Moments, NanPolicy, NormalizePolicy, NormalizeReport, ZeroVariance};
