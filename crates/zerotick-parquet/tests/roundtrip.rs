//! Files written by the sink, read back with the parquet crate's reader, hold exactly what
//! the pipeline computed: every row of a run (teed to a recording sink in the same run),
//! bit for bit, symbols by name, in every `--emit` mode; a run stopped by its deadline and a
//! sink dropped unfinished leave valid files; flushes, backpressure, writer errors and bad
//! input behave as documented.

mod support;

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{SPEC, TempPath, read};
use zerotick_core::{FeatureRecord, Feed, Signal, Sink, SymbolNames, SymbolTable};
use zerotick_feeds::{SyntheticConfig, SyntheticFeed};
use zerotick_parquet::{Codec, ParquetOptions, ParquetSink};
use zerotick_pipeline::rows::{Emit, SpecSettings};
use zerotick_pipeline::{Hooks, PipelineConfig, run};

/// One row as the pipeline handed it to the sink.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    ts_ns: u64,
    symbol: u32,
    values: Vec<f64>,
    signal: Option<f64>,
}

/// Records every row and passes it on to the Parquet sink: both see the same run.
struct Tee<'a> {
    rows: Vec<Row>,
    parquet: &'a mut ParquetSink,
    finished: bool,
}

impl Sink for Tee<'_> {
    fn emit(&mut self, s: &Signal) -> io::Result<()> {
        self.rows.push(Row {
            ts_ns: s.ts_ns,
            symbol: s.symbol,
            values: Vec::new(),
            signal: Some(s.value),
        });
        self.parquet.emit(s)
    }
    fn emit_row(&mut self, r: &FeatureRecord<'_>) -> io::Result<()> {
        self.rows.push(Row {
            ts_ns: r.ts_ns,
            symbol: r.symbol,
            values: r.values.to_vec(),
            signal: r.signal,
        });
        self.parquet.emit_row(r)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.parquet.flush()
    }
    fn finish(&mut self) -> io::Result<()> {
        self.finished = true;
        self.parquet.finish()
    }
}

fn config(emit: Emit) -> PipelineConfig {
    let c = PipelineConfig {
        warmup_ticks: 1_000,
        symbols_hint: 8,
        emit,
        ..PipelineConfig::default()
    };
    c.with_spec(SpecSettings::parse(SPEC).unwrap())
}

fn feed(ticks: Option<u64>) -> SyntheticFeed {
    SyntheticFeed::new(SyntheticConfig {
        ticks,
        symbols: 8,
        seed: 7,
        ..SyntheticConfig::default()
    })
}

/// Bit-exact comparison (NaN included) of a file's rows with the recorded ones.
fn assert_same(table: &support::Table, rows: &[Row], names: &SymbolNames, what: &str) {
    assert_eq!(table.ts_ns.len(), rows.len(), "{what}: row count");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(table.ts_ns[i], r.ts_ns as i64, "{what}: row {i} ts_ns");
        let name = names.get(r.symbol).expect("the feed named every symbol");
        assert_eq!(table.symbols[i], *name, "{what}: row {i} symbol");
        let want: Vec<u64> = r
            .values
            .iter()
            .chain(&r.signal)
            .map(|v| v.to_bits())
            .collect();
        let got: Vec<u64> = table.values[i].iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want, "{what}: row {i} values");
    }
}

#[test]
fn every_emit_mode_reads_back_exactly_what_the_pipeline_computed() {
    let spec = SpecSettings::parse(SPEC).unwrap();
    let feature_names = spec.spec.column_names();
    assert!(
        feature_names.contains(&"macd.line".to_owned()),
        "{feature_names:?}"
    );
    for emit in [Emit::Both, Emit::Features, Emit::Signals] {
        let what = format!("{emit:?}");
        let tmp = TempPath::new(&format!("modes-{what}"));
        let feed = feed(Some(60_000));
        let names = feed.names();
        let features = if emit.features() {
            feature_names.clone()
        } else {
            Vec::new()
        };
        // Small row groups and two buffers: many hand-overs, and the emitter waits for the
        // writer (backpressure) along the way.
        let options = ParquetOptions {
            row_group_rows: 97,
            buffers: 2,
            codec: Codec::Snappy,
        };
        let mut parquet =
            ParquetSink::create(&tmp.0, names.clone(), &features, emit.signals(), options).unwrap();
        let mut tee = Tee {
            rows: Vec::new(),
            parquet: &mut parquet,
            finished: false,
        };
        let report = run(feed, &mut tee, &config(emit), &Hooks::default()).unwrap();
        assert!(tee.finished, "{what}: the pipeline finishes its sink");
        let rows = std::mem::take(&mut tee.rows);
        assert!(rows.len() > 1_000, "{what}: {} rows", rows.len());
        assert_eq!(rows.len() as u64, report.vectors, "{what}");
        let t = read(&tmp.0).unwrap();
        let mut want_columns = vec!["ts_ns".to_owned(), "symbol".to_owned()];
        want_columns.extend(features.iter().cloned());
        if emit.signals() {
            want_columns.push("signal".to_owned());
        }
        assert_eq!(t.columns, want_columns, "{what}");
        assert!(
            t.symbol_dictionary,
            "{what}: symbol column dictionary-encoded"
        );
        assert!(t.logical_types_ok, "{what}: logical types");
        assert_eq!(t.row_groups, rows.len().div_ceil(97), "{what}: row groups");
        assert_same(&t, &rows, &names, &what);
        let distinct: std::collections::BTreeSet<_> = t.symbols.iter().collect();
        assert_eq!(distinct.len(), 8, "{what}: {distinct:?}");
    }
}

#[test]
fn a_run_stopped_by_its_deadline_leaves_a_valid_file_with_every_emitted_row() {
    let tmp = TempPath::new("deadline");
    let feed = feed(None); // endless: only the deadline stops it
    let names = feed.names();
    let columns = SpecSettings::parse(SPEC).unwrap().spec.column_names();
    let mut parquet = ParquetSink::create(
        &tmp.0,
        names.clone(),
        &columns,
        true,
        ParquetOptions::default(),
    )
    .unwrap();
    let mut tee = Tee {
        rows: Vec::new(),
        parquet: &mut parquet,
        finished: false,
    };
    let mut c = config(Emit::Both);
    c.duration = Some(Duration::from_millis(300));
    let report = run(feed, &mut tee, &c, &Hooks::default()).unwrap();
    let rows = std::mem::take(&mut tee.rows);
    assert!(report.vectors > 0 && rows.len() as u64 == report.vectors);
    // The sink is still alive (not dropped): `finish` alone must have written the footer.
    let t = read(&tmp.0).unwrap();
    assert_same(&t, &rows, &names, "deadline");
}

/// Rows at times `ts` for `symbol`, one column valued `ts / 2`.
fn emit_rows(sink: &mut ParquetSink, symbol: u32, ts: std::ops::Range<u64>) {
    for i in ts {
        sink.emit_row(&FeatureRecord {
            ts_ns: i,
            symbol,
            values: &[i as f64 * 0.5],
            signal: None,
        })
        .unwrap();
    }
}

#[test]
fn a_sink_dropped_unfinished_still_leaves_a_valid_file() {
    let tmp = TempPath::new("dropped");
    let mut table = SymbolTable::new(4);
    let options = ParquetOptions {
        row_group_rows: 10,
        ..ParquetOptions::default()
    };
    let mut sink = ParquetSink::create(&tmp.0, table.names(), &["a"], false, options).unwrap();
    let s = table.intern("ETHUSDT").unwrap();
    emit_rows(&mut sink, s, 0..25);
    drop(sink);
    let t = read(&tmp.0).unwrap();
    assert_eq!(t.row_groups, 3);
    assert_eq!(t.ts_ns, (0..25).collect::<Vec<_>>());
    assert!(t.symbols.iter().all(|n| n == "ETHUSDT"));
    assert_eq!(t.values[24], [12.0]);
}

#[test]
fn the_path_holds_the_old_file_until_the_new_one_is_complete() {
    let tmp = TempPath::new("replace");
    let partial = zerotick_parquet::partial_path(&tmp.0).unwrap();
    std::fs::write(&tmp.0, b"the previous file").unwrap();
    let mut table = SymbolTable::new(4);
    let options = ParquetOptions {
        row_group_rows: 10,
        ..ParquetOptions::default()
    };
    let mut sink = ParquetSink::create(&tmp.0, table.names(), &["a"], false, options).unwrap();
    let s = table.intern("ETHUSDT").unwrap();
    emit_rows(&mut sink, s, 0..25);
    sink.flush().unwrap();
    // Two row groups written: still under the partial name, the old file untouched.
    assert_eq!(std::fs::read(&tmp.0).unwrap(), b"the previous file");
    assert!(std::fs::metadata(&partial).unwrap().len() > 0);
    sink.finish().unwrap();
    assert!(!partial.exists());
    assert_eq!(read(&tmp.0).unwrap().ts_ns, (0..25).collect::<Vec<_>>());

    // A rename that cannot happen (the path became a directory): an error naming the
    // unfinished file, which stays; the directory is as it was.
    std::fs::remove_file(&tmp.0).unwrap();
    let mut sink = ParquetSink::create(&tmp.0, table.names(), &["a"], false, options).unwrap();
    std::fs::create_dir(&tmp.0).unwrap();
    std::fs::write(tmp.0.join("keep"), b"x").unwrap();
    emit_rows(&mut sink, s, 1..2);
    let e = sink.finish().unwrap_err().to_string();
    assert!(
        e.contains("unfinished file is left at") && e.contains(".partial"),
        "{e}"
    );
    assert!(sink.finish().unwrap_err().to_string().contains(".partial"));
    assert_eq!(
        read(&partial).unwrap().ts_ns,
        [1],
        "complete, under its partial name"
    );
    assert_eq!(std::fs::read(tmp.0.join("keep")).unwrap(), b"x");
    std::fs::remove_dir_all(&tmp.0).unwrap();
    std::fs::remove_file(&partial).unwrap();
}

/// A `Write` into shared memory, so a test can watch what reached the writer.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn signal(ts_ns: u64, symbol: u32, value: f64) -> Signal {
    Signal {
        ts_ns,
        symbol,
        value,
    }
}

#[test]
fn flush_writes_the_rows_so_far_and_the_sink_goes_on() {
    let out = Shared::default();
    let mut table = SymbolTable::new(4);
    let a = table.intern("A").unwrap();
    let no_features: &[&str] = &[];
    let mut sink = ParquetSink::new(
        out.clone(),
        table.names(),
        no_features,
        true,
        ParquetOptions::default(),
    )
    .unwrap();
    sink.flush().unwrap(); // nothing pending: nothing to do
    let header = out.len(); // at most the magic bytes
    assert!(header <= 4, "{header}");
    sink.emit(&signal(1, a, 0.5)).unwrap();
    sink.emit(&signal(2, a, f64::NAN)).unwrap();
    sink.flush().unwrap();
    let after_flush = out.len();
    assert!(after_flush > header, "flush wrote the row group out");
    let b = table.intern("B").unwrap(); // named after the sink was made
    sink.emit(&signal(3, b, f64::NEG_INFINITY)).unwrap();
    sink.flush().unwrap();
    sink.flush().unwrap();
    let bytes = sink.into_inner().unwrap();
    assert!(bytes.len() > after_flush);
    let bytes = out.0.lock().unwrap().clone();
    let reader =
        parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    let t = support::read_from(&reader).unwrap();
    assert_eq!(
        t.row_groups, 2,
        "each flush with rows pending cut a row group"
    );
    assert_eq!(t.ts_ns, [1, 2, 3]);
    assert_eq!(t.symbols, ["A", "A", "B"]);
    assert_eq!(t.values[0], [0.5]);
    assert!(t.values[1][0].is_nan());
    assert_eq!(t.values[2], [f64::NEG_INFINITY]);
}

/// Takes `budget` bytes, then fails every write as a full disk would.
struct Failing {
    budget: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.budget {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "disk full (test)",
            ));
        }
        self.budget -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_writer_error_comes_back_from_the_next_calls_not_a_panic() {
    let names = SymbolNames::from_names(["X"]);
    let options = ParquetOptions {
        row_group_rows: 64,
        buffers: 2,
        codec: Codec::Uncompressed,
    };
    let mut sink =
        ParquetSink::new(Failing { budget: 3_000 }, names, &["v"], false, options).unwrap();
    let mut first = None;
    for i in 0..100_000u64 {
        let r = sink.emit_row(&FeatureRecord {
            ts_ns: i,
            symbol: 0,
            values: &[i as f64],
            signal: None,
        });
        if let Err(e) = r {
            first = Some(e);
            break;
        }
    }
    let first = first.expect("the writer's error reached the emitting side");
    assert_eq!(first.kind(), io::ErrorKind::StorageFull, "{first}");
    let again = sink.emit_row(&FeatureRecord {
        ts_ns: 1,
        symbol: 0,
        values: &[1.0],
        signal: None,
    });
    let again = again.unwrap_err();
    assert_eq!(again.kind(), io::ErrorKind::StorageFull);
    assert!(again.to_string().contains("failed earlier"), "{again}");
    assert!(sink.flush().is_err());
    assert!(sink.finish().is_err());
}

#[test]
fn the_footer_write_failing_is_an_error_from_finish() {
    let names = SymbolNames::from_names(["X"]);
    // Enough for the magic bytes, not for the row group and footer `finish` writes.
    let mut sink = ParquetSink::new(
        Failing { budget: 4 },
        names,
        &["v"],
        false,
        ParquetOptions::default(),
    )
    .unwrap();
    sink.emit_row(&FeatureRecord {
        ts_ns: 1,
        symbol: 0,
        values: &[1.0],
        signal: None,
    })
    .unwrap();
    let e = sink.finish().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
    assert!(sink.finish().is_err(), "finish after a failure fails again");
}

#[test]
fn bad_paths_are_clear_errors() {
    let names = SymbolNames::default();
    let cols = ["a"];
    let missing = std::env::temp_dir().join("zerotick-no-such-dir-x9/out.parquet");
    let e = ParquetSink::create(
        &missing,
        names.clone(),
        &cols,
        true,
        ParquetOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let msg = e.to_string();
    assert!(
        msg.contains("cannot create the Parquet file") && msg.contains("zerotick-no-such-dir-x9"),
        "{msg}"
    );
    let dir = std::env::temp_dir();
    let e = ParquetSink::create(&dir, names.clone(), &cols, true, ParquetOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains(&*dir.to_string_lossy()), "{e}");
    // A directory that does not exist yet: refused at once, nothing created beside it.
    let slash = format!("{}/zerotick-no-such-dir-y7/", dir.display());
    let e = ParquetSink::create(&slash, names, &cols, true, ParquetOptions::default()).unwrap_err();
    assert!(e.to_string().contains("names no file"), "{e}");
    assert!(!dir.join("zerotick-no-such-dir-y7.partial").exists());
}

#[test]
fn bad_columns_options_and_rows_are_errors() {
    let names = SymbolNames::from_names(["X"]);
    let opts = ParquetOptions::default();
    for (cols, signal) in [
        (&["a", "a"][..], false),
        (&["symbol"][..], false),
        (&["ts_ns"][..], false),
        (&["signal"][..], true),
        (&[""][..], false),
    ] {
        let e = ParquetSink::new(Vec::new(), names.clone(), cols, signal, opts).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{cols:?}: {e}");
    }
    // A feature may be called `signal` when there is no signal column.
    assert!(ParquetSink::new(Vec::new(), names.clone(), &["signal"], false, opts).is_ok());
    for bad in [
        ParquetOptions { buffers: 1, ..opts },
        ParquetOptions {
            buffers: 1000,
            ..opts
        },
        ParquetOptions {
            row_group_rows: usize::MAX,
            ..opts
        },
    ] {
        let e = ParquetSink::new(Vec::new(), names.clone(), &["a"], true, bad).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {e}");
    }

    let mut sink = ParquetSink::new(Vec::new(), names, &["a", "b"], true, opts).unwrap();
    let row = |values: &'static [f64], signal| FeatureRecord {
        ts_ns: 1,
        symbol: 0,
        values,
        signal,
    };
    for wrong in [
        row(&[1.0], Some(0.0)),
        row(&[1.0, 2.0], None),
        row(&[1.0, 2.0, 3.0], Some(0.0)),
    ] {
        let e = sink.emit_row(&wrong).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }
    // A signal alone for a sink with feature columns: refused too.
    assert_eq!(
        sink.emit(&signal(1, 0, 1.0)).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    let late = FeatureRecord {
        ts_ns: u64::MAX,
        symbol: 0,
        values: &[1.0, 2.0],
        signal: Some(0.0),
    };
    let e = sink.emit_row(&late).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("2262"), "{e}");
    // The refused rows left the sink usable.
    sink.emit_row(&row(&[1.0, 2.0], Some(0.5))).unwrap();
    let bytes = sink.into_inner().unwrap();
    let reader =
        parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    let t = support::read_from(&reader).unwrap();
    assert_eq!(t.values, [vec![1.0, 2.0, 0.5]]);
    assert_eq!(t.symbols, ["X"]);
}

#[test]
fn rows_after_finish_are_refused() {
    let mut sink = ParquetSink::new(
        Vec::new(),
        SymbolNames::from_names(["X"]),
        &["a"],
        false,
        ParquetOptions::default(),
    )
    .unwrap();
    sink.finish().unwrap();
    sink.finish().unwrap();
    let e = sink
        .emit_row(&FeatureRecord {
            ts_ns: 1,
            symbol: 0,
            values: &[1.0],
            signal: None,
        })
        .unwrap_err();
    assert!(e.to_string().contains("finished"), "{e}");
    assert!(sink.flush().is_err());
}

/// A writer slower than the emitter: every row still arrives (the emitter waits).
struct Slow(Shared);

impl Write for Slow {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        std::thread::sleep(Duration::from_micros(200));
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_slow_writer_holds_the_emitter_back_and_loses_nothing() {
    let out = Shared::default();
    let names = SymbolNames::from_names(["A", "B", "C"]);
    let options = ParquetOptions {
        row_group_rows: 50,
        buffers: 2,
        codec: Codec::Uncompressed,
    };
    let mut sink = ParquetSink::new(Slow(out.clone()), names, &["x", "y"], true, options).unwrap();
    let n = 5_000u64;
    for i in 0..n {
        let v = [i as f64, -(i as f64)];
        sink.emit_row(&FeatureRecord {
            ts_ns: i,
            symbol: (i % 3) as u32,
            values: &v,
            signal: Some(i as f64 / 7.0),
        })
        .unwrap();
    }
    sink.finish().unwrap();
    let bytes = out.0.lock().unwrap().clone();
    let reader =
        parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    let t = support::read_from(&reader).unwrap();
    assert_eq!(t.row_groups, 100);
    assert_eq!(t.ts_ns.len() as u64, n);
    for (i, (ts, (sym, v))) in t
        .ts_ns
        .iter()
        .zip(t.symbols.iter().zip(&t.values))
        .enumerate()
    {
        let i = i as u64;
        assert_eq!(*ts, i as i64);
        assert_eq!(sym, ["A", "B", "C"][(i % 3) as usize]);
        assert_eq!(*v, [i as f64, -(i as f64), i as f64 / 7.0]);
    }
}
