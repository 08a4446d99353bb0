//! zerotick: a hot path that does not allocate, lock or copy, for trading and ML pipelines.
//!
//! This crate is the facade over the workspace (and home of the `zerotick` binary):
//! [`mem`] (aligned buffers, pools, arenas), [`sync`] (rings, metrics), [`kernels`] (SIMD,
//! statistics) and [`pipeline`] (feeds, features, compute, sinks).
#![forbid(unsafe_code)]

pub use zerotick_kernels as kernels;
pub use zerotick_mem as mem;
pub use zerotick_pipeline as pipeline;
pub use zerotick_sync as sync;
