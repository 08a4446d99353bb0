//! Flag combinations and inputs `zerotick run` refuses before it starts: each is one line on
//! stderr and a failing exit code, never a panic, and nothing is written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn zerotick(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zerotick"))
        .args(args)
        .output()
        .expect("runs")
}

/// The one-line error of a refused run.
fn refused(args: &[&str]) -> String {
    let out = zerotick(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("zerotick: "), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    err
}

/// A fresh directory of this test process.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zerotick-guards-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn block_ms_must_leave_room_for_the_lease_and_heartbeats() {
    // Nothing listens on port 1: a combination that passed the checks would fail to connect
    // instead, with another message.
    let redis = "redis://127.0.0.1:1/ticks";
    let kafka = "kafka://127.0.0.1:1/ticks";
    for (args, needle) in [
        (
            vec!["run", "--block-ms", "0"],
            "--block-ms must be at least 1",
        ),
        (
            vec!["run", "--feed", redis, "--block-ms", "0"],
            "--block-ms must be at least 1",
        ),
        // The default lease is --claim-idle-ms 5000: a third is 1666 ms.
        (
            vec!["run", "--feed", redis, "--block-ms", "6000"],
            "below a third of the lease",
        ),
        (
            vec!["run", "--feed", redis, "--block-ms", "1667"],
            "at most 1666, got 1667",
        ),
        // The lease lives at least a second, whatever --claim-idle-ms says.
        (
            vec![
                "run",
                "--feed",
                redis,
                "--claim-idle-ms",
                "10",
                "--block-ms",
                "400",
            ],
            "at most 333, got 400",
        ),
        (
            vec!["run", "--feed", kafka, "--block-ms", "3334"],
            "below a third of --session-timeout-ms (10000 ms)",
        ),
        (
            vec![
                "run",
                "--feed",
                kafka,
                "--session-timeout-ms",
                "6000",
                "--block-ms",
                "2000",
            ],
            "--session-timeout-ms (6000 ms)",
        ),
    ] {
        let err = refused(&args);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // Where the lease or membership does not apply, a long read is allowed: these pass the
    // checks and fail only at connecting.
    for args in [
        vec![
            "run",
            "--feed",
            redis,
            "--no-checkpoints",
            "--block-ms",
            "6000",
            "--reconnect-give-up-ms",
            "0",
        ],
        vec![
            "run",
            "--feed",
            redis,
            "--block-ms",
            "1666",
            "--reconnect-give-up-ms",
            "0",
        ],
        vec![
            "run",
            "--feed",
            kafka,
            "--partitions-of",
            "0/1",
            "--block-ms",
            "20000",
            "--reconnect-give-up-ms",
            "0",
        ],
    ] {
        let err = refused(&args);
        assert!(!err.contains("--block-ms"), "{args:?}: {err}");
        assert!(err.contains("cannot read"), "{args:?}: {err}");
    }
}

#[test]
fn a_sink_that_is_an_input_file_is_refused_and_the_input_kept() {
    let d = dir("sink");
    let input = d.join("data.csv");
    let rows: String = (0..200)
        .map(|i| {
            format!(
                "{},BTCUSDT,{}.5,0.1\n",
                1_700_000_000_000u64 + i,
                40_000 + i
            )
        })
        .collect();
    let original = format!("timestamp,symbol,price,size\n{rows}");
    std::fs::write(&input, &original).unwrap();
    let other = d.join("other.csv");
    std::fs::write(&other, &original).unwrap();
    let link = d.join("link.csv");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let hard = d.join("hard.csv");
    std::fs::hard_link(&input, &hard).unwrap();
    let spec = d.join("spec.toml");
    let spec_text =
        "[row]\nevery = 8\n\n[[feature]]\nname = \"e\"\nindicator = \"ema\"\nperiod = 4\n";
    std::fs::write(&spec, spec_text).unwrap();
    let dotted = format!(
        "{}/../{}/data.csv",
        s(&d),
        d.file_name().unwrap().to_str().unwrap()
    );
    for (feeds, sink, needle) in [
        (vec![s(&input)], format!("csv:{}", s(&input)), "feed file"),
        (
            vec![s(&input)],
            format!("parquet:{}", s(&input)),
            "feed file",
        ),
        (
            vec![format!("csv:{}", s(&input))],
            format!("csv:{dotted}"),
            "feed file",
        ),
        (vec![s(&link)], format!("csv:{}", s(&input)), "feed file"),
        (vec![s(&input)], format!("csv:{}", s(&hard)), "feed file"),
        // Among several merged files, or inside a directory feed.
        (
            vec![s(&other), s(&input)],
            format!("csv:{}", s(&input)),
            "feed file",
        ),
        (vec![s(&d)], format!("csv:{}", s(&other)), "feed file"),
    ] {
        let mut args = vec!["run".to_owned()];
        for f in &feeds {
            args.extend(["--feed".to_owned(), f.clone()]);
        }
        args.extend(["--sink".to_owned(), sink.clone()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = refused(&args);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(err.contains(&sink), "{args:?}: {err}");
        for f in [&input, &other] {
            assert_eq!(std::fs::read_to_string(f).unwrap(), original, "{args:?}");
        }
    }
    // A Parquet sink writes PATH.partial first: a feed of that name is refused too.
    let partial = d.join("rows.parquet.partial");
    std::fs::write(&partial, &original).unwrap();
    let sink = format!("parquet:{}", s(&d.join("rows.parquet")));
    let err = refused(&["run", "--feed", &s(&partial), "--sink", &sink]);
    assert!(err.contains("writes first to the feed file"), "{err}");
    assert_eq!(std::fs::read_to_string(&partial).unwrap(), original);
    // The feature spec is an input too.
    let sink = format!("csv:{}", s(&spec));
    let err = refused(&[
        "run",
        "--ticks",
        "1000",
        "--features",
        &s(&spec),
        "--sink",
        &sink,
    ]);
    assert!(err.contains("feature spec file"), "{err}");
    assert_eq!(std::fs::read_to_string(&spec).unwrap(), spec_text);
    // Another path is fine, existing or not.
    let out_path = d.join("out").with_extension("csv");
    for _ in 0..2 {
        let out = zerotick(&[
            "run",
            "--feed",
            &s(&input),
            "--sink",
            &format!("csv:{}", s(&out_path)),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let written = std::fs::read_to_string(&out_path).unwrap();
        assert!(written.starts_with("ts_ns,symbol,value\n"), "{written}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_feature_spec_over_a_mebibyte_is_refused() {
    let d = dir("spec");
    let big = d.join("big.toml");
    // A valid spec padded with comments past 1 MiB.
    let mut text = String::from(
        "[row]\nevery = 8\n\n[[feature]]\nname = \"e\"\nindicator = \"ema\"\nperiod = 4\n",
    );
    while text.len() <= 1 << 20 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&big, &text).unwrap();
    let err = refused(&["run", "--ticks", "1000", "--features", &s(&big)]);
    assert!(err.contains(&s(&big)), "{err}");
    assert!(err.contains("longer than 1024 KiB"), "{err}");
    // At the limit it is read.
    let mut fits = text.clone();
    fits.truncate(fits[..1 << 20].rfind('\n').unwrap() + 1);
    std::fs::write(&big, &fits).unwrap();
    let out = zerotick(&["run", "--ticks", "1000", "--features", &s(&big)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A device that never ends is cut off at the limit too, not read until memory runs out
    // (under a 4 GiB address-space limit, so that a regression fails here instead of taking
    // the machine's memory).
    let out = Command::new("sh")
        .args([
            "-c",
            "ulimit -v 4194304 && exec \"$0\" run --ticks 1000 --features /dev/zero",
        ])
        .arg(env!("CARGO_BIN_EXE_zerotick"))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("/dev/zero: the feature spec is longer than 1024 KiB"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
