//! zerotick: a hot path that does not allocate, lock or copy, for trading and ML pipelines.
//!
//! This crate is the facade over the workspace (and home of the `zerotick` binary):
//! [`core`] (ticks, feed and sink traits, symbol table), [`feeds`] (CSV and synthetic feeds,
//! file sinks), [`mem`] (aligned buffers, pools, arenas), [`sync`] (rings, metrics),
//! [`kernels`] (SIMD, statistics, dense, sparse, FFT), [`pipeline`] (features, compute, the
//! assembled run), [`redis`] (Redis Streams transport), [`kafka`] (Kafka transport) and
//! [`parquet`] (the Parquet sink).
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub use zerotick_core as core;
pub use zerotick_feeds as feeds;
pub use zerotick_kafka as kafka;
pub use zerotick_kernels as kernels;
pub use zerotick_mem as mem;
pub use zerotick_parquet as parquet;
pub use zerotick_pipeline as pipeline;
pub use zerotick_redis as redis;
pub use zerotick_sync as sync;
