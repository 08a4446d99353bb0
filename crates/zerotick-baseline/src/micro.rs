//! The four micro-figures, timed by `zerotick-bench`'s harness (calibrated loops, warm-up,
//! samples with the two impls of a pair interleaved, the start rotated each round, the median
//! ns per op), on a thread pinned to one CPU with `zerotick-bench`'s pinning.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Mutex, PoisonError};

use anyhow::Result;
use zerotick_bench::{Config, Harness, Impl, pin};
use zerotick_mem::{AlignedBuf, MissPolicy, Pool, ResetPolicy};
use zerotick_sync::metrics::Registry;

use crate::idiomatic::Recorder;

/// Elements of the buffer allocated or pooled per op.
pub const BUF_LEN: usize = 1024;
/// Key the metric ops increment.
const KEY: &str = "ticks_processed";

/// The micro-figures, median ns per op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Micro {
    /// A fresh `Vec<f64>` with room for [`BUF_LEN`] (not zero-filled), one element written,
    /// dropped.
    pub with_allocation_ns: f64,
    /// A [`BUF_LEN`]-f64 `Vec` taken from a crossbeam-channel free list, cleared, one element
    /// written, sent back (the idiomatic pipeline's recycling).
    pub with_free_list_ns: f64,
    /// A [`BUF_LEN`]-f64 buffer acquired from a zerotick `Pool` (reset, not zero-filled), one
    /// element written, released.
    pub with_pool_ns: f64,
    /// `Mutex<HashMap<String, u64>>`: lock, look the key up, add 1 (uncontended).
    pub mutex_metric_ns: f64,
    /// A `metrics` crate counter handle's `increment(1)` ([`Recorder`]'s atomics).
    pub metrics_crate_ns: f64,
    /// A zerotick metrics `Counter::inc`.
    pub lockfree_metric_ns: f64,
    /// Samples each median was taken over.
    pub samples: usize,
    /// The CPU the measuring thread was pinned to (`None`: pinning failed, see stderr).
    pub cpu: Option<usize>,
}

/// Measures the four figures on a thread of its own pinned to the first allowed CPU
/// (`quick`: short samples, for smoke runs). Not on the calling thread: child processes
/// started later inherit its affinity mask, and the pipelines must see every CPU.
///
/// # Errors
/// The pool or the counter could not be built.
pub fn measure(config: Config) -> Result<Micro> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let cpu = pin::pick_cpus(1).and_then(|c| c.first().copied());
            let pinned = cpu.filter(|&c| match pin::pin_current_thread(c) {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("zerotick bench: micro-figures not pinned to cpu {c}: {e}");
                    false
                }
            });
            measure_here(config, pinned)
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn measure_here(config: Config, cpu: Option<usize>) -> Result<Micro> {
    let mut h = Harness::new(config);
    h.start_group("bench");
    let pool = Pool::new(64, MissPolicy::FailFast, ResetPolicy::Clear, || {
        AlignedBuf::<f64>::with_capacity(BUF_LEN)
    })?;
    // The free list of the idiomatic pipeline: a channel buffers come back on.
    let (back_tx, back_rx) = crossbeam_channel::unbounded::<Vec<f64>>();
    for _ in 0..64 {
        back_tx.send(Vec::with_capacity(BUF_LEN))?;
    }
    // The same work in all three: get a buffer with room for BUF_LEN f64, write one element,
    // give it back. None zero-fills the buffer.
    let [with_allocation_ns, with_free_list_ns, with_pool_ns] = trio(
        &mut h,
        "with_allocation_vs_pool",
        [
            Impl::per_op("with_allocation", || {
                let mut v = Vec::<f64>::with_capacity(BUF_LEN);
                v.push(1.0);
                black_box(&mut v);
            }),
            Impl::per_op("with_free_list", || {
                if let Ok(mut v) = black_box(&back_rx).try_recv() {
                    v.clear();
                    v.push(1.0);
                    black_box(&mut v);
                    let _ = back_tx.send(v);
                }
            }),
            Impl::per_op("with_pool", || {
                if let Ok(mut buf) = black_box(&pool).acquire() {
                    let _ = buf.try_push(1.0);
                    black_box(&mut buf);
                }
            }),
        ],
    );
    let hits = pool.stats().hits;

    let mutex = Mutex::new(HashMap::from([(KEY.to_owned(), 0u64)]));
    let registry = Registry::new();
    let counter = registry.counter(KEY, "Ticks.", &[])?;
    let recorder = Recorder::default();
    let facade = metrics::with_local_recorder(&recorder, || metrics::counter!(KEY));
    let [mutex_metric_ns, metrics_crate_ns, lockfree_metric_ns] = trio(
        &mut h,
        "mutex_vs_lockfree_metric",
        [
            Impl::per_op("mutex_metric", || {
                let mut map = black_box(&mutex)
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(v) = map.get_mut(black_box(KEY)) {
                    *v += 1;
                }
            }),
            Impl::per_op("metrics_crate", || black_box(&facade).increment(1)),
            Impl::per_op("lockfree_metric", || black_box(&counter).inc()),
        ],
    );
    // Every op really ran: the pool handed out buffers, both metrics counted.
    let map_count = mutex
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(KEY)
        .copied()
        .unwrap_or(0);
    anyhow::ensure!(
        hits > 0
            && map_count > 0
            && counter.get() > 0
            && recorder.counters().get(KEY).is_some_and(|&n| n > 0)
            && back_rx.len() == 64,
        "a micro-benchmark op did not run"
    );
    Ok(Micro {
        with_allocation_ns,
        with_free_list_ns,
        with_pool_ns,
        mutex_metric_ns,
        metrics_crate_ns,
        lockfree_metric_ns,
        samples: config.samples(),
        cpu,
    })
}

/// Median ns per op of the three impls of `case`, measured interleaved.
fn trio(h: &mut Harness, case: &'static str, impls: [Impl<'_>; 3]) -> [f64; 3] {
    let rows = h.case(case, Vec::from(impls));
    [rows[0].median_ns, rows[1].median_ns, rows[2].median_ns]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_positive_and_allocating_costs_more_than_pooling() {
        let m = measure(Config { quick: true }).expect("micro");
        for v in [
            m.with_allocation_ns,
            m.with_pool_ns,
            m.with_free_list_ns,
            m.metrics_crate_ns,
            m.mutex_metric_ns,
            m.lockfree_metric_ns,
        ] {
            assert!(v.is_finite() && v > 0.0, "{m:?}");
        }
        if !cfg!(debug_assertions) {
            // Unoptimised, the pool's code is slower than the (optimised) C allocator.
            assert!(m.with_allocation_ns > m.with_pool_ns, "{m:?}");
        }
    }
}
