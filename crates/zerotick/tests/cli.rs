//! The `zerotick` binary as a user runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn zerotick(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zerotick"))
        .args(args)
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

#[test]
fn run_json_has_the_contract_fields_and_is_deterministic() {
    let args = [
        "run",
        "--json",
        "--ticks",
        "60000",
        "--warmup-ticks",
        "20000",
    ];
    let a = json(&zerotick(&args));
    for field in [
        "ticks_in",
        "ticks_processed",
        "ticks_rejected",
        "seconds",
        "ticks_per_s",
        "vectors",
        "vectors_per_s",
        "latency_ns",
        "steady_state_allocations",
        "pool_hit_rate",
        "rss_bytes",
        "checksum",
    ] {
        assert!(a.get(field).is_some(), "missing {field} in {a}");
    }
    for q in ["p50", "p99", "p999", "max"] {
        assert!(a["latency_ns"][q].as_u64().is_some(), "{a}");
    }
    assert_eq!(a["ticks_in"], 60_000);
    assert_eq!(a["steady_state_allocations"], 0, "{a}");
    let b = json(&zerotick(&args));
    assert_eq!(a["checksum"], b["checksum"]);
    let c = json(&zerotick(&[
        "run", "--json", "--ticks", "60000", "--seed", "7",
    ]));
    assert_ne!(a["checksum"], c["checksum"]);
}

#[test]
fn human_report_names_every_figure() {
    let out = zerotick(&["run", "--ticks", "30000"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "throughput",
        "tick-to-signal latency",
        "steady-state allocations",
        "pool hit rate",
        "memory (RSS)",
        "checksum",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn csv_feed_counts_rejects_and_strict_reports_the_line() {
    let dir = std::env::temp_dir().join(format!("zerotick-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("BTCUSDT-aggTrades-2024-01-01.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    for i in 0..5000u64 {
        writeln!(
            f,
            "{i},{},0.5,{i},{i},{},{}",
            42000.0 + (i % 13) as f64,
            1_704_067_200_000u64 + i,
            i % 2 == 0
        )
        .unwrap();
    }
    writeln!(f, "9999,oops,0.5,1,1,1704067300000,true").unwrap();
    drop(f);
    let feed = format!("csv:{}", path.display());
    let r = json(&zerotick(&["run", "--json", "--feed", &feed]));
    assert_eq!(
        (
            r["ticks_in"].as_u64(),
            r["ticks_processed"].as_u64(),
            r["ticks_rejected"].as_u64()
        ),
        (Some(5001), Some(5000), Some(1))
    );
    assert_eq!(r["rejects"]["bad_price"], 1);
    let out = zerotick(&["run", "--feed", &feed, "--strict"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 5001") && err.lines().count() == 1,
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_a_one_line_error() {
    for args in [
        &["run", "--feed", "csv:/no/such/file.csv"][..],
        &["run", "--feed", "kafka://x"],
        &["run", "--sink", "tcp:1"],
        &["run", "--seconds=-1"],
        &["run", "--ticks", "many"],
        &["run", "--no-such-flag"],
    ] {
        let out = zerotick(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("zerotick: "), "{err}");
    }
}

#[test]
fn broken_pipe_exits_zero() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zerotick"))
        .args(["run", "--ticks", "200000", "--sink", "stdout"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout); // the reader goes away, like `| head -c 16`
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&first[..6], b"ts_ns,");
}

#[test]
fn out_of_range_flags_are_one_line_errors_that_name_the_range() {
    let max = u64::MAX.to_string();
    for (args, needle) in [
        (vec!["run", "--seconds", "1e300"], "--seconds"),
        (vec!["run", "--seconds", "1e19"], "--seconds"),
        (vec!["run", "--workers", &max], "workers"),
        (vec!["run", "--workers", "1000"], "workers"),
        (vec!["run", "--symbols", "100000000"], "--symbols"),
        (
            vec!["run", "--redis-count", "1000000000000"],
            "--redis-count",
        ),
        (
            vec!["run", "--ring-capacity", "1099511627776"],
            "between 1 and",
        ),
        (vec!["run", "--rate", "1e-10"], "--rate"),
        (vec!["run", "--paced", "--rate", "1e-300"], "--rate"),
        (vec!["run", "--compute-shards", "100000"], "compute shards"),
        (vec!["run", "--claim-idle-ms", &max], "--claim-idle-ms"),
        (
            vec!["run", "--book-depth", "0"],
            "--book-depth must be between 1 and 65536",
        ),
        (vec!["run", "--book-depth", "65537"], "--book-depth"),
        (
            vec!["run", "--checkpoints"],
            "--checkpoints needs a Redis feed",
        ),
        (
            vec!["run", "--checkpoints", "--no-checkpoints"],
            "cannot be used with",
        ),
        (vec!["run", "--checkpoint-every", "0"], "--checkpoint-every"),
    ] {
        let out = zerotick(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn book_depth_bounds_the_levels_kept() {
    let dir = std::env::temp_dir().join(format!("zerotick-cli-depth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Depth updates of three bid and three ask levels each, ids following on.
    let mut text = String::new();
    for i in 0..50u64 {
        text += &format!(
            r#"{{"e":"depthUpdate","E":{},"s":"AAA","U":{},"u":{},"b":[["99","1"],["98","1"],["97","1"]],"a":[["101","1"],["102","1"],["103","1"]]}}"#,
            1_700_000_000_000 + i,
            i + 1,
            i + 1
        );
        text.push('\n');
    }
    let path = dir.join("AAA.jsonl");
    std::fs::write(&path, text).unwrap();
    let feed = path.display().to_string();
    let deep = json(&zerotick(&["run", "--json", "--feed", &feed]));
    assert_eq!(deep["book"]["dropped"], 0, "{deep}");
    // Two levels a side: the third level of each side is dropped in every message.
    let shallow = json(&zerotick(&[
        "run",
        "--json",
        "--book-depth",
        "2",
        "--feed",
        &feed,
    ]));
    assert_eq!(shallow["book"]["dropped"], 100, "{shallow}");
    assert_eq!(shallow["events"]["depth"], 300, "{shallow}");
    let help = zerotick(&["run", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--book-depth <N>"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stdout_sink_keeps_stdout_pure_data_with_symbol_names() {
    let out = zerotick(&["run", "--ticks", "20000", "--sink", "stdout"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ts_ns,symbol,value"));
    let mut n = 0;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 3, "{l}");
        assert!(f[1].starts_with("SYN"), "a name, not an index: {l}");
        n += 1;
    }
    assert!(n > 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"));
}

#[test]
fn the_deadline_holds_whatever_the_feed_does() {
    // A paced feed at 100 ticks/s with exponential gaps, and a file that never ends a line:
    // both end at --seconds instead of waiting on the feed. A missed deadline shows as a run
    // that never ends; the bound is wide because the process's start-up and exit are timed
    // too, and a shared, loaded CI machine once took 4.9 s for this 1-second run.
    for args in [
        &[
            "run",
            "--paced",
            "--rate",
            "100",
            "--seconds",
            "1",
            "--json",
        ][..],
        &["run", "--feed", "csv:/dev/zero", "--seconds", "1", "--json"],
    ] {
        let start = std::time::Instant::now();
        let out = zerotick(args);
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(took.as_secs_f64() < 20.0, "{args:?} took {took:?}");
        // The run's own clock (start-up excluded): the deadline, give or take a poll.
        let seconds = json(&out)["seconds"].as_f64().expect("seconds");
        assert!(
            (0.9..2.0).contains(&seconds),
            "{args:?}: the run took {seconds} s"
        );
    }
}

/// `n` generic rows for `sym` from second `t0` (one per second), as gzip when `gz`.
fn trades_file(path: &std::path::Path, sym: &str, t0: u64, n: u64, gz: bool) {
    let mut text = String::from("timestamp,symbol,price,size,side\n");
    for i in 0..n {
        text += &format!("{},{sym},{}.5,1,buy\n", t0 + 2 * i, 100 + i % 7);
    }
    let bytes = if gz {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    } else {
        text.into_bytes()
    };
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn compressed_and_several_file_feeds_merge_by_time() {
    let dir = std::env::temp_dir().join(format!("zerotick-cli-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A .csv that is gzip inside (told by its magic bytes), and a plain file whose times
    // interleave it, with one row going backwards for its symbol.
    let a = dir.join("a.csv");
    trades_file(&a, "AAA", 1_700_000_000, 3000, true);
    let b = dir.join("b.csv");
    trades_file(&b, "BBB", 1_700_000_001, 3000, false);
    let mut f = std::fs::OpenOptions::new().append(true).open(&b).unwrap();
    writeln!(f, "1700000002,BBB,100,1,buy").unwrap();
    drop(f);

    let one = json(&zerotick(&["run", "--json", "--feed", a.to_str().unwrap()]));
    assert_eq!(
        (one["ticks_in"].as_u64(), one["ticks_rejected"].as_u64()),
        (Some(3000), Some(0))
    );
    assert!(
        one["feed"].as_str().unwrap().ends_with("a.csv (gzip)"),
        "{one}"
    );

    let feed_a = format!("csv:{}", a.display());
    let both = json(&zerotick(&[
        "run",
        "--json",
        "--feed",
        &feed_a,
        "--feed",
        b.to_str().unwrap(),
    ]));
    // The row going backwards is handed on at its symbol's last time, not dropped.
    assert_eq!(
        (both["ticks_in"].as_u64(), both["ticks_processed"].as_u64()),
        (Some(6001), Some(6001)),
        "{both}"
    );
    assert_eq!(both["time_clamped"], 1, "{both}");
    assert_eq!(both["ticks_rejected"], 0, "{both}");
    // The directory is the same two files, in name order: the same run.
    let from_dir = json(&zerotick(&[
        "run",
        "--json",
        "--feed",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(from_dir["checksum"], both["checksum"]);
    assert_eq!(from_dir["time_clamped"], 1);
    // Strict too: a clamped time is not a bad row. One file alone clamps the same way.
    let strict = json(&zerotick(&[
        "run",
        "--json",
        "--strict",
        "--feed",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(strict["checksum"], both["checksum"]);
    let alone = json(&zerotick(&["run", "--json", "--feed", b.to_str().unwrap()]));
    assert_eq!(
        (
            alone["ticks_processed"].as_u64(),
            alone["time_clamped"].as_u64()
        ),
        (Some(3001), Some(1)),
        "{alone}"
    );
    // A truncated gzip is an error naming the file, not a shorter run.
    let bytes = std::fs::read(&a).unwrap();
    std::fs::write(&a, &bytes[..bytes.len() - 9]).unwrap();
    let out = zerotick(&["run", "--feed", &feed_a]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a.csv: gzip: truncated") && err.lines().count() == 1,
        "{err}"
    );
    // Only files merge.
    let out = zerotick(&["run", "--feed", "synthetic", "--feed", &feed_a]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("only files merge"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn format_flag_and_glob_feeds_read_json_lines_and_tardis() {
    let dir = std::env::temp_dir().join(format!("zerotick-cli-formats-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Websocket lines, gzip: per symbol 400 trades, 200 quotes, 200 depth updates of two
    // levels (ids following on, but for one gap).
    let mut text = String::new();
    for i in 0..400u64 {
        let ms = 1_700_000_000_000 + 2 * i;
        text += &format!(
            r#"{{"e":"trade","E":{ms},"s":"AAA","t":{i},"p":"{}.5","q":"1","T":{ms},"m":false}}"#,
            100 + i % 7
        );
        text.push('\n');
        if i % 2 == 0 {
            text += &format!(
                r#"{} {{"u":{},"s":"AAA","b":"99","B":"1","a":"101","A":"1"}}"#,
                ms * 1_000_000,
                i + 1
            );
        } else {
            let id = if i == 201 { 10_000 } else { i };
            text += &format!(
                r#"{{"stream":"aaa@depth","data":{{"e":"depthUpdate","E":{ms},"s":"AAA","U":{id},"u":{},"b":[["99","2"]],"a":[["101","0"]]}}}}"#,
                id + 1
            );
        }
        text.push('\n');
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    std::fs::write(dir.join("AAA-ws.log.gz"), e.finish().unwrap()).unwrap();
    // Tardis trades of another symbol, interleaved in time.
    let mut tardis =
        String::from("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n");
    for i in 0..300u64 {
        let us = 1_700_000_000_000_000 + 2_000 * i + 1_000;
        tardis += &format!("binance,BBB,{us},{us},{i},sell,{}.25,2\n", 50 + i % 5);
    }
    std::fs::write(dir.join("BBB-tardis.csv"), &tardis).unwrap();
    std::fs::write(dir.join("notes.txt"), "not matched by the glob").unwrap();

    let glob = dir.join("*-*.*").display().to_string();
    let r = json(&zerotick(&["run", "--json", "--feed", &glob]));
    assert_eq!(r["ticks_in"], 700, "{r}");
    assert_eq!(r["ticks_rejected"], 0, "{r}");
    assert_eq!(r["events"]["trade"], 700, "{r}");
    assert_eq!(r["events"]["quote"], 200, "{r}");
    assert_eq!(r["events"]["depth"], 400, "{r}");
    assert_eq!(r["events"]["snapshot"], 0, "{r}");
    // One gap: at i = 201, and again coming back at i = 203.
    assert_eq!(r["sequence_gaps"], 2, "{r}");
    // One book (AAA): its first quote, then depth; every depth message removes the ask
    // level 101, which the depth book never held (the first depth level drops the quote's
    // levels); the 199 later quotes are shadowed by depth.
    let b = &r["book"];
    assert_eq!(b["symbols"], 1, "{r}");
    assert_eq!(b["gaps"], 2, "{r}");
    assert_eq!(b["events"], 201, "{r}");
    assert_eq!(b["crossed"], 0, "{r}");
    assert_eq!(b["unknown_level_deltas"], 200, "{r}");
    assert_eq!(b["quotes_on_depth_books"], 199, "{r}");
    let feed = r["feed"].as_str().unwrap();
    assert!(feed.starts_with("binance-json+tardis:"), "{feed}");
    // The human report shows the events by kind and the books.
    let out = zerotick(&["run", "--feed", &glob]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("700 trades, 200 quotes, 400 depth updates (levels), 0 snapshot levels"),
        "{table}"
    );
    assert!(
        table.contains(
            "1 symbol(s), 201 book events: 0 crossed, 0 locked, 2 sequence gaps, 200 unknown-level deltas"
        ),
        "{table}"
    );
    // --format forces a reader: the Tardis file as JSON lines is all bad_json rejects...
    let tardis_path = dir.join("BBB-tardis.csv").display().to_string();
    let forced = json(&zerotick(&[
        "run",
        "--json",
        "--format",
        "binance-json",
        "--feed",
        &tardis_path,
    ]));
    assert_eq!(forced["rejects"]["bad_json"], 301, "{forced}");
    // ... and the websocket file as Tardis is a one-line error saying why.
    let ws = dir.join("AAA-ws.log.gz").display().to_string();
    let out = zerotick(&["run", "--format", "tardis", "--feed", &ws]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a Tardis CSV header"), "{err}");
    // A glob that matches nothing says so.
    let none = dir.join("zzz*").display().to_string();
    let out = zerotick(&["run", "--feed", &none]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no regular file matches"));
    // --help documents the flag.
    let help = zerotick(&["run", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--format") && help.contains("binance-json"),
        "{help}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn jitter_probes_every_cpu_and_refuses_bad_durations() {
    let j = json(&zerotick(&["jitter", "--seconds", "0.05", "--json"]));
    let cpus = j["cpus"].as_array().expect("cpus");
    assert!(!cpus.is_empty());
    for c in cpus {
        assert!(c["clock_reads"].as_u64().unwrap() > 0, "{c}");
        let lost = c["lost_fraction"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&lost), "{c}");
        let sum: u64 = c["buckets"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(sum, c["interruptions"].as_u64().unwrap(), "{c}");
        // The wait past each bound: a fraction of the run, no larger than the time lost,
        // and shrinking as the bound grows.
        let waits: Vec<f64> = [">50us", ">100us", ">200us", ">2ms"]
            .iter()
            .map(|k| c["wait_beyond"][k].as_f64().unwrap())
            .collect();
        assert!(waits[0] <= lost, "{c}");
        assert!(waits.windows(2).all(|w| w[0] >= w[1]), "{c}");
    }
    assert_eq!(j["wait_bounds_ns"][0].as_u64(), Some(50_000));
    for bad in [
        &["jitter", "--seconds", "0"][..],
        &["jitter", "--seconds", "nan"],
        &["jitter", "--threshold-ns", "0"],
        &["jitter", "--cpus", "100000"],
    ] {
        let out = zerotick(bad);
        assert!(!out.status.success(), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{bad:?}: {err}");
    }
}

/// Everything the hot path touches is resident before steady state: the PCA windows and
/// scratch (mapped straight from the kernel) are faulted in at start-up, not as rows and
/// refreshes first write them. (A prefault whose no-op atomic write release builds turned
/// into a load left 40 MiB to fault in after the warm-up, +184%; that one showed only in
/// release builds, where `zerotick-mem`'s `mincore` test catches it. This test covers the
/// pipeline's side: what is faulted in, and when.)
#[test]
fn rss_does_not_grow_after_the_warm_up() {
    let a = json(&zerotick(&["run", "--json", "--ticks", "600000"]));
    let rss = &a["rss_bytes"];
    let (at, max) = (
        rss["after_warmup"].as_u64(),
        rss["max_after_warmup"].as_u64(),
    );
    if let (Some(at), Some(max)) = (at, max) {
        assert!(
            (max as f64) < at as f64 * 1.05,
            "RSS {at} at warm-up, {max} after: {a}"
        );
    }
}
