//! Recording allocates nothing: a counting global allocator watches counters, gauges and
//! histograms on the hot path.
//!
//! Each thread counts its own allocations, and only while it is inside `counting`, so the test
//! harness's threads and the other tests running in parallel cannot disturb the figure.

use zerotick_mem::counting::counting;
use zerotick_sync::metrics::{HistogramConfig, Registry};

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

#[test]
fn counter_sees_allocations() {
    // The instrument works: a test that cannot fail proves nothing.
    let n = counting(|| drop(std::hint::black_box(vec![1u8; 100])));
    assert_eq!(n, 1);
}

#[test]
fn recording_allocates_nothing_even_on_a_threads_first_record() {
    let r = Registry::with_threads(4).unwrap();
    let c = r.counter("c_total", "", &[("k", "v")]).unwrap();
    let g = r.gauge("g", "", &[]).unwrap();
    let h = r
        .histogram("h", "", &[], HistogramConfig::latency_ns())
        .unwrap();
    let sharded = r
        .histogram(
            "hs",
            "",
            &[],
            HistogramConfig::latency_ns().with_thread_shards(4),
        )
        .unwrap();
    let counts: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8u64)
            .map(|t| {
                let (c, g, h, sharded) = (c.clone(), g.clone(), h.clone(), sharded.clone());
                s.spawn(move || {
                    // Counted from the very first record: claiming a thread slot (and, for
                    // threads 5 to 8, falling back to the overflow cell) must not allocate.
                    counting(|| {
                        for i in 0..100_000u64 {
                            c.inc();
                            g.add(1.0);
                            g.set(i as f64);
                            h.record(i * 1000 + t);
                            h.record(u64::MAX); // clamped
                            h.record(0); // clamped
                            sharded.record(i);
                        }
                        std::hint::black_box((c.get(), g.get()));
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(counts, vec![0; 8]);
    assert_eq!(c.get(), 800_000);
    assert_eq!(h.snapshot().count(), 2_400_000);
    assert_eq!(sharded.snapshot().count(), 800_000);
}

#[test]
fn snapshot_into_a_reused_buffer_allocates_nothing() {
    let r = Registry::new();
    let h = r
        .histogram(
            "h",
            "",
            &[],
            HistogramConfig::new(1, 1 << 30, 3).with_thread_shards(2),
        )
        .unwrap();
    h.record(5);
    let mut snap = h.snapshot();
    let n = counting(|| {
        for _ in 0..100 {
            h.record(17);
            h.snapshot_into(&mut snap, true);
            std::hint::black_box(snap.p99());
        }
    });
    assert_eq!(n, 0);
}
