//! The emitting thread allocates nothing in steady state with the Parquet sink: directly
//! (many rows across many row-group hand-overs, with the emitter waiting for the writer), and
//! in a pipeline run of a feature spec emitting features and signals.

mod support;

use std::io;

use support::{SPEC, TempPath, read};
use zerotick_core::{FeatureRecord, Feed, Sink, SymbolNames};
use zerotick_feeds::{SyntheticConfig, SyntheticFeed};
use zerotick_mem::counting::{counting, thread_total, watch_this_thread};
use zerotick_parquet::{Codec, ParquetOptions, ParquetSink};
use zerotick_pipeline::rows::{Emit, SpecSettings};
use zerotick_pipeline::{Hooks, PipelineConfig, run};

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

fn emit_rows(sink: &mut ParquetSink, from: u64, n: u64) -> io::Result<()> {
    let mut values = [0.0; 6];
    for i in from..from + n {
        for (k, v) in values.iter_mut().enumerate() {
            *v = (i * 7 + k as u64) as f64 * 0.25;
        }
        sink.emit_row(&FeatureRecord {
            ts_ns: i,
            symbol: (i % 5) as u32,
            values: &values,
            signal: Some(-(i as f64)),
        })?;
    }
    Ok(())
}

/// One test in this binary, so no other test's allocations land in the window.
#[test]
fn the_emitting_thread_allocates_nothing_in_steady_state() {
    // Directly: 200 rows a group, 2 buffers: 1,000 hand-overs in the counted window, most
    // of them waiting for the writer thread.
    let tmp = TempPath::new("alloc-direct");
    let names = SymbolNames::from_names(["A", "B", "C", "D", "E"]);
    let cols = ["f0", "f1", "f2", "f3", "f4", "f5"];
    let options = ParquetOptions {
        row_group_rows: 200,
        buffers: 2,
        codec: Codec::Snappy,
    };
    let mut sink = ParquetSink::create(&tmp.0, names, &cols, true, options).unwrap();
    emit_rows(&mut sink, 0, 10_000).unwrap(); // warm-up: thread handles, first wake-ups
    let mut result = Ok(());
    let allocations = counting(|| result = emit_rows(&mut sink, 10_000, 200_000));
    result.unwrap();
    assert_eq!(allocations, 0, "emit_row allocated");
    sink.finish().unwrap();
    assert_eq!(read(&tmp.0).unwrap().ts_ns.len(), 210_000);

    // In a pipeline run: the feature thread (which calls the sink) and every other
    // pipeline thread, counted from the end of warm-up.
    let hooks = Hooks {
        allocations: Some(thread_total),
        thread_start: Some(watch_this_thread),
        ..Hooks::default()
    };
    let spec = SpecSettings::parse(SPEC).unwrap();
    let columns = spec.spec.column_names();
    for (emit, workers) in [(Emit::Both, 0), (Emit::Signals, 2), (Emit::Features, 2)] {
        let tmp = TempPath::new("alloc-run");
        let mut config = PipelineConfig {
            warmup_ticks: 60_000,
            emit,
            ..PipelineConfig::default()
        }
        .with_spec(spec.clone());
        config.workers = Some(workers);
        let feed = SyntheticFeed::new(SyntheticConfig {
            ticks: Some(400_000),
            ..SyntheticConfig::default()
        });
        let features = if emit.features() {
            columns.clone()
        } else {
            Vec::new()
        };
        let options = ParquetOptions {
            row_group_rows: 256,
            buffers: 2,
            codec: Codec::Snappy,
        };
        let mut sink =
            ParquetSink::create(&tmp.0, feed.names(), &features, emit.signals(), options).unwrap();
        let r = run(feed, &mut sink, &config, &hooks).unwrap();
        let what = format!("{emit:?} workers {workers}");
        assert!(r.vectors > 10_000, "{what}: {r:?}");
        assert_eq!(r.steady_state_allocations, Some(0), "{what}: {r:?}");
        drop(sink);
        assert_eq!(
            read(&tmp.0).unwrap().ts_ns.len() as u64,
            r.vectors,
            "{what}"
        );
    }
}
