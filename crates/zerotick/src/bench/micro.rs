//! The four micro-figures, timed the house way (as `bench/src/harness.rs` does): per op,
//! calibrate a loop to a target sample time, warm up, then take samples with the two impls of
//! a pair interleaved (the start rotated each round) and report the median ns per op.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Result;
use zerotick_mem::{AlignedBuf, MissPolicy, Pool, ResetPolicy};
use zerotick_sync::metrics::Registry;

/// Elements of the buffer allocated or pooled per op.
pub const BUF_LEN: usize = 1024;
/// Key the metric ops increment.
const KEY: &str = "ticks_processed";

/// How long and how often to sample.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Time one sample should last.
    pub sample: Duration,
    /// Warm-up per impl.
    pub warmup: Duration,
    /// Samples per impl (the median is taken over them).
    pub samples: usize,
}

impl Plan {
    /// 10 ms samples, 100 ms warm-up, 15 samples; `quick`: 2 ms, 20 ms, 7.
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                sample: Duration::from_millis(2),
                warmup: Duration::from_millis(20),
                samples: 7,
            }
        } else {
            Self {
                sample: Duration::from_millis(10),
                warmup: Duration::from_millis(100),
                samples: 15,
            }
        }
    }
}

/// The four figures, median ns per op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Micro {
    /// A fresh zeroed `Vec<f64>` of [`BUF_LEN`], written once, dropped.
    pub with_allocation_ns: f64,
    /// A [`BUF_LEN`]-f64 buffer acquired from a zerotick `Pool`, written once, released.
    pub with_pool_ns: f64,
    /// `Mutex<HashMap<String, u64>>`: lock, look the key up, add 1 (uncontended).
    pub mutex_metric_ns: f64,
    /// A zerotick metrics `Counter::inc`.
    pub lockfree_metric_ns: f64,
    /// Samples each median was taken over.
    pub samples: usize,
}

/// Measures the four figures on the calling thread.
///
/// # Errors
/// The pool or the counter could not be built.
pub fn measure(plan: &Plan) -> Result<Micro> {
    let pool = Pool::new(64, MissPolicy::FailFast, ResetPolicy::Clear, || {
        AlignedBuf::<f64>::with_capacity(BUF_LEN)
    })?;
    let [with_allocation_ns, with_pool_ns] = pair(
        plan,
        [
            &mut || {
                let mut v = vec![0.0f64; BUF_LEN];
                v[0] = 1.0;
                black_box(&mut v);
            },
            &mut || {
                if let Ok(mut buf) = black_box(&pool).acquire() {
                    let _ = buf.try_push(1.0);
                    black_box(&mut buf);
                }
            },
        ],
    );
    let hits = pool.stats().hits;

    let mutex = Mutex::new(HashMap::from([(KEY.to_owned(), 0u64)]));
    let registry = Registry::new();
    let counter = registry.counter(KEY, "Ticks.", &[])?;
    let [mutex_metric_ns, lockfree_metric_ns] = pair(
        plan,
        [
            &mut || {
                let mut map = black_box(&mutex)
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(v) = map.get_mut(black_box(KEY)) {
                    *v += 1;
                }
            },
            &mut || black_box(&counter).inc(),
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
        hits > 0 && map_count > 0 && counter.get() > 0,
        "a micro-benchmark op did not run"
    );
    Ok(Micro {
        with_allocation_ns,
        with_pool_ns,
        mutex_metric_ns,
        lockfree_metric_ns,
        samples: plan.samples,
    })
}

/// Median ns per op of two ops measured interleaved.
fn pair(plan: &Plan, mut ops: [&mut dyn FnMut(); 2]) -> [f64; 2] {
    let mut iters = [0u64; 2];
    for (n, op) in iters.iter_mut().zip(ops.iter_mut()) {
        *n = calibrate(*op, plan.sample);
    }
    // Warm-up, interleaved, then re-calibrate from the last warm-up run.
    let mut spent = [Duration::ZERO; 2];
    let mut last = [Duration::ZERO; 2];
    while spent.iter().any(|s| *s < plan.warmup) {
        for i in 0..2 {
            last[i] = time(ops[i], iters[i]);
            spent[i] += last[i];
        }
    }
    for i in 0..2 {
        iters[i] = scale(iters[i], last[i], plan.sample);
    }
    let mut per_op = [
        Vec::with_capacity(plan.samples),
        Vec::with_capacity(plan.samples),
    ];
    for round in 0..plan.samples {
        for k in 0..2 {
            let i = (round + k) % 2;
            let t = time(ops[i], iters[i]);
            per_op[i].push(t.as_nanos() as f64 / iters[i] as f64);
        }
    }
    per_op.map(|mut xs| median(&mut xs))
}

fn time(op: &mut dyn FnMut(), iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed()
}

/// An iteration count for which one run lasts about `target`.
fn calibrate(op: &mut dyn FnMut(), target: Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let t = time(op, iters);
        if t >= target / 10 || iters >= 1 << 40 {
            return scale(iters, t, target);
        }
        iters *= 2;
    }
}

fn scale(iters: u64, took: Duration, target: Duration) -> u64 {
    let per_iter = took.as_nanos().max(1) as f64 / iters as f64;
    ((target.as_nanos() as f64 / per_iter) as u64).clamp(1, 1 << 40)
}

/// Median (mean of the middle two for an even count); NaN when empty.
pub fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn figures_are_positive_and_allocating_costs_more_than_pooling() {
        let plan = Plan {
            sample: Duration::from_millis(1),
            warmup: Duration::from_millis(2),
            samples: 7,
        };
        let m = measure(&plan).expect("micro");
        for v in [
            m.with_allocation_ns,
            m.with_pool_ns,
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
