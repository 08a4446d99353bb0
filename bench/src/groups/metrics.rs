//! Group `metrics`: recording into counters and histograms.
//!
//! Case `counter_inc`: one op = add 1 to a counter registered up front, single thread. Impls:
//! - `zerotick`: a `zerotick_sync::metrics::Registry` counter handle, `inc()` (this thread's
//!   private cell: a load and a store).
//! - `metrics`: the `metrics` 0.24 facade with a cached `metrics::Counter` handle, obtained
//!   once through `metrics::counter!` from a minimal recorder installed with
//!   `with_local_recorder`; the recorder backs counters with `metrics`' own `AtomicU64`
//!   `CounterFn` (a `fetch_add`), as `metrics-util`'s registry does. So the op is the
//!   facade's dynamic dispatch plus one atomic add.
//! - `atomic`: one shared `AtomicU64::fetch_add(1, Relaxed)`.
//! - `mutex-hashmap`: `Mutex<HashMap<String, u64>>`, lock, look the name up by `&str`, add 1:
//!   the origin report's "uncontended Mutex metric" (it claimed 125 ns).
//! - `dashmap-string`: `DashMap<String, u64>`, `get_mut` by `&str`, add 1 (the origin report
//!   claimed 3 ns).
//!
//! Case `counter_inc_2threads`: two threads pinned to two CPUs add 1 to the same counter; one
//! op = one increment by one thread (wall time of a sample / increments per thread).
//! Impls `zerotick` (each thread its own cell) and `atomic` (one shared `fetch_add`). The
//! measuring thread (its CPU) and one partner thread (another CPU, spinning between samples)
//! start each sample on an atomic flag; the time runs from the partner's acknowledgement to
//! the end of the later of the two loops. Skipped with a
//! note when two CPUs are not available.
//!
//! Case `histogram_record`: one op = record one value from a fixed table of 1,024 log-uniform
//! latencies in 100 ns .. 1 ms (1 ns .. 1 h range, 3 significant digits), single thread.
//! Impls:
//! - `zerotick`: `zerotick_sync::metrics::Histogram::record` (`Sync`; one atomic add on the
//!   bucket, the sum in the thread's own cell).
//! - `zerotick-sharded`: the same with `thread_shards(2)`: the measuring thread counts into
//!   its private row of buckets (plain load + store, no atomic read-modify-write).
//! - `metrics`: a cached `metrics::Histogram` handle from the same recorder, which backs
//!   histograms with a zerotick `Histogram` (`record(v as f64)` -> `record(v as u64)`): the
//!   facade's dispatch and float conversion on top of the same storage.
//! - `hdrhistogram`: `hdrhistogram::Histogram::<u64>::record` (not `Sync`: `&mut self`).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use metrics::{Key, KeyName, Metadata, Recorder, SharedString, Unit};
use zerotick_sync::metrics::{HistogramConfig, Registry};

use super::GroupResult;
use crate::harness::{Harness, Impl, Row};
use crate::pin::spawn_pinned_scoped;

/// Name every counter impl increments.
const NAME: &str = "orders_total";

/// Runs the cases `counter_inc`, `counter_inc_2threads` and `histogram_record`.
///
/// # Errors
/// If a metric cannot be registered or a pinned thread cannot be spawned or pinned.
pub fn run(h: &mut Harness) -> GroupResult {
    let mut rows = counter_inc(h)?;
    rows.extend(counter_inc_2threads(h)?);
    rows.extend(histogram_record(h)?);
    Ok(rows)
}

fn counter_inc(h: &mut Harness) -> GroupResult {
    let registry = Registry::new();
    let zt = registry.counter(NAME, "Orders.", &[])?;
    let recorder = BenchRecorder::new()?;
    let facade = metrics::with_local_recorder(&recorder, || metrics::counter!(NAME));
    let atomic = AtomicU64::new(0);
    let mutex = Mutex::new(HashMap::from([(NAME.to_owned(), 0u64)]));
    let dash: DashMap<String, u64> = DashMap::from_iter([(NAME.to_owned(), 0u64)]);

    let rows = h.case(
        "counter_inc",
        vec![
            Impl::per_op("zerotick", || black_box(&zt).inc()),
            Impl::per_op("metrics", || black_box(&facade).increment(1)),
            Impl::per_op("atomic", || {
                black_box(&atomic).fetch_add(1, Ordering::Relaxed);
            }),
            Impl::per_op("mutex-hashmap", || {
                let mut map = black_box(&mutex).lock().unwrap_or_else(|e| e.into_inner());
                if let Some(v) = map.get_mut(black_box(NAME)) {
                    *v += 1;
                }
            }),
            Impl::per_op("dashmap-string", || {
                if let Some(mut v) = black_box(&dash).get_mut(black_box(NAME)) {
                    *v += 1;
                }
            }),
        ],
    );
    black_box((zt.get(), atomic.load(Ordering::Relaxed)));
    for (imp, claim) in [("mutex-hashmap", 125.0), ("dashmap-string", 3.0)] {
        if let Some(r) = rows.iter().find(|r| r.imp == imp) {
            eprintln!(
                "note: counter_inc/{imp}: measured {:.1} ns, origin report claimed {claim} ns",
                r.median_ns
            );
        }
    }
    Ok(rows)
}

/// A helper thread on a second CPU that runs one of two ops `iters` times per sample. It
/// spins (with `yield_now`) between samples instead of sleeping, so a sample never waits for
/// the scheduler to wake it; one partner serves both impls, so only one thread spins.
struct Partner {
    /// Bumped by the measuring thread to start a sample (Release; the partner's Acquire load
    /// then sees `iters` and `which`).
    go: AtomicU64,
    /// Set to the sample's `go` value by the partner when it starts its loop (Relaxed: it
    /// only tells the measuring thread the partner is running).
    started: AtomicU64,
    /// Set to the sample's `go` value by the partner when done (Release; pairs with the
    /// measuring thread's Acquire load).
    done: AtomicU64,
    iters: AtomicU64,
    /// 0: the first op, 1: the second.
    which: AtomicU64,
    /// Ops each thread ran, over all samples, per op.
    ran: [AtomicU64; 2],
    stop: AtomicBool,
}

impl Partner {
    fn new() -> Self {
        Self {
            go: AtomicU64::new(0),
            started: AtomicU64::new(0),
            done: AtomicU64::new(0),
            iters: AtomicU64::new(0),
            which: AtomicU64::new(0),
            ran: [AtomicU64::new(0), AtomicU64::new(0)],
            stop: AtomicBool::new(false),
        }
    }

    /// The partner thread's loop.
    fn serve(&self, first: impl Fn(), second: impl Fn()) {
        let mut seen = 0;
        loop {
            let go = spin_until(|| {
                let go = self.go.load(Ordering::Acquire);
                (go != seen || self.stop.load(Ordering::Relaxed)).then_some(go)
            });
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            seen = go;
            let iters = self.iters.load(Ordering::Relaxed);
            self.started.store(go, Ordering::Relaxed);
            if self.which.load(Ordering::Relaxed) == 0 {
                (0..iters).for_each(|_| first());
            } else {
                (0..iters).for_each(|_| second());
            }
            self.done.store(go, Ordering::Release);
        }
    }

    /// One sample: both threads run `iters` ops; returns the wall time from the moment both
    /// are running until both finished. Waiting for the partner to be scheduled is not timed:
    /// on a loaded machine it can take milliseconds and would swamp the ops.
    fn sample(&self, which: usize, iters: u64, op: impl Fn()) -> Duration {
        self.iters.store(iters, Ordering::Relaxed);
        self.which.store(which as u64, Ordering::Relaxed);
        self.ran[which].fetch_add(iters, Ordering::Relaxed);
        let go = self.go.fetch_add(1, Ordering::Release) + 1;
        spin_until(|| (self.started.load(Ordering::Relaxed) == go).then_some(()));
        let start = Instant::now();
        for _ in 0..iters {
            op();
        }
        spin_until(|| (self.done.load(Ordering::Acquire) == go).then_some(()));
        start.elapsed()
    }

    fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Spins on `f` until it returns `Some`, yielding the CPU every 64 tries.
fn spin_until<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let mut tries = 0u32;
    loop {
        if let Some(v) = f() {
            return v;
        }
        tries = tries.wrapping_add(1);
        if tries.is_multiple_of(64) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

fn counter_inc_2threads(h: &mut Harness) -> GroupResult {
    let Some(cpus) = h.pick_two_cpus() else {
        eprintln!("note: counter_inc_2threads skipped: this machine cannot give 2 CPUs");
        return Ok(Vec::new());
    };
    let registry = Registry::new();
    let zt = registry.counter(NAME, "Orders.", &[])?;
    let atomic = AtomicU64::new(0);
    let zt_inc = || black_box(&zt).inc();
    let atomic_inc = || {
        black_box(&atomic).fetch_add(1, Ordering::Relaxed);
    };
    let partner = Partner::new();
    let rows: Result<Vec<Row>, Box<dyn std::error::Error>> = std::thread::scope(|s| {
        let (partner, zt_inc, atomic_inc) = (&partner, &zt_inc, &atomic_inc);
        // The partner reports on `ready` once pinned; if pinning fails its closure is dropped
        // unrun, the sender with it, and `recv` fails instead of the first sample spinning
        // forever.
        let (ready, pinned) = std::sync::mpsc::channel::<()>();
        let t = spawn_pinned_scoped(s, cpus[1], move || {
            let _ = ready.send(());
            partner.serve(zt_inc, atomic_inc);
        })?;
        if pinned.recv().is_err() {
            t.join().map_err(|_| "partner thread panicked")??;
            return Err("counter_inc_2threads: partner thread exited".into());
        }
        let rows = h.case(
            "counter_inc_2threads",
            vec![
                Impl::new("zerotick", |iters| partner.sample(0, iters, zt_inc)),
                Impl::new("atomic", |iters| partner.sample(1, iters, atomic_inc)),
            ],
        );
        partner.finish();
        t.join().map_err(|_| "partner thread panicked")??;
        Ok(rows)
    });
    let rows = rows?;
    // Every increment of both threads landed.
    let ran = partner.ran.each_ref().map(|r| r.load(Ordering::Relaxed));
    if zt.get() != 2 * ran[0] || atomic.load(Ordering::Relaxed) != 2 * ran[1] {
        return Err("counter_inc_2threads: a counter lost increments".into());
    }
    Ok(rows)
}

fn histogram_record(h: &mut Harness) -> GroupResult {
    let config = HistogramConfig::latency_ns();
    let registry = Registry::new();
    let zt = registry.histogram("latency_seconds", "Latency.", &[], config)?;
    // Two private bucket rows: the measuring thread's slot is one of the two lowest.
    let sharded = registry.histogram(
        "latency_sharded_seconds",
        "Latency.",
        &[],
        config.with_thread_shards(2),
    )?;
    let recorder = BenchRecorder::new()?;
    let facade = metrics::with_local_recorder(&recorder, || metrics::histogram!("latency"));
    let mut hdr = hdrhistogram::Histogram::<u64>::new_with_bounds(
        config.lowest,
        config.highest,
        config.significant_digits,
    )?;
    let values = latencies();
    let (mut i, mut j, mut k, mut l) = (0usize, 0usize, 0usize, 0usize);
    let next = |i: &mut usize| {
        *i = (*i + 1) & (values.len() - 1);
        values[*i]
    };
    let rows = h.case(
        "histogram_record",
        vec![
            Impl::per_op("zerotick", || black_box(&zt).record(next(&mut i))),
            Impl::per_op("zerotick-sharded", || {
                black_box(&sharded).record(next(&mut l));
            }),
            Impl::per_op("metrics", || black_box(&facade).record(next(&mut j) as f64)),
            Impl::per_op("hdrhistogram", || {
                let _ = black_box(&mut hdr).record(next(&mut k));
            }),
        ],
    );
    black_box((zt.snapshot().count(), sharded.snapshot().count()));
    Ok(rows)
}

/// 1,024 log-uniform values in 100 ns .. 1 ms, from a fixed-seed xorshift.
fn latencies() -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            (100.0 * 10f64.powf(4.0 * u)) as u64
        })
        .collect()
}

/// A minimal `metrics` recorder: counters are `metrics`' own `AtomicU64` (`fetch_add`),
/// histograms a shared zerotick `Histogram` (1 ns .. 1 h, 3 digits).
struct BenchRecorder {
    histogram: zerotick_sync::metrics::Histogram,
}

impl BenchRecorder {
    fn new() -> Result<Self, zerotick_sync::metrics::HistogramError> {
        Ok(Self {
            histogram: zerotick_sync::metrics::Histogram::new(HistogramConfig::latency_ns())?,
        })
    }
}

struct FacadeHistogram(zerotick_sync::metrics::Histogram);

impl metrics::HistogramFn for FacadeHistogram {
    fn record(&self, value: f64) {
        // Saturating float-to-int: NaN -> 0, negatives -> 0, huge -> u64::MAX (clamped).
        self.0.record(value as u64);
    }
}

impl Recorder for BenchRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(Arc::new(metrics::atomics::AtomicU64::new(0)))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(Arc::new(metrics::atomics::AtomicU64::new(0)))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::from_arc(Arc::new(FacadeHistogram(self.histogram.clone())))
    }
}
