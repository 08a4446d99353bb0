//! The whole pipeline, after warm-up, allocates nothing: a counting global allocator (both
//! threads) is sampled by the pipeline when steady state begins and when the run ends.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use zerotick_pipeline::feed::{SyntheticConfig, SyntheticFeed};
use zerotick_pipeline::sink::{CsvSink, NullSink};
use zerotick_pipeline::{Hooks, PipelineConfig, run};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// One test in this binary, so no other test's allocations land in the window.
#[test]
fn steady_state_allocates_nothing() {
    let hooks = Hooks {
        allocations: Some(&allocations),
        ..Hooks::default()
    };
    let config = PipelineConfig {
        warmup_ticks: 50_000,
        ..PipelineConfig::default()
    };
    let feed = SyntheticFeed::new(SyntheticConfig {
        ticks: Some(400_000),
        ..SyntheticConfig::default()
    });
    let r = run(feed, &mut NullSink, &config, &hooks).unwrap();
    assert_eq!(r.steady_state_allocations, Some(0), "{r:?}");
    // The instrument works: the same run with a sink writing to a growing Vec allocates.
    let mut out = Vec::new();
    let feed = SyntheticFeed::new(SyntheticConfig {
        ticks: Some(400_000),
        ..SyntheticConfig::default()
    });
    let r = run(
        feed,
        &mut CsvSink::new(&mut out, vec![]).unwrap(),
        &config,
        &hooks,
    )
    .unwrap();
    assert!(r.steady_state_allocations.unwrap() > 0);
}
