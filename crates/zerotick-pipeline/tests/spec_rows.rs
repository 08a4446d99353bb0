//! Runs driven by a feature spec, and `--emit features|both`: checksums are deterministic per
//! spec, the CSV a run writes holds exactly the rows the spec's `FeatureRow` computes on the
//! same ticks, and the built-in default is untouched.

use std::collections::HashMap;

use zerotick_core::{Feed, FeedEvent, NullSink};
use zerotick_features::FeatureRow;
use zerotick_feeds::{CsvSink, SyntheticConfig, SyntheticFeed};
use zerotick_pipeline::rows::{Emit, SpecSettings, builtin_column_names};
use zerotick_pipeline::{Hooks, PipelineConfig, PipelineError, run};

const SPEC_A: &str = r#"
[row]
every = 16

[compute]
filter_bank = false
projection = "fixed"

[[feature]]
name = "ret"
indicator = "lags"
input = "returns"
count = 8

[[feature]]
name = "ema"
indicator = "ema"
period = 12

[[feature]]
name = "macd"
indicator = "macd"

[[feature]]
name = "flow"
indicator = "flow_imbalance"
window = 32
"#;

const SPEC_TIME: &str = r#"
[row]
every = "5ms"

[compute]
normalise = false
squash = false
projection = "none"
readout = false

[[feature]]
name = "vwap"
indicator = "vwap"
window = "20ms"

[[feature]]
name = "vol"
indicator = "std"
input = "returns"
window = 16
ddof = 1

[[feature]]
name = "rsi"
indicator = "rsi"
"#;

fn synthetic(ticks: u64, seed: u64) -> SyntheticFeed {
    SyntheticFeed::new(SyntheticConfig {
        ticks: Some(ticks),
        seed,
        symbols: 8,
        ..SyntheticConfig::default()
    })
}

fn config(spec: Option<&str>, emit: Emit) -> PipelineConfig {
    let mut c = PipelineConfig {
        warmup_ticks: 1_000,
        symbols_hint: 8,
        emit,
        ..PipelineConfig::default()
    };
    c.compute.pca_every = 2048;
    c.compute.pca_publish_delay_rows = 512;
    match spec {
        Some(text) => c.with_spec(SpecSettings::parse(text).unwrap()),
        None => c,
    }
}

fn checksum(config: &PipelineConfig, ticks: u64, seed: u64) -> u64 {
    run(
        synthetic(ticks, seed),
        &mut NullSink,
        config,
        &Hooks::default(),
    )
    .unwrap()
    .checksum
}

#[test]
fn the_same_spec_and_seed_give_the_same_checksum_and_another_spec_another() {
    let a = config(Some(SPEC_A), Emit::Signals);
    let x = checksum(&a, 60_000, 3);
    assert_eq!(x, checksum(&a, 60_000, 3));
    let mut two_workers = a.clone();
    two_workers.workers = Some(2);
    assert_eq!(
        x,
        checksum(&two_workers, 60_000, 3),
        "workers change nothing"
    );
    assert_ne!(x, checksum(&a, 60_000, 4), "another seed");
    let other = config(
        Some(&SPEC_A.replace("period = 12", "period = 13")),
        Emit::Signals,
    );
    assert_ne!(x, checksum(&other, 60_000, 3), "another spec");
    let single = config(
        Some(&SPEC_A.replace("[compute]\n", "[compute]\nsquash = \"f32\"\n")),
        Emit::Signals,
    );
    let y = checksum(&single, 60_000, 3);
    assert_eq!(
        y,
        checksum(&single, 60_000, 3),
        "the f32 squash is deterministic"
    );
    assert_ne!(x, y, "the squash's precision is part of the result");
    let builtin = config(None, Emit::Signals);
    assert_ne!(x, checksum(&builtin, 60_000, 3), "the built-in row");
    let time = config(Some(SPEC_TIME), Emit::Features);
    let t = checksum(&time, 60_000, 3);
    assert_eq!(t, checksum(&time, 60_000, 3));
    assert_ne!(t, checksum(&time, 60_000, 5));
}

#[test]
fn a_spec_changes_nothing_for_a_run_without_one() {
    // The built-in default, with and without the emit machinery in place: signals only.
    let c = config(None, Emit::Signals);
    let mut with_rows = c.clone();
    with_rows.emit = Emit::Both;
    let plain = run(synthetic(40_000, 9), &mut NullSink, &c, &Hooks::default()).unwrap();
    let both = run(
        synthetic(40_000, 9),
        &mut NullSink,
        &with_rows,
        &Hooks::default(),
    )
    .unwrap();
    assert_eq!(plain.vectors, both.vectors);
    assert_ne!(
        plain.checksum, both.checksum,
        "the checksum digests what was emitted"
    );
}

#[test]
fn signals_without_a_read_out_are_a_configuration_error_naming_the_line() {
    let c = config(Some(SPEC_TIME), Emit::Signals);
    let err = run(synthetic(100, 1), &mut NullSink, &c, &Hooks::default()).unwrap_err();
    assert!(matches!(err, PipelineError::Config(_)), "{err}");
    let line = 1 + SPEC_TIME
        .lines()
        .position(|l| l == "readout = false")
        .unwrap();
    assert!(err.to_string().contains(&format!("line {line}")), "{err}");
}

/// The rows the spec's `FeatureRow` computes on the same ticks, per symbol in order, with the
/// spec's cadence (events).
fn expected_rows(text: &str, ticks: u64, seed: u64) -> HashMap<u32, Vec<(u64, Vec<f64>)>> {
    let s = SpecSettings::parse(text).unwrap();
    let every = match s.spec.row {
        zerotick_features::spec::Cadence::Events(n) => n,
        other => panic!("this check uses an event cadence, not {other:?}"),
    };
    let mut feed = synthetic(ticks, seed);
    let mut rows: HashMap<u32, (FeatureRow, u64)> = HashMap::new();
    let mut out: HashMap<u32, Vec<(u64, Vec<f64>)>> = HashMap::new();
    loop {
        match feed.next_event().unwrap() {
            FeedEvent::Tick(t) => {
                let (row, n) = rows
                    .entry(t.symbol)
                    .or_insert_with(|| (FeatureRow::new(&s.spec), 0));
                if row.update(&t) {
                    *n += 1;
                    if *n % every == 0 {
                        let mut v = vec![0.0; row.width()];
                        row.write_into(&mut v);
                        out.entry(t.symbol).or_default().push((t.ts_ns, v));
                    }
                }
            }
            FeedEvent::End => break,
            _ => {}
        }
    }
    out
}

/// A CSV line read back: time, feature values, signal.
type CsvRow = (u64, Vec<f64>, Option<f64>);

/// Parses the CSV into per-symbol rows (by symbol *name*), checking the header.
fn read_csv(text: &str, header: &[String]) -> HashMap<String, Vec<CsvRow>> {
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(head, header.iter().map(String::as_str).collect::<Vec<_>>());
    let signal = head.last() == Some(&"signal");
    let mut out: HashMap<String, Vec<_>> = HashMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), head.len(), "{line}");
        let ts: u64 = f[0].parse().unwrap();
        let end = if signal { f.len() - 1 } else { f.len() };
        let values: Vec<f64> = f[2..end].iter().map(|v| v.parse().unwrap()).collect();
        let sig = signal.then(|| f[f.len() - 1].parse().unwrap());
        out.entry(f[1].to_owned())
            .or_default()
            .push((ts, values, sig));
    }
    out
}

#[test]
fn csv_rows_hold_the_values_the_spec_computes_named_by_its_columns() {
    let (ticks, seed) = (30_000, 11);
    for emit in [Emit::Features, Emit::Both] {
        let c = config(Some(SPEC_A), emit);
        let s = c.spec.clone().unwrap();
        let feed = synthetic(ticks, seed);
        let names = feed.names();
        let mut buf = Vec::new();
        let columns = s.spec.column_names();
        let mut sink =
            CsvSink::with_columns(&mut buf, names.clone(), &columns, emit == Emit::Both).unwrap();
        let r = run(feed, &mut sink, &c, &Hooks::default()).unwrap();
        drop(sink);
        let mut header = vec!["ts_ns".to_owned(), "symbol".to_owned()];
        header.extend(columns.iter().cloned());
        if emit == Emit::Both {
            header.push("signal".to_owned());
        }
        assert_eq!(header[2], "ret.0");
        assert!(header.contains(&"macd.histogram".to_owned()));
        let got = read_csv(std::str::from_utf8(&buf).unwrap(), &header);
        let want = expected_rows(SPEC_A, ticks, seed);
        let mut rows = 0;
        for (symbol, want_rows) in &want {
            let mut names_now = Vec::new();
            names.refresh(&mut names_now);
            let name = names_now[*symbol as usize].to_string();
            let got_rows = &got[&name];
            assert_eq!(got_rows.len(), want_rows.len(), "{name}");
            for ((gt, gv, gs), (wt, wv)) in got_rows.iter().zip(want_rows) {
                assert_eq!(gt, wt);
                assert_eq!(gv, wv, "{name} at {wt}: bit-exact through the CSV");
                assert_eq!(gs.is_some(), emit == Emit::Both);
                if let Some(sig) = gs {
                    assert!(sig.is_finite());
                }
            }
            rows += want_rows.len();
        }
        assert!(rows > 1000, "{rows}");
        assert_eq!(r.vectors, rows as u64);
    }
}

#[test]
fn builtin_rows_go_out_with_their_stable_names() {
    let c = config(None, Emit::Features);
    let feed = synthetic(5_000, 2);
    let names = feed.names();
    let columns = builtin_column_names();
    let mut buf = Vec::new();
    let mut sink = CsvSink::with_columns(&mut buf, names, &columns, false).unwrap();
    let r = run(feed, &mut sink, &c, &Hooks::default()).unwrap();
    drop(sink);
    let text = String::from_utf8(buf).unwrap();
    let mut header = vec!["ts_ns".to_owned(), "symbol".to_owned()];
    header.extend(columns);
    let got = read_csv(&text, &header);
    let rows: usize = got.values().map(Vec::len).sum();
    assert_eq!(rows as u64, r.vectors);
    for v in got.values().flatten() {
        assert_eq!(v.1.len(), 1024);
        // Squared returns are the squares of the newest returns (raw, before compute).
        for k in 0..256 {
            assert_eq!(v.1[512 + k], v.1[k] * v.1[k]);
        }
    }
}

#[test]
fn a_spec_too_large_to_preallocate_is_refused_before_anything_is_allocated() {
    let mut text = String::new();
    for k in 0..20 {
        text.push_str(&format!(
            "[[feature]]\nname = \"m{k}\"\nindicator = \"mean\"\nwindow = \"1s\"\ncapacity = 1048576\n"
        ));
    }
    let c = PipelineConfig {
        symbols_hint: 64,
        ..PipelineConfig::default()
    }
    .with_spec(SpecSettings::parse(&text).unwrap());
    let err = c.validate().unwrap_err();
    assert!(err.to_string().contains("before the first tick"), "{err}");
    let small = PipelineConfig::default().with_spec(SpecSettings::parse(SPEC_A).unwrap());
    small.validate().unwrap();
}
