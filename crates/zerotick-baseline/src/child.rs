//! One pipeline run inside a child process (`zerotick-baseline --inner before|after`), so its
//! memory figures are its own: the parent reads back one JSON line of [`Measured`].

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use zerotick_core::NullSink;
use zerotick_feeds::{SyntheticConfig, SyntheticFeed};
use zerotick_mem::counting::{thread_total, watch_this_thread, watched_total};
use zerotick_mem::process::MemoryStatus;
use zerotick_pipeline::{Hooks, PipelineConfig, run};

use crate::steady::Steady;
use crate::{idiomatic, origin};

/// Which pipeline a child runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Origin-style ([`origin::run`]).
    Origin,
    /// Idiomatic, features and compute on one thread ([`idiomatic::Layout::Two`]).
    #[value(name = "idiomatic-2")]
    Idiomatic2,
    /// Idiomatic, feed, feature and compute threads ([`idiomatic::Layout::Three`]).
    #[value(name = "idiomatic-3")]
    Idiomatic3,
    /// zerotick ([`zerotick_pipeline::run`]).
    Zerotick,
}

impl Which {
    /// Every pipeline, in the order a round runs them (rotated each round).
    pub const ALL: [Which; 4] = [
        Which::Origin,
        Which::Idiomatic2,
        Which::Idiomatic3,
        Which::Zerotick,
    ];

    /// The flag value.
    pub fn name(self) -> &'static str {
        match self {
            Which::Origin => "origin",
            Which::Idiomatic2 => "idiomatic-2",
            Which::Idiomatic3 => "idiomatic-3",
            Which::Zerotick => "zerotick",
        }
    }
}

/// The input both pipelines get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Input {
    /// Ticks of the synthetic feed.
    pub ticks: u64,
    /// Symbols of the synthetic market.
    pub symbols: usize,
    /// Seed of the synthetic market.
    pub seed: u64,
    /// Ticks before steady state (allocations, blocked time and the steady rate are counted after it).
    pub warmup_ticks: u64,
}

impl Input {
    fn feed(&self) -> SyntheticFeed {
        SyntheticFeed::new(SyntheticConfig {
            symbols: self.symbols,
            seed: self.seed,
            ticks: Some(self.ticks),
            ..SyntheticConfig::default()
        })
    }

    /// Both pipelines' settings: zerotick's defaults (32-row batches, a row every 64 ticks of
    /// a symbol, 1,024-tick ring, 8 batches in flight).
    pub fn config(&self) -> PipelineConfig {
        PipelineConfig {
            symbols_hint: self.symbols,
            warmup_ticks: self.warmup_ticks,
            ..PipelineConfig::default()
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Ticks through the feature stage.
    pub ticks: u64,
    /// Feature rows (= signals).
    pub vectors: u64,
    /// Batches through the compute stage.
    pub batches: u64,
    /// Wall time of the run (pipeline built, run, torn down), seconds.
    pub seconds: f64,
    /// Heap allocations by the pipeline's threads over the whole run.
    pub allocations: u64,
    /// Allocations per second by the pipeline's threads in steady state ([`Steady`]).
    pub steady_allocations_per_s: Option<f64>,
    /// Fraction of the pipeline threads' time spent blocked in steady state ([`Steady`]).
    pub blocked_fraction: Option<f64>,
    /// Ticks per second in steady state ([`Steady::ticks_per_s`]).
    pub steady_ticks_per_s: Option<f64>,
    /// Lock acquisitions on the pipeline's hot path (origin-style only; the others take none).
    pub lock_acquisitions: u64,
    /// Batch pool (zerotick) or free-list (idiomatic) hit rate (`None`: no pool).
    pub pool_hit_rate: Option<f64>,
    /// Peak RSS minus RSS before the pipeline was built, bytes.
    pub rss_growth_bytes: Option<u64>,
    /// Digest of the signals.
    pub checksum: u64,
}

impl Measured {
    /// The JSON line a child prints.
    pub fn to_json(&self) -> Value {
        json!({
            "ticks": self.ticks,
            "vectors": self.vectors,
            "batches": self.batches,
            "seconds": self.seconds,
            "allocations": self.allocations,
            "steady_allocations_per_s": self.steady_allocations_per_s,
            "blocked_fraction": self.blocked_fraction,
            "steady_ticks_per_s": self.steady_ticks_per_s,
            "lock_acquisitions": self.lock_acquisitions,
            "pool_hit_rate": self.pool_hit_rate,
            "rss_growth_bytes": self.rss_growth_bytes,
            "checksum": format!("{:016x}", self.checksum),
        })
    }

    /// Reads a child's JSON line back.
    ///
    /// # Errors
    /// A field is missing or has the wrong type.
    pub fn from_json(v: &Value) -> Result<Self> {
        let u = |k: &str| v[k].as_u64().with_context(|| format!("field {k} in {v}"));
        let f = |k: &str| v[k].as_f64().with_context(|| format!("field {k} in {v}"));
        let checksum = v["checksum"]
            .as_str()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .with_context(|| format!("field checksum in {v}"))?;
        Ok(Self {
            ticks: u("ticks")?,
            vectors: u("vectors")?,
            batches: u("batches")?,
            seconds: f("seconds")?,
            allocations: u("allocations")?,
            steady_allocations_per_s: v["steady_allocations_per_s"].as_f64(),
            blocked_fraction: v["blocked_fraction"].as_f64(),
            steady_ticks_per_s: v["steady_ticks_per_s"].as_f64(),
            lock_acquisitions: u("lock_acquisitions")?,
            pool_hit_rate: v["pool_hit_rate"].as_f64(),
            rss_growth_bytes: v["rss_growth_bytes"].as_u64(),
            checksum,
        })
    }
}

/// Runs one pipeline on `input` in this process and measures it.
///
/// # Errors
/// The pipeline failed.
pub fn measure(which: Which, input: &Input) -> Result<Measured> {
    // A child process measures one pipeline: its `Steady` lives as long as the process, so
    // that zerotick's thread hook (a plain `fn`: the feed thread is not scoped) can reach it.
    let steady: &'static Steady = Box::leak(Box::new(Steady::new(input.warmup_ticks)));
    let _ = STEADY.set(steady);
    let (m, blocked) = std::thread::scope(|s| {
        let sampler = s.spawn(|| steady.sample_blocked());
        let m = run_one(which, input, steady);
        steady.finish();
        let blocked = sampler
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (m, blocked)
    });
    Ok(Measured {
        steady_allocations_per_s: steady.allocations_per_s(),
        blocked_fraction: blocked,
        steady_ticks_per_s: steady.ticks_per_s(),
        ..m?
    })
}

/// The process's `Steady` (the first one `measure` made), for [`zerotick_thread_start`].
static STEADY: std::sync::OnceLock<&'static Steady> = std::sync::OnceLock::new();

/// zerotick's per-thread hook: count this thread's allocations, time its blocked share.
fn zerotick_thread_start() {
    watch_this_thread();
    if let Some(s) = STEADY.get() {
        s.thread_start();
    }
}

fn run_one(which: Which, input: &Input, steady: &Steady) -> Result<Measured> {
    let config = input.config();
    let feed = input.feed();
    let thread_start = || {
        watch_this_thread();
        steady.thread_start();
    };
    let progress = |n: u64| steady.progress(n);
    let rss_start = MemoryStatus::read().vm_rss_bytes;
    let allocs_start = watched_total();
    let start = Instant::now();
    let base = Measured {
        ticks: 0,
        vectors: 0,
        batches: 0,
        seconds: 0.0,
        allocations: 0,
        steady_allocations_per_s: None,
        blocked_fraction: None,
        steady_ticks_per_s: None,
        lock_acquisitions: 0,
        pool_hit_rate: None,
        rss_growth_bytes: None,
        checksum: 0,
    };
    let m = match which {
        Which::Origin => {
            let r = origin::run(feed, &mut NullSink, &config, &thread_start, &progress)?;
            // The shared map counted what the pipeline did (the metrics are real work).
            let count = |k: &str| r.metrics.get(k).copied().unwrap_or(0);
            anyhow::ensure!(
                count("signals") == r.vectors && count("batches") == r.batches,
                "the origin-style pipeline's metrics disagree with its output: {:?}",
                r.metrics
            );
            Measured {
                ticks: r.ticks,
                vectors: r.vectors,
                batches: r.batches,
                lock_acquisitions: r.lock_acquisitions,
                checksum: r.checksum,
                ..base
            }
        }
        Which::Idiomatic2 | Which::Idiomatic3 => {
            let layout = if which == Which::Idiomatic2 {
                idiomatic::Layout::Two
            } else {
                idiomatic::Layout::Three
            };
            let r = idiomatic::run(
                feed,
                &mut NullSink,
                &config,
                layout,
                &thread_start,
                &progress,
            )?;
            anyhow::ensure!(
                r.counters.get("signals") == Some(&r.vectors),
                "the idiomatic pipeline's metrics disagree with its output: {:?}",
                r.counters
            );
            let got = r.free_list_hits + r.free_list_misses;
            Measured {
                ticks: r.ticks,
                vectors: r.vectors,
                batches: r.batches,
                pool_hit_rate: (got > 0).then(|| r.free_list_hits as f64 / got as f64),
                checksum: r.checksum,
                ..base
            }
        }
        Which::Zerotick => {
            let hooks = Hooks {
                allocations: Some(thread_total),
                thread_start: Some(zerotick_thread_start),
                progress: Some(&progress),
                ..Hooks::default()
            };
            let r = run(feed, &mut NullSink, &config, &hooks)?;
            Measured {
                ticks: r.ticks_processed,
                vectors: r.vectors,
                batches: r.batches,
                pool_hit_rate: r.pool.hit_rate(),
                checksum: r.checksum,
                ..base
            }
        }
    };
    let peak = MemoryStatus::read().vm_hwm_bytes;
    Ok(Measured {
        seconds: start.elapsed().as_secs_f64(),
        allocations: watched_total() - allocs_start,
        rss_growth_bytes: peak.zip(rss_start).map(|(p, s)| p.saturating_sub(s)),
        ..m
    })
}
