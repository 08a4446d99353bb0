//! End-to-end runs: accounting, determinism, CSV rejects, strict mode.

use std::io::Cursor;

use zerotick_core::{Feed, FeedError, NullSink, RejectReason};
use zerotick_feeds::{CsvFeed, CsvLayout, CsvSink, SyntheticConfig, SyntheticFeed};
use zerotick_pipeline::{Hooks, PipelineConfig, PipelineError, run};

fn synthetic(ticks: u64, seed: u64) -> SyntheticFeed {
    SyntheticFeed::new(SyntheticConfig {
        ticks: Some(ticks),
        seed,
        ..SyntheticConfig::default()
    })
}

#[test]
fn every_tick_is_accounted_for_and_runs_are_deterministic() {
    let config = PipelineConfig {
        warmup_ticks: 1_000,
        ..PipelineConfig::default()
    };
    let a = run(
        synthetic(200_000, 1),
        &mut NullSink,
        &config,
        &Hooks::default(),
    )
    .unwrap();
    let b = run(
        synthetic(200_000, 1),
        &mut NullSink,
        &config,
        &Hooks::default(),
    )
    .unwrap();
    let c = run(
        synthetic(200_000, 2),
        &mut NullSink,
        &config,
        &Hooks::default(),
    )
    .unwrap();
    assert_eq!(a.ticks_in, 200_000);
    assert_eq!(a.ticks_in, a.ticks_processed + a.ticks_rejected);
    assert!(a.vectors > 2_000, "{}", a.vectors);
    assert_eq!(a.latency.count(), a.vectors);
    assert_eq!(
        (a.checksum, a.vectors),
        (b.checksum, b.vectors),
        "same seed, same signals"
    );
    assert_ne!(a.checksum, c.checksum, "another seed, other signals");
    // Misses are not checked: with every job in flight (a compute worker descheduled on a
    // loaded machine) an acquire misses and the feature thread completes results until a job
    // returns. That is backpressure, and timing-dependent; the pool never grows (fail-fast).
    assert!(
        a.pool.hits >= a.batches,
        "{:?} for {} batches",
        a.pool,
        a.batches
    );
    assert!(
        a.prometheus
            .contains("zerotick_ticks_processed_total 200000"),
        "{}",
        a.prometheus
    );
}

/// The signal lines of a CSV sink grouped by symbol, each symbol's lines in emission order.
fn per_symbol(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().skip(1).collect();
    lines.sort_by_key(|l| l.split(',').nth(1).unwrap_or("").to_owned()); // stable
    lines
}

fn run_to_text(config: &PipelineConfig, ticks: u64, seed: u64) -> (u64, u64, String) {
    let mut out = Vec::new();
    let feed = synthetic(ticks, seed);
    let names = feed.names();
    let r = run(
        feed,
        &mut CsvSink::new(&mut out, names).unwrap(),
        config,
        &Hooks::default(),
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text.lines().count() as u64,
        r.vectors + 1,
        "header + one line per signal"
    );
    assert!(text.lines().skip(1).all(|l| l.split(',').count() == 3));
    (r.checksum, r.compute.pca_refreshes, text)
}

#[test]
fn batch_boundaries_do_not_change_the_signals() {
    // Batches are cut by size, by a dry ring or by the shard being away at a worker, which
    // depends on timing; a row's signal must not. Compute on the feature thread alone or
    // shared with a worker (the one shard travelling between them, so its rows are computed
    // on both threads), and rings from roomy to tiny give the same signals, byte for byte
    // per symbol, through PCA refreshes (one shard,
    // refreshing every 2,048 rows, applied 512 rows later: both the sparse and the dense
    // projection run), and so do inline and threaded refreshes.
    let mut outputs = Vec::new();
    for (workers, ring, pca_thread) in [(0, 1024, true), (1, 16, false), (1, 4, true)] {
        let mut config = PipelineConfig {
            workers: Some(workers),
            ring_capacity: ring,
            pca_thread,
            ..PipelineConfig::default()
        };
        config.compute.shards = 1;
        config.compute.pca_every = 2048;
        config.compute.pca_publish_delay_rows = 512;
        config.features.row_every = 16;
        let (checksum, refreshes, text) = run_to_text(&config, 100_000, 3);
        assert_eq!(refreshes, 2, "rows 2,048 and 4,096 refresh the projection");
        outputs.push((checksum, per_symbol(&text).join("\n")));
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn worker_count_does_not_change_the_signals() {
    // Shards are the unit of state; workers only decide where a shard's batches run.
    let mut outputs = Vec::new();
    for workers in [0, 1, 3] {
        let mut config = PipelineConfig {
            workers: Some(workers),
            ..PipelineConfig::default()
        };
        config.compute.pca_every = 2048;
        config.compute.pca_publish_delay_rows = 512;
        config.features.row_every = 16;
        let (checksum, refreshes, text) = run_to_text(&config, 300_000, 16);
        assert!(refreshes >= 1, "the dense projection ran");
        outputs.push((checksum, per_symbol(&text).join("\n")));
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    // And the shard count is part of the result.
    let mut config = PipelineConfig::default();
    config.compute.shards = 2;
    config.compute.pca_every = 2048;
    config.compute.pca_publish_delay_rows = 512;
    config.features.row_every = 16;
    let (other, _, _) = run_to_text(&config, 300_000, 16);
    assert_ne!(other, outputs[0].0);
}

#[test]
fn csv_rejects_are_counted_by_reason() {
    let mut text = String::from("timestamp,symbol,price,size,side\n");
    for i in 0..10_000u64 {
        let price = 100.0 + (i % 17) as f64;
        text.push_str(&format!(
            "{},SYM{},{price},1.5,buy\n",
            1_700_000_000_000 + i,
            i % 3
        ));
    }
    text.push_str("1700000020000,SYM1,-5,1,buy\n1700000020001,SYM1,5\nnot-a-time,SYM1,5,1\n");
    let feed = CsvFeed::new(Cursor::new(text.into_bytes()), CsvLayout::Auto, false, "X");
    let r = run(
        feed,
        &mut NullSink,
        &PipelineConfig::default(),
        &Hooks::default(),
    )
    .unwrap();
    assert_eq!(
        (r.ticks_in, r.ticks_processed, r.ticks_rejected),
        (10_003, 10_000, 3)
    );
    assert_eq!(r.rejects.get(RejectReason::BadPrice), 1);
    assert_eq!(r.rejects.get(RejectReason::FieldCount), 1);
    assert_eq!(r.rejects.get(RejectReason::BadTimestamp), 1);
}

#[test]
fn strict_mode_fails_the_run_with_the_line() {
    let text = "1700000000,A,10,1\n1700000001,A,10,1\n1700000002,A,nan,1\n";
    let feed = CsvFeed::new(
        Cursor::new(text.as_bytes().to_vec()),
        CsvLayout::Generic,
        true,
        "X",
    );
    let err = run(
        feed,
        &mut NullSink,
        &PipelineConfig::default(),
        &Hooks::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            PipelineError::Feed(FeedError::BadRow {
                line: 3,
                reason: RejectReason::BadPrice
            })
        ),
        "{err}"
    );
}

#[test]
fn bad_configuration_is_an_error() {
    let config = PipelineConfig {
        batch_rows: 0,
        ..PipelineConfig::default()
    };
    assert!(matches!(
        run(synthetic(10, 1), &mut NullSink, &config, &Hooks::default()),
        Err(PipelineError::Config(_))
    ));
}

/// A paced (live) feed: compute inline by default, and latency from arrival is the latency
/// from the read plus the feed's measured lateness, never less.
#[test]
fn a_paced_feed_computes_inline_and_reports_its_lateness() {
    let feed = SyntheticFeed::new(SyntheticConfig {
        ticks: Some(40_000),
        seed: 3,
        paced: true,
        rate_per_s: 200_000.0,
        ..SyntheticConfig::default()
    });
    let config = PipelineConfig {
        warmup_ticks: 1_000,
        ..PipelineConfig::default()
    };
    let r = run(feed, &mut NullSink, &config, &Hooks::default()).unwrap();
    assert_eq!(r.ticks_processed, 40_000);
    assert_eq!(r.layout.workers, 0, "{}", r.layout.reason);
    assert!(r.layout.reason.contains("live feed"), "{}", r.layout.reason);
    assert_eq!(r.arrival_latency.count(), r.latency.count());
    assert!(r.latency.count() > 0);
    // Almost every paced tick is released some nanoseconds after it fell due.
    assert!(
        r.stages.feed_lateness.count() > 20_000,
        "{}",
        r.stages.feed_lateness.count()
    );
    assert!(r.arrival_latency.p50() >= r.latency.p50());
    assert!(r.arrival_latency.max() >= r.latency.max());
    assert!(r.arrival_latency.sum() > r.latency.sum());
    // The same ticks unpaced: the same signals, and no lateness.
    let unpaced = run(
        SyntheticFeed::new(SyntheticConfig {
            ticks: Some(40_000),
            seed: 3,
            rate_per_s: 200_000.0,
            ..SyntheticConfig::default()
        }),
        &mut NullSink,
        &config,
        &Hooks::default(),
    )
    .unwrap();
    assert_eq!(unpaced.checksum, r.checksum);
    assert_eq!(unpaced.stages.feed_lateness.count(), 0);
    assert_eq!(unpaced.arrival_latency.sum(), unpaced.latency.sum());
}

/// A feed with acknowledgements: `ticks` ticks of one symbol, then `Idle` until every tick
/// was acknowledged (or 10 s passed), then the end. Records the highest figure acknowledged
/// before the end.
struct AckedFeed {
    ticks: u64,
    sent: u64,
    acked_before_end: std::sync::Arc<std::sync::atomic::AtomicU64>,
    idle_since: Option<std::time::Instant>,
    ended: bool,
    names: zerotick_core::SymbolTable,
}

impl zerotick_core::Feed for AckedFeed {
    fn next_event(&mut self) -> Result<zerotick_core::FeedEvent, zerotick_core::FeedError> {
        use std::sync::atomic::Ordering;
        use zerotick_core::FeedEvent;
        if self.sent < self.ticks {
            self.sent += 1;
            return Ok(FeedEvent::Tick(zerotick_core::Tick {
                ts_ns: self.sent,
                symbol: 0,
                price: 100.0 + (self.sent % 7) as f64,
                size: 1.0,
                side: zerotick_core::Side::Buy,
            }));
        }
        let since = *self.idle_since.get_or_insert_with(std::time::Instant::now);
        let all = self.acked_before_end.load(Ordering::Relaxed) >= self.ticks;
        if all || since.elapsed() > std::time::Duration::from_secs(10) {
            self.ended = true;
            return Ok(FeedEvent::End);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        Ok(FeedEvent::Idle)
    }

    fn names(&self) -> zerotick_core::SymbolNames {
        self.names.names()
    }

    fn wants_acknowledgements(&self) -> bool {
        true
    }

    fn acknowledge(&mut self, processed: u64) -> Result<(), zerotick_core::FeedError> {
        if !self.ended {
            self.acked_before_end
                .fetch_max(processed, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

#[test]
fn a_quiet_feed_has_every_tick_acknowledged_before_it_ends() {
    // 100 ticks of one symbol make one row (at tick 64); the 36 after it make none. A
    // consumer group commits only what is acknowledged, so those must be acknowledged while
    // the stream is quiet, not only when the run ends (or when the next row comes).
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut names = zerotick_core::SymbolTable::new(16);
    names.intern("ONE");
    let feed = AckedFeed {
        ticks: 100,
        sent: 0,
        acked_before_end: acked.clone(),
        idle_since: None,
        ended: false,
        names,
    };
    let mut config = PipelineConfig {
        warmup_ticks: 0,
        ..PipelineConfig::default()
    };
    config.features.row_every = 64;
    let report = run(feed, &mut NullSink, &config, &Hooks::default()).unwrap();
    assert_eq!(report.ticks_processed, 100);
    assert_eq!(
        acked.load(std::sync::atomic::Ordering::Relaxed),
        100,
        "ticks after the last row acknowledged while idle"
    );
}
