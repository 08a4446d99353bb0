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

/// What the baselines' tests share: the feed and settings they run, and the zerotick run
/// their signals must equal.
#[cfg(test)]
mod test_support {
    use zerotick_core::NullSink;
    use zerotick_feeds::{SyntheticConfig, SyntheticFeed};
    use zerotick_pipeline::{Hooks, PipelineConfig, RunReport, run};

    /// A seeded 16-symbol synthetic feed of `ticks` ticks.
    pub(crate) fn feed(seed: u64, ticks: u64) -> SyntheticFeed {
        SyntheticFeed::new(SyntheticConfig {
            symbols: 16,
            seed,
            ticks: Some(ticks),
            ..SyntheticConfig::default()
        })
    }

    /// The default settings, sized for [`feed`]'s 16 symbols.
    pub(crate) fn config() -> PipelineConfig {
        PipelineConfig {
            symbols_hint: 16,
            ..PipelineConfig::default()
        }
    }

    /// The zerotick pipeline's run of `feed(seed, ticks)` with `config`.
    pub(crate) fn zerotick_run(seed: u64, ticks: u64, config: &PipelineConfig) -> RunReport {
        run(feed(seed, ticks), &mut NullSink, config, &Hooks::default()).expect("zerotick run")
    }
}
