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

use crate::origin;

/// Which pipeline a child runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Origin-style ([`origin::run`]).
    Before,
    /// zerotick ([`zerotick_pipeline::run`]).
    After,
}

impl Which {
    /// The flag value.
    pub fn name(self) -> &'static str {
        match self {
            Which::Before => "before",
            Which::After => "after",
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
    /// zerotick only: allocations of the compute path after warm-up.
    pub steady_state_allocations: Option<u64>,
    /// Time spent acquiring locks, summed over threads, ns (`None`: no locks to time).
    pub lock_wait_ns: Option<f64>,
    /// Lock acquisitions on the pipeline's hot path.
    pub lock_acquisitions: u64,
    /// Batch pool hit rate (`None`: no pool).
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
            "steady_state_allocations": self.steady_state_allocations,
            "lock_wait_ns": self.lock_wait_ns,
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
            steady_state_allocations: v["steady_state_allocations"].as_u64(),
            lock_wait_ns: v["lock_wait_ns"].as_f64(),
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
    let config = input.config();
    let feed = input.feed();
    let rss_start = MemoryStatus::read().vm_rss_bytes;
    let allocs_start = watched_total();
    let start = Instant::now();
    let m = match which {
        Which::Before => {
            let r = origin::run(feed, &mut NullSink, &config, &watch_this_thread)?;
            let seconds = start.elapsed().as_secs_f64();
            // The shared map counted what the pipeline did (the metrics are real work).
            let count = |k: &str| r.metrics.get(k).copied().unwrap_or(0);
            anyhow::ensure!(
                count("signals") == r.vectors && count("batches") == r.batches,
                "the before pipeline's metrics disagree with its output: {:?}",
                r.metrics
            );
            Measured {
                ticks: r.ticks,
                vectors: r.vectors,
                batches: r.batches,
                seconds,
                allocations: watched_total() - allocs_start,
                steady_state_allocations: None,
                lock_wait_ns: Some(r.lock_wait_ns),
                lock_acquisitions: r.lock_acquisitions,
                pool_hit_rate: None,
                rss_growth_bytes: None,
                checksum: r.checksum,
            }
        }
        Which::After => {
            let hooks = Hooks {
                allocations: Some(&thread_total),
                thread_start: Some(&watch_this_thread),
                ..Hooks::default()
            };
            let r = run(feed, &mut NullSink, &config, &hooks)?;
            let seconds = start.elapsed().as_secs_f64();
            Measured {
                ticks: r.ticks_processed,
                vectors: r.vectors,
                batches: r.batches,
                seconds,
                allocations: watched_total() - allocs_start,
                steady_state_allocations: r.steady_state_allocations,
                lock_wait_ns: None,
                lock_acquisitions: 0,
                pool_hit_rate: r.pool.hit_rate(),
                rss_growth_bytes: None,
                checksum: r.checksum,
            }
        }
    };
    let peak = MemoryStatus::read().vm_hwm_bytes;
    Ok(Measured {
        rss_growth_bytes: peak.zip(rss_start).map(|(p, s)| p.saturating_sub(s)),
        ..m
    })
}
