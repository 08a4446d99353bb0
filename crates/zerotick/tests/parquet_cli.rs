//! `zerotick run --sink parquet:PATH`: the file holds what the same run writes as CSV
//! (names, values bit for bit), in every --emit mode; a run stopped by --seconds or by Ctrl-C
//! leaves a complete file and a report; a bad path is a one-line error; the example spec
//! turns the example trade file into named features and signals.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn zerotick(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zerotick"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// A temp file path unique to this process and `name`, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("zerotick-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        Self(p)
    }
    fn sink(&self, kind: &str) -> String {
        format!("{kind}:{}", self.0.display())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A table: the header, then each row (doubles as their bits, every NaN as the one NaN CSV
/// text can give back, so NaN compares equal to itself).
#[derive(Debug, PartialEq)]
struct Table {
    header: Vec<String>,
    rows: Vec<(i64, String, Vec<u64>)>,
}

fn bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

fn read_parquet(path: &Path) -> Table {
    let reader = SerializedFileReader::try_from(path).expect("a valid Parquet file");
    let header = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let rows = reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            let values = (2..r.len())
                .map(|i| bits(r.get_double(i).unwrap()))
                .collect();
            (
                r.get_long(0).unwrap(),
                r.get_string(1).unwrap().clone(),
                values,
            )
        })
        .collect();
    Table { header, rows }
}

fn read_csv(path: &Path) -> Table {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|l| {
            let mut cells = l.split(',');
            let ts = cells.next().unwrap().parse().unwrap();
            let symbol = cells.next().unwrap().to_owned();
            let values = cells.map(|c| bits(c.parse::<f64>().unwrap())).collect();
            (ts, symbol, values)
        })
        .collect();
    Table { header, rows }
}

#[test]
fn parquet_holds_what_the_same_run_writes_as_csv_in_every_emit_mode() {
    for emit in ["both", "features", "signals"] {
        let pq = Temp::new(&format!("modes-{emit}.parquet"));
        let csv = Temp::new(&format!("modes-{emit}.csv"));
        // One compute thread: the same rows in the same order in both runs.
        let run = |sink: &str| {
            json(&zerotick(&[
                "run",
                "--features",
                "examples/features.toml",
                "--emit",
                emit,
                "--ticks",
                "150000",
                "--workers",
                "0",
                "--json",
                "--sink",
                sink,
            ]))
        };
        let a = run(&pq.sink("parquet"));
        let b = run(&csv.sink("csv"));
        assert_eq!(a["checksum"], b["checksum"], "{emit}: same run");
        let p = read_parquet(&pq.0);
        let mut c = read_csv(&csv.0);
        if emit == "signals" {
            // The CSV sink calls the signal column `value`.
            assert_eq!(c.header, ["ts_ns", "symbol", "value"]);
            c.header[2] = "signal".into();
        }
        assert_eq!(p.header, c.header, "{emit}");
        assert_eq!(p.header.first().map(String::as_str), Some("ts_ns"));
        assert_eq!(
            p.header.last().map(String::as_str) == Some("signal"),
            emit != "features"
        );
        if emit != "signals" {
            assert!(
                p.header.iter().any(|h| h == "macd.histogram"),
                "{:?}",
                p.header
            );
        }
        assert_eq!(
            p.rows.len() as u64,
            a["vectors"].as_u64().unwrap(),
            "{emit}"
        );
        assert!(p.rows.len() > 1000, "{emit}");
        assert!(
            p.rows[0].1.starts_with("SYN"),
            "names, not indices: {}",
            p.rows[0].1
        );
        assert!(p == c, "{emit}: the Parquet and CSV files differ");
    }
}

#[test]
fn a_run_stopped_by_seconds_leaves_a_complete_file() {
    let pq = Temp::new("seconds.parquet");
    let report = json(&zerotick(&[
        "run",
        "--features",
        "examples/features.toml",
        "--emit",
        "both",
        "--seconds",
        "1",
        "--json",
        "--sink",
        &pq.sink("parquet"),
    ]));
    let t = read_parquet(&pq.0);
    assert!(!t.rows.is_empty());
    assert_eq!(t.rows.len() as u64, report["vectors"].as_u64().unwrap());
}

#[test]
fn ctrl_c_ends_the_run_with_a_report_and_a_complete_file() {
    let pq = Temp::new("ctrl-c.parquet");
    let child = Command::new(env!("CARGO_BIN_EXE_zerotick"))
        .args([
            "run",
            "--features",
            "examples/features.toml",
            "--emit",
            "both",
            "--seconds",
            "120",
            "--json",
            "--sink",
            &pq.sink("parquet"),
        ])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "stopped promptly"
    );
    let report = json(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("interrupted"), "{err}");
    assert!(report["seconds"].as_f64().unwrap() < 60.0, "{report}");
    let t = read_parquet(&pq.0);
    assert!(!t.rows.is_empty());
    assert_eq!(t.rows.len() as u64, report["vectors"].as_u64().unwrap());
}

#[test]
fn bad_parquet_paths_are_one_line_errors() {
    for (sink, want) in [
        (
            "parquet:/nonexistent-zerotick-dir/x.parquet",
            "cannot create the Parquet file",
        ),
        ("parquet:", "needs a file path"),
        ("parquet:/", "cannot create the Parquet file /"),
    ] {
        let out = zerotick(&["run", "--ticks", "1000", "--sink", sink]);
        assert_eq!(out.status.code(), Some(1), "{sink}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{sink}: {err}");
        assert!(
            err.contains(want) && !err.contains("panicked"),
            "{sink}: {err}"
        );
    }
    let out = zerotick(&["run", "--sink", "redis://127.0.0.1:1/s", "--emit", "both"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("parquet:PATH"), "{err}");
}

#[test]
fn the_example_spec_turns_the_example_trade_file_into_named_features_and_signals() {
    let pq = Temp::new("example.parquet");
    let report = json(&zerotick(&[
        "run",
        "--feed",
        "examples/BTCUSDT-aggTrades-2024-01-01.csv",
        "--features",
        "examples/features.toml",
        "--emit",
        "both",
        "--json",
        "--sink",
        &pq.sink("parquet"),
    ]));
    assert_eq!(report["ticks_rejected"], 0, "{report}");
    let t = read_parquet(&pq.0);
    assert!(t.rows.len() >= 40, "{}", t.rows.len());
    assert_eq!(t.rows.len() as u64, report["vectors"].as_u64().unwrap());
    assert!(t.rows.iter().all(|r| r.1 == "BTCUSDT"));
    for name in [
        "ret.0",
        "ema_fast",
        "vol_1s",
        "rsi",
        "macd.line",
        "vwap_5s",
        "flow",
        "atr",
    ] {
        assert!(
            t.header.iter().any(|h| h == name),
            "{name} in {:?}",
            t.header
        );
    }
    // 2024-01-01, in ns.
    assert!(t.rows[0].0 >= 1_704_067_200_000_000_000, "{}", t.rows[0].0);
    let rsi = t.header.iter().position(|h| h == "rsi").unwrap() - 2;
    let last = f64::from_bits(t.rows.last().unwrap().2[rsi]);
    assert!((0.0..=100.0).contains(&last), "a warm RSI: {last}");
}
