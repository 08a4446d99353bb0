//! The before/after benchmark behind `zerotick bench`: one market-data pipeline written three
//! ways and measured side by side, each in a child process of its own.
//!
//! This crate is not part of what users deploy (`publish = false`); the production `zerotick`
//! binary does not link it, and `zerotick bench [ARGS]` executes this crate's binary,
//! `zerotick-baseline`, from the same directory. Build both with `cargo build --release`.
//!
//! * [`origin`]: the origin report's "before": a fresh `Vec` and a clone per step, a
//!   `Mutex<HashMap<String, u64>>` metric per event, `std::sync::mpsc` hand-offs;
//! * [`idiomatic`]: what a competent engineer writes without zerotick: reused buffers,
//!   `crossbeam-channel`, batches recycled through a free list, the `metrics` crate;
//! * zerotick: `zerotick_pipeline::run`.
//!
//! All pipelines get the same seeded synthetic feed, run the same kernels through the public
//! stage APIs (`FeatureStage`, `ComputeStage`) and must emit the same signals (equal
//! checksums). The interleaved-median sampler, CPU pinning and the CPU model come from
//! `zerotick-bench`, so there is one of each in the workspace.
//!
//! ```text
//! cargo build --release && target/release/zerotick bench --quick
//! ```
#![forbid(unsafe_code)]

mod cachegrind;
mod child;
mod driver;
pub mod idiomatic;
mod micro;
pub mod origin;
mod steady;
mod table;

pub use driver::{BenchArgs, command};
