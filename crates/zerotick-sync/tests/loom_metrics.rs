//! loom models of the metrics' concurrent parts. Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p zerotick-sync --test loom_metrics --release`
//!
//! Limits: loom explores the C11 memory model as its implementation knows it, with at most 3
//! preemptions per execution, on 2 or 3 threads doing a couple of operations each; the
//! process-wide slot bitmap is one 64-bit word under loom (1024 slots otherwise), and loom's
//! thread-locals stand in for `std::thread_local!`. Only spawned threads record: loom drops
//! the main thread's thread-locals after its statics, so a slot claimed by the model's main
//! thread could not be released.
#![cfg(loom)]

use loom::thread;
use zerotick_sync::metrics::{Counter, Histogram, HistogramConfig, Registry};

/// Explores every interleaving with at most 3 preemptions: the bound loom's authors suggest,
/// which finds the known classes of bugs while keeping the models to seconds.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// Five buckets (1..=4 at one digit), its sum's cells for 2 thread slots (fewer cells, fewer
/// loads for loom to interleave).
fn small_histogram() -> Histogram {
    let r = Registry::with_threads(2).unwrap();
    r.histogram("h", "", &[], HistogramConfig::new(1, 4, 1))
        .unwrap()
}

#[test]
fn two_writers_and_a_reader_private_cells() {
    // Each writer owns a private cell and adds with a plain load + store; the reader's sums
    // never go down and the final sum is exact.
    model(|| {
        let c = Counter::new(2);
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || {
                    c.inc();
                    c.add(2);
                })
            })
            .collect();
        let first = c.get();
        let second = c.get();
        assert!(first <= second && second <= 6, "{first} {second}");
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(c.get(), 6);
    });
}

#[test]
fn a_private_cell_and_the_overflow_cell() {
    // One private cell: one writer owns it, the other adds atomically to the overflow cell.
    model(|| {
        let c = Counter::new(1);
        let (a, b) = (c.clone(), c.clone());
        let ta = thread::spawn(move || a.add(3));
        let tb = thread::spawn(move || {
            b.add(4);
            b.add(4);
        });
        let seen = c.get();
        assert!([0, 3, 4, 7, 8, 11].contains(&seen), "{seen}");
        ta.join().unwrap();
        tb.join().unwrap();
        assert_eq!(c.get(), 11);
    });
}

#[test]
fn a_slot_handed_over_keeps_its_value() {
    // Two short-lived threads; the second may claim the slot the first released on exit and
    // then continues from the first one's value with a plain load + store. The slot's
    // Release/Acquire hand-over must make that load see the first thread's store.
    model(|| {
        let c = Counter::new(1);
        let (a, b) = (c.clone(), c.clone());
        let ta = thread::spawn(move || a.inc());
        let tb = thread::spawn(move || b.add(10));
        ta.join().unwrap();
        tb.join().unwrap();
        assert_eq!(c.get(), 11);
    });
}

#[test]
fn interval_snapshot_loses_no_record() {
    // A recorder records two values while the main thread takes an interval snapshot; the
    // interval and the remainder together hold each record exactly once.
    model(|| {
        let h = small_histogram();
        let r = h.clone();
        let t = thread::spawn(move || {
            r.record(1);
            r.record(3);
        });
        let first = h.interval_snapshot();
        t.join().unwrap();
        let rest = h.interval_snapshot();
        assert_eq!(first.count() + rest.count(), 2);
        assert_eq!(first.sum() + rest.sum(), 4);
        for s in [&first, &rest] {
            if s.count() > 0 {
                let (min, max) = (s.min().unwrap(), s.max().unwrap());
                assert!(1 <= min && min <= max && max <= 3, "{min} {max}");
            }
        }
        let mut buckets: Vec<(u64, u64)> = first.buckets().map(|(lo, _, n)| (lo, n)).collect();
        buckets.extend(rest.buckets().map(|(lo, _, n)| (lo, n)));
        buckets.sort_unstable();
        assert_eq!(buckets, [(1, 1), (3, 1)]);
        assert_eq!(h.snapshot().count(), 0);
    });
}

#[test]
fn two_recorders_into_one_bucket_and_an_interval_reader() {
    model(|| {
        let h = small_histogram();
        let recorders: Vec<_> = (0..2)
            .map(|_| {
                let r = h.clone();
                thread::spawn(move || r.record(2))
            })
            .collect();
        let first = h.interval_snapshot();
        for r in recorders {
            r.join().unwrap();
        }
        let rest = h.interval_snapshot();
        assert_eq!(first.count() + rest.count(), 2);
        assert_eq!(first.sum() + rest.sum(), 4);
        assert_eq!(first.count_at_most(2) + rest.count_at_most(2), 2);
    });
}

#[test]
fn gauge_adds_from_two_threads_are_all_applied() {
    use zerotick_sync::metrics::Gauge;
    model(|| {
        let g = Gauge::new();
        let adders: Vec<_> = [1.0, 2.0]
            .into_iter()
            .map(|d| {
                let g = g.clone();
                thread::spawn(move || g.add(d))
            })
            .collect();
        let seen = g.get();
        assert!([0.0, 1.0, 2.0, 3.0].contains(&seen), "{seen}");
        for a in adders {
            a.join().unwrap();
        }
        assert_eq!(g.get(), 3.0);
    });
}

#[test]
fn sharded_histogram_interval_loses_no_record() {
    // One private row (slot 0) and the shared atomic buckets: whichever recorder claims slot 0
    // counts with a plain load + store, the other with `fetch_add`; the interval reader takes
    // the private row's growth and swaps the shared buckets.
    model(|| {
        let r = Registry::with_threads(2).unwrap();
        let cfg = HistogramConfig::new(1, 4, 1).with_thread_shards(1);
        let h = r.histogram("h", "", &[], cfg).unwrap();
        let recorders: Vec<_> = [1u64, 3]
            .into_iter()
            .map(|v| {
                let r = h.clone();
                thread::spawn(move || r.record(v))
            })
            .collect();
        let first = h.interval_snapshot();
        for r in recorders {
            r.join().unwrap();
        }
        let rest = h.interval_snapshot();
        assert_eq!(first.count() + rest.count(), 2);
        assert_eq!(first.sum() + rest.sum(), 4);
        assert_eq!(first.count_at_most(1) + rest.count_at_most(1), 1);
        assert_eq!(h.snapshot().count(), 0);
    });
}
