#![doc = include_str!("../README.md")]

mod columns;
pub mod dense;
mod elementwise;
mod error;
pub mod fft;
mod math;
pub mod simd;
pub mod sparse;
mod stats;

pub use columns::ColumnStats;
pub use error::KernelError;
pub use simd::{Kernels, Tier, UnsupportedTier, active_tier, best_supported_tier, force_tier};
pub use stats::{BLOCK, Moments, NanPolicy, NormalizePolicy, NormalizeReport, ZeroVariance};
