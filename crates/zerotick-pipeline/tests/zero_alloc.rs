//! The whole pipeline, after warm-up, allocates nothing: a counting global allocator watching
//! both pipeline threads is sampled by the pipeline when steady state begins and when the run
//! ends.

use zerotick_core::{Feed, NullSink};
use zerotick_feeds::{CsvSink, SyntheticConfig, SyntheticFeed};
use zerotick_mem::counting::{thread_total, watch_this_thread};
use zerotick_pipeline::{Hooks, PipelineConfig, run};

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

/// One test in this binary, so no other test's allocations land in the window.
#[test]
fn steady_state_allocates_nothing() {
    let hooks = Hooks {
        allocations: Some(thread_total),
        thread_start: Some(watch_this_thread),
        ..Hooks::default()
    };
    let mut config = PipelineConfig {
        warmup_ticks: 50_000,
        ..PipelineConfig::default()
    };
    // Refresh often enough that the PCA refresh (randomized SVD) and the dense projection
    // (GEMM) run inside the measured window, inline and on compute workers.
    config.compute.pca_every = 2048;
    config.compute.pca_publish_delay_rows = 512;
    config.features.row_every = 16;
    for workers in [0, 2] {
        config.workers = Some(workers);
        let feed = SyntheticFeed::new(SyntheticConfig {
            ticks: Some(400_000),
            ..SyntheticConfig::default()
        });
        let r = run(feed, &mut NullSink, &config, &hooks).unwrap();
        assert!(
            r.compute.pca_refreshes > 0 && r.compute.dense_rows > 0,
            "{r:?}"
        );
        assert!(r.compute.sparse_rows > 0, "{r:?}");
        assert_eq!(
            r.steady_state_allocations,
            Some(0),
            "workers {workers}: {r:?}"
        );
        assert_eq!(r.feed_allocations, Some(0), "workers {workers}: {r:?}");
    }
    // The instrument works: the same run with a sink writing to a growing Vec allocates.
    let mut out = Vec::new();
    let feed = SyntheticFeed::new(SyntheticConfig {
        ticks: Some(400_000),
        ..SyntheticConfig::default()
    });
    let names = feed.names();
    let r = run(
        feed,
        &mut CsvSink::new(&mut out, names).unwrap(),
        &config,
        &hooks,
    )
    .unwrap();
    assert!(r.steady_state_allocations.unwrap() > 0);
}
